"""Find every image in a reStructuredText document, with exact offsets into the text as given.

docutils' own parser decides what is an image and on which line its directive starts;
`scan.directives` then reads that directive's lines for the offsets of its `:alt:` value. How
images in directives docutils does not know (Sphinx's `only`, tabs, cards...) are still found,
and why an empty `:alt:` counts as decorative: docs/scanning.md.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from alttext_tools.core import AltKind, Attr, Context, ImageRef, Span, Syntax
from alttext_tools.scan.directives import DirectiveBlock, read_directive
from alttext_tools.scan.positions import LineIndex, shorten
from alttext_tools.text import language_from_path

if TYPE_CHECKING:
    from docutils import nodes

IMAGE_DIRECTIVES = frozenset({"image", "figure"})
# Directives docutils does not know whose content is not reStructuredText (code, math, diagrams,
# data): images written there are examples, not images. The content of any other unknown
# directive (Sphinx's `only`, `versionadded`, domain objects, sphinx-design cards and tabs...) is
# read as reST, as Sphinx reads it.
LITERAL_DIRECTIVES = frozenset(
    {
        "code-block",
        "sourcecode",
        "literalinclude",
        "highlight",
        "code-cell",
        "testcode",
        "testsetup",
        "testcleanup",
        "testoutput",
        "doctest",
        "ipython",
        "jupyter-execute",
        "jupyter-input",
        "jupyter-output",
        "prompt",
        "productionlist",
        "graphviz",
        "graph",
        "digraph",
        "mermaid",
        "plantuml",
        "uml",
        "blockdiag",
        "seqdiag",
        "actdiag",
        "nwdiag",
        "kroki",
        "tikz",
        "autosummary",
        "toctree",
        "tabularcolumns",
        "bibliography",
        "eval-rst",
    }
)
_IGNORE = re.compile(r"alttext-ignore(?:\Z|[\s:])")
_IGNORE_FILE = "alttext-ignore-file"
# Worth parsing at all: an image or figure directive, or raw HTML that could hold an <img>.
_HINT = re.compile(r"\b(?:image|figure)[ ]?::|<(?:img|input|area|svg)\b|\brole\s*=", re.IGNORECASE)
_HTML_HINT = re.compile(r"<(?:img|input|area|svg)\b|\brole\s*=", re.IGNORECASE)
_UNKNOWN = re.compile(r'(?:.*?\) )?Unknown directive type "([^"]+)"')
# Line breaks docutils (str.splitlines) counts that "\n"-based line numbers do not: turned into
# spaces (same length) before parsing, so docutils' line numbers are this text's own.
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]|\r(?!\n)")
MAX_DEPTH = 8  # unknown directives nested in unknown directives: read this deep

_LOCK = threading.Lock()
_SETTINGS: Any = None


def scan_rst(text: str, path: str) -> list[ImageRef]:
    """Every image in a reStructuredText text, in source order. Pure: no I/O (file insertion off)."""
    if not _HINT.search(text):
        return []
    return _Scan(text, path).run()


def _settings() -> Any:
    """docutils settings for a quiet, side-effect free parse, made once (making them is slow)."""
    global _SETTINGS
    with _LOCK:
        if _SETTINGS is None:
            from docutils.frontend import get_default_settings
            from docutils.parsers.rst import Parser

            settings = get_default_settings(Parser)
            settings.report_level = 5  # nothing printed
            settings.halt_level = 5  # never raise on a bad document
            settings.warning_stream = False
            settings.file_insertion_enabled = False  # no `include`, no `raw :file:`/`:url:`
            settings.raw_enabled = True  # raw HTML is read (never rendered)
            settings.character_level_inline_markup = False
            _SETTINGS = settings
        return _SETTINGS


def parse_rst(text: str, path: str) -> nodes.document:
    """The docutils doctree of `text` (parser only: no transforms, nothing read from disk)."""
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document

    document = new_document(path, _settings())
    Parser().parse(_OTHER_BREAKS.sub(" ", text), document)
    return document


@dataclass
class _Scan:
    text: str
    path: str
    depth: int = 0
    around: Context | None = None  # for a nested scan: the context of the directive it reads
    _lines: LineIndex | None = field(default=None, init=False)

    @property
    def lines(self) -> LineIndex:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines

    def run(self) -> list[ImageRef]:
        from docutils import nodes

        document = parse_rst(self.text, self.path)
        ignore_file = any(_IGNORE_FILE in c.astext() for c in document.findall(nodes.comment))
        page_title = self.around.page_title if self.around else _page_title(document)
        lang = language_from_path(self.path)
        found: list[ImageRef] = []
        for node in document.findall(lambda n: isinstance(n, (nodes.image, nodes.raw, nodes.system_message))):
            if isinstance(node, nodes.image):
                image = self._image(node, page_title, lang)
                if image is not None:
                    found.append(image)
            elif isinstance(node, nodes.raw):
                found.extend(self._raw(node, page_title, lang))
            elif isinstance(node, nodes.system_message):
                found.extend(self._unknown(node, page_title, lang))
        if ignore_file:
            found = [replace(image, ignored=True) for image in found]
        unique = {image.span.start: image for image in found}  # a raw block's images are found once
        return sorted(unique.values(), key=lambda image: image.span.start)

    # ----------------------------------------------------------------------- image directives

    def _line_start(self, line: int | None) -> int | None:
        starts = self.lines.starts
        if line is None or not 1 <= line <= len(starts):
            return None
        return starts[line - 1]

    def _image(self, node: nodes.image, page_title: str | None, lang: str | None) -> ImageRef | None:
        from docutils import nodes

        holder = node.parent
        link: nodes.reference | None = None
        if isinstance(holder, nodes.reference):
            link, holder = holder, holder.parent
        if isinstance(holder, nodes.substitution_definition):
            syntax = Syntax.RST_SUBSTITUTION
        elif isinstance(holder, nodes.figure):
            syntax = Syntax.RST_FIGURE
        else:
            syntax = Syntax.RST_IMAGE
        line = node.line or (holder.line if holder is not None else None)
        start = self._line_start(line)
        names = frozenset({"image"}) if syntax is Syntax.RST_SUBSTITUTION else IMAGE_DIRECTIVES
        block = read_directive(self.text, start, names) if start is not None else None
        alt = node.get("alt")
        attrs: tuple[Attr, ...]
        if block is None:
            # Not where docutils says (a table cell, say): reported at its line, never edited.
            at = start if start is not None else 0
            end = self.text.find("\n", at)
            span = Span(at, len(self.text) if end < 0 else end)
            alt_span, attrs = None, ()
        else:
            span = Span(block.start, block.header_end)
            option = block.option("alt")
            alt_span = None
            if option is not None and block.exact and option.text.strip() == (alt or ""):
                alt_span = option.value
            attrs = tuple(Attr(o.name, o.text, o.marker, o.value, "") for o in block.options if o.name != "alt")
        line_no, column = self.lines.line_col(span.start)
        caption = None
        if isinstance(holder, nodes.figure):
            captions = [c.astext() for c in holder.findall(nodes.caption)]
            caption = " ".join(" ".join(captions).split()) or None
        href = link.get("refuri") if link is not None else None
        context = Context(
            page_title=page_title,
            heading=self._heading(node),
            caption=caption,
            in_link=link is not None,
            link_href=href if isinstance(href, str) else None,
            link_text="" if link is not None else None,
            lang=lang,
        )
        if self.around is not None:
            context = _merge(context, self.around)
        name = " ".join(alt.split()) if alt else None
        uri = node.get("uri")
        return ImageRef(
            path=self.path,
            syntax=syntax,
            span=span,
            line=line_no,
            column=column,
            source=shorten(self.text[span.start : span.end]),
            src=uri if isinstance(uri, str) else None,
            alt=alt,
            alt_kind=AltKind.RST_OPTION,
            alt_span=alt_span,
            alt_quote="",
            attrs=attrs,
            name=name or None,
            name_from="alt" if name else None,
            decorative=alt == "",
            ignored=_ignored_before(holder if syntax is not Syntax.RST_IMAGE else (link or node)),
            context=context,
        )

    def _heading(self, node: nodes.Node) -> str | None:
        from docutils import nodes

        parent = node.parent
        while parent is not None:
            if isinstance(parent, nodes.section) and parent.children and isinstance(parent[0], nodes.title):
                return " ".join(parent[0].astext().split()) or None
            parent = parent.parent
        return self.around.heading if self.around else None

    # ----------------------------------------------------------------------- raw HTML

    def _raw(self, node: nodes.raw, page_title: str | None, lang: str | None) -> list[ImageRef]:
        if "html" not in str(node.get("format", "")).lower().split() or not _HTML_HINT.search(node.astext()):
            return []
        start = self._line_start(node.line)
        block = read_directive(self.text, start, frozenset({"raw"})) if start is not None else None
        if block is None or block.content is None:
            return []
        from alttext_tools.scan.html import scan_html

        masked = _masked(self.text, block.content)
        context = Context(page_title=page_title, heading=self._heading(node), lang=lang)
        if self.around is not None:
            context = _merge(context, self.around)
        ignored = _ignored_before(node)
        return [
            replace(
                image,
                in_html_block=True,
                ignored=image.ignored or ignored,
                source=shorten(self.text[image.span.start : image.span.end]),
                context=_merge(image.context, context),
            )
            for image in scan_html(masked, self.path)
        ]

    # ----------------------------------------------------------------------- unknown directives

    def _unknown(self, message: nodes.system_message, page_title: str | None, lang: str | None) -> Iterator[ImageRef]:
        """Images inside a directive docutils does not know, read as reST (unless it is a
        literal one): the directive's content is scanned again, alone, at its own offsets."""
        match = _UNKNOWN.match(message.astext().partition("\n")[0]) if message.get("level") == 3 else None
        if match is None or self.depth >= MAX_DEPTH or match.group(1).lower() in LITERAL_DIRECTIVES:
            return
        start = self._line_start(message.get("line"))
        block = read_directive(self.text, start) if start is not None else None
        if block is None:
            return
        second_line = self.text.find("\n", block.start) + 1
        if not 0 < second_line < block.end or not _HINT.search(self.text, second_line, block.end):
            return
        body = Span(second_line, block.end)  # options and arguments there read as a harmless field list
        around = Context(page_title=page_title, heading=self._heading(message), lang=lang)
        if self.around is not None:
            around = _merge(around, self.around)
        nested = _Scan(_masked(self.text, body), self.path, self.depth + 1, around)
        nested._lines = self.lines
        ignored = _ignored_before(message)
        for image in nested.run():
            yield replace(
                image,
                source=shorten(self.text[image.span.start : image.span.end]),
                ignored=image.ignored or ignored,
            )


