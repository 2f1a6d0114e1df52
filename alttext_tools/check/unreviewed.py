"""`alttext check --require-reviewed`: alt text a model wrote that no person has reviewed.

What counts as unreviewed (the alt equals a `generated` cache entry's for the same image bytes, and
no reviewed or edited entry holds that text): docs/checking.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from alttext_tools.cache.file import Entry
from alttext_tools.cache.store import AltCache
from alttext_tools.check.rules import RULES
from alttext_tools.core import Finding, ImageRef, Severity

RULE_ID = "unreviewed-alt"
UNREVIEWED_RULE = RULES[RULE_ID]

ImageHash = Callable[[ImageRef], "str | None"]


def unreviewed(images: Iterable[ImageRef], cache: AltCache, image_hash: ImageHash) -> list[tuple[ImageRef, Entry]]:
    """(image, the generated entry its alt came from) for every unreviewed image, in input order.

    `image_hash(image)` gives the sha256 of the image's bytes, or None when they cannot be read.
    It is called only for images whose alt equals some generated entry's text.
    """
    model_texts = {_text(e) for e in cache.entries() if not e.is_human}
    found: list[tuple[ImageRef, Entry]] = []
    for image in images:
        if image.alt is None or _norm(image.alt) not in model_texts:
            continue
        digest = image_hash(image)
        if digest is None:
            continue
        entry = _unreviewed_entry(_norm(image.alt), cache.for_image(digest))
        if entry is not None:
            found.append((image, entry))
    return found


def _unreviewed_entry(alt: str, entries: Sequence[Entry]) -> Entry | None:
    if any(e.is_human and _text(e) == alt for e in entries):
        return None
    generated = [e for e in entries if not e.is_human and _text(e) == alt]
    return max(generated, key=lambda e: (e.updated, e.key)) if generated else None


def unreviewed_findings(
    images: Iterable[ImageRef], cache: AltCache, image_hash: ImageHash, severity: Severity = UNREVIEWED_RULE.severity
) -> list[Finding]:
    """The same, as `unreviewed-alt` findings for the check report."""
    return [
        Finding(RULE_ID, severity, _message(entry), image) for image, entry in unreviewed(images, cache, image_hash)
    ]


def _message(entry: Entry) -> str:
    what = 'alt="" (decorative)' if entry.decorative else f'"{_shorten(entry.alt)}"'
    return f"{what} was written by {entry.written_by} and never reviewed; accept or edit it with `alttext review`"


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(entry: Entry) -> str:
    return "" if entry.decorative else _norm(entry.alt)


def _norm(text: str) -> str:
    from alttext_tools.text import normalize_alt

    return normalize_alt(text)


class ImageHasher:
    """sha256 of the bytes an image's src points at (images.reader: each file read once); None on any error."""

    def __init__(self, project_root: Path, site_root: Path | None = None, allow_remote: bool = False) -> None:
        from alttext_tools.images.reader import ImageReader

        self._reader = ImageReader(project_root, site_root, allow_remote)

    def __call__(self, image: ImageRef) -> str | None:
        from alttext_tools.images.errors import ImageError

        if not image.src:
            return None
        try:
            return self._reader.read(image.src, Path(image.path)).sha256
        except ImageError:
            return None
