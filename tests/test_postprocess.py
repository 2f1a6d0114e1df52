"""postprocess.clean_alt: model answers (JSON, cut-off JSON, plain text, hostile text) -> one line."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alttext_tools.core import Decision
from alttext_tools.generate.postprocess import CleanResult, clean_alt, degenerate_reason, fit_length, strip_filler


def alt(raw: str, *, max_length: int = 150, json_mode: bool = False) -> str | None:
    return clean_alt(raw, max_length=max_length, json_mode=json_mode).alt


# --- JSON ----------------------------------------------------------------------------------------


def test_json_object() -> None:
    result = clean_alt('{"alt": "A red fox asleep in the snow", "decorative": false}', max_length=150, json_mode=True)
    assert result == CleanResult("A red fox asleep in the snow", False, None, "json")


def test_json_decorative_with_empty_alt() -> None:
    result = clean_alt('{"alt": "", "decorative": true}', max_length=150, json_mode=True)
    assert result.alt is None and result.decorative and result.reason is None


def test_json_empty_alt_not_decorative_is_a_failure() -> None:
    result = clean_alt('{"alt": "  ", "decorative": false}', max_length=150, json_mode=True)
    assert result.alt is None and not result.decorative and "empty" in (result.reason or "")


def test_json_with_raw_newlines_in_string() -> None:
    # llama.cpp's schema grammar lets raw control characters into strings.
    assert alt('{"alt": "Two lines\nof text", "decorative": false}', json_mode=True) == "Two lines of text"


def test_json_alt_not_a_string() -> None:
    result = clean_alt('{"alt": 5, "decorative": false}', max_length=150, json_mode=True)
    assert result.alt is None and "no alt text string" in (result.reason or "")


def test_json_cut_off_mid_string_drops_the_partial_word() -> None:
    result = clean_alt('{"alt": "A red fox sleeping in the sn', max_length=150, json_mode=True)
    assert result.alt == "A red fox sleeping in the"
    assert result.parsed == "json-partial"


def test_json_cut_off_after_the_string() -> None:
    result = clean_alt('{"alt": "Bar chart of monthly sales", "decor', max_length=150, json_mode=True)
    assert result.alt == "Bar chart of monthly sales" and not result.decorative


def test_json_invalid_escapes_survive() -> None:
    result = clean_alt(
        '{"alt": "path C:\\qux and \\u00e9t\\u00e9 \\x", "decorative": false}', max_length=150, json_mode=True
    )
    assert result.alt is not None and "été" in result.alt


def test_plain_text_model_answering_json() -> None:
    assert alt('{"alt": "Login form with email field", "decorative": false}') == "Login form with email field"
    assert alt('```json\n{"alt": "Bar chart of sales", "decorative": false}\n```') == "Bar chart of sales"
    assert alt('Sure! {"alt": "A cat", "decorative": false} Hope this helps') == "A cat"


def test_broken_json_in_json_mode_falls_back_to_text() -> None:
    assert alt("A lighthouse at dusk", json_mode=True) == "A lighthouse at dusk"


# --- plain-text cleanup --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"A mountain lake at dawn"', "A mountain lake at dawn"),
        ("“A mountain lake at dawn”", "A mountain lake at dawn"),
        ("Alt text: A mountain lake at dawn", "A mountain lake at dawn"),
        ("**Alt:** A mountain lake", "A mountain lake"),
        ("Description: `npm install` output", "npm install output"),
        ("# A mountain lake", "A mountain lake"),
        ("- A mountain lake", "A mountain lake"),
        ("Image of a mountain lake", "A mountain lake"),
        ("A picture of a mountain lake", "A mountain lake"),
        ("Photo of a mountain lake", "A mountain lake"),
        ("The image shows a mountain lake.", "A mountain lake."),
        ('Alt text: "Image of a mountain lake"', "A mountain lake"),
        ("Una imagen de un perro en la playa", "Un perro en la playa"),
        ("Foto de la playa", "La playa"),
        ("Image d'un chat noir", "Un chat noir"),
        ("Une photo de la tour Eiffel", "La tour Eiffel"),
        ("Ein Bild von einem Hund", "Hund"),
        ("Foto von Berlin", "Berlin"),
        ("Screenshot of the settings page", "Screenshot of the settings page"),
        ("A line one\nline two\n\nDecorative: no", "A line one line two"),
        ("[Docs home](https://example.com)", "Docs home"),
    ],
)
def test_cleanup(raw: str, expected: str) -> None:
    assert alt(raw) == expected


def test_internal_quotes_are_kept() -> None:
    assert alt('A sign reading "Stop" on a pole') == 'A sign reading "Stop" on a pole'


def test_plain_decorative_verdict() -> None:
    result = clean_alt("Decorative.", max_length=150, json_mode=False)
    assert result.alt is None and result.decorative and result.reason is None


@pytest.mark.parametrize("raw", ["", "   ", "...", '"', "Image of", "Alt text:", "N/A", "string", "!!!", "12"])
def test_empty_or_garbage_gives_a_reason(raw: str) -> None:
    result = clean_alt(raw, max_length=150, json_mode=False)
    assert result.alt is None and not result.decorative
    assert result.reason and "\n" not in result.reason


def test_filler_only_at_the_start() -> None:
    assert strip_filler("A graph of sales, image of growth") == "A graph of sales, image of growth"


# --- length --------------------------------------------------------------------------------------


def test_cut_at_sentence_end() -> None:
    text = "A fox sleeps in the snow. Behind it a forest stretches to the distant mountains under a grey sky."
    assert fit_length(text, 60) == "A fox sleeps in the snow."


def test_cut_at_word_boundary_without_dangling_punctuation() -> None:
    text = "A fox, a hare, a badger, an owl, a deer and many more animals of the forest"
    cut = fit_length(text, 30)
    assert cut == "A fox, a hare, a badger, an"
    assert len(cut) <= 30 and not cut.endswith((",", " "))


def test_cut_without_spaces_is_hard() -> None:
    assert fit_length("x" * 200, 50) == "x" * 50
    assert fit_length("日本語の説明文" * 30, 40) == ("日本語の説明文" * 30)[:40]


def test_short_text_untouched() -> None:
    assert fit_length("A fox.", 150) == "A fox."


# --- hostile model output ------------------------------------------------------------------------

HOSTILE = [
    'He said "hi" <script>alert(1)</script>',
    "first line\nsecond line\r\nthird\u2028fourth",
    "close the label ] and [open another](javascript:alert(1))",
    'back\\slash \\" and \\n literal',
    '{"alt": "ACME logo\\"><img src=x onerror=alert(1)>", "decorative": false}',
    "\u202eevil bidi override\u202c and \x00 NUL \x1b[31m escape",
    '"]) <!-- --> ![x](y) `code` **bold** | pipe',
]


@pytest.mark.parametrize("raw", HOSTILE)
@pytest.mark.parametrize("json_mode", [False, True])
def test_hostile_text_becomes_one_clean_line(raw: str, json_mode: bool) -> None:
    result = clean_alt(raw, max_length=60, json_mode=json_mode)
    assert result.alt is not None
    text = result.alt
    assert len(text) <= 60
    assert text == " ".join(text.split())  # one line, no runs of whitespace
    assert all(ch.isprintable() for ch in text)
    assert "\u202e" not in text and "<script>" not in text
    assert Decision.text(text).alt == text  # the rewriter's normalisation changes nothing


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.integers(min_value=1, max_value=200), st.booleans())
def test_any_text_gives_one_line_within_limit_or_a_reason(raw: str, max_length: int, json_mode: bool) -> None:
    result = clean_alt(raw, max_length=max_length, json_mode=json_mode)
    if result.alt is None:
        assert result.decorative or (result.reason and "\n" not in result.reason)
    else:
        assert 0 < len(result.alt) <= max_length
        assert "\n" not in result.alt and "\r" not in result.alt
        assert result.alt == result.alt.strip()
        Decision.text(result.alt)  # never refused


# --- degenerate answers --------------------------------------------------------------------------

DEGENERATE = [
    pytest.param("V" * 112, id="one-character"),
    pytest.param("猫" * 20, id="one-cjk-character"),
    pytest.param("V V V V V V V V", id="one-character-spaced"),
    pytest.param("dL00060Cz'0+,0{rCZ0^vrh!F]", id="noise"),
    pytest.param("dL00060Cz 0+,0 rCZ0^vrh!F] 7Bq #!", id="noise-with-spaces"),
    pytest.param("==> ** <== !! ??", id="symbols"),
    pytest.param("a cat on a mat " * 6, id="phrase-loop"),
    pytest.param("A cat on a mat, a cat on a mat, a cat on a mat, a cat on", id="phrase-loop-cut-off"),
    pytest.param("harbour " * 10, id="word-loop"),
    pytest.param("The the the the the the", id="word-loop-case"),
    pytest.param("abcabcabcabcabcabc", id="characters-loop"),
]
NOT_DEGENERATE = [
    "A red fox asleep in the snow",
    "Step 1, step 2, step 3: install the package",
    "He said ha ha ha and left the room quietly",
    "2024 Q3 revenue: $1,234,567 (+12%)",
    "12:30 on 2024-05-01",
    "x = 1",
    "A 3D model of the H2O molecule",
    "Temperature 21°C in Zürich",
    "一只猫在垫子上睡觉",
    "Left: a red car. Right: a red car.",
    "IMG_2041.jpg",
]


@pytest.mark.parametrize("text", DEGENERATE)
@pytest.mark.parametrize("json_mode", [False, True])
def test_degenerate_answers_are_rejected(text: str, json_mode: bool) -> None:
    raw = json.dumps({"alt": text, "decorative": True}) if json_mode else text
    result = clean_alt(raw, max_length=150, json_mode=json_mode)
    assert result.alt is None and result.degenerate and not result.decorative
    assert result.reason is not None and result.reason.startswith("degenerate answer (") and "\n" not in result.reason
    assert degenerate_reason(text) is not None


@pytest.mark.parametrize("text", NOT_DEGENERATE)
def test_ordinary_answers_are_not_degenerate(text: str) -> None:
    assert degenerate_reason(text) is None
    assert not clean_alt(text, max_length=150, json_mode=False).degenerate
