"""Turn a model's raw answer into one clean line of alt text, or a reason why there is none.

Model output is untrusted data: this makes it plausible alt text, never safe to write (the
rewriter escapes it). How answers are parsed: docs/generation.md.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

__all__ = ["DEGENERATE", "CleanResult", "clean_alt", "degenerate_reason", "fit_length", "strip_filler"]


@dataclass(frozen=True)
class CleanResult:
    """alt: the text to write (None: nothing usable); decorative: the model judged the image
    decorative; reason: why alt is None when the answer was not a decorative verdict."""

    alt: str | None
    decorative: bool
    reason: str | None = None
    parsed: str = "text"  # "json", "json-partial" (cut-off object) or "text"
    degenerate: bool = False  # the answer is a loop or noise: another model may do better


# --- characters ----------------------------------------------------------------------------------

# Bidi embeddings/overrides/isolates (Trojan Source), zero-width space, BOM, line/paragraph seps.
_FORMAT_DROP = frozenset([0x200B, 0x2060, 0xFEFF, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def _flatten(text: str) -> str:
    """One line: whitespace runs (newlines included) become a space; control characters go."""
    out = []
    for ch in text:
        if ch.isspace():
            out.append(" ")
        elif ord(ch) in _FORMAT_DROP or unicodedata.category(ch) in ("Cc", "Cs", "Co"):
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())


# --- JSON ----------------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*```[A-Za-z]*\s*\n?(.*?)\n?\s*(?:```\s*)?$", re.DOTALL)
_ALT_KEY = re.compile(r'"alt(?:_text|text)?"\s*:\s*', re.IGNORECASE)
_DECORATIVE_KEY = re.compile(r'"decorative"\s*:\s*"?(true|false)', re.IGNORECASE)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _read_json_string(text: str, start: int) -> tuple[str, bool]:
    """The JSON string starting after the opening quote at `start`: (value, terminated).

    Tolerant: invalid escapes are kept literally and an unterminated string (output cut off at
    max_tokens) is returned as far as it goes.
    """
    out: list[str] = []
    i = start
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), True
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(nxt)
            i += 2
            continue
        if ch == "\\":  # a lone backslash at the very end
            break
        out.append(ch)
        i += 1
    return "".join(out), False


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return False


@dataclass(frozen=True)
class _Parsed:
    alt: str | None
    decorative: bool
    how: str  # "json" | "json-partial" | "text"
    truncated: bool = False  # the alt string was cut off mid-way
    non_string: bool = False  # an "alt" key whose value is not a string


def _from_object(obj: Any) -> _Parsed | None:
    if not isinstance(obj, dict):
        return None
    for key in ("alt", "alt_text", "alttext", "Alt", "ALT"):
        if key in obj:
            value = obj[key]
            decorative = _as_bool(obj.get("decorative", False))
            if isinstance(value, str):
                return _Parsed(value, decorative, "json")
            if value is None:
                return _Parsed("", decorative, "json")
            return _Parsed(None, decorative, "json", non_string=True)
    return None


def _parse_jsonish(text: str) -> _Parsed | None:
    """An alt from text that is (or contains, or starts) a JSON object; None if it has none."""
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced and text.lstrip().startswith("```") else text
    start = body.find("{")
    if start >= 0:
        end = body.rfind("}")
        if end > start:
            try:
                found = _from_object(json.loads(body[start : end + 1], strict=False))
            except ValueError:
                found = None
            if found is not None:
                return found
    key = _ALT_KEY.search(body)
    if key is None:
        return None
    rest = body[key.end() :]
    decorative_match = _DECORATIVE_KEY.search(body)
    decorative = bool(decorative_match and decorative_match.group(1).lower() == "true")
    if not rest.startswith('"'):
        return _Parsed(None, decorative, "json-partial", non_string=not rest.startswith("null"))
    value, terminated = _read_json_string(rest, 1)
    return _Parsed(value, decorative, "json-partial", truncated=not terminated)


# --- plain-text cleanup --------------------------------------------------------------------------

_HTML_TAG = re.compile(r"</?[A-Za-z!][^<>]*>")
_MD_IMAGE_OR_LINK = re.compile(r"!?\[([^\[\]]*)\]\([^()]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|~~|`+)")
_LEADING_MARKUP = re.compile(r"^(?:\s*(?:#{1,6}|>|[-*+•]|\d{1,2}[.)])\s+)+")
_LABEL = re.compile(
    r"^\s*(?:\*\*|__)?(?:suggested\s+|proposed\s+)?"
    r"(?:alt(?:ernative)?[\s_-]*(?:text|tag|attribute)?|description|caption|answer|output|result|"
    r"texto\s+alternativo|descripci[oó]n|texte\s+alternatif|alternativtext|beschreibung)"
    r"\s*(?:\*\*|__)?\s*[:：=]\s*(?:\*\*|__)?\s*",
    re.IGNORECASE,
)
# Trailing label lines a plain-text model may add ("Decorative: no").
_META_LINE = re.compile(r"^\s*(?:decorative|role|language|lang)\s*[:=]", re.IGNORECASE)

_QUOTE_PAIRS = {
    '"': '"',
    "'": "'",
    "“": "”",
    "‘": "’",
    "«": "»",
    "„": "“",
    "‚": "‘",
    "「": "」",
    "『": "』",
    "`": "`",
    "”": "”",
}
_ALL_QUOTES = "\"'“”‘’«»„‚「」『』`"

# "Image of"-style filler, English, Spanish, French, German. Applied at the start only.
_FILLER = re.compile(
    r"^(?:"
    # English
    r"(?:here\s+is\s+|this\s+is\s+|it\s+is\s+)?(?:an?\s+|the\s+)?(?:close-?up\s+)?"
    r"(?:image|picture|photo|photograph|pic|graphic|illustration)\s+"
    r"(?:of|showing|that\s+shows|which\s+shows|depicting|displaying|featuring|with)\s+"
    r"|(?:this|the)\s+(?:image|picture|photo|photograph|graphic|illustration)\s+"
    r"(?:shows|depicts|displays|features|contains|is\s+of)\s+"
    r"|in\s+(?:this|the)\s+(?:image|picture|photo|photograph)\s*,?\s+"
    # Spanish
    r"|(?:una?\s+)?(?:imagen|foto|fotograf[ií]a|ilustraci[oó]n)\s+"
    r"(?:del\s+|de\s+|que\s+muestra\s+|mostrando\s+|con\s+)"
    r"|(?:la|esta)\s+(?:imagen|foto|fotograf[ií]a)\s+muestra\s+"
    r"|en\s+(?:la|esta)\s+(?:imagen|foto)\s*,?\s+(?:se\s+ve\s+)?"
    # French
    r"|(?:une?\s+)?(?:image|photo|photographie|illustration)\s+"
    r"(?:d['’]|du\s+|des\s+|de\s+|montrant\s+|qui\s+montre\s+|repr[ée]sentant\s+)"
    r"|(?:l['’]|cette\s+)(?:image|photo|photographie)\s+(?:montre|repr[ée]sente)\s+"
    # German
    r"|(?:ein(?:e|en)?\s+)?(?:bild|foto|fotografie|abbildung|grafik|illustration)\s+"
    r"(?:von\s+(?:einem\s+|einer\s+|einen\s+)?|vom\s+|eines\s+|einer\s+|zeigt\s+|mit\s+)"
    r"|(?:das|dieses)\s+(?:bild|foto)\s+zeigt\s+"
    r"|auf\s+dem\s+(?:bild|foto)\s+(?:ist|sind)\s+(?:zu\s+sehen\s*:?\s*)?"
    r")",
    re.IGNORECASE,
)

_DECORATIVE_WORDS = frozenset(
    {
        "decorative",
        "decorative image",
        "decoration",
        "decorativa",
        "decorativo",
        "décoratif",
        "décorative",
        "dekorativ",
        '""',
        "''",
        "(decorative)",
        "[decorative]",
        "none (decorative)",
    }
)
# Echoes of the answer format rather than alt text. Words that only name the medium ("photo",
# "image") are left to the rules gate (check.rules' placeholder-alt), which asks the model again.
_PLACEHOLDERS = frozenset(
    {
        "alt",
        "alt text",
        "alttext",
        "the alt text",
        "<the alt text>",
        "string",
        "text",
        "description",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        "untitled",
        "no description",
        "true",
        "false",
        "...",
        "…",
        "alt-text",
    }
)
_SENTENCE_END = re.compile(r"[.!?…。！？](?=[\s\"'”’)\]]|$)")
_DANGLING = " \t,;:·-–—/\\([{<\"'“‘«„‚&+|*_#~`="


def strip_filler(text: str) -> str:
    """Drop "Image of"-style openings (and labels, which often precede them); recapitalise."""
    changed = False  # recapitalise only after filler ("image of a fox"), not after a label ("Alt: npm")
    for _ in range(3):
        unlabelled = _LABEL.sub("", text, count=1)
        padded = unlabelled + " "  # so a bare "Image of" matches too
        stripped = _FILLER.sub("", padded, count=1)
        stripped = unlabelled if stripped == padded else stripped.strip()
        if stripped == text:
            break
        changed = changed or stripped != unlabelled
        text = stripped
    text = text.strip()
    if changed and text[:1].islower():
        text = text[0].upper() + text[1:]
    return text


def _strip_quotes(text: str) -> str:
    for _ in range(4):
        text = text.strip()
        if len(text) >= 2 and text[0] in _QUOTE_PAIRS and text[-1] in (_QUOTE_PAIRS[text[0]], text[0]):
            inner = text[1:-1]
            # `"Stop" sign "Exit"`: both ends quoted but not one quotation; keep it.
            if text[0] not in inner and _QUOTE_PAIRS[text[0]] not in inner:
                text = inner
                continue
        # An unbalanced quote at one end only (a cut-off or sloppy answer).
        if (
            text
            and text[0] in _ALL_QUOTES
            and text.count(text[0]) == 1
            and _QUOTE_PAIRS.get(text[0], "") not in text[1:]
        ):
            text = text[1:]
            continue
        if (
            text
            and text[-1] in _ALL_QUOTES
            and text.count(text[-1]) == 1
            and not any(open_ in text[:-1] for open_, close in _QUOTE_PAIRS.items() if close == text[-1])
        ):
            text = text[:-1]
            continue
        break
    return text


def _clean_text(text: str) -> str:
    lines = [_LEADING_MARKUP.sub("", line) for line in text.splitlines() if line.strip() and not _META_LINE.match(line)]
    text = " ".join(line.strip() for line in lines)
    text = _flatten(text)
    text = _HTML_TAG.sub(" ", text)
    text = _MD_IMAGE_OR_LINK.sub(r"\1", text)
    text = _MD_EMPHASIS.sub("", text)
    text = _LEADING_MARKUP.sub("", text)
    text = " ".join(text.split())
    text = strip_filler(_strip_quotes(strip_filler(text)))
    text = _strip_quotes(text)
    return " ".join(text.split()).lstrip(" ,;:.-–—)]}>|")


def fit_length(text: str, max_length: int) -> str:
    """Cut `text` to at most `max_length` characters at a sentence end, else a word boundary
    (a hard cut only when there is no boundary in the last two thirds), no dangling punctuation."""
    text = text.strip()
    if len(text) <= max_length:
        return text
    window = text[:max_length]
    sentence_end = 0
    for match in _SENTENCE_END.finditer(window):
        sentence_end = match.end()
    if sentence_end >= max_length * 0.4:
        return window[:sentence_end].strip()
    if text[max_length].isspace():
        cut = window
    else:
        space = window.rfind(" ")
        cut = window[:space] if space >= max_length / 3 else window
    return cut.rstrip(_DANGLING) or cut.strip()


# --- degenerate answers ---------------------------------------------------------------------------

DEGENERATE = "degenerate answer"
_WORD = re.compile(r"\w+")
_LONGEST_CHAR_PERIOD = 16  # "abcabcabc..." loops without spaces, as in CJK text or noise
_NUMBER = re.compile(r"[$€£¥#+\-−]?\d+(?:[.,:/\-]\d+)*[%‰°]?")
_ENCLOSING = "()[]{}\"'“”‘’«».,;:!?"


def _longest_loop(items: list[str], max_period: int) -> tuple[list[str], int]:
    """The unit and the number of items covered by the longest stretch where a unit of
    1..max_period items repeats back to back at least three times ("a cat on a mat a cat on a mat
    a cat..."); ([], 0) when nothing does."""
    unit: list[str] = []
    covered = 0
    for period in range(1, min(max_period, len(items) // 3) + 1):
        run = 0
        for i in range(len(items) - period):
            run = run + 1 if items[i] == items[i + period] else 0
            if run >= 2 * period and run + period > covered:
                first = i + period - run - period + 1
                unit, covered = items[first : first + period], run + period
    return unit, covered


def degenerate_reason(text: str) -> str | None:
    """Why `text` (a cleaned answer) is a model's loop or noise rather than alt text, or None.

    Small models and broken weights fail this way: one character over and over ("VVVV..."), a
    word or phrase looping ("a cat on a mat a cat on a mat ..."), or characters that are mostly
    not letters (`dL00060Cz'0+,0{rCZ0^vrh!F]`). A repetition counts only when it covers half the
    answer, so "Step 1, step 2, step 3" or "ha ha ha" inside a longer sentence pass.
    """
    chars = [ch for ch in text.casefold() if not ch.isspace()]
    if len(chars) >= 2 and len(set(chars)) == 1:
        return f"one character repeated ({chars[0]!r} {len(chars)} times)"
    words = _WORD.findall(text.casefold())
    unit, covered = _longest_loop(words, len(words) // 3)
    if covered * 2 >= len(words) and covered >= 3:
        return f"{' '.join(unit)!r} repeated"
    unit, covered = _longest_loop(chars, _LONGEST_CHAR_PERIOD)
    if covered >= 12 and covered * 2 >= len(chars):
        return f"{''.join(unit)!r} repeated"
    # Letters, plus whole numbers ("$1,234", "+12%"): digits inside a word of noise do not count.
    wordy = 0
    for token in text.split():
        core = token.strip(_ENCLOSING)
        wordy += len(core) if _NUMBER.fullmatch(core) else sum(ch.isalpha() for ch in token)
    if chars and wordy * 2 < len(chars):
        return "mostly characters that are not letters"
    return None


def _show(raw: str) -> str:
    flat = _flatten(raw)
    return repr(flat if len(flat) <= 60 else flat[:57] + "...")


def clean_alt(raw: str, *, max_length: int, json_mode: bool) -> CleanResult:
    """One line of alt text from a model answer (see docs/generation.md), or alt None + reason."""
    if max_length < 1:
        raise ValueError(f"max_length must be positive, not {max_length}")
    if raw is None or not raw.strip():
        return CleanResult(None, False, "the model returned an empty answer")

    parsed: _Parsed | None = None
    if json_mode:
        try:
            parsed = _from_object(json.loads(raw, strict=False))
        except ValueError:
            parsed = None
    if parsed is None:
        parsed = _parse_jsonish(raw)
    if parsed is None:
        parsed = _Parsed(raw, False, "text")

    if parsed.non_string or parsed.alt is None:
        return CleanResult(
            None, parsed.decorative, f"the model's JSON has no alt text string: {_show(raw)}", parsed.how
        )

    value = parsed.alt
    if parsed.truncated:
        words = value.split()
        if len(words) > 1:  # the last word may be cut in half
            value = " ".join(words[:-1])
    text = _clean_text(value)

    if parsed.how == "text" and text.lower().strip(" .!") in _DECORATIVE_WORDS:
        return CleanResult(None, True, None, parsed.how)
    if not text:
        if parsed.decorative:
            return CleanResult(None, True, None, parsed.how)
        if not value.strip():
            return CleanResult(
                None, False, "the model gave an empty alt text without calling the image decorative", parsed.how
            )
        return CleanResult(
            None, parsed.decorative, f"no alt text left after cleaning the model's answer {_show(raw)}", parsed.how
        )

    why = degenerate_reason(text)
    if why is not None:  # never a decorative verdict either: the whole answer is noise
        return CleanResult(None, False, f"{DEGENERATE} ({why}): {_show(raw)}", parsed.how, degenerate=True)
    text = fit_length(text, max_length)
    if text.lower().strip(" .!:") in _PLACEHOLDERS:
        return CleanResult(
            None, parsed.decorative, f"the model answered with a placeholder ({_show(text)})", parsed.how
        )
    if sum(ch.isalpha() for ch in text) < 2:
        return CleanResult(None, parsed.decorative, f"no words in the model's answer {_show(raw)}", parsed.how)
    return CleanResult(text, parsed.decorative, None, parsed.how)
