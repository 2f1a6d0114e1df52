"""Find every image in a Markdown document, with exact character offsets into the text as given.

markdown-it-py decides what is an image; this module proves where each one is. The offsets
contract for Markdown images and how HTML inside Markdown is scanned: docs/scanning.md.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline import html_inline as _html_inline_rule
from markdown_it.rules_inline import image as _image_rule
from markdown_it.token import Token

from alttext_tools.core import AltKind, Attr, Context, ImageRef, Span, Syntax
from alttext_tools.scan.dialects import COMMONMARK, Dialect
from alttext_tools.scan.html_tag import parse_start_tag
from alttext_tools.scan.positions import LineIndex, shorten
from alttext_tools.text import language_from_path, normalize_language

InlineRule = Callable[[StateInline, bool], bool]  # a markdown-it inline rule

PARAGRAPH_LIMIT = 400  # characters of surrounding text kept in Context.paragraph
_META = "alttext_pos"  # Token.meta key: (start, end) of the token in its inline block's content
_LAZY = "alttext_lazy"  # Token.meta key: inline content not parsed yet (holds the parser and its env)

# Worth parsing at all: a Markdown image opener, or HTML that scan_html could report.
_HINT = re.compile(r"!\[|<(?:img|input|area|svg)\b|\brole\s*=", re.IGNORECASE)
_HTML_HINT = re.compile(r"<(?:img|input|area|svg)\b|\brole\s*=", re.IGNORECASE)
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(?:.*?\n)??(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FM_KEY = re.compile(r"^(title|lang)[ \t]*:[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_COMMENT = re.compile(r"<!--(.*?)-->", re.DOTALL)
# Spelled as scan_html reads them: `<!-- alttext-ignore -->` (a reason may follow after a space or
# ":"), and any comment mentioning alttext-ignore-file.
_IGNORE = re.compile(r"\s*alttext-ignore(?:\Z|[\s:])")
_IGNORE_FILE = "alttext-ignore-file"
# Same spelling tolerance as the rewriter's marker pattern (rewrite/edits.py): both must agree.
_MARKER = re.compile(r"[ \t]*<!--[ \t]*alttext:[ \t]*decorative[ \t]*-->", re.IGNORECASE)
# Python-Markdown's attr_list (INLINE_RE and its key/value scanner).
_ATTR_LIST = re.compile(r"\{:?[ ]*([^}\n ][^}\n]*)[ ]*\}")
_ATTR_ITEM = re.compile(r"""([^ =}]+)=(?:"(.*?)"|'(.*?)'|([^ =}]+))|([^ =}]+)""")
# What may stand between the start of an image's line and the image when an ignore comment ends
# the previous line: indentation, blockquote markers, a list marker, a table pipe.
_PREFIX = re.compile(r"[ \t>|]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+[ \t>]*)?")
_ATX_CLOSING = re.compile(r"[ \t]+#+[ \t]*\Z")
_HTML_A = re.compile(r"<(/?)a(?=[\s/>])", re.IGNORECASE)
_HTML_HEADING = re.compile(r"<h[1-6](?=[\s/>])", re.IGNORECASE)
# Context only (never offsets): the text of an HTML <h1> when a page has no Markdown one.
_HTML_H1 = re.compile(r"<h1(?:\s[^>]*)?>(.*?)</h1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
# Python-Markdown's md_in_html (mkdocs-material's `<figure markdown="span">`, grids): an element
# with a `markdown` attribute (any value but "0") holds Markdown, even with no blank line around it.
_MD_IN_HTML = re.compile(
    r"""<[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*?)?\smarkdown(?:\s*=\s*(?:"(?!0")[^"]*"|'(?!0')[^']*'|(?!0[\s/>])[^\s"'=<>`/]+))?(?=[\s/>])""",
    re.IGNORECASE,
)
# CommonMark whitespace plus what markdown-it-py's mdTrim also strips.
_TRIM = "".join(map(chr, [9, 10, 11, 12, 13, 32, *range(0x2000, 0x200B), 0x2028, 0x2029]))


def scan_markdown(text: str, path: str, dialect: Dialect = COMMONMARK) -> list[ImageRef]:
    """Every image in a Markdown text, in source order, read in `dialect`. Pure: no I/O."""
    if not _HINT.search(text):
        return []
    return _Scan(text, path, dialect).run()


def _md_in_html_copy(text: str, blocks: list[tuple[int, int]]) -> str:
    """`text` with only the Markdown that md_in_html reads inside the raw HTML `blocks` left: same
    length, so offsets stay this file's own. Tags and raw content in a block become line breaks,
    so the Markdown between tags parses as its own paragraphs (as md_in_html renders it) rather
    than as raw HTML or, after a long tag, as an indented code block. In `span` content (inline
    Markdown only) an indented line must not read as code: its first blank becomes U+00A0."""
    from alttext_tools.scan.python_markdown import markdown_regions

    out, at = [], 0
    for start, end in blocks:
        if start < at:
            continue
        out.append(_blank(text[at:start]))
        pos = start
        for region in markdown_regions(text, start, end):
            out.append(_NOT_NEWLINES.sub(lambda m: "\n" * (m.end() - m.start()), text[pos : region.start]))
            body = text[region.start : region.end]
            out.append(_INDENTED_LINE.sub("\\1\u00a0", body) if region.span else body)
            pos = region.end
        out.append(_NOT_NEWLINES.sub(lambda m: "\n" * (m.end() - m.start()), text[pos:end]))
        at = end
    out.append(_blank(text[at:]))
    return "".join(out)


# The first blank of a line indented by four columns or more.
_INDENTED_LINE = re.compile(r"(^|\n)(?:\t|[ ](?=[ ]{0,2}\t|[ ]{3}))")


# --------------------------------------------------------------------------- parser


def _record(rule: InlineRule) -> InlineRule:
    """Wrap an inline rule so a token it creates remembers its [start, end) in the block content."""

    def wrapped(state: StateInline, silent: bool) -> bool:
        start = state.pos
        count = len(state.tokens)
        if not rule(state, silent):
            return False
        if not silent and len(state.tokens) > count:
            state.tokens[-1].meta[_META] = (start, state.pos)
        return True

    return wrapped


def _inline_where_needed(state: StateCore) -> None:
    """markdown-it's core `inline` rule, run only on blocks that could hold an image or raw HTML.
    Other blocks keep `children == []` and are marked so that `_children` can still parse them on
    demand: a table row's other cells, and a heading whose text an image's context needs."""
    md, env = state.md, state.env
    for tok in state.tokens:
        if tok.type != "inline":
            continue
        if tok.children is None:
            tok.children = []
        content = tok.content
        if "![" in content or "<" in content:
            md.inline.parse(content, md, env, tok.children)
        else:
            tok.meta[_LAZY] = (md, env)


def _children(tok: Token) -> list[Token]:
    """An inline token's children, parsing them now if `_inline_where_needed` skipped the block."""
    if tok.children is None:
        tok.children = []
    lazy = tok.meta.pop(_LAZY, None)
    if lazy is not None:
        parser, env = lazy
        parser.inline.parse(tok.content, parser, env, tok.children)
    return tok.children


_PARSERS: dict[Dialect, MarkdownIt] = {}


def _parser(dialect: Dialect) -> MarkdownIt:
    """One parser per dialect and process. Links are kept as written: no percent-encoding, no URL
    filtering (a `file:` image is still an image whose alt matters)."""
    md = _PARSERS.get(dialect)
    if md is None:
        md = MarkdownIt("commonmark").enable("table")
        md.normalizeLink = lambda url: url  # type: ignore[method-assign]
        md.validateLink = lambda url: True  # type: ignore[method-assign]
        md.inline.ruler.at("image", _record(_image_rule))
        md.inline.ruler.at("html_inline", _record(_html_inline_rule))
        md.core.ruler.at("inline", _inline_where_needed)
        if dialect.python_markdown:
            from alttext_tools.scan import python_markdown  # only pages MkDocs renders need it

            python_markdown.configure(
                md,
                admonition=dialect.has("admonition"),
                details=dialect.has("pymdownx.details"),
                tabbed=dialect.has("pymdownx.tabbed"),
                footnotes=dialect.has("footnotes"),
                blocks=dialect.blocks,
                md_in_html=dialect.md_in_html,
            )
        _PARSERS[dialect] = md
    return md


# --------------------------------------------------------------------------- offsets


class _ContentMap:
    """Where the characters of one token's `content` sit in the (normalised) source.

    Segments are (content offset, length, source offset), in content order. Characters not covered
    (tab-expansion padding markdown-it inserts) have no source position.
    """

    __slots__ = ("segs", "starts")

    def __init__(self, segs: list[tuple[int, int, int]]) -> None:
        self.segs = segs
        self.starts = [s[0] for s in segs]

    def span(self, a: int, b: int) -> tuple[int, int] | None:
        """Source [start, end) for content[a:b], or None unless every character is mapped."""
        i = bisect_right(self.starts, a) - 1
        if i < 0:
            return None
        c0, n, s0 = self.segs[i]
        if a == b:
            return (s0 + a - c0,) * 2 if a <= c0 + n else None
        if a >= c0 + n:
            return None
        start = s0 + a - c0
        while b > c0 + n:
            i += 1
            if i == len(self.segs) or self.segs[i][0] != c0 + n:
                return None
            c0, n, s0 = self.segs[i]
        return start, s0 + b - c0

    def pieces(self, a: int, b: int) -> list[tuple[int, int]]:
        """The mapped source ranges of content[a:b] (container prefixes between lines excluded)."""
        out = []
        for c0, n, s0 in self.segs[max(bisect_right(self.starts, a) - 1, 0) :]:
            if c0 >= b:
                break
            lo, hi = max(a, c0), min(b, c0 + n)
            if lo < hi:
                out.append((s0 + lo - c0, s0 + hi - c0))
        return out

    def near(self, a: int, default: int) -> int:
        """Best-effort source position of content offset `a` (for display only)."""
        i = bisect_right(self.starts, a) - 1
        if i < 0:
            return default
        c0, n, s0 = self.segs[i]
        return s0 + min(a - c0, n)


def _suffix_at(src: str, line: str, lo: int, hi: int, min_pos: int) -> int | None:
    """Start of `line` when it ends the source line src[lo:hi] (after trailing whitespace or an
    ATX closing sequence is trimmed): how paragraph and heading content relate to their lines."""
    n = len(line)
    if hi - n >= min_pos and src.startswith(line, hi - n):
        return hi - n
    raw = src[lo:hi]
    for trimmed in (raw.rstrip(_TRIM), raw.rstrip()):
        closing = _ATX_CLOSING.search(trimmed)
        for variant in (trimmed, trimmed[: closing.start()].rstrip(_TRIM) if closing else None):
            if variant is not None and variant.endswith(line) and lo + len(variant) - n >= min_pos:
                return lo + len(variant) - n
    return None


def _place(src: str, line: str, lo: int, hi: int, min_pos: int, cell: bool) -> list[tuple[int, int, int]] | None:
    """Segments (offset in line, length, source offset) locating one content line in src[lo:hi]."""
    if not line:
        return []
    if not cell:
        at = _suffix_at(src, line, lo, hi, min_pos)
        if at is not None:
            return [(0, len(line), at)]
    at = src.find(line, min_pos, hi)
    if at >= 0:
        return [(0, len(line), at)]
    if cell and "|" in line:
        # markdown-it drops the backslash of `\|` inside a cell: put it back to find the cell.
        at = src.find(line.replace("|", "\\|"), min_pos, hi)
        if at >= 0:
            segs, c, s = [], 0, at
            for k, piece in enumerate(line.split("|")):
                if k:
                    segs.append((c, 1, s + 1))
                    c, s = c + 1, s + 2
                if piece:
                    segs.append((c, len(piece), s))
                    c, s = c + len(piece), s + len(piece)
            return segs
    stripped = line.lstrip(" ")
    if stripped and len(stripped) < len(line):
        # Partially consumed tabs come back as spaces: skip that padding, map the rest.
        pad = len(line) - len(stripped)
        placed = _place(src, stripped, lo, hi, min_pos, cell)
        return [(off + pad, n, s) for off, n, s in placed] if placed else None
    return None


def _map_content(src: str, starts: list[int], content: str, first_line: int, min_pos: int, cell: bool) -> _ContentMap:
    """Map a block token's content: its line k comes from source line first_line + k."""
    segs: list[tuple[int, int, int]] = []
    lines = content.split("\n")
    c = 0
    for k, line in enumerate(lines):
        number = first_line + k
        if number >= len(starts):
            break
        lo = starts[number]
        hi = starts[number + 1] - 1 if number + 1 < len(starts) else len(src)
        placed = _place(src, line, lo, hi, max(lo, min_pos) if k == 0 else lo, cell)
        if placed:
            segs.extend((c + off, n, s) for off, n, s in placed)
        whole = line == "" or (
            placed and placed[-1][0] + placed[-1][1] == len(line) and placed[-1][2] + placed[-1][1] == hi
        )
        if k < len(lines) - 1 and whole and hi < len(src):
            segs.append((c + len(line), 1, hi))  # the newline itself
        c += len(line) + 1
    return _ContentMap(segs)


class _Source:
    """The text as given, and the text markdown-it parses: CRLF/CR -> LF, NUL -> U+FFFD (what its
    normalize rule would do anyway) and front matter blanked, so that markdown-it changes nothing
    and offsets convert with one bisect."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.crlf: list[int] = []  # normalised offsets of the "\n" of each CRLF
        norm = text
        if "\r" in text:
            parts = text.split("\r\n")
            at = 0
            for part in parts[:-1]:
                at += len(part)
                self.crlf.append(at)
                at += 1
            norm = "\n".join(parts).replace("\r", "\n")
        if "\0" in norm:
            norm = norm.replace("\0", "\ufffd")
        self.norm = norm
        match = _FRONT_MATTER.match(norm)
        self.front_matter = match.group(0) if match else ""
        self.parsed = _blank(self.front_matter) + norm[len(self.front_matter) :] if match else norm
        self.line_starts = LineIndex(norm).starts

    def orig(self, offset: int) -> int:
        """Offset in the text as given of a normalised offset."""
        return offset + bisect_left(self.crlf, offset) if self.crlf else offset


_NOT_NEWLINES = re.compile(r"[^\r\n]+")


def _blank(text: str) -> str:
    """Spaces for every character but line breaks (a run at a time: 5x faster than per character)."""
    return _NOT_NEWLINES.sub(lambda m: " " * (m.end() - m.start()), text)


# --------------------------------------------------------------------------- text helpers


def _alt_text(tokens: list[Token] | None) -> str:
    """An image label as plain text, the way CommonMark renders `alt` (markup dropped)."""
    out = []
    for tok in tokens or ():
        if tok.type in ("text", "text_special", "code_inline"):
            out.append(tok.content)
        elif tok.type == "image":
            out.append(_alt_text(tok.children))
        elif tok.type in ("softbreak", "hardbreak"):
            out.append("\n")
    return "".join(out)


def _plain(tokens: list[Token]) -> str:
    """Collapsed text of inline tokens, without images, raw HTML or attr_lists after images/links."""
    out = []
    after_element = False
    for tok in tokens:
        if tok.type in ("text", "text_special", "code_inline"):
            content = tok.content
            if after_element and tok.type == "text" and (match := _ATTR_LIST.match(content)):
                content = content[match.end() :]
            out.append(content)
        elif tok.type in ("softbreak", "hardbreak"):
            out.append(" ")
        after_element = tok.type in ("image", "link_close")
    return " ".join("".join(out).split())


def _clip(text: str | None) -> str | None:
    if not text:
        return None
    return text if len(text) <= PARAGRAPH_LIMIT else text[: PARAGRAPH_LIMIT - 1].rstrip() + "…"


def _front_matter_fields(block: str) -> dict[str, str]:
    """Top-level `title:` and `lang:` scalars of YAML front matter (quotes removed)."""
    found: dict[str, str] = {}
    for match in _FM_KEY.finditer(block):
        key, value = match.group(1), match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace("''", "'") if value[0] == "'" else value[1:-1].replace('\\"', '"')
        else:
            value = re.sub(r"\s+#.*\Z", "", value)
        if value and key not in found:
            found[key] = value.strip()
    return found


@dataclass(frozen=True)
class _AttrList:
    end: int  # content offset after "}"
    # (name, raw value, name start, value start, value end, quote); offsets into the content
    attrs: tuple[tuple[str, str, int, int, int, str], ...]

    def last(self, name: str) -> tuple[str, str, int, int, int, str] | None:
        found = None
        for attr in self.attrs:
            if attr[0] == name:
                found = attr  # attr_list builds a dict: the last one wins
        return found


def _attr_list(content: str, pos: int) -> _AttrList | None:
    """A Python-Markdown attr_list written directly after an image (`){...}`)."""
    match = _ATTR_LIST.match(content, pos)
    if not match:
        return None
    attrs = []
    i, end = match.start(1), match.end(1)
    while i < end:
        if content[i] == " ":
            i += 1
            continue
        item = _ATTR_ITEM.match(content, i, end)
        if not item:
            break  # re.Scanner stops at the first thing it cannot read
        if item.group(5) is not None:
            word = item.group(5)
            if not word.startswith((".", "#")):  # classes and ids are not attributes we read
                attrs.append((word.lower(), word, item.start(5), item.start(5), item.end(5), ""))
        else:
            for group, quote in ((2, '"'), (3, "'"), (4, "")):
                if item.group(group) is not None:
                    value = (item.group(group), item.start(1), item.start(group), item.end(group), quote)
                    attrs.append((item.group(1).lower(), *value))
                    break
        i = item.end()
    return _AttrList(match.end(), tuple(attrs))


# --------------------------------------------------------------------------- the scan


@dataclass
class _HtmlRange:
    start: int  # offsets in the text as given
    end: int
    context: Context  # what Markdown knows around it, but the heading
    headings: int  # Markdown headings before it: its heading is the nearest of them with text


class _Scan:
    def __init__(self, text: str, path: str, dialect: Dialect = COMMONMARK) -> None:
        self.text = text
        self.path = path
        self.dialect = dialect
        # Python-Markdown's readings of an image's alt and of an attr_list, in its dialect.
        self._pm_alt: Callable[[str], str] | None = None
        self._pm_attr_list: Callable[[str, int, int], bool] | None = None
        self._attr_value: Callable[[str], str] = html.unescape
        if dialect.python_markdown:
            from alttext_tools.scan.python_markdown import attr_list_applies, attr_value, image_alt

            self._pm_alt = image_alt
            self._pm_attr_list = lambda text, start, end: attr_list_applies(text, start, end, dialect.extensions)
            self._attr_value = attr_value
        self.src = _Source(text)
        self.cursor = 0  # source offsets are found left to right, never before an earlier match
        self.images: list[ImageRef] = []
        self.html: list[_HtmlRange] = []
        self.html_pieces: list[tuple[int, int]] = []  # normalised source ranges holding HTML
        self.html_hint = False  # some HTML token could hold an image
        self.ignore_ends: set[int] = set()  # original offsets just after `<!-- alttext-ignore -->`
        self.ignore_file = False
        # Every Markdown heading so far: its inline token (parsed only when an image needs its
        # text) and the original offset of its line; and the nearest heading with text before
        # each count of headings, as found.
        self.headings: list[tuple[Token, int]] = []
        self._nearest: dict[int, tuple[str | None, int]] = {0: (None, -1)}
        self.html_headings: list[int] = []  # original offsets of HTML tokens holding <h1>..<h6>
        self._lines: LineIndex | None = None
        self.md_in_html: list[tuple[int, int, Context]] = []  # html_block ranges holding Markdown
        self.nested = False  # True for the scan of md_in_html blocks (no deeper rescans)
        self.env: dict[str, Any] = {}  # markdown-it's parse env: the reference definitions
        self._row: list[Token] | None = None
        self._row_plain = ""
        fm = _front_matter_fields(self.src.front_matter) if self.src.front_matter else {}
        self.page_title = fm.get("title")
        # Front matter says it in so many words; otherwise a language folder or file suffix may.
        self.lang = normalize_language(fm["lang"]) if "lang" in fm else language_from_path(path)

    def run(self) -> list[ImageRef]:
        tokens = _parser(self.dialect).parse(self.src.parsed, self.env)
        if self.page_title is None:
            self.page_title = _first_h1(tokens)
        row: list[Token] = []
        for i, tok in enumerate(tokens):
            kind = tok.type
            if kind == "inline":
                self._inline(tok, tokens[i - 1].type if i else "", row)
            elif kind == "heading_close" and i >= 2:
                opening = tokens[i - 2].map
                self.headings.append(
                    (tokens[i - 1], self.src.orig(self.src.line_starts[opening[0]]) if opening else -1)
                )
            elif kind == "tr_open":
                row = _row_cells(tokens, i)
            elif kind == "html_block":
                self._html_block(tok)
        if self.ignore_file:
            return []
        images = self.images
        if self.html_hint:
            images = images + self._html_images()
        if self.md_in_html:
            images = images + self._md_in_html_images()
        images.sort(key=lambda image: image.span.start)
        return images

    @property
    def heading(self) -> str | None:
        """The text of the nearest Markdown heading so far that has text."""
        return self._heading(len(self.headings))[0]

    def _heading(self, count: int) -> tuple[str | None, int]:
        """The nearest heading with text among the first `count`: its text and line offset."""
        k = count
        while k not in self._nearest:
            tok, at = self.headings[k - 1]
            text = _plain(_children(tok))
            if text:
                self._nearest[k] = (text, at)
                break
            k -= 1
        found = self._nearest[k]
        for j in range(k + 1, count + 1):
            self._nearest[j] = found
        return found

    # ----------------------------------------------------------------------- blocks

    def _map(self, tok: Token, cell: bool) -> _ContentMap:
        if not tok.map:
            return _ContentMap([])
        cmap = _map_content(self.src.parsed, self.src.line_starts, tok.content, tok.map[0], self.cursor, cell)
        if cmap.segs:
            last = cmap.segs[-1]
            self.cursor = max(self.cursor, last[2] + last[1])
        return cmap

    def _inline(self, tok: Token, parent: str, row: list[Token]) -> None:
        children = tok.children or []
        cell = parent in ("th_open", "td_open")
        if not cell and not any(c.type in ("image", "html_inline") for c in children):
            return
        cmap = self._map(tok, cell)  # every cell is mapped, so the cursor walks the row in order
        if not any(c.type in ("image", "html_inline") for c in children):
            return
        if cell:
            caption = _plain([c for c in children if c.type != "image"]) or None
            paragraph = self._row_text(row)
        else:
            caption = None
            paragraph = _plain(children)
        base = Context(
            page_title=self.page_title,
            # HTML tokens get their heading when an image is found in them (`_html_images`).
            heading=self.heading if any(c.type == "image" for c in children) else None,
            paragraph=_clip(paragraph),
            caption=_clip(caption),
            lang=self.lang,
        )
        links = _enclosing_links(children)
        html_end = None  # end of the previous inline HTML token in this block
        for j, child in enumerate(children):
            if _META not in child.meta:
                continue
            if child.type == "html_inline":
                start = child.meta[_META][0]
                if html_end is not None and "<" not in tok.content[html_end:start]:
                    # Text between two inline tags is their content (`<svg><title>Logo</title>`,
                    # `<a href=..>Home</a>`): show it to the HTML scanner unless it holds a "<"
                    # that is not a tag (code span, escaped `\<`, autolink).
                    self.html_pieces.extend(cmap.pieces(html_end, start))
                html_end = child.meta[_META][1]
            link = links.get(j)
            context = base
            if link is not None:
                href, text = link
                context = replace(base, in_link=True, link_href=href, link_text=_clip(text))
            if child.type == "image":
                self.images.append(self._image(tok, child, cmap, context))
            else:
                self._html_inline(tok, child, cmap, context)

    def _row_text(self, row: list[Token]) -> str:
        """A table row's text, cells joined by " | " (images left out), computed once per row."""
        if self._row is not row:
            self._row = row
            self._row_plain = " | ".join(t for t in (_plain(_children(c)) for c in row) if t)
        return self._row_plain

    def _html_block(self, tok: Token) -> None:
        cmap = self._map(tok, False)
        content = tok.content
        context = Context(page_title=self.page_title, lang=self.lang)
        self._html_token(content, cmap, 0, len(content), context)
        if not self.nested and self.dialect.md_in_html and "![" in content and _MD_IN_HTML.search(content) and tok.map:
            starts, orig = self.src.line_starts, self.src.orig
            end = starts[tok.map[1]] if tok.map[1] < len(starts) else len(self.src.parsed)
            self.md_in_html.append((orig(starts[tok.map[0]]), orig(end), replace(context, heading=self.heading)))

    def _html_inline(self, tok: Token, child: Token, cmap: _ContentMap, context: Context) -> None:
        start, end = child.meta[_META]
        self._html_token(tok.content, cmap, start, end, context)

    def _html_token(self, content: str, cmap: _ContentMap, a: int, b: int, context: Context) -> None:
        pieces = cmap.pieces(a, b)
        if not pieces:
            return
        orig = self.src.orig
        self.html_pieces.extend(pieces)
        self.html.append(_HtmlRange(orig(pieces[0][0]), orig(pieces[-1][1]), context, len(self.headings)))
        if not self.html_hint and _HTML_HINT.search(content, a, b):
            self.html_hint = True
        if _HTML_HEADING.search(content, a, b):
            self.html_headings.append(orig(pieces[0][0]))
        if "<!--" not in content[a:b]:
            return
        for match in _COMMENT.finditer(content, a, b):
            body = match.group(1)
            if _IGNORE_FILE in body:
                self.ignore_file = True
            elif _IGNORE.match(body):
                where = cmap.span(match.start(), match.end())
                if where is not None:
                    self.ignore_ends.add(orig(where[1]))

    # ----------------------------------------------------------------------- images

    def _image(self, block: Token, tok: Token, cmap: _ContentMap, context: Context) -> ImageRef:
        content = block.content
        start, end = tok.meta[_META]
        label_start = start + 2
        label_end = label_start + len(tok.content)  # the "]"
        syntax, ref_label, ref_form = Syntax.MD_INLINE, None, None
        if content.startswith("(", label_end + 1):
            pass
        elif content.startswith("[]", label_end + 1) and end == label_end + 3:
            syntax, ref_label, ref_form = Syntax.MD_REFERENCE, tok.content, "collapsed"
        elif content.startswith("[", label_end + 1) and end > label_end + 1:
            syntax, ref_label, ref_form = Syntax.MD_REFERENCE, content[label_end + 2 : end - 1], "full"
        else:
            syntax, ref_label, ref_form = Syntax.MD_REFERENCE, tok.content, "shortcut"

        alt = self._pm_alt(tok.content) if self._pm_alt else _alt_text(tok.children)
        alt_kind, alt_range, quote = AltKind.MD_LABEL, (label_start, label_end), '"'
        extent = end
        attrs: tuple[Attr, ...] = ()
        ignored = False
        marker = False
        attr_list = _attr_list(content, end) if self.dialect.attr_list else None
        if (
            attr_list is not None
            and self._pm_attr_list is not None
            and not self._pm_attr_list(content, end, attr_list.end)
        ):
            attr_list = None  # Python-Markdown's inline markup inside the braces keeps it from applying
        if attr_list is not None:
            extent = attr_list.end
            attrs = tuple(self._attr(*attr, cmap) for attr in attr_list.attrs)
            ignored = attr_list.last("data-alttext-ignore") is not None
            alt_attr = attr_list.last("alt")
            if alt_attr is not None:
                _, raw, _, v0, v1, quote = alt_attr
                alt, alt_kind, alt_range = self._attr_value(raw), AltKind.MD_ATTR_LIST, (v0, v1)
                marker = alt == ""
        if _MARKER.match(content, extent):
            marker = True

        # The element: its first and last characters, each proven. The alt: every character proven.
        first, last = cmap.span(start, start + 1), cmap.span(extent - 1, extent)
        alt_where = cmap.span(*alt_range)
        parsed = self.src.parsed
        if (
            alt_where is not None
            and alt_kind is AltKind.MD_LABEL
            and (parsed[alt_where[0] - 2 : alt_where[0]] != "![" or parsed[alt_where[1] : alt_where[1] + 1] != "]")
        ):
            alt_where = None
        if first is not None and last is not None and first[0] < last[1]:
            where = (first[0], last[1])
        else:
            fallback = self.src.line_starts[block.map[0]] if block.map else 0
            where = (cmap.near(start, fallback), cmap.near(extent, fallback))
            alt_where = None
        orig = self.src.orig
        span = Span(orig(where[0]), max(orig(where[0]), orig(where[1])))
        line, column = self.lines.line_col(span.start)
        name = " ".join(alt.split()) or None
        src = tok.attrs.get("src")
        return ImageRef(
            path=self.path,
            syntax=syntax,
            span=span,
            line=line,
            column=column,
            source=shorten(self.text[span.start : span.end]),
            src=src if isinstance(src, str) else None,
            alt=alt,
            alt_kind=alt_kind,
            alt_span=Span(orig(alt_where[0]), orig(alt_where[1])) if alt_where else None,
            alt_quote=quote if alt_kind is AltKind.MD_ATTR_LIST else '"',
            attrs=attrs,
            name=name,
            name_from="alt" if name else None,
            decorative=marker and alt == "",
            decorative_marker=marker,
            ignored=ignored or self._ignored(span.start),
            ref_label=ref_label,
            ref_form=ref_form,
            context=context,
        )

    def _attr(self, name: str, raw: str, n0: int, v0: int, v1: int, quote: str, cmap: _ContentMap) -> Attr:
        """An attr_list entry as an Attr (a bare word `{ data-x }` means data-x="data-x")."""
        orig = self.src.orig
        value = cmap.span(v0, v1) or (cmap.near(v0, 0),) * 2
        name_where = cmap.span(n0, n0 + len(name)) or (value[0], value[0])
        return Attr(
            name,
            self._attr_value(raw),
            Span(orig(name_where[0]), orig(name_where[1])),
            Span(orig(value[0]), orig(value[1])),
            quote,
        )

    def _ignored(self, start: int) -> bool:
        """An `<!-- alttext-ignore -->` directly before (same line), or ending the previous line."""
        if not self.ignore_ends:
            return False
        text = self.text
        i = start
        while i > 0 and text[i - 1] in " \t":
            i -= 1
        if i in self.ignore_ends:
            return True
        line_start = text.rfind("\n", 0, start) + 1
        if line_start == 0 or not _PREFIX.fullmatch(text, line_start, start):
            return False
        j = line_start - 1
        if j > 0 and text[j - 1] == "\r":
            j -= 1
        while j > 0 and text[j - 1] in " \t":
            j -= 1
        return j in self.ignore_ends

    @property
    def lines(self) -> LineIndex:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines

    # ----------------------------------------------------------------------- HTML

    def _html_images(self) -> list[ImageRef]:
        from alttext_tools.scan.html import scan_html

        text, orig = self.text, self.src.orig
        out, at = [], 0
        for s, e in sorted(self.html_pieces):
            s, e = orig(s), orig(e)
            if s < at:
                continue
            out.append(_blank(text[at:s]))
            out.append(text[s:e])
            at = e
        out.append(_blank(text[at:]))
        masked = "".join(out)
        starts = [r.start for r in self.html]
        found = []
        for image in scan_html(masked, self.path):
            i = bisect_right(starts, image.span.start) - 1
            context = image.context
            if i >= 0:
                around = self.html[i]
                heading, heading_at = self._heading(around.headings)
                around_context = replace(around.context, heading=heading) if heading else around.context
                context = _merge(context, around_context)
                # scan_html sees HTML headings only: a Markdown heading written after the last HTML
                # heading is the nearer one. The page title is the Markdown page's.
                k = bisect_right(self.html_headings, image.span.start) - 1
                if heading and heading_at > (self.html_headings[k] if k >= 0 else -1):
                    context = replace(context, heading=heading)
                if around.context.page_title:
                    context = replace(context, page_title=around.context.page_title)
            found.append(
                replace(
                    image,
                    in_html_block=True,
                    ignored=image.ignored or self._ignored(image.span.start),
                    source=shorten(text[image.span.start : image.span.end]),
                    context=context,
                )
            )
        return found

    def _md_in_html_images(self) -> list[ImageRef]:
        """Markdown images inside HTML blocks that md_in_html renders as Markdown. markdown-it
        (CommonMark) keeps such a block as raw HTML up to its first blank line; the images in it
        are found by scanning a copy where only those blocks remain, their tags turned to line
        breaks. HTML images there were already found by `_html_images`."""
        sub = _Scan(_md_in_html_copy(self.text, [(s, e) for s, e, _ in self.md_in_html]), self.path, self.dialect)
        sub.nested = True
        sub.env = {"references": dict(self.env.get("references", {}))}  # defined anywhere in the file
        starts = [s for s, _, _ in self.md_in_html]
        found = []
        for image in sub.run():
            if not image.is_markdown_syntax:
                continue
            around = self.md_in_html[bisect_right(starts, image.span.start) - 1][2]
            line, column = self.lines.line_col(image.span.start)
            found.append(
                replace(
                    image,
                    line=line,
                    column=column,
                    source=shorten(self.text[image.span.start : image.span.end]),
                    ignored=image.ignored or self._ignored(image.span.start),
                    context=_merge(replace(image.context, page_title=None, heading=None, lang=None), around),
                )
            )
        return found


def _merge(own: Context, around: Context) -> Context:
    """The HTML scanner's context, completed with what the Markdown around it says."""
    changes = {
        f.name: getattr(around, f.name) for f in fields(Context) if not getattr(own, f.name) and getattr(around, f.name)
    }
    return replace(own, **changes) if changes else own


def _first_h1(tokens: list[Token]) -> str | None:
    """Text of the first `# h1` (ATX or setext) or HTML <h1> in an HTML block."""
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.tag == "h1" and i + 1 < len(tokens):
            text = _plain(_children(tokens[i + 1]))
        elif tok.type == "html_block" and (match := _HTML_H1.search(tok.content)):
            text = " ".join(html.unescape(_TAG.sub(" ", match.group(1))).split())
        else:
            continue
        if text:
            return text
    return None


def _row_cells(tokens: list[Token], i: int) -> list[Token]:
    cells = []
    for tok in tokens[i + 1 :]:
        if tok.type == "tr_close":
            break
        if tok.type == "inline":
            cells.append(tok)
    return cells


def _enclosing_links(children: list[Token]) -> dict[int, tuple[str | None, str]]:
    """For each child index inside a link (Markdown or inline `<a>`): (href, the link's text
    without images). Only computed when the block has links."""
    pairs: list[tuple[int, int, str | None]] = []
    stack: list[tuple[int, str | None, str]] = []  # (index, href, "md" | "html")
    for j, child in enumerate(children):
        closing = None
        if child.type == "link_open":
            href = child.attrs.get("href")
            stack.append((j, href if isinstance(href, str) else None, "md"))
        elif child.type == "link_close":
            closing = "md"
        elif child.type == "html_inline" and (match := _HTML_A.match(child.content)):
            if match.group(1):
                closing = "html"
            else:
                attr = parse_start_tag(child.content, 0).attr("href")
                stack.append((j, attr.value if attr else None, "html"))
        if closing:
            for k in range(len(stack) - 1, -1, -1):
                if stack[k][2] == closing:
                    opened, href, _ = stack.pop(k)
                    pairs.append((opened, j, href))
                    break
    result: dict[int, tuple[str | None, str]] = {}
    for opened, closed, href in sorted(pairs, key=lambda p: p[1] - p[0], reverse=True):
        text = _plain(children[opened + 1 : closed])
        for j in range(opened + 1, closed):
            result[j] = (href, text)  # inner links overwrite outer ones
    return result
