"""`alttext cache prune|stats|fix-conflicts` end to end on a small docs tree with real PNGs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import invoke

from alttext_tools.cache.file import DEFAULT_CACHE_FILE, Entry
from alttext_tools.cache.store import EDITED, REVIEWED, AltCache
from alttext_tools.cli.cache import cache as cache_group
from alttext_tools.images.resolve import content_hash

PHOTOS = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "router" / "photo").glob("*.png"))
T0 = "2025-01-01T00:00:00Z"


def put(
    path: Path, digest: str, alt: str, *, model: str = "moondream2", state: str = "generated", role: str = "informative"
) -> None:
    with AltCache.open(path) as cache:
        cache.put(Entry(digest, model, "p1", "en", role, alt, False, None, "", "moondream", state, T0, T0))


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    """docs/ with pages using two of three images (one from two pages), a config at the root."""
    root = tmp_path / "site"
    (root / "docs" / "img").mkdir(parents=True)
    (root / "docs" / "guide").mkdir()
    for name, photo in zip(["fox.png", "owl.png", "unused.png"], PHOTOS):
        shutil.copy(photo, root / "docs" / "img" / name)
    (root / ".alttext.toml").write_text("max_length = 150\n", encoding="utf-8")
    (root / "docs" / "index.md").write_text("# Home\n\n![A fox](img/fox.png)\n", encoding="utf-8")
    (root / "docs" / "guide" / "birds.html").write_text(
        '<p><img src="../img/owl.png" alt="An owl"> <a href="/x"><img src="/docs/img/fox.png"></a></p>\n',
        encoding="utf-8",
    )
    return root


def digest(site: Path, name: str) -> str:
    return content_hash((site / "docs" / "img" / name).read_bytes())


def test_prune_drops_only_unreferenced_images(site: Path) -> None:
    path = site / DEFAULT_CACHE_FILE
    put(path, digest(site, "fox.png"), "A fox")
    put(path, digest(site, "fox.png"), "Home", role="functional:/x")
    put(path, digest(site, "owl.png"), "An owl", state=REVIEWED)
    put(path, digest(site, "unused.png"), "Not on any page", state=EDITED)
    put(path, "0" * 64, "An image deleted long ago")
    code, out, err = invoke(cache_group, ["prune"], site)
    assert code == 0, err
    assert out.strip().startswith(f"dropped 2 of 5 entries from {path}")
    left = AltCache.open(path)
    assert {e.alt for e in left.entries()} == {"A fox", "Home", "An owl"}


def test_prune_dry_run_lists_and_changes_nothing(site: Path) -> None:
    path = site / DEFAULT_CACHE_FILE
    put(path, digest(site, "fox.png"), "A fox")
    put(path, digest(site, "unused.png"), "Not on any page")
    before = path.read_bytes()
    code, out, _ = invoke(cache_group, ["prune", "--dry-run"], site)
    assert code == 0
    lines = out.strip().splitlines()
    assert '"Not on any page"' in lines[0] and digest(site, "unused.png")[:12] in lines[0]
    assert lines[-1].startswith("would drop 1 of 2 entries")
    assert path.read_bytes() == before


def test_prune_from_a_subfolder_still_scans_the_whole_project(site: Path) -> None:
    path = site / DEFAULT_CACHE_FILE
    put(path, digest(site, "fox.png"), "A fox")
    put(path, digest(site, "owl.png"), "An owl")
    code, out, _ = invoke(cache_group, ["prune"], site / "docs" / "img")
    assert code == 0 and out.startswith("dropped 0 of 2")


def test_moving_an_image_keeps_its_entry_through_prune(site: Path) -> None:
    path = site / DEFAULT_CACHE_FILE
    put(path, digest(site, "owl.png"), "An owl")
    (site / "docs" / "img" / "owl.png").rename(site / "docs" / "guide" / "barn-owl.png")
    (site / "docs" / "guide" / "birds.html").write_text('<img src="barn-owl.png" alt="An owl">\n', encoding="utf-8")
    code, out, _ = invoke(cache_group, ["prune"], site)
    assert code == 0 and out.startswith("dropped 0 of 1")


def test_prune_refuses_when_a_page_cannot_be_read(site: Path) -> None:
    path = site / DEFAULT_CACHE_FILE
    put(path, digest(site, "unused.png"), "Not on any page")
    (site / "docs" / "broken.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x00")
    before = path.read_bytes()
    code, _, err = invoke(cache_group, ["prune"], site)
    assert code == 3
    assert "broken.md" in err and "nothing pruned" in err
    assert path.read_bytes() == before


def test_prune_notes_remote_images_it_did_not_fetch(site: Path) -> None:
    (site / "docs" / "remote.md").write_text("![A map](https://example.com/map.png)\n", encoding="utf-8")
    code, _, err = invoke(cache_group, ["prune"], site)
    assert code == 0
    assert "1 remote image(s) not fetched" in err and "--allow-remote" in err


def test_prune_with_paths_and_a_configured_cache_path(site: Path) -> None:
    (site / ".alttext.toml").write_text('cache = "docs/alt-cache.jsonl"\n', encoding="utf-8")
    path = site / "docs" / "alt-cache.jsonl"
    put(path, digest(site, "fox.png"), "A fox")
    put(path, digest(site, "owl.png"), "An owl")
    code, out, _ = invoke(cache_group, ["prune", "docs/index.md"], site)  # only this page: the owl's entry goes
    assert code == 0 and out.startswith(f"dropped 1 of 2 entries from {path}")
    assert not (site / DEFAULT_CACHE_FILE).exists()


def test_prune_on_a_damaged_cache_exits_3_naming_the_line(site: Path) -> None:
    path = site / DEFAULT_CACHE_FILE
    put(path, digest(site, "fox.png"), "A fox")
    path.write_text(path.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    before = path.read_bytes()
    code, _, err = invoke(cache_group, ["prune"], site)
    assert code == 3
    assert f"{path}:3: damaged cache entry" in err
    assert path.read_bytes() == before


def test_stats_text_and_json(site: Path) -> None:
    path = site / DEFAULT_CACHE_FILE
    put(path, digest(site, "fox.png"), "A fox")
    put(path, digest(site, "fox.png"), "A fox, by qwen", model="qwen2.5-vl-3b", state=REVIEWED)
    put(path, digest(site, "owl.png"), "An owl", state=EDITED)
    code, out, _ = invoke(cache_group, ["stats"], site)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{path}: 3 entries for 2 images (1 generated, 1 reviewed, 1 edited)"
    assert lines[2].split() == ["MODEL", "GENERATED", "REVIEWED", "EDITED", "TOTAL"]
    assert lines[3].split() == ["moondream2", "1", "0", "1", "2"]
    assert lines[4].split() == ["qwen2.5-vl-3b", "0", "1", "0", "1"]
    code, out, _ = invoke(cache_group, ["stats", "--format", "json"], site)
    data = json.loads(out)
    assert data["entries"] == 3 and data["images"] == 2 and data["exists"] is True
    assert data["by_state"] == {"generated": 1, "reviewed": 1, "edited": 1}
    assert data["by_model"]["qwen2.5-vl-3b"]["reviewed"] == 1


def test_stats_without_a_cache_file(site: Path) -> None:
    code, out, _ = invoke(cache_group, ["stats"], site)
    assert code == 0 and "no cache file yet" in out
    code, out, _ = invoke(cache_group, ["stats", "-f", "json", "--cache", "elsewhere.jsonl"], site)
    assert code == 0 and json.loads(out)["entries"] == 0


def test_fix_conflicts(site: Path) -> None:
    path = site / DEFAULT_CACHE_FILE
    put(path, digest(site, "fox.png"), "A fox")
    header, line = path.read_text(encoding="utf-8").splitlines()
    other = Entry(digest(site, "owl.png"), "moondream2", "p1", "en", "informative", "An owl", created=T0, updated=T0)
    path.write_text(
        "\n".join(
            [
                header,
                "<<<<<<< HEAD",
                line,
                "=======",
                json.dumps(other.to_row(), sort_keys=True, ensure_ascii=False, separators=(",", ":")),
                ">>>>>>> branch",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    code, _, err = invoke(cache_group, ["stats"], site)
    assert code == 3 and "fix-conflicts" in err
    code, out, _ = invoke(cache_group, ["fix-conflicts"], site)
    assert code == 0 and "resolved 1 conflict(s); 2 entries" in out
    code, out, _ = invoke(cache_group, ["fix-conflicts"], site)
    assert code == 0 and "no merge conflicts" in out


def test_reachable_from_the_main_command() -> None:
    from alttext_tools.cli.main import LazyGroup

    if "cache" not in LazyGroup.lazy:
        pytest.skip('alttext_tools.cli.main does not register "cache" yet')
    from alttext_tools.cli.main import cli

    result = CliRunner().invoke(cli, ["cache", "--help"])
    assert result.exit_code == 0 and "prune" in result.stdout and "stats" in result.stdout
