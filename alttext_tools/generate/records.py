"""The generation pipeline: images that need alt text in, `Decision`s out, through local models.

    slots = resolve_slots(config)                  # which models, from presets or local files
    with ModelProvider(slots, project_root=..., site_root=..., router_mode="auto", ...) as provider:
        decisions = provider.decide(images)        # decisions.Provider
        provider.problems, provider.records, provider.summary()

Per image: resolve the src safely (project-root boundary, site root, remote only when allowed) ->
read the bytes -> deduplicate (same bytes, same role, same language: generated once per run) ->
SVG: its <title>/<desc>, no model -> decode with Pillow once -> route (router.classify +
choose_slot) -> downscale/PNG for the chosen handler -> prompt (prompts.build_prompt) -> ONE
LocalEngine for the whole run (each model loads lazily, once) -> postprocess.clean_alt ->
Decision. Every failure is about one image: it becomes a record with status "failed" and a
one-line entry in `problems`, and the run goes on. A model whose files turn out to be broken
(ModelFileError) is not retried for every image: its slot is marked broken for the rest of the
run and images go to the other slot when there is one.

The engine is a LocalEngine by default (one in-process model at a time: images go through it one
by one). An engine with a `concurrency` attribute above 1 (openai_backend.OpenAIEngine, a server)
gets that many distinct images in flight: reading and deduplication stay serial and in order, a
thread pool runs decode -> route -> prompt -> generate -> clean for first occurrences, and
records keep the input order.

Alt text caching across runs belongs to the cache issue; `cache` (a `GenerationCache`, keyed by
`GenerationKey`: image sha256, model id, PROMPT_VERSION, language, role) is the hook it plugs into.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alttext_tools.core import Decision
from alttext_tools.images.errors import ImageError, shorten_src
from alttext_tools.images.resolve import ImageSource, content_hash, read_source
from alttext_tools.text import one_line

# Record statuses.
GENERATED = "generated"
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
    status: str = FAILED  # generated | cached | deduplicated | svg-title | failed
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


class ImageFailed(Exception):
    """Internal: this image cannot get alt text; `reason` is the one-line why."""

    def __init__(self, reason: str, kind: str = FAIL_GENERATION) -> None:
        super().__init__(reason)
        self.reason = one_line(reason)
        self.kind = kind


class DescribeError(Exception):
    """`ModelProvider.describe` could not write alt text: `kind` (FAIL_*) and a one-line reason."""

    def __init__(self, reason: str, kind: str, record: ImageRecord) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.record = record


@dataclass
class ImageRead:
    """An image's digest (what deduplication and the cache key by) and its bytes, read when a
    decoder needs them: a file already hashed in this run is not read again for a cache hit."""

    digest: str
    role: str
    lang: str | None
    read_s: float  # resolving and reading, counted into decode_ms
    loaded: bytes | None = field(default=None, repr=False)
    source: ImageSource | None = field(default=None, repr=False)  # where to read `loaded` from

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.digest, self.role, (self.lang or "").lower())

    @property
    def data(self) -> bytes:
        if self.loaded is None:
            assert self.source is not None
            try:
                data = read_source(self.source)
            except ImageError as err:
                raise ImageFailed(err.reason, FAIL_IMAGE) from None
            if content_hash(data) != self.digest:
                raise ImageFailed("the image file changed while alttext was running; run again", FAIL_IMAGE)
            self.loaded = data
        return self.loaded


def file_identity(path: Path) -> tuple[int, int, int, int] | None:
    """What says a file is unchanged since it was hashed (as git's index does): device, inode,
    size, modification time in ns. None when it cannot be stat'ed (the read reports why)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class Outcome:
    """The shareable result of the first occurrence of an image (for deduplication)."""

    first: ImageRecord
    decision: Decision | None
    done: bool = True  # False while a worker thread still generates it


def to_ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
