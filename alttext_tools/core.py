"""The data every stage shares: images found in a source, and findings about them.

Offsets are indices into the *decoded* text of a file (`scan.sources.SourceText.text`, BOM removed,
newlines untouched), so the rewriter can splice alt values and re-encode the rest byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, runtime_checkable

from alttext_tools.text import normalize_alt


class Syntax(str, Enum):
    """How an image is written in its source; decides how its alt text is edited."""

    HTML_IMG = "html-img"
    HTML_INPUT_IMAGE = "html-input-image"
    HTML_AREA = "html-area"
    HTML_SVG = "html-svg"  # <svg role="img">: named by <title>/aria, not by alt
    HTML_ROLE_IMG = "html-role-img"  # any other element with role="img"
    MD_INLINE = "md-inline"  # ![alt](src "title")
    MD_REFERENCE = "md-reference"  # ![alt][ref], ![ref][], ![ref]
    RST_IMAGE = "rst-image"  # .. image:: src
    RST_FIGURE = "rst-figure"  # .. figure:: src
    RST_SUBSTITUTION = "rst-substitution"  # .. |name| image:: src
    MYST_IMAGE = "myst-image"  # ```{image} src  /  :::{image} src
    MYST_FIGURE = "myst-figure"  # ```{figure} src  /  :::{figure} src


DIRECTIVE_SYNTAXES = frozenset(
    {Syntax.RST_IMAGE, Syntax.RST_FIGURE, Syntax.RST_SUBSTITUTION, Syntax.MYST_IMAGE, Syntax.MYST_FIGURE}
)


class AltKind(str, Enum):
    """Where the alt value lives in the source, i.e. which escaping rules apply to it."""

    HTML_ATTR = "html-attr"  # the value of an alt="..." attribute
    MD_LABEL = "md-label"  # the text between `![` and `]`
    MD_ATTR_LIST = "md-attr-list"  # alt="..." inside a trailing `{ ... }` attr_list
    RST_OPTION = "rst-option"  # the value of a reST directive's `:alt:` option (literal text)
    MYST_OPTION = "myst-option"  # the value of a MyST directive's `:alt:` option (a YAML-like scalar)


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"

    @property
    def rank(self) -> int:
        return {"warning": 1, "error": 2}[self.value]


@dataclass(frozen=True)
class Span:
    """Half-open [start, end) character range in the decoded source text."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad span {self.start}..{self.end}")


@dataclass(frozen=True)
class Attr:
    """One attribute of an HTML start tag as written. `value` is entity-decoded; spans are raw."""

    name: str  # lower-cased
    value: str | None  # None for a bare attribute (`<img ismap>`)
    name_span: Span
    value_span: Span | None  # inside the quotes when quoted
    quote: str  # '"', "'", or '' (unquoted or bare)


@dataclass(frozen=True)
class Context:
    """Text around an image that helps judge or write its alt. Every field is optional."""

    page_title: str | None = None
    heading: str | None = None  # nearest heading above the image
    paragraph: str | None = None  # text of the block the image sits in, image removed
    caption: str | None = None  # <figcaption>, or the table cell's other text
    link_text: str | None = None  # text of the enclosing link/button, image removed
    link_href: str | None = None  # destination when the image is inside a link
    in_link: bool = False
    in_button: bool = False
    lang: str | None = None  # BCP 47 tag from <html lang>, front matter, or a language folder


