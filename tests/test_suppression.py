"""Inline suppression comments (check/suppression.py): one table of cases over every syntax and
form (fixtures/suppress/cases.txt), then the same through the results cache, `alttext check` in
every report format, `alttext fix`, a real `mkdocs build` and a real `sphinx-build`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FIXTURES, alttext, read_fixture_blocks

from alttext_tools.cache.file import Entry
from alttext_tools.cache.store import AltCache
from alttext_tools.check.results_cache import ResultsCache
from alttext_tools.check.rules import DEFAULT_SETTINGS, RuleSettings, evaluate_all
from alttext_tools.check.run import check_file, check_files
from alttext_tools.check.suppression import find_directives, may_hold_directives
from alttext_tools.core import Decision, ImageKey, ImageRef, image_key
from alttext_tools.images.resolve import content_hash
from alttext_tools.rewrite.fix import run_fix, scan_for_fix
from alttext_tools.rewrite.writeback import WriteBack
from alttext_tools.scan.dialects import COMMONMARK, MKDOCS, MYST, Dialect
from alttext_tools.scan.dispatch import LoadedFile

SUFFIX = {"html": ".html", "commonmark": ".md", "mkdocs": ".md", "myst": ".md", "rst": ".rst"}
DIALECT: Mapping[str, Dialect | None] = {"commonmark": COMMONMARK, "mkdocs": MKDOCS, "myst": MYST}


@dataclass(frozen=True)
class Case:
    id: str
    syntax: str
    source: str
    findings: tuple[tuple[int, str], ...]  # (line, rule) still reported
    warnings: tuple[tuple[int, str], ...]  # (line, part of the message)


def read_cases(path: Path) -> list[Case]:
    cases = []
    for block in read_fixture_blocks(path, 2):
        title = re.match(r"\[([\w-]+)\] (\w+) ", block.title)
        assert title, f"{path}:{block.line}: bad title {block.title!r}"
        findings, warnings = [], []
        for line in block.sections[1].splitlines():
            if line.startswith("warning "):
                _, number, text = line.split(" ", 2)
                warnings.append((int(number), text))
            elif line:
                number, rule = line.split()
                findings.append((int(number), rule))
        cases.append(Case(title[1], title[2], block.sections[0] + "\n", tuple(findings), tuple(warnings)))
    return cases


CASES = read_cases(FIXTURES / "suppress" / "cases.txt")


def check_case(
    case: Case, folder: Path, settings: RuleSettings = DEFAULT_SETTINGS
) -> tuple[list[tuple[int, str]], list[str]]:
    page = folder / f"page{SUFFIX[case.syntax]}"
    page.write_text(case.source, encoding="utf-8")
    result = check_file(page, page.name, settings, DIALECT.get(case.syntax))
    assert result.error is None and result.internal_error is None, (result.error, result.internal_error)
    return [(f.image.line, f.rule) for f in result.findings], result.warnings


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case, tmp_path: Path) -> None:
    findings, warnings = check_case(case, tmp_path)
    assert sorted(findings) == sorted(case.findings)
    assert len(warnings) == len(case.warnings), warnings
    for shown, (line, text) in zip(warnings, case.warnings):
        assert shown.startswith(f"page{SUFFIX[case.syntax]}:{line}: ") and text in shown, shown


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_no_inline_config_reports_everything(case: Case, tmp_path: Path) -> None:
    """inline_config = false (`--no-inline-config`): every finding the rules make, no warning."""
    findings, warnings = check_case(case, tmp_path, RuleSettings(inline_config=False))
    page = tmp_path / f"page{SUFFIX[case.syntax]}"
    result = check_file(page, page.name, RuleSettings(), DIALECT.get(case.syntax))
    assert warnings == []
    assert set(case.findings) <= set(findings)
    assert len(findings) == len(evaluate_all(result.images))


@pytest.mark.parametrize("case", [c for c in CASES if "next-line" in c.id], ids=lambda c: c.id)
def test_crlf_sources(case: Case, tmp_path: Path) -> None:
    """Lines end at CRLF as at LF: the same findings."""
    crlf = Case(case.id, case.syntax, case.source.replace("\n", "\r\n"), case.findings, case.warnings)
    assert sorted(check_case(crlf, tmp_path)[0]) == sorted(case.findings)


def test_every_syntax_and_form_has_a_case() -> None:
    forms = {(case.syntax, d.action) for case in CASES for d in find_directives(case.source, *_kind(case)).directives}
    for syntax in SUFFIX:
        for action in ("disable-next-line", "disable", "enable"):
            assert (syntax, action) in forms, (syntax, action)
    assert {("html", "disable-line"), ("commonmark", "disable-line")} <= forms


def _kind(case: Case) -> tuple[str, str, Dialect | None]:
    kind = {"html": "html", "rst": "rst"}.get(case.syntax, "markdown")
    return kind, "page", DIALECT.get(case.syntax)


def test_gate_on_bytes() -> None:
    assert may_hold_directives(b"<!-- alttext-disable -->")
    assert may_hold_directives("<!-- alttext-disable -->".encode("utf-16"))
    assert not may_hold_directives(b"<img src=a.png> <!-- alttext-ignore-->"[:14])


# --------------------------------------------------------------------------- the results cache


def test_results_cache_holds_findings_and_suppression_is_applied_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm run answers from the cache (nothing is scanned), and still silences and warns."""
    (tmp_path / "a.md").write_text("<!-- alttext-disable-next-line missng-alt -->\n![](a.png)\n\n![](b.png)\n")
    (tmp_path / "b.md").write_text("<!-- alttext-disable-next-line empty-alt -->\n![](a.png)\n\n![](b.png)\n")
    files = [(tmp_path / name, name) for name in ("a.md", "b.md")]
    results = ResultsCache(tmp_path / "cache", RuleSettings())

    def outcome() -> list[tuple[str, list[tuple[int, str]], list[str]]]:
        run = check_files(files, RuleSettings(), jobs=1, dialect="commonmark", results=results)
        return [(r.path, [(f.image.line, f.rule) for f in r.findings], r.warnings) for r in run.results]

    cold = outcome()
    assert cold == [
        ("a.md", [(2, "empty-alt"), (4, "empty-alt")], ["a.md:1: " + cold[0][2][0].split(": ", 1)[1]]),
        ("b.md", [(4, "empty-alt")], []),
    ]
    assert "unknown rule 'missng-alt'" in cold[0][2][0]

    def no_scan(self: LoadedFile) -> None:
        raise AssertionError(f"{self.path} scanned although cached")

    monkeypatch.setattr(LoadedFile, "scan", no_scan)
    assert outcome() == cold


