"""Cache keys: what decides a generated alt (image, model, prompt version, language, role)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from alttext_tools.text import language_key


@dataclass(frozen=True)
class GenerationKey:
    """Everything that decides a generated alt: the parts the alt-text cache is keyed by."""

    image_sha256: str  # of the image bytes as read (before any decoding or resizing)
    model_id: str
    prompt_version: str
    language: str | None  # lower-cased BCP 47 tag; None: the model's default (English)
    role: str  # "informative" or "functional:<link target>" (core.image_role)

    @property
    def digest(self) -> str:
        """The cache key of these parts (`cache_key`)."""
        return cache_key(self.image_sha256, self.model_id, self.prompt_version, self.language, self.role)


def generation_key_for(
    image_sha256: str, model_id: str, language: str | None, role: str, prompt_version: str
) -> GenerationKey:
    """The key of one generation; the language in its one spelling (`norm_language`)."""
    return GenerationKey(image_sha256.lower(), model_id, prompt_version, norm_language(language), role)


@dataclass(frozen=True)
class CachedAlt:
    """What a cache returns / is given for one GenerationKey: the post-processed answer."""

    alt: str | None  # None (or "") when decorative
    decorative: bool
    model_id: str  # who wrote it: the model id, or e.g. "human" for a reviewed entry
    handler: str = ""
    # Filled in by a cache that stores entries (on `get`, `source`); ignored by `put`:
    key: str = ""  # the entry's cache key ("" when the answer comes from no stored entry)
    human: bool = False  # a person reviewed or edited it
    updated: str = ""  # when it last changed (UTC ISO): a person's review or edit changes it
    # The cache key of the alt this one translates (`put` stores it as the entry's provenance).
    translated_from: str | None = None


class GenerationCache(Protocol):
    """Where the generation pipeline looks up and stores alt text. `get` may answer with any entry
    it considers right for the key (a person's reviewed text for the same image, language and
    role, say); `put` receives every fresh generation. Hits are used as they are, without a model.

    `source` and `reviewed_language` serve translation (docs/generation.md, "Describe once,
    translate"): the alt a translation starts from, and the language a person reviewed first."""

    def get(self, key: GenerationKey) -> CachedAlt | None: ...

    def put(self, key: GenerationKey, value: CachedAlt) -> None: ...

    def source(self, image_sha256: str, language: str | None, role: str) -> CachedAlt | None:
        """The alt of these image bytes in `language` and `role` that translations start from: a
        person's entry first, else the newest entry described from the image; None when none."""
        ...

    def reviewed_language(self, image_sha256: str, role: str) -> str | None:
        """The language of the first alt a person reviewed or edited for these bytes and role,
        described from the image (not translated); None when no person has."""
        ...


KEY_SCHEME = "alttext-cache-key/1"


def cache_key(image_sha256: str, model_id: str, prompt_version: str, language: str | None, role: str) -> str:
    """SHA-256 hex of a canonical, unambiguous encoding of the key parts.

    Each part is length-prefixed (netstring style), so no value can imitate another split;
    language is compared case-insensitively (BCP 47), None and "" mean "no language".
    """
    parts = (image_sha256.lower(), model_id, prompt_version, norm_language(language) or "", role)
    encoded = KEY_SCHEME + "\n" + "".join(f"{len(p)}:{p}\n" for p in parts)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def norm_language(language: str | None) -> str | None:
    """The language part of a key: `text.language_key` (one lower-case spelling; "" means none)."""
    return language_key(language)
