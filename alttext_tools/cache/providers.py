"""The committed alt-text cache: content-addressed, human edits first, safe under concurrency.

One entry per (image bytes, model, prompt version, language, role). The role is "informative" or
"functional:<link target>", so an image that is a link is described by what it does there. The
same image on many pages shares one entry per context; moving or renaming it keeps its entry.

File format (JSON Lines, UTF-8, "\n" line ends; default `.alttext-cache.jsonl` at the project
root, `cache = "..."` in the config moves it):

    {"format":"alttext-cache","help":"...","version":1}
    {"alt":"A red fox asleep in the snow","created":"2025-01-02T03:04:05Z",...}

Line 1 is the header. Every other line is one complete entry with every field, keys sorted,
compact separators, non-ASCII kept as is; lines are sorted by the key's parts (image sha256,
language, role, model id, prompt version), so one image's entries sit together, two runs that
add the same entries write the same bytes, and git merges additions from two branches cleanly.
The hex key (`cache_key`) is derived from those parts, never stored: one source of truth.
With `.alttext-cache.jsonl merge=union` in .gitattributes git keeps both sides' lines instead of
writing conflict markers; duplicate keys are then resolved on load (human states first, then the
newest) and the next write sorts the file again. Conflict markers are refused with a pointer to
`alttext cache fix-conflicts` (`resolve_conflicts`). A damaged file raises `CacheError` naming
the file and line and is never rewritten.

Writers take an exclusive flock on the sidecar `<file>.lock` (present only while held), re-read
the file if another process replaced it, merge their own changes in (a model's entry never
replaces a human's; a pruned entry someone changed meanwhile stays), write a temp file in the
same folder, fsync it and `os.replace` it: readers take no lock and never see half a file, and
no process loses another's entries. `put()` buffers; `flush()` writes once (also every
`flush_every` changes or `flush_interval` seconds, and on leaving a `with` block). Lookups are
O(1) dict reads; loading parses the whole file with one `json.loads` in the common case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass
try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
from alttext_tools.cache.file import Entry
from alttext_tools.cache.key import norm_language
from alttext_tools.cache.store import AltCache
from alttext_tools.core import Decision, ImageKey, ImageRef, image_key, image_role


class GenerationCacheAdapter:
    """Lets the generation pipeline (generate.GenerationCache) read and write an AltCache.

    The length limit is part of the prompt, so it goes into the stored prompt version: a cached
    150-character answer is not reused under a 80-character limit.
    """

    def __init__(self, cache: AltCache, max_length: int, *, read_only: bool = False) -> None:
        self.cache = cache
        self.max_length = max_length
        self.read_only = read_only  # `fix --check` reads the cache but leaves the work tree alone

    def _prompt_version(self, key: Any) -> str:
        return f"{key.prompt_version}/max{self.max_length}"

    def get(self, key: Any) -> Any:
        from alttext_tools.cache.key import CachedAlt

        entry = self.cache.lookup(key.image_sha256, key.model_id, self._prompt_version(key), key.language, key.role)
        if entry is None:
            return None
        return CachedAlt(None if entry.decorative else entry.alt, entry.decorative, entry.written_by, entry.handler)

    def put(self, key: Any, value: Any) -> None:
        if self.read_only:
            return
        self.cache.put(
            Entry.generated(
                key.image_sha256,
                key.model_id,
                self._prompt_version(key),
                key.language,
                key.role,
                alt=value.alt or "",
                decorative=value.decorative,
                handler=value.handler,
            )
        )


ImageHash = Callable[[ImageRef], "str | None"]


class CacheProvider:
    def __init__(self, cache: AltCache, image_hash: ImageHash, language: str | None = None) -> None:
        self.cache = cache
        self.image_hash = image_hash
        self.language = language  # forced language, as `fix --language`

    def decide(self, images: Sequence[ImageRef]) -> dict[ImageKey, Decision]:
        decided: dict[ImageKey, Decision] = {}
        for image in images:
            entry = self.best_entry(image)
            if entry is None:
                continue
            if entry.decorative:
                decided[image_key(image)] = Decision.mark_decorative(origin="cache")
            elif entry.alt.strip():
                decided[image_key(image)] = Decision.text(entry.alt, origin="cache")
        return decided

    def best_entry(self, image: ImageRef) -> Entry | None:
        digest = self.image_hash(image)
        if digest is None:
            return None
        language = norm_language(self.language or image.context.lang) or ""
        role = image_role(image)
        human = self.cache.human_entry(digest, language, role)
        if human is not None:
            return human
        same_context = [e for e in self.cache.for_image(digest) if (e.language or "") == language and e.role == role]
        return max(same_context, key=lambda e: (e.updated, e.key)) if same_context else None
