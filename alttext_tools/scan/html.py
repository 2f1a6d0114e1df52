"""Find every HTML element that needs a text alternative, with exact source positions and context.

Works on whole pages and on the masked copies of Markdown files that scan/markdown.py passes in:
the offsets found are always those of the text given. How: docs/scanning.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import NamedTuple

from alttext_tools.core import AltKind, Context, ImageRef, Syntax
from alttext_tools.scan.aria import ASCII_SPACE, PRESENTATIONAL_ROLES, first_values, is_true, role_of
from alttext_tools.scan.html_tag import StartTag, parse_start_tag
from alttext_tools.scan.html_tree import FOREIGN, Document, Element, Rejected, TreeBuilder
from alttext_tools.scan.positions import LineCounter, shorten
from alttext_tools.text import normalize_language

# Nothing to find without one of these, so pages and fragments without images skip the parser.
# (An <svg> is an image only with a role attribute.)
_PRECHECK = re.compile(r"<(?:img|image|input|area)|role\s*=", re.IGNORECASE)
_IGNORE_COMMENT = re.compile(r"alttext-ignore(?:$|[\s:])")
_IGNORE_FILE = "alttext-ignore-file"

# role="image" is ARIA 1.3's synonym of img. graphics-symbol names an image inside SVG (and the
# <svg> itself), graphics-document an <svg>: all need a name (axe's svg-img-alt).
_IMAGE_ROLES = frozenset({"img", "image"})
_SVG_IMAGE_ROLES = frozenset({"graphics-symbol"})
_SVG_ROOT_IMAGE_ROLES = frozenset({"graphics-document", "graphics-symbol"})
# Elements that can be an image whatever their attributes, and attributes that can make one.
_CANDIDATE_NAMES = frozenset({"img", "image", "input", "area"})
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
    scan = _parse(text)
    if scan is None or scan.ignore_file:
        return []
    doc = scan.document
    comment_cut = _comment_cut(text, doc)
    lines = LineCounter(text)
    texts = _Texts(doc)
    page_title = texts.get(scan.page_title, None, _CONTEXT_LIMIT)
    images: list[ImageRef] = []
    taken: set[int] = set()
    for found in scan.found:
        start_tag = _locate(text, found.element.name, found.offset)
        if start_tag is None or start_tag.span.start in taken:
            continue
        if comment_cut is not None and start_tag.span.start > comment_cut:
            continue  # inside a comment that html.parser gave up on (see _comment_cut)
        taken.add(start_tag.span.start)
        images.append(_image_ref(text, path, lines, texts, scan, found, start_tag, page_title))
    images.sort(key=lambda image: image.span.start)
    return images


# --- parsing ----------------------------------------------------------------------------------


def _parse(text: str) -> _Scan | None:
    text = _blank_unterminated_tail(text)
    try:
        return _Scan(text).run()
    except Rejected:
        pass
    # html.parser gives up on marked sections it does not know (`<![foo[`). Browsers read every
    # `<![` in HTML content as a bogus comment up to the next ">"; `<!-` makes html.parser do the
    # same, and keeps every offset where it was.
    try:
        return _Scan(text.replace("<![", "<!-")).run()
    except Rejected:  # not seen with Python 3.10-3.12; nothing better to offer
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


def _unterminated_comment(text: str) -> int | None:
    """Offset of a "<!--" that no "-->" or "--!>" closes, if any (the browsers' rules)."""
    closer = max(text.rfind("-->"), text.rfind("--!>"))
    # A "<!--" at p is closed by a closer starting at p + 2 or later ("<!-->" is a whole comment).
    start = text.find("<!--", max(closer - 1, 0))
    return None if start == -1 else start


def _comment_cut(text: str, doc: Document) -> int | None:
    """Where browsers comment out the rest of the page, if html.parser did not.

    html.parser (Python < 3.13) turns an unterminated "<!--" into text and goes on parsing tags;
    browsers comment out the rest of the document.
    """
    unterminated = _unterminated_comment(text)
    if unterminated is None:
        return None
    for index, run in doc.texts():
        if "<!--" in run and not doc.in_raw_text(index):
            return unterminated
    return None


# --- the elements -----------------------------------------------------------------------------


class _Scope(NamedTuple):
    """What an element inherits from its ancestors (nearest first)."""

    block: Element | None = None  # closest block element: the image's paragraph
    link: Element | None = None  # closest <a href>
    button: Element | None = None  # closest <button>
    control: Element | None = None  # the closer of link and button: its text is link_text
    caption_host: Element | None = None  # the closer of <figure> and <td>/<th>
    label: Element | None = None  # closest <label>
    lang: str | None = None
    foreign: bool = False  # inside <svg> or <math>
    hidden: bool = False  # aria-hidden="true" on an ancestor
    ignored: bool = False  # data-alttext-ignore on an ancestor
    ignore_wrap: bool = False  # the parent is a <picture>/<a> preceded by an ignore comment


@dataclass(frozen=True)
class _Found:
    element: Element
    syntax: Syntax
    offset: int  # where html.parser read the start tag
    ancestors: tuple[Element, ...]  # outermost first
    heading: Element | None


class _Scan(TreeBuilder):
    """One pass of html.parser: candidate images plus the document-wide lookups they need.

    Only the candidates' own surroundings are ever looked at again, so the work per element that
    is not an image is a few set lookups.
    """

    watch = _HEADINGS | _CANDIDATE_NAMES | {"title"}

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.found: list[_Found] = []
        self.ids: dict[str, Element] = {}  # first element with each id, as getElementById
        self.labels_for: dict[str, list[Element]] = {}
        self.heading: Element | None = None
        self.page_title: Element | None = None
        self.ignore_file = False
        self._check_ignore_file = _IGNORE_FILE in text

    def run(self) -> _Scan:
        self.document = self.build(self.text)
        return self

    def started(self, element: Element) -> None:
        name, raw_attrs = element.name, element.raw_attrs
        if name in _HEADINGS:
            self.heading = element
        elif name == "title" and self.page_title is None and not self.foreign_open:
            self.page_title = element
        if raw_attrs:
            # The first of duplicate attributes wins; a bare attribute's value is None here.
            attrs = dict(reversed(raw_attrs))
            element_id = attrs.get("id")
            if element_id and element_id not in self.ids:
                self.ids[element_id] = element
            label_for = attrs.get("for")
            if label_for and name == "label":
                self.labels_for.setdefault(label_for, []).append(element)
            if name not in _CANDIDATE_NAMES and "role" not in attrs:
                return
        elif name in _CANDIDATE_NAMES:
            attrs = {}
        else:
            return
        syntax = _syntax(name, attrs, bool(self.foreign_open), self.open)
        if syntax is not None:
            self.found.append(_Found(element, syntax, self.source_offset, tuple(self.open), self.heading))

    def handle_comment(self, data: str) -> None:
        super().handle_comment(data)
        if self._check_ignore_file and _IGNORE_FILE in data:
            self.ignore_file = True


def _syntax(name: str, attrs: dict[str, str | None], foreign: bool, ancestors: list[Element]) -> Syntax | None:
    # `<image>` is an old alias that the HTML parser turns into <img> (outside SVG, where it is SVG's).
    if name == "img" or (name == "image" and not foreign):
        return Syntax.HTML_IMG
    if name == "input":
        return Syntax.HTML_INPUT_IMAGE if (attrs.get("type") or "").lower() == "image" else None
    if name == "area":
        # Only an <area> in a <map> is rendered (and focusable); browsers ignore any other.
        if "href" in attrs and any(ancestor.name == "map" for ancestor in ancestors):
            return Syntax.HTML_AREA
        return None
    if "role" not in attrs:
        return None
    role = role_of(attrs["role"])
    if name == "svg":
        return Syntax.HTML_SVG if role in _IMAGE_ROLES or role in _SVG_ROOT_IMAGE_ROLES else None
    if role in _IMAGE_ROLES or (foreign and role in _SVG_IMAGE_ROLES):
        return Syntax.HTML_ROLE_IMG
    return None


def _scope(doc: Document, ancestors: tuple[Element, ...]) -> _Scope:
    """What `ancestors` (outermost first) imply for the element inside them."""
    scope = _Scope()
    for element in ancestors:
        scope = _enter(doc, scope, element)
    return scope


def _enter(doc: Document, scope: _Scope, element: Element) -> _Scope:
    """The scope `element`'s children see (the same object when `element` changes nothing)."""
    name, attrs = element.name, element.attrs
    inner = scope
    if name in _BLOCKS:
        inner = inner._replace(block=element)
    if name == "a" and "href" in attrs:
        inner = inner._replace(link=element, control=element)
    elif name == "button":
        inner = inner._replace(button=element, control=element)
    if name in ("figure", "td", "th"):
        inner = inner._replace(caption_host=element)
    if name == "label":
        inner = inner._replace(label=element)
    if name in FOREIGN:
        inner = inner._replace(foreign=True)
    if "lang" in attrs:
        inner = inner._replace(lang=normalize_language(attrs["lang"]))  # lang="" means "unknown"
    if is_true(attrs.get("aria-hidden")):
        inner = inner._replace(hidden=True)
    if "data-alttext-ignore" in attrs:
        inner = inner._replace(ignored=True)
    wrap = name in ("picture", "a") and (scope.ignore_wrap or _ignore_comment_before(doc, element))
    if wrap != scope.ignore_wrap:
        inner = inner._replace(ignore_wrap=wrap)
    return inner


def _ignore_comment_before(doc: Document, element: Element) -> bool:
    """Is the previous sibling, skipping whitespace-only text, an `<!-- alttext-ignore -->`?"""
    comment = doc.comment_before(element)
    return comment is not None and bool(_IGNORE_COMMENT.match(comment.strip(ASCII_SPACE)))


# --- one image --------------------------------------------------------------------------------


def _locate(text: str, name: str, offset: int) -> StartTag | None:
    """The start tag that html.parser read at `offset`, re-read from the text."""
    start = min(offset, len(text))
    if _starts_tag(text, start, name):
        return parse_start_tag(text, start)
    # html.parser's position should always be the "<"; if a parser quirk ever puts it elsewhere,
    # take the next start tag of that name rather than splice attributes at the wrong place.
    match = _tag_pattern(name).search(text, start)
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
    lines: LineCounter,
    texts: _Texts,
    scan: _Scan,
    found: _Found,
    start_tag: StartTag,
    page_title: str | None,
) -> ImageRef:
    syntax, element = found.syntax, found.element
    scope = _scope(scan.document, found.ancestors)
    attrs = first_values(start_tag.attrs)
    has_alt = syntax in (Syntax.HTML_IMG, Syntax.HTML_INPUT_IMAGE, Syntax.HTML_AREA)
    alt_attr = start_tag.attr("alt") if has_alt else None
    alt, alt_span, alt_quote = None, None, '"'
    if alt_attr is not None:
        # A bare `alt` means alt="" but has no value to splice: alt_span stays None while alt is
        # "", and the rewriter replaces the whole attribute (its name_span in `attrs`) instead.
        alt = alt_attr.value if alt_attr.value is not None else ""
        alt_span, alt_quote = alt_attr.value_span, alt_attr.quote
    name, name_from = _accessible_name(syntax, element, attrs, alt, scope, scan, texts)
    role = role_of(attrs.get("role"))
    presentational = syntax is Syntax.HTML_IMG and (alt == "" or role in PRESENTATIONAL_ROLES)
    decorative = (
        is_true(attrs.get("aria-hidden"))
        or scope.hidden
        or (presentational and name_from not in ("aria-label", "aria-labelledby"))
    )
    comment_ignored = _ignore_comment_before(scan.document, element)
    ignored = comment_ignored or scope.ignore_wrap or scope.ignored or "data-alttext-ignore" in attrs
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
        context=_context(element, attrs, scope, found.heading, texts, page_title),
    )


