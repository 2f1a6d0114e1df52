"""The HTTP face of `alttext serve` (FastAPI on uvicorn): routes, who may call, how a body is read,
and the error answers. The OpenAPI document is generated from the routes and the models in
serve/schema.py.

Endpoints, limits and the security model: docs/serve.md.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request, Security
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alttext_tools import __version__
from alttext_tools.http_guard import HostGuard
from alttext_tools.serve.schema import AltForm, AltRequest, AltResult, Error, Health, parse_json, parse_multipart
from alttext_tools.serve.service import AltService, ApiError

MEDIA_TYPES = ("multipart/form-data", "application/json")
# A refused request's body is read and dropped (up to this much, for at most this long) before the
# error is sent, so a client that sends the whole body before reading (no Expect: 100-continue)
# still gets the answer.
DRAIN_MAX = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0
COMMON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_REF = "#/components/schemas/{model}"

# How much of a request's body has been read: none of it, or none worth keeping (a refusal drains
# the rest, bounded, unless the client waits for 100 Continue); part of it, the rest not coming in
# time (the connection closes); or all of it.
UNREAD, PARTLY_READ, READ = "unread", "partly read", "read"

_FORBIDDEN = "A Host the server does not answer to, or a request from another site's page (Origin, Sec-Fetch-Site)"
_ALT_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": description}
    for status, description in (
        (400, "Malformed request: bad JSON or multipart, missing image, invalid base64, wrong field type"),
        (401, "The server requires a token: send Authorization: Bearer TOKEN"),
        (403, _FORBIDDEN),
        (408, "The body did not arrive within the server's upload timeout"),
        (411, "Neither Content-Length nor chunked Transfer-Encoding"),
        (413, "The body, the image bytes or its pixel count is over the server's limit"),
        (415, "Not multipart/form-data or JSON, or the bytes are not a supported image"),
        (422, "The image was read but no usable alt text came out (model answer unusable, SVG without title)"),
        (500, "Internal error"),
        (503, "Queue or uploads full (retry after Retry-After seconds), or no usable model"),
    )
}
BearerToken = Annotated[
    HTTPAuthorizationCredentials | None,
    Security(
        HTTPBearer(
            auto_error=False,
            scheme_name="bearerToken",
            description="Required only when the server was started with a token.",
        )
    ),
]
_GET_ERRORS: dict[int | str, dict[str, Any]] = {403: {"model": Error, "description": _FORBIDDEN}}
_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"$ref": _REF.format(model="AltForm")},
                "encoding": {"image": {"contentType": "image/*, application/octet-stream"}},
            },
            "application/json": {"schema": {"$ref": _REF.format(model="AltRequest")}},
        },
    },
    "security": [{}],  # a token is needed only when the server was started with one
}


# --- errors --------------------------------------------------------------------------------------


def _has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "").strip() not in ("", "0")


async def _drain(receive: Receive) -> None:
    """Read and drop a request body, at most DRAIN_MAX bytes for at most DRAIN_SECONDS."""
    total = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        while total <= DRAIN_MAX:
            message = await receive()
            if message["type"] != "http.request":
                return
            total += len(message.get("body", b""))
            if not message.get("more_body", False):
                return


async def error_response(headers: Headers, receive: Receive, err: ApiError, body: str) -> JSONResponse:
    """The JSON answer for `err`. A request whose body is not (wholly) read closes its connection,
    so no byte of that body is taken for a next request."""
    extra = dict(err.headers)
    if body != READ and _has_body(headers):
        extra["Connection"] = "close"
        length = headers.get("content-length", "0").strip()
        expects_continue = headers.get("expect", "").lower() == "100-continue"
        if body == UNREAD and not expects_continue and (not length.isdigit() or int(length) <= DRAIN_MAX):
            await _drain(receive)
    return JSONResponse({"error": err.code, "message": err.message}, err.status, extra)


class Gate:
    """Before any route: a request with a Host the server does not answer to, or from another site's
    page, gets 403. Every answer gets the common headers."""

    def __init__(self, app: ASGIApp, guard: HostGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        headers = Headers(scope=scope)
        refusal = self.guard.refusal(headers)
        if refusal is None:
            await self.app(scope, receive, send_with_headers)
            return
        response = await error_response(headers, receive, ApiError(403, "forbidden", refusal), UNREAD)
        await response(scope, receive, send_with_headers)


# --- POST /v1/alt --------------------------------------------------------------------------------


def _precheck(service: AltService, request: Request, bearer: str | None) -> tuple[str, int | None, int]:
    """Checks that need no body: token, type, length. (media type, Content-Length or None when
    chunked, body limit)"""
    if not service.authorized(bearer):
        raise ApiError(
            401,
            "unauthorized",
            "missing or wrong token: send Authorization: Bearer TOKEN",
            {"WWW-Authenticate": 'Bearer realm="alttext"'},
        )
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in MEDIA_TYPES:
        shown = f"Content-Type {media!r}" if media else "no Content-Type"
        raise ApiError(
            415, "unsupported_media_type", f"{shown}: send multipart/form-data (field image) or application/json"
        )
    limit = service.body_limit(media)
    text = request.headers.get("content-length")
    if text is None:
        if "transfer-encoding" not in request.headers:
            raise ApiError(411, "length_required", "Content-Length (or a chunked body) is required")
        return media, None, limit
    length = int(text)  # h11 has refused an invalid or conflicting Content-Length
    if length > limit:
        raise ApiError(
            413,
            "payload_too_large",
            f"the body is {length} bytes; this server takes images up to {service.max_bytes} bytes "
            f"(body limit {limit})",
        )
    return media, length, limit


async def _read_body(service: AltService, request: Request, length: int | None, limit: int, state: list[str]) -> bytes:
    """The whole body within the upload deadline and the body limit (a chunked body is counted as
    it arrives); at most `uploads` requests read at once. `state[0]` says how much was read."""
    if not service.start_upload():
        raise ApiError(
            503, "busy", f"{service.upload_limit} uploads are already in progress; retry shortly", {"Retry-After": "1"}
        )
    chunks: list[bytes] = []
    size = 0
    of = f" of {length}" if length is not None else ""
    try:
        with anyio.fail_after(service.upload_timeout):
            async for chunk in request.stream():
                state[0] = PARTLY_READ
                size += len(chunk)
                if size > limit:
                    state[0] = UNREAD
                    raise ApiError(
                        413,
                        "payload_too_large",
                        f"the body is over {limit} bytes; this server takes images up to {service.max_bytes} bytes",
                    )
                chunks.append(chunk)
    except TimeoutError:
        state[0] = PARTLY_READ
        raise ApiError(408, "request_timeout", f"the body did not arrive in time ({size}{of} bytes)") from None
    except ClientDisconnect:
        state[0] = PARTLY_READ
        raise ApiError(400, "bad_request", f"the body ended after {size}{of} bytes") from None
    finally:
        service.end_upload()
    state[0] = READ
    return b"".join(chunks)


def _answer(
    service: AltService, media: str, content_type: str, body: bytes, received: float
) -> dict[str, Any]:  # in a worker thread
    if media == "application/json":
        data, context = parse_json(body)
    else:
        data, context = parse_multipart(content_type, body, service.body_limit(media))
    del body
    return service.describe(data, context, received)


# --- the application -----------------------------------------------------------------------------


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The framework's document, with the request bodies' models (read by hand, not by FastAPI) in
    its components."""
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (AltRequest, AltForm):
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return document


