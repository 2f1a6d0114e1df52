"""Shared pytest fixtures."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest
from tiny_models import build_tiny_models  # tests/ is on sys.path (pytest's default rootdir import)


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
