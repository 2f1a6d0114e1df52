"""The cache as a source of alt text: a GenerationCache for the generation pipeline, and a model-free Provider."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from alttext_tools.cache.file import Entry
from alttext_tools.cache.key import CachedAlt, GenerationKey, norm_language
from alttext_tools.cache.store import AltCache
from alttext_tools.core import Decision, ImageKey, ImageRef, image_key, image_role


class GenerationCacheAdapter:
    """Lets the generation pipeline read and write an AltCache (a `cache.key.GenerationCache`).

    The length limit is part of the prompt, so it goes into the stored prompt version: a cached
    150-character answer is not reused under a 80-character limit.
    """

    def __init__(self, cache: AltCache, max_length: int, *, read_only: bool = False) -> None:
        self.cache = cache
        self.max_length = max_length
        self.read_only = read_only  # `fix --check` reads the cache but leaves the work tree alone

    def _prompt_version(self, key: GenerationKey) -> str:
        return f"{key.prompt_version}/max{self.max_length}"

    def get(self, key: GenerationKey) -> CachedAlt | None:
        entry = self.cache.lookup(key.image_sha256, key.model_id, self._prompt_version(key), key.language, key.role)
        return None if entry is None else cached_alt(entry)

    def put(self, key: GenerationKey, value: CachedAlt) -> None:
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
                translated_from=value.translated_from,
            )
        )

    def source(self, image_sha256: str, language: str | None, role: str) -> CachedAlt | None:
        lang = norm_language(language) or ""
        human = self.cache.human_entry(image_sha256, lang, role)
        if human is not None:
            return cached_alt(human)
        described = [
            e
            for e in self.cache.for_image(image_sha256)
            if (e.language or "") == lang and e.role == role and e.translated_from is None
        ]
        return cached_alt(max(described, key=lambda e: (e.updated, e.key))) if described else None

    def reviewed_language(self, image_sha256: str, role: str) -> str | None:
        reviewed = [
            e for e in self.cache.for_image(image_sha256) if e.role == role and e.is_human and e.translated_from is None
        ]
        if not reviewed:
            return None
        return min(reviewed, key=lambda e: (e.updated, e.key)).language


def cached_alt(entry: Entry) -> CachedAlt:
    """What a cache entry tells generation: its text, who wrote it, and its key and provenance."""
    return CachedAlt(
        None if entry.decorative else entry.alt,
        entry.decorative,
        entry.written_by,
        entry.handler,
        key=entry.key,
        human=entry.is_human,
        updated=entry.updated,
        translated_from=entry.translated_from,
    )


ImageHash = Callable[[ImageRef], "str | None"]  # sha256 of an image's bytes; None when they cannot be read


class CacheProvider:
    """A Provider that answers from the cache alone, no model: a person's entry for the image's
    bytes, language and role first, else the newest entry in that context."""

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
        """The entry `decide` uses for `image`, or None."""
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
