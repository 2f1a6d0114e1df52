"""What the local HTTP servers (`alttext serve`, the review page) accept before handling a request:
the Host and Origin a browser sends, and how a request body is framed, read and parsed.

Design notes: docs/serve.md (Security).
"""

from __future__ import annotations

import io
import ipaddress
import json
import re
import socket
import time
from dataclasses import dataclass
from email.message import Message
from typing import Any, Protocol

from alttext_tools.errors import AltTextError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "[::]")
# Browsers send Sec-Fetch-Site with every request: "same-origin" from our own page, "none" when
# the user typed or opened the URL. Anything else came from another site.
FETCH_SITES_ALLOWED = ("same-origin", "none")
MAX_JSON_DEPTH = 32  # the servers' documents are 2 or 3 levels deep
_CHUNK = 1 << 20

# A JSON string literal (unrolled: fast on megabytes of base64) and the brackets outside them.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class HeaderLookup(Protocol):
    """Request headers looked up by name, case-insensitively (email.message.Message, Starlette's Headers)."""

    def get(self, name: str, /) -> str | None: ...


class Refused(AltTextError):
    """A request refused before it is handled: an HTTP status and one line for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- Host and Origin -----------------------------------------------------------------------------


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """A loopback address or the name `localhost`."""
    if host.lower() == "localhost":
        return True
    address = _ip(host)
    return address is not None and address.is_loopback


def _split_host(value: str) -> tuple[str, int | None] | None:
    """(name, port) of a Host header value ("[::1]:8765", "example.org"); None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value.partition("]")
        if not bracket:
            return None
        name += "]"
        if not rest:
            return name, None
        if not rest.startswith(":"):
            return None
        port_text = rest[1:]
    else:
        name, colon, port_text = value.partition(":")
        if not colon:
            return (name, None) if name else None
    if not port_text.isdigit() or len(port_text) > 5:
        return None
    return name, int(port_text)


def _bracketed(host: str) -> str:
    address = _ip(host)
    if address is not None and address.version == 6:
        return f"[{address.compressed}]"
    return host.lower()


@dataclass(frozen=True)
class HostGuard:
    """Which Host names a server answers to, and the rule that browsers from other sites get nothing.

    A server bound to loopback answers to 127.0.0.1, localhost and [::1] (DNS rebinding sends an
    attacker's name); one bound to an address or name answers to that; one bound to every
    interface (0.0.0.0, ::) to this machine's addresses given as numbers, localhost and its host name.
    """

    port: int
    names: frozenset[str]  # accepted host names, lower-case, IPv6 in brackets
    any_address: bool = False  # bound to every interface: any IP literal is accepted too

    @classmethod
    def for_address(cls, host: str, port: int) -> HostGuard:
        if host.strip().lower() in WILDCARD_ADDRESSES:
            return cls(port, frozenset({*LOOPBACK_NAMES, socket.gethostname().lower()}), any_address=True)
        if is_loopback(host):
            return cls(port, frozenset({*LOOPBACK_NAMES, _bracketed(host)}))
        return cls(port, frozenset({_bracketed(host)}))

    def host_ok(self, value: str | None) -> bool:
        parsed = _split_host(value or "")
        if parsed is None:
            return False
        name, port = parsed
        if port != self.port and not (port is None and self.port == 80):
            return False
        if name in self.names:
            return True
        return self.any_address and _ip(name) is not None

    def refusal(self, headers: HeaderLookup) -> str | None:
        """Why a request with these headers is refused (one line), or None when it may go on."""
        host = headers.get("Host")
        if not self.host_ok(host):
            return f"unexpected Host header {(host or '')[:100]!r}: use the address the server printed"
        site = (headers.get("Sec-Fetch-Site") or "").strip().lower()
        if site and site not in FETCH_SITES_ALLOWED:
            return f"cross-site request refused (Sec-Fetch-Site: {site[:40]})"
        origin = headers.get("Origin")
        if origin is not None and origin.strip().lower() != f"http://{(host or '').strip().lower()}":
            return f"cross-origin request refused (Origin: {origin[:100]})"
        return None


# --- request bodies ------------------------------------------------------------------------------


def content_length(headers: Message, *, required: bool) -> int:
    """The body's length from Content-Length; a chunked or otherwise framed body is refused (411),
    since a server that did not read it would take its bytes for the next request."""
    if headers.get("Transfer-Encoding") is not None:
        raise Refused(411, "chunked (Transfer-Encoding) bodies are not accepted: send Content-Length")
    values = headers.get_all("Content-Length") or []
    if not values:
        if required:
            raise Refused(411, "Content-Length is required")
        return 0
    if len(set(values)) > 1:
        raise Refused(400, "conflicting Content-Length headers")
    text = values[0].strip()
    if not text.isdigit() or len(text) > 18:
        raise Refused(400, f"invalid Content-Length {text[:40]!r}")
    return int(text)


def read_body(rfile: io.BufferedIOBase, connection: socket.socket, length: int, deadline: float) -> bytes:
    """Exactly `length` bytes of body, all of them before `deadline` (time.monotonic()).

    Each read waits at most until the deadline, so a client sending a byte now and then cannot
    hold the connection longer. Refused(408) at the deadline, Refused(400) when the body ends early;
    the connection must be closed after either."""
    chunks: list[bytes] = []
    remaining = length
    previous = connection.gettimeout()
    try:
        while remaining > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            connection.settimeout(left)
            chunk = rfile.read1(min(remaining, _CHUNK))
            if not chunk:
                raise Refused(400, f"the body ended after {length - remaining} of {length} bytes")
            chunks.append(chunk)
            remaining -= len(chunk)
    except TimeoutError:
        raise Refused(408, f"the body did not arrive in time ({length - remaining} of {length} bytes)") from None
    finally:
        try:
            connection.settimeout(previous)
        except OSError:
            pass
    return b"".join(chunks)


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in `text` (strings ignored); for valid JSON exact."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def load_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON body; ValueError (one line) for invalid UTF-8 or JSON, or nesting deeper than
    `max_depth` (checked before parsing: the parser recurses once per level)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 (byte {exc.start})") from None
    opening = text.count("[") + text.count("{")  # fast: most bodies cannot nest that deep at all
    if opening > max_depth and json_depth(text) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} (line {exc.lineno}, column {exc.colno})") from None
