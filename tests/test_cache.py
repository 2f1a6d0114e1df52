"""The committed alt-text cache: format, merge-friendliness, damage, conflicts, concurrency, lookup."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from alttext_tools.cache.file import DEFAULT_CACHE_FILE, HUMAN, Entry, parse, resolve_conflicts
from alttext_tools.cache.key import cache_key
from alttext_tools.cache.lock import LOCK_MARK, lock_path
from alttext_tools.cache.store import EDITED, GENERATED, REVIEWED, AltCache, cache_path_for
from alttext_tools.config import Config
from alttext_tools.errors import CacheError
from alttext_tools.images.resolve import content_hash

PHOTOS = Path(__file__).resolve().parent.parent / "fixtures" / "router" / "photo"
T0 = "2025-01-01T00:00:00Z"
T1 = "2025-02-01T00:00:00Z"
T2 = "2025-03-01T00:00:00Z"


def as_line(e: Entry) -> str:
    """One entry as a line of the cache file."""
    return json.dumps(e.to_row(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha(n: int | str) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def entry(
    n: int | str,
    alt: str | None = None,
    *,
    model: str = "moondream2",
    prompt: str = "p1",
    lang: str | None = "en",
    role: str = "informative",
    state: str = GENERATED,
    when: str = T0,
    decorative: bool = False,
) -> Entry:
    return Entry(
        sha(n),
        model,
        prompt,
        lang,
        role,
        "" if decorative else (alt or f"A photo numbered {n}"),
        decorative,
        None,
        "",
        "moondream",
        state,
        when,
        when,
    )


def write_cache(path: Path, entries: list[Entry]) -> bytes:
    with AltCache.open(path) as cache:
        for e in entries:
            cache.put(e)
    return path.read_bytes()


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# -- key ------------------------------------------------------------------------------------------


def test_cache_key_is_a_stable_sha256_of_its_parts() -> None:
    key = cache_key(sha(1), "moondream2", "p1", "en", "informative")
    assert key == cache_key(sha(1).upper(), "moondream2", "p1", "EN", "informative")  # hex and BCP 47 case
    assert cache_key(sha(1), "m", "p", None, "informative") == cache_key(sha(1), "m", "p", "", "informative")
    variants = {
        key,
        cache_key(sha(2), "moondream2", "p1", "en", "informative"),
        cache_key(sha(1), "qwen2.5-vl-3b", "p1", "en", "informative"),
        cache_key(sha(1), "moondream2", "p2", "en", "informative"),
        cache_key(sha(1), "moondream2", "p1", "de", "informative"),
        cache_key(sha(1), "moondream2", "p1", "en", "functional:/guide/"),
        cache_key(sha(1), "moondream2", "p1", "en", "functional:/other/"),
    }
    assert len(variants) == 7


def test_cache_key_encoding_is_unambiguous() -> None:
    # Moving characters between neighbouring parts must change the key.
    assert cache_key(sha(1), "ab", "c", None, "r") != cache_key(sha(1), "a", "bc", None, "r")
    assert cache_key(sha(1), "m", "p\n1:x", None, "r") != cache_key(sha(1), "m", "p", "x", "r")


def test_cache_key_golden_value() -> None:
    # Frozen: changing the encoding orphans every committed cache. Bump KEY_SCHEME instead.
    expected = hashlib.sha256(
        (
            "alttext-cache-key/1\n"
            + "".join(f"{len(p)}:{p}\n" for p in (sha(1), "moondream2", "p1", "en", "informative"))
        ).encode()
    ).hexdigest()
    assert cache_key(sha(1), "moondream2", "p1", "en", "informative") == expected
    assert expected == "3f2554e0e4708c648527e9a2ad44cf53c348d4716a15f5c7b7165e8198234994"
    assert entry(1).key == expected


def test_default_path_is_at_the_project_root(tmp_path: Path) -> None:
    assert cache_path_for(Config(root=tmp_path)) == tmp_path / DEFAULT_CACHE_FILE
    assert cache_path_for(Config(root=tmp_path, cache="docs/alt.jsonl")) == tmp_path / "docs" / "alt.jsonl"
    assert cache_path_for(Config(root=tmp_path, cache=str(tmp_path / "abs.jsonl"))) == tmp_path / "abs.jsonl"
    assert cache_path_for(Config(root=tmp_path, cache="")) is None


# -- format ---------------------------------------------------------------------------------------


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    originals = [
        entry(1, "Ein Fuchs schläft im Schnee — 雪"),
        entry(2, decorative=True),
        entry(3, role="functional:../guide/install.html", lang=None),
        Entry(
            sha(4),
            "qwen2.5-vl-3b",
            "p7",
            "fr",
            "informative",
            "Un graphique",
            False,
            "Long: ventes 2024 par mois",
            "",
            "qwen2.5-vl",
            REVIEWED,
            T0,
            T1,
        ),
    ]
    write_cache(path, originals)
    again = AltCache.open(path)
    assert sorted(again.entries(), key=lambda e: e.key) == sorted(originals, key=lambda e: e.key)
    assert again.get(originals[3].key) == originals[3]
    text = path.read_text(encoding="utf-8")
    assert "Ein Fuchs schläft im Schnee — 雪" in text  # not \u-escaped: readable in diffs


def test_file_layout_header_sorted_one_canonical_entry_per_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cache(path, [entry(n) for n in (5, 3, 9, 1)] + [entry(3, model="qwen"), entry(3, lang="de")])
    got = lines(path)
    header = json.loads(got[0])
    assert header["format"] == "alttext-cache" and header["version"] == 1
    rows = [json.loads(line) for line in got[1:]]
    assert len(rows) == 6
    parts = [(r["sha256"], r["language"] or "", r["role"], r["model_id"], r["prompt_version"]) for r in rows]
    assert parts == sorted(parts)
    for line, row in zip(got[1:], rows):
        assert line == json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert path.read_bytes().endswith(b"}\n") and b"\r" not in path.read_bytes()


def test_order_of_additions_does_not_change_the_bytes(tmp_path: Path) -> None:
    mine, theirs = [entry(n) for n in range(0, 20, 2)], [entry(n) for n in range(1, 20, 2)]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    # Two writers (separate AltCache objects, like two processes) in both orders.
    write_cache(a, mine)
    write_cache(a, theirs)
    write_cache(b, list(reversed(theirs)))
    write_cache(b, list(reversed(mine)))
    assert a.read_bytes() == b.read_bytes()
    assert len(AltCache.open(a)) == 20


def test_two_open_caches_do_not_clobber_each_other(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    first, second = AltCache.open(path), AltCache.open(path)
    first.put(entry(1))
    second.put(entry(2))
    first.flush()
    second.flush()  # re-reads the file under the lock: entry 1 stays
    assert {e.sha256 for e in AltCache.open(path).entries()} == {sha(1), sha(2)}
    assert second.get(entry(1).key) is not None  # and the second now sees the first's entry


def test_missing_and_empty_files_are_empty_caches(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.jsonl"
    cache = AltCache.open(path)
    assert len(cache) == 0 and not path.exists()
    assert cache.flush() is False and not path.exists()  # nothing to write: no file
    path.parent.mkdir()
    path.write_bytes(b"")
    assert len(AltCache.open(path)) == 0
    write_cache(path, [entry(1)])
    assert len(lines(path)) == 2


def test_tolerates_crlf_bom_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cache(path, [entry(1), entry(2)])
    header, *rest = lines(path)
    path.write_bytes(("\ufeff" + header + "\r\n\r\n" + "\r\n\n".join(rest) + "\r\n").encode())
    cache = AltCache.open(path)
    assert len(cache) == 2
    cache.put(entry(3))
    cache.flush()
    assert b"\r" not in path.read_bytes() and len(lines(path)) == 4  # rewritten canonically


def test_duplicate_keys_from_a_union_merge_are_resolved(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cache(path, [entry(1)])
    header, line = lines(path)
    newer = Entry(**{**json.loads(line), "alt": "A newer proposal", "updated": T2})
    edited = Entry(
        **{**json.loads(line), "alt": "Edited by a person", "state": EDITED, "written_by": HUMAN, "updated": T1}
    )
    path.write_text("\n".join([header, as_line(newer), line, as_line(edited)]) + "\n", encoding="utf-8")
    assert AltCache.open(path).get(entry(1).key).alt == "Edited by a person"  # a person's entry beats a newer model one
    path.write_text("\n".join([header, line, as_line(newer)]) + "\n", encoding="utf-8")
    assert AltCache.open(path).get(entry(1).key).alt == "A newer proposal"  # else the newest


def test_file_mode_is_kept_and_no_temp_or_lock_files_are_left(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cache(path, [entry(1)])
    os.chmod(path, 0o640)
    write_cache(path, [entry(2)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]
    assert not lock_path(path).exists()


def test_a_read_only_cache_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    before = write_cache(path, [entry(1)])
    os.chmod(path, 0o444)
    cache = AltCache.open(path)
    cache.put(entry(2))
    with pytest.raises(CacheError, match=r"c\.jsonl: cannot write the alt-text cache: read-only file"):
        cache.flush()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]


def test_a_symlinked_cache_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "cache.jsonl"
    write_cache(real, [entry(1)])
    link = tmp_path / "c.jsonl"
    link.symlink_to(real)
    write_cache(link, [entry(2)])
    assert link.is_symlink()
    assert {e.sha256 for e in AltCache.open(real).entries()} == {sha(1), sha(2)}


def test_the_lock_is_never_followed_through_a_symlink_nor_removed_unless_the_tools(tmp_path: Path) -> None:
    path = tmp_path / "uv"
    assert lock_path(path).name == ".uv.alttext-lock"  # never uv.lock
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n", encoding="utf-8")
    lock_path(path).symlink_to(victim)
    cache = AltCache.open(path)
    cache.put(entry(1))
    with pytest.raises(CacheError, match=r"\.uv\.alttext-lock: cannot open the cache lock file"):
        cache.flush()
    assert victim.read_text(encoding="utf-8") == "keep me\n" and lock_path(path).is_symlink()
    assert not path.exists()
    lock_path(path).unlink()
    lock_path(path).write_bytes(LOCK_MARK)  # left behind by a writer that was killed: the tool's own
    cache.flush()
    assert not lock_path(path).exists() and AltCache.open(path).get(entry(1).key) is not None


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"format":"alttext-cache","version":2}\n', encoding="utf-8")
    with pytest.raises(CacheError, match=r"c\.jsonl:1: .*version 2 is newer.*upgrade"):
        AltCache.open(path)


def test_a_file_without_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(as_line(entry(1)) + "\n", encoding="utf-8")
    with pytest.raises(CacheError, match=r"c\.jsonl:1: not an alt-text cache file"):
        AltCache.open(path)


# -- damage ---------------------------------------------------------------------------------------


def _damage(line: str) -> dict[str, str]:
    row = json.loads(line)
    bad_type = json.dumps({**row, "decorative": "no"}, sort_keys=True)
    return {
        "truncated": line[: len(line) // 2],
        "not-json": "this is not json",
        "not-an-object": "[1, 2, 3]",
        "two-entries-on-one-line": line + "," + line,
        "missing-field": json.dumps({k: v for k, v in row.items() if k != "alt"}),
        "unknown-field": json.dumps({**row, "colour": "red"}),
        "wrong-type": bad_type,
        "bad-state": json.dumps({**row, "state": "approved"}),
        "bad-sha": json.dumps({**row, "sha256": "abc"}),
        "decorative-with-alt": json.dumps({**row, "decorative": True}),
        "empty-alt": json.dumps({**row, "alt": "  "}),
        "string-not-null": json.dumps({**row, "language": 3}),
    }


DAMAGE = list(_damage(as_line(entry(0))))


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_line_is_named_and_the_file_left_untouched(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "c.jsonl"
    write_cache(path, [entry(1), entry(2), entry(3)])
    header, *rows = lines(path)
    rows[1] = _damage(rows[1])[kind]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(CacheError) as caught:
        AltCache.open(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: ") and "\n" not in message
    assert path.read_bytes() == before


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cache(path, [entry(1), entry(2)])
    data = path.read_bytes().replace(b"numbered 2", b"numbered \xff")
    path.write_bytes(data)
    with pytest.raises(CacheError, match=r"c\.jsonl:\d: not UTF-8"):
        AltCache.open(path)


def test_a_file_damaged_after_opening_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cache(path, [entry(1)])
    cache = AltCache.open(path)
    cache.put(entry(2))
    damaged = path.read_bytes() + b'{"alt": oops\n'
    path.write_bytes(damaged)
    with pytest.raises(CacheError, match=r"c\.jsonl:3: damaged cache entry"):
        cache.flush()
    assert path.read_bytes() == damaged
    assert cache.get(entry(2).key) is not None  # nothing lost in memory
    path.write_bytes(damaged[: -len(b'{"alt": oops\n')])  # someone repairs it
    assert cache.flush() is True
    assert len(AltCache.open(path)) == 2


# -- merge conflicts ------------------------------------------------------------------------------


def _conflicted(path: Path, ours: list[Entry], theirs: list[Entry], base: list[Entry] | None = None) -> None:
    header = lines(path)[0] if path.exists() else json.dumps({"format": "alttext-cache", "version": 1})
    block = ["<<<<<<< HEAD", *(as_line(e) for e in ours)]
    if base is not None:
        block += ["||||||| merged common ancestors", *(as_line(e) for e in base)]
    block += ["=======", *(as_line(e) for e in theirs), ">>>>>>> feature"]
    path.write_text("\n".join([header, as_line(entry(0)), *block, as_line(entry(99))]) + "\n", encoding="utf-8")


def test_conflict_markers_give_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    _conflicted(path, [entry(1)], [entry(2)])
    before = path.read_bytes()
    with pytest.raises(
        CacheError, match=r"c\.jsonl:3: unresolved git merge conflict; run `alttext cache fix-conflicts`"
    ):
        AltCache.open(path)
    assert path.read_bytes() == before


def test_resolve_conflicts_keeps_both_sides_and_drops_the_diff3_base(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    human = Entry(**{**entry(5).to_row(), "alt": "Checked by a person", "state": REVIEWED, "updated": T0})
    newer = Entry(**{**entry(5).to_row(), "alt": "Newer model text", "updated": T2})
    _conflicted(path, ours=[entry(1), human], theirs=[entry(2), newer], base=[entry(7)])
    result = resolve_conflicts(path)
    assert result.conflicts == 1 and result.entries == 5
    cache = AltCache.open(path)
    assert {e.sha256 for e in cache.entries()} == {sha(n) for n in (0, 1, 2, 5, 99)}  # base-only entry 7 gone
    assert cache.get(entry(5).key).alt == "Checked by a person"
    assert lines(path)[0].startswith('{"format":"alttext-cache"')
    assert resolve_conflicts(path).conflicts == 0  # idempotent


def test_resolve_conflicts_still_refuses_damage(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    _conflicted(path, [entry(1)], [entry(2)])
    path.write_text(path.read_text(encoding="utf-8").replace(as_line(entry(2)), "{broken"), encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(CacheError, match=r"c\.jsonl:6: damaged"):
        resolve_conflicts(path)
    assert path.read_bytes() == before


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args], cwd=repo, env=env, capture_output=True, text=True
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("union", [False, True], ids=["markers", "merge-union"])
def test_a_real_git_merge_of_two_branches(tmp_path: Path, union: bool) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    path = repo / DEFAULT_CACHE_FILE
    _git(repo, "init", "-q")
    if union:
        (repo / ".gitattributes").write_text(f"{DEFAULT_CACHE_FILE} merge=union\n")
    write_cache(path, [entry(n) for n in (10, 20, 30)])
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-qb", "feature")
    with AltCache.open(path) as cache:
        cache.put(entry("feature"))
        cache.edit(entry(20), "Edited on the feature branch")
    _git(repo, "commit", "-qam", "feature")
    _git(repo, "checkout", "-q", "main")
    with AltCache.open(path) as cache:
        cache.put(entry("main"))
        cache.set_review(entry(20))
    _git(repo, "commit", "-qam", "main")
    merged = _git(repo, "merge", "-q", "feature")
    if not union:
        assert merged.returncode != 0
        with pytest.raises(CacheError, match="fix-conflicts"):
            AltCache.open(path)
        resolve_conflicts(path)
    else:
        assert merged.returncode == 0, merged.stderr
    cache = AltCache.open(path)
    assert {e.sha256 for e in cache.entries()} == {sha(n) for n in (10, 20, 30, "feature", "main")}
    assert cache.get(entry(20).key).state in (REVIEWED, EDITED)


# -- concurrency ----------------------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import hashlib, sys, time
    from pathlib import Path
    from alttext_tools.cache.store import AltCache, Entry
    path, worker, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.001)
    cache = AltCache.open(path, flush_every=int(sys.argv[4]))
    for i in range(200):
        digest = hashlib.sha256(f"{worker}-{i}".encode()).hexdigest()
        cache.put(Entry(digest, "moondream2", "p1", "en", "informative", f"Image {worker}-{i}", False, None, "",
                        "moondream", "generated", "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z"))
    cache.flush()
    """
)


