"""The alt-text cache in real runs: fix fills it, a re-run uses it without a model, a person's
edit wins, `check --require-reviewed` reports unreviewed model text, damage is reported."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, alttext

from alttext_tools.cache.store import AltCache

SOURCES = ("index.html", "docs/guide.md", "docs/es/guia.md")


def models(tiny: dict[str, Path]) -> list[str]:
    return [
        "--fast-model",
        str(tiny["moondream_text"]),
        "--fast-mmproj",
        str(tiny["moondream_mmproj"]),
        "--fast-handler",
        "moondream",
        "--text-model",
        str(tiny["qwen_text"]),
        "--text-mmproj",
        str(tiny["qwen_mmproj"]),
        "--text-handler",
        "qwen2.5-vl",
        "--threads",
        "1",
        "--format",
        "json",
    ]


@pytest.fixture()
def filled(tmp_path: Path, tiny_models: dict[str, Path]) -> tuple[Path, dict]:
    """The example site after one `fix` with the tiny models (and its JSON report)."""
    site = tmp_path / "site"
    shutil.copytree(FIXTURES / "site", site)
    proc = alttext("fix", *models(tiny_models), cwd=site)
    assert proc.returncode in (0, 3), proc.stderr
    return site, json.loads(proc.stdout)


def reset_sources(site: Path) -> None:
    for name in SOURCES:
        shutil.copy(FIXTURES / "site" / name, site / name)


def test_rerun_uses_the_cache_and_loads_no_model(filled: tuple[Path, dict], tiny_models: dict[str, Path]) -> None:
    site, first = filled
    written = {name: (site / name).read_bytes() for name in SOURCES}
    lines = (site / ".alttext-cache.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) - 1 == first["summary"]["generated"]  # header + one entry per generation
    reset_sources(site)
    proc = alttext("fix", *models(tiny_models), cwd=site)
    summary = json.loads(proc.stdout)["summary"]
    assert summary["model_loads"] == {}
    assert summary["from_cache"] == first["summary"]["generated"]
    assert {name: (site / name).read_bytes() for name in SOURCES} == written
    # Answered from the cache before decoding: llama.cpp, Pillow, numpy and the HTTP stack (remote
    # fetching) are never even imported - each costs start-up time on every cached run.
    reset_sources(site)
    heavy = ("llama_cpp", "PIL", "numpy", "http.client", "ssl", "huggingface_hub")
    probe = (
        "import sys; from alttext_tools.cli.main import main; main(sys.argv[1:]); "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, "fix", *models(tiny_models)], cwd=site, capture_output=True, text=True
    )
    assert proc.stderr.strip().splitlines()[-1] == "[]", proc.stderr
    assert {name: (site / name).read_bytes() for name in SOURCES} == written


def test_moved_image_keeps_its_entry(filled: tuple[Path, dict], tiny_models: dict[str, Path]) -> None:
    site, _ = filled
    reset_sources(site)
    (site / "img" / "mountains.jpg").rename(site / "img" / "hills.jpg")
    for name in SOURCES:
        path = site / name
        path.write_text(path.read_text(encoding="utf-8").replace("mountains.jpg", "hills.jpg"), encoding="utf-8")
    summary = json.loads(alttext("fix", *models(tiny_models), cwd=site).stdout)["summary"]
    assert summary["model_loads"] == {} and summary["generated"] == 0


def test_human_edit_wins_over_the_model(filled: tuple[Path, dict], tiny_models: dict[str, Path]) -> None:
    site, _ = filled
    with AltCache.open(site / ".alttext-cache.jsonl") as cache:
        mountains = hashlib.sha256((site / "img" / "mountains.jpg").read_bytes()).hexdigest()
        photo_entries = [e for e in cache.entries() if e.sha256 == mountains]  # two pages
        assert len(photo_entries) == 2
        for entry in photo_entries:
            cache.edit(entry, 'Hikers on a "green" ridge')
    reset_sources(site)
    summary = json.loads(alttext("fix", *models(tiny_models), cwd=site).stdout)["summary"]
    assert summary["from_cache"] == 8 and summary["model_loads"] == {}
    assert '<img src="img/mountains.jpg" alt="Hikers on a &quot;green&quot; ridge">' in (site / "index.html").read_text(
        encoding="utf-8"
    )
    assert '![Hikers on a "green" ridge][trip]' in (site / "docs/guide.md").read_text(encoding="utf-8")


def test_require_reviewed(filled: tuple[Path, dict]) -> None:
    site, first = filled
    plain = alttext("check", "--format", "json", cwd=site)
    assert "unreviewed-alt" not in plain.stdout
    proc = alttext("check", "--require-reviewed", "--format", "json", cwd=site)
    unreviewed = [e for e in json.loads(proc.stdout) if e["rule"] == "unreviewed-alt"]
    written = [r for r in first["images"] if r["status"] == "generated"]  # decorative verdicts need review too
    assert len(unreviewed) == len(written) and proc.returncode == 1
    with AltCache.open(site / ".alttext-cache.jsonl") as cache:
        for entry in cache.entries():
            cache.set_review(entry, "reviewed")
    again = alttext("check", "--require-reviewed", "--format", "json", cwd=site)
    assert not [e for e in json.loads(again.stdout) if e["rule"] == "unreviewed-alt"]


def test_damaged_cache_is_named_and_kept(filled: tuple[Path, dict], tiny_models: dict[str, Path]) -> None:
    site, _ = filled
    cache_file = site / ".alttext-cache.jsonl"
    damaged = cache_file.read_text(encoding="utf-8") + '{"alt": "half a line\n'
    cache_file.write_text(damaged, encoding="utf-8")
    reset_sources(site)
    proc = alttext("fix", *models(tiny_models), cwd=site)
    assert proc.returncode == 3
    assert ".alttext-cache.jsonl:" in proc.stderr and "Traceback" not in proc.stderr
    assert cache_file.read_text(encoding="utf-8") == damaged
    assert (site / "index.html").read_bytes() == (FIXTURES / "site" / "index.html").read_bytes()
