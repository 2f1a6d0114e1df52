"""Report formats (golden files under fixtures/report/), escaping, schemas and exit codes.

Regenerate the golden files after an intended change with
    ALTTEXT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_report.py
and review the diff.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest

import alttext_tools
from alttext_tools.check.rules import RULES
from alttext_tools.core import AltKind, FileError, Finding, ImageRef, InternalError, Severity, Span, Syntax
from alttext_tools.report.formats import FORMAT_CHOICES, FORMATTERS
from alttext_tools.report.github import escape_data, escape_property, format_github
from alttext_tools.report.gitlab import code_quality_issues, format_gitlab
from alttext_tools.report.json_format import format_json
from alttext_tools.report.outcome import FAIL_ON_CHOICES, ExitCode, Report
from alttext_tools.report.sarif import format_sarif, sarif_log, sarif_uri
from alttext_tools.report.text import format_text, use_color

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "fixtures" / "report"
FINDINGS_SCHEMA = json.loads((ROOT / "schemas" / "findings.schema.json").read_text(encoding="utf-8"))
SARIF_MIN_SCHEMA = json.loads((Path(__file__).parent / "sarif_min.schema.json").read_text(encoding="utf-8"))
VERSION_MARK = "@VERSION@"


def ref(
    path: str,
    line: int,
    column: int,
    *,
    source: str,
    src: str | None,
    alt: str | None,
    syntax: Syntax = Syntax.HTML_IMG,
    name_from: str | None = None,
) -> ImageRef:
    markdown = syntax in (Syntax.MD_INLINE, Syntax.MD_REFERENCE)
    alt_kind = (
        None
        if syntax in (Syntax.HTML_SVG, Syntax.HTML_ROLE_IMG)
        else (AltKind.MD_LABEL if markdown else AltKind.HTML_ATTR)
    )
    return ImageRef(
        path=path,
        syntax=syntax,
        span=Span(0, len(source)),
        line=line,
        column=column,
        source=source,
        src=src,
        alt=alt,
        alt_kind=alt_kind,
        alt_span=None,
        name=alt or None,
        name_from=name_from or ("label" if markdown else "alt") if alt else name_from,
    )


ODD = "docs/my guide, v2: draft.md"  # spaces, a comma and a colon
FINDINGS = [
    Finding(
        "placeholder-alt",
        Severity.WARNING,
        'alt text "image" is a placeholder; describe what the image shows or does',
        ref("docs/index.html", 30, 9, source='<img src="img/a.png" alt="image">', src="img/a.png", alt="image"),
    ),
    Finding(
        "missing-alt",
        Severity.ERROR,
        'image has no alt text (add alt="..." or alt="" if decorative)',
        ref("docs/index.html", 12, 5, source='<img src="img/hero.png">', src="img/hero.png", alt=None),
    ),
    Finding(
        "missing-name",
        Severity.ERROR,
        '<svg role="img"> has no accessible name; add a <title> as its first child or aria-label="..."',
        ref(
            "docs/index.html",
            40,
            1,
            source='<svg role="img" viewBox="0 0 10 10">',
            src=None,
            alt=None,
            syntax=Syntax.HTML_SVG,
        ),
    ),
    Finding(
        "empty-alt",
        Severity.ERROR,
        "image has an empty label, so it is unclear whether it is decorative",
        ref(ODD, 3, 1, source="![](shot.png)", src="shot.png", alt="", syntax=Syntax.MD_INLINE),
    ),
    Finding(
        "filename-alt",
        Severity.WARNING,
        'alt text "100%_IMG_2041.jpg" looks like a file name; describe what the image shows',
        ref(
            ODD,
            8,
            3,
            source="![100%_IMG_2041.jpg](photos/IMG_2041.jpg)",
            src="photos/IMG_2041.jpg",
            alt="100%_IMG_2041.jpg",
            syntax=Syntax.MD_INLINE,
        ),
    ),
    Finding(
        "redundant-prefix",
        Severity.WARNING,
        'aria-label "Image of a cat" starts with "Image of"; screen readers already announce images',
        ref(
            ODD,
            8,
            40,
            source='<img src="cat.png" aria-label="Image of a cat">',
            src="cat.png",
            alt=None,
            name_from="aria-label",
        ),
    ),
    Finding(
        "placeholder-alt",
        Severity.WARNING,
        'alt text "画像" is a placeholder; describe what the image shows or does',
        ref(
            "docs/ja/index.md",
            2,
            5,
            source="![画像](/img/ü.png)",
            src="/img/ü.png",
            alt="画像",
            syntax=Syntax.MD_INLINE,
        ),
    ),
]
FILE_ERRORS = [
    FileError("docs/broken, old.html", "cannot decode as UTF-8:\nbyte 0xff at offset 10 (100% binary?)"),
    FileError("docs/index.html", "unterminated <img> tag", line=55),
]


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("ALTTEXT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
    assert actual == path.read_text(encoding="utf-8")


def stable_version(text: str) -> str:
    return text.replace(f'"{alttext_tools.__version__}"', f'"{VERSION_MARK}"')


def validate_findings_json(text: str) -> list[dict]:
    data = json.loads(text)
    jsonschema.Draft202012Validator(FINDINGS_SCHEMA).validate(data)
    return data


def validate_sarif(text: str) -> dict:
    log = json.loads(text)
    jsonschema.Draft202012Validator(SARIF_MIN_SCHEMA).validate(log)
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        if location.get("uriBaseId") == "%SRCROOT%":
            parts = urlsplit(location["uri"])
            assert not parts.scheme and not parts.netloc and not location["uri"].startswith("/")
    return log


# --- golden files


def test_golden_text() -> None:
    check_golden("expected.txt", format_text(FINDINGS, FILE_ERRORS))


def test_golden_text_color() -> None:
    check_golden("expected.color.txt", format_text(FINDINGS, FILE_ERRORS, color=True))


def test_golden_json() -> None:
    text = format_json(FINDINGS, FILE_ERRORS)
    validate_findings_json(text)
    check_golden("expected.json", text)


def test_golden_sarif() -> None:
    text = format_sarif(FINDINGS, FILE_ERRORS)
    validate_sarif(text)
    check_golden("expected.sarif", stable_version(text))


def test_golden_github() -> None:
    check_golden("expected.github", format_github(FINDINGS, FILE_ERRORS))


def test_golden_gitlab() -> None:
    check_golden("expected.gitlab", format_gitlab(FINDINGS, FILE_ERRORS))


def test_golden_files_are_each_format() -> None:
    assert set(FORMATTERS) == set(FORMAT_CHOICES) == {"text", "json", "sarif", "github", "gitlab"}
    assert json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))
    assert json.loads((GOLDEN / "expected.sarif").read_text(encoding="utf-8"))["version"] == "2.1.0"


# --- text


def test_text_lines_sorted_and_one_per_problem() -> None:
    lines = format_text(FINDINGS, FILE_ERRORS).splitlines()
    assert len(lines) == len(FINDINGS) + len(FILE_ERRORS)
    assert lines[0] == "docs/broken, old.html: error: cannot decode as UTF-8:\\nbyte 0xff at offset 10 (100% binary?)"
    assert lines[1].startswith("docs/index.html:12:5: missing-alt image has no alt text")
    assert "docs/index.html:55: error: unterminated <img> tag" in lines
    assert lines.index("docs/index.html:55: error: unterminated <img> tag") > 3


def test_text_empty() -> None:
    assert format_text([], []) == ""


def test_text_color_codes() -> None:
    plain = format_text(FINDINGS, FILE_ERRORS)
    colored = format_text(FINDINGS, FILE_ERRORS, color=True)
    assert "\x1b[" not in plain
    assert "\x1b[31mmissing-alt\x1b[0m" in colored
    assert "\x1b[33mplaceholder-alt\x1b[0m" in colored
    assert "\x1b[31merror:\x1b[0m" in colored


def test_text_control_characters_escaped() -> None:
    finding = Finding(
        "missing-alt", Severity.ERROR, "bad\rmessage\x1b[2J", ref("a\nb.html", 1, 1, source="<img>", src=None, alt=None)
    )
    [line] = format_text([finding]).splitlines()
    assert line == "a\\nb.html:1:1: missing-alt bad\\rmessage\\x1b[2J"


@pytest.mark.parametrize(
    "isatty, environ, expected",
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),  # https://no-color.org: only a non-empty value disables
        (False, {"NO_COLOR": "1"}, False),
        (False, {"FORCE_COLOR": "1"}, True),  # https://force-color.org: colour in CI logs too
        (False, {"FORCE_COLOR": "0"}, True),  # any non-empty value
        (False, {"FORCE_COLOR": ""}, False),
        (True, {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR wins, as in CPython
    ],
)
def test_use_color(isatty: bool, environ: dict[str, str], expected: bool) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return isatty

    assert use_color(Stream(), environ) is expected


# --- json


def test_json_entries() -> None:
    data = validate_findings_json(format_json(FINDINGS, FILE_ERRORS))
    assert [list(entry) for entry in data] == [
        ["path", "line", "column", "rule", "severity", "message", "src", "alt", "element", "syntax", "fixable"]
    ] * len(data)
    by_rule = {entry["rule"]: entry for entry in data}
    assert by_rule["missing-alt"] == {
        "path": "docs/index.html",
        "line": 12,
        "column": 5,
        "rule": "missing-alt",
        "severity": "error",
        "message": 'image has no alt text (add alt="..." or alt="" if decorative)',
        "src": "img/hero.png",
        "alt": None,
        "element": '<img src="img/hero.png">',
        "syntax": "html-img",
        "fixable": True,
    }
    assert by_rule["redundant-prefix"]["fixable"] is False
    assert by_rule["missing-name"]["fixable"] is False
    errors = [entry for entry in data if entry["rule"] == "file-error"]
    assert errors[0] == {
        "path": "docs/broken, old.html",
        "line": None,
        "column": None,
        "rule": "file-error",
        "severity": "error",
        "message": "cannot decode as UTF-8:\nbyte 0xff at offset 10 (100% binary?)",
        "src": None,
        "alt": None,
        "element": None,
        "syntax": None,
        "fixable": False,
    }
    assert errors[1]["line"] == 55
    assert [(e["path"], e["line"] or 0) for e in data] == sorted((e["path"], e["line"] or 0) for e in data)


@pytest.mark.parametrize(
    "findings, file_errors, internal",
    [
        ([], [], []),
        (FINDINGS, [], []),
        ([], FILE_ERRORS, []),
        ([], [], [InternalError(None, "RecursionError: maximum recursion depth exceeded")]),
        (FINDINGS[:1], FILE_ERRORS[:1], [InternalError("docs/index.html", "KeyError: 'x'")]),
    ],
)
def test_json_always_valid(findings: list, file_errors: list, internal: list) -> None:
    data = validate_findings_json(format_json(findings, file_errors, internal_errors=internal))
    assert len(data) == len(findings) + len(file_errors) + len(internal)
    assert sum(1 for e in data if e["rule"] == "internal-error") == len(internal)


def test_json_schema_knows_every_rule_and_syntax() -> None:
    finding = FINDINGS_SCHEMA["$defs"]["finding"]["properties"]
    assert finding["rule"]["enum"] == list(RULES)
    assert finding["syntax"]["enum"] == [s.value for s in Syntax]
    jsonschema.Draft202012Validator.check_schema(FINDINGS_SCHEMA)


def test_json_schema_rejects_drift() -> None:
    entry = validate_findings_json(format_json(FINDINGS[:1]))[0]
    for broken in (
        {**entry, "extra": 1},
        {k: v for k, v in entry.items() if k != "alt"},
        {**entry, "rule": "nope"},
        {**entry, "line": 0},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(FINDINGS_SCHEMA).validate([broken])


def test_json_unicode_kept() -> None:
    text = format_json(FINDINGS)
    assert "画像" in text and "\\u" not in text


# --- sarif


def test_sarif_structure() -> None:
    log = validate_sarif(format_sarif(FINDINGS, FILE_ERRORS))
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "alttext"
    assert driver["version"] == alttext_tools.__version__
    assert [r["id"] for r in driver["rules"]] == list(RULES)
    for descriptor in driver["rules"]:
        rule = RULES[descriptor["id"]]
        assert descriptor["defaultConfiguration"]["level"] == rule.severity.value
        assert descriptor["properties"]["tags"] == ["accessibility"]
        assert descriptor["shortDescription"]["text"] == rule.summary
    assert len(run["results"]) == len(FINDINGS)
    assert run["invocations"][0]["executionSuccessful"] is False
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["descriptor"]["id"] for n in notes] == ["file-error", "file-error"]
    assert notes[1]["locations"][0]["physicalLocation"]["region"] == {"startLine": 55}


def test_sarif_locations() -> None:
    log = sarif_log(FINDINGS)
    by_uri = {}
    for result in log["runs"][0]["results"]:
        physical = result["locations"][0]["physicalLocation"]
        by_uri.setdefault(physical["artifactLocation"]["uri"], []).append(physical["region"])
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert set(by_uri) == {"docs/index.html", "docs/my%20guide,%20v2%3A%20draft.md", "docs/ja/index.md"}
    assert unquote("docs/my%20guide,%20v2%3A%20draft.md") == ODD
    assert by_uri["docs/index.html"][0] == {
        "startLine": 12,
        "startColumn": 5,
        "snippet": {"text": '<img src="img/hero.png">'},
    }


@pytest.mark.parametrize(
    "path, uri, base",
    [
        ("docs/a.md", "docs/a.md", "%SRCROOT%"),
        ("./docs/a.md", "docs/a.md", "%SRCROOT%"),
        ("docs/a b.md", "docs/a%20b.md", "%SRCROOT%"),
        ("a:b.md", "a%3Ab.md", "%SRCROOT%"),  # would otherwise read as scheme "a"
        ("d/100%.md", "d/100%25.md", "%SRCROOT%"),
        ("d/#x?.md", "d/%23x%3F.md", "%SRCROOT%"),
        ("../up/a.md", "../up/a.md", "%SRCROOT%"),
        ("/abs/p q.md", "file:///abs/p%20q.md", None),
    ],
)
def test_sarif_uri(path: str, uri: str, base: str | None) -> None:
    assert sarif_uri(path) == (uri, base)


def test_sarif_fingerprints_ignore_line_moves() -> None:
    [before] = sarif_log(FINDINGS[1:2])["runs"][0]["results"]
    moved = Finding(
        FINDINGS[1].rule,
        FINDINGS[1].severity,
        FINDINGS[1].message,
        ref("docs/index.html", 99, 1, source="<img>", src="img/hero.png", alt=None),
    )
    [after] = sarif_log([moved])["runs"][0]["results"]
    assert before["partialFingerprints"] == after["partialFingerprints"]
    other = Finding(
        "missing-alt", Severity.ERROR, "x", ref("docs/index.html", 12, 5, source="<img>", src="img/other.png", alt=None)
    )
    [different] = sarif_log([other])["runs"][0]["results"]
    assert different["partialFingerprints"] != before["partialFingerprints"]


def test_sarif_fingerprints_count_identical_images() -> None:
    twins = [
        Finding("missing-alt", Severity.ERROR, "x", ref("a.html", line, 1, source="<img>", src="x.png", alt=None))
        for line in (3, 1, 2)
    ]
    prints = [r["partialFingerprints"]["alttext/v1"] for r in sarif_log(twins)["runs"][0]["results"]]
    assert len({p.split(":")[0] for p in prints}) == 1
    assert [p.split(":")[1] for p in prints] == ["1", "2", "3"]


def test_sarif_severity_override_sets_result_level() -> None:
    overridden = Finding("placeholder-alt", Severity.ERROR, "x", FINDINGS[0].image)
    [result] = sarif_log([overridden])["runs"][0]["results"]
    assert result["level"] == "error"
    assert (
        sarif_log([])["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]["defaultConfiguration"]["level"]
        == "warning"
    )


def test_sarif_empty_and_internal_errors() -> None:
    log = validate_sarif(format_sarif([], []))
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True
    log = validate_sarif(format_sarif([], [], internal_errors=[InternalError(None, "boom")]))
    [note] = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note == {"level": "error", "message": {"text": "boom"}, "descriptor": {"id": "internal-error"}}


def test_sarif_srcroot() -> None:
    log = validate_sarif(format_sarif(FINDINGS, srcroot="file:///home/me/project"))
    assert log["runs"][0]["originalUriBaseIds"] == {"%SRCROOT%": {"uri": "file:///home/me/project/"}}


def test_sarif_min_schema_catches_problems() -> None:
    validator = jsonschema.Draft202012Validator(SARIF_MIN_SCHEMA)
    validator.check_schema(SARIF_MIN_SCHEMA)
    good = sarif_log(FINDINGS)
    validator.validate(good)
    for mutate in (
        lambda log: log.pop("$schema"),
        lambda log: log.update(version="2.0.0"),
        lambda log: log["runs"][0]["results"][0].pop("partialFingerprints"),
        lambda log: log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"].pop("startLine"),
        lambda log: log["runs"][0]["results"][0]["message"].update(text=""),
        lambda log: log["runs"][0]["tool"]["driver"]["rules"][0].pop("help"),
        lambda log: log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"].update(
            uri="a\\b.md"
        ),
    ):
        broken = json.loads(json.dumps(good))
        mutate(broken)
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)


# --- github


@pytest.mark.parametrize(
    "text, data, prop",
    [
        ("plain", "plain", "plain"),
        ("100%", "100%25", "100%25"),
        ("a\nb\r\nc", "a%0Ab%0D%0Ac", "a%0Ab%0D%0Ac"),
        ("docs/my guide, v2: draft.md", "docs/my guide, v2: draft.md", "docs/my guide%2C v2%3A draft.md"),
        ("%0A", "%250A", "%250A"),  # escaped once, not decoded by the runner into a newline
        ("::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"),
    ],
)
def test_github_escaping(text: str, data: str, prop: str) -> None:
    assert escape_data(text) == data
    assert escape_property(text) == prop


def test_github_lines() -> None:
    lines = format_github(FINDINGS, FILE_ERRORS).splitlines()
    assert len(lines) == len(FINDINGS) + len(FILE_ERRORS)
    assert "::error file=docs/index.html,line=12,col=5,title=alttext missing-alt::image has no alt text" in "\n".join(
        lines
    )
    assert (
        "::warning file=docs/my guide%2C v2%3A draft.md,line=8,col=3,title=alttext filename-alt::"
        'alt text "100%25_IMG_2041.jpg"' in "\n".join(lines)
    )
    assert lines[0] == (
        "::error file=docs/broken%2C old.html,title=alttext file-error::"
        "cannot decode as UTF-8:%0Abyte 0xff at offset 10 (100%25 binary?)"
    )
    assert all("\r" not in line for line in lines)


def test_github_internal_error_without_file() -> None:
    assert (
        format_github([], [], internal_errors=[InternalError(None, "boom")])
        == "::error title=alttext internal-error::boom\n"
    )


# --- Report and exit codes


def finding(severity: Severity) -> Finding:
    rule = "missing-alt" if severity is Severity.ERROR else "placeholder-alt"
    return Finding(rule, severity, "x", FINDINGS[0].image)


SEVERITY_SETS = {
    "none": [],
    "warnings": [Severity.WARNING],
    "errors": [Severity.ERROR],
    "both": [Severity.ERROR, Severity.WARNING],
}
# Exit code for findings alone, by fail_on: 1 when some finding is at or above the fail level.
FINDINGS_TABLE = {
    ("error", "none"): 0,
    ("error", "warnings"): 0,
    ("error", "errors"): 1,
    ("error", "both"): 1,
    ("warning", "none"): 0,
    ("warning", "warnings"): 1,
    ("warning", "errors"): 1,
    ("warning", "both"): 1,
    ("never", "none"): 0,
    ("never", "warnings"): 0,
    ("never", "errors"): 0,
    ("never", "both"): 0,
}


@pytest.mark.parametrize("internal", [False, True], ids=["", "internal"])
@pytest.mark.parametrize("file_error", [False, True], ids=["", "file-error"])
@pytest.mark.parametrize("severities", list(SEVERITY_SETS))
@pytest.mark.parametrize("fail_on", list(FAIL_ON_CHOICES))
def test_exit_codes(fail_on: str, severities: str, file_error: bool, internal: bool) -> None:
    report = Report()
    report.checked(3, [finding(s) for s in SEVERITY_SETS[severities]])
    if file_error:
        report.failed(FileError("bad.html", "unreadable"))
    if internal:
        report.crashed("x.html", KeyError("alt"))
    expected = 4 if internal else 3 if file_error else FINDINGS_TABLE[(fail_on, severities)]
    assert report.return_code(fail_on) == expected
    assert isinstance(report.return_code(fail_on), ExitCode)


def test_exit_code_values() -> None:
    assert [(c.name, int(c)) for c in ExitCode] == [
        ("OK", 0),
        ("FINDINGS", 1),
        ("USAGE", 2),
        ("FILE_ERRORS", 3),
        ("INTERNAL_ERROR", 4),
        ("INTERRUPTED", 130),
    ]


def test_default_fail_on_is_error() -> None:
    report = Report()
    report.checked(1, [finding(Severity.WARNING)])
    assert report.return_code() == ExitCode.OK


def test_bad_fail_on() -> None:
    with pytest.raises(ValueError):
        Report().return_code("info")


@pytest.mark.parametrize(
    "findings, files, images, file_errors, internal, expected",
    [
        ([], 40, 120, 0, 0, "No problems found; 120 images checked in 40 files."),
        ([], 1, 1, 0, 0, "No problems found; 1 image checked in 1 file."),
        (
            FINDINGS,
            40,
            120,
            0,
            0,
            "Found 7 problems (3 errors, 4 warnings) in 3 files; 120 images checked in 40 files.",
        ),
        (FINDINGS[:1], 1, 1, 0, 0, "Found 1 problem (0 errors, 1 warning) in 1 file; 1 image checked in 1 file."),
        ([], 3, 5, 2, 0, "No problems found; 5 images checked in 3 files. 2 files could not be checked."),
        (
            [],
            3,
            5,
            0,
            1,
            "No problems found; 5 images checked in 3 files. 1 internal error (a bug in alttext: please report it).",
        ),
    ],
)
def test_summary(findings: list, files: int, images: int, file_errors: int, internal: int, expected: str) -> None:
    report = Report(files_checked=files - 1, images_checked=images)
    report.checked(0, findings)
    for i in range(file_errors):
        report.failed(FileError(f"bad{i}.html", "unreadable"))
    for _ in range(internal):
        report.crashed(None, RuntimeError("boom"))
    assert report.summary() == expected
    assert "\x1b[" in report.summary(color=True)


def test_report_crashed_records_exception_type() -> None:
    report = Report()
    report.crashed("a.html", KeyError("alt"))
    report.crashed(None, "plain message")
    assert report.internal_errors == [InternalError("a.html", "KeyError: 'alt'"), InternalError(None, "plain message")]


def test_gitlab_issues() -> None:
    issues = code_quality_issues(FINDINGS, FILE_ERRORS, internal_errors=[InternalError(None, "boom")])
    assert len(issues) == len(FINDINGS) + len(FILE_ERRORS) + 1
    assert len({issue["fingerprint"] for issue in issues}) == len(issues)
    by_check = {str(issue["check_name"]): issue for issue in issues}
    assert by_check["alttext/internal-error"]["location"] == {"path": ".", "lines": {"begin": 1}}
    assert by_check["alttext/internal-error"]["severity"] == by_check["alttext/file-error"]["severity"] == "critical"
    assert by_check["alttext/missing-alt"]["severity"] == "major"
    assert by_check["alttext/placeholder-alt"]["severity"] == "minor"


def test_gitlab_fingerprints_ignore_line_moves_and_count_identical_images() -> None:
    first = ref("a.md", 3, 1, source="![](x.png)", src="x.png", alt=None)
    twin = ref("a.md", 9, 1, source="![](x.png)", src="x.png", alt=None)
    moved = ref("a.md", 30, 5, source="![](x.png)", src="x.png", alt=None)
    finding = lambda image: Finding("missing-alt", Severity.ERROR, "no alt", image)  # noqa: E731
    [a] = code_quality_issues([finding(first)])
    [b] = code_quality_issues([finding(moved)])
    assert a["fingerprint"] == b["fingerprint"]
    pair = code_quality_issues([finding(first), finding(twin)])
    assert pair[0]["fingerprint"] == a["fingerprint"] != pair[1]["fingerprint"]


@pytest.mark.parametrize("fmt", FORMAT_CHOICES)
def test_report_render_matches_formatters(fmt: str) -> None:
    report = Report()
    report.checked(7, FINDINGS)
    for error in FILE_ERRORS:
        report.failed(error)
    assert report.render(fmt) == FORMATTERS[fmt](FINDINGS, FILE_ERRORS)
    if fmt == "text":
        assert report.render(fmt, color=True) == format_text(FINDINGS, FILE_ERRORS, color=True)
