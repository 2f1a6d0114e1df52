"""Find every HTML element that needs a text alternative, with exact source positions and context.

Works on whole pages and on the masked copies of Markdown files that scan/markdown.py passes in:
the offsets found are always those of the text given. How: docs/scanning.md.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, TypeGuard, cast

from bs4 import BeautifulSoup
from bs4.builder import ParserRejectedMarkup
from bs4.builder._htmlparser import BeautifulSoupHTMLParser, HTMLParserTreeBuilder
from bs4.element import Comment, NavigableString, PreformattedString, Tag

from alttext_tools.core import AltKind, Context, ImageRef, Syntax
from alttext_tools.scan.aria import ASCII_SPACE, PRESENTATIONAL_ROLES, first_values, is_true, role_of
from alttext_tools.scan.html_tag import StartTag, parse_start_tag
from alttext_tools.scan.positions import LineIndex, shorten
from alttext_tools.text import normalize_language

# Nothing to find without one of these, so most prose-only fragments skip the parser entirely.
_PRECHECK = re.compile(r"<(?:img|image|input|area|svg)|role\s*=", re.IGNORECASE)
_IGNORE_COMMENT = re.compile(r"alttext-ignore(?:$|[\s:])")
_IGNORE_FILE = "alttext-ignore-file"

# Browsers read the content of these as text, but html.parser (before Python 3.13) builds tags
# inside them; an <img> in a <textarea> is not an image. (<title> only outside SVG/MathML.)
_RAW_TEXT = frozenset({"textarea", "title", "xmp", "iframe", "noembed", "noframes", "plaintext"})
_FOREIGN = frozenset({"svg", "math"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = _HEADINGS | frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "legend",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "td",
        "th",
        "ul",
    ]
)
_NO_TEXT = frozenset({"script", "style", "template"})  # content that is never shown as text
# html.parser does not close elements implicitly: `<p>a<p>b` nests the second paragraph in the
# first. Browsers close a <p> at any of these start tags, an <li> at the next <li>, and so on, so
# the text of such an element stops there.
_CLOSES_P = _HEADINGS | frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "details",
        "dialog",
        "div",
        "dl",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "hr",
        "main",
        "menu",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "ul",
    ]
)
_IMPLIED_END = {
    "p": _CLOSES_P,
    "li": frozenset({"li"}),
    "dt": frozenset({"dt", "dd"}),
    "dd": frozenset({"dt", "dd"}),
    "td": frozenset({"td", "th", "tr"}),
    "th": frozenset({"td", "th", "tr"}),
}
_SPACED = _BLOCKS | frozenset({"br", "tr", "hr", "img", "input", "area", "label", "option"})
_CONTEXT_LIMIT = 400  # characters kept of a paragraph, caption, link text...
_NAME_LIMIT = 1000  # characters kept of a name taken from other elements' text
_NODE_BUDGET = 5000  # nodes looked at per text, so a huge unclosed block cannot go quadratic


def scan_html(text: str, path: str) -> list[ImageRef]:
    """Every element of `text` that needs a text alternative, in source order. Pure; never raises."""
    if not _PRECHECK.search(text):
        return []
    soup = _parse(text)
    if soup is None:
        return []
    walk = _Walk(text)
    walk.run(soup)
    if walk.ignore_file:
        return []
    lines = LineIndex(text)
    texts = _Texts()
    page_title = texts.get(walk.page_title, None, _CONTEXT_LIMIT)
    images: list[ImageRef] = []
    taken: set[int] = set()
    for found in walk.found:
        start_tag = _locate(text, lines, found.tag)
        if start_tag is None or start_tag.span.start in taken:
            continue
        if walk.comment_cut is not None and start_tag.span.start > walk.comment_cut:
            continue  # inside a comment that html.parser gave up on (see _Walk.run)
        taken.add(start_tag.span.start)
        images.append(_image_ref(text, path, lines, texts, walk, found, start_tag, page_title))
    images.sort(key=lambda image: image.span.start)
    return images


# --- parsing ----------------------------------------------------------------------------------


class _ClosedVoidTags:
    """bs4 keeps void tags awaiting a stray end tag in a list and tests membership on every end
    tag: quadratic on pages with thousands of <img>. Same interface, counted instead."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._counts[name] > 0

    def append(self, name: str) -> None:
        self._counts[name] += 1

    def remove(self, name: str) -> None:
        self._counts[name] -= 1


