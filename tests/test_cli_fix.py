"""`alttext fix --from`: the reviewed-decisions path, end to end through the CLI, no model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

NEW_ALTS = {
    "img/mountains.jpg": 'Green hills under a "blue" sky & <clouds>',
    "img/chart.png": "Bar chart: images fixed per quarter, highest in Q3",
    "img/logo.png": "Example Docs home",
    "../img/settings-screenshot.png": "Settings screen [accessibility] *options*",
    "../../img/settings-screenshot.png": "Pantalla de ajustes",
    "../img/chart.png": "",  # decorative
    "img/settings-screenshot.png": "Accessibility settings page",
}


def alttext(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "alttext_tools", *args], cwd=cwd, capture_output=True)


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=env).stdout


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(FIXTURES / "site", root)
    git("init", "-q", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-qm", "init", cwd=root)
    return root


def make_decisions(site: Path) -> Path:
    proc = alttext("check", "--format", "json", cwd=site)
    entries = json.loads(proc.stdout)
    for entry in entries:
        if entry["src"] in NEW_ALTS:
            entry["new_alt"] = NEW_ALTS[entry["src"]]
    path = site / "decisions.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    git("add", "decisions.json", cwd=site)
    git("commit", "-qm", "decisions", cwd=site)
    return path


def test_write_changes_only_alt_and_is_idempotent(site: Path) -> None:
    make_decisions(site)
    proc = alttext("fix", "--from", "decisions.json", cwd=site)
    assert proc.returncode == 0, proc.stderr
    assert b"fixed index.html (4 images)" in proc.stderr
    html = (site / "index.html").read_text()
    assert 'alt="Green hills under a &quot;blue&quot; sky &amp; &lt;clouds&gt;"' in html
    assert '      WIDTH="640"\n      ALT="Accessibility settings page">' in html
    md = (site / "docs/guide.md").read_text()
    assert "![Settings screen \\[accessibility\\] \\*options\\*](../img/settings-screenshot.png)" in md
    assert "![](../img/chart.png)<!-- alttext: decorative -->" in md
    # Only lines holding images changed.
    changed = [
        line
        for line in git("diff", "-U0", cwd=site).splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert len(changed) == 15  # 7 images: 7 lines out, 8 in (the upper-case tag gains a line)
    assert all(any(token in line for token in ("<img", "![", 'WIDTH="640"', "ALT=")) for line in changed)
    # The fixable findings are gone; a second run changes nothing.
    remaining = {e["rule"] for e in json.loads(alttext("check", "--format", "json", cwd=site).stdout)}
    assert remaining <= {"placeholder-alt"}  # the reference image "photo" had no decision
    again = alttext("fix", "--from", "decisions.json", "--check", cwd=site)
    assert again.returncode == 0 and b"0 files would be fixed" in again.stderr


def test_diff_applies_with_git_and_patch(site: Path, tmp_path: Path) -> None:
    make_decisions(site)
    diff = alttext("fix", "--from", "decisions.json", "--diff", cwd=site)
    assert diff.returncode == 0 and diff.stdout.startswith(b"--- a/")
    assert git("status", "--porcelain", cwd=site) == ""  # --diff wrote nothing
    written = tmp_path / "written"
    shutil.copytree(site, written)
    assert alttext("fix", "--from", "decisions.json", cwd=written).returncode == 0
    (tmp_path / "fix.patch").write_bytes(diff.stdout)
    subprocess.run(["git", "apply", str(tmp_path / "fix.patch")], cwd=site, check=True)
    for name in ("index.html", "docs/guide.md", "docs/es/guia.md"):
        assert (site / name).read_bytes() == (written / name).read_bytes()
    git("checkout", "--", ".", cwd=site)
    subprocess.run(["patch", "-p1", "-s", "-i", str(tmp_path / "fix.patch")], cwd=site, check=True)
    for name in ("index.html", "docs/guide.md", "docs/es/guia.md"):
        assert (site / name).read_bytes() == (written / name).read_bytes()


def test_check_mode_exit_code(site: Path) -> None:
    make_decisions(site)
    proc = alttext("fix", "--from", "decisions.json", "--check", cwd=site)
    assert proc.returncode == 1
    assert b"would fix index.html (4 images)" in proc.stderr
    assert git("status", "--porcelain", cwd=site) == ""


def test_stale_entry_is_reported_not_guessed(site: Path) -> None:
    make_decisions(site)
    index = site / "index.html"
    index.write_text(index.read_text().replace("<main>", "<main>\n"), encoding="utf-8")  # shifts lines
    proc = alttext("fix", "--from", "decisions.json", cwd=site)
    assert proc.returncode == 3
    assert b"index.html:14:5" in proc.stderr  # the entry that no longer matches, named
    assert b"fixed docs/guide.md (2 images)" in proc.stderr  # other files still fixed


def test_bad_decisions_file_is_a_usage_error(site: Path) -> None:
    (site / "bad.json").write_text("{not json", encoding="utf-8")
    proc = alttext("fix", "--from", "bad.json", cwd=site)
    assert proc.returncode == 2
    assert b"bad.json" in proc.stderr and b"Traceback" not in proc.stderr


def test_human_alt_needs_overwrite(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("![An image of a cat](cat.png)\n", encoding="utf-8")
    entries = json.loads(alttext("check", "--format", "json", cwd=tmp_path).stdout)
    assert [e["rule"] for e in entries] == ["redundant-prefix"]
    entries[0]["new_alt"] = "A cat"
    (tmp_path / "d.json").write_text(json.dumps(entries), encoding="utf-8")
    alttext("fix", "--from", "d.json", cwd=tmp_path)
    assert (tmp_path / "a.md").read_text() == "![An image of a cat](cat.png)\n"
    assert alttext("fix", "--from", "d.json", "--overwrite", cwd=tmp_path).returncode == 0
    assert (tmp_path / "a.md").read_text() == "![A cat](cat.png)\n"


def test_crlf_and_bom_survive(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_bytes(b'\xef\xbb\xbf<p>\r\n<img src="x.png">\r\n</p>')
    entries = json.loads(alttext("check", "--format", "json", cwd=tmp_path).stdout)
    entries[0]["new_alt"] = "Caf\u00e9 menu"
    (tmp_path / "d.json").write_text(json.dumps(entries), encoding="utf-8")
    assert alttext("fix", "--from", "d.json", cwd=tmp_path).returncode == 0
    assert (tmp_path / "a.html").read_bytes() == b'\xef\xbb\xbf<p>\r\n<img src="x.png" alt="Caf\xc3\xa9 menu">\r\n</p>'


def test_many_files_fixed_in_parallel_match_serial(tmp_path: Path) -> None:
    """Over the parallel threshold the rewrite runs in worker processes: same bytes, same report."""
    trees = {}
    for jobs in ("1", "2"):
        root = tmp_path / f"j{jobs}"
        for i in range(70):
            page = root / f"part{i % 5}" / f"page{i}.md"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(f"# Page {i}\r\n\r\n![](img{i}.png)\r\n\r\n<img src='x{i}.png'>\r\n", encoding="utf-8")
        entries = json.loads(alttext("check", "--format", "json", cwd=root).stdout)
        for entry in entries:
            entry["new_alt"] = f"Figure {entry['line']} of {entry['path']} & <more>"
        (root / "d.json").write_text(json.dumps(entries), encoding="utf-8")
        proc = alttext("fix", "--from", "d.json", "-j", jobs, cwd=root)
        assert proc.returncode == 0, proc.stderr
        assert b"70 files fixed (140 images)." in proc.stderr
        trees[jobs] = {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.md"))}
    assert trees["1"] == trees["2"]
    assert trees["1"][Path("part0/page0.md")] == (
        b"# Page 0\r\n\r\n![Figure 3 of part0/page0.md & &lt;more>](img0.png)\r\n\r\n"
        b"<img src='x0.png' alt='Figure 5 of part0/page0.md &amp; &lt;more&gt;'>\r\n"
    )


def decide_all(root: Path, new_alt: str = "Alt for {src}") -> Path:
    """`check --format json` with a new_alt for every entry, written to root/d.json."""
    entries = json.loads(alttext("check", "--format", "json", cwd=root).stdout)
    for entry in entries:
        entry["new_alt"] = new_alt.format(src=entry["src"])
    (root / "d.json").write_text(json.dumps(entries), encoding="utf-8")
    return root / "d.json"


@pytest.mark.parametrize(
    ("page", "new_alt", "written"),
    [
        (
            "# Report\n\n![](chart.png)\n---\nNext section text.\n",
            "Revenue | costs by quarter",
            "# Report\n\n![Revenue &#124; costs by quarter](chart.png)\n---\nNext section text.\n",
        ),
        ("![](fm.png)\n--\n![|]()\n", "a|b", "![a&#124;b](fm.png)\n--\n![|]()\n"),
    ],
    ids=["heading", "setext-and-pipe-label"],
)
def test_pipe_in_alt_keeps_the_page_structure(tmp_path: Path, page: str, new_alt: str, written: str) -> None:
    """A "|" written into a label must not turn a heading and paragraph into a table (nor end in
    "internal error: image count changed", exit 4)."""
    from markdown_it import MarkdownIt

    (tmp_path / "a.md").write_text(page, encoding="utf-8")
    decide_all(tmp_path, new_alt)
    proc = alttext("fix", "--from", "d.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == written
    parser = MarkdownIt("commonmark").enable("table")
    assert [t.type for t in parser.parse(written)] == [t.type for t in parser.parse(page)]


def test_reapplying_a_decisions_file_is_a_no_op(tmp_path: Path) -> None:
    """Several images on one line: after the first run the later ones have moved right. Entries whose
    image already carries their new_alt are done; the second run changes nothing and exits 0."""
    (tmp_path / "a.md").write_text("Icons: ![](a.png) ![](b.png) ![](c.png)\n", encoding="utf-8")
    (tmp_path / "p.html").write_text('<p>Icons: <img src="a.png"><img src="b.png"></p>\n', encoding="utf-8")
    decide_all(tmp_path)
    first = alttext("fix", "--from", "d.json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    after = {p: p.read_bytes() for p in (tmp_path / "a.md", tmp_path / "p.html")}
    assert (
        after[tmp_path / "a.md"] == b"Icons: ![Alt for a.png](a.png) ![Alt for b.png](b.png) ![Alt for c.png](c.png)\n"
    )
    for args in (["--check"], [], ["--diff"]):
        again = alttext("fix", "--from", "d.json", *args, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert b"no image at this position" not in again.stderr and again.stdout == b""
        assert {p: p.read_bytes() for p in after} == after


def test_reviewed_alt_for_a_hidden_image_without_alt_is_written(tmp_path: Path) -> None:
    """`decorative-exposed` with no alt at all: there is no written alt to keep, so the reviewed
    new_alt is written; no message ever shows Python's None."""
    (tmp_path / "p.html").write_text('<p><img src="logo.png" role="presentation" tabindex="0"></p>\n', encoding="utf-8")
    entries = json.loads(alttext("check", "--format", "json", cwd=tmp_path).stdout)
    assert [(e["rule"], e["alt"]) for e in entries] == [("decorative-exposed", None)]
    decide_all(tmp_path, "Company logo")
    proc = alttext("fix", "--from", "d.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert b"None" not in proc.stderr
    written = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert written == '<p><img src="logo.png" role="presentation" tabindex="0" alt="Company logo"></p>\n'


def test_diff_and_check_write_nothing_not_even_the_cache(tmp_path: Path) -> None:
    """With a model (a scripted OpenAI-compatible server), `--diff`, `--check` and both together
    leave every file as it was: no alt-text cache is created. A real run then writes it."""
    from openai_servers import FakeOpenAI, Reply, completion

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "fox.png").write_bytes((FIXTURES / "site" / "img" / "logo.png").read_bytes())
    (tmp_path / "docs" / "index.md").write_text("# Fox\n\n![](fox.png)\n", encoding="utf-8")

    def snapshot() -> dict[Path, bytes]:
        return {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and ".git" not in p.parts}

    before = snapshot()
    server_args = ["--backend", "openai", "--model", "fake"]
    with FakeOpenAI(lambda seen, n: Reply(body=completion()), models=["fake"]) as server:
        for mode, code in ((["--diff"], 0), (["--check"], 1), (["--check", "--diff"], 1)):
            proc = alttext("fix", "docs", *server_args, "--base-url", server.base_url, *mode, cwd=tmp_path)
            assert proc.returncode == code, proc.stderr
            assert snapshot() == before, mode
        assert server.chats
        proc = alttext("fix", "docs", *server_args, "--base-url", server.base_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".alttext-cache.jsonl").is_file()
    assert (tmp_path / "docs" / "index.md").read_text(
        encoding="utf-8"
    ) == "# Fox\n\n![A red square on white](fox.png)\n"