def test_four_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "docs" / DEFAULT_CACHE_FILE
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), str(w), str(go), str(flush_every)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w, flush_every in enumerate((7, 13, 50, 200))
    ]
    time.sleep(0.2)
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    cache = AltCache.open(path)
    assert len(cache) == 800
    assert {e.alt for e in cache.entries()} == {f"Image {w}-{i}" for w in range(4) for i in range(200)}
    assert sorted(p.name for p in path.parent.iterdir()) == [DEFAULT_CACHE_FILE]  # no temp or lock files
    # The same bytes as one process writing everything: the file does not depend on who came first.
    alone = tmp_path / "alone.jsonl"
    write_cache(alone, cache.entries())
    assert alone.read_bytes() == path.read_bytes()


def test_threads_sharing_one_cache(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "c.jsonl"
    cache = AltCache.open(path, flush_every=5)

    def work(worker: int) -> None:
        for i in range(100):
            cache.put(entry(f"{worker}-{i}"))
            cache.lookup(sha(f"{worker}-{i}"), "moondream2", "p1", "en", "informative")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cache.flush()
    assert len(AltCache.open(path)) == 400


def test_periodic_and_context_manager_flushes(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    cache = AltCache.open(path, flush_every=3)
    cache.put(entry(1))
    cache.put(entry(2))
    assert not path.exists()
    cache.put(entry(3))
    assert len(AltCache.open(path)) == 3 and cache.flush() is False  # nothing left to write
    with AltCache.open(path, flush_interval=0.0) as timed:
        timed.put(entry(4))  # interval elapsed: written at once
        assert len(AltCache.open(path)) == 4
        timed.flush_interval = 3600
        timed.put(entry(5))
    assert len(AltCache.open(path)) == 5  # written on leaving the block


# -- lookup: human edits win ----------------------------------------------------------------------


def test_a_human_edit_beats_any_model(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with AltCache.open(path) as cache:
        generated = cache.put(entry(1, "A fox"))
        cache.put(entry(1, "A qwen fox", model="qwen", prompt="p9"))
        assert cache.lookup(sha(1), "qwen", "p9", "en", "informative").alt == "A qwen fox"
        edited = cache.edit(generated, "A red fox asleep in the snow")
    assert edited.state == EDITED and edited.written_by == HUMAN and edited.handler == HUMAN
    cache = AltCache.open(path)
    for model, prompt in [("moondream2", "p1"), ("qwen", "p9"), ("some-new-model", "p42")]:
        found = cache.lookup(sha(1), model, prompt, "EN", "informative")
        assert found is not None and found.alt == "A red fox asleep in the snow"
    # Only for the same image, language and role:
    assert cache.lookup(sha(1), "qwen", "p9", "de", "informative") is None
    assert cache.lookup(sha(1), "qwen", "p9", "en", "functional:/x") is None
    assert cache.lookup(sha(1), "moondream2", "p1", "en", "informative").created == T0  # edited in place


def test_reviewed_counts_as_human_and_newest_human_decision_wins(tmp_path: Path) -> None:
    cache = AltCache.open(tmp_path / "c.jsonl", clock=lambda: T1)
    cache.put(entry(1, "A fox"))
    cache.put(entry(1, "A qwen fox", model="qwen"))
    reviewed = cache.set_review(entry(1, "A fox"))
    assert reviewed.state == REVIEWED and reviewed.written_by == "moondream2"
    assert cache.lookup(sha(1), "qwen", "p1", "en", "informative").alt == "A fox"
    cache._clock = lambda: T2
    cache.edit(entry(1, model="qwen"), "A qwen fox, corrected")
    assert cache.lookup(sha(1), "other", "p1", "en", "informative").alt == "A qwen fox, corrected"
    cache.set_review(entry(1, model="qwen"), GENERATED)  # sent back: no longer a human decision
    assert cache.lookup(sha(1), "other", "p1", "en", "informative").alt == "A fox"


def test_put_human_for_an_image_no_model_described(tmp_path: Path) -> None:
    cache = AltCache.open(tmp_path / "c.jsonl")
    written = cache.put_human(sha(1), "en", "informative", "", decorative=True)
    assert written.model_id == HUMAN and written.state == EDITED and written.decorative
    assert cache.lookup(sha(1), "moondream2", "p1", "en", "informative") == written


def test_a_model_never_overwrites_a_human_entry(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cache(path, [entry(1, "A fox")])
    model_run = AltCache.open(path)  # a long generation run opened the cache earlier...
    with AltCache.open(path) as review:
        review.edit(entry(1), "A red fox, as a person wrote it")  # ...a person edits meanwhile
    model_run.put(entry(1, "A fox, generated again"))
    model_run.flush()
    assert AltCache.open(path).get(entry(1).key).alt == "A red fox, as a person wrote it"
    in_memory = AltCache.open(path)
    assert in_memory.put(entry(1, "Generated")).alt == "A red fox, as a person wrote it"
    assert in_memory.put(entry(1, "Regenerated on request"), force=True).alt == "Regenerated on request"


def test_edit_and_review_need_an_existing_entry(tmp_path: Path) -> None:
    cache = AltCache.open(tmp_path / "c.jsonl")
    with pytest.raises(KeyError):
        cache.edit(entry(1), "text")
    with pytest.raises(KeyError):
        cache.set_review("0" * 64)
    cache.put(entry(1))
    with pytest.raises(ValueError):
        cache.edit(entry(1), "   ")  # empty alt must be explicit: decorative=True
    with pytest.raises(ValueError):
        cache.set_review(entry(1), EDITED)


# -- content addressing ---------------------------------------------------------------------------


def test_moving_or_renaming_an_image_keeps_its_entry(tmp_path: Path) -> None:
    photo = sorted(PHOTOS.glob("*.png"))[0]
    old = tmp_path / "img" / "fox.png"
    old.parent.mkdir()
    shutil.copy(photo, old)
    path = tmp_path / "c.jsonl"
    write_cache(
        path,
        [
            Entry.generated(
                content_hash(old.read_bytes()),
                "moondream2",
                "p1",
                "en",
                "informative",
                alt="A fox",
                handler="moondream",
            )
        ],
    )
    new = tmp_path / "assets" / "animals" / "red-fox.png"
    new.parent.mkdir(parents=True)
    old.rename(new)
    found = AltCache.open(path).lookup(content_hash(new.read_bytes()), "moondream2", "p1", "en", "informative")
    assert found is not None and found.alt == "A fox"


def test_the_same_image_in_the_same_context_shares_one_entry(tmp_path: Path) -> None:
    photo = sorted(PHOTOS.glob("*.png"))[0].read_bytes()
    copies = [tmp_path / "a" / "x.png", tmp_path / "b" / "c" / "y.png"]
    path = tmp_path / "c.jsonl"
    with AltCache.open(path) as cache:
        for copy in copies:
            copy.parent.mkdir(parents=True)
            copy.write_bytes(photo)
            digest = content_hash(copy.read_bytes())
            if cache.lookup(digest, "moondream2", "p1", "en", "informative") is None:
                cache.put(Entry.generated(digest, "moondream2", "p1", "en", "informative", alt="A photo"))
        cache.put(
            Entry.generated(content_hash(photo), "moondream2", "p1", "en", "functional:/shop/", alt="Go to the shop")
        )
    assert len(AltCache.open(path)) == 2  # one per context, not one per page
    assert len(AltCache.open(path).for_image(content_hash(photo))) == 2


# -- prune and stats ------------------------------------------------------------------------------


def test_prune_drops_unreferenced_entries(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cache(path, [entry(1), entry(1, model="qwen"), entry(2), entry(3, state=EDITED)])
    cache = AltCache.open(path)
    assert [e.sha256 for e in cache.prunable({sha(1)})] == sorted([sha(2), sha(3)])
    assert cache.prune({sha(1).upper()}) == 2
    assert len(AltCache.open(path)) == 4  # not written before the flush
    cache.flush()
    assert {e.sha256 for e in AltCache.open(path).entries()} == {sha(1)}
    assert len(AltCache.open(path)) == 2


def test_prune_keeps_an_entry_another_process_changed_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cache(path, [entry(1), entry(2)])
    pruner = AltCache.open(path)
    assert pruner.prune({sha(1)}) == 1
    with AltCache.open(path) as other:
        other.edit(entry(2), "Still in use on a new page")
    pruner.flush()
    assert AltCache.open(path).get(entry(2).key).alt == "Still in use on a new page"


def test_stats_count_by_state_and_model(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cache(path, [entry(1), entry(2), entry(2, model="qwen", state=REVIEWED), entry(3, state=EDITED, lang="de")])
    stats = AltCache.open(path).stats()
    assert stats == {
        "entries": 4,
        "images": 3,
        "by_state": {"generated": 2, "reviewed": 1, "edited": 1},
        "by_model": {
            "moondream2": {"generated": 2, "reviewed": 0, "edited": 1, "total": 3},
            "qwen": {"generated": 0, "reviewed": 1, "edited": 0, "total": 1},
        },
    }


# -- speed ----------------------------------------------------------------------------------------


def test_10k_entries_load_and_look_up(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    rows = [
        entry(
            n,
            f"A photo of item {n} on a wooden table, seen from above in soft light",
            role="informative" if n % 3 else f"functional:../shop/item-{n}.html",
            state=(GENERATED, REVIEWED, EDITED)[n % 3],
        )
        for n in range(10_000)
    ]
    path.write_text(_serialize(rows), encoding="utf-8")
    cache = AltCache.open(path)
    assert len(cache) == 10_000
    found = [cache.lookup(sha(n), "qwen", "p2", "en", "informative") for n in range(10_000)]
    assert sum(entry is not None for entry in found) == len([n for n in range(10_000) if n % 3])


def _serialize(entries: list[Entry]) -> str:
    from alttext_tools.cache.file import serialize

    return serialize({e.parts: e.to_row() for e in entries})


def test_parse_is_the_same_on_the_fast_and_the_careful_path(tmp_path: Path) -> None:
    text = _serialize([entry(n) for n in range(50)])
    fast = parse(text.encode(), "c.jsonl")
    careful = parse(text.replace("\n", "\n\n").encode(), "c.jsonl")  # blank lines: line-by-line path
    assert fast == careful and len(fast) == 50
