"""One entry point for scanning a file or a text, whatever its syntax (and Markdown dialect)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alttext_tools.core import FileError, ImageRef
from alttext_tools.extras import MissingExtraError
from alttext_tools.scan.dialects import COMMONMARK, Dialect, DialectResolver
from alttext_tools.scan.sources import SourceError, SourceText, read_source

Kind = Literal["html", "markdown", "rst", "myst"]
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
RST_SUFFIXES = (".rst", ".rest")
SUFFIXES = HTML_SUFFIXES + MARKDOWN_SUFFIXES + RST_SUFFIXES
# Scanned only where a Sphinx project's `source_suffix` names them (scan/sphinx_conf.py).
EXTRA_SUFFIXES = (".txt",)
NOT_A_SOURCE_KIND = "not an HTML, Markdown or reST file"
NOT_A_SOURCE = f"{NOT_A_SOURCE_KIND}, so it was not checked (alttext reads {', '.join(SUFFIXES)})"


def kind_of(path: Path | str) -> Kind | None:
    """The syntax of a file by its suffix; `.txt` is reStructuredText (or Markdown) only where the
    Sphinx configuration above it lists it in `source_suffix`."""
    suffix = Path(path).suffix.lower()
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in RST_SUFFIXES:
        return "rst"
    if suffix in EXTRA_SUFFIXES:
        from alttext_tools.scan.sphinx_conf import sphinx_kind

        return sphinx_kind(Path(path))
    return None


def scan_text(text: str, path: str, kind: Kind, dialect: Dialect | None = None) -> list[ImageRef]:
    """Every image-like element in `text`, in source order; Markdown in `dialect` (default
    CommonMark: `myst` goes to the MyST reader). Pure: no I/O."""
    if kind == "html":
        from alttext_tools.scan.html import scan_html

        return scan_html(text, path)
    if kind == "rst":
        from alttext_tools.scan.rst import scan_rst

        return scan_rst(text, path)
    if kind == "myst" or (kind == "markdown" and dialect is not None and dialect.name == "myst"):
        from alttext_tools.scan.myst import scan_myst

        return scan_myst(text, path)
    from alttext_tools.scan.markdown import scan_markdown

    return scan_markdown(text, path, dialect or COMMONMARK)


_default_resolver: DialectResolver | None = None


def dialect_of(path: Path) -> Dialect:
    """The dialect `dialect = "auto"` reads a Markdown file in, for callers without a run of their
    own (`check_files` resolves with the project's setting)."""
    global _default_resolver
    if _default_resolver is None:
        _default_resolver = DialectResolver()
    return _default_resolver(path)


@dataclass(frozen=True)
class FileScan:
    """One file's scan: its text and images, or the error that kept it from being scanned."""

    path: str
    source: SourceText | None
    images: list[ImageRef]
    error: FileError | None = None
    dialect: Dialect | None = None  # what a Markdown file was read as (None for other syntaxes)


def scan_file(path: Path, display: str | None = None, dialect: Dialect | None = None) -> FileScan:
    """Read, decode and scan one file; a bad file becomes a FileError, never an exception.
    Markdown is read in `dialect`, by default the one `dialect_of` finds for the file."""
    shown = display if display is not None else str(path)
    kind = kind_of(path)
    if kind is None:
        return FileScan(shown, None, [], FileError(shown, NOT_A_SOURCE))
    try:
        source = read_source(path)
    except SourceError as exc:
        return FileScan(shown, None, [], FileError(shown, str(exc)))
    chosen = (dialect or dialect_of(path)) if kind == "markdown" else None
    try:
        images = scan_text(source.text, shown, kind, chosen)
    except MissingExtraError as exc:  # e.g. MyST without myst-parser: this file, one line
        return FileScan(shown, None, [], FileError(shown, str(exc)))
    return FileScan(shown, source, images, dialect=chosen)
