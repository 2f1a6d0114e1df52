"""Pure text helpers every layer shares: one-line messages, alt text, encodability, language tags."""

from __future__ import annotations

import functools
import re
import unicodedata
from functools import lru_cache
from pathlib import PurePath


def one_line(text: str) -> str:
    """Collapse newlines and control characters: llama.cpp messages often end in '\\n'."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


# --------------------------------------------------------------------------- normalising/escaping


def normalize_alt(text: str) -> str:
    """Alt text is one line: control characters dropped, any run of whitespace one space, stripped."""
    kept = "".join(
        " " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    return " ".join(kept.split())


@lru_cache(maxsize=4096)
def encodable(ch: str, encoding: str) -> bool:
    """Can `ch` be written in `encoding` as it is (no character reference needed)?"""
    try:
        ch.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------- languages

# A BCP 47 tag as people write it: a 2-8 letter language, then subtags of 1-8 letters or digits,
# separated by "-" or (as in locale names) "_".
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")
_SEPARATOR = re.compile(r"[-_]")

# Languages recognised in file and folder names (`index.fr.md`, `docs/es/`). Kept short on
# purpose: a folder called `ml/`, `my/` or `is/` is rarely Malayalam, Burmese or Icelandic.
PATH_LANGUAGES = frozenset(
    {
        "ar",
        "bn",
        "cs",
        "da",
        "de",
        "el",
        "en",
        "es",
        "fa",
        "fi",
        "fr",
        "he",
        "hi",
        "hu",
        "id",
        "it",
        "ja",
        "ko",
        "nl",
        "no",
        "pl",
        "pt",
        "ro",
        "ru",
        "sv",
        "th",
        "tr",
        "uk",
        "vi",
        "zh",
    }
)


@lru_cache(maxsize=512)
def language_tag(value: str | None) -> str | None:
    """`value` as a BCP 47 tag in its conventional casing, or None when it is not shaped like one.

    Subtags are joined with "-" ("_" is read as "-"). The language is lower case, a four-letter
    script title case and a two-letter region upper case (`zh-Hant`, `pt-BR`, `sr-Latn-RS`); every
    other subtag, and everything after a singleton such as `x-`, is lower case.
    """
    if value is None:
        return None
    text = value.strip()
    if not _LANGUAGE_TAG.fullmatch(text):
        return None
    language, *subtags = _SEPARATOR.split(text)
    parts = [language.lower()]
    extension = False
    for subtag in subtags:
        extension = extension or len(subtag) == 1
        if not extension and subtag.isalpha() and len(subtag) == 4:
            parts.append(subtag.title())
        elif not extension and subtag.isalpha() and len(subtag) == 2:
            parts.append(subtag.upper())
        else:
            parts.append(subtag.lower())
    return "-".join(parts)


def normalize_language(value: str | None) -> str | None:
    """A language as a page or a user gives it: a tag in its conventional casing (`language_tag`);
    anything else is the author's word, kept as written (stripped). None when empty."""
    if value is None:
        return None
    return language_tag(value) or value.strip() or None


@functools.lru_cache(maxsize=1024)
def language_key(value: str | None) -> str | None:
    """One spelling per language for comparing and keying (BCP 47 tags are case-insensitive):
    `normalize_language` lower-cased, so `pt_BR`, `pt-br` and `PT-BR` are one key. None for none or ""."""
    normalized = normalize_language(value)
    return normalized.lower() if normalized else None


def language_from_path(path: str) -> str | None:
    """Language of a page from its name (`index.fr.md`, as mkdocs-static-i18n), else from the first
    folder named after one (`docs/es/`, `docs/pt-BR/`, `site/en_us/`); only `PATH_LANGUAGES` count,
    alone or with a region or script."""
    parts = PurePath(path.replace("\\", "/")).parts
    if not parts:
        return None
    stem = PurePath(parts[-1]).stem
    if "." in stem:
        found = _path_language(stem.rsplit(".", 1)[1])
        if found:
            return found
    for part in parts[:-1]:
        found = _path_language(part)
        if found:
            return found
    return None


def _path_language(name: str) -> str | None:
    tag = language_tag(name)
    if tag is None:
        return None
    language, *subtags = tag.split("-")
    if language not in PATH_LANGUAGES or len(subtags) > 1:
        return None
    if subtags and not (subtags[0].isalpha() and len(subtags[0]) in (2, 4)):
        return None
    return tag
