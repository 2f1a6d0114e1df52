"""What a run found, how it is printed, and what the process exits with.

`Report` collects findings, files that could not be scanned and internal errors, and owns the exit
code. The formatters are pure functions of findings and errors: text (for people), json (a stable,
documented list: docs/json-format.md), sarif (SARIF 2.1.0 for GitHub code scanning) and github
(workflow commands that annotate a pull request).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from alttext_tools.core import FileError, Finding, InternalError, Severity
from alttext_tools.report.sarif import TOOL_NAME

RED, YELLOW, GREEN, BOLD = "31", "33", "32", "1"


def use_color(stream: IO[str], environ: Mapping[str, str] = os.environ) -> bool:
    """Colour when writing to a terminal and NO_COLOR (https://no-color.org) is unset or empty."""
    if environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


# --- one sorted list of everything to print ----------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    path: str | None
    line: int | None
    column: int | None
    rule: str  # a rule id, "file-error" or "internal-error"
    severity: Severity
    message: str
    finding: Finding | None = None


def report_entries(
    findings: Sequence[Finding], file_errors: Sequence[FileError], internal_errors: Sequence[InternalError]
) -> list[_Entry]:
    """Findings, file errors and internal errors, sorted by (path, line, column, rule)."""
    entries = [_Entry(f.image.path, f.image.line, f.image.column, f.rule, f.severity, f.message, f) for f in findings]
    entries += [_Entry(e.path, e.line, None, "file-error", Severity.ERROR, e.message) for e in file_errors]
    entries += [_Entry(i.path, None, None, "internal-error", Severity.ERROR, i.message) for i in internal_errors]
    entries.sort(key=lambda e: (e.path or "", e.line or 0, e.column or 0, e.rule))
    return entries


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
