"""The per-file cache of check results: exact round trips, what invalidates an entry, and runs that
share one cache folder at the same time."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from alttext_tools.check import results_cache
from alttext_tools.check import run as check_run
from alttext_tools.check.results_cache import ResultsCache
from alttext_tools.check.rules import RuleSettings, evaluate_all
from alttext_tools.check.run import CheckRun, check_files
from alttext_tools.check.suppression import may_hold_directives
from alttext_tools.cli.main import cli
from alttext_tools.scan import dispatch
from alttext_tools.scan.dispatch import kind_of, scan_file

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
FIXTURE_FILES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and kind_of(p) is not None)


def tree_files(root: Path) -> list[tuple[Path, str]]:
    return sorted((p, p.relative_to(root).as_posix()) for p in root.rglob("*") if kind_of(p) is not None)


def outcome(run: CheckRun) -> list[object]:
    """Everything a report is made of, per file."""
    return [(r.path, r.images, r.findings, r.error, r.internal_error) for r in run.results]


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    shutil.copytree(FIXTURES / "html", root / "html")
    shutil.copytree(FIXTURES / "site", root / "site")
    shutil.copytree(FIXTURES / "corpus-html", root / "corpus-html")
    shutil.copytree(FIXTURES / "bad", root / "bad")
    (root / "prose.md").write_text("# No pictures\n\nJust words.\n", encoding="utf-8")
    return root


@pytest.fixture()
def cache(tmp_path: Path) -> ResultsCache:
    return ResultsCache(tmp_path / "cache", RuleSettings())


def entries(cache: ResultsCache) -> list[Path]:
    """The per-key entries (not the index)."""
    return sorted(p for p in cache.folder.rglob("*.json") if p.parent.name != "index") if cache.folder.exists() else []


def index_files(cache: ResultsCache) -> list[Path]:
    return sorted((cache.folder / "index").glob("*.json"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.relative_to(FIXTURES).as_posix() for p in FIXTURE_FILES])
def test_round_trip_is_exact(path: Path, cache: ResultsCache) -> None:
    scanned = scan_file(path, "shown/" + path.name)
    if scanned.error is not None:
        pytest.skip("a file that cannot be read has nothing to cache")
    findings = evaluate_all(scanned.images)
    key = cache.key(path.read_bytes(), "shown/" + path.name, "html")
    cache.put(key, scanned.images, findings)
    hit = cache.get(key, "shown/" + path.name)
    assert hit is not None
    assert hit.images == scanned.images
    assert hit.findings == findings
    assert all(finding.image in hit.images for finding in hit.findings)


def test_warm_run_scans_nothing_and_reports_the_same(
    tree: Path, cache: ResultsCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tree_files(tree)
    plain = check_files(files, RuleSettings(), jobs=1)
    cold = check_files(files, RuleSettings(), jobs=1, results=cache)
    assert outcome(cold) == outcome(plain)
    with_images = [r for r in plain.results if r.images]
    unreadable = [r for r in plain.results if r.error is not None]
    assert len(with_images) > 10 and len(entries(cache)) == len(files) - len(unreadable)

    def no_scanning(*args: object) -> None:
        raise AssertionError("scanned although cached")

    monkeypatch.setattr(dispatch, "scan_text", no_scanning)
    warm = check_files(files, RuleSettings(), jobs=1, results=cache)
    assert outcome(warm) == outcome(plain)


def test_parallel_run_uses_and_fills_the_cache(tree: Path, cache: ResultsCache) -> None:
    many = [(path, f"{i}/{display}") for i in range(4) for path, display in tree_files(tree)]
    assert len(many) >= check_run.PARALLEL_THRESHOLD  # a process pool, where there are cores for one
    plain = check_files(many, RuleSettings(), jobs=2)
    cold = check_files(many, RuleSettings(), jobs=2, results=cache)
    warm = check_files(many, RuleSettings(), jobs=2, results=cache)
    assert outcome(cold) == outcome(warm) == outcome(plain)


def test_what_invalidates_an_entry(tmp_path: Path) -> None:
    page = tmp_path / "a.html"
    page.write_text('<p>Hi <img src="a.png"></p>\n', encoding="utf-8")
    cache = ResultsCache(tmp_path / "cache", RuleSettings())
    data = page.read_bytes()
    key = cache.key(data, "a.html", "html")
    assert cache.key(data, "a.html", "html") == key
    assert cache.key(data + b" ", "a.html", "html") != key  # other bytes
    assert cache.key(data, "b/a.html", "html") != key  # other path shown (and language folder)
    assert cache.key(data, "a.html", "markdown") != key  # other syntax
    other_rules = ResultsCache(tmp_path / "cache", RuleSettings(max_length=80))
    assert other_rules.key(data, "a.html", "html") != key
    assert ResultsCache(tmp_path / "cache", RuleSettings(disabled=frozenset({"missing-alt"}))).key(
        data, "a.html", "html"
    ) not in (key, other_rules.key(data, "a.html", "html"))


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{",
        b"[]",
        b'{"images": [[1, 2]], "findings": []}',
        b'{"images": [], "findings": [[0, "x", "error", "m"]]}',
    ],
    ids=["empty", "truncated", "not-an-object", "wrong-shape", "dangling-finding"],
)
def test_a_damaged_entry_is_a_miss_and_gets_rewritten(tmp_path: Path, damage: bytes) -> None:
    page = tmp_path / "docs" / "a.html"
    page.parent.mkdir()
    page.write_text('<img src="a.png">\n', encoding="utf-8")
    cache = ResultsCache(tmp_path / "cache", RuleSettings())
    files = [(page, "a.html")]
    expected = outcome(check_files(files, RuleSettings(), jobs=1))
    check_files(files, RuleSettings(), jobs=1, results=cache)
    (entry,) = entries(cache)
    entry.write_bytes(damage)
    assert outcome(check_files(files, RuleSettings(), jobs=1, results=cache)) == expected
    assert cache.get(cache.key(page.read_bytes(), "a.html", "html"), "a.html") is not None


def test_a_file_without_images_has_the_short_entry(tmp_path: Path) -> None:
    cache = ResultsCache(tmp_path / "cache", RuleSettings())
    cache.put("ab" * 32, [], [])
    (entry,) = entries(cache)
    assert entry.read_bytes() == results_cache._EMPTY
    assert cache.get("ab" * 32, "x.md") == results_cache.CachedResult([], [])


def test_an_entry_for_another_path_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "a.html"
    page.write_text('<img src="a.png">\n', encoding="utf-8")
    cache = ResultsCache(tmp_path / "cache", RuleSettings())
    scanned = scan_file(page, "a.html")
    key = cache.key(page.read_bytes(), "a.html", "html")
    cache.put(key, scanned.images, evaluate_all(scanned.images))
    assert cache.get(key, "a.html") is not None
    assert cache.get(key, "elsewhere/a.html") is None


def test_unwritable_cache_folder_is_not_used(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    page = tmp_path / "a.html"
    page.write_text('<img src="a.png">\n', encoding="utf-8")
    cache = ResultsCache(blocker / "cache", RuleSettings())
    files = [(page, "a.html")]
    assert outcome(check_files(files, RuleSettings(), jobs=1, results=cache)) == outcome(
        check_files(files, RuleSettings(), jobs=1)
    )


def _hammer(args: tuple[str, str, int]) -> list[object]:
    root, folder, rounds = args
    cache = ResultsCache(Path(folder), RuleSettings())
    files = tree_files(Path(root))
    runs = [outcome(check_files(files, RuleSettings(), jobs=1, results=cache)) for _ in range(rounds)]
    return runs


def test_concurrent_runs_share_one_cache(tree: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shared-cache"
    expected = outcome(check_files(tree_files(tree), RuleSettings(), jobs=1))
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        runs = pool.map(_hammer, [(str(tree), str(folder), 3)] * 4)
    assert all(run == expected for process in runs for run in process)
    assert not [p for p in folder.rglob("*") if p.name.startswith(".tmp-")]  # no half-written entry left


def cli_run(args: list[str], cwd: Path) -> tuple[int, str]:
    old = Path.cwd()
    try:
        os.chdir(cwd)
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout


def test_cli_caches_by_default_and_not_with_no_cache_results(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "user-cache"
    monkeypatch.setenv("ALTTEXT_CACHE_DIR", str(folder))
    code, off = cli_run(["check", "--no-cache-results", "--format", "json", "-q", "."], tree)
    assert code == 3 and not folder.exists()  # 3: fixtures/bad holds files that cannot be read
    code, cold = cli_run(["check", "--format", "json", "-q", "."], tree)
    assert code == 3 and list(folder.rglob("*.json"))
    code, warm = cli_run(["check", "--format", "json", "-q", "."], tree)
    assert code == 3 and json.loads(warm) == json.loads(cold) == json.loads(off)


# --------------------------------------------------------------------------- the index (files by stat)


@pytest.fixture()
def trusted_stats(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files just written are taken by their stat too (by default they are hashed for RACY_NS)."""
    monkeypatch.setattr(results_cache, "RACY_NS", 0)


