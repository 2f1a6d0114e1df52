"""Findings, unreadable files and internal errors as one sorted list: what every format prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alttext_tools.core import FileError, Finding, InternalError, Severity

TOOL_NAME = "alttext"  # how reports name the tool (SARIF driver, GitHub titles, errors outside any file)


@dataclass(frozen=True)
class ReportEntry:
    """One line of a report: a finding, a file that could not be scanned, or an internal error."""

    path: str | None
    line: int | None
    column: int | None
    rule: str  # a rule id, "file-error" or "internal-error"
    severity: Severity
    message: str
    finding: Finding | None = None


def report_entries(
    findings: Sequence[Finding], file_errors: Sequence[FileError], internal_errors: Sequence[InternalError]
) -> list[ReportEntry]:
    """Findings, file errors and internal errors, sorted by (path, line, column, rule)."""
    entries = [
        ReportEntry(f.image.path, f.image.line, f.image.column, f.rule, f.severity, f.message, f) for f in findings
    ]
    entries += [ReportEntry(e.path, e.line, None, "file-error", Severity.ERROR, e.message) for e in file_errors]
    entries += [ReportEntry(i.path, None, None, "internal-error", Severity.ERROR, i.message) for i in internal_errors]
    entries.sort(key=lambda e: (e.path or "", e.line or 0, e.column or 0, e.rule))
    return entries