# --------------------------------------------------------------------------- the command line

SITE_FILES = {
    "page.html": '<!-- alttext-disable-next-line missing-alt -->\n<img src="a.png">\n<img src="b.png">\n',
    "page.md": "<!-- alttext-disable-next-line -->\n![](a.png)\n\n![](b.png)\n",
    "page.rst": ".. alttext-disable-next-line missing-alt\n.. image:: a.png\n\n.. image:: b.png\n",
    "bad.md": "<!-- alttext-disable-next-line missng-alt -->\n![](c.png)\n",
}
# (path, line) still reported in SITE_FILES
SITE_FINDINGS = {("page.html", 3), ("page.md", 4), ("page.rst", 4), ("bad.md", 2)}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    for name, text in SITE_FILES.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def _located(fmt: str, out: str) -> set[tuple[str, int]]:
    if fmt == "text":
        return {(m[1], int(m[2])) for m in re.finditer(r"^(\S+?):(\d+):\d+: ", out, re.M)}
    if fmt == "github":
        return {(m[1], int(m[2])) for m in re.finditer(r"file=([^,]+),line=(\d+)", out)}
    data = json.loads(out)
    if fmt == "json":
        return {(item["path"], item["line"]) for item in data}
    if fmt == "gitlab":
        return {(item["location"]["path"], item["location"]["lines"]["begin"]) for item in data}
    assert fmt == "sarif"
    return {
        (loc["physicalLocation"]["artifactLocation"]["uri"], loc["physicalLocation"]["region"]["startLine"])
        for result in data["runs"][0]["results"]
        for loc in result["locations"]
    }


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "gitlab"])
def test_check_in_every_format(site: Path, fmt: str) -> None:
    proc = alttext("check", ".", "--format", fmt, "--no-cache-results", cwd=site)
    assert proc.returncode == 1, proc.stderr
    assert _located(fmt, proc.stdout) == SITE_FINDINGS
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: bad.md:1: unknown rule 'missng-alt' in alttext-disable-next-line (known: "
        + warnings[0].split("(known: ", 1)[1]
    ]


def test_check_no_inline_config(site: Path) -> None:
    proc = alttext("check", ".", "--format", "json", "--no-inline-config", cwd=site)
    assert proc.returncode == 1
    assert len(_located("json", proc.stdout)) == 7
    assert "warning:" not in proc.stderr
    (site / ".alttext.toml").write_text("inline_config = false\n")
    assert len(_located("json", alttext("check", ".", "--format", "json", cwd=site).stdout)) == 7


