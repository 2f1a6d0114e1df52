"""What a run found and what the process exits with: `Report` and `ExitCode`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

from alttext_tools.core import FileError, Finding, InternalError, Severity
from alttext_tools.report.text import GREEN, RED, YELLOW, format_text, paint, plural


class ExitCode(IntEnum):
    """The process exit status of every command."""

    OK = 0  # nothing at or above the fail level
    FINDINGS = 1  # findings at or above the fail level
    USAGE = 2  # bad command line or configuration (click's own code)
    FILE_ERRORS = 3  # some files could not be read, fixed or downloaded; wins over FINDINGS
    INTERNAL_ERROR = 4  # a bug in alttext itself; wins over everything
    INTERRUPTED = 130  # Ctrl+C or SIGTERM (128 + SIGINT, as shells report it)


FailOn = Literal["error", "warning", "never"]
FAIL_ON_CHOICES: tuple[str, ...] = ("error", "warning", "never")


@dataclass
class Report:
    """Everything one run found; owns the exit code (like black's `Report`)."""

    findings: list[Finding] = field(default_factory=list)
    file_errors: list[FileError] = field(default_factory=list)
    internal_errors: list[InternalError] = field(default_factory=list)
    files_checked: int = 0
    images_checked: int = 0

    def checked(self, images: int, findings: Iterable[Finding] = ()) -> None:
        """One file was scanned: it held `images` images and produced `findings`."""
        self.files_checked += 1
        self.images_checked += images
        self.findings.extend(findings)

    def failed(self, error: FileError) -> None:
        self.file_errors.append(error)

    def crashed(self, path: str | None, exc: BaseException | str) -> None:
        message = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self.internal_errors.append(InternalError(path, message))

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def return_code(self, fail_on: FailOn | str = "error") -> ExitCode:
        threshold = _threshold(fail_on)
        if self.internal_errors:
            return ExitCode.INTERNAL_ERROR
        if self.file_errors:
            return ExitCode.FILE_ERRORS
        if threshold is not None and any(f.severity.rank >= threshold for f in self.findings):
            return ExitCode.FINDINGS
        return ExitCode.OK

    def render(self, fmt: str, *, color: bool = False) -> str:
        """The report in one of FORMAT_CHOICES, for stdout."""
        if fmt == "text":
            return format_text(self.findings, self.file_errors, internal_errors=self.internal_errors, color=color)
        from alttext_tools.report.formats import FORMATTERS  # the machine formats, only when asked for

        return FORMATTERS[fmt](self.findings, self.file_errors, internal_errors=self.internal_errors)

    def summary(self, *, color: bool = False) -> str:
        """One line for stderr, e.g. `Found 3 problems (1 error, 2 warnings) in 2 files; ...`."""
        checked = f"{plural(self.images_checked, 'image')} checked in {plural(self.files_checked, 'file')}."
        if self.findings:
            errors, warnings = self.count(Severity.ERROR), self.count(Severity.WARNING)
            files = len({f.image.path for f in self.findings})
            head = (
                f"Found {plural(len(self.findings), 'problem')} ({plural(errors, 'error')}, "
                f"{plural(warnings, 'warning')}) in {plural(files, 'file')}"
            )
            head = paint(head, RED if errors else YELLOW, color)
        elif self.file_errors and not self.files_checked:
            head = paint("Nothing checked", RED, color)
            checked = ""
        else:
            head = paint("No problems found", GREEN, color)
        line = f"{head}; {checked}" if checked else f"{head}:"
        if self.file_errors:
            count = len({e.path for e in self.file_errors})
            line += " " + paint(f"{plural(count, 'file')} could not be checked.", RED, color)
        if self.internal_errors:
            line += " " + paint(
                f"{plural(len(self.internal_errors), 'internal error')} (a bug in alttext: please report it).",
                RED,
                color,
            )
        return line


def _threshold(fail_on: str) -> int | None:
    if fail_on == "never":
        return None
    if fail_on not in FAIL_ON_CHOICES:
        raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON_CHOICES)}, not {fail_on!r}")
    return Severity(fail_on).rank
