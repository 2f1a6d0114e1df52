"""Shared pytest fixtures and test helpers (tests import the helpers: `from conftest import ...`)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import settings
from tiny_models import build_tiny_models  # tests/ is on sys.path (pytest's default rootdir import)

# CI draws the same generated examples on every run, so that a red CI means the change under test;
# a developer's run draws new ones (and keeps the failures it finds in .hypothesis/). .ci/run sets
# HYPOTHESIS_PROFILE=ci.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
DOCS_INTEGRATIONS = REPO / "docs" / "integrations.md"

# Every server the tests talk to is on loopback: a proxy the machine sets must not carry that traffic
# (the proxy tests set their own variables in their child's environment).
for _name in ("NO_PROXY", "no_proxy"):
    os.environ[_name] = ",".join(filter(None, [os.environ.get(_name, ""), "127.0.0.1", "localhost"]))


def snippet(name: str, page: Path = DOCS_INTEGRATIONS) -> Any:
    """The YAML snippet marked `<!-- snippet: name -->` in `page` (docs/integrations.md)."""
    text = page.read_text(encoding="utf-8")
    match = re.search(rf"<!-- snippet: {re.escape(name)} -->\s*```yaml\n(.*?)```", text, re.S)
    assert match, f"snippet {name!r} not found in {page}"
    return yaml.safe_load(match.group(1))


def invoke(command: click.Command, args: Sequence[str], cwd: Path) -> tuple[int, str, str]:
    """Run a click command in-process from `cwd`; returns (exit code, stdout, stderr)."""
    old = Path.cwd()
    try:
        os.chdir(cwd)
        result = CliRunner().invoke(command, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def alttext(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m alttext_tools ARGS` from `cwd`, as a user runs it; text output captured."""
    return subprocess.run(
        [sys.executable, "-m", "alttext_tools", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@dataclass(frozen=True)
class FixtureBlock:
    """One case of a fixture file: its title line and the sections between its dots."""

    title: str
    sections: tuple[str, ...]
    line: int  # 1-based line of the title


def read_fixture_blocks(path: Path, sections: int) -> list[FixtureBlock]:
    """The cases of a fixture file in markdown-it's layout: a title line, then `sections` sections,
    each opened and the last one closed by a line holding only ".". Other lines between cases
    (blank lines, comments) are skipped."""
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks: list[FixtureBlock] = []
    parts: list[str] = []
    dots, start, title = 0, 0, 0
    for number, line in enumerate(lines):
        if line != ".":
            continue
        if dots == 0:
            title, parts = number - 1, []
        else:
            parts.append("\n".join(lines[start:number]))
        start, dots = number + 1, dots + 1
        if dots == sections + 1:
            blocks.append(FixtureBlock(lines[title], tuple(parts), title + 1))
            dots = 0
    assert dots == 0, f"{path}: the case at line {title + 1} is not closed"
    return blocks


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The four tiny random-weight GGUF files (see tests/tiny_models.py), built once per run."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture(scope="session")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment for `mkdocs build`. Until the package is (re)installed with its
    `mkdocs.plugins` entry point, a throwaway dist-info on PYTHONPATH declares it (the entry point
    itself is checked by test_entry_point_is_declared)."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    names = {ep.name for ep in importlib.metadata.entry_points(group="mkdocs.plugins")}
    if "alttext" not in names:
        shim = tmp_path_factory.mktemp("entry_point")
        info = shim / "alttext_mkdocs_entry_point-0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: alttext-mkdocs-entry-point\nVersion: 0\n")
        (info / "entry_points.txt").write_text(
            "[mkdocs.plugins]\nalttext = alttext_tools.integrations.mkdocs:AltTextPlugin\n"
        )
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(shim), env.get("PYTHONPATH")) if p)
    return env


@pytest.fixture(scope="session", autouse=True)
def results_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Check results are cached here, not in the user's cache folder (subprocesses inherit it)."""
    folder = tmp_path_factory.mktemp("results-cache")
    os.environ["ALTTEXT_CACHE_DIR"] = str(folder)
    return folder


def fake_hub_cache(cache: Path, preset_name: str, text: Path, mmproj: Path) -> None:
    """Put `text` and `mmproj` into a Hugging Face cache at `cache` as the files of preset `preset_name`."""
    from alttext_tools.models.hub import quantized_text_path
    from alttext_tools.models.presets import get_preset

    preset = get_preset(preset_name)
    repo = cache / f"models--{preset.repo_id.replace('/', '--')}"
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / preset.revision).write_text(commit)
    shutil.copy(text, snapshot / preset.text_file)
    shutil.copy(mmproj, snapshot / preset.mmproj_file)
    if preset.quantize is not None:  # as `pull` leaves it; `text` stands for the quantized file
        quantized = quantized_text_path(preset, snapshot / preset.text_file, cache)
        quantized.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(text, quantized)
