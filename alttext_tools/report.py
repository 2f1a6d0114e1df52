"""What a run found, how it is printed, and what the process exits with.

`Report` collects findings, files that could not be scanned and internal errors, and owns the exit
code. The formatters are pure functions of findings and errors: text (for people), json (a stable,
documented list: docs/json-format.md), sarif (SARIF 2.1.0 for GitHub code scanning) and github
(workflow commands that annotate a pull request).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import PurePath
from typing import IO, Literal
from urllib.parse import quote

import alttext_tools
from alttext_tools.model import FileError, Finding, Severity
from alttext_tools.rules import RULES, Rule, is_fixable


class ExitCode(IntEnum):
    """The process exit status of every command."""

    OK = 0  # nothing at or above the fail level
    FINDINGS = 1  # findings at or above the fail level
    USAGE = 2  # bad command line or configuration (click's own code)
    FILE_ERRORS = 3  # some files could not be read or scanned; wins over FINDINGS
    INTERNAL_ERROR = 4  # a bug in alttext itself; wins over everything


FailOn = Literal["error", "warning", "never"]
FAIL_ON_CHOICES: tuple[str, ...] = ("error", "warning", "never")
FORMAT_CHOICES: tuple[str, ...] = ("text", "json", "sarif", "github")

TOOL_NAME = "alttext"
INFORMATION_URI = "https://pypi.org/project/alttext-tools/"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "alttext/v1"


@dataclass(frozen=True)
class InternalError:
    """An exception in our own code while handling `path` (None: outside any one file)."""

    path: str | None
    message: str


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
        return FORMATTERS[fmt](self.findings, self.file_errors, internal_errors=self.internal_errors)

    def summary(self, *, color: bool = False) -> str:
        """One line for stderr, e.g. `Found 3 problems (1 error, 2 warnings) in 2 files; ...`."""
        checked = f"{_plural(self.images_checked, 'image')} checked in {_plural(self.files_checked, 'file')}."
        if self.findings:
            errors, warnings = self.count(Severity.ERROR), self.count(Severity.WARNING)
            files = len({f.image.path for f in self.findings})
            head = (
                f"Found {_plural(len(self.findings), 'problem')} ({_plural(errors, 'error')}, "
                f"{_plural(warnings, 'warning')}) in {_plural(files, 'file')}"
            )
            head = _paint(head, _RED if errors else _YELLOW, color)
        else:
            head = _paint("No problems found", _GREEN, color)
        line = f"{head}; {checked}"
        if self.file_errors:
            count = len({e.path for e in self.file_errors})
            line += " " + _paint(f"{_plural(count, 'file')} could not be checked.", _RED, color)
        if self.internal_errors:
            line += " " + _paint(
                f"{_plural(len(self.internal_errors), 'internal error')} (a bug in alttext: please report it).",
                _RED,
                color,
            )
        return line


def _threshold(fail_on: str) -> int | None:
    if fail_on == "never":
        return None
    if fail_on not in FAIL_ON_CHOICES:
        raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON_CHOICES)}, not {fail_on!r}")
    return Severity(fail_on).rank


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


def _entries(
    findings: Sequence[Finding], file_errors: Sequence[FileError], internal_errors: Sequence[InternalError]
) -> list[_Entry]:
    """Findings, file errors and internal errors, sorted by (path, line, column, rule)."""
    entries = [
        _Entry(f.image.path, f.image.line, f.image.column, f.rule, f.severity, f.message, f) for f in findings
    ]
    entries += [_Entry(e.path, e.line, None, "file-error", Severity.ERROR, e.message) for e in file_errors]
    entries += [_Entry(i.path, None, None, "internal-error", Severity.ERROR, i.message) for i in internal_errors]
    entries.sort(key=lambda e: (e.path or "", e.line or 0, e.column or 0, e.rule))
    return entries


# --- text --------------------------------------------------------------------------------------

_RED, _YELLOW, _GREEN, _BOLD = "31", "33", "32", "1"


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def _printable(text: str) -> str:
    """One line, whatever is in a path or message: control characters become escapes."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def format_text(
    findings: Sequence[Finding],
    file_errors: Sequence[FileError] = (),
    *,
    internal_errors: Sequence[InternalError] = (),
    color: bool = False,
) -> str:
    """`path:line:col: rule message` per finding, `path[:line]: error: message` per file error."""
    lines = []
    for e in _entries(findings, file_errors, internal_errors):
        place = ":".join(
            [_printable(e.path if e.path is not None else TOOL_NAME)]
            + [str(n) for n in (e.line, e.column) if n is not None]
        )
        if e.finding is not None:
            label = _paint(e.rule, _RED if e.severity is Severity.ERROR else _YELLOW, color)
        else:
            label = _paint("error:" if e.rule == "file-error" else "internal error:", _RED, color)
        lines.append(f"{_paint(place + ':', _BOLD, color)} {label} {_printable(e.message)}\n")
    return "".join(lines)


