"""The request and answer models of `alttext serve` (pydantic; the OpenAPI document is generated from
them) and the parsing of a request body, JSON or multipart, in memory."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from python_multipart import FormParser
from python_multipart.multipart import Field as FormField
from python_multipart.multipart import File as FormFile
from python_multipart.multipart import parse_options_header

from alttext_tools.http_guard import load_json
from alttext_tools.serve.service import ApiError

MAX_CONTEXT_CHARS = 10_000  # per field; the prompt keeps far less (prompts.CONTEXT_LIMITS)
MAX_LANGUAGE_CHARS = 35  # BCP 47 tags are shorter
BASE64_PATTERN = "^(data:image/[A-Za-z0-9.+-]+;base64,)?[A-Za-z0-9+/]*={0,2}$"

ErrorCode = Literal[
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "request_timeout",
    "length_required",
    "payload_too_large",
    "unsupported_media_type",
    "generation_failed",
    "internal_error",
    "model_unavailable",
    "busy",
]

# --- requests ------------------------------------------------------------------------------------


class Context(BaseModel):
    """Optional page context; every field may be omitted or null. Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    page_title: str | None = Field(None, max_length=MAX_CONTEXT_CHARS, description="Title of the page.")
    text: str | None = Field(None, max_length=MAX_CONTEXT_CHARS, description="Text around the image.")
    language: str | None = Field(
        None, max_length=MAX_LANGUAGE_CHARS, description="BCP 47 tag of the language to write in."
    )
    link_target: str | None = Field(
        None, max_length=MAX_CONTEXT_CHARS, description="Where the image links to, if it is a link."
    )


class AltRequest(BaseModel):
    """An image as JSON: its bytes in base64, and optional context."""

    model_config = ConfigDict(extra="ignore")

    image_base64: str = Field(
        description="The image bytes in base64 (a data: URI is accepted too).",
        json_schema_extra={"contentEncoding": "base64", "pattern": BASE64_PATTERN},
    )
    context: Context | None = None


class AltForm(Context):
    """An image as multipart/form-data: the file in `image`, the context as text fields."""

    image: bytes = Field(description="The image file (PNG, JPEG, GIF, WebP, BMP, TIFF; SVG with <title>/<desc>).")


# --- answers -------------------------------------------------------------------------------------


class Timing(BaseModel):
    """Milliseconds per stage; null for a stage this request did not run."""

    model_config = ConfigDict(extra="forbid")

    queue: float | None = Field(ge=0)
    decode: float | None = Field(ge=0)
    route: float | None = Field(ge=0)
    load: float | None = Field(ge=0)
    encode: float | None = Field(ge=0)
    generate: float | None = Field(ge=0)
    total: float | None = Field(ge=0)


class AltResult(BaseModel):
    """Alt text for the image, who wrote it, and how long each stage took."""

    model_config = ConfigDict(extra="forbid")

    alt: str = Field(description='The alt text; "" when decorative.')
    decorative: bool
    model: str | None = Field(description="Model id that wrote it (null for an SVG's own title).")
    route: Literal["fast", "text"] | None = Field(description="Model slot the router chose.")
    source: Literal["model", "cache", "svg-title"]
    timing_ms: Timing


