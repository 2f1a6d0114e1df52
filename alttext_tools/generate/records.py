"""What happened to each image in a generation run (`ImageRecord`, the JSON report's entries), and
the per-image values the pipeline passes along: the bytes read, the shared outcome, failures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from alttext_tools.core import Decision
from alttext_tools.errors import AltTextError
from alttext_tools.images.errors import ImageError, shorten_src
from alttext_tools.text import language_key, one_line

# Record statuses.
GENERATED = "generated"
TRANSLATED = "translated"  # from the image's alt in another language, by a text-only call
CACHED = "cached"
DEDUPLICATED = "deduplicated"
SVG_TITLE = "svg-title"
FAILED = "failed"


# --- records -------------------------------------------------------------------------------------


@dataclass
class ImageRecord:
    """What happened to one image; `to_dict()` is the per-image entry of the JSON report."""

    path: str
    line: int
    column: int
    src: str | None
    status: str = FAILED  # generated | translated | cached | deduplicated | svg-title | failed
    route: str | None = None  # slot used: "fast" | "text"
    kind: str | None = None  # router verdict: "text" | "photo"
    score: float | None = None  # router text-likeness, 0..1
    model_id: str | None = None
    role: str | None = None
    language: str | None = None
    alt: str | None = None
    decorative: bool = False
    json_mode: bool | None = None
    duplicate_of: str | None = None  # "path:line:col" of the image whose result was reused
    translated_from: str | None = None  # cache key of the alt it was translated from
    decode_ms: float | None = None  # read + Pillow decode + resize/PNG for the model
    route_ms: float | None = None
    load_ms: float | None = None  # model loading done while handling this image
    encode_ms: float | None = None  # image encode + prompt evaluation (llama.cpp)
    generate_ms: float | None = None  # token generation
    total_ms: float | None = None
    error: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    def problem(self) -> str:
        src = shorten_src(self.src) if self.src is not None else "(no src)"
        return f"{self.where}: cannot generate alt for {src}: {self.error}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Why an image failed (DescribeError.kind): the caller of `describe` maps these to its own terms.
FAIL_IMAGE = "image"  # not a decodable / supported image
FAIL_TOO_LARGE = "too-large"  # over the pixel limit
FAIL_SVG = "svg"  # SVG without <title>/<desc>
FAIL_NO_MODEL = "no-model"  # no usable model
FAIL_GENERATION = "generation"  # the model (or server) gave no usable alt


class ImageFailed(AltTextError):
    """This image cannot get alt text: `reason` is the one-line why, `kind` one of FAIL_*."""

    def __init__(self, reason: str, kind: str = FAIL_GENERATION) -> None:
        super().__init__(reason)
        self.reason = one_line(reason)
        self.kind = kind


class DescribeError(AltTextError):
    """`ModelProvider.describe` could not write alt text: `kind` (FAIL_*) and a one-line reason."""

    def __init__(self, reason: str, kind: str, record: ImageRecord) -> None:
        super().__init__(reason)
        self.reason = one_line(reason)
        self.kind = kind
        self.record = record


@dataclass
class ImageRead:
    """One image as generation sees it: its digest (what deduplication and the cache key by),
    role and language, and its bytes, read when a decoder needs them (`reread`): a file already
    hashed in this run is not read again for a cache hit."""

    digest: str
    role: str
    lang: str | None
    read_s: float  # resolving and reading, counted into decode_ms
    loaded: bytes | None = field(default=None, repr=False)
    reread: Callable[[], bytes] | None = field(default=None, repr=False)  # the bytes when not `loaded`

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.digest, self.role, language_key(self.lang) or "")

    @property
    def data(self) -> bytes:
        if self.loaded is None:
            if self.reread is None:
                raise ImageFailed("the image bytes are not available", FAIL_IMAGE)
            try:
                self.loaded = self.reread()
            except ImageError as err:
                raise ImageFailed(err.reason, FAIL_IMAGE) from None
        return self.loaded


@dataclass
class Outcome:
    """The shareable result of the first occurrence of an image (for deduplication)."""

    first: ImageRecord
    decision: Decision | None
    done: bool = True  # False while a worker thread still generates it


def to_ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
