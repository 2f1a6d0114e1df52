"""`:alt:` options written byte-exactly in reST and MyST: the hostile-alt round trip on the scanner
fixtures, newlines, encodings and BOMs kept, and what cannot be written refused in one line."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from conftest import REPO
from test_scan_markdown import Case, read_cases
from test_scan_rst import rendered_alts

from alttext_tools.check.rules import evaluate_all
from alttext_tools.core import Decision, ImageRef, image_key
from alttext_tools.rewrite.edits import RewriteError, plan_edits, rewrite_text
from alttext_tools.rewrite.options import OptionEditError, escape_myst_option, escape_rst_option
from alttext_tools.rewrite.writeback import Status, WriteBack, fix_file
from alttext_tools.scan.dispatch import scan_file, scan_text

pytest.importorskip("myst_parser")

HOSTILE = (
    'He said "don\'t" & left \\ a back\\slash, a | pipe, *stars*, `ticks`, <b>tags</b>, :alt: x # y\n'
    "a new line, café, 中文, emoji 🦊 and a long tail "
)
HOSTILE = (HOSTILE + "z" * 200)[:200]
WANTED = Decision.text(HOSTILE).alt  # one line: the newline became a space
CASES = [(case, "rst") for case in read_cases(REPO / "fixtures" / "rst" / "images.txt")] + [
    (case, "myst") for case in read_cases(REPO / "fixtures" / "myst" / "images.txt")
]
ALT_LINE = re.compile(r"^[ \t]*:?alt:(?: .*)?$")


def editable(text: str, images: list[ImageRef], decision: Decision) -> list[tuple[ImageRef, Decision]]:
    """Every directive image whose :alt: can be written (an image in a grid table cannot)."""
    pairs = []
    for image in images:
        if not image.is_directive_syntax:
            continue
        try:
            plan_edits(text, [(image, decision)])
        except RewriteError:
            assert image.alt_span is None
            continue
        pairs.append((image, decision))
    return pairs


def only_alt_lines_changed(old: str, new: str) -> None:
    """Every line the edit added, removed or changed is an `:alt:` option line (or the continuation
    of a multi-line value it replaced), and on a changed line everything before the value is kept."""
    a, b = old.splitlines(), new.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        assert all(ALT_LINE.match(line) for line in b[j1:j2]), b[j1:j2]
        if i2 > i1:
            assert ALT_LINE.match(a[i1]), a[i1:i2]
            assert all(line.startswith(" ") for line in a[i1 + 1 : i2])  # continuation lines
            if j2 > j1:
                assert a[i1].split("alt:")[0] == b[j1].split("alt:")[0]


@pytest.mark.parametrize(("case", "kind"), CASES, ids=[f"{kind}-{case.id}" for case, kind in CASES])
@pytest.mark.parametrize(
    "decision", [Decision.text(HOSTILE), Decision.mark_decorative()], ids=["hostile", "decorative"]
)
def test_round_trip(case: Case, kind: str, decision: Decision) -> None:
    text = case.text
    images = scan_text(text, case.path, kind)  # type: ignore[arg-type]
    pairs = editable(text, images, decision)
    if not pairs:
        pytest.skip("no directive image to edit")
    result = rewrite_text(text, case.path, kind, images, pairs)  # type: ignore[arg-type]  # re-scans and verifies
    only_alt_lines_changed(text, result.text)
    wanted = "" if decision.decorative else WANTED
    again = scan_text(result.text, case.path, kind)  # type: ignore[arg-type]
    edited = {image.span.start for image, _ in pairs}
    shift = {old.span.start: new for old, new in zip(images, again)}
    assert all(shift[start].alt == wanted for start in edited)
    # docutils / myst-parser themselves read the new alt exactly (a table or an unknown directive
    # aside, every image the renderer makes is one the scanner found)
    if case.id not in ("substitution-no-alt", "unknown-directive"):
        rendered = rendered_alts(result.text, kind)
        assert rendered == [image.alt for image in again if not image.in_html_block]
        assert rendered.count(wanted) >= len(pairs)
    # a second run changes nothing
    second = [(new, decision) for old, new in zip(images, again) if old.span.start in edited]
    assert rewrite_text(result.text, case.path, kind, again, second).edits == ()  # type: ignore[arg-type]


def test_insert_matches_the_other_options_and_the_newline() -> None:
    text = "Intro.\r\n\r\n- item\r\n\r\n  .. figure:: a.png\r\n      :width: 10px\r\n\r\n      Caption.\r\n"
    [image] = scan_text(text, "p.rst", "rst")
    result = rewrite_text(text, "p.rst", "rst", [image], [(image, Decision.text("A fox"))])
    assert result.text == text.replace("      :width: 10px\r\n", "      :width: 10px\r\n      :alt: A fox\r\n")
    text = ".. image:: a.png"  # no line break at the end of the file
    [image] = scan_text(text, "p.rst", "rst")
    assert (
        rewrite_text(text, "p.rst", "rst", [image], [(image, Decision.text("A fox"))]).text == text + "\n   :alt: A fox"
    )


def test_myst_values_are_quoted_only_when_needed() -> None:
    assert escape_myst_option("A red fox") == "A red fox"
    assert escape_myst_option("Ratio: 2 # of 3") == '"Ratio: 2 # of 3"'
    assert escape_myst_option('"Quoted" \\ start') == '"\\"Quoted\\" \\\\ start"'
    assert escape_myst_option("café", "latin-1") == "café"
    assert escape_myst_option("中", "latin-1") == '"\\u4E2D"'
    assert escape_rst_option('*a* `b` | \\ "c"') == '*a* `b` | \\ "c"'
    with pytest.raises(OptionEditError, match="latin-1"):
        escape_rst_option("中文", "latin-1")


@pytest.mark.parametrize("kind_suffix", [".rst", ".txt"])
def test_fix_file_keeps_bom_crlf_and_legacy_encodings(tmp_path: Path, kind_suffix: str) -> None:
    (tmp_path / "conf.py").write_text("source_suffix = ['.rst', '.txt']\n")
    page = tmp_path / f"page{kind_suffix}"
    original = "\ufeffTitle\r\n=====\r\n\r\n.. image:: a.png\r\n   :width: 10\r\n".encode("utf-8")
    page.write_bytes(original)
    outcome = fix_rst(page, "A café fox")
    assert outcome.status is Status.CHANGED, outcome.message
    assert page.read_bytes() == original.replace(
        b"   :width: 10\r\n", "   :width: 10\r\n   :alt: A café fox\r\n".encode()
    )
    legacy = tmp_path / f"legacy{kind_suffix}"
    latin = ".. image:: a.png\n\nCafé crème.\n".encode("latin-1")
    legacy.write_bytes(latin)
    assert fix_rst(legacy, "Un café").status is Status.CHANGED
    assert legacy.read_bytes() == latin.replace(b"a.png\n", "a.png\n   :alt: Un café\n".encode("latin-1"))
    before = legacy.read_bytes()
    outcome = fix_rst(legacy, "中文", line=1)
    assert outcome.status is Status.UNCHANGED and legacy.read_bytes() == before  # refused: no escape in reST
    assert any("cannot hold" in note for note in outcome.notes), outcome.notes


def fix_rst(path: Path, alt: str, line: int | None = None) -> object:
    scanned = scan_file(path, path.name)
    assert scanned.source is not None and scanned.error is None
    findings = evaluate_all(scanned.images)
    image = scanned.images[0]
    decisions = {image_key(image): Decision.text(alt)}
    overwrite = line is not None
    return fix_file(
        path,
        scanned.source,
        scanned.images,
        decisions,
        WriteBack.WRITE,
        findings=findings,
        overwrite=overwrite,
        display=path.name,
    )
