"""Tokenize one HTML start tag as written, keeping the source span of every attribute.

html.parser tells us *where* a tag starts; this follows the HTML tokenizer's attribute states
(https://html.spec.whatwg.org/#before-attribute-name-state) from there to the closing `>`, so the
rewriter can splice an alt value without re-serialising the tag.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from alttext_tools.core import Attr, Span

_SPACE = "\t\n\f\r "


@dataclass(frozen=True)
class StartTag:
    name: str  # lower-cased
    span: Span  # from "<" to just after ">" (or end of text when unterminated)
    name_span: Span
    attrs: tuple[Attr, ...]
    self_closing: bool  # written with "/>"
    terminated: bool  # False when the text ended before ">"

    def attr(self, name: str) -> Attr | None:
        """The first attribute called `name`: browsers ignore later duplicates."""
        for attr in self.attrs:
            if attr.name == name:
                return attr
        return None


def parse_start_tag(text: str, start: int) -> StartTag:
    """Parse the start tag whose "<" is at `start`."""
    if text[start : start + 1] != "<":
        raise ValueError(f"no start tag at offset {start}")
    n = len(text)
    i = start + 1
    name_start = i
    while i < n and text[i] not in _SPACE and text[i] not in "/>":
        i += 1
    name_span = Span(name_start, i)
    attrs: list[Attr] = []
    self_closing = False
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            i += 1
            continue
        if ch == ">":
            return StartTag(
                text[name_start : name_span.end].lower(),
                Span(start, i + 1),
                name_span,
                tuple(attrs),
                self_closing,
                True,
            )
        if ch == "/":
            # "/" directly followed by ">" is a self-closing flag; elsewhere it is just skipped.
            self_closing = text[i + 1 : i + 2] == ">"
            i += 1
            continue
        self_closing = False
        attr, i = _attribute(text, i)
        attrs.append(attr)
    return StartTag(
        text[name_start : name_span.end].lower(), Span(start, n), name_span, tuple(attrs), self_closing, False
    )


def _attribute(text: str, i: int) -> tuple[Attr, int]:
    n = len(text)
    name_start = i
    i += 1  # the first character is part of the name even if it is "=" (spec quirk)
    while i < n and text[i] not in _SPACE and text[i] not in "/>=":
        i += 1
    name_span = Span(name_start, i)
    name = text[name_start:i].lower()
    j = i
    while j < n and text[j] in _SPACE:
        j += 1
    if j >= n or text[j] != "=":
        return Attr(name, None, name_span, None, ""), i
    j += 1
    while j < n and text[j] in _SPACE:
        j += 1
    if j < n and text[j] in "\"'":
        quote = text[j]
        end = text.find(quote, j + 1)
        if end == -1:
            end = n
        value_span = Span(j + 1, end)
        return Attr(name, html.unescape(text[j + 1 : end]), name_span, value_span, quote), min(end + 1, n)
    k = j
    while k < n and text[k] not in _SPACE and text[k] != ">":
        k += 1
    return Attr(name, html.unescape(text[j:k]), name_span, Span(j, k), ""), k
