"""Find every image in a MyST Markdown document (Sphinx with myst-parser), with exact offsets.

myst-parser's own markdown-it setup says which fences are directives, and its own directive
parser says what a `{image}` or `{figure}` directive's `:alt:` is; `read_fence` reads the fence's
lines for the offsets. Ordinary Markdown images and HTML are the Markdown scanner's, on a copy of
the text without the fences; directive content that MyST parses as Markdown (admonitions, tabs,
cards...) is scanned again on its own, `{eval-rst}` as reStructuredText. docs/scanning.md.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from alttext_tools.core import AltKind, Attr, Context, ImageRef, Span, Syntax
from alttext_tools.extras import MissingExtraError
from alttext_tools.scan.markdown import scan_markdown
from alttext_tools.scan.positions import LineIndex, shorten
from alttext_tools.scan.rst import LITERAL_DIRECTIVES, scan_rst
from alttext_tools.text import language_from_path

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

IMAGE_DIRECTIVES = frozenset({"image", "figure"})
# Directives whose content MyST does not parse as Markdown (besides those of reST).
_LITERAL = LITERAL_DIRECTIVES | {"code", "math", "csv-table", "include", "literalinclude", "raw", "eval-rst"}
_HINT = re.compile(r"!\[|\{(?:image|figure|eval-rst|raw)\}|<(?:img|input|area|svg)\b|\brole\s*=", re.IGNORECASE)
_FENCE = re.compile(r"(?P<prefix>[ ]{0,3})(?P<markup>`{3,}|:{3,})[ \t]*\{(?P<name>[^}\s]+)\}(?P<args>[^\n\r]*)")
_RST_HINT = re.compile(r"\b(?:image|figure|raw)[ ]?::")
_IGNORE = re.compile(r"(?:<!--\s*alttext-ignore(?:\s|:|-->)|%\s*alttext-ignore(?:\s|:|$))")
_IGNORE_FILE = "alttext-ignore-file"
MAX_DEPTH = 8

_LOCK = threading.Lock()
_PARSER: MarkdownIt | None = None


def scan_myst(text: str, path: str) -> list[ImageRef]:
    """Every image in a MyST Markdown text, in source order. Pure: no I/O."""
    if not _HINT.search(text):
        return []
    return _scan(text, path, 0)


def _parser() -> MarkdownIt:
    """myst-parser's markdown-it, with colon fences (`:::{image}`) always on."""
    global _PARSER
    with _LOCK:
        if _PARSER is None:
            from markdown_it.renderer import RendererHTML

            try:
                from myst_parser.config.main import MdParserConfig
                from myst_parser.parsers.mdit import create_md_parser
            except ImportError:
                raise MissingExtraError(
                    "reading MyST Markdown needs myst-parser, which this install lacks: "
                    "pip install 'alttext-tools[sphinx]'"
                ) from None

            _PARSER = create_md_parser(MdParserConfig(enable_extensions={"colon_fence"}), RendererHTML)
        return _PARSER


# --------------------------------------------------------------------------- fences


@dataclass(frozen=True)
class OptionValue:
    """One option of a MyST directive, as written."""

    name: str
    key: Span  # the key (`alt`), without the colons
    value: Span | None  # the scalar as written (quotes included); empty, after the colon, when empty;
    # None for a scalar over several lines (read, never edited)
    text: str  # the value as MyST reads it


@dataclass(frozen=True)
class FenceBlock:
    """A directive fence's opening line and option block, read from the source lines."""

    start: int  # offset of the fence markup
    name: str
    argument: str
    style: str  # ":" (`:key: value` lines), "---" (a YAML block) or "" (no options)
    options: tuple[OptionValue, ...]
    header_end: int  # end of the last option line (or of the fence line), before its line break
    insert_at: int  # where a new option line goes (a line start), or -1 when it cannot go anywhere exactly
    insert_prefix: str  # what starts a new option line: `   :` / `   ` for "---"
    newline: str
    exact: bool  # the option lines are the source's own (no tabs, no container prefix)

    def option(self, name: str) -> OptionValue | None:
        found = None
        for option in self.options:
            if option.name == name:
                found = option
        return found