async def _http_error(request: Request, exc: Exception) -> Response:
    """The router's own errors (no such path, wrong method) as JSON, like every other answer."""
    assert isinstance(exc, HTTPException)
    path, method = request.url.path, request.method
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        routes = request.app.routes  # every route on this path: a GET route and its HEAD twin are two
        allowed = ", ".join(sorted({m for r in routes if getattr(r, "path", None) == path for m in r.methods}))
        headers["Allow"] = allowed
        err = ApiError(405, "method_not_allowed", f"{method} is not allowed on {path[:100]}; use {allowed}", headers)
    elif exc.status_code == 404:
        message = f"no such endpoint {path[:100]}: POST /v1/alt, GET /healthz, GET /openapi.json"
        err = ApiError(404, "not_found", message, headers)
    else:
        code = "bad_request" if exc.status_code < 500 else "internal_error"
        err = ApiError(exc.status_code, code, str(exc.detail), headers)
    return await error_response(request.headers, request.receive, err, UNREAD)


def make_app(service: AltService, guard: HostGuard) -> ASGIApp:
    """The ASGI application for `service`, answering only to the Host names `guard` allows."""
    app = FastAPI(
        title="alttext serve",
        version=__version__,
        description=(
            "Alt text for one image at a time, written by a local vision-language model (alttext-tools). "
            "Images are processed in memory and never stored."
        ),
        openapi_url=None,  # served by the route below, which the document lists
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(HTTPException, _http_error)

    @app.post(
        "/v1/alt",
        operation_id="describeImage",
        summary="Write alt text for an image",
        description=(
            "Send the image as multipart/form-data (field `image`) or as JSON (`image_base64`), with optional page "
            "context. An image inside a link (link_target) is never decorative: its alt names the destination. A "
            'decorative image gets alt "" and decorative true.'
        ),
        response_model=AltResult,
        responses=_ALT_ERRORS,
        openapi_extra=_REQUEST_BODY,
    )
    async def describe_image(request: Request, credentials: BearerToken) -> Response:
        received = time.perf_counter()
        state = [UNREAD]
        try:
            media, length, limit = _precheck(service, request, credentials.credentials if credentials else None)
            body = await _read_body(service, request, length, limit, state)
            # Admitted to the model queue only once the body is here: a slow sender holds no place in it.
            if not service.admit():
                raise ApiError(
                    503,
                    "busy",
                    f"{service.queue_limit} requests are already queued; retry shortly",
                    {"Retry-After": "1"},
                )
        except ApiError as err:
            service.count_failure()
            return await error_response(request.headers, request.receive, err, state[0])
        ok = False
        try:
            content_type = request.headers.get("content-type", "")
            result = await anyio.to_thread.run_sync(_answer, service, media, content_type, body, received)
            ok = True
        except ApiError as err:
            return await error_response(request.headers, request.receive, err, READ)
        except Exception as err:  # never a traceback to the client; one line in the log
            service.log(f"internal error on POST /v1/alt: {type(err).__name__}: {err}")
            failure = ApiError(500, "internal_error", f"internal error: {type(err).__name__}")
            return await error_response(request.headers, request.receive, failure, READ)
        finally:
            service.release(ok)
        return JSONResponse(result)

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz", operation_id="health", summary="Liveness, models and queue", responses=_GET_ERRORS)
    async def health() -> Health:
        return Health.model_validate(service.health())

    @app.head("/openapi.json", include_in_schema=False)
    @app.get(
        "/openapi.json",
        operation_id="openapi",
        summary="This document",
        response_model=dict[str, Any],
        responses=_GET_ERRORS,
    )
    async def openapi() -> Response:
        return JSONResponse(document)  # already JSON-ready: no encoding pass

    document = _openapi(app)  # once every route is in place
    return Gate(app, guard)
