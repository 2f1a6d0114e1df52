"""The HTTP service behind `alttext serve`: limits, the admission queue, request parsing, handlers, binding policy.

Endpoints, limits and the security model: docs/serve.md.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
import time
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from alttext_tools import __version__
from alttext_tools.core import Context, ImageRef, Span, Syntax
from alttext_tools.errors import AltTextError
from alttext_tools.http_guard import HostGuard, Refused, content_length, is_loopback, load_json, read_body
from alttext_tools.serve.openapi import MAX_CONTEXT_CHARS, OPENAPI

if TYPE_CHECKING:
    from alttext_tools.generate.provider import ModelProvider

DEFAULT_PORT = 8765
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_QUEUE = 16
DEFAULT_UPLOADS = 64  # connections sending a body at once; more get 503 before their body is read
DEFAULT_UPLOAD_TIMEOUT = 60.0  # seconds a client gets to send a whole body
TOKEN_ENV = "ALTTEXT_SERVE_TOKEN"
MIN_REMOTE_TOKEN = 16
CONTEXT_FIELDS = ("page_title", "text", "language", "link_target")
_OVERHEAD = 64 * 1024  # room for multipart headers / JSON keys and context around the image
READ_TIMEOUT = 30.0  # seconds a client may stall while sending the request line and headers
# A refused request's body is read and dropped (up to this much, for at most this long) before the
# error is sent, so a client that sends the whole body before reading (no Expect: 100-continue)
# still gets the answer.
DRAIN_MAX = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0


class ApiError(AltTextError):
    """An error answer: HTTP status, a stable code, one line for people."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = " ".join(message.split())
        self.headers = headers or {}


# --- the service ---------------------------------------------------------------------------------


class AltService:
    """Everything the handlers share: the provider, the limits, the queue, counters."""

    def __init__(
        self,
        provider: ModelProvider,
        *,
        backend: str,
        language: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        queue: int = DEFAULT_QUEUE,
        uploads: int = DEFAULT_UPLOADS,
        upload_timeout: float = DEFAULT_UPLOAD_TIMEOUT,
        token: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.provider = provider
        self.backend = backend
        self.language = language
        self.max_bytes = max_bytes
        self.queue_limit = queue
        self.upload_limit = uploads
        self.upload_timeout = upload_timeout
        self.token = token
        self.log: Callable[[str], None] = log or (lambda line: None)
        self._engine_slots = threading.BoundedSemaphore(provider.concurrency)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.uploading = 0
        self.ok = 0
        self.failed = 0
        self.openapi = json.dumps(OPENAPI, ensure_ascii=False).encode("utf-8")

    # admission ---------------------------------------------------------------------------------

    def start_upload(self) -> bool:
        """A connection may start reading its body (at most `upload_limit` at once)."""
        with self._lock:
            if self.uploading >= self.upload_limit:
                return False
            self.uploading += 1
            return True

    def end_upload(self) -> None:
        with self._lock:
            self.uploading -= 1

    def admit(self) -> bool:
        """A request whose body has arrived may wait for the model (at most `queue_limit` at once)."""
        with self._lock:
            if self.in_flight >= self.queue_limit:
                return False
            self.in_flight += 1
            return True

    def release(self, ok: bool) -> None:
        with self._lock:
            self.in_flight -= 1
            if ok:
                self.ok += 1
            else:
                self.failed += 1

    def count_failure(self) -> None:
        with self._lock:
            self.failed += 1

    def authorized(self, header: str | None) -> bool:
        if not self.token:
            return True
        scheme, _, value = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode())

    def body_limit(self, media_type: str) -> int:
        if media_type == "application/json":
            return (self.max_bytes + 2) // 3 * 4 + _OVERHEAD  # base64 grows 4/3
        return self.max_bytes + _OVERHEAD

    # endpoints ---------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        slots = self.provider.slots
        with self._lock:
            queue = {"in_flight": self.in_flight, "limit": self.queue_limit}
            requests = {"ok": self.ok, "failed": self.failed}
        return {
            "status": "ok",
            "version": __version__,
            "backend": self.backend,
            "models": {
                slot: (spec.model_id if spec is not None else None)
                for slot, spec in (("fast", slots.fast), ("text", slots.text))
            },
            "model_loads": dict(self.provider.engine.load_counts),
            "queue": queue,
            "requests": requests,
        }

    def describe(self, data: bytes, context: dict[str, str | None], received: float) -> dict[str, Any]:
        """Alt text for image bytes; raises ApiError."""
        from alttext_tools.generate.records import (
            CACHED,
            FAIL_IMAGE,
            FAIL_NO_MODEL,
            FAIL_SVG,
            FAIL_TOO_LARGE,
            SVG_TITLE,
            DescribeError,
        )

        if not data:
            raise ApiError(400, "bad_request", "the image is empty (0 bytes)")
        if len(data) > self.max_bytes:
            raise ApiError(
                413, "payload_too_large", f"the image is {len(data)} bytes; this server takes at most {self.max_bytes}"
            )
        image = _image_ref(context, self.language)
        waited = time.perf_counter()
        with self._engine_slots:
            queue_ms = (time.perf_counter() - waited) * 1000
            try:
                record, decision = self.provider.describe(image, data)
            except DescribeError as err:
                status, code = {
                    FAIL_IMAGE: (415, "unsupported_media_type"),
                    FAIL_TOO_LARGE: (413, "payload_too_large"),
                    FAIL_SVG: (422, "generation_failed"),
                    FAIL_NO_MODEL: (503, "model_unavailable"),
                }.get(err.kind, (422, "generation_failed"))
                raise ApiError(status, code, err.reason) from None
        source = {CACHED: "cache", SVG_TITLE: "svg-title"}.get(record.status, "model")
        return {
            "alt": "" if decision.decorative else decision.alt,
            "decorative": decision.decorative,
            "model": record.model_id,
            "route": record.route,
            "source": source,
            "timing_ms": {
                "queue": round(queue_ms, 2),
                "decode": record.decode_ms,
                "route": record.route_ms,
                "load": record.load_ms,
                "encode": record.encode_ms,
                "generate": record.generate_ms,
                "total": round((time.perf_counter() - received) * 1000, 2),
            },
        }


