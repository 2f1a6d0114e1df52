"""html.parser's events as a flat, document-order log of a page, nested as a tree would nest them.

No tree is built: each node is appended to one list, and an element records the log indices of its
start and of its end, so the text of an element, its children and its previous sibling are read
from a slice of the log only when the scanner asks (for the few elements around an image). The
nesting follows BeautifulSoup's html.parser builder, event for event (design: docs/scanning.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

from alttext_tools.errors import AltTextError

ASCII_SPACE = "\t\n\f\r "

# Elements that never have content: closed as soon as they open, and a later stray end tag of the
# same name is dropped, once per such element.
VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "keygen",
        "link",
        "menuitem",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "basefont",
        "bgsound",
        "command",
        "frame",
        "image",
        "isindex",
        "nextid",
        "spacer",
    }
)
# Browsers read the content of these as text, but html.parser (before Python 3.13) builds tags
# inside them; an <img> in a <textarea> is not an image. (<title> only outside SVG/MathML.)
RAW_TEXT = frozenset({"textarea", "title", "xmp", "iframe", "noembed", "noframes", "plaintext"})
FOREIGN = frozenset({"svg", "math"})
_PRESERVE = frozenset({"pre", "textarea"})  # whitespace-only text inside is kept as written
_FLAGGED = RAW_TEXT | FOREIGN | _PRESERVE


class Element:
    """One element: its name, its attributes as html.parser read them, and where it is in the log."""

    __slots__ = ("_attrs", "end", "name", "raw_attrs", "start")
    end: int  # log index of its end marker: set when it closes, and every element has closed by
    # the time a Document is built
    _attrs: dict[str, str]

    def __init__(self, name: str, raw_attrs: list[tuple[str, str | None]], start: int) -> None:
        self.name = name  # lower-cased
        self.raw_attrs = raw_attrs  # (name, value) in source order; value None for a bare attribute
        self.start = start  # log index of this element

    @property
    def attrs(self) -> dict[str, str]:
        """name -> value; the first of duplicate attributes wins, a bare attribute is ""."""
        try:
            return self._attrs
        except AttributeError:
            pass
        attrs: dict[str, str] = {}
        for key, value in self.raw_attrs:
            if key not in attrs:
                attrs[key] = "" if value is None else value
        self._attrs = attrs
        return attrs

    def __repr__(self) -> str:
        return f"<{self.name} @{self.start}>"


class Special:
    """A node that is not shown as text: a comment, doctype, CDATA section, or processing instruction."""

    __slots__ = ("data", "kind")

    def __init__(self, kind: str, data: str) -> None:
        self.kind = kind
        self.data = data


COMMENT = "comment"
# Ends a run of text without being a node: a stray end tag that closes nothing.
SPLIT = Special("split", "")

Item = str | Element | Special  # text, an element's start or end marker, or a special node


class Document:
    """A parsed page: the log, and where raw text and preserved whitespace are."""

    def __init__(self, log: list[Item], raw_regions: list[Element], preserving: list[Element]) -> None:
        self.log = log
        self.raw_regions = raw_regions  # elements whose content browsers read as text
        self.preserving = preserving  # <pre> and <textarea>

    def children(self, element: Element) -> Iterator[Element]:
        """The child elements of `element`, in order."""
        log, i = self.log, element.start + 1
        while i < element.end:
            item = log[i]
            if isinstance(item, Element):
                yield item
                i = item.end + 1
            else:
                i += 1

    def has_contents(self, element: Element) -> bool:
        return any(item is not SPLIT for item in self.log[element.start + 1 : element.end])

    def in_raw_text(self, index: int) -> bool:
        return any(region.start < index < region.end for region in self.raw_regions)

    def comment_before(self, element: Element) -> str | None:
        """The comment that is `element`'s previous sibling, skipping whitespace-only text."""
        log, i = self.log, element.start - 1
        while i >= 0:
            item = log[i]
            if type(item) is str:
                if item.strip(ASCII_SPACE):
                    return None
            elif item is not SPLIT:
                # An element here is the parent's start or the end of a previous sibling.
                return item.data if isinstance(item, Special) and item.kind == COMMENT else None
            i -= 1
        return None

    def texts(self) -> Iterator[tuple[int, str]]:
        """Every run of text as one string, with the log index where it starts."""
        log, i, n = self.log, 0, len(self.log)
        while i < n:
            if type(log[i]) is str:
                j = i + 1
                while j < n and type(log[j]) is str:
                    j += 1
                yield i, "".join(log[i:j])  # type: ignore[arg-type]
                i = j
            else:
                i += 1

    def text(
        self,
        element: Element,
        leave_out: Element | None,
        limit_chars: int,
        node_budget: int,
        skip: frozenset[str],
        spaced: frozenset[str],
    ) -> str:
        """The text of `element` as written (not collapsed), without `leave_out`'s and without the
        elements named in `skip`; elements named in `spaced` are set apart by spaces.

        Stops once more than `limit_chars` characters of text are collected or `node_budget` nodes
        are looked at (each text run, element, special node and element break is one node), so a
        huge unclosed block costs no more than a small one. A whitespace-only run outside <pre> and
        <textarea> counts as one character.
        """
        log = self.log
        parts: list[str] = []
        size, budget = 0, node_budget
        keep = sum(1 for p in self.preserving if p.start <= element.start < p.end)
        i, end = element.start + 1, element.end
        while i < end:
            item = log[i]
            if type(item) is str:
                j = i + 1
                while j < end and type(log[j]) is str:
                    j += 1
                if size > limit_chars or budget <= 0:
                    break
                budget -= 1
                run = item if j == i + 1 else "".join(log[i:j])  # type: ignore[arg-type]
                if not keep and not run.strip(ASCII_SPACE):
                    run = "\n" if "\n" in run else " "
                parts.append(run)
                size += len(run)
                i = j
            elif isinstance(item, Element):
                name = item.name
                if item.start == i:
                    if size > limit_chars or budget <= 0:
                        break
                    budget -= 1
                    if item is leave_out or name in skip:
                        i = item.end + 1
                        continue
                    if name in spaced:
                        parts.append(" ")
                    if name in _PRESERVE:
                        keep += 1
                elif name in spaced or name in _PRESERVE:  # the end of an element entered above
                    if name in _PRESERVE:
                        keep -= 1
                    if name in spaced:
                        if size > limit_chars or budget <= 0:
                            break
                        budget -= 1
                        parts.append(" ")
                i += 1
            else:
                if item is not SPLIT:
                    if size > limit_chars or budget <= 0:
                        break
                    budget -= 1
                i += 1
        return "".join(parts)