def no_reading(monkeypatch: pytest.MonkeyPatch, but: set[str]) -> None:
    """Reading any file but those in `but` (files that cannot be read are not cached) fails the test."""
    real = check_run.read_bytes

    def refuse(path: str | Path) -> bytes:
        if str(path) not in but:
            raise AssertionError(f"{path} was read although its stat is unchanged")
        return real(path)

    monkeypatch.setattr(check_run, "read_bytes", refuse)
    monkeypatch.setattr(dispatch, "read_bytes", refuse)


@pytest.mark.usefixtures("trusted_stats")
def test_unchanged_files_are_taken_by_their_stat_from_one_index_file(
    tree: Path, cache: ResultsCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tree_files(tree)
    plain = check_files(files, RuleSettings(), jobs=1)
    monkeypatch.chdir(tree)
    check_files(files, RuleSettings(), jobs=1, results=cache)
    assert len(index_files(cache)) == 1
    # Files that cannot be read are not cached; files that may hold suppression comments are
    # decoded every time (check/suppression.py).
    read = {
        str(p) for (p, _), r in zip(files, plain.results) if r.error is not None or may_hold_directives(p.read_bytes())
    }
    assert len(read) < len(files) // 2
    no_reading(monkeypatch, but=read)
    fresh = ResultsCache(cache.folder, RuleSettings())  # a new run: the index is read from its file
    assert outcome(check_files(files, RuleSettings(), jobs=1, results=fresh)) == outcome(plain)


@pytest.mark.usefixtures("trusted_stats")
def test_a_file_rewritten_in_place_with_its_old_size_and_mtime_is_scanned_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "a.md"
    page.write_text('![](a.png)\n\n<img src="b.png" alt="B">\n', encoding="utf-8")
    before = page.stat()
    files = [(page, "a.md")]
    cache = ResultsCache(tmp_path / "cache", RuleSettings())
    assert [f.rule for f in outcome_findings(check_files(files, RuleSettings(), jobs=1, results=cache))] == [
        "empty-alt"
    ]
    with open(page, "r+b") as out:  # same inode, same size, mtime put back: only the ctime tells
        out.write(b'![x](a.png)\n\n<img src="b.png">\n')
    os.utime(page, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert page.stat().st_size == before.st_size
    again = check_files(files, RuleSettings(), jobs=1, results=ResultsCache(cache.folder, RuleSettings()))
    assert outcome(again) == outcome(check_files(files, RuleSettings(), jobs=1))
    assert [f.rule for f in outcome_findings(again)] == ["missing-alt"]


def outcome_findings(run: CheckRun) -> list[results_cache.Finding]:
    return [finding for result in run.results for finding in result.findings]


def test_a_recently_changed_file_is_hashed_not_taken_by_its_stat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "a.md"
    page.write_text("![](a.png)\n", encoding="utf-8")
    files = [(page, "a.md")]
    cache = ResultsCache(tmp_path / "cache", RuleSettings())
    check_files(files, RuleSettings(), jobs=1, results=cache)
    assert cache.index.files == {}  # written just now: a second write could keep size and mtime
    reads: list[object] = []
    real = check_run.read_bytes
    monkeypatch.setattr(check_run, "read_bytes", lambda path: reads.append(path) or real(path))
    check_files(files, RuleSettings(), jobs=1, results=ResultsCache(cache.folder, RuleSettings()))
    assert reads == [str(page)]


@pytest.mark.usefixtures("trusted_stats")
def test_a_damaged_index_is_an_empty_one(tree: Path, cache: ResultsCache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    files = tree_files(tree)
    expected = outcome(check_files(files, RuleSettings(), jobs=1))
    check_files(files, RuleSettings(), jobs=1, results=cache)
    for damage in (b"", b"{", b"[]", b'{"format": 1, "files": {"a.md": 3}, "sites": {}}'):
        (index,) = index_files(cache)
        index.write_bytes(damage)
        assert (
            outcome(check_files(files, RuleSettings(), jobs=1, results=ResultsCache(cache.folder, RuleSettings())))
            == expected
        )


@pytest.mark.usefixtures("trusted_stats")
def test_a_mkdocs_config_is_parsed_again_only_when_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "mkdocs.yml"
    config.write_text("site_name: S\nmarkdown_extensions:\n  - attr_list\n", encoding="utf-8")
    page = tmp_path / "docs" / "a.md"
    page.parent.mkdir()
    page.write_text('![](a.png){ alt="A cat" }\n', encoding="utf-8")
    files = [(page, "docs/a.md")]
    cache = ResultsCache(tmp_path / "cache", RuleSettings())
    with_attr_list = outcome(check_files(files, RuleSettings(), jobs=1, results=cache))
    assert outcome_findings(check_files(files, RuleSettings(), jobs=1)) == []

    def refuse(config: Path) -> object:
        raise AssertionError("mkdocs.yml parsed again although unchanged")

    monkeypatch.setattr(results_cache, "read_site", refuse)
    assert outcome(check_files(files, RuleSettings(), jobs=1, results=ResultsCache(cache.folder, RuleSettings()))) == (
        with_attr_list
    )
    monkeypatch.undo()
    monkeypatch.setattr(results_cache, "RACY_NS", 0)
    monkeypatch.chdir(tmp_path)
    config.write_text("site_name: S\nmarkdown_extensions:\n  - toc\n", encoding="utf-8")  # no attr_list now
    changed = check_files(files, RuleSettings(), jobs=1, results=ResultsCache(cache.folder, RuleSettings()))
    assert outcome(changed) == outcome(check_files(files, RuleSettings(), jobs=1))
    assert [f.rule for f in outcome_findings(changed)] == ["empty-alt"]


@pytest.mark.usefixtures("trusted_stats")
def test_the_index_never_holds_a_file_with_suppression_comments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its findings are filtered after the cache: taking them by stat would skip the filter. A
    comment added to an indexed file changes its stat, so it is read, decoded and filtered."""
    monkeypatch.chdir(tmp_path)
    quiet, plain = tmp_path / "quiet.md", tmp_path / "plain.md"
    quiet.write_text("<!-- alttext-disable-next-line -->\n![](a.png)\n\n![](b.png)\n", encoding="utf-8")
    plain.write_text("![](c.png)\n", encoding="utf-8")
    files = [(quiet, "quiet.md"), (plain, "plain.md")]

    def lines(run: CheckRun) -> list[list[int]]:
        return [[f.image.line for f in r.findings] for r in run.results]

    for _ in range(3):  # cold, index learns, warm
        run = check_files(files, RuleSettings(), jobs=1, results=ResultsCache(tmp_path / "cache", RuleSettings()))
        assert lines(run) == [[4], [1]]
    assert sorted(ResultsCache(tmp_path / "cache", RuleSettings()).index.files) == [str(plain)]
    plain.write_text("<!-- alttext-disable-next-line -->\n![](c.png)\n", encoding="utf-8")
    run = check_files(files, RuleSettings(), jobs=1, results=ResultsCache(tmp_path / "cache", RuleSettings()))
    assert lines(run) == [[4], []]
