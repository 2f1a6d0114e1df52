"""Fetching a remote image, only when the user opted in (`--allow-remote`): https only by default,
public addresses only (checked after DNS, then pinned: no re-binding), redirects vetted hop by hop,
and hard limits on time and size.

Its own module so that a run without remote images never imports http.client, ssl and socket.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from urllib.parse import urljoin, urlsplit

from alttext_tools.images.errors import (
    DisallowedHostError,
    RemoteFetchError,
    RemoteTimeoutError,
    RemoteTooLargeError,
    UnsupportedSchemeError,
)

__all__ = ["fetch_remote", "is_public_address"]


_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_USER_AGENT = "alttext-tools (+image fetch for alt text)"


def is_public_address(address: str) -> bool:
    """True when an IP address is globally routable unicast: safe for a fetch to connect to."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address wrapped in IPv6 (::ffff:127.0.0.1, 6to4, Teredo) is judged as IPv4.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public_address(str(embedded)):
            return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _address_allowed(address: str, allow_loopback: bool) -> bool:
    if is_public_address(address):
        return True
    if not allow_loopback:
        return False
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP connection to an already-vetted IP; the Host header still carries the name."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self.live_socket: socket.socket | None = None

    def connect(self) -> None:
        self.sock = self.live_socket = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an already-vetted IP, with SNI and certificate checks against the host name."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls_context = context
        self.live_socket: socket.socket | None = None

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self.sock = self.live_socket = self._tls_context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def _resolve_host(host: str, port: int, timeout: float, src: str) -> list[str]:
    """getaddrinfo with a time limit (it has none of its own), run in a daemon thread."""
    result: list[list[str]] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    worker = threading.Thread(target=work, name="alttext-dns", daemon=True)
    worker.start()
    worker.join(max(timeout, 0.0))
    if worker.is_alive():
        raise RemoteTimeoutError(f"DNS lookup for {host!r} timed out", src=src)
    if failure or not result or not result[0]:
        raise RemoteFetchError(f"cannot resolve host {host!r}", src=src)
    return result[0]


def fetch_remote(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    https_only: bool = True,
    _allow_private_for_tests: bool = False,
) -> bytes:
    """GET a remote image, only when the user opted in to remote fetching.

    Every address the host resolves to must be public (no private, loopback, link-local,
    multicast or reserved ranges); we then connect to that vetted address ourselves, so DNS
    cannot be re-bound between the check and the connection. Redirects are followed by hand
    (at most 5) and each hop is vetted the same way. `timeout_s` bounds the whole fetch,
    DNS and redirects included; the body is capped at `max_bytes`.

    `_allow_private_for_tests` admits loopback addresses only (127.0.0.0/8, ::1), so tests can
    serve from a local http.server; private ranges stay refused even then. Plain http still
    needs `https_only=False`.
    """
    deadline = time.monotonic() + timeout_s
    current = url
    for _hop in range(_MAX_REDIRECTS + 1):
        status, location, body = _fetch_once(
            current,
            src=url,
            deadline=deadline,
            max_bytes=max_bytes,
            https_only=https_only,
            allow_loopback=_allow_private_for_tests,
        )
        if status in _REDIRECT_STATUSES:
            if not location:
                raise RemoteFetchError(f"HTTP {status} redirect without Location", src=url)
            current = urljoin(current, location)
            continue
        if status != 200:
            raise RemoteFetchError(f"HTTP {status}", src=url)
        assert body is not None
        return body
    raise RemoteFetchError(f"more than {_MAX_REDIRECTS} redirects", src=url)


def _fetch_once(
    url: str,
    *,
    src: str,
    deadline: float,
    max_bytes: int,
    https_only: bool,
    allow_loopback: bool,
) -> tuple[int, str | None, bytes | None]:
    """One request: (status, Location header, body for 200 responses)."""
    if url.startswith("//"):
        url = "https:" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RemoteFetchError("malformed URL", src=src) from None
    scheme = parts.scheme.lower()
    allowed_schemes = ("https",) if https_only else ("http", "https")
    if scheme not in allowed_schemes:
        what = "plain http refused (https only)" if scheme == "http" else f"scheme {scheme!r} refused"
        raise UnsupportedSchemeError(f"{what}: {url[:80]}", src=src)
    if parts.username is not None or parts.password is not None:
        raise RemoteFetchError("credentials in URL refused", src=src)
    host = parts.hostname
    if not host:
        raise RemoteFetchError("URL has no host", src=src)
    port = port or (443 if scheme == "https" else 80)

    addresses = _resolve_host(host, port, deadline - time.monotonic(), src)
    # Every resolved address must pass: a name that also resolves to 10.x is refused outright.
    bad = [a for a in addresses if not _address_allowed(a, allow_loopback)]
    if bad:
        raise DisallowedHostError(f"host {host!r} resolves to non-public address {bad[0]}", src=src)

    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    last_error: Exception | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = _PinnedHTTPSConnection(
                host, port, address=address, timeout=remaining, context=ssl.create_default_context()
            )
        else:
            conn = _PinnedHTTPConnection(host, port, address=address, timeout=remaining)
        try:
            return _request(conn, path, src=src, deadline=deadline, max_bytes=max_bytes)
        except (OSError, http.client.HTTPException) as exc:
            if time.monotonic() >= deadline:
                raise RemoteTimeoutError("fetch took longer than the limit", src=src) from None
            last_error = exc
        finally:
            conn.close()
    if last_error is None:
        raise RemoteTimeoutError("fetch took longer than the limit", src=src)
    raise RemoteFetchError(f"connection failed: {type(last_error).__name__}: {last_error}", src=src)


def _request(
    conn: http.client.HTTPConnection, path: str, *, src: str, deadline: float, max_bytes: int
) -> tuple[int, str | None, bytes | None]:
    # A watchdog shuts the socket at the deadline: per-recv timeouts alone would let a server
    # that drips one byte at a time hold us far longer than timeout_s.
    expired = threading.Event()

    def abort() -> None:
        expired.set()
        # Not conn.sock: http.client drops that reference once a "Connection: close" response
        # owns the socket, and the response keeps reading from it.
        sock = getattr(conn, "live_socket", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(max(deadline - time.monotonic(), 0.0), abort)
    timer.daemon = True
    timer.start()
    try:
        conn.request(
            "GET",
            path,
            headers={
                "User-Agent": _USER_AGENT,
                "Accept": "image/*",
                "Accept-Encoding": "identity",
            },
        )
        resp = conn.getresponse()
        if resp.status in _REDIRECT_STATUSES:
            return resp.status, resp.getheader("Location"), None
        if resp.status != 200:
            return resp.status, None, None
        declared = resp.getheader("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > max_bytes:
            raise RemoteTooLargeError(f"body is {int(declared)} bytes, limit {max_bytes}", src=src)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = resp.read(min(64 * 1024, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise RemoteTooLargeError(f"body is over {max_bytes} bytes", src=src)
            if expired.is_set():
                break
        if expired.is_set() or time.monotonic() > deadline:
            raise RemoteTimeoutError("fetch took longer than the limit", src=src)
        return 200, None, b"".join(chunks)
    except (OSError, http.client.HTTPException):
        if expired.is_set():
            raise RemoteTimeoutError("fetch took longer than the limit", src=src) from None
        raise
    finally:
        timer.cancel()