def _masked(text: str, keep: Span) -> str:
    """`text` with every character outside `keep` blanked (line breaks kept): same offsets."""
    return _blank(text[: keep.start]) + text[keep.start : keep.end] + _blank(text[keep.end :])


_NOT_NEWLINES = re.compile(r"[^\r\n]+")


def _blank(text: str) -> str:
    return _NOT_NEWLINES.sub(lambda m: " " * (m.end() - m.start()), text)


def _page_title(document: nodes.document) -> str | None:
    from docutils import nodes

    for title in document.findall(nodes.title):
        text = " ".join(title.astext().split())
        if text:
            return text
    return None


def _ignored_before(node: nodes.Node | None) -> bool:
    """An `.. alttext-ignore` comment right before the element (its previous sibling)."""
    from docutils import nodes

    if node is None or node.parent is None:
        return False
    index = node.parent.index(node)
    if index == 0:
        return False
    before = node.parent[index - 1]
    return isinstance(before, nodes.comment) and bool(_IGNORE.match(before.astext().strip()))


def _merge(own: Context, around: Context) -> Context:
    """`own`, with what it lacks taken from `around`."""
    changes = {name: getattr(around, name) for name in _CONTEXT_FIELDS if not getattr(own, name)}
    changes = {k: v for k, v in changes.items() if v}
    return replace(own, **changes) if changes else own


_CONTEXT_FIELDS = ("page_title", "heading", "paragraph", "caption", "link_text", "link_href", "lang")


def directive_at(text: str, image: ImageRef) -> DirectiveBlock | None:
    """The image directive an ImageRef from `scan_rst` starts at (None if the text no longer has one)."""
    line_start = text.rfind("\n", 0, image.span.start) + 1
    names = frozenset({"image"}) if image.syntax is Syntax.RST_SUBSTITUTION else IMAGE_DIRECTIVES
    block = read_directive(text, line_start, names)
    return block if block is not None and block.start == image.span.start else None