def _accessible_name(
    syntax: Syntax,
    element: Element,
    attrs: dict[str, str | None],
    alt: str | None,
    scope: _Scope,
    scan: _Scan,
    texts: _Texts,
) -> tuple[str | None, str | None]:
    """(name, where it came from), computed statically in accname / HTML-AAM order."""
    labelledby = attrs.get("aria-labelledby")
    if labelledby:
        parts = [_referenced_text(scan.ids.get(ref), texts) for ref in labelledby.split()]
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
        label = _label_text(element, attrs, scope, scan, texts)
        if label:
            return label, "label"
    if syntax is Syntax.HTML_SVG or (syntax is Syntax.HTML_ROLE_IMG and scope.foreign):
        # In SVG a <title> child names the element it is in, whatever that element is.
        title = next((child for child in scan.document.children(element) if child.name == "title"), None)
        svg_title = texts.get(title, None, _NAME_LIMIT)
        if svg_title:
            return svg_title, "svg-title"
    title_name = _collapse(attrs.get("title"))
    if title_name:
        return title_name, "title"
    return None, None


def _referenced_text(target: Element | None, texts: _Texts) -> str | None:
    """What an aria-labelledby target contributes: its aria-label, an image's alt, or its text."""
    if target is None:
        return None
    attrs = target.attrs
    label = _collapse(attrs.get("aria-label"))
    if label:
        return label
    if target.name == "img":
        return _collapse(attrs.get("alt")) or None
    return texts.get(target, None, _NAME_LIMIT)


