"""`alttext fix` leaves alone what is not its own: other tools' lock files, files outside the
project, symlinked and read-only caches; and it never writes a source whose alt text the cache
could not keep. Real CLI runs, generating through the scripted OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_servers import FakeOpenAI, Reply, completion
from PIL import Image

from alttext_tools.cache.lock import lock_path

PAGE = "# Trip\n\n![](a.png)\n\n![](b.png)\n"
ALT = "A red square on white"


def alttext(*args: str, cwd: Path, max_file_size: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # a full disk, as the writer sees it: writes past this size fail (EFBIG)
        if max_file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_size, max_file_size))

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "alttext_tools", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=limit,
        timeout=120,
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    reply = Reply(body=completion(json.dumps({"alt": ALT, "decorative": False})))
    with FakeOpenAI(lambda seen, n: reply, models=["vision"]) as server:
        yield server


def make_site(root: Path, config: str = "") -> Path:
    (root / "docs").mkdir(parents=True)
    (root / ".alttext.toml").write_text(config, encoding="utf-8")
    (root / "docs" / "page.md").write_text(PAGE, encoding="utf-8")
    for name, color in (("a.png", (200, 20, 20)), ("b.png", (20, 20, 200))):
        Image.new("RGB", (32, 24), color).save(root / "docs" / name)
    return root


def fix(
    site: Path, fake: FakeOpenAI, *extra: str, max_file_size: int | None = None
) -> subprocess.CompletedProcess[str]:
    args = ("fix", "--backend", "openai", "--base-url", fake.base_url, "--model", "vision", *extra)
    return alttext(*args, cwd=site, max_file_size=max_file_size)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the cache lock --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["uv", "Cargo", "poetry", ".alttext-cache.jsonl"])
def test_the_cache_lock_never_touches_another_tools_lock_file(tmp_path: Path, fake: FakeOpenAI, name: str) -> None:
    site = make_site(tmp_path / "site", f'cache = "{name}"\n')
    theirs = site / f"{name}.lock"
    theirs.write_text("# another tool's lock file\n", encoding="utf-8")
    foreign = lock_path(site / name)  # even a file with the lock's own name is left as it is
    foreign.write_text("not ours\n", encoding="utf-8")
    proc = fix(site, fake)
    assert proc.returncode == 0, proc.stderr
    assert theirs.read_text(encoding="utf-8") == "# another tool's lock file\n"
    assert foreign.read_text(encoding="utf-8") == "not ours\n"
    assert (site / name).read_text(encoding="utf-8").count(ALT) == 2
    assert f"![{ALT}](a.png)" in (site / "docs" / "page.md").read_text(encoding="utf-8")
    foreign.unlink()
    (site / "docs" / "page.md").write_text(PAGE.replace("a.png", "c.png"), encoding="utf-8")
    Image.new("RGB", (32, 24), (1, 2, 3)).save(site / "docs" / "c.png")
    assert fix(site, fake).returncode == 0
    assert (site / name).read_text(encoding="utf-8").count(ALT) == 3
    assert not foreign.exists()  # the lock file the tool made is gone once it is done
    assert sorted(p.name for p in site.iterdir()) == sorted([".alttext.toml", "docs", name, theirs.name])


def test_a_cache_outside_the_project_is_refused_unless_absolute(tmp_path: Path, fake: FakeOpenAI) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "Cargo.lock").write_text("# cargo\n", encoding="utf-8")
    before = files(victim)
    site = make_site(tmp_path / "site", 'cache = "../victim/Cargo"\n')
    page = (site / "docs" / "page.md").read_bytes()
    proc = fix(site, fake)
    assert proc.returncode == 2, proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert "../victim/Cargo" in line and "outside the project root" in line and "absolute path" in line
    assert files(victim) == before and (site / "docs" / "page.md").read_bytes() == page
    # An absolute path is the user's choice: the cache goes there.
    shared = tmp_path / "shared" / "alt-cache.jsonl"
    (site / ".alttext.toml").write_text(f"cache = {json.dumps(str(shared))}\n", encoding="utf-8")
    proc = fix(site, fake)
    assert proc.returncode == 0, proc.stderr
    assert shared.read_text(encoding="utf-8").count(ALT) == 2
    assert sorted(p.name for p in shared.parent.iterdir()) == ["alt-cache.jsonl"]


def test_a_symlinked_cache_stays_a_symlink_and_a_read_only_one_is_not_rewritten(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    site = make_site(tmp_path / "site")
    real = tmp_path / "shared" / "cache.jsonl"
    real.parent.mkdir()
    link = site / ".alttext-cache.jsonl"
    link.symlink_to(real)
    proc = fix(site, fake)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and real.read_text(encoding="utf-8").count(ALT) == 2

    other = make_site(tmp_path / "other")
    cache = other / ".alttext-cache.jsonl"
    shutil.copy(real, cache)
    (other / "docs" / "page.md").write_text(PAGE + "\n![](new.png)\n", encoding="utf-8")
    Image.new("RGB", (32, 24), (9, 9, 9)).save(other / "docs" / "new.png")
    os.chmod(cache, 0o444)
    before = files(other)
    proc = fix(other, fake)
    assert proc.returncode == 3, proc.stderr
    assert "read-only" in proc.stderr and "no file was changed" in proc.stderr
    assert files(other) == before  # neither the cache nor the page


# --- a full disk -----------------------------------------------------------------------------------


def test_when_the_cache_cannot_be_saved_no_source_is_rewritten(tmp_path: Path, fake: FakeOpenAI) -> None:
    """The cache holds every alt text a model wrote (and `check --require-reviewed` relies on it):
    a page must never hold model text the cache lost. Here every write past 400 bytes fails, as on
    a full disk: the page (80 bytes) could be written, the cache (two entries) cannot."""
    site = make_site(tmp_path / "site")
    before = files(site)
    proc = fix(site, fake, max_file_size=400)
    assert proc.returncode == 3, proc.stderr
    problem = [line for line in proc.stderr.splitlines() if "alt-text cache" in line]
    assert len(problem) == 1 and "no file was changed" in problem[0], proc.stderr
    assert files(site) == before
    # With room again, the same run writes both.
    proc = fix(site, fake)
    assert proc.returncode == 0, proc.stderr
    assert (site / ".alttext-cache.jsonl").read_text(encoding="utf-8").count(ALT) == 2
    assert (site / "docs" / "page.md").read_text(encoding="utf-8").count(ALT) == 2


# --- decisions naming files outside the project ----------------------------------------------------


def test_decisions_for_files_outside_the_project_are_refused(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    outside = tmp_path / "elsewhere" / "notes.md"
    outside.parent.mkdir()
    outside.write_text(PAGE, encoding="utf-8")
    (site / "docs" / "link.md").symlink_to(outside)
    entries = [
        {"path": str(outside), "line": 3, "column": 1, "src": "a.png", "new_alt": "Outside, absolute"},
        {"path": "../elsewhere/notes.md", "line": 5, "column": 1, "src": "b.png", "new_alt": "Outside, relative"},
        {"path": "docs/link.md", "line": 3, "column": 1, "src": "a.png", "new_alt": "Outside, through a link"},
        {"path": "docs/page.md", "line": 3, "column": 1, "src": "a.png", "new_alt": "Inside"},
    ]
    (site / "decisions.json").write_text(json.dumps(entries), encoding="utf-8")
    proc = alttext("fix", "--from", "decisions.json", cwd=site)
    assert proc.returncode == 3, proc.stderr
    refused = [line for line in proc.stderr.splitlines() if "outside the project root" in line]
    assert len(refused) == 3, proc.stderr
    assert outside.read_text(encoding="utf-8") == PAGE
    assert "![Inside](a.png)" in (site / "docs" / "page.md").read_text(encoding="utf-8")


# --- workers die with their parent -----------------------------------------------------------------


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_fix_workers_die_with_their_parent(tmp_path: Path) -> None:
    """`fix -j 2` on a tree big enough for worker processes; the parent is killed with SIGKILL
    while the rewriting workers run (they replace the scanning ones): they must go too."""
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / ".alttext.toml").write_text("", encoding="utf-8")
    body = "".join(f"Paragraph {i} with a picture.\n\n![](img{i}.png)\n\n" for i in range(20))
    for n in range(120):
        (site / "docs" / f"page{n:03}.md").write_text(f"# Page {n}\n\n{body}", encoding="utf-8")
    check = alttext("check", "--format", "json", cwd=site)
    entries = json.loads(check.stdout)
    for entry in entries:
        entry["new_alt"] = f"Picture {entry['line']}"
    (site / "decisions.json").write_text(json.dumps(entries), encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    parent = subprocess.Popen(
        # --no-cache-results: scanned by a pool of its own (with the cache the check above filled,
        # the results would come from it, and only the rewriting pool would start)
        [sys.executable, "-m", "alttext_tools", "fix", "-j", "2", "--no-cache-results", "--from", "decisions.json"],
        cwd=site,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: set[int] = set()
    rewriting: set[int] = set()
    try:
        scanning: set[int] = set()
        for _ in range(3000):  # 30 s at most: the scan pool's workers, then the rewriting pool's
            children = _children(parent.pid)
            if not scanning and len(children) >= 2:
                scanning = set(children)
            elif scanning and children - scanning:
                rewriting = children - scanning
                break
            if parent.poll() is not None:
                break
            time.sleep(0.01)
        assert rewriting, "the rewriting workers never started"
        seen = rewriting | scanning
        parent.kill()
        parent.wait(timeout=10)
        for _ in range(100):  # 5 s at most
            if not any(_alive(pid) for pid in rewriting):
                break
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in rewriting), "workers outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        for pid in seen:  # on failure: the workers this test started, by pid
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