def _image_ref(context: dict[str, str | None], default_language: str | None) -> ImageRef:
    """The ImageRef the prompt builder sees: the request's context as a page would give it."""
    link = context.get("link_target") or None
    return ImageRef(
        path="(upload)",
        syntax=Syntax.HTML_IMG,
        span=Span(0, 0),
        line=1,
        column=1,
        source="<img>",
        src="upload",
        alt=None,
        alt_kind=None,
        alt_span=None,
        context=Context(
            page_title=context.get("page_title") or None,
            paragraph=context.get("text") or None,
            link_href=link,
            in_link=link is not None,
            lang=context.get("language") or default_language,
        ),
    )


# --- request parsing -----------------------------------------------------------------------------


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _context_value(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", f"context.{name} must be a string or null, not {type(value).__name__}")
    if len(value) > MAX_CONTEXT_CHARS:
        raise ApiError(400, "bad_request", f"context.{name} is longer than {MAX_CONTEXT_CHARS} characters")
    return value


def parse_json(body: bytes) -> tuple[bytes, dict[str, str | None]]:
    try:
        document = load_json(body)
    except ValueError as err:
        raise ApiError(400, "bad_request", f"the body is not valid JSON ({err})") from None
    if not isinstance(document, dict):
        raise ApiError(400, "bad_request", "the JSON body must be an object with image_base64")
    encoded = document.get("image_base64")
    if encoded is None:
        raise ApiError(400, "bad_request", "missing field image_base64 (the image, base64-encoded)")
    if not isinstance(encoded, str):
        raise ApiError(400, "bad_request", "image_base64 must be a string")
    if encoded.startswith("data:"):
        meta, comma, rest = encoded.partition(",")
        if not comma or not meta.endswith(";base64"):
            raise ApiError(400, "bad_request", "image_base64 as a data: URI must be data:<type>;base64,<data>")
        encoded = rest
    compact = "".join(encoded.split())
    compact += "=" * (-len(compact) % 4)
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_request", "image_base64 is not valid base64") from None
    raw_context = document.get("context")
    if raw_context is None:
        raw_context = {}
    if not isinstance(raw_context, dict):
        raise ApiError(400, "bad_request", "context must be an object")
    context = {name: _context_value(name, raw_context.get(name)) for name in CONTEXT_FIELDS}
    return data, context


def parse_multipart(content_type: str, body: bytes) -> tuple[bytes, dict[str, str | None]]:
    """Parse multipart/form-data in memory (email.parser; nothing touches the disk)."""
    if "\r" in content_type or "\n" in content_type:
        raise ApiError(400, "bad_request", "invalid Content-Type header")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", errors="replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.get_boundary() is None:
        raise ApiError(400, "bad_request", "multipart/form-data without a boundary, or not multipart")
    image: bytes | None = None
    context: dict[str, str | None] = {name: None for name in CONTEXT_FIELDS}
    parts = list(message.iter_parts())
    if not parts:
        raise ApiError(400, "bad_request", "the multipart body has no parts (expected a field named image)")
    for part in parts:
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        if name == "image":
            if image is not None:
                raise ApiError(400, "bad_request", "more than one image field: send one image per request")
            image = payload
        elif name in context:
            charset = part.get_content_charset() or "utf-8"
            try:
                text = payload.decode(charset, errors="replace")
            except LookupError:
                text = payload.decode("utf-8", errors="replace")
            context[name] = _context_value(name, text)
    if image is None:
        raise ApiError(400, "bad_request", "missing multipart field image (the image file)")
    return image, context


# --- HTTP ----------------------------------------------------------------------------------------

_ROUTES: dict[str, tuple[str, ...]] = {
    "/v1/alt": ("POST",),
    "/healthz": ("GET", "HEAD"),
    "/openapi.json": ("GET", "HEAD"),
}


class _Handler(BaseHTTPRequestHandler):
    server_version = "alttext-serve/" + __version__
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT
    service: AltService  # set on the subclass made by make_server
    guard: HostGuard  # likewise, once the port is known
    _body_pending = False  # a request body not read (yet): the connection cannot be reused
    _expect_refused = False  # refused at Expect: 100-continue: the client never sends the body

    def version_string(self) -> str:
        return self.server_version  # not the Python version

    # responses ---------------------------------------------------------------------------------

    def _send_json(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, *, raw: bytes | None = None
    ) -> None:
        body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self._body_pending:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error_json(self, err: ApiError) -> None:
        if self._body_pending and not self._expect_refused:
            self._drain()
        self._send_json(err.status, {"error": err.code, "message": err.message}, err.headers)

    def _drain(self) -> None:
        """Read and drop an unread request body (bounded in size and time); the connection closes anyway."""
        self.close_connection = True
        try:
            length = content_length(self.headers, required=True)
        except Refused:
            return  # chunked or unframed: nothing can be read safely
        if length <= DRAIN_MAX:
            deadline = time.monotonic() + min(DRAIN_SECONDS, self.service.upload_timeout)
            try:
                read_body(self.rfile, self.connection, length, deadline)
            except (Refused, OSError, ValueError):
                pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (malformed request line, 414, 501...) as JSON too."""
        self.close_connection = True
        text = message or HTTPStatus(code).phrase
        try:
            self._send_json(code, {"error": _STATUS_CODES.get(code, _fallback_code(code)), "message": text})
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        self.service.log(f"{self.address_string()} {format % args}")

    # routing -----------------------------------------------------------------------------------

    def _path(self) -> str:
        return self.path.split("?", 1)[0].split("#", 1)[0]

    def _route(self) -> None:
        path, method = self._path(), self.command
        length = (self.headers.get("Content-Length") or "").strip()
        self._body_pending = bool(self.headers.get("Transfer-Encoding")) or (length not in ("", "0"))
        allowed = _ROUTES.get(path)
        try:
            refusal = self.guard.refusal(self.headers)
            if refusal is not None:
                self.close_connection = True
                raise ApiError(403, "forbidden", refusal)
            if allowed is None:
                raise ApiError(
                    404, "not_found", f"no such endpoint {path[:100]}: POST /v1/alt, GET /healthz, GET /openapi.json"
                )
            if method not in allowed:
                raise ApiError(
                    405,
                    "method_not_allowed",
                    f"{method} is not allowed on {path}; use {', '.join(allowed)}",
                    {"Allow": ", ".join(allowed)},
                )
            if path == "/healthz":
                self._send_json(200, self.service.health())
            elif path == "/openapi.json":
                self._send_json(200, None, raw=self.service.openapi)
            else:
                self._alt()
        except ApiError as err:
            self._send_error_json(err)
        except Exception as err:  # never a traceback to the client; one line in the log
            self.close_connection = True
            self.service.log(f"internal error on {method} {path}: {type(err).__name__}: {err}")
            self._send_error_json(ApiError(500, "internal_error", f"internal error: {type(err).__name__}"))

    do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _route

    def do_POST(self) -> None:
        self._route()

    # POST /v1/alt ------------------------------------------------------------------------------

    def _precheck(self) -> tuple[str, int]:
        """Checks that need no body: token, type, length. (media type, content length)"""
        service = self.service
        if not service.authorized(self.headers.get("Authorization")):
            self.close_connection = True
            raise ApiError(
                401,
                "unauthorized",
                "missing or wrong token: send Authorization: Bearer TOKEN",
                {"WWW-Authenticate": 'Bearer realm="alttext"'},
            )
        content_type = self.headers.get("Content-Type")
        media = _media_type(content_type)
        if media not in ("multipart/form-data", "application/json"):
            self.close_connection = True
            shown = f"Content-Type {media!r}" if media else "no Content-Type"
            raise ApiError(
                415,
                "unsupported_media_type",
                f"{shown}: send multipart/form-data (field image) or application/json (image_base64)",
            )
        try:
            length = content_length(self.headers, required=True)
        except Refused as err:
            self.close_connection = True
            raise ApiError(err.status, _STATUS_CODES[err.status], err.message) from None
        limit = service.body_limit(media)
        if length > limit:
            self.close_connection = True
            raise ApiError(
                413,
                "payload_too_large",
                f"the body is {length} bytes; this server takes images up to {service.max_bytes} bytes "
                f"(body limit {limit})",
            )
        return media, length

    def handle_expect_100(self) -> bool:
        """Refuse a foreign, oversized or unauthorised upload before the client sends it."""
        if self._path() == "/v1/alt" and self.command == "POST":
            try:
                refusal = self.guard.refusal(self.headers)
                if refusal is not None:
                    raise ApiError(403, "forbidden", refusal)
                self._precheck()
            except ApiError as err:
                self._expect_refused = True
                self._body_pending = True  # so the connection closes
                self.service.count_failure()
                self._send_error_json(err)
                return False
        return super().handle_expect_100()

    def _read_body(self, length: int, deadline: float) -> bytes:
        """The whole body, before the deadline; at most `uploads` connections read at once."""
        service = self.service
        if not service.start_upload():
            self.close_connection = True  # the body stays unread
            raise ApiError(
                503,
                "busy",
                f"{service.upload_limit} uploads are already in progress; retry shortly",
                {"Retry-After": "1"},
            )
        try:
            body = read_body(self.rfile, self.connection, length, deadline)
        except Refused as err:
            self.close_connection = True
            self._body_pending = False  # partly read: nothing left worth draining
            code = "request_timeout" if err.status == 408 else "bad_request"
            raise ApiError(err.status, code, err.message) from None
        finally:
            service.end_upload()
        self._body_pending = False
        return body

    def _alt(self) -> None:
        service = self.service
        received = time.perf_counter()
        deadline = time.monotonic() + service.upload_timeout
        try:
            media, length = self._precheck()
            # Admitted to the model queue only once the body is here: a slow sender holds no place in it.
            body = self._read_body(length, deadline)
        except ApiError:
            service.count_failure()
            raise
        if not service.admit():
            service.count_failure()
            raise ApiError(
                503, "busy", f"{service.queue_limit} requests are already queued; retry shortly", {"Retry-After": "1"}
            )
        ok = False
        try:
            if media == "application/json":
                data, context = parse_json(body)
            else:
                data, context = parse_multipart(self.headers.get("Content-Type", ""), body)
            del body
            result = service.describe(data, context, received)
            ok = True
        finally:
            service.release(ok)
        self._send_json(200, result)


_STATUS_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
}


def _fallback_code(status: int) -> str:
    return "bad_request" if status < 500 else "internal_error"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64


def make_server(service: AltService, host: str, port: int) -> ThreadingHTTPServer:
    """Bind `host:port`; the handler answers only to the Host names that address allows."""
    handler: type[_Handler] = type("AltHandler", (_Handler,), {"service": service})
    server = _Server((host, port), handler)
    handler.guard = HostGuard.for_address(host, int(server.server_address[1]))
    return server


# --- binding policy ------------------------------------------------------------------------------


def binding_problem(host: str, allow_remote_clients: bool, token: str | None) -> str | None:
    """Why the server must not start on `host` with these flags; None when it may."""
    if is_loopback(host):
        return None
    if not allow_remote_clients:
        return (
            f"--host {host} would let other machines send images to this server: pass --allow-remote-clients "
            f"and a token (--token or ${TOKEN_ENV}), or keep the default --host 127.0.0.1"
        )
    if not token:
        return (
            f"--host {host} with --allow-remote-clients needs a token: --token TOKEN or ${TOKEN_ENV} "
            "(clients send Authorization: Bearer TOKEN)"
        )
    if len(token) < MIN_REMOTE_TOKEN:
        return (
            f"the token is too short for a server other machines can reach: use {MIN_REMOTE_TOKEN} characters or more"
        )
    return None
