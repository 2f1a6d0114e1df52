"""Python-Markdown's reading of a page (the `mkdocs` dialect), as markdown-it block rules.

MkDocs renders Markdown with Python-Markdown, whose block structure differs from CommonMark's in
the ways that decide where images are: list items and the bodies of admonitions (`!!!`), details
(`???`, `???+`), content tabs (`=== "Tab"`) and footnotes (`[^1]:`) are indented by four columns
and hold Markdown; raw HTML is an element that starts a line (three spaces at most) and runs to
its matching end tag, blank lines included; and inside it only elements with a `markdown`
attribute (md_in_html) hold Markdown. The rules here give markdown-it that structure while every
token still comes from the page's own lines, so offsets stay exact. Design notes:
docs/scanning.md ("Dialects").
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock

BlockRule = Callable[[StateBlock, int, int, bool], bool]

TAB = 4  # Python-Markdown's tab_length: the indentation of every nested body

# markdown.util.BLOCK_LEVEL_ELEMENTS: what starts a raw HTML block at the start of a line.
BLOCK_LEVEL = frozenset(
    {
        *("address", "article", "aside", "blockquote", "details", "div", "dl", "fieldset", "figcaption"),
        *("figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "main"),
        *("menu", "nav", "ol", "p", "pre", "section", "table", "ul", "canvas", "colgroup", "dd", "body", "dt"),
        *("group", "html", "iframe", "li", "legend", "math", "map", "noscript", "output", "object", "option"),
        *("progress", "script", "style", "summary", "tbody", "td", "textarea", "tfoot", "th", "thead", "tr"),
        *("video", "center"),
    }
)
# md_in_html: block-level tags whose content is only ever inline Markdown, and those never parsed.
SPAN_TAGS = frozenset(
    ("address", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "legend", "li", "p", "summary", "td", "th")
)
RAW_TAGS = frozenset({"canvas", "math", "option", "pre", "script", "style", "textarea"})
EMPTY_TAGS = frozenset({"hr"})

_ADMONITION = re.compile(r'!!! ?[\w\-]+(?: +[\w\-]+)*(?: +"(?:.*?)")? *$')
_DETAILS = re.compile(r'\?{3}\+? ?(?:(?:[\w\-]+(?: +[\w\-]+)*?)?(?: +"(?:.*?)")|[\w\-]+(?: +[\w\-]+)*?) *$')
_TABBED = re.compile(r'={3}(?:\+|\+!|!\+|!)? +"(?:.*?)" *$')
_REFERENCE = re.compile(r"\[[^\[\]]*\]:[ ]*\S")  # a link reference definition (on one line)
_FOOTNOTE = re.compile(r"\[\^[^\]]*\]:[ ]*")
_BLOCKS_FENCE = re.compile(r"/{3,}(?:[ ]*[\w-]+[ ]*(?:\|.*)?)?[ ]*$")  # pymdownx.blocks: `/// name | title`, `///`
# StateBlock attribute: where the first block of the list item being parsed ends.
_FIRST_BLOCK_END = "mkdocs_item_first_block_end"
_ITEM = re.compile(r"(?:\d+\.|[*+-])[ \t]+|(?:\d+\.|[*+-])$")
_HTML_START = re.compile(r"<(?:!--|(/?)([A-Za-z][A-Za-z0-9-]*)(?=[\s/>]|$))")


# --------------------------------------------------------------------------- the parser


def configure(
    md: MarkdownIt, *, admonition: bool, details: bool, tabbed: bool, footnotes: bool, blocks: bool, md_in_html: bool
) -> None:
    """Give a CommonMark markdown-it Python-Markdown's block structure (extensions as enabled)."""
    ruler = md.block.ruler
    openers = [
        (name, pattern)
        for name, pattern, enabled in (
            ("admonition", _ADMONITION, admonition),
            ("details", _DETAILS, details),
            ("tabbed", _TABBED, tabbed),
        )
        if enabled
    ]
    # A list interrupts a paragraph only as a nested list inside a list item (see _list_rule).
    ruler.at("list", _list_rule(tuple(pattern for _, pattern in openers)), {"alt": ["paragraph"]})
    ruler.at("html_block", _raw_html_rule(details and md_in_html), {"alt": ["paragraph", "reference", "blockquote"]})
    for name, pattern in openers:
        ruler.before("reference", name, _container(name, pattern), {"alt": ["paragraph", "reference"]})
    if footnotes:
        ruler.before("reference", "footnote", _footnote, {"alt": ["paragraph", "reference"]})
    if blocks:
        ruler.before("reference", "blocks_fence", _blocks_fence, {"alt": ["paragraph", "reference"]})


