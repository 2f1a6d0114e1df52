"""The text report for people: `path:line:col: rule message` per line, coloured on a terminal."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import IO

from alttext_tools.core import FileError, Finding, InternalError, Severity
from alttext_tools.report.entries import TOOL_NAME, report_entries

RED, YELLOW, GREEN, BOLD = "31", "33", "32", "1"


def use_color(stream: IO[str], environ: Mapping[str, str] = os.environ) -> bool:
    """Colour when writing to a terminal. A non-empty NO_COLOR (https://no-color.org) turns it off,
    else a non-empty FORCE_COLOR (https://force-color.org) turns it on, terminal or not (CI logs);
    NO_COLOR wins when both are set, as in CPython."""
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def _printable(text: str) -> str:
    """One line, whatever is in a path or message: control characters become escapes."""
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii") for ch in text)


def format_text(
    findings: Sequence[Finding],
    file_errors: Sequence[FileError] = (),
    *,
    internal_errors: Sequence[InternalError] = (),
    color: bool = False,
) -> str:
    """`path:line:col: rule message` per finding, `path[:line]: error: message` per file error."""
    lines = []
    for e in report_entries(findings, file_errors, internal_errors):
        place = ":".join(
            [_printable(e.path if e.path is not None else TOOL_NAME)]
            + [str(n) for n in (e.line, e.column) if n is not None]
        )
        if e.finding is not None:
            label = paint(e.rule, RED if e.severity is Severity.ERROR else YELLOW, color)
        else:
            label = paint("error:" if e.rule == "file-error" else "internal error:", RED, color)
        lines.append(f"{paint(place + ':', BOLD, color)} {label} {_printable(e.message)}\n")
    return "".join(lines)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