class _Parser(BeautifulSoupHTMLParser):
    """bs4's parser with `_ClosedVoidTags` in place of its list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # bs4's own signature, passed through
        super().__init__(*args, **kwargs)
        # bs4 declares a list but only tests membership, appends and removes: a counter does that.
        self.already_closed_empty_element = _ClosedVoidTags()  # type: ignore[assignment]


class _Builder(HTMLParserTreeBuilder):
    """html.parser tree builder that uses `_Parser` where bs4 lets it choose (bs4 4.13 and later)."""

    def feed(self, markup: str | bytes, _parser_class: type[BeautifulSoupHTMLParser] = _Parser) -> None:
        if _CAN_PICK_PARSER:
            super().feed(markup, _parser_class=_parser_class)
        else:  # older bs4: correct, only slower on image-heavy pages
            super().feed(markup)


_CAN_PICK_PARSER = "_parser_class" in inspect.signature(HTMLParserTreeBuilder.feed).parameters


def _parse(text: str) -> BeautifulSoup | None:
    text = _blank_unterminated_tail(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "looks like a filename/URL/XML": we know what we parse
        try:
            return _soup(text)
        except ParserRejectedMarkup:
            pass
        # html.parser gives up on marked sections it does not know (`<![foo[`). Browsers read
        # every `<![` in HTML content as a bogus comment up to the next ">"; `<!-` makes
        # html.parser do the same, and keeps every offset where it was.
        try:
            return _soup(text.replace("<![", "<!-"))
        except ParserRejectedMarkup:  # not seen with Python 3.10-3.12; nothing better to offer
            return None


def _blank_unterminated_tail(text: str) -> str:
    """Blank out a start tag cut off by the end of the text (same length, newlines kept).

    Browsers drop such a tag; html.parser turns it into text, which would then show up as the
    paragraph or link text of the images before it.
    """
    last = text.rfind("<")
    if last == -1 or not text[last + 1 : last + 2].isascii() or not text[last + 1 : last + 2].isalpha():
        return text
    if parse_start_tag(text, last).terminated:
        return text
    return text[:last] + re.sub(r"[^\n]", " ", text[last:])


def _soup(text: str) -> BeautifulSoup:
    # First duplicate attribute wins, as in browsers; class etc. stay plain strings.
    builder = _Builder(multi_valued_attributes=None, on_duplicate_attribute="ignore")
    return BeautifulSoup(text, builder=builder)


# --- the walk ---------------------------------------------------------------------------------


class _Scope(NamedTuple):
    """What an element inherits from its ancestors (nearest first)."""

    block: Tag | None = None  # closest block element: the image's paragraph
    link: Tag | None = None  # closest <a href>
    button: Tag | None = None  # closest <button>
    control: Tag | None = None  # the closer of link and button: its text is link_text
    caption_host: Tag | None = None  # the closer of <figure> and <td>/<th>
    label: Tag | None = None  # closest <label>
    lang: str | None = None
    foreign: bool = False  # inside <svg> or <math>
    raw_text: bool = False  # inside an element whose content browsers read as text
    hidden: bool = False  # aria-hidden="true" on an ancestor
    ignored: bool = False  # data-alttext-ignore on an ancestor
    ignore_wrap: bool = False  # the parent is a <picture>/<a> preceded by an ignore comment


@dataclass(frozen=True)
class _Found:
    tag: Tag
    syntax: Syntax
    scope: _Scope
    heading: Tag | None
    comment_ignored: bool


class _Walk:
    """One pass over the tree in document order: candidate images plus document-wide lookups."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.found: list[_Found] = []
        self.ids: dict[str, Tag] = {}  # first element with each id, as getElementById
        self.labels_for: dict[str, list[Tag]] = {}
        self.page_title: Tag | None = None
        self.ignore_file = False
        self.comment_cut: int | None = None

    def run(self, soup: BeautifulSoup) -> None:
        check_file_ignore = _IGNORE_FILE in self.text
        unterminated = _unterminated_comment(self.text)
        heading: Tag | None = None
        root = _Scope()
        stack: list[tuple[object, _Scope]] = [(child, root) for child in reversed(soup.contents)]
        while stack:
            node, scope = stack.pop()
            if not isinstance(node, Tag):
                if check_file_ignore and isinstance(node, Comment) and _IGNORE_FILE in node:
                    self.ignore_file = True
                    return
                if unterminated is not None and _is_text(node) and not scope.raw_text and "<!--" in node:
                    # html.parser (Python < 3.13) turns an unterminated "<!--" into text and goes on
                    # parsing tags; browsers comment out the rest of the document.
                    self.comment_cut = unterminated
                continue
            name = node.name
            attrs = _attributes(node)
            if not scope.raw_text:
                if name in _HEADINGS:
                    heading = node
                elif name == "title" and self.page_title is None and not scope.foreign:
                    self.page_title = node
                syntax = _syntax(name, attrs, scope)
                if syntax is not None:
                    self.found.append(_Found(node, syntax, scope, heading, _ignore_comment_before(node)))
                element_id = attrs.get("id")
                if element_id and element_id not in self.ids:
                    self.ids[element_id] = node
                if name == "label" and attrs.get("for"):
                    self.labels_for.setdefault(attrs["for"], []).append(node)
            inner = _enter(scope, node)
            stack.extend((child, inner) for child in reversed(node.contents))


