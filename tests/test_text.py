"""text.py: one-line messages and the one language normalisation every layer uses."""

from __future__ import annotations

import pytest

from alttext_tools.cache.key import cache_key, generation_key_for, norm_language
from alttext_tools.generate.prompts import language_name
from alttext_tools.scan.dispatch import scan_text
from alttext_tools.text import (
    PATH_LANGUAGES,
    language_from_path,
    language_key,
    language_tag,
    normalize_language,
    one_line,
)

# --- one_line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("ends in a newline\n", "ends in a newline"),
        ("a\r\nb\tc\x00d\x1be", "a b c d e"),
        ("  spaced   out  ", "spaced out"),
        ("line\u2028separator", "line separator"),
        ("", ""),
    ],
)
def test_one_line(text: str, expected: str) -> None:
    assert one_line(text) == expected


# --- languages

# (as written, language_tag, normalize_language, language_key)
LANGUAGES: list[tuple[str | None, str | None, str | None, str | None]] = [
    ("en", "en", "en", "en"),
    ("EN", "en", "en", "en"),
    (" fr ", "fr", "fr", "fr"),
    ("pt-BR", "pt-BR", "pt-BR", "pt-br"),
    ("pt-br", "pt-BR", "pt-BR", "pt-br"),
    ("pt_BR", "pt-BR", "pt-BR", "pt-br"),
    ("zh-hant", "zh-Hant", "zh-Hant", "zh-hant"),
    ("ZH_HANT_tw", "zh-Hant-TW", "zh-Hant-TW", "zh-hant-tw"),
    ("sr-latn-rs", "sr-Latn-RS", "sr-Latn-RS", "sr-latn-rs"),
    ("es-419", "es-419", "es-419", "es-419"),
    ("de-CH-1996", "de-CH-1996", "de-CH-1996", "de-ch-1996"),
    ("en-GB-oxendict", "en-GB-oxendict", "en-GB-oxendict", "en-gb-oxendict"),
    ("en-x-Priv-AB", "en-x-priv-ab", "en-x-priv-ab", "en-x-priv-ab"),
    ("fil", "fil", "fil", "fil"),
    # not tags: kept as the author wrote them, compared case-insensitively
    ("Français", None, "Français", "français"),
    ("en US", None, "en US", "en us"),
    ("e", None, "e", "e"),
    ("en-", None, "en-", "en-"),
    ("en--us", None, "en--us", "en--us"),
    ("en-toolongsubtag", None, "en-toolongsubtag", "en-toolongsubtag"),
    # nothing
    ("", None, None, None),
    ("   ", None, None, None),
    (None, None, None, None),
]


@pytest.mark.parametrize(("value", "tag", "normalized", "key"), LANGUAGES, ids=[repr(row[0]) for row in LANGUAGES])
def test_language_normalisation(value: str | None, tag: str | None, normalized: str | None, key: str | None) -> None:
    assert language_tag(value) == tag
    assert normalize_language(value) == normalized
    assert language_key(value) == key
    assert norm_language(value) == key  # the cache key's language is the same spelling


def test_normalisation_is_idempotent() -> None:
    for value, *_ in LANGUAGES:
        normalized = normalize_language(value)
        assert normalize_language(normalized) == normalized
        assert language_key(normalized) == language_key(value)


def test_spellings_of_one_language_share_a_cache_key() -> None:
    sha = "a" * 64
    keys = {cache_key(sha, "m", "p", lang, "informative") for lang in ("pt-BR", "pt_br", " PT-br ")}
    assert len(keys) == 1
    assert cache_key(sha, "m", "p", "", "informative") == cache_key(sha, "m", "p", None, "informative")
    assert generation_key_for(sha, "m", "zh_Hant", "informative", "p").language == "zh-hant"


@pytest.mark.parametrize(
    ("tag", "name"),
    [("pt-br", "Brazilian Portuguese (pt-br)"), ("ZH-HANT", "Traditional Chinese (ZH-HANT)"), ("De", "German (De)")],
)
def test_prompt_language_names_accept_any_spelling(tag: str, name: str) -> None:
    assert language_name(tag) == name


@pytest.mark.parametrize(
    ("path", "lang"),
    [
        ("docs/es/docs/index.md", "es"),
        ("docs/zh-hant/docs/index.md", "zh-Hant"),
        ("docs\\pt-BR\\a.md", "pt-BR"),
        ("site/en_us/a.md", "en-US"),
        ("site/pt_br/index.md", "pt-BR"),
        ("docs/guide/index.de.md", "de"),
        ("docs/guide/index.pt-BR.md", "pt-BR"),
        ("docs/tutorial/index.md", None),
        ("es.md", None),
        ("docs/xx/a.md", None),
        ("docs/ml/a.md", None),  # not a language folder, though Malayalam is a language
        ("docs/de-CH-1996/a.md", None),  # only a language, or a language and a region or script
        ("docs/es-419/a.md", None),
        ("", None),
    ],
)
def test_language_from_path(path: str, lang: str | None) -> None:
    assert language_from_path(path) == lang


def test_path_languages_are_plain_language_subtags() -> None:
    assert all(language_tag(lang) == lang and len(lang) == 2 for lang in PATH_LANGUAGES)


@pytest.mark.parametrize(
    ("markup", "path", "kind", "lang"),
    [
        ('<html lang="EN-gb"><body><img src=a alt=x></body></html>', "a.html", "html", "en-GB"),
        ('<html lang="en"><body><p lang=" pt_br "><img src=a alt=x></p></body></html>', "a.html", "html", "pt-BR"),
        (
            '<html lang="en"><body><img lang="Klingon please" src=a alt=x></body></html>',
            "a.html",
            "html",
            "Klingon please",
        ),
        ('<html lang="en"><body><img lang="" src=a alt=x></body></html>', "a.html", "html", None),
        ("---\nlang: pt_br\n---\n![x](a.png)\n", "docs/es/a.md", "markdown", "pt-BR"),
        ("---\nlang: Español\n---\n![x](a.png)\n", "a.md", "markdown", "Español"),
        ("![x](a.png)\n", "docs/es/a.md", "markdown", "es"),
    ],
)
def test_scanners_carry_the_normalised_language(markup: str, path: str, kind: str, lang: str | None) -> None:
    [image] = scan_text(markup, path, kind)  # type: ignore[arg-type]
    assert image.context.lang == lang
