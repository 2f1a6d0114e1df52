"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import build_tiny_models  # tests/ is on sys.path (pytest's default rootdir import)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The four tiny random-weight GGUF files (see tests/tiny_models.py), built once per run."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny_models"))