class Error(BaseModel):
    """Every error answer: a stable code and one line for people."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorCode
    message: str


class QueueState(BaseModel):
    in_flight: int = Field(ge=0)
    limit: int = Field(ge=1)


class RequestCounts(BaseModel):
    ok: int = Field(ge=0)
    failed: int = Field(ge=0)


class Models(BaseModel):
    fast: str | None
    text: str | None


class Health(BaseModel):
    """Liveness, the models behind each slot, how often each was loaded, and the queue."""

    status: Literal["ok"]
    version: str
    backend: Literal["local", "openai"]
    models: Models
    model_loads: dict[str, int]
    queue: QueueState
    requests: RequestCounts


# --- parsing -------------------------------------------------------------------------------------


def _message(err: ValidationError) -> str:
    """The first problem pydantic found, as one line naming the field."""
    first = err.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    kind, ctx = first["type"], first.get("ctx") or {}
    if kind == "missing":
        return f"missing field {where}"
    if kind in ("string_type", "bytes_type"):
        return f"{where} must be a string or null, not {type(first['input']).__name__}"
    if kind == "string_too_long":
        return f"{where} is longer than {ctx.get('max_length')} characters"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{where or 'the JSON body'} must be an object"
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def _decode_base64(encoded: str) -> bytes:
    if encoded.startswith("data:"):
        meta, comma, rest = encoded.partition(",")
        if not comma or not meta.endswith(";base64"):
            raise ApiError(400, "bad_request", "image_base64 as a data: URI must be data:<type>;base64,<data>")
        encoded = rest
    compact = "".join(encoded.split())
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_request", "image_base64 is not valid base64") from None


def _context(model: Context | AltForm | None) -> dict[str, str | None]:
    return {name: getattr(model, name, None) for name in Context.model_fields}


def parse_json(body: bytes) -> tuple[bytes, dict[str, str | None]]:
    """(image bytes, context) from an application/json body; ApiError(400) with one line."""
    try:
        document = load_json(body)
    except ValueError as err:
        raise ApiError(400, "bad_request", f"the body is not valid JSON ({err})") from None
    if not isinstance(document, dict):
        raise ApiError(400, "bad_request", "the JSON body must be an object with image_base64")
    try:
        request = AltRequest.model_validate(document)
    except ValidationError as err:
        message = _message(err)
        if message == "missing field image_base64":
            message += " (the image, base64-encoded)"
        raise ApiError(400, "bad_request", message) from None
    return _decode_base64(request.image_base64), _context(request.context)


def parse_multipart(content_type: str, body: bytes, max_part: int) -> tuple[bytes, dict[str, str | None]]:
    """(image bytes, context) from a multipart/form-data body, parsed in memory (python-multipart,
    with files kept in memory up to `max_part` bytes: never a temporary file)."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_request", "multipart/form-data without a boundary")
    values: dict[str, list[bytes]] = {}

    def on_field(field: FormField) -> None:
        if field.field_name is not None:
            values.setdefault(field.field_name.decode("utf-8", "replace"), []).append(field.value or b"")

    def on_file(file: FormFile) -> None:
        if file.field_name is None:
            return
        if not file.in_memory:  # cannot happen with MAX_MEMORY_FILE_SIZE above the body limit
            file.close()
            raise ApiError(413, "payload_too_large", "a multipart part is larger than this server takes")
        file.file_object.seek(0)
        values.setdefault(file.field_name.decode("utf-8", "replace"), []).append(file.file_object.read())
        file.close()

    config: dict[Any, Any] = {"MAX_MEMORY_FILE_SIZE": max_part + 1, "MAX_BODY_SIZE": max_part + 1}
    try:
        parser = FormParser("multipart/form-data", on_field, on_file, boundary=boundary, config=config)
        parser.write(body)
        parser.finalize()
    except ValueError as err:  # python-multipart's parse errors derive from ValueError
        raise ApiError(400, "bad_request", f"the multipart body is malformed ({err})") from None
    if not values:
        raise ApiError(400, "bad_request", "the multipart body has no parts (expected a field named image)")
    images = values.get("image", [])
    if len(images) > 1:
        raise ApiError(400, "bad_request", "more than one image field: send one image per request")
    if not images:
        raise ApiError(400, "bad_request", "missing multipart field image (the image file)")
    fields: dict[str, Any] = {"image": images[0]}
    for name in Context.model_fields:
        if name in values:
            fields[name] = values[name][-1].decode("utf-8", "replace")
    try:
        form = AltForm.model_validate(fields)
    except ValidationError as err:
        raise ApiError(400, "bad_request", _message(err)) from None
    return form.image, _context(form)
