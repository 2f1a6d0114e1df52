"""What a run found, how it is printed, and what the process exits with.

`Report` collects findings, files that could not be scanned and internal errors, and owns the exit
code. The formatters are pure functions of findings and errors: text (for people), json (a stable,
documented list: docs/json-format.md), sarif (SARIF 2.1.0 for GitHub code scanning) and github
(workflow commands that annotate a pull request).
"""

from __future__ import annotations

from collections.abc import Callable

from alttext_tools.report.github import format_github
from alttext_tools.report.json_format import format_json
from alttext_tools.report.sarif import format_sarif
from alttext_tools.report.text import format_text

FORMAT_CHOICES: tuple[str, ...] = ("text", "json", "sarif", "github")


Formatter = Callable[..., str]
FORMATTERS: dict[str, Formatter] = {
    "text": format_text,
    "json": format_json,
    "sarif": format_sarif,
    "github": format_github,
}