class _Writer:
    """A provider that writes "A fox" for every image it is asked about, and remembers them."""

    def __init__(self) -> None:
        self.asked: list[ImageRef] = []

    def decide(self, images: Sequence[ImageRef]) -> dict[ImageKey, Decision]:
        self.asked.extend(images)
        return {image_key(image): Decision("A fox", False, "test") for image in images}


def test_fix_leaves_a_suppressed_image_alone(site: Path) -> None:
    files = sorted((path, path.name) for path in site.iterdir())
    scanned, errors = scan_for_fix(files, RuleSettings(), jobs=1)
    assert errors == []
    writer = _Writer()
    run_fix(scanned, writer, WriteBack.WRITE, jobs=1)
    assert sorted((i.path, i.line) for i in writer.asked) == sorted(SITE_FINDINGS)
    assert (site / "page.html").read_text() == SITE_FILES["page.html"].replace('"b.png">', '"b.png" alt="A fox">')
    assert (site / "page.md").read_text() == SITE_FILES["page.md"].replace("![](b.png)", "![A fox](b.png)")
    assert (site / "page.rst").read_text() == SITE_FILES["page.rst"] + "   :alt: A fox\n"
    assert next(w for item in scanned for w in item.warnings).startswith("bad.md:1: unknown rule 'missng-alt'")


# --------------------------------------------------------------------------- MkDocs and Sphinx


def test_mkdocs_build(tmp_path: Path, plugin_env: dict[str, str]) -> None:
    pytest.importorskip("mkdocs")
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "mkdocs.yml").write_text(
        "site_name: S\nmarkdown_extensions:\n  - admonition\nplugins:\n  - alttext\n", encoding="utf-8"
    )
    (site / "docs" / "index.md").write_text(
        "# Home\n\n"
        "!!! note\n\n"
        "    <!-- alttext-disable-next-line empty-alt -->\n"
        "    ![](a.png)\n\n"
        "![](b.png)\n\n"
        "<!-- alttext-disable-next-line emptyalt -->\n"
        "![](c.png)\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-d", str(tmp_path / "out")],
        cwd=site,
        env=plugin_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    shown = re.findall(r"^WARNING\s+-\s+alttext: (.*)$", log, re.M)
    assert [line.split(" ")[0] for line in shown] == ["docs/index.md:10:", "docs/index.md:8:1:", "docs/index.md:11:1:"]
    assert "unknown rule 'emptyalt'" in shown[0]


def test_sphinx_build(tmp_path: Path) -> None:
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    site = tmp_path / "site"
    shutil.copytree(FIXTURES / "sphinx-site", site)
    animals = site / "animals.rst"
    lines = animals.read_text(encoding="utf-8").split("\n")
    assert lines[5].startswith(".. image::"), lines[5]  # line 6: the fixture's missing-alt
    lines.insert(5, ".. alttext-disable-next-line missing-alt")
    animals.write_text("\n".join(lines), encoding="utf-8")
    charts = site / "charts.md"
    charts.write_text("% alttext-disable missing-alt, bogus-rule\n" + charts.read_text(encoding="utf-8"))
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q", ".", str(tmp_path / "out")],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "missing-alt:" not in log, log
    assert re.search(r"charts\.md:1: WARNING: alttext: unknown rule 'bogus-rule'", log), log


def test_require_reviewed_findings_are_suppressed_too(tmp_path: Path) -> None:
    photo = sorted((FIXTURES / "router" / "photo").glob("*.png"))[0]
    (tmp_path / "img").mkdir()
    shutil.copy(photo, tmp_path / "img" / "fox.png")
    (tmp_path / ".alttext.toml").write_text("")
    (tmp_path / "page.md").write_text(
        "![A red fox](img/fox.png)\n\n<!-- alttext-disable-next-line unreviewed-alt -->\n![A red fox](img/fox.png)\n"
    )
    with AltCache.open(tmp_path / ".alttext-cache.jsonl") as cache:
        entry = Entry.generated(
            content_hash(photo.read_bytes()), "moondream2", "p1", "en", "informative", alt="A red fox"
        )
        cache.put(entry)
    proc = alttext("check", "--require-reviewed", "--format", "json", "--no-cache-results", cwd=tmp_path)
    assert [(e["rule"], e["line"]) for e in json.loads(proc.stdout)] == [("unreviewed-alt", 1)], proc.stderr
