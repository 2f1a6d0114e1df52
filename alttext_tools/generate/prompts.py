"""What we ask a vision-language model for one image: instructions (the W3C alt decision tree),
sanitised page context, answer format. Bump PROMPT_VERSION whenever the text or the schema
changes: it is part of every cache key. Design notes: docs/generation.md."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from alttext_tools.core import ImageRef, is_functional
from alttext_tools.text import language_tag

PROMPT_VERSION = "w3c-tree-2"

# Caps on each context field, in characters (the paragraph matters most, titles least).
CONTEXT_LIMITS: dict[str, int] = {
    "page_title": 120,
    "heading": 120,
    "paragraph": 600,
    "caption": 240,
    "link_text": 160,
    "link_href": 200,
    "hint": 300,
}

# English names for the languages the scanners detect, and a few more. The model gets
# "Spanish (es)": a name it knows plus the exact tag.
LANGUAGE_NAMES: dict[str, str] = {
    "af": "Afrikaans",
    "ar": "Arabic",
    "bg": "Bulgarian",
    "bn": "Bengali",
    "ca": "Catalan",
    "cs": "Czech",
    "cy": "Welsh",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "eo": "Esperanto",
    "es": "Spanish",
    "et": "Estonian",
    "eu": "Basque",
    "fa": "Persian",
    "fi": "Finnish",
    "fil": "Filipino",
    "fr": "French",
    "ga": "Irish",
    "gl": "Galician",
    "gu": "Gujarati",
    "he": "Hebrew",
    "hi": "Hindi",
    "hr": "Croatian",
    "hu": "Hungarian",
    "hy": "Armenian",
    "id": "Indonesian",
    "is": "Icelandic",
    "it": "Italian",
    "ja": "Japanese",
    "ka": "Georgian",
    "kk": "Kazakh",
    "km": "Khmer",
    "kn": "Kannada",
    "ko": "Korean",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "mk": "Macedonian",
    "ml": "Malayalam",
    "mn": "Mongolian",
    "mr": "Marathi",
    "ms": "Malay",
    "my": "Burmese",
    "nb": "Norwegian Bokmål",
    "ne": "Nepali",
    "nl": "Dutch",
    "nn": "Norwegian Nynorsk",
    "no": "Norwegian",
    "pa": "Punjabi",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sq": "Albanian",
    "sr": "Serbian",
    "sv": "Swedish",
    "sw": "Swahili",
    "ta": "Tamil",
    "te": "Telugu",
    "th": "Thai",
    "tl": "Tagalog",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "uz": "Uzbek",
    "vi": "Vietnamese",
    "zh": "Chinese",
}
_REGION_NAMES: dict[str, str] = {
    "pt-BR": "Brazilian Portuguese",
    "pt-PT": "European Portuguese",
    "zh-CN": "Simplified Chinese",
    "zh-Hans": "Simplified Chinese",
    "zh-TW": "Traditional Chinese",
    "zh-Hant": "Traditional Chinese",
    "zh-HK": "Traditional Chinese",
    "en-GB": "British English",
    "en-US": "American English",
    "es-MX": "Mexican Spanish",
    "fr-CA": "Canadian French",
}

# --- sanitising context --------------------------------------------------------------------------

# Anything shaped like a special token or chat/media marker, in the spellings llama-cpp-python
# 0.3.36's handlers and common GGUF vocabularies use:
#   <|...|>           ChatML/Qwen (<|im_start|>, <|vision_start|>, <|image_pad|>), Llama 3, Phi
#   <__media__>       mtmd's default marker (every mtmd-based handler)
#   <image>, </s>...  LLaVA/MiniCPM/Moondream markers, <s>/</s>, <start_of_image>, <end_of_turn>
#                     (Gemma), <fake_token_around_image>, <global-img>, <row_1_col_1>...
#   [IMG], [INST]...  Pixtral/Mistral markers
# Generic HTML-ish tags go too: context is plain text, so `<b>` carries nothing worth keeping.
_SPECIAL_PATTERNS = (
    re.compile(r"<\|[^<>|\n]{0,64}\|>"),  # <|im_start|>, <|image_pad|>, <|endoftext|>, <|eot_id|>
    re.compile(r"<\|?/?[A-Za-z_][\w:.\-|]{0,64}\|?>"),  # <__media__>, <image>, </s>, <start_of_image>
    re.compile(
        r"\[/?(?:IMG(?:_BREAK|_END)?|INST|SYS|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS)\]", re.IGNORECASE
    ),
    re.compile(r"<<\s*/?SYS\s*>>", re.IGNORECASE),  # Llama 2
    re.compile(r"\bdata:[^\s,]*,\S*", re.IGNORECASE),  # a data: URI could equal the image URI the handler replaces
)
_INVISIBLE = dict.fromkeys(
    [
        *range(0x00, 0x20),
        0x7F,
        *range(0x80, 0xA0),
        0x200B,
        0x2028,
        0x2029,
        0xFEFF,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ],
    " ",
)


def sanitize_context(text: str | None, limit: int) -> str | None:
    """One line, no markers or special tokens, at most `limit` characters; None when empty."""
    if not text:
        return None
    flat = text.translate(_INVISIBLE)
    for _ in range(8):  # removing one marker can join the halves of another: repeat until stable
        before = flat
        for pattern in _SPECIAL_PATTERNS:
            flat = pattern.sub(" ", flat)
        if flat == before:
            break
    flat = " ".join(flat.split())
    if not flat:
        return None
    if len(flat) > limit:
        cut = flat[: limit - 1]
        space = cut.rfind(" ")
        if space >= limit // 2:
            cut = cut[:space]
        flat = cut.rstrip(" ,;:-") + "…"
    return flat


def language_name(lang: str | None) -> str | None:
    """'es' -> 'Spanish (es)', 'pt-BR' -> 'Brazilian Portuguese (pt-BR)'; unknown tags as they are."""
    if not lang:
        return None
    tag = sanitize_context(lang, 35)
    if not tag:
        return None
    canonical = language_tag(tag)
    name = canonical and (_REGION_NAMES.get(canonical) or LANGUAGE_NAMES.get(canonical.split("-", 1)[0]))
    return f"{name} ({tag})" if name else f"the language with the tag {tag!r}"


# --- prompt --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    system: str  # empty for handlers that ignore the system message (everything is in `user`)
    user: str
    json_schema: dict[str, Any] | None


def answer_schema(max_length: int) -> dict[str, Any]:
    """The JSON object the model must produce (grammar-constrained where llama.cpp can)."""
    return {
        "type": "object",
        "properties": {
            "alt": {"type": "string", "maxLength": max_length},
            "decorative": {"type": "boolean"},
        },
        "required": ["alt", "decorative"],
    }


def _instructions(max_length: int) -> str:
    # Every token here is evaluated again for each image where the image comes first (Moondream):
    # the W3C decision tree in as few words as keep its four branches and its don'ts.
    return (
        "Write alt text: the words that replace an image for people who cannot see it. W3C decision tree:\n"
        "1. In a link or button: where the link goes or what the button does.\n"
        "2. Shows text (screenshot, code, sign, logo, slide, chart): that text; for a chart or diagram, its message.\n"
        "3. Other informative image: what it adds to the page, most important first.\n"
        "4. Pure decoration (spacer, border, ornament): decorative.\n"
        'Never begin with "image of" or "photo of"; do not repeat the caption or nearby text. '
        f"One short phrase, plain text, at most {max_length} characters."
    )


# Tokens an answer needs beyond its alt text: the JSON object around it (the grammar lets the model
# put spaces between its parts: `{ "alt" : "...`), and some slack.
JSON_ANSWER_TOKENS = 20
PLAIN_ANSWER_TOKENS = 4
# Languages written in the Latin script, where BPE vocabularies spend 3 to 4 characters per token
# (2, to be safe: accented letters cost a token of their own in byte-level vocabularies).
# Any other script can cost a token per character (or more, in a byte-level vocabulary).
# fmt: off
_LATIN_SCRIPT = frozenset({
    "af", "ca", "cs", "cy", "da", "de", "en", "eo", "es", "et", "eu", "fi", "fil",
    "fr", "ga", "gl", "hr", "hu", "id", "is", "it", "lt", "lv", "ms", "nb", "nl",
    "nn", "no", "pl", "pt", "ro", "sk", "sl", "sq", "sv", "sw", "tl", "tr", "uz",
})
# fmt: on
LATIN_CHARS_PER_TOKEN = 2.0


def answer_token_budget(max_length: int, lang: str | None, *, json_output: bool = True) -> int:
    """The most answer tokens worth generating for an alt of at most `max_length` characters in
    `lang` (None: English): longer answers are cut or rejected anyway."""
    base = (lang or "en").split("-", 1)[0].lower()
    per_token = LATIN_CHARS_PER_TOKEN if base in _LATIN_SCRIPT else 1.0
    return math.ceil(max_length / per_token) + (JSON_ANSWER_TOKENS if json_output else PLAIN_ANSWER_TOKENS)


def build_prompt(
    image: ImageRef,
    role: str,
    lang: str | None,
    handler: str,
    max_length: int,
    *,
    text_heavy: bool = False,
    json_output: bool = True,
    hint: str | None = None,
) -> Prompt:
    """The request for one image.

    `role` comes from `image_role` (the first occurrence's role when images are deduplicated);
    `lang` is the language to write in (None: the model's default, English); `handler` decides
    where the instructions go (MoondreamChatHandler drops the system message); `text_heavy` is
    the router's verdict, a hint that the image carries text to transcribe; `json_output` asks
    for the JSON object (the schema is returned for the engine's grammar) or for plain text.
    `hint`: why an earlier answer for this image was rejected (a rule's message), when asking again.
    """
    ctx = image.context
    lines: list[str] = []

    def add(label: str, field: str, value: str | None) -> str | None:
        clean = sanitize_context(value, CONTEXT_LIMITS[field])
        if clean:
            lines.append(f"{label}: {clean}")
        return clean

    add("Page title", "page_title", ctx.page_title)
    add("Section heading", "heading", ctx.heading)
    add("Text around the image", "paragraph", ctx.paragraph)
    add("Figure caption (already visible: do not repeat it)", "caption", ctx.caption)

    if is_functional(role):
        href = sanitize_context(ctx.link_href, CONTEXT_LIMITS["link_href"])
        link_text = sanitize_context(ctx.link_text, CONTEXT_LIMITS["link_text"])
        if ctx.in_button and not ctx.in_link:
            what = "The image is inside a button"
            goal = "The alt text names the action the button performs."
        else:
            what = f"The image is a link to {href}" if href else "The image is inside a link"
            goal = "The alt text says where the link goes (the destination page or action), not what the picture shows."
        if link_text:
            what += f", which also has the text: {link_text}"
            goal += " Do not repeat that text; say what the image adds to it."
        lines.append(f"{what}. {goal} It is never decorative.")
    elif text_heavy:
        lines.append("The image seems to contain text: transcribe the text that matters.")

    reason = sanitize_context(hint, CONTEXT_LIMITS["hint"])
    if reason:
        lines.append(f"An earlier answer was rejected: {reason}. Write a different alt text that avoids this.")

    language = language_name(lang)
    if language:
        lines.append(f"Write the alt text in {language}.")

    if json_output:
        lines.append('Answer with a JSON object only: {"alt": "<the alt text>", "decorative": <true or false>}.')
        schema: dict[str, Any] | None = answer_schema(max_length)
    else:
        lines.append('Answer with the alt text only, or with the single word "decorative".')
        schema = None

    request = "\n".join(lines)
    instructions = _instructions(max_length)
    if handler == "moondream":  # MoondreamChatHandler ignores the system message
        return Prompt(system="", user=f"{instructions}\n\n{request}", json_schema=schema)
    return Prompt(system=instructions, user=request, json_schema=schema)
