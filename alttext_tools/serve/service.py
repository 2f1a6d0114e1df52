"""What `alttext serve` does for a request, apart from HTTP: limits, admission (uploads, the model
queue), the call into the models, counters, and the binding policy.

Endpoints, limits and the security model: docs/serve.md.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alttext_tools import __version__
from alttext_tools.core import Context, ImageRef, Span, Syntax
from alttext_tools.errors import AltTextError
from alttext_tools.http_guard import is_loopback

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
BODY_OVERHEAD = 64 * 1024  # room for multipart headers / JSON keys and context around the image


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

    def authorized(self, bearer: str | None) -> bool:
        """The token sent as `Authorization: Bearer TOKEN` is this server's (or it has none)."""
        if not self.token:
            return True
        return bearer is not None and hmac.compare_digest(bearer.strip().encode(), self.token.encode())

    def body_limit(self, media_type: str) -> int:
        """The largest body that can hold an image of `max_bytes` in this media type."""
        if media_type == "application/json":
            return (self.max_bytes + 2) // 3 * 4 + BODY_OVERHEAD  # base64 grows 4/3
        return self.max_bytes + BODY_OVERHEAD

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
        """Alt text for image bytes (blocks while the model runs: call it in a worker thread); raises ApiError."""
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