class Rejected(AltTextError):
    """html.parser gave up on the markup."""


class TreeBuilder(HTMLParser):
    """Feeds a whole text through html.parser and logs its events, nested as BeautifulSoup's
    html.parser builder nests them: an end tag closes the most recent open element of its name and
    everything opened after it (nothing if none is open); void elements close at once.

    Subclasses see the elements they `watch`, and every element with attributes, as it opens
    (outside raw text), in `started`. This runs once per element of every page checked, so the
    handlers are written for speed.
    """

    watch: frozenset[str] = frozenset()  # element names to pass to `started` even without attributes

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.log: list[Item] = []
        # Text is the most frequent event and needs no work: log it without a Python call.
        self.handle_data = self.log.append  # type: ignore[method-assign,assignment]
        self.open: list[Element] = []  # the open elements, outermost first
        self._open_counts: dict[str, int] = {}
        self._closed_void: dict[str, int] = {}
        self.raw_open: list[Element] = []  # open elements that make their content raw text
        self.foreign_open: list[Element] = []  # open <svg>/<math>
        self._raw_regions: list[Element] = []
        self._preserving: list[Element] = []
        self._base = 0  # offset in the whole text of html.parser's buffer
        self._at = 0  # offset in that buffer of the construct being parsed

    @property
    def source_offset(self) -> int:
        """Where in the text the construct being parsed starts (in `started`: its "<")."""
        return self._base + self._at

    def updatepos(self, i: int, j: int) -> int:
        # html.parser calls this after each construct, with the offset where the next one starts;
        # counting lines and columns there (what the base class does, for getpos) is not needed:
        # only the few image tags ever need a line, and `source_offset` gives it.
        self._at = j
        return j

    def started(self, element: Element) -> None:
        """An element outside raw text opened: one in `watch`, or one with attributes (its
        ancestors are `self.open`)."""

    def build(self, text: str) -> Document:
        try:
            self.feed(text)
            self._base = len(text) - len(self.rawdata)  # the unparsed tail that close() parses
            self.close()
        except AssertionError as exc:  # html.parser's way of rejecting markup it cannot parse
            raise Rejected(str(exc)) from None
        while self.open:
            self._pop()
        return Document(self.log, self._raw_regions, self._preserving)

    # --- html.parser's events -----------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        log = self.log
        element = Element(tag, attrs, len(log))
        log.append(element)
        if (attrs or tag in self.watch) and not self.raw_open:
            self.started(element)
        if tag in VOID:
            element.end = len(log)
            log.append(element)
            closed = self._closed_void
            closed[tag] = closed.get(tag, 0) + 1
            return
        self.open.append(element)
        counts = self._open_counts
        counts[tag] = counts.get(tag, 0) + 1
        if tag in _FLAGGED:
            self._flag(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        log = self.log
        element = Element(tag, attrs, len(log))
        log.append(element)
        if (attrs or tag in self.watch) and not self.raw_open:
            self.started(element)
        element.end = len(log)
        log.append(element)

    def handle_endtag(self, tag: str) -> None:
        closed = self._closed_void.get(tag)
        if closed:  # the end tag of a void element that closed when it opened
            self._closed_void[tag] = closed - 1
            return
        stack = self.open
        if stack and stack[-1].name == tag and tag not in _FLAGGED:  # the usual case, inlined
            element = stack.pop()
            log = self.log
            element.end = len(log)
            log.append(element)
            self._open_counts[tag] -= 1
            return
        if not self._open_counts.get(tag):
            self.log.append(SPLIT)
            return
        pop = self._pop
        while pop() != tag:
            pass

    def handle_comment(self, data: str) -> None:
        self.log.append(Special(COMMENT, data))

    def handle_decl(self, decl: str) -> None:
        self.log.append(Special("declaration", decl))

    def unknown_decl(self, data: str) -> None:
        self.log.append(Special("declaration", data))

    def handle_pi(self, data: str) -> None:
        self.log.append(Special("processing-instruction", data))

    def error(self, message: str) -> None:  # only called by Python versions before 3.10
        raise Rejected(message)

    # --- nesting ------------------------------------------------------------------------------

    def _flag(self, element: Element) -> None:
        name = element.name
        if name in RAW_TEXT and not self.foreign_open:
            self.raw_open.append(element)
            self._raw_regions.append(element)
        if name in FOREIGN:
            self.foreign_open.append(element)
        if name in _PRESERVE:
            self._preserving.append(element)

    def _pop(self) -> str:
        """Close the innermost open element; returns its name."""
        element = self.open.pop()
        name = element.name
        log = self.log
        element.end = len(log)
        log.append(element)
        self._open_counts[name] -= 1
        if name in _FLAGGED:
            if self.raw_open and self.raw_open[-1] is element:
                self.raw_open.pop()
            if self.foreign_open and self.foreign_open[-1] is element:
                self.foreign_open.pop()
        return name