# --- json --------------------------------------------------------------------------------------


def json_entries(
    findings: Sequence[Finding],
    file_errors: Sequence[FileError] = (),
    *,
    internal_errors: Sequence[InternalError] = (),
) -> list[dict[str, object]]:
    """The JSON report as Python objects: one dict per finding or error (docs/json-format.md)."""
    result: list[dict[str, object]] = []
    for e in _entries(findings, file_errors, internal_errors):
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


# --- sarif -------------------------------------------------------------------------------------


def sarif_uri(path: str) -> tuple[str, str | None]:
    """(uri, uriBaseId) for a displayed path: relative paths are relative to %SRCROOT%.

    Relative references use forward slashes and percent-encoding (spaces, `%`, `#`, `?`, and `:`,
    which would otherwise read as a URI scheme); absolute paths become file: URIs.
    """
    pure = PurePath(path)
    if pure.is_absolute():
        return pure.as_uri(), None
    posix = pure.as_posix()
    return quote(posix, safe="/!$&'()*+,;=@-._~"), "%SRCROOT%"


def _rule_name(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.split("-"))


def sarif_rule(rule: Rule) -> dict[str, object]:
    return {
        "id": rule.id,
        "name": _rule_name(rule.id),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.help},
        "help": {"text": rule.help},
        "defaultConfiguration": {"level": rule.severity.value},
        "properties": {
            "tags": ["accessibility"],
            "precision": "high" if rule.severity is Severity.ERROR else "medium",
            "problem.severity": rule.severity.value,
        },
    }


def fingerprint(finding: Finding) -> str:
    """Line-independent identity of a finding: path, rule, src and alt (occurrence added later)."""
    image = finding.image
    data = "\0".join([sarif_uri(image.path)[0], finding.rule, image.src or "", image.alt or ""])
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


def sarif_log(
    findings: Sequence[Finding],
    file_errors: Sequence[FileError] = (),
    *,
    internal_errors: Sequence[InternalError] = (),
    srcroot: str | None = None,
) -> dict[str, object]:
    """The SARIF 2.1.0 log as Python objects. `srcroot` (a file: URI) defines %SRCROOT% if given."""
    index = {rule_id: i for i, rule_id in enumerate(RULES)}
    seen: dict[str, int] = {}
    results = []
    for f in sorted(findings, key=lambda f: f.sort_key):
        image = f.image
        uri, base = sarif_uri(image.path)
        digest = fingerprint(f)
        seen[digest] = seen.get(digest, 0) + 1
        artifact: dict[str, object] = {"uri": uri}
        if base:
            artifact["uriBaseId"] = base
        result: dict[str, object] = {"ruleId": f.rule}
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        result.update(
            {
                "level": f.severity.value,
                "message": {"text": f.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": artifact,
                            "region": {
                                "startLine": image.line,
                                "startColumn": image.column,
                                "snippet": {"text": image.source},
                            },
                        }
                    }
                ],
                "partialFingerprints": {FINGERPRINT_KEY: f"{digest}:{seen[digest]}"},
            }
        )
        results.append(result)
    notifications = []
    for problem in [*file_errors, *internal_errors]:
        note: dict[str, object] = {
            "level": "error",
            "message": {"text": problem.message},
            "descriptor": {"id": "file-error" if isinstance(problem, FileError) else "internal-error"},
        }
        if problem.path is not None:
            uri, base = sarif_uri(problem.path)
            artifact = {"uri": uri, **({"uriBaseId": base} if base else {})}
            physical: dict[str, object] = {"artifactLocation": artifact}
            if isinstance(problem, FileError) and problem.line is not None:
                physical["region"] = {"startLine": problem.line}
            note["locations"] = [{"physicalLocation": physical}]
        notifications.append(note)
    version = alttext_tools.__version__
    run: dict[str, object] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "informationUri": INFORMATION_URI,
                "version": version,
                "semanticVersion": version,
                "rules": [sarif_rule(rule) for rule in RULES.values()],
            }
        },
        "invocations": [
            {
                "executionSuccessful": not (file_errors or internal_errors),
                "toolExecutionNotifications": notifications,
            }
        ],
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if srcroot is not None:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": srcroot if srcroot.endswith("/") else srcroot + "/"}}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def format_sarif(
    findings: Sequence[Finding],
    file_errors: Sequence[FileError] = (),
    *,
    internal_errors: Sequence[InternalError] = (),
    srcroot: str | None = None,
) -> str:
    log = sarif_log(findings, file_errors, internal_errors=internal_errors, srcroot=srcroot)
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


# --- github workflow commands --------------------------------------------------------------------


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
        for e in _entries(findings, file_errors, internal_errors)
    )


Formatter = Callable[..., str]
FORMATTERS: dict[str, Formatter] = {
    "text": format_text,
    "json": format_json,
    "sarif": format_sarif,
    "github": format_github,
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
