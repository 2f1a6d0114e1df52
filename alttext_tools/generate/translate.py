"""Describe once, translate: which language of an image is described from its pixels (the primary
one) and which are translated from that alt by a text-only call, the translation request, and the
call counts of a run planned before any model runs. Design notes: docs/generation.md."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alttext_tools.core import Context, is_functional
from alttext_tools.generate.prompts import CONTEXT_LIMITS, Prompt, language_name, sanitize_context
from alttext_tools.text import language_key

# Goes into the stored prompt version of every translation; bump it when the request changes.
TRANSLATE_VERSION = "translate-1"


def primary_language(languages: Iterable[str], preferred: str | None, reviewed: str | None = None) -> str | None:
    """The language an image is described in from its pixels, of the (known) languages it appears
    in: the first one a person reviewed (`reviewed`), else the site's default (`preferred`) when the
    image appears in it, else the first it appears in. None when no language is known."""
    if reviewed:
        return language_key(reviewed)
    known = [key for key in (language_key(lang) for lang in languages) if key]
    preferred_key = language_key(preferred)
    if preferred_key and preferred_key in known:
        return preferred_key
    return known[0] if known else None


def translation_version(source_key: str, source_alt: str, source_human: bool, source_updated: str) -> str:
    """The prompt version a translation is stored under: TRANSLATE_VERSION and a fingerprint of
    the alt it translates (its cache key, text, review state and last change). A person's edit or
    review of the source changes the fingerprint, so its unreviewed translations are looked up
    under a new key and written again; a person's own entry for the target wins over any key."""
    encoded = "\n".join((source_key, source_alt, "human" if source_human else "model", source_updated))
    return f"{TRANSLATE_VERSION}/{hashlib.sha256(encoded.encode('utf-8')).hexdigest()[:16]}"


def translation_prompt(
    alt: str, source_lang: str, target_lang: str, context: Context, role: str, max_length: int
) -> Prompt:
    """The text-only request that translates `alt` (written in `source_lang`) into `target_lang`
    for the page in `context` (the target page's own title, heading and text). Plain text out."""
    source = language_name(source_lang) or source_lang
    target = language_name(target_lang) or target_lang
    system = (
        "You translate alt text: the words that replace an image for people who cannot see it. "
        "Keep the meaning exactly; add and drop nothing. Keep code, names of products, commands, "
        "file names and text shown in the image as they are. Use the page's own terms where it "
        f"has them. One line of plain text without quotes or Markdown, at most {max_length} characters."
    )
    lines: list[str] = []
    for label, field, value in (
        ("Page title", "page_title", context.page_title),
        ("Section heading", "heading", context.heading),
        ("Text around the image", "paragraph", context.paragraph),
    ):
        clean = sanitize_context(value, CONTEXT_LIMITS[field])
        if clean:
            lines.append(f"{label}: {clean}")
    if is_functional(role):
        lines.append("The image is a link or button: the alt text says where it goes or what it does.")
    lines.append(f"Alt text in {source}: {sanitize_context(alt, max_length * 2) or alt}")
    lines.append(f"Write this alt text in {target}. Answer with the translated alt text only.")
    return Prompt(system=system, user="\n".join(lines), json_schema=None)


@dataclass(frozen=True)
class CallPlan:
    """The model calls a first run (an empty cache) makes for the images it needs alt text for."""

    occurrences: int  # images on pages
    distinct: int  # distinct (image bytes, role, language): what a run without translation describes
    vision_calls: int  # described from the image
    text_calls: int  # translated by a text-only call


def plan_calls(
    occurrences: Sequence[tuple[str, str, str | None]], *, translate: bool, preferred: str | None = None
) -> CallPlan:
    """The calls for `occurrences` (image sha256, role, language): one per distinct (image, role,
    language); with `translate`, an image in several known languages is described once, in its
    primary language, and translated into the others. The pipeline's rule, without a model."""
    languages: dict[tuple[str, str], list[str]] = {}
    for digest, role, lang in occurrences:
        seen = languages.setdefault((digest, role), [])
        key = language_key(lang) or ""
        if key not in seen:
            seen.append(key)
    distinct = sum(len(langs) for langs in languages.values())
    if not translate:
        return CallPlan(len(occurrences), distinct, distinct, 0)
    vision = text = 0
    for langs in languages.values():
        known = [lang for lang in langs if lang]
        if len(known) < 2:
            vision += len(langs)
            continue
        text += len(known) - 1  # every known language but the primary
        vision += 1 + (len(langs) - len(known))  # the primary, and any page without a language
    return CallPlan(len(occurrences), distinct, vision, text)
