"""`alttext fix` with real in-process inference on the tiny models, through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, alttext

from alttext_tools.scan.dispatch import scan_file


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(FIXTURES / "site", root)
    return root


def model_args(tiny_models: dict[str, Path]) -> list[str]:
    return [
        "--fast-model",
        str(tiny_models["moondream_text"]),
        "--fast-mmproj",
        str(tiny_models["moondream_mmproj"]),
        "--fast-handler",
        "moondream",
        "--text-model",
        str(tiny_models["qwen_text"]),
        "--text-mmproj",
        str(tiny_models["qwen_mmproj"]),
        "--text-handler",
        "qwen2.5-vl",
        "--threads",
        "1",
    ]


def current_alts(root: Path) -> dict[tuple[str, int, int], str | None]:
    alts = {}
    for name in ("index.html", "docs/guide.md", "docs/es/guia.md"):
        for image in scan_file(root / name, name).images:
            alts[(name, image.line, image.column)] = image.alt
    return alts


def test_fix_writes_generated_alt_once_per_model(site: Path, tiny_models: dict[str, Path]) -> None:
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    proc = alttext("fix", *model_args(tiny_models), "--format", "json", "-v", cwd=site)
    assert proc.returncode in (0, 3), proc.stderr
    report = json.loads(proc.stdout)
    summary = report["summary"]
    assert summary["images"] == 8  # the fixable findings of the example site
    # The mountains are on an English and a Spanish page: described once, translated once (or,
    # when the tiny model's translation is unusable, described in Spanish too).
    assert summary["generated"] + summary["translated"] + summary["failed"] + summary["deduplicated"] == 8
    assert sorted(summary["model_loads"].values()) == [1, 1]  # one load per model for the whole run
    # The router's verdicts; a random model's degenerate answer may then send an image to the other slot.
    kinds = {(r["path"], r["src"]): r["kind"] for r in report["images"]}
    assert kinds[("index.html", "img/mountains.jpg")] == "photo"  # photo -> Moondream slot
    assert kinds[("index.html", "img/settings-screenshot.png")] == "text"  # screenshot -> Qwen slot
    assert kinds[("docs/guide.md", "../img/chart.png")] == "text"
    assert {r["route"] for r in report["images"]} == {"fast", "text"}
    assert "route" in proc.stderr and "model load" in proc.stderr  # verbose per-image lines
    # Every generated answer is now in the file, exactly (the scanner reads it back unescaped).
    alts = current_alts(site)
    for record in report["images"]:
        if record["status"] in ("generated", "translated", "deduplicated"):
            expected = "" if record["decorative"] else record["alt"]
            assert alts[(record["path"], record["line"], record["column"])] == expected
            assert "\n" not in expected and len(expected) <= 150
    # Files without images to fix, and images and bytes outside alt values, are untouched.
    assert (site / "img/logo.png").read_bytes() == before[site / "img/logo.png"]
    # A second run finds nothing to do and loads no model.
    again = alttext("fix", *model_args(tiny_models), "--format", "json", cwd=site)
    second = json.loads(again.stdout)["summary"]
    assert second["images"] == 0 and second["model_loads"] == {}
    assert "3 files left unchanged" in again.stderr or "0 files fixed" in again.stderr


def test_diff_and_check_modes_leave_sources_alone(site: Path, tiny_models: dict[str, Path]) -> None:
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    check = alttext("fix", *model_args(tiny_models), "--check", cwd=site)
    assert check.returncode in (1, 3), check.stderr
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before  # not even the cache
    proc = alttext("fix", *model_args(tiny_models), "--diff", cwd=site)
    assert proc.returncode in (0, 3), proc.stderr
    assert proc.stdout.startswith("--- a/")
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before  # --diff writes no cache either


def test_single_model_serves_every_image(site: Path, tiny_models: dict[str, Path]) -> None:
    args = [
        "--model",
        str(tiny_models["moondream_text"]),
        "--mmproj",
        str(tiny_models["moondream_mmproj"]),
        "--handler",
        "moondream",
        "--threads",
        "1",
    ]
    proc = alttext("fix", *args, "--format", "json", "--check", cwd=site)
    report = json.loads(proc.stdout)
    assert report["summary"]["model_loads"] == {next(iter(report["summary"]["model_loads"])): 1}
    assert proc.returncode in (1, 3)  # --check: something would change (or an image failed)


def test_no_model_explains_itself(site: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "empty-cache"), "HF_HUB_OFFLINE": "1"}
    proc = alttext("fix", ".", cwd=site, env=env)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "alttext models pull moondream2-q4_k_m" in lines[0]


def test_missing_model_path_is_an_error_not_a_fallback(site: Path, tiny_models: dict[str, Path]) -> None:
    proc = alttext("fix", "--model", "nope.gguf", "--mmproj", str(tiny_models["moondream_mmproj"]), cwd=site)
    assert proc.returncode == 2
    assert "nope.gguf" in proc.stderr and "Traceback" not in proc.stderr


def test_nothing_to_write_sets_up_no_model(tmp_path: Path) -> None:
    """A re-run on a tree with nothing left to fix costs what check costs: no model is looked for
    (here none exists) and no generation code is imported; --format json still reports one."""
    (tmp_path / ".alttext.toml").write_text("", encoding="utf-8")
    (tmp_path / "a.md").write_text("![A red bicycle against a wall](bike.png)\n", encoding="utf-8")
    proc = alttext("fix", "--model", "nope.gguf", "--mmproj", "nope-mmproj.gguf", "a.md", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 file left unchanged" in proc.stderr
    probe = (
        "import sys\nfrom alttext_tools.cli.main import main\n"
        "code = main(['fix', '--model', 'nope.gguf', '--mmproj', 'x.gguf', 'a.md'])\n"
        "assert code == 0, code\n"
        "print(sorted(m for m in sys.modules if m.startswith(('alttext_tools.generate', 'alttext_tools.cache'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
    proc = alttext("fix", "--model", "nope.gguf", "--mmproj", "x.gguf", "--format", "json", "a.md", cwd=tmp_path)
    assert proc.returncode == 2 and "nope.gguf" in proc.stderr  # the summary needs the models set up
