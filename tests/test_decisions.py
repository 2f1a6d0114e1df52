"""Decisions: the Decision value, the Provider protocol, and FileDecisions (alttext fix --from)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from alttext_tools.core import Decision, ImageKey, ImageRef, Provider, image_key
from alttext_tools.rewrite.decisions import DecisionsError, FileDecisions
from alttext_tools.scan.dispatch import scan_text

DOC = '<p><img src="a.png"></p>\n<p>\n  <img src="b.png" alt="b.png">\n</p>\n'
# a.png at 1:4, b.png at 3:3
IMAGES = scan_text(DOC, "docs/page.html", "html")


def entry(line: int, column: int, new_alt: object = "A fox", **extra: object) -> dict[str, object]:
    item: dict[str, object] = {
        "path": "docs/page.html",
        "line": line,
        "column": column,
        "rule": "missing-alt",
        "src": "a.png",
        "alt": None,
    }
    if new_alt is not ...:
        item["new_alt"] = new_alt
    item.update(extra)
    return item


def load(items: list[object]) -> FileDecisions:
    return FileDecisions.from_json(json.dumps(items), "d.json")


def test_positions_of_fixture_images() -> None:
    assert [(i.line, i.column, i.src) for i in IMAGES] == [(1, 4, "a.png"), (3, 3, "b.png")]


# --------------------------------------------------------------------------- Decision


def test_decision_normalises_to_one_line() -> None:
    assert Decision.text("  A red\n fox\t\u2028asleep \x00").alt == "A red fox asleep"


@pytest.mark.parametrize("blank", ["", " ", "\n\t", "\x00\x1b", "\u2028"])
def test_blank_text_decision_is_refused_not_made_decorative(blank: str) -> None:
    with pytest.raises(ValueError):
        Decision.text(blank)


def test_decorative_decision() -> None:
    d = Decision.mark_decorative()
    assert d.decorative and d.alt == ""
    with pytest.raises(ValueError):
        Decision("text", decorative=True)


def test_provider_protocol_is_structural() -> None:
    class Constant:
        def decide(self, images: Sequence[ImageRef]) -> Mapping[ImageKey, Decision]:
            return {image_key(i): Decision.text("x") for i in images}

    assert isinstance(Constant(), Provider)
    assert isinstance(FileDecisions("x"), Provider)


# --------------------------------------------------------------------------- matching


def test_matches_by_path_line_column() -> None:
    fd = load([entry(1, 4, "A red fox"), entry(3, 3, "", src="b.png", rule="filename-alt", alt="b.png")])
    got = fd.decide(IMAGES)
    assert got == {
        ("docs/page.html", 1, 4): Decision.text("A red fox", "file"),
        ("docs/page.html", 3, 3): Decision.mark_decorative("file"),
    }
    assert fd.unmatched(["docs/page.html"]) == []
    assert fd.problems == []
    assert fd.paths() == ["docs/page.html"]


def test_path_spellings_are_normalised() -> None:
    fd = load([dict(entry(1, 4), path="./docs//page.html")])
    assert list(fd.decide(IMAGES)) == [("docs/page.html", 1, 4)]


def test_stale_position_is_a_problem_not_a_guess() -> None:
    fd = load([entry(2, 4)])  # nothing at 2:4 any more
    assert fd.decide(IMAGES) == {}
    problems = fd.unmatched(["docs/page.html"])
    assert len(problems) == 1
    line = str(problems[0])
    assert "\n" not in line
    assert line.startswith("d.json: entry 1 (docs/page.html:2:4): no image at this position any more")
    assert fd.unmatched(["docs/page.html"]) == []  # reported once


def test_entry_for_a_file_that_was_not_processed() -> None:
    fd = load([dict(entry(1, 4), path="docs/gone.html")])
    fd.decide(IMAGES)
    [problem] = fd.unmatched(["docs/page.html"])
    assert "file was not processed" in str(problem)


def test_src_guard() -> None:
    fd = load([entry(1, 4, src="other.png")])
    assert fd.decide(IMAGES) == {}
    [problem] = fd.problems
    assert "src is now 'a.png', not 'other.png'" in str(problem)
    assert fd.unmatched(["docs/page.html"]) == []  # not reported twice


def test_src_guard_null_and_missing() -> None:
    # src null must match an image without src; no src key at all means "don't check"
    no_src = scan_text("<img alt=x>", "docs/page.html", "html")
    assert load([dict(entry(1, 1), src=None)]).decide(no_src)
    assert load([dict(entry(1, 1), src="a.png")]).decide(no_src) == {}
    item = entry(1, 4)
    del item["src"]
    assert load([item]).decide(IMAGES)


def test_entry_already_applied_on_its_line_is_done() -> None:
    """After a first run, images later on a line have moved right: an entry that finds, on its line,
    an image with its src already carrying its new_alt is done, not stale."""
    before = "Icons: ![](a.png) ![](b.png) ![](c.png)\n"
    items = [
        {
            "path": "docs/i.md",
            "line": 1,
            "column": image.column,
            "src": image.src,
            "alt": "",
            "new_alt": f"Alt {image.src}",
        }
        for image in scan_text(before, "docs/i.md", "markdown")
    ]
    after = "Icons: ![Alt a.png](a.png) ![Alt b.png](b.png) ![Alt c.png](c.png)\n"
    fd = load(items)
    decided = fd.decide(scan_text(after, "docs/i.md", "markdown"))
    assert list(decided.values()) == [Decision.text("Alt a.png", "file")]  # still at its place: satisfied
    assert fd.unmatched(["docs/i.md"]) == [] and fd.problems == []


def test_moved_entry_not_yet_applied_is_still_reported() -> None:
    items = [{"path": "docs/i.md", "line": 1, "column": 19, "src": "b.png", "new_alt": "Alt b"}]  # now at 20
    fd = load(items)
    assert fd.decide(scan_text("Icons: ![x](a.png) ![](b.png)\n", "docs/i.md", "markdown")) == {}
    [problem] = fd.unmatched(["docs/i.md"])
    assert "no image at this position any more" in str(problem)


def test_src_guard_names_a_missing_src_in_words() -> None:
    fd = load([entry(1, 1, src="a.png")])
    assert fd.decide(scan_text("<img alt=x>", "docs/page.html", "html")) == {}
    [problem] = fd.problems
    assert "src is now none, not 'a.png'" in str(problem) and "None" not in str(problem)


def test_entries_without_new_alt_are_skipped() -> None:
    fd = load([entry(1, 4, ...), entry(3, 3, None, src="b.png")])
    assert fd.entries == [] and fd.skipped == 2
    assert fd.decide(IMAGES) == {}
    assert fd.unmatched() == [] and fd.problems == []


def test_agreeing_duplicates_are_fine() -> None:
    fd = load(
        [
            entry(3, 3, "A  chart", src="b.png", rule="filename-alt"),
            entry(3, 3, "A chart", src="b.png", rule="placeholder-alt"),
        ]
    )
    assert fd.problems == []
    assert fd.decide(IMAGES) == {("docs/page.html", 3, 3): Decision.text("A chart", "file")}


def test_conflicting_duplicates_are_a_problem_and_leave_the_image() -> None:
    fd = load([entry(3, 3, "A chart", src="b.png"), entry(3, 3, "A graph", src="b.png"), entry(3, 3, "", src="b.png")])
    assert fd.decide(IMAGES) == {}
    [problem] = fd.problems
    assert (
        str(problem) == "d.json: entry 2 (docs/page.html:3:3): conflicts with entry 1 for the same image "
        "('A chart' vs 'A graph'); image left unchanged"
    )


def test_duplicates_with_different_src_conflict() -> None:
    fd = load([entry(3, 3, "A chart", src="b.png"), entry(3, 3, "A chart", src="c.png")])
    assert fd.decide(IMAGES) == {}
    assert "src" in str(fd.problems[0])


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("just a string", "expected an object, got str"),
        ({"line": 1, "column": 4, "new_alt": "x"}, "needs path (string), line and column"),
        ({"path": "a.md", "line": "1", "column": 4, "new_alt": "x"}, "needs path"),
        ({"path": "a.md", "line": 0, "column": 4, "new_alt": "x"}, "needs path"),
        ({"path": "a.md", "line": True, "column": 4, "new_alt": "x"}, "needs path"),
        ({"path": "a.md", "line": 1, "column": 4, "new_alt": 3}, "new_alt must be a string"),
        ({"path": "a.md", "line": 1, "column": 4, "new_alt": "  \n"}, "empty after removing whitespace"),
        ({"path": "a.md", "line": 1, "column": 4, "new_alt": "x", "src": 5}, "src must be a string or null"),
    ],
)
def test_bad_entries_are_one_line_problems(item: object, message: str) -> None:
    fd = load([item, entry(1, 4)])
    assert len(fd.problems) == 1
    text = str(fd.problems[0])
    assert message in text and "\n" not in text and text.startswith("d.json: entry 1")
    assert len(fd.entries) == 1  # the good entry still counts


# --------------------------------------------------------------------------- whole-file errors


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"path": "a.md",', "d.json: not valid JSON (line 1, column"),
        ("", "d.json: not valid JSON (line 1, column 1"),
        ('{"a": 1}', "d.json: expected a JSON list of findings"),
        ("42", "d.json: expected a JSON list of findings"),
    ],
)
def test_malformed_file_is_one_line_error(content: str, message: str) -> None:
    with pytest.raises(DecisionsError) as info:
        FileDecisions.from_json(content, "d.json")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_load_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "decisions.json"
    path.write_text("\ufeff" + json.dumps([entry(1, 4)]), encoding="utf-8")  # BOM tolerated
    assert FileDecisions.load(path).decide(IMAGES)
    with pytest.raises(DecisionsError, match="decisions file not found"):
        FileDecisions.load(tmp_path / "nope.json")
    path.write_bytes(b"[\xff]")
    with pytest.raises(DecisionsError, match="not UTF-8"):
        FileDecisions.load(path)


def test_report_object_wrapping_the_list_is_accepted() -> None:
    fd = FileDecisions.from_json(json.dumps({"version": 1, "findings": [entry(1, 4)]}), "d.json")
    assert fd.decide(IMAGES)


def test_error_entries_of_the_report_are_skipped_silently() -> None:
    file_error = {
        "path": "docs/old.html",
        "line": None,
        "column": None,
        "rule": "file-error",
        "severity": "error",
        "message": "x",
        "src": None,
        "alt": None,
    }
    fd = load([file_error, entry(1, 4)])
    assert fd.problems == [] and fd.skipped == 1 and len(fd.entries) == 1


def test_real_check_json_round_trip() -> None:
    """The list `alttext check --format json` prints, with new_alt added, drives the decisions."""
    from alttext_tools.check.rules import evaluate_all
    from alttext_tools.report.json_format import format_json

    findings = evaluate_all(IMAGES)
    items = json.loads(format_json(findings))
    assert {item["rule"] for item in items} >= {"missing-alt", "filename-alt"}
    for item in items:
        item["new_alt"] = "A red fox" if item["src"] == "a.png" else ""
    fd = FileDecisions.from_json(json.dumps(items), "d.json")
    assert fd.decide(IMAGES) == {
        ("docs/page.html", 1, 4): Decision.text("A red fox", "file"),
        ("docs/page.html", 3, 3): Decision.mark_decorative("file"),
    }
    assert fd.problems == []