# --------------------------------------------------------------------------- line helpers


def _text(state: StateBlock, line: int) -> str:
    """The line from its first non-blank character."""
    return state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]]


def _tokenize(
    state: StateBlock, start: int, end: int, indent: int, lazy: Sequence[int] = (), list_indent: int = -1
) -> None:
    """Parse lines [start, end) as the blocks of a body indented by `indent` columns. `lazy` lines
    (continuation lines written with less indentation) are read as if they had it. `list_indent`
    is the indentation of the list whose item this is (-1: not a list item)."""
    old = (state.blkIndent, state.lineMax, state.parentType, state.listIndent)
    counts = [(line, state.sCount[line]) for line in lazy]
    for line in lazy:
        state.sCount[line] = indent
    state.blkIndent, state.lineMax, state.parentType, state.listIndent = indent, end, "mkdocs_body", list_indent
    state.md.block.tokenize(state, start, end)
    state.blkIndent, state.lineMax, state.parentType, state.listIndent = old
    for line, count in counts:
        state.sCount[line] = count


@contextmanager
def _first_line_at(state: StateBlock, line: int, content: int, indent: int) -> Iterator[None]:
    """Let `line` start at `content` (after a list marker or `[^label]:`) at the body's
    indentation while its body is parsed, as markdown-it's own list rule does."""
    saved = state.bMarks[line], state.tShift[line], state.sCount[line]
    state.bMarks[line], state.tShift[line], state.sCount[line] = content, 0, indent
    try:
        yield
    finally:
        state.bMarks[line], state.tShift[line], state.sCount[line] = saved


def _body_end(state: StateBlock, line: int, end: int, indent: int) -> tuple[int, list[int]]:
    """(end of an indented body starting at `line`, its lazy lines): blank lines and lines
    indented by `indent` columns or more, up to the last such non-blank line."""
    last, lazy = line, list[int]()
    while line < end:
        if not state.isEmpty(line):
            if state.sCount[line] < indent:
                skipped = _skip_references(state, line, end, indent)
                if skipped is None:
                    break
                line = skipped
                lazy.extend(n for n in range(last, line) if not state.isEmpty(n) and state.sCount[n] < indent)
                continue
            last = line + 1
        line += 1
    return last, lazy


def _skip_references(state: StateBlock, line: int, end: int, indent: int) -> int | None:
    """Python-Markdown takes reference definitions (and footnotes below the top of the page) out of
    it, so a block of them between a body and a block indented under it does not end the body.
    Where the body goes on after such a block (at `line`), else None."""
    footnote = False  # a footnote's first block: its lazy lines go with it
    start = line
    while line < end and not state.isEmpty(line):
        text = _text(state, line)
        if not footnote:
            if not 0 <= state.sCount[line] - (indent - TAB) <= 3 or not _REFERENCE.match(text):
                return None
            if _FOOTNOTE.match(text):
                if state.blkIndent == 0:
                    return None  # at the top of the page, the indented block is the footnote's own
                footnote = line == start
        line += 1
    line = state.skipEmptyLines(line)
    return line if line < end and state.sCount[line] >= indent else None


# --------------------------------------------------------------------------- containers


def _container(name: str, pattern: re.Pattern[str]) -> BlockRule:
    """Admonitions, details and tabs: an opener line, then a body indented by four columns."""

    def rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        if state.sCount[start] != state.blkIndent or not pattern.match(_text(state, start)):
            return False
        if silent:
            return True
        indent = state.blkIndent + TAB
        body_end, lazy = _body_end(state, start + 1, end, indent)
        token = state.push(f"{name}_open", "div", 1)
        token.map = [start, body_end]
        token.info = _text(state, start)
        _tokenize(state, start + 1, body_end, indent, lazy)
        state.push(f"{name}_close", "div", -1)
        state.line = max(body_end, start + 1)
        return True

    return rule


