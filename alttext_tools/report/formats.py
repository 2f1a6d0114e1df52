"""The report formats by name: FORMAT_CHOICES and the formatter of each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from alttext_tools.core import FileError, Finding, InternalError
from alttext_tools.report.github import format_github
from alttext_tools.report.gitlab import format_gitlab
from alttext_tools.report.json_format import format_json
from alttext_tools.report.sarif import format_sarif
from alttext_tools.report.text import format_text

FORMAT_CHOICES: tuple[str, ...] = ("text", "json", "sarif", "github", "gitlab")


class Formatter(Protocol):
    """A report format: findings, unreadable files and internal errors in, the whole output out."""

    def __call__(
        self,
        findings: Sequence[Finding],
        file_errors: Sequence[FileError] = (),
        *,
        internal_errors: Sequence[InternalError] = (),
    ) -> str: ...


FORMATTERS: dict[str, Formatter] = {
    "text": format_text,
    "json": format_json,
    "sarif": format_sarif,
    "github": format_github,
    "gitlab": format_gitlab,
}
