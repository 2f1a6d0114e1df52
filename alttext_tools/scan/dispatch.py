"""One entry point for scanning a file or a text, whatever its syntax."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alttext_tools.core import FileError, ImageRef
from alttext_tools.scan.sources import SourceError, SourceText, read_source

Kind = Literal["html", "markdown"]
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
SUFFIXES = HTML_SUFFIXES + MARKDOWN_SUFFIXES
NOT_A_SOURCE = f"not an HTML, Markdown or reST file, so it was not checked (alttext reads {', '.join(SUFFIXES)})"


def kind_of(path: Path | str) -> Kind | None:
    suffix = Path(path).suffix.lower()
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    return None


def scan_text(text: str, path: str, kind: Kind) -> list[ImageRef]:
    """Every image-like element in `text`, in source order. Pure: no I/O."""
    if kind == "html":
        from alttext_tools.scan.html import scan_html

        return scan_html(text, path)
    from alttext_tools.scan.markdown import scan_markdown

    return scan_markdown(text, path)


@dataclass(frozen=True)
class FileScan:
    """One file's scan: its text and images, or the error that kept it from being scanned."""

    path: str
    source: SourceText | None
    images: list[ImageRef]
    error: FileError | None = None


def scan_file(path: Path, display: str | None = None) -> FileScan:
    """Read, decode and scan one file; a bad file becomes a FileError, never an exception."""
    shown = display if display is not None else str(path)
    kind = kind_of(path)
    if kind is None:
        return FileScan(shown, None, [], FileError(shown, NOT_A_SOURCE))
    try:
        source = read_source(path)
    except SourceError as exc:
        return FileScan(shown, None, [], FileError(shown, str(exc)))
    return FileScan(shown, source, scan_text(source.text, shown, kind))
