"""GitHub Actions workflow commands (`::error file=...::message`) that annotate a pull request."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from alttext_tools.core import FileError, Finding, InternalError
from alttext_tools.report.entries import TOOL_NAME, report_entries


def escape_data(text: str) -> str:
    """Escape a workflow command's message (after `::`)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command property value (file=, title=...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(level: str, message: str, title: str, file: str | None, *position: tuple[str, int | None]) -> str:
    props = []
    if file is not None:
        props.append(f"file={escape_property(PurePath(file).as_posix())}")
        props += [f"{key}={value}" for key, value in position if value is not None]
    props.append(f"title={escape_property(title)}")
    return f"::{level} {','.join(props)}::{escape_data(message)}"


def format_github(
    findings: Sequence[Finding],
    file_errors: Sequence[FileError] = (),
    *,
    internal_errors: Sequence[InternalError] = (),
) -> str:
    """`::error file=PATH,line=L,col=C,title=alttext RULE::message`, one per finding or error."""
    return "".join(
        _command(e.severity.value, e.message, f"{TOOL_NAME} {e.rule}", e.path, ("line", e.line), ("col", e.column))
        + "\n"
        for e in report_entries(findings, file_errors, internal_errors)
    )
