"""GitLab Code Quality JSON: the findings in a merge request's Code Quality widget."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import PurePath

from alttext_tools.core import FileError, Finding, InternalError, Severity
from alttext_tools.report.entries import TOOL_NAME, report_entries

# Code Quality severities: findings by their own severity; files that could not be checked and
# internal errors are critical (nothing in them was checked).
SEVERITY = {Severity.ERROR: "major", Severity.WARNING: "minor"}
CRITICAL = "critical"


def code_quality_issues(
    findings: Sequence[Finding],
    file_errors: Sequence[FileError] = (),
    *,
    internal_errors: Sequence[InternalError] = (),
) -> list[dict[str, object]]:
    """One Code Quality issue per finding or error. The fingerprint is line-independent (path,
    rule, src and alt, plus the occurrence number among equal ones), so GitLab keeps tracking an
    issue when lines move, and resolves it when it is fixed."""
    seen: dict[str, int] = {}
    issues: list[dict[str, object]] = []
    for e in report_entries(findings, file_errors, internal_errors):
        image = e.finding.image if e.finding is not None else None
        key = "\0".join(
            [e.path or "", e.rule, (image.src if image else None) or "", (image.alt if image else None) or ""]
        )
        seen[key] = seen.get(key, 0) + 1
        issues.append(
            {
                "description": f"{e.rule}: {e.message}",
                "check_name": f"{TOOL_NAME}/{e.rule}",
                "severity": SEVERITY[e.severity] if e.finding is not None else CRITICAL,
                "fingerprint": hashlib.sha256(f"{key}\0{seen[key]}".encode()).hexdigest(),
                "location": {
                    "path": PurePath(e.path).as_posix() if e.path else ".",
                    "lines": {"begin": e.line or 1},
                },
            }
        )
    return issues


def format_gitlab(
    findings: Sequence[Finding],
    file_errors: Sequence[FileError] = (),
    *,
    internal_errors: Sequence[InternalError] = (),
) -> str:
    """The Code Quality report (a JSON list), for `artifacts: reports: codequality:`."""
    issues = code_quality_issues(findings, file_errors, internal_errors=internal_errors)
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