def read_fence(text: str, line_start: int) -> FenceBlock | None:
    """The directive fence that opens on the line at `line_start`, and its options."""
    first_end, first_next = _line_end(text, line_start)
    match = _FENCE.fullmatch(text, line_start, first_end)
    if match is None:
        return None
    prefix = match.group("prefix")
    newline = text[first_end:first_next] or ("\r\n" if "\r\n" in text else "\n")
    exact = "\t" not in text[line_start:first_end]
    body: list[tuple[int, int, int]] = []  # (start, end, next) of the option lines
    at = first_next
    style = ""
    closing = match.group("markup")[0] * len(match.group("markup"))
    if at < len(text):
        end, nxt = _line_end(text, at)
        line = text[at:end]
        stripped = _dedent(line, len(prefix))
        if stripped.startswith("---"):
            style = "---"
            body.append((at, end, nxt))
            at = nxt
            while at < len(text):
                end, nxt = _line_end(text, at)
                body.append((at, end, nxt))
                at = nxt
                if _dedent(text[body[-1][0] : end], len(prefix)).startswith("---"):
                    break
            else:
                return None  # an unterminated option block: MyST reads the rest as options
        elif stripped.lstrip().startswith(":") and not stripped.lstrip().startswith(closing[:3]):
            style = ":"
            while at < len(text):
                end, nxt = _line_end(text, at)
                stripped = _dedent(text[at:end], len(prefix)).lstrip()
                if not stripped.startswith(":") or stripped.startswith(":::"):
                    break
                body.append((at, end, nxt))
                at = nxt
    if any("\t" in text[s:e] for s, e, _ in body):
        exact = False
    options: tuple[OptionValue, ...] = ()
    if style:
        options = _read_options(text, body, style, len(prefix))
    header_end = body[-1][1] if body else first_end
    if style == "---":
        insert_at = body[-1][0]  # before the closing `---`
        first_yaml = body[1] if len(body) > 2 else None
        indent = " " * _indent(text[first_yaml[0] : first_yaml[1]]) if first_yaml else prefix
        insert_prefix = indent
    elif style == ":":
        insert_at = body[-1][2] if body[-1][2] > body[-1][1] else -1
        first_option = body[0]
        line = text[first_option[0] : first_option[1]]
        insert_prefix = line[: _indent(line)] + ":"
    else:
        insert_at = first_next if first_next > first_end else -1
        insert_prefix = prefix + ":"
    return FenceBlock(
        start=match.start("markup"),
        name=match.group("name").lower(),
        argument=match.group("args").strip(),
        style=style,
        options=options,
        header_end=header_end,
        insert_at=insert_at,
        insert_prefix=insert_prefix,
        newline=newline,
        exact=exact,
    )


def _line_end(text: str, at: int) -> tuple[int, int]:
    """(end before the line break, start of the next line) of the line starting at `at`."""
    newline = text.find("\n", at)
    if newline < 0:
        return len(text), len(text)
    end = newline - 1 if newline > at and text[newline - 1] == "\r" else newline
    return end, newline + 1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _dedent(line: str, width: int) -> str:
    """A fence content line without (up to) the fence's indentation, as markdown-it strips it."""
    cut = min(width, _indent(line))
    return line[cut:]


def _read_options(
    text: str, body: list[tuple[int, int, int]], style: str, fence_indent: int
) -> tuple[OptionValue, ...]:
    """The options as myst-parser's option tokenizer reads them, each value with its source span."""
    from myst_parser.parsers.options import TokenizeError, options_to_tokens

    rows: list[tuple[int, str]] = []  # (source offset of the row's first character, the row as tokenized)
    if style == ":":
        for start, end, _ in body:
            line = text[start:end]
            lead = _indent(line)
            rows.append((start + lead + 1, line[lead + 1 :]))
    else:
        inner = [(s, _dedent(text[s:e], fence_indent), e) for s, e, _ in body[1:-1]]
        widths = [_indent(t) for _, t, _ in inner if t.strip()]
        cut = min(widths) if widths else 0
        for _, line, end in inner:
            offset = end - len(line)  # where the dedented line starts in the source
            rows.append((offset + min(cut, _indent(line)), line[cut:]))
    block = "\n".join(row for _, row in rows)
    try:
        tokens, _ = options_to_tokens(block)
    except TokenizeError:
        return ()
    row_starts = [0]
    for _, row in rows[:-1]:
        row_starts.append(row_starts[-1] + len(row) + 1)

    def source(index: int) -> int:
        k = max(i for i, s in enumerate(row_starts) if s <= index)
        return rows[k][0] + index - row_starts[k]

    found = []
    for key, value in tokens:
        key_span = Span(source(key.start.index), source(key.end.index))
        if value is None:
            colon = block.find(":", key.end.index)
            after = source(colon + 1) if colon >= 0 else key_span.end
            found.append(OptionValue(key.value.lower(), key_span, Span(after, after), ""))
            continue
        value_span: Span | None = None
        if value.start.line == value.end.line:
            value_span = Span(
                source(value.start.index), source(value.start.index) + value.end.index - value.start.index
            )
            if text[value_span.start : value_span.end] != block[value.start.index : value.end.index]:
                value_span = None
        found.append(OptionValue(key.value.lower(), key_span, value_span, value.value))
    return tuple(found)


