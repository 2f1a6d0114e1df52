"""The OpenAPI 3.1 document of `alttext serve` (served at GET /openapi.json), written by hand."""

from __future__ import annotations

from typing import Any

from alttext_tools import __version__

# --- the OpenAPI document ------------------------------------------------------------------------

_ERROR_CODES = [
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

MAX_CONTEXT_CHARS = 10_000  # per field; the prompt keeps far less (prompts.CONTEXT_LIMITS)


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_FORBIDDEN = "A Host the server does not answer to, or a request from another site's page (Origin, Sec-Fetch-Site)"
_NULLABLE_MS = {"type": ["number", "null"], "minimum": 0}
_CONTEXT_STRING = {"type": ["string", "null"], "maxLength": MAX_CONTEXT_CHARS}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "alttext serve",
        "version": __version__,
        "description": (
            "Alt text for one image at a time, written by a local vision-language model (alttext-tools). "
            "Images are processed in memory and never stored."
        ),
    },
    "paths": {
        "/v1/alt": {
            "post": {
                "operationId": "describeImage",
                "summary": "Write alt text for an image",
                "description": (
                    "Send the image as multipart/form-data (field `image`) or as JSON (`image_base64`), with "
                    "optional page context. An image inside a link (link_target) is never decorative: its alt "
                    'names the destination. A decorative image gets alt "" and decorative true.'
                ),
                "security": [{}, {"bearerToken": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["image"],
                                "properties": {
                                    "image": {
                                        "type": "string",
                                        "format": "binary",
                                        "description": (
                                            "The image file (PNG, JPEG, GIF, WebP, BMP, TIFF; SVG with <title>/<desc>)."
                                        ),
                                    },
                                    "page_title": {"type": "string", "maxLength": MAX_CONTEXT_CHARS},
                                    "text": {
                                        "type": "string",
                                        "maxLength": MAX_CONTEXT_CHARS,
                                        "description": "Text around the image.",
                                    },
                                    "language": {
                                        "type": "string",
                                        "maxLength": 35,
                                        "description": "BCP 47 tag of the language to write in.",
                                    },
                                    "link_target": {
                                        "type": "string",
                                        "maxLength": MAX_CONTEXT_CHARS,
                                        "description": "Where the image links to, if it is a link.",
                                    },
                                },
                            },
                            "encoding": {"image": {"contentType": "image/*, application/octet-stream"}},
                        },
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["image_base64"],
                                "properties": {
                                    "image_base64": {
                                        "type": "string",
                                        "contentEncoding": "base64",
                                        "pattern": "^(data:image/[A-Za-z0-9.+-]+;base64,)?[A-Za-z0-9+/]*={0,2}$",
                                        "description": "The image bytes in base64 (a data: URI is accepted too).",
                                    },
                                    "context": {"$ref": "#/components/schemas/Context"},
                                },
                            }
                        },
                    },
                },
                "responses": {
                    "200": {
                        "description": "Alt text written",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AltResult"}}},
                    },
                    "400": _error_response(
                        "Malformed request: bad JSON or multipart, missing image, invalid base64, wrong field type"
                    ),
                    "401": _error_response("The server requires a token: send Authorization: Bearer TOKEN"),
                    "403": _error_response(_FORBIDDEN),
                    "408": _error_response("The body did not arrive within the server's upload timeout"),
                    "411": _error_response("Content-Length is required (no chunked uploads)"),
                    "413": _error_response("The body, the image bytes or its pixel count is over the server's limit"),
                    "415": _error_response("Not multipart/form-data or JSON, or the bytes are not a supported image"),
                    "422": _error_response(
                        "The image was read but no usable alt text came out (model answer unusable, SVG without title)"
                    ),
                    "500": _error_response("Internal error"),
                    "503": _error_response(
                        "Queue or uploads full (retry after Retry-After seconds), or no usable model"
                    ),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness, models and queue",
                "responses": {
                    "200": {
                        "description": "The service is up",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                    },
                    "403": _error_response(_FORBIDDEN),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1 document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "403": _error_response(_FORBIDDEN),
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearerToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "Required only when the server was started with a token.",
            }
        },
        "schemas": {
            "Context": {
                "type": "object",
                "description": "Optional page context; every field may be omitted or null. Unknown fields are ignored.",
                "properties": {
                    "page_title": _CONTEXT_STRING,
                    "text": {**_CONTEXT_STRING, "description": "Text around the image."},
                    "language": {
                        "type": ["string", "null"],
                        "maxLength": 35,
                        "description": "BCP 47 tag of the language to write in.",
                    },
                    "link_target": {**_CONTEXT_STRING, "description": "Where the image links to, if it is a link."},
                },
            },
            "AltResult": {
                "type": "object",
                "required": ["alt", "decorative", "model", "route", "source", "timing_ms"],
                "additionalProperties": False,
                "properties": {
                    "alt": {"type": "string", "description": 'The alt text; "" when decorative.'},
                    "decorative": {"type": "boolean"},
                    "model": {
                        "type": ["string", "null"],
                        "description": "Model id that wrote it (null for an SVG's own title).",
                    },
                    "route": {
                        "type": ["string", "null"],
                        "enum": ["fast", "text", None],
                        "description": "Model slot the router chose.",
                    },
                    "source": {"type": "string", "enum": ["model", "cache", "svg-title"]},
                    "timing_ms": {
                        "type": "object",
                        "required": ["queue", "decode", "route", "load", "encode", "generate", "total"],
                        "additionalProperties": False,
                        "properties": {
                            name: _NULLABLE_MS
                            for name in ("queue", "decode", "route", "load", "encode", "generate", "total")
                        },
                    },
                },
            },
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "additionalProperties": False,
                "properties": {
                    "error": {"type": "string", "enum": _ERROR_CODES},
                    "message": {"type": "string"},
                },
            },
            "Health": {
                "type": "object",
                "required": ["status", "version", "backend", "models", "model_loads", "queue", "requests"],
                "properties": {
                    "status": {"type": "string", "enum": ["ok"]},
                    "version": {"type": "string"},
                    "backend": {"type": "string", "enum": ["local", "openai"]},
                    "models": {
                        "type": "object",
                        "properties": {"fast": {"type": ["string", "null"]}, "text": {"type": ["string", "null"]}},
                    },
                    "model_loads": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                    "queue": {
                        "type": "object",
                        "required": ["in_flight", "limit"],
                        "properties": {
                            "in_flight": {"type": "integer", "minimum": 0},
                            "limit": {"type": "integer", "minimum": 1},
                        },
                    },
                    "requests": {
                        "type": "object",
                        "required": ["ok", "failed"],
                        "properties": {
                            "ok": {"type": "integer", "minimum": 0},
                            "failed": {"type": "integer", "minimum": 0},
                        },
                    },
                },
            },
        },
    },
}