def _footnote(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """A footnote definition: `[^label]: text`, its lazy continuation lines, then indented blocks."""
    if state.sCount[start] - state.blkIndent > 3:
        return False
    begin = state.bMarks[start] + state.tShift[start]
    match = _FOOTNOTE.match(state.src, begin, state.eMarks[start])
    if not match:
        return False
    if silent:
        return True
    indent = state.blkIndent + TAB
    # Indented blocks after a blank line continue a footnote only at the top of the page: inside
    # an admonition, tab or list item Python-Markdown parses each later block on its own.
    top_level = state.blkIndent == 0
    line, last, lazy, in_block = start + 1, start + 1, list[int](), True
    while line < end:
        if state.isEmpty(line):
            in_block = False
        elif _FOOTNOTE.match(_text(state, line)) and state.sCount[line] - state.blkIndent <= 3:
            break
        elif in_block or (state.sCount[line] >= indent and top_level):
            if state.sCount[line] < indent:
                lazy.append(line)
            in_block, last = True, line + 1
        else:
            break
        line += 1
    token = state.push("footnote_open", "div", 1)
    token.map = [start, last]
    with _first_line_at(state, start, match.end(), indent):
        _tokenize(state, start, last, indent, lazy)
    state.push("footnote_close", "div", -1)
    state.line = last
    return True


def _blocks_fence(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """pymdownx.blocks' `/// name | title` and closing `///` lines, with the indented options
    that may follow a header. The content between them is Markdown at the same level."""
    if state.sCount[start] - state.blkIndent > 3 or not _BLOCKS_FENCE.match(_text(state, start)):
        return False
    if silent:
        return True
    line = start + 1
    while line < end and not state.isEmpty(line) and state.sCount[line] - state.blkIndent >= TAB:
        line += 1  # YAML options of the block
    token = state.push("blocks_fence", "", 0)
    token.map = [start, line]
    state.line = line
    return True


def _item_content(state: StateBlock, line: int) -> int | None:
    """Where a list item's text starts, if `line` opens an item (marker indented 0-3 columns)."""
    if not 0 <= state.sCount[line] - state.blkIndent <= 3:
        return None
    begin = state.bMarks[line] + state.tShift[line]
    match = _ITEM.match(state.src, begin, state.eMarks[line])
    return match.end() if match else None


def _list_rule(openers: tuple[re.Pattern[str], ...]) -> BlockRule:
    """A Python-Markdown list: items whose bodies are indented by four columns past the list's
    indentation (not by the marker's width), with lazy continuation lines in an item's first
    block. A line that opens one of `openers` at the list's indentation ends the item."""

    def opens_container(state: StateBlock, line: int) -> bool:
        return state.sCount[line] == state.blkIndent and any(p.match(_text(state, line)) for p in openers)

    def item_end(state: StateBlock, start: int, end: int, indent: int) -> tuple[int, int, list[int]]:
        """(end of the item opened at `start`, end of its first block, its lazy lines).

        In the item's first block (up to a blank line) every line is the item's until the next
        marker at the list's indentation. After a blank line, a block whose first line is
        indented four more columns continues the item, all its lines with it (markers too)."""
        line, last, lazy, in_block, first_end = start + 1, start + 1, list[int](), True, -1
        while line < end:
            if state.isEmpty(line):
                if first_end < 0:
                    first_end = line
                in_block = False
            elif opens_container(state, line):
                break
            elif not in_block:
                if state.sCount[line] < indent:
                    skipped = _skip_references(state, line, end, indent)
                    if skipped is None:
                        break
                    lazy.extend(n for n in range(line, skipped) if not state.isEmpty(n))
                    line = skipped
                    continue
                in_block, last = True, line + 1
            elif first_end < 0 and state.sCount[line] < indent and _item_content(state, line) is not None:
                break
            else:
                if state.sCount[line] < indent:
                    lazy.append(line)
                last = line + 1
            line += 1
        return last, (first_end if 0 <= first_end < last else last), lazy

    def rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        content = _item_content(state, start)
        if content is None:
            return False
        if silent:
            # Only a nested list in an item's first block ends a paragraph (Python-Markdown splits
            # those lines at markers one level deeper); any other paragraph goes on.
            return state.listIndent + TAB == state.blkIndent and start < getattr(state, _FIRST_BLOCK_END, -1)
        base = state.blkIndent
        indent = base + TAB
        ordered = state.src[state.bMarks[start] + state.tShift[start]].isdigit()
        kind, tag = ("ordered_list", "ol") if ordered else ("bullet_list", "ul")
        opening = state.push(f"{kind}_open", tag, 1)
        line = start
        outer_first_end = getattr(state, _FIRST_BLOCK_END, -1)
        while True:
            last, first_end, lazy = item_end(state, line, end, indent)
            setattr(state, _FIRST_BLOCK_END, first_end)
            token = state.push("list_item_open", "li", 1)
            token.map = [line, last]
            with _first_line_at(state, line, content, indent):
                _tokenize(state, line, last, indent, lazy, list_indent=base)
            state.push("list_item_close", "li", -1)
            line = state.skipEmptyLines(last)
            following = _item_content(state, line) if line < end else None
            if following is None:
                break
            content = following
        setattr(state, _FIRST_BLOCK_END, outer_first_end)
        opening.map = [start, last]
        state.push(f"{kind}_close", tag, -1)
        state.line = last
        return True

    return rule


# --------------------------------------------------------------------------- raw HTML


def _raw_html_rule(details_continue: bool) -> BlockRule:
    """Raw HTML as Python-Markdown's preprocessor finds it: a block-level start tag or a comment at
    the start of a line (three spaces at most, outside blockquotes), up to its matching end tag.

    With `details_continue`, a `<details markdown>` element becomes a real `<details>` that
    pymdownx.details continues, like its own `???` blocks, with the blocks indented under it."""

    def rule(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        begin = state.bMarks[start] + state.tShift[start]
        src = state.src
        if not src.startswith("<", begin):
            return False
        line_start = src.rfind("\n", 0, begin) + 1
        if begin - line_start > 3 or src[line_start:begin].strip(" "):
            return False
        match = _HTML_START.match(src, begin, state.eMarks[start])
        if not match:
            return False
        limit = state.eMarks[end - 1] if end > start else state.eMarks[start]
        tag = (match.group(2) or "").lower()
        if match.group(0) == "<!--":
            close = src.find("-->", begin + 4, limit)
            stop = close + 3 if close >= 0 else limit
        elif match.group(1) or tag not in BLOCK_LEVEL:
            return False  # a stray end tag or an inline element: text of a paragraph
        else:
            stop = raw_element_end(src, begin, limit)
        if silent:
            return True
        last = start
        while last + 1 < end and state.bMarks[last + 1] < stop:
            last += 1
        token = state.push("html_block", "", 0)
        token.map = [start, last + 1]
        token.content = state.getLines(start, last + 1, state.blkIndent, True)
        state.line = last + 1
        if details_continue and tag == "details" and markdown_attr(read_tags(src, begin, stop)[0]) != "0":
            indent = state.blkIndent + TAB
            body_end, lazy = _body_end(state, last + 1, end, indent)
            if body_end > last + 1:
                _tokenize(state, last + 1, body_end, indent, lazy)
                state.line = body_end
        return True

    return rule


@dataclass(frozen=True)
class Tag:
    """A start tag, end tag or comment in the source, as html.parser (Python-Markdown's own reader
    of raw HTML) tokenizes it."""

    start: int
    end: int
    name: str | None  # lower case; None for a comment
    closing: bool = False
    self_closing: bool = False
    attrs: tuple[tuple[str, str | None], ...] = ()

    def attr(self, name: str) -> str | None:
        """The value of attribute `name` (the first one), "" when it has none, None when absent."""
        for key, value in self.attrs:
            if key == name:
                return "" if value is None else value
        return None


class _TagReader(HTMLParser):
    """Records every tag and comment of the source from `start` on, with its offsets, as far as
    it is fed (`read_to`)."""

    def __init__(self, src: str, start: int) -> None:
        super().__init__(convert_charrefs=False)
        self.src, self.fed = src, start
        self.lines = [start]  # where each line fed so far starts
        self.tags: list[Tag] = []

    def read_to(self, end: int) -> None:
        """Feed the source up to `end` (a tag cut off there waits for the next call)."""
        chunk = self.src[self.fed : end]
        self.lines.extend(self.fed + m.end() for m in re.finditer("\n", chunk))
        self.fed = end
        self.feed(chunk)

    def _at(self) -> int:
        line, column = self.getpos()
        return self.lines[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        at = self._at()
        self.tags.append(Tag(at, at + len(self.get_starttag_text() or ""), tag, attrs=tuple(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        at = self._at()
        self.tags.append(Tag(at, at + len(self.get_starttag_text() or ""), tag, self_closing=True, attrs=tuple(attrs)))

    def handle_endtag(self, tag: str) -> None:
        at = self._at()
        close = self.src.find(">", at)
        self.tags.append(Tag(at, close + 1 if close >= 0 else len(self.src), tag, closing=True))

    def handle_comment(self, data: str) -> None:
        at = self._at()
        self.tags.append(Tag(at, at + len(data) + 7, None))  # <!-- data -->


def read_tags(src: str, start: int, end: int) -> list[Tag]:
    """Tags and comments in src[start:end], in order (script and style content is text)."""
    reader = _TagReader(src, start)
    reader.read_to(end)
    reader.close()
    return reader.tags


def raw_element_end(src: str, start: int, end: int) -> int:
    """End of the raw element whose start tag is at `start` (html.parser's stack, as Python-
    Markdown keeps it): just after the end tag that empties the stack, or `end` if none does.
    The source is read a line at a time and no further than that end tag."""
    stack: list[str] = []
    reader = _TagReader(src, start)
    seen, pos = 0, start
    while pos < end:
        newline = src.find("\n", pos, end)
        pos = end if newline < 0 else newline + 1
        reader.read_to(pos)
        if pos == end:
            reader.close()
        for tag in reader.tags[seen:]:
            if tag.name is None:
                continue  # a comment
            if tag.closing:
                if tag.name in stack:
                    while stack.pop() != tag.name:
                        pass
            elif not tag.self_closing and not (not stack and tag.name in EMPTY_TAGS):
                stack.append(tag.name)
            if not stack:
                return tag.end
        seen = len(reader.tags)
    return end


@dataclass(frozen=True)
class Region:
    """Part of a raw HTML block that md_in_html reads as Markdown."""

    start: int
    end: int
    span: bool  # inline Markdown only (`markdown="span"`, or a `<p>`-like element)


def markdown_regions(src: str, start: int, end: int) -> list[Region]:
    """The text of src[start:end] (one raw HTML block) that md_in_html parses as Markdown: the
    content of elements whose `markdown` attribute makes them `block` or `span`, minus nested
    elements that turn it `off` (a block-level child without the attribute, `markdown="0"`)."""
    regions: list[Region] = []
    states: list[tuple[str, str | None]] = []  # (tag, state) of the open block-level elements
    text_from = start
    for tag in read_tags(src, start, end):
        if tag.name is None:
            continue  # a comment stays in the text around it (markers live in comments)
        current = states[-1][1] if states else None
        if current in ("block", "span") and tag.start > text_from:
            regions.append(Region(text_from, tag.start, current == "span"))
        text_from = tag.end
        if tag.name not in BLOCK_LEVEL:
            continue  # an inline tag: a break in its parent's content, no change of state
        if tag.closing:
            if any(name == tag.name for name, _ in states):
                while states.pop()[0] != tag.name:
                    pass
        elif not tag.self_closing and tag.name not in EMPTY_TAGS:
            states.append((tag.name, _md_state(tag.name, markdown_attr(tag), current)))
    if states and states[-1][1] in ("block", "span") and end > text_from:  # an element left open
        regions.append(Region(text_from, end, states[-1][1] == "span"))
    return regions


def markdown_attr(tag: Tag) -> str:
    """The `markdown` attribute as md_in_html reads it: "0" when absent, "1" when bare."""
    value = tag.attr("markdown")
    if value is None:
        return "0"
    return "1" if value in ("", "markdown") else value


def _md_state(tag: str, attr: str, parent: str | None) -> str | None:
    """md_in_html's get_state: `block`, `span` or `off`."""
    if parent == "off" or (parent == "span" and attr != "0"):
        attr = parent
    block_tags = BLOCK_LEVEL - SPAN_TAGS - RAW_TAGS - EMPTY_TAGS
    if (attr == "1" and tag in block_tags) or (attr == "block" and tag in block_tags | SPAN_TAGS):
        return "block"
    if (attr == "1" and tag in SPAN_TAGS) or (attr == "span" and tag in block_tags | SPAN_TAGS):
        return "span"
    return "off"


# --------------------------------------------------------------------------- alt text

# markdown.Markdown.ESCAPED_CHARS: what a backslash escapes.
_ESCAPED = frozenset("\\`*_{}[]()>#+-.!")
_CODE = re.compile(r"(?<!\\)(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)


def image_alt(label: str) -> str:
    """The alt Python-Markdown writes for `![label](...)`, as a browser reads it: the label as
    written (emphasis, HTML and nested images kept as text), code spans reduced to their text,
    backslash escapes and character references resolved."""
    out: list[str] = []
    pos = 0
    for match in _CODE.finditer(label):
        out.append(html.unescape(_unescape(label[pos : match.start()])))
        out.append(match.group(2).strip())
        pos = match.end()
    out.append(html.unescape(_unescape(label[pos:])))
    return "".join(out)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return re.sub(r"\\(.)", lambda m: m.group(1) if m.group(1) in _ESCAPED else m.group(0), text)


# --------------------------------------------------------------------------- attr_list

# Inline markup that Python-Markdown turns into an element before attr_list reads the text after
# an image: inside `{...}` it splits that text, and the list is not applied (it stays as text).
_ELEMENT_MARKUP = [
    r"(?<!\\)(?P<ticks>`+).+?(?<!`)(?P=ticks)(?!`)",  # code span
    r"\*\*.+?\*\*|(?<!\w)__.+?__(?!\w)|\*[^*\s][^*]*\*|(?<!\w)_[^_\s][^_]*_(?!\w)",  # emphasis
    r"!?\[[^\]]*\]\(",  # link or image
    r"<(?:[Ff]|[Hh][Tt])[Tt][Pp][Ss]?://[^<>]*>|<[^<> !]+@[^@<> ]+>",  # autolink
]
# ... and what enabled pymdown extensions add.
_EXTENSION_MARKUP = {
    "pymdownx.caret": r"\^\^[^\^].*?\^\^|\^[^\^\s]+\^",
    "pymdownx.tilde": r"~~[^~].*?~~|~[^~\s]+~",
    "pymdownx.mark": r"==[^=].*?==",
    "pymdownx.keys": r"\+\+[^+].*?\+\+",
    "pymdownx.emoji": r":[a-z0-9_+-]+:",
}


def attr_list_applies(text: str, start: int, end: int, extensions: frozenset[str]) -> bool:
    """Whether an attr_list text[start:end] (`{...}` right after an image) reaches the image:
    Python-Markdown finds inline markup first, and markup that makes an element inside the braces
    (emphasis, a code span, a link...) leaves the list as plain text."""
    patterns = _ELEMENT_MARKUP + [_EXTENSION_MARKUP[name] for name in sorted(extensions) if name in _EXTENSION_MARKUP]
    found = re.compile("|".join(f"(?:{p})" for p in patterns)).search(text, start)
    return found is None or found.start() >= end


def attr_value(raw: str) -> str:
    """An attr_list value as a browser reads what Python-Markdown writes: backslash escapes
    resolved, character references decoded."""
    return html.unescape(_unescape(raw))
