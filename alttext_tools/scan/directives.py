"""The text of one reST directive: its name, arguments and `:option:` fields, each with exact offsets.

docutils says *that* a directive sits on a line; this module reads the lines around it, the way
docutils splits a directive block (first line, arguments, an option field list up to the first
blank line, then content), so that a scanner can give the `:alt:` value's span and the rewriter
can replace that value or insert a new `:alt:` line in the style of the other options. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alttext_tools.core import Span

# docutils' explicit markup start for a directive (states.Body.patterns), after indentation and,
# on a list item's first line, the list markers in front of it.
_LIST_MARKERS = r"(?:(?:[-+*\u2022\u2023\u2043]|\(?(?:\d+|[A-Za-z#]|[ivxlcdmIVXLCDM]+)[.)])[ ]+)*"
_DIRECTIVE = re.compile(
    r"(?P<prefix>[ ]*" + _LIST_MARKERS + r")"
    r"\.\.[ ]+(?:\|(?P<sub>(?![ ])(?:[^|\\]|\\.)+?(?<![ ]))\|[ ]+)?"
    r"(?P<name>(?:(?!_)\w)+(?:[-._+:](?:(?!_)\w)+)*)[ ]?::(?:[ ]+|$)"
)
# docutils' field marker (states.Body.patterns["field_marker"]).
_FIELD = re.compile(r":(?![: ])(?P<name>(?:[^:\\]|\\.|:(?!(?:[ `]|$)))*)(?<! ):(?: +|$)")


@dataclass(frozen=True)
class OptionField:
    """One `:name: value` field of a directive's option list."""

    name: str  # lower-cased, as docutils matches option names
    marker: Span  # `:name:`, both colons included
    value: Span  # the raw value, first to last non-blank character; empty, right after the marker, when empty
    text: str  # the value as docutils reads it: its lines, dedented, joined with "\n"


@dataclass(frozen=True)
class DirectiveBlock:
    """A directive as written, from its `..` to the end of its indented block."""

    start: int  # offset of ".."
    column: int  # 0-based column of ".."
    name: str  # lower-cased directive name
    substitution: str | None  # `.. |name| image::`: the substitution text
    options: tuple[OptionField, ...]
    header_end: int  # end of the last argument or option line, before its line break
    after_header: int  # start of the line after the header (== header_end at the end of the text)
    content: Span | None  # the indented lines after the header's blank line, if any
    end: int  # end of the block's last non-blank line
    indent: str  # what starts an option line: the other options' indentation, else the body's
    newline: str  # the line break this directive's lines use
    exact: bool  # False when tabs make docutils' columns differ from the text's: read, never edit

    def option(self, name: str) -> OptionField | None:
        """The field docutils uses for `name` (the last one, as a dict built in order keeps)."""
        found = None
        for field in self.options:
            if field.name == name:
                found = field
        return found


@dataclass(frozen=True)
class _Line:
    start: int
    end: int  # before the line break
    next: int  # start of the next line (== end at the end of the text)

    def width(self, text: str) -> int | None:
        """Indentation in columns, None for a blank line."""
        raw = text[self.start : self.end]
        stripped = raw.lstrip(" \t")
        if not stripped.strip():
            return None
        return len(raw[: len(raw) - len(stripped)].expandtabs(8))


def _lines_from(text: str, start: int) -> list[_Line]:
    lines = []
    at = start
    n = len(text)
    while at < n:
        newline = text.find("\n", at)
        if newline < 0:
            lines.append(_Line(at, n, n))
            break
        end = newline - 1 if newline > at and text[newline - 1] == "\r" else newline
        lines.append(_Line(at, end, newline + 1))
        at = newline + 1
    return lines


