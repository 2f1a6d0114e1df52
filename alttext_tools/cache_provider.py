"""Alt text straight from the alt-text cache, with no model: a `decisions.Provider`.

Used where loading a model is not wanted (an MkDocs `fill` build without `model: true`): an image
gets a person's reviewed or edited text for its bytes, language and role if there is one, else
the newest text any model wrote for that same context. Images with no entry get no decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from alttext_tools.cache import AltCache, Entry
from alttext_tools.decisions import Decision, ImageKey, image_key
from alttext_tools.model import ImageRef
from alttext_tools.prompts import image_role

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
        language = (self.language or image.context.lang or "").lower()
        role = image_role(image)
        human = self.cache.human_entry(digest, language, role)
        if human is not None:
            return human
        same_context = [e for e in self.cache.for_image(digest) if (e.language or "").lower() == language and e.role == role]
        return max(same_context, key=lambda e: (e.updated, e.key)) if same_context else None