def _syntax(name: str, attrs: dict[str, str], scope: _Scope) -> Syntax | None:
    # `<image>` is an old alias that the HTML parser turns into <img> (outside SVG, where it is SVG's).
    if name == "img" or (name == "image" and not scope.foreign):
        return Syntax.HTML_IMG
    if name == "input":
        return Syntax.HTML_INPUT_IMAGE if attrs.get("type", "").lower() == "image" else None
    if name == "area":
        return Syntax.HTML_AREA if "href" in attrs else None
    if role_of(attrs.get("role")) == "img":
        return Syntax.HTML_SVG if name == "svg" else Syntax.HTML_ROLE_IMG
    return None


def _enter(scope: _Scope, tag: Tag) -> _Scope:
    """The scope `tag`'s children see (the same object when `tag` changes nothing)."""
    name, attrs = tag.name, _attributes(tag)
    inner = scope
    if name in _BLOCKS:
        inner = inner._replace(block=tag)
    if name == "a" and "href" in attrs:
        inner = inner._replace(link=tag, control=tag)
    elif name == "button":
        inner = inner._replace(button=tag, control=tag)
    if name in ("figure", "td", "th"):
        inner = inner._replace(caption_host=tag)
    if name == "label":
        inner = inner._replace(label=tag)
    if name in _FOREIGN:
        inner = inner._replace(foreign=True)
    if name in _RAW_TEXT and not scope.foreign:
        inner = inner._replace(raw_text=True)
    if "lang" in attrs:
        inner = inner._replace(lang=normalize_language(attrs["lang"]))  # lang="" means "unknown"
    if is_true(attrs.get("aria-hidden")):
        inner = inner._replace(hidden=True)
    if "data-alttext-ignore" in attrs:
        inner = inner._replace(ignored=True)
    wrap = name in ("picture", "a") and (scope.ignore_wrap or _ignore_comment_before(tag))
    if wrap != scope.ignore_wrap:
        inner = inner._replace(ignore_wrap=wrap)
    return inner


def _ignore_comment_before(tag: Tag) -> bool:
    """Is the previous sibling, skipping whitespace-only text, an `<!-- alttext-ignore -->`?"""
    node = tag.previous_sibling
    while node is not None:
        if isinstance(node, Comment):
            return bool(_IGNORE_COMMENT.match(node.strip(ASCII_SPACE)))
        if not _is_text(node) or node.strip(ASCII_SPACE):
            return False
        node = node.previous_sibling
    return False


def _unterminated_comment(text: str) -> int | None:
    """Offset of a "<!--" that no "-->" or "--!>" closes, if any (the browsers' rules)."""
    closer = max(text.rfind("-->"), text.rfind("--!>"))
    # A "<!--" at p is closed by a closer starting at p + 2 or later ("<!-->" is a whole comment).
    start = text.find("<!--", max(closer - 1, 0))
    return None if start == -1 else start


# --- one image --------------------------------------------------------------------------------


def _locate(text: str, lines: LineIndex, tag: Tag) -> StartTag | None:
    """The start tag `tag` came from, re-read from the text."""
    start = 0
    line, column = tag.sourceline, tag.sourcepos
    if line is not None and column is not None and 1 <= line <= len(lines.starts):
        start = min(lines.offset(line, column), len(text))
        if _starts_tag(text, start, tag.name):
            return parse_start_tag(text, start)
    # html.parser's position should always be the "<"; if a parser quirk ever puts it elsewhere,
    # take the next start tag of that name rather than splice attributes at the wrong place.
    match = _tag_pattern(tag.name).search(text, start)
    return parse_start_tag(text, match.start()) if match else None