def _label_text(
    element: Element, attrs: dict[str, str | None], scope: _Scope, scan: _Scan, texts: _Texts
) -> str | None:
    """Text of the <label>s of an input: `for=` its id (if it is the first with that id), or wrapping it."""
    labels: list[Element] = []
    element_id = attrs.get("id")
    if element_id and scan.ids.get(element_id) is element:
        labels.extend(scan.labels_for.get(element_id, ()))
    wrapping = scope.label
    if wrapping is not None and "for" not in wrapping.attrs and wrapping not in labels:
        labels.append(wrapping)
    parts = [texts.get(label, element, _NAME_LIMIT) for label in labels]
    return _collapse(" ".join(part for part in parts if part)) or None


def _context(
    element: Element,
    attrs: dict[str, str | None],
    scope: _Scope,
    heading: Element | None,
    texts: _Texts,
    page_title: str | None,
) -> Context:
    host = scope.caption_host
    caption = None
    if host is not None and host.name == "figure":
        figcaption = next((child for child in texts.doc.children(host) if child.name == "figcaption"), None)
        caption = texts.get(figcaption, element, _CONTEXT_LIMIT)
    elif host is not None:
        caption = texts.get(host, element, _CONTEXT_LIMIT)
    own_lang = attrs.get("lang")
    lang = scope.lang if own_lang is None else normalize_language(own_lang)
    return Context(
        page_title=page_title,
        heading=texts.get(heading, element, _CONTEXT_LIMIT),
        paragraph=texts.get(scope.block, element, _CONTEXT_LIMIT),
        caption=caption,
        link_text=texts.get(scope.control, element, _CONTEXT_LIMIT),
        link_href=scope.link.attrs.get("href") if scope.link is not None else None,
        in_link=scope.link is not None,
        in_button=scope.button is not None,
        lang=lang,
    )


