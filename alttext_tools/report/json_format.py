"""The JSON report: one object per finding or error, in the stable format of docs/json-format.md."""

from __future__ import annotations

import json
from collections.abc import Sequence

from alttext_tools.check.rules import is_fixable
from alttext_tools.core import FileError, Finding, InternalError
from alttext_tools.report.entries import report_entries


def json_entries(
    findings: Sequence[Finding],
    file_errors: Sequence[FileError] = (),
    *,
    internal_errors: Sequence[InternalError] = (),
) -> list[dict[str, object]]:
    """The JSON report as Python objects: one dict per finding or error (docs/json-format.md)."""
    result: list[dict[str, object]] = []
    for e in report_entries(findings, file_errors, internal_errors):
        image = e.finding.image if e.finding is not None else None
        result.append(
            {
                "path": e.path,
                "line": e.line,
                "column": e.column,
                "rule": e.rule,
                "severity": e.severity.value,
                "message": e.message,
                "src": image.src if image else None,
                "alt": image.alt if image else None,
                "element": image.source if image else None,
                "syntax": image.syntax.value if image else None,
                "fixable": e.finding is not None and is_fixable(e.finding),
            }
        )
    return result


def format_json(
    findings: Sequence[Finding],
    file_errors: Sequence[FileError] = (),
    *,
    internal_errors: Sequence[InternalError] = (),
) -> str:
    entries = json_entries(findings, file_errors, internal_errors=internal_errors)
    return json.dumps(entries, indent=2, ensure_ascii=False) + "\n"