# --------------------------------------------------------------------------- the scan


def _scan(text: str, path: str, depth: int, around: Context | None = None) -> list[ImageRef]:
    tokens = _parser().parse(text)
    lines = LineIndex(text)
    lang = language_from_path(path)
    ignore_file = _IGNORE_FILE in text
    page_title = around.page_title if around else _page_title(tokens)
    fences: list[tuple[int, int]] = []  # (first line, end line) of every fence, 0-based
    found: list[ImageRef] = []
    heading = around.heading if around else None
    for tok in tokens:
        if tok.type == "inline" and tok.map and _is_heading(tokens, tok):
            heading = " ".join(tok.content.split()) or heading
            continue
        if tok.type not in ("fence", "colon_fence") or not tok.map:
            continue
        fences.append((tok.map[0], tok.map[1]))
        info = (tok.info or "").strip().split(maxsplit=1)
        name = info[0] if info else ""
        if not (name.startswith("{") and name.endswith("}")):
            continue
        name = name[1:-1].lower()
        context = Context(page_title=page_title, heading=heading, lang=lang)
        ignored = _ignored_before(text, lines, tok.map[0])
        content = _content_span(text, lines, tok)
        if name in IMAGE_DIRECTIVES:
            image = _directive_image(text, path, lines, tok, name, context, ignored)
            if image is not None:
                found.append(image)
        elif content is None or depth >= MAX_DEPTH or not _worth_reading(text, content):
            continue
        elif name == "eval-rst":
            found.extend(_nested(scan_rst(_masked(text, content), path), text, context, ignored))
        elif name == "raw" and "html" in (info[1].lower().split() if len(info) > 1 else []):
            from alttext_tools.scan.html import scan_html

            found.extend(
                replace(image, in_html_block=True)
                for image in _nested(scan_html(_masked(text, content), path), text, context, ignored)
            )
        elif name not in _LITERAL:
            found.extend(_nested(_scan(_masked(text, content), path, depth + 1, context), text, context, ignored))
    if fences:
        masked = _without_lines(text, lines, fences)
    else:
        masked = text
    for image in scan_markdown(masked, path) if "![" in masked or "<" in masked else []:
        context = image.context
        if around is not None:
            context = _merge(context, around)
        found.append(replace(image, source=shorten(text[image.span.start : image.span.end]), context=context))
    if ignore_file:
        found = [replace(image, ignored=True) for image in found]
    return sorted({image.span.start: image for image in found}.values(), key=lambda image: image.span.start)


def _worth_reading(text: str, content: Span) -> bool:
    """Could this directive content hold an image (Markdown, MyST or reST)?"""
    return bool(_HINT.search(text, content.start, content.end) or _RST_HINT.search(text, content.start, content.end))


def _is_heading(tokens: list[Token], tok: Token) -> bool:
    index = tokens.index(tok)
    return index > 0 and tokens[index - 1].type == "heading_open"


def _page_title(tokens: list[Token]) -> str | None:
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.tag == "h1" and i + 1 < len(tokens):
            text = " ".join(tokens[i + 1].content.split())
            if text:
                return text
    return None


def _content_span(text: str, lines: LineIndex, tok: Token) -> Span | None:
    """The source lines of a fence's content (between its opening and closing lines)."""
    assert tok.map is not None
    first, end = tok.map[0] + 1, tok.map[1]
    starts = lines.starts
    if end > first and end <= len(starts):
        # the closing fence, when present, is the last mapped line
        last = end - 1 if _closes(text, starts, end - 1, tok.markup) else end
        if last <= first:
            return None
        stop = starts[last] if last < len(starts) else len(text)
        return Span(starts[first], stop)
    return None


def _closes(text: str, starts: list[int], line: int, markup: str) -> bool:
    at = starts[line]
    end, _ = _line_end(text, at)
    stripped = text[at:end].strip()
    return bool(markup) and stripped.startswith(markup[0] * 3) and set(stripped) == {markup[0]}