# --- text -------------------------------------------------------------------------------------


class _Texts:
    """Whitespace-collapsed text of elements, memoised: many images share one block or heading."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._memo: dict[tuple[int, int], str | None] = {}

    def get(self, element: Element | None, leave_out: Element | None, limit: int) -> str | None:
        """Text of `element` without `leave_out`'s (the image's own text), at most `limit` chars."""
        if element is None:
            return None
        if leave_out is not None and self.doc.has_contents(leave_out):
            return self._text(element, leave_out, limit)  # rare: <svg>, <span role=img>
        key = (element.start, limit)
        if key not in self._memo:
            self._memo[key] = self._text(element, None, limit)
        return self._memo[key]

    def _text(self, element: Element, leave_out: Element | None, limit: int) -> str | None:
        raw = self.doc.text(element, leave_out, 4 * limit + 200, _NODE_BUDGET, _skipped(element.name), _SPACED)
        return shorten(raw, limit) or None


@cache
def _skipped(name: str) -> frozenset[str]:
    """Elements whose text is not part of a `name` element's: never-shown content, and the
    elements at which browsers end a `name` element that html.parser left open."""
    return _NO_TEXT | _IMPLIED_END.get(name, frozenset())


# --- small helpers ----------------------------------------------------------------------------


def _collapse(value: str | None) -> str:
    return " ".join(value.split()) if value else ""