@dataclass(frozen=True)
class ImageRef:
    """One element that needs a text alternative, as found in one source file."""

    path: str  # as displayed to the user (relative to the cwd where possible)
    syntax: Syntax
    span: Span  # the whole element: `<img ...>` start tag, or `![...](...)` / `![...][...]`
    line: int  # 1-based line of span.start
    column: int  # 1-based column (in characters) of span.start
    source: str  # the element as written, shortened for display
    src: str | None  # image URL as written (entities decoded for HTML), None if absent
    alt: str | None  # current alt value (None = no alt at all); Markdown: rendered plain text
    alt_kind: AltKind | None  # where `alt` lives; None for syntaxes that have no alt (svg, role=img)
    alt_span: Span | None  # raw span of the alt value; None when there is no alt attribute yet
    alt_quote: str = '"'  # quote around an HTML/attr_list alt value; '' = unquoted
    attrs: tuple[Attr, ...] = ()  # HTML start-tag attributes, in source order
    name: str | None = None  # accessible name computed statically (None = no name)
    name_from: str | None = None  # "alt" | "aria-label" | "aria-labelledby" | "title" | "svg-title" | "label"
    decorative: bool = False  # explicitly presentational (alt="", role=none/presentation, aria-hidden, marker)
    decorative_marker: bool = False  # Markdown: an explicit decorative marker was written
    ignored: bool = False  # an ignore comment or data-alttext-ignore applies
    ref_label: str | None = None  # Markdown reference images: the reference label
    ref_form: str | None = None  # "full" ![alt][ref] | "collapsed" ![ref][] | "shortcut" ![ref]
    in_html_block: bool = False  # HTML <img> found inside a Markdown document
    context: Context = field(default_factory=Context)

    @property
    def is_markdown_syntax(self) -> bool:
        return self.syntax in (Syntax.MD_INLINE, Syntax.MD_REFERENCE)

    @property
    def is_directive_syntax(self) -> bool:
        """An image directive (reST or MyST): its alt is the `:alt:` option."""
        return self.syntax in DIRECTIVE_SYNTAXES


@dataclass(frozen=True)
class Finding:
    """A rule's verdict on one image."""

    rule: str
    severity: Severity
    message: str
    image: ImageRef

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.image.path, self.image.line, self.image.column, self.rule)


@dataclass(frozen=True)
class FileError:
    """A file that could not be scanned (unreadable, binary, undecodable...). One line for the user."""

    path: str
    message: str
    line: int | None = None


INFORMATIVE = "informative"
FUNCTIONAL = "functional"


# --- roles ---------------------------------------------------------------------------------------


def image_role(image: ImageRef) -> str:
    """'informative'; 'functional:<link target>' for an image inside a link (its link text when
    there is no href); 'functional:button:<button text>' inside a button.

    Two occurrences of the same image bytes share a generated alt only when their roles are
    equal: the same picture linking to two different pages needs two different alts. The role is
    part of the alt-text cache key.
    """
    ctx = image.context
    if ctx.in_link:
        return f"{FUNCTIONAL}:{ctx.link_href or ctx.link_text or ''}"
    if ctx.in_button:
        return f"{FUNCTIONAL}:button:{ctx.link_text or ''}"
    return INFORMATIVE


def is_functional(role: str) -> bool:
    return role.startswith(FUNCTIONAL)


ImageKey = tuple[str, int, int]  # (path as displayed, 1-based line, 1-based column)


def image_key(image: ImageRef) -> ImageKey:
    """How decisions name an image: its position in the file as scanned."""
    return (norm_path(image.path), image.line, image.column)


def norm_path(path: str) -> str:
    """One spelling per path, so `./docs/a.md` and `docs/a.md` name the same file."""
    return os.path.normpath(path).replace(os.sep, "/")


@dataclass(frozen=True)
class Decision:
    """The alt text to write for one image, or `decorative` (written as an empty alt).

    `alt` is normalised to one line on construction (`text.normalize_alt`); a
    non-decorative decision whose text normalises to nothing is refused, so a model that answers
    with whitespace can never mark an image decorative by accident.
    """

    alt: str
    decorative: bool = False
    origin: str = field(default="", compare=False)  # who decided: "file", "model"... (messages only)

    def __post_init__(self) -> None:
        if self.decorative:
            if self.alt:
                raise ValueError("a decorative decision has no alt text")
            return
        alt = normalize_alt(self.alt)
        if not alt:
            raise ValueError("alt text is empty after removing whitespace and control characters")
        object.__setattr__(self, "alt", alt)

    @classmethod
    def text(cls, alt: str, origin: str = "") -> Decision:
        return cls(alt, False, origin)

    @classmethod
    def mark_decorative(cls, origin: str = "") -> Decision:
        return cls("", True, origin)


@runtime_checkable
class Provider(Protocol):
    """Decides alt text for images that need it. Images it has no answer for are left out."""

    def decide(self, images: Sequence[ImageRef]) -> Mapping[ImageKey, Decision]: ...


@dataclass(frozen=True)
class InternalError:
    """An exception in our own code while handling `path` (None: outside any one file)."""

    path: str | None
    message: str
