"""The SARIF 2.1.0 report, for GitHub code scanning."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import PurePath
from urllib.parse import quote

import alttext_tools
from alttext_tools.check.rules import RULES, Rule
from alttext_tools.core import FileError, Finding, InternalError, Severity
from alttext_tools.report.entries import TOOL_NAME

INFORMATION_URI = "https://pypi.org/project/alttext-tools/"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "alttext/v1"


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
    """Line-independent identity of a finding: path, rule, src and alt (sarif_log adds the occurrence)."""
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
    problems: list[FileError | InternalError] = [*file_errors, *internal_errors]
    for problem in problems:
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
