"""The review page's HTTP server: 127.0.0.1 only, Host and Origin checked, a per-run token, strict headers.

Routes and the security model: docs/review.md.
"""

from __future__ import annotations

import hmac
import http.server
import json
import re
import secrets
import socketserver
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from alttext_tools.http_guard import HostGuard, Refused, content_length, load_json, read_body
from alttext_tools.review.session import DEFAULT_PAGE_SIZE, ActionError, ReviewSession

PAGE_DIR = Path(__file__).resolve().parent / "page"
STATIC = {  # no data in these: served without the token
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
TOKEN_HEADER = "X-Alttext-Token"
MAX_BODY = 64 * 1024
BODY_SECONDS = 30.0  # a POST's whole body must arrive within this

CSP_PAGE = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
CSP_IMAGE = "default-src 'none'; style-src 'unsafe-inline'; sandbox"  # an SVG opened on its own runs nothing


_ITEM_ACTION = re.compile(r"/api/items/(\d{1,12})/(accept|edit|decorative|regenerate)")
_IMAGE = re.compile(r"/api/image/(\d{1,12})")


class ReviewServer(http.server.ThreadingHTTPServer):
    """The review page's HTTP server: 127.0.0.1 only, one token per run."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self, session: ReviewSession, port: int = 0, *, token: str | None = None, verbose: bool = False
    ) -> None:
        self.session = session
        self.token = token or secrets.token_urlsafe(32)
        self.verbose = verbose
        super().__init__(("127.0.0.1", port), _Handler)
        self.guard = HostGuard.for_address("127.0.0.1", self.port)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's name (slow or hanging offline): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode("ascii"))


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"
    server_version = "alttext-review"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write("review: " + (format % args).replace(self.server.token, "<token>") + "\n")

    # -- plumbing --------------------------------------------------------------------------

    def _send(
        self, status: int, body: bytes, content_type: str, *, csp: str = CSP_PAGE, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, document: dict[str, Any]) -> None:
        self._send(status, json.dumps(document, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _authorized(self, query: dict[str, list[str]], allow_query: bool) -> bool:
        given = self.headers.get(TOKEN_HEADER)
        if given is None and allow_query and query.get("token"):
            given = query["token"][0]
        return self.server.token_ok(given)

    def _guard(self, *, allow_query: bool) -> tuple[str, dict[str, list[str]]] | None:
        """(path, query) of an authorised request; None once a refusal was sent."""
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        refusal = self.server.guard.refusal(self.headers)
        if refusal is not None:
            self.close_connection = True
            self._error(403, f"{refusal}; open the page at the 127.0.0.1 URL `alttext review` printed")
            return None
        if parts.path in STATIC:
            return parts.path, query
        if not self._authorized(query, allow_query):
            self.close_connection = True  # a POST's body stays unread
            if parts.path == "/":
                body = b"403: wrong or missing token. Open the exact URL that `alttext review` printed.\n"
                self._send(403, body, "text/plain; charset=utf-8")
            else:
                self._error(403, "wrong or missing token")
            return None
        return parts.path, query

    # -- GET -------------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.headers.get("Transfer-Encoding") is not None or self.headers.get("Content-Length") not in (None, "0"):
            self.close_connection = True  # a body that is never read must not be taken for the next request
        guarded = self._guard(allow_query=True)
        if guarded is None:
            return
        path, query = guarded
        try:
            if path in STATIC or path == "/":
                name, content_type = STATIC.get(path, ("index.html", "text/html; charset=utf-8"))
                self._send(200, (PAGE_DIR / name).read_bytes(), content_type)
            elif path == "/api/items":
                offset = _int(query, "offset", 0)
                limit = _int(query, "limit", DEFAULT_PAGE_SIZE)
                self._json(200, self.server.session.page(offset, limit, (query.get("filter") or ["all"])[0]))
            elif match := _IMAGE.fullmatch(path):
                data, content_type = self.server.session.image_bytes(int(match.group(1)))
                self._send(200, data, content_type, csp=CSP_IMAGE, extra={"Content-Disposition": "inline"})
            else:
                self._error(404, "not found")
        except ActionError as exc:
            self._error(exc.status, str(exc))
        except Exception as exc:  # one bad request must not stop the server
            self._error(500, f"internal error: {type(exc).__name__}: {exc}")

    do_HEAD = do_GET

    # -- POST ------------------------------------------------------------------------------

    def do_POST(self) -> None:
        guarded = self._guard(allow_query=False)
        if guarded is None:
            return
        path, _ = guarded
        body = self._body()
        if body is None:
            return
        session = self.server.session
        try:
            if match := _ITEM_ACTION.fullmatch(path):
                item_id, action = int(match.group(1)), match.group(2)
                if action == "accept":
                    result = session.accept(item_id)
                elif action == "edit":
                    result = session.edit(item_id, body.get("alt"))
                elif action == "decorative":
                    result = session.decorative(item_id)
                else:
                    result = session.regenerate(item_id)
                self._json(200, result)
            elif path == "/api/apply":
                self._json(200, session.apply())
            else:
                self._error(404, "not found")
        except ActionError as exc:
            self._error(exc.status, str(exc))
        except Exception as exc:
            self._error(500, f"internal error: {type(exc).__name__}: {exc}")

    def _body(self) -> dict[str, Any] | None:
        """The POST's JSON object; None once a refusal was sent. The body is read whole (bounded in
        size and time) or the connection is closed, so no byte of it is taken for the next request."""
        try:
            length = content_length(self.headers, required=False)
            if length > MAX_BODY:
                raise Refused(413, "request body too large")
            raw = read_body(self.rfile, self.connection, length, time.monotonic() + BODY_SECONDS) if length else b""
        except Refused as exc:
            self.close_connection = True
            self._error(exc.status, exc.message)
            return None
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if raw and content_type != "application/json":
            self._error(415, "send JSON (Content-Type: application/json)")
            return None
        try:
            body = load_json(raw) if raw else {}
        except ValueError as exc:
            self._error(400, f"the body is not JSON: {exc}")
            return None
        if not isinstance(body, dict):
            self._error(400, "the body must be a JSON object")
            return None
        return body

    def do_PUT(self) -> None:
        self.close_connection = True  # its body, if any, stays unread
        self._error(405, "method not allowed")

    do_DELETE = do_PATCH = do_OPTIONS = do_PUT


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        raise ActionError(f"{name} must be a whole number", 400) from None
