"""Write-back: fix_file's modes, failures that leave files untouched, and diffs that git/patch apply."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

from alttext_tools import fsio
from alttext_tools.check.rules import evaluate_all
from alttext_tools.core import Decision, image_key
from alttext_tools.fsio import TEMP_INFIX
from alttext_tools.rewrite import writeback
from alttext_tools.rewrite.diff import diff_path, unified_diff
from alttext_tools.rewrite.writeback import FixSummary, Status, WriteBack, fix_file
from alttext_tools.scan.dispatch import scan_file

FIXABLE = frozenset({"missing-alt", "empty-alt", "whitespace-alt", "filename-alt", "placeholder-alt"})


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if TEMP_INFIX in p.name]


# --------------------------------------------------------------------------- WriteBack


def test_writeback_from_flags() -> None:
    assert WriteBack.from_flags() is WriteBack.WRITE
    assert WriteBack.from_flags(check=True) is WriteBack.CHECK
    assert WriteBack.from_flags(diff=True) is WriteBack.DIFF
    assert WriteBack.from_flags(check=True, diff=True) is WriteBack.DIFF


# --------------------------------------------------------------------------- unified diff


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True, env=env, check=False)


def apply_both_ways(tmp_path: Path, relpath: str, old: bytes, patch: bytes) -> tuple[bytes, bytes]:
    """Apply `patch` to a file holding `old` with `git apply` and with `patch -p1`."""
    results = []
    for tool in ("git", "patch"):
        repo = tmp_path / f"apply-{tool}"
        if repo.exists():
            shutil.rmtree(repo)
        (repo / relpath).parent.mkdir(parents=True)
        (repo / relpath).write_bytes(old)
        if tool == "git":
            assert _git(repo, "init", "-q").returncode == 0
            done = _git(repo, "apply", "-", stdin=patch)
        else:
            done = subprocess.run(
                ["patch", "-p1", "--batch", "--quiet"], cwd=repo, input=patch, capture_output=True, check=False
            )
        assert done.returncode == 0, (tool, done.stdout, done.stderr, patch)
        assert not list(repo.rglob("*.orig")) and not list(repo.rglob("*.rej"))
        results.append((repo / relpath).read_bytes())
    return results[0], results[1]


DIFF_CASES = {
    "lf": (b"one\ntwo\nthree\n", b"one\nTWO\nthree\n"),
    "crlf": (b"one\r\ntwo\r\nthree\r\n", b"one\r\nTWO\r\nthree\r\n"),
    "no-eol": (b"one\ntwo", b"one\nTWO"),
    "no-eol-unchanged-last": (b"one\ntwo\nthree", b"ONE\ntwo\nthree"),
    "crlf-no-eol": (b"one\r\ntwo", b"one\r\nTWO"),
    "latin-1": (b"caf\xe9\n<img src=x>\n", b'caf\xe9\n<img src=x alt="d\xe9j\xe0 vu">\n'),
    "bom": (b"\xef\xbb\xbfone\ntwo\n", b"\xef\xbb\xbfONE\ntwo\n"),
    "mixed": (b"a\r\nb\nc\rd\n", b"a\r\nB\nc\rD\n"),
    "far-apart": (
        b"".join(b"line %d\n" % i for i in range(40)),
        b"".join(b"line %d\n" % i for i in range(40))
        .replace(b"line 3\n", b"LINE 3\n")
        .replace(b"line 33\n", b"LINE 33\n"),
    ),
}


@pytest.mark.parametrize("case", sorted(DIFF_CASES))
@pytest.mark.parametrize("relpath", ["docs/page.md", "docs/with space/é page.md"])
def test_unified_diff_applies_byte_exactly(tmp_path: Path, case: str, relpath: str) -> None:
    old, new = DIFF_CASES[case]
    patch = unified_diff(old, new, relpath)
    assert patch.startswith(b"--- a/docs/")
    by_git, by_patch = apply_both_ways(tmp_path, relpath, old, patch)
    assert by_git == new
    assert by_patch == new


def test_unified_diff_no_newline_marker() -> None:
    patch = unified_diff(b"a\nb", b"a\nc", "x.md")
    assert patch.endswith(b"-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n")
    assert unified_diff(b"same", b"same", "x.md") == b""


def test_diff_path_relative_to_root(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    assert diff_path(tmp_path / "docs" / "a.md", tmp_path) == "docs/a.md"


# --------------------------------------------------------------------------- fix_file


def scanned(path: Path) -> tuple:
    scan = scan_file(path, path.name)
    assert scan.error is None and scan.source is not None
    return scan.source, scan.images, evaluate_all(scan.images)


HTML = b'<!doctype html>\n<p><img src="fox.jpg"></p>\n<p><img src="b.png" alt="A hand-written description"></p>\n'
HTML_FIXED = (
    b'<!doctype html>\n<p><img src="fox.jpg" alt="A red fox"></p>\n'
    b'<p><img src="b.png" alt="A hand-written description"></p>\n'
)


def fix(path: Path, mode: WriteBack, decisions: dict | None = None, **kwargs: object) -> writeback.FileOutcome:
    source, images, findings = scanned(path)
    if decisions is None:
        decisions = {image_key(images[0]): Decision.text("A red fox")}
    return fix_file(
        path,
        source,
        images,
        decisions,
        mode,
        findings=findings,
        fixable_rules=FIXABLE,
        display=path.name,
        root=path.parent,
        **kwargs,
    )


def test_fix_file_write(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(HTML)
    outcome = fix(page, WriteBack.WRITE)
    assert outcome.status is Status.CHANGED and outcome.images == 1
    assert outcome.message == "fixed page.html (1 image)"
    assert page.read_bytes() == HTML_FIXED
    assert temps(tmp_path) == []
    # idempotent: the same decision on the new scan changes nothing
    again = fix(page, WriteBack.WRITE)
    assert again.status is Status.UNCHANGED and again.message is None
    assert page.read_bytes() == HTML_FIXED


@pytest.mark.parametrize("mode", [WriteBack.CHECK, WriteBack.DIFF])
def test_fix_file_check_and_diff_write_nothing(tmp_path: Path, mode: WriteBack) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(HTML)
    outcome = fix(page, mode)
    assert outcome.status is Status.CHANGED
    assert outcome.message == "would fix page.html (1 image)"
    assert page.read_bytes() == HTML
    assert bool(outcome.diff) == (mode is WriteBack.DIFF)
    if mode is WriteBack.DIFF:
        assert outcome.diff.startswith(b"--- a/page.html\n+++ b/page.html\n")


def test_human_alt_is_kept_without_overwrite(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(HTML)
    source, images, findings = scanned(page)
    decisions = {image_key(images[1]): Decision.text("Something else")}
    outcome = fix_file(
        page, source, images, decisions, WriteBack.WRITE, findings=findings, fixable_rules=FIXABLE, display="page.html"
    )
    assert outcome.status is Status.UNCHANGED
    assert page.read_bytes() == HTML
    [note] = outcome.notes
    assert note.startswith("page.html:3:4: not changed: keeps its written alt") and "--overwrite" in note
    outcome = fix_file(
        page, source, images, decisions, WriteBack.WRITE, findings=findings, fixable_rules=FIXABLE, overwrite=True
    )
    assert outcome.status is Status.CHANGED
    assert b'alt="Something else"' in page.read_bytes()


def test_no_findings_means_nothing_is_eligible(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(HTML)
    source, images, _ = scanned(page)
    outcome = fix_file(page, source, images, {image_key(images[0]): Decision.text("A red fox")}, WriteBack.WRITE)
    assert outcome.status is Status.UNCHANGED and page.read_bytes() == HTML


def test_read_only_file_fails_cleanly(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(HTML)
    os.chmod(page, 0o444)
    outcome = fix(page, WriteBack.WRITE)
    assert outcome.status is Status.FAILED and not outcome.internal
    assert outcome.message == "error: cannot fix page.html: permission denied (read-only file)"
    assert page.read_bytes() == HTML
    assert temps(tmp_path) == []


def test_vanished_file_fails_cleanly(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(HTML)
    source, images, findings = scanned(page)
    page.unlink()
    outcome = fix_file(
        page,
        source,
        images,
        {image_key(images[0]): Decision.text("x")},
        WriteBack.WRITE,
        findings=findings,
        fixable_rules=FIXABLE,
        display="page.html",
    )
    assert outcome.message == "error: cannot fix page.html: file vanished"
    assert not page.exists()


def test_file_changed_since_scan_is_left_alone(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(HTML)
    source, images, findings = scanned(page)
    page.write_bytes(b"<!-- edited -->\n" + HTML)
    outcome = fix_file(
        page,
        source,
        images,
        {image_key(images[0]): Decision.text("x")},
        WriteBack.WRITE,
        findings=findings,
        fixable_rules=FIXABLE,
        display="page.html",
    )
    assert outcome.message == "error: cannot fix page.html: file changed since it was scanned; run again"
    assert page.read_bytes() == b"<!-- edited -->\n" + HTML


def test_disk_full_during_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(HTML)
    source, images, findings = scanned(page)

    def enospc(*args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsio.os, "write", enospc)
    outcome = fix_file(
        page,
        source,
        images,
        {image_key(images[0]): Decision.text("x")},
        WriteBack.WRITE,
        findings=findings,
        fixable_rules=FIXABLE,
        display="page.html",
    )
    assert outcome.message == "error: cannot fix page.html: no space left on device"
    assert page.read_bytes() == HTML and temps(tmp_path) == []


def test_verification_failure_is_an_internal_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(HTML)
    from alttext_tools.rewrite import edits as rewrite

    monkeypatch.setattr(
        rewrite, "escape_html_attr", lambda value, quote, encoding="utf-8", in_markdown=False: value + "!"
    )
    outcome = fix(page, WriteBack.WRITE)
    assert outcome.status is Status.FAILED and outcome.internal
    assert outcome.message is not None and outcome.message.startswith(
        "error: internal error while fixing page.html: "
        "image at 2:4: expected alt 'A red fox', re-scan reads 'A red fox!'"
    )
    assert page.read_bytes() == HTML


def test_one_failure_does_not_stop_the_others(tmp_path: Path) -> None:
    pages = [tmp_path / f"p{i}.html" for i in range(3)]
    for page in pages:
        page.write_bytes(HTML)
    os.chmod(pages[1], 0o444)
    outcomes = [fix(page, WriteBack.WRITE) for page in pages]
    assert [o.status for o in outcomes] == [Status.CHANGED, Status.FAILED, Status.CHANGED]
    assert pages[0].read_bytes() == pages[2].read_bytes() == HTML_FIXED
    assert pages[1].read_bytes() == HTML
    summary = FixSummary.of(outcomes, WriteBack.WRITE)
    assert (summary.changed, summary.failed, summary.images) == (2, 1, 2)
    assert summary.line() == "2 files fixed (2 images), 1 file failed to fix."


# --------------------------------------------------------------------------- --diff == WRITE, byte for byte

DIFF_FILES = {
    "page.html": HTML,
    "crlf.html": HTML.replace(b"\n", b"\r\n"),
    "no-eol.md": b"# Title\n\nText ![](fox.jpg)",
    "crlf.md": b"# Title\r\n\r\n![](fox.jpg)\r\n\r\nMore text.\r\n",
    "latin1.html": b'<!doctype html>\n<meta charset="iso-8859-1">\n<p>Caf\xe9 cr\xe8me</p>\n<img src="fox.jpg">\n',
    "bom.md": b"\xef\xbb\xbf# Caf\xc3\xa9\n\n![IMG_2041.jpg](fox.jpg)\n",
}


@pytest.mark.parametrize("name", sorted(DIFF_FILES))
def test_diff_applies_to_the_write_result(tmp_path: Path, name: str) -> None:
    root = tmp_path / "work"
    (root / "docs").mkdir(parents=True)
    page = root / "docs" / name
    page.write_bytes(DIFF_FILES[name])
    alt = 'Un renard roux endormi dans la neige, déjà vu — "quoted" & <b>'
    source, images, findings = scanned(page)
    decisions = {image_key(images[0]): Decision.text(alt)}
    diff = fix_file(
        page, source, images, decisions, WriteBack.DIFF, findings=findings, fixable_rules=FIXABLE, root=root
    )
    assert diff.status is Status.CHANGED and page.read_bytes() == DIFF_FILES[name]
    written = fix_file(
        page, source, images, decisions, WriteBack.WRITE, findings=findings, fixable_rules=FIXABLE, root=root
    )
    assert written.status is Status.CHANGED
    expected = page.read_bytes()
    assert expected != DIFF_FILES[name]
    by_git, by_patch = apply_both_ways(tmp_path, f"docs/{name}", DIFF_FILES[name], diff.diff)
    assert by_git == expected
    assert by_patch == expected


def test_exit_codes() -> None:
    from alttext_tools.report.outcome import ExitCode

    changed = writeback.FileOutcome("a", WriteBack.CHECK, Status.CHANGED, images=1)
    same = writeback.FileOutcome("b", WriteBack.CHECK)
    failed = writeback.FileOutcome("c", WriteBack.CHECK, Status.FAILED, error="x")
    internal = writeback.FileOutcome("d", WriteBack.CHECK, Status.FAILED, error="x", internal=True)
    assert FixSummary.of([same], WriteBack.CHECK).exit_code() is ExitCode.OK
    assert FixSummary.of([same, changed], WriteBack.CHECK).exit_code() is ExitCode.FINDINGS
    assert FixSummary.of([changed], WriteBack.WRITE).exit_code() is ExitCode.OK
    assert FixSummary.of([changed], WriteBack.DIFF).exit_code() is ExitCode.OK
    assert FixSummary.of([changed], WriteBack.DIFF).exit_code(check=True) is ExitCode.FINDINGS
    assert FixSummary.of([changed, failed], WriteBack.CHECK).exit_code() is ExitCode.FILE_ERRORS
    assert FixSummary.of([changed], WriteBack.WRITE).exit_code(problems=1) is ExitCode.FILE_ERRORS
    assert FixSummary.of([failed, internal], WriteBack.WRITE).exit_code() is ExitCode.INTERNAL_ERROR
    assert (
        FixSummary.of([changed, same], WriteBack.CHECK).line()
        == "1 file would be fixed (1 image), 1 file would be left unchanged."
    )


def test_an_image_that_cannot_be_edited_does_not_block_the_others(tmp_path: Path) -> None:
    from dataclasses import replace

    page = tmp_path / "page.md"
    page.write_bytes(b"![](a.png) and ![](b.png)\n")
    source, images, findings = scanned(page)
    images = [replace(images[0], alt_span=None), images[1]]  # as the scanner says for an unprovable label
    decisions = {image_key(i): Decision.text("Fox") for i in images}
    outcome = fix_file(
        page, source, images, decisions, WriteBack.WRITE, findings=findings, fixable_rules=FIXABLE, display="page.md"
    )
    assert outcome.status is Status.CHANGED and outcome.images == 1
    assert page.read_bytes() == b"![](a.png) and ![Fox](b.png)\n"
    assert outcome.notes == ["page.md:1:1: cannot locate the image label exactly; edit it by hand (not changed)"]


CORPUS = Path("/work/shared/corpus/fastapi-docs")
if not CORPUS.is_dir():
    CORPUS = REPO.parent / "shared" / "corpus" / "fastapi-docs"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not available")
def test_real_docs_diff_equals_write(tmp_path: Path) -> None:
    """A slice of a real MkDocs site: every image rewritten (quotes, markup, pipes, RTL, decorative);
    the --diff output applied with git and with patch gives exactly the WRITE result."""
    sources = sorted(
        p
        for p in (CORPUS / "docs" / "en" / "docs").rglob("*.md")
        if b"![" in p.read_bytes() or b"<img" in p.read_bytes()
    )[:40]
    assert sources
    trees = {}
    for name in ("diff", "write", "git", "patch"):
        for source in sources:
            target = tmp_path / name / source.relative_to(CORPUS)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
        trees[name] = tmp_path / name
    alts = ["A red fox", "Quote \" and ' & <b> | * _ ` [x] \\ ~~s~~", "ثعلب 🦊", None]
    patches = []
    for mode, tree in ((WriteBack.DIFF, trees["diff"]), (WriteBack.WRITE, trees["write"])):
        for k, source in enumerate(sources):
            page = tree / source.relative_to(CORPUS)
            scan = scan_file(page, str(page.relative_to(tree)))
            assert scan.source is not None
            decisions = {}
            for i, image in enumerate(scan.images):
                alt = alts[(i + k) % len(alts)]
                decisions[image_key(image)] = Decision.mark_decorative() if alt is None else Decision.text(alt)
            outcome = fix_file(page, scan.source, scan.images, decisions, mode, overwrite=True, root=tree)
            assert not outcome.failed, outcome.message
            patches.append(outcome.diff)
    patch = b"".join(patches)
    assert patch
    _git(trees["git"], "init", "-q")
    done = _git(trees["git"], "apply", "-", stdin=patch)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        ["patch", "-p1", "--batch", "--quiet"], cwd=trees["patch"], input=patch, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    for source in sources:
        relative = source.relative_to(CORPUS)
        expected = (trees["write"] / relative).read_bytes()
        assert (trees["git"] / relative).read_bytes() == expected
        assert (trees["patch"] / relative).read_bytes() == expected
        assert (trees["diff"] / relative).read_bytes() == source.read_bytes()  # DIFF wrote nothing


# --------------------------------------------------------------------------- guessed encodings

# A cp1252 page with no declared charset: detected as cp1250, or (shorter) as cp775.
CP1252_PAGE = '<p>Na\u00efve r\u00e9sum\u00e9 at the caf\u00e9 \u2013 \u201cquoted\u201d</p>\n<img src="a.png">\n'
CP1252_SHORT = '<p>Na\u00efve r\u00e9sum\u00e9</p>\n<img src="a.png">\n'
POLISH = "\u0141\u00f3d\u017a, \u0160\u00e1rka"


def test_guessed_encoding_lists_its_candidates(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(CP1252_PAGE.encode("cp1252"))
    source, _, _ = scanned(page)
    assert source.encoding == "cp1250" and source.detected
    assert {"cp1250", "cp1252"} <= set(source.candidates)
    utf8 = tmp_path / "utf8.html"
    utf8.write_bytes(CP1252_PAGE.encode("utf-8"))
    assert scanned(utf8)[0].candidates == ()


def test_guessed_encoding_gets_character_references(tmp_path: Path) -> None:
    """Written in the guessed cp1250, "Łódź, Šárka" would be mojibake on the cp1252 page it really
    is (and the page would then be detected as cp1252): character references read the same in both."""
    page = tmp_path / "page.html"
    page.write_bytes(CP1252_PAGE.encode("cp1252"))
    outcome = fix(page, WriteBack.WRITE, {image_key(scanned(page)[1][0]): Decision.text(POLISH)})
    assert outcome.status is Status.CHANGED, outcome.message
    expected = CP1252_PAGE.replace('src="a.png"', 'src="a.png" alt="&#x141;&#xF3;d&#x17A;, &#x160;&#xE1;rka"')
    assert page.read_bytes() == expected.encode("cp1252")
    assert scanned(page)[0].encoding == "cp1250"  # detected as before


def test_edit_that_changes_the_detected_encoding_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(CP1252_SHORT.encode("cp1252"))
    source, images, _ = scanned(page)
    outcome = fix(page, WriteBack.WRITE, {image_key(images[0]): Decision.text(POLISH)})
    assert outcome.status is Status.FAILED and not outcome.internal
    assert outcome.message is not None and "\n" not in outcome.message
    assert outcome.message.startswith(
        f"error: cannot fix page.html: its encoding was detected as {source.encoding} and would be detected as "
    )
    assert outcome.message.endswith(" after the edit; not rewriting it (convert the file to UTF-8)")
    assert page.read_bytes() == CP1252_SHORT.encode("cp1252")