def _starts_tag(text: str, start: int, name: str) -> bool:
    end = start + 1 + len(name)
    return (
        text.startswith("<", start)
        and text[start + 1 : end].lower() == name
        and (end == len(text) or text[end] in ASCII_SPACE + "/>")
    )


@lru_cache(maxsize=64)
def _tag_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"<{re.escape(name)}(?=[\t\n\f\r />]|$)", re.IGNORECASE)


def _image_ref(
    text: str,
    path: str,
    lines: LineIndex,
    texts: _Texts,
    walk: _Walk,
    found: _Found,
    start_tag: StartTag,
    page_title: str | None,
) -> ImageRef:
    syntax, scope, tag = found.syntax, found.scope, found.tag
    attrs = first_values(start_tag.attrs)
    has_alt = syntax in (Syntax.HTML_IMG, Syntax.HTML_INPUT_IMAGE, Syntax.HTML_AREA)
    alt_attr = start_tag.attr("alt") if has_alt else None
    alt, alt_span, alt_quote = None, None, '"'
    if alt_attr is not None:
        # A bare `alt` means alt="" but has no value to splice: alt_span stays None while alt is
        # "", and the rewriter replaces the whole attribute (its name_span in `attrs`) instead.
        alt = alt_attr.value if alt_attr.value is not None else ""
        alt_span, alt_quote = alt_attr.value_span, alt_attr.quote
    name, name_from = _accessible_name(syntax, tag, attrs, alt, scope, walk, texts)
    role = role_of(attrs.get("role"))
    presentational = syntax is Syntax.HTML_IMG and (alt == "" or role in PRESENTATIONAL_ROLES)
    decorative = (
        is_true(attrs.get("aria-hidden"))
        or scope.hidden
        or (presentational and name_from not in ("aria-label", "aria-labelledby"))
    )
    ignored = found.comment_ignored or scope.ignore_wrap or scope.ignored or "data-alttext-ignore" in attrs
    span = start_tag.span
    line, column = lines.line_col(span.start)
    src_name = "href" if syntax is Syntax.HTML_AREA else "src"
    return ImageRef(
        path=path,
        syntax=syntax,
        span=span,
        line=line,
        column=column,
        source=shorten(text[span.start : min(span.end, span.start + 2000)]),
        src=attrs.get(src_name) if syntax in (Syntax.HTML_IMG, Syntax.HTML_INPUT_IMAGE, Syntax.HTML_AREA) else None,
        alt=alt,
        alt_kind=AltKind.HTML_ATTR if has_alt else None,
        alt_span=alt_span,
        alt_quote=alt_quote,
        attrs=start_tag.attrs,
        name=name,
        name_from=name_from,
        decorative=decorative,
        ignored=ignored,
        context=_context(tag, attrs, scope, found.heading, texts, page_title),
    )


def _accessible_name(
    syntax: Syntax,
    tag: Tag,
    attrs: dict[str, str | None],
    alt: str | None,
    scope: _Scope,
    walk: _Walk,
    texts: _Texts,
) -> tuple[str | None, str | None]:
    """(name, where it came from), computed statically in accname / HTML-AAM order."""
    labelledby = attrs.get("aria-labelledby")
    if labelledby:
        parts = [_referenced_text(walk.ids.get(ref), texts) for ref in labelledby.split()]
        name = _collapse(" ".join(part for part in parts if part))
        if name:
            return name, "aria-labelledby"
    name = _collapse(attrs.get("aria-label"))
    if name:
        return name, "aria-label"
    if syntax is Syntax.HTML_IMG and alt is not None:
        # For <img> the alt attribute, when present, decides: alt="" is decorative (browsers do not
        # fall back to title), and a whitespace-only alt is no name at all.
        name = _collapse(alt)
        return (name, "alt") if name else (None, None)
    name = _collapse(alt)
    if name:  # <input type=image>, <area>: a blank alt falls through to label and title
        return name, "alt"
    if syntax is Syntax.HTML_INPUT_IMAGE:
        label = _label_text(tag, attrs, scope, walk, texts)
        if label:
            return label, "label"
    if syntax is Syntax.HTML_SVG:
        title = next((child for child in tag.children if isinstance(child, Tag) and child.name == "title"), None)
        svg_title = texts.get(title, None, _NAME_LIMIT)
        if svg_title:
            return svg_title, "svg-title"
    title_name = _collapse(attrs.get("title"))
    if title_name:
        return title_name, "title"
    return None, None


