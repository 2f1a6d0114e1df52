"""One entry point for scanning a file or a text, whatever its syntax (and Markdown dialect)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alttext_tools.core import FileError, ImageRef
from alttext_tools.extras import MissingExtraError
from alttext_tools.scan.dialects import COMMONMARK, Dialect, DialectResolver
from alttext_tools.scan.sources import SourceError, SourceText, decode_file, read_bytes

Kind = Literal["html", "markdown", "rst", "myst"]
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
RST_SUFFIXES = (".rst", ".rest")
SUFFIXES = HTML_SUFFIXES + MARKDOWN_SUFFIXES + RST_SUFFIXES
# Scanned only where a Sphinx project's `source_suffix` names them (scan/sphinx_conf.py).
EXTRA_SUFFIXES = (".txt",)
NOT_A_SOURCE_KIND = "not an HTML, Markdown or reST file"
NOT_A_SOURCE = f"{NOT_A_SOURCE_KIND}, so it was not checked (alttext reads {', '.join(SUFFIXES)})"

# Every image the HTML scanner and the CommonMark and MkDocs readers can report is written with one
# of these (a Markdown image opener, an element that can be an image, or a role attribute): a text
# of those syntaxes without any is not parsed at all. (MyST and reST have directives of their own.)
_MAY_HOLD_IMAGES = re.compile(r"!\[|<(?:im|input|area|svg)|role", re.IGNORECASE)
# The same on UTF-8 bytes with ASCII letters lower-cased: ASCII text is the same bytes in UTF-8, so
# this finds the same files, without decoding and lower-casing the whole text (3x faster).
_MAY_HOLD_IMAGES_UTF8 = re.compile(rb"!\[|<(?:im|input|area|svg)|role")


def kind_of(path: Path | str) -> Kind | None:
    """The syntax of a file by its suffix; `.txt` is reStructuredText (or Markdown) only where the
    Sphinx configuration above it lists it in `source_suffix`."""
    suffix = os.path.splitext(path)[1].lower()
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


def prefiltered(kind: Kind, dialect: Dialect | None) -> bool:
    """Whether `may_hold_images` can tell that a text of this syntax holds no image."""
    return kind == "html" or (kind == "markdown" and (dialect is None or dialect.name != "myst"))


def may_hold_images(text: str, kind: Kind, dialect: Dialect | None = None) -> bool:
    """False when the scanner for `kind` (and `dialect`) could not find an image in `text`."""
    return not prefiltered(kind, dialect) or _MAY_HOLD_IMAGES.search(text) is not None


def scan_text(text: str, path: str, kind: Kind, dialect: Dialect | None = None) -> list[ImageRef]:
    """Every image-like element in `text`, in source order; Markdown in `dialect` (default
    CommonMark: `myst` goes to the MyST reader). Pure: no I/O."""
    if not may_hold_images(text, kind, dialect):
        return []
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


@dataclass(frozen=True)
class LoadedFile:
    """A file read and decoded, ready to scan: `data` is what a result cache keys it by."""

    path: str  # as displayed
    kind: Kind
    data: bytes
    source: SourceText
    dialect: Dialect | None  # Markdown: what it is read as

    def may_hold_images(self) -> bool:
        if prefiltered(self.kind, self.dialect) and self.source.encoding == "utf-8":
            return _MAY_HOLD_IMAGES_UTF8.search(self.data.lower()) is not None
        return may_hold_images(self.source.text, self.kind, self.dialect)

    def scan(self) -> FileScan:
        """Its images; a file whose syntax needs an extra that is not installed becomes a FileError."""
        try:
            images = scan_text(self.source.text, self.path, self.kind, self.dialect)
        except MissingExtraError as exc:  # e.g. MyST without myst-parser: this file, one line
            return FileScan(self.path, None, [], FileError(self.path, str(exc)))
        return FileScan(self.path, self.source, images, dialect=self.dialect)


def load_file(path: Path, display: str | None = None, dialect: Dialect | None = None) -> LoadedFile | FileError:
    """Read and decode one file; a bad file becomes a FileError, never an exception. Markdown is
    read in `dialect`, by default the one `dialect_of` finds for the file."""
    shown = display if display is not None else str(path)
    kind = kind_of(path)
    if kind is None:
        return FileError(shown, NOT_A_SOURCE)
    try:
        data = read_bytes(path)
        source = decode_file(path, data)
    except SourceError as exc:
        return FileError(shown, str(exc))
    chosen = (dialect or dialect_of(path)) if kind == "markdown" else None
    return LoadedFile(shown, kind, data, source, chosen)


def scan_file(path: Path, display: str | None = None, dialect: Dialect | None = None) -> FileScan:
    """Read, decode and scan one file; a bad file becomes a FileError, never an exception.
    Markdown is read in `dialect`, by default the one `dialect_of` finds for the file."""
    loaded = load_file(path, display, dialect)
    if isinstance(loaded, FileError):
        return FileScan(loaded.path, None, [], loaded)
    return loaded.scan()