def _directive_image(
    text: str, path: str, lines: LineIndex, tok: Token, name: str, context: Context, ignored: bool
) -> ImageRef | None:
    from docutils.parsers.rst.directives.images import Figure, Image
    from docutils.parsers.rst.states import MarkupError
    from myst_parser.parsers.directives import parse_directive_text

    assert tok.map is not None
    info = (tok.info or "").strip().split(maxsplit=1)
    try:
        parsed = parse_directive_text(
            Figure if name == "figure" else Image, info[1] if len(info) > 1 else "", tok.content
        )
    except MarkupError:
        return None  # MyST reports it (no image is made)
    if not parsed.arguments:
        return None
    alt_value: Any = parsed.options.get("alt")
    alt = alt_value if isinstance(alt_value, str) else None
    line_start = lines.starts[tok.map[0]]
    attrs: tuple[Attr, ...]
    block = read_fence(text, line_start)
    if block is not None and block.name == name:
        span = Span(block.start, block.header_end)
        option = block.option("alt")
        alt_span = None
        if option is not None and block.exact and option.value is not None and option.text == (alt or ""):
            alt_span = option.value
        attrs = tuple(Attr(o.name, o.text, o.key, o.value, "") for o in block.options if o.name != "alt")
    else:
        end, _ = _line_end(text, line_start)
        span = Span(line_start, end)
        alt_span, attrs = None, ()
    caption = None
    if name == "figure" and parsed.body:
        caption = " ".join(" ".join(parsed.body).split()) or None
    line, column = lines.line_col(span.start)
    name_text = " ".join(alt.split()) if alt else None
    target = parsed.options.get("target")
    return ImageRef(
        path=path,
        syntax=Syntax.MYST_FIGURE if name == "figure" else Syntax.MYST_IMAGE,
        span=span,
        line=line,
        column=column,
        source=shorten(text[span.start : span.end]),
        src="".join(parsed.arguments[0].split()),
        alt=alt,
        alt_kind=AltKind.MYST_OPTION,
        alt_span=alt_span,
        alt_quote="",
        attrs=attrs,
        name=name_text or None,
        name_from="alt" if name_text else None,
        decorative=alt == "",
        ignored=ignored,
        context=replace(
            context,
            caption=caption,
            in_link=isinstance(target, str),
            link_href=target if isinstance(target, str) else None,
            link_text="" if isinstance(target, str) else None,
        ),
    )


def fence_at(text: str, image: ImageRef) -> FenceBlock | None:
    """The directive fence an ImageRef from `scan_myst` starts at (None if the text no longer has one)."""
    line_start = text.rfind("\n", 0, image.span.start) + 1
    block = read_fence(text, line_start)
    return block if block is not None and block.start == image.span.start else None


def _ignored_before(text: str, lines: LineIndex, line: int) -> bool:
    """`<!-- alttext-ignore -->` or `% alttext-ignore` on the line before (blank lines skipped not)."""
    if line == 0:
        return False
    start = lines.starts[line - 1]
    end, _ = _line_end(text, start)
    return bool(_IGNORE.search(text[start:end].strip()))


def _nested(images: list[ImageRef], text: str, context: Context, ignored: bool) -> list[ImageRef]:
    return [
        replace(
            image,
            source=shorten(text[image.span.start : image.span.end]),
            ignored=image.ignored or ignored,
            context=_merge(image.context, context),
        )
        for image in images
    ]


def _merge(own: Context, around: Context) -> Context:
    names = ("page_title", "heading", "lang")
    changes = {n: getattr(around, n) for n in names if not getattr(own, n) and getattr(around, n)}
    return replace(own, **changes) if changes else own


_NOT_NEWLINES = re.compile(r"[^\r\n]+")


def _blank(text: str) -> str:
    return _NOT_NEWLINES.sub(lambda m: " " * (m.end() - m.start()), text)


def _masked(text: str, keep: Span) -> str:
    return _blank(text[: keep.start]) + text[keep.start : keep.end] + _blank(text[keep.end :])


def _without_lines(text: str, lines: LineIndex, ranges: list[tuple[int, int]]) -> str:
    """`text` with the given 0-based [first, end) line ranges blanked: same offsets."""
    starts = lines.starts
    out, at = [], 0
    for first, end in sorted(ranges):
        lo = starts[first] if first < len(starts) else len(text)
        hi = starts[end] if end < len(starts) else len(text)
        if lo < at:
            lo = at
        out.append(text[at:lo])
        out.append(_blank(text[lo:hi]))
        at = max(at, hi)
    out.append(text[at:])
    return "".join(out)