def _referenced_text(target: Tag | None, texts: _Texts) -> str | None:
    """What an aria-labelledby target contributes: its aria-label, an image's alt, or its text."""
    if target is None:
        return None
    attrs = _attributes(target)
    label = _collapse(attrs.get("aria-label"))
    if label:
        return label
    if target.name == "img":
        return _collapse(attrs.get("alt")) or None
    return texts.get(target, None, _NAME_LIMIT)


def _label_text(tag: Tag, attrs: dict[str, str | None], scope: _Scope, walk: _Walk, texts: _Texts) -> str | None:
    """Text of the <label>s of an input: `for=` its id (if it is the first with that id), or wrapping it."""
    labels: list[Tag] = []
    element_id = attrs.get("id")
    if element_id and walk.ids.get(element_id) is tag:
        labels.extend(walk.labels_for.get(element_id, ()))
    wrapping = scope.label
    if wrapping is not None and "for" not in _attributes(wrapping) and wrapping not in labels:
        labels.append(wrapping)
    parts = [texts.get(label, tag, _NAME_LIMIT) for label in labels]
    return _collapse(" ".join(part for part in parts if part)) or None


def _context(
    tag: Tag,
    attrs: dict[str, str | None],
    scope: _Scope,
    heading: Tag | None,
    texts: _Texts,
    page_title: str | None,
) -> Context:
    host = scope.caption_host
    caption = None
    if host is not None and host.name == "figure":
        figcaption = next(
            (child for child in host.children if isinstance(child, Tag) and child.name == "figcaption"), None
        )
        caption = texts.get(figcaption, tag, _CONTEXT_LIMIT)
    elif host is not None:
        caption = texts.get(host, tag, _CONTEXT_LIMIT)
    own_lang = attrs.get("lang")
    lang = scope.lang if own_lang is None else normalize_language(own_lang)
    return Context(
        page_title=page_title,
        heading=texts.get(heading, tag, _CONTEXT_LIMIT),
        paragraph=texts.get(scope.block, tag, _CONTEXT_LIMIT),
        caption=caption,
        link_text=texts.get(scope.control, tag, _CONTEXT_LIMIT),
        link_href=_attributes(scope.link).get("href") if scope.link is not None else None,
        in_link=scope.link is not None,
        in_button=scope.button is not None,
        lang=lang,
    )


# --- text -------------------------------------------------------------------------------------


class _Texts:
    """Whitespace-collapsed text of elements, memoised: many images share one block or heading."""

    def __init__(self) -> None:
        self._memo: dict[tuple[int, int], str | None] = {}

    def get(self, element: Tag | None, leave_out: Tag | None, limit: int) -> str | None:
        """Text of `element` without `leave_out`'s (the image's own text), at most `limit` chars."""
        if element is None:
            return None
        if leave_out is not None and leave_out.contents:
            return _element_text(element, leave_out, limit)  # rare: <svg>, <span role=img>
        key = (id(element), limit)
        if key not in self._memo:
            self._memo[key] = _element_text(element, None, limit)
        return self._memo[key]


_BREAK = object()  # stands for the space between block elements


def _element_text(element: Tag, leave_out: Tag | None, limit: int) -> str | None:
    closed_by = _IMPLIED_END.get(element.name, frozenset())
    parts: list[str] = []
    size, budget = 0, _NODE_BUDGET
    stack: list[object] = list(reversed(element.contents))
    while stack and size <= 4 * limit + 200 and budget > 0:
        node = stack.pop()
        budget -= 1
        if node is _BREAK:
            parts.append(" ")
        elif isinstance(node, Tag):
            if node is leave_out or node.name in _NO_TEXT or node.name in closed_by:
                continue
            if node.name in _SPACED:
                parts.append(" ")
                stack.append(_BREAK)
            stack.extend(reversed(node.contents))
        elif _is_text(node):
            parts.append(node)
            size += len(node)
    return shorten("".join(parts), limit) or None


def _is_text(node: object) -> TypeGuard[NavigableString]:
    """Shown text: not a comment, CDATA, doctype or processing instruction."""
    return isinstance(node, NavigableString) and not isinstance(node, PreformattedString)


def _attributes(tag: Tag) -> dict[str, str]:
    """A tag's attributes. Every value is one string: the builder splits no attribute into a list
    (`multi_valued_attributes=None`), which bs4's types cannot express."""
    return cast("dict[str, str]", tag.attrs)


# --- small helpers ----------------------------------------------------------------------------


def _collapse(value: str | None) -> str:
    return " ".join(value.split()) if value else ""
