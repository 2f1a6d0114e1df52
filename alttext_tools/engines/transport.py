"""`HttpClient`: HTTP/1.1 to one server over httpx, with keep-alive, proxies from the environment
and a total deadline per request; transport failures become the four exceptions below. See
docs/engines.md ("The HTTP client")."""

from __future__ import annotations

import contextvars
import socket
import ssl
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpcore
import httpx

from alttext_tools.errors import AltTextError


class TransportError(AltTextError):
    """The request got no answer; the engine turns it into its own one-line error."""


class Refused(TransportError):
    """Nothing listens at the address (connection refused)."""


class Reset(TransportError):
    """The connection broke mid-request (server crashed, restarted, or dropped us)."""


class TimedOut(TransportError):
    """No complete answer within the request's deadline."""


class Unreachable(TransportError):
    """Name resolution, TLS, the proxy or routing failed: retrying will not help."""


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes  # at most max_body + 1 bytes


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, in either form RFC 9110 allows (delay-seconds
    or an HTTP-date); None when absent or unreadable. A date in the past is 0."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" and obsolete forms: HTTP dates are always UTC
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def environment_proxy(url: str) -> str | None:
    """The proxy the environment sets for `url` (http_proxy / https_proxy / all_proxy, upper or
    lower case, with no_proxy honoured), read by the standard library as requests and pip read
    it; None for a direct connection."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    if urllib.request.proxy_bypass(netloc):
        return None
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"  # "host:3128" means http, as for pip and curl


def shown_proxy(proxy: str) -> str:
    """A proxy URL as messages may show it: scheme, host and port, never credentials."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


# --- the deadline: every connect, read and write of a request waits at most until it passes ----

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("alttext_http_deadline", default=None)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """The wait one socket operation may use: its own timeout, cut to what the request has left."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


# Linux: acknowledge at once what arrives. A server that writes its headers and its body in two
# sends without TCP_NODELAY (Python's http.server, cpp-httplib's default) holds the body until the
# headers are acknowledged, and on a kept-alive connection the kernel delays that ACK (~40 ms).
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        sock = stream.get_extra_info("socket") if _QUICKACK is not None else None
        self._socket: socket.socket | None = sock if isinstance(sock, socket.socket) else None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._socket is not None and _QUICKACK is not None:
            try:  # the kernel turns quick ACKs off again by itself: set before every read
                self._socket.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                self._socket = None
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, each operation bounded by the current request's deadline: a
    server that sends a byte now and then (each read well within the timeout) cannot hold a
    request longer, in the status line, the headers or the body."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, wait, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _caused_by(err: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class HttpClient:
    """One httpx client (a keep-alive connection pool) for the server at `base_url`; thread-safe.

    The proxy is the environment's (`environment_proxy`), decided once: every request goes to the
    same host. TLS trusts the system's certificate store (SSL_CERT_FILE / SSL_CERT_DIR honoured).
    """

    def __init__(self, base_url: str, timeout: float, *, keepalive: int, max_body: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_body = max_body
        self.proxy = environment_proxy(self.base_url)
        verify = ssl.create_default_context()
        try:
            transport = httpx.HTTPTransport(
                verify=verify,
                proxy=self.proxy,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=keepalive),
                # httpcore writes the headers and the body in two sends; without TCP_NODELAY, Nagle
                # holds the body until the server ACKs the headers, which a kept-alive connection delays.
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
        except (ImportError, ValueError) as err:  # an unknown proxy scheme; socks5 without socksio
            shown = shown_proxy(self.proxy or "")
            raise ValueError(f"the proxy {shown} set in the environment cannot be used: {err}") from None
        # httpx takes no network backend; its pool (an httpcore ConnectionPool or HTTPProxy) does.
        pool = transport._pool
        if not isinstance(pool, httpcore.ConnectionPool):  # pragma: no cover - an httpx we do not know
            raise RuntimeError(f"httpx {httpx.__version__}: unexpected transport pool {type(pool).__name__}")
        pool._network_backend = _DeadlineBackend()
        # trust_env=False: the proxy is decided above, and this transport is the only one.
        self._client = httpx.Client(transport=transport, trust_env=False, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float | None = None
    ) -> Reply:
        """One request; `timeout` (default: the client's) is its deadline, from connecting (or
        taking a kept-alive connection) to the answer's last byte. Raises the classes above."""
        wait = self.timeout if timeout is None else timeout
        token = _DEADLINE.set(time.monotonic() + wait)
        try:
            with self._client.stream(
                method, self.base_url + path, content=body, headers=headers, timeout=wait
            ) as response:
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > self.max_body:
                        break
                headers_seen = {name.lower(): value for name, value in response.headers.items()}
                return Reply(response.status_code, headers_seen, bytes(data))
        except httpx.TimeoutException:
            raise TimedOut(f"no complete answer within {wait:g} s") from None
        except httpx.ConnectError as err:
            if _caused_by(err, ConnectionRefusedError):
                raise Refused(str(err)) from None
            raise Unreachable(f"{type(err).__name__}: {err}") from None
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as err:
            raise Reset(f"{type(err).__name__}: {err}") from None
        except httpx.HTTPError as err:  # ProxyError, a decoding error, ...
            raise Unreachable(f"{type(err).__name__}: {err}") from None
        finally:
            _DEADLINE.reset(token)