def read_directive(text: str, line_start: int, names: frozenset[str] | None = None) -> DirectiveBlock | None:
    """The directive that starts on the line at `line_start` (None if there is none, or its name is
    not in `names`). Only the lines this directive owns are read: a scan stays linear."""
    first_end = text.find("\n", line_start)
    first_end = len(text) if first_end < 0 else first_end
    match = _DIRECTIVE.match(text, line_start, first_end - (1 if text[first_end - 1 : first_end] == "\r" else 0))
    if match is None:
        return None
    name = match.group("name").lower()
    if names is not None and name not in names:
        return None
    dots = match.start() + len(match.group("prefix"))
    column = dots - line_start
    lines: list[_Line] = []
    block_width = None  # the smallest indentation of the block's lines after the first
    for k, line in enumerate(_lines_from(text, line_start)):
        width = line.width(text)
        if k and width is not None:
            if width <= column:
                break
            block_width = width if block_width is None else min(block_width, width)
        lines.append(line)
    while len(lines) > 1 and lines[-1].width(text) is None:
        lines.pop()
    first = lines[0]
    header = [first]
    for line in lines[1:]:
        if line.width(text) is None:
            break
        header.append(line)
    exact = "\t" not in text[line_start : lines[-1].end]
    options = _options(text, header, block_width) if block_width is not None else ()
    last = header[-1]
    content = None
    if len(lines) > len(header):
        content = Span(lines[len(header)].start, lines[-1].end)
    if options:
        marker_line_start = text.rfind("\n", 0, options[0].marker.start) + 1
        indent = text[marker_line_start : options[0].marker.start]
    elif block_width is not None:
        indent = " " * block_width
    else:
        indent = " " * (column + 3)
    newline = "\r\n" if text[first.end : first.end + 2] == "\r\n" else ("\n" if first.next > first.end else "")
    if not newline:
        newline = "\r\n" if "\r\n" in text else "\n"
    return DirectiveBlock(
        start=dots,
        column=column,
        name=name,
        substitution=match.group("sub"),
        options=options,
        header_end=last.end,
        after_header=last.next,
        content=content,
        end=lines[-1].end,
        indent=indent,
        newline=newline,
        exact=exact,
    )


def _options(text: str, header: list[_Line], width: int) -> tuple[OptionField, ...]:
    """The option fields of a directive header (its lines up to the first blank line)."""
    begin = None
    for k, line in enumerate(header[1:], 1):
        if line.width(text) == width and _FIELD.match(text, _text_start(text, line), line.end):
            begin = k
            break
    if begin is None:
        return ()
    fields: list[OptionField] = []
    k = begin
    while k < len(header):
        line = header[k]
        at = _text_start(text, line)
        match = _FIELD.match(text, at, line.end) if line.width(text) == width else None
        if match is None:
            break  # not an option list any more: docutils reports it; nothing more to read here
        body = [line]
        k += 1
        while k < len(header) and (header[k].width(text) or 0) > width:
            body.append(header[k])
            k += 1
        fields.append(_field(text, match, body))
    return tuple(fields)


def _text_start(text: str, line: _Line) -> int:
    at = line.start
    while at < line.end and text[at] in " \t":
        at += 1
    return at


def _field(text: str, match: re.Match[str], body: list[_Line]) -> OptionField:
    marker_end = match.start() + len(match.group(0).rstrip(" "))
    first = text[match.end() : body[0].end].rstrip()
    rest = [text[line.start : line.end].rstrip() for line in body[1:]]
    widths = [w for w in (line.width(text) for line in body[1:]) if w is not None]
    cut = min(widths) if widths else 0
    parts = [first] + [r[cut:] for r in rest]
    while parts and not parts[-1]:
        parts.pop()
    while parts and not parts[0]:
        parts.pop(0)
    value_start = value_end = None
    for line, lo in [(body[0], match.end())] + [(line, line.start) for line in body[1:]]:
        raw = text[lo : line.end]
        if raw.strip():
            if value_start is None:
                value_start = lo + len(raw) - len(raw.lstrip())
            value_end = lo + len(raw.rstrip())
    if value_start is None or value_end is None:
        value = Span(marker_end, marker_end)
    else:
        value = Span(value_start, value_end)
    return OptionField(match.group("name").lower(), Span(match.start(), marker_end), value, "\n".join(parts))
