"""Errors share one root, `errors.AltTextError`, and every message is one line."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import alttext_tools
from alttext_tools import errors
from alttext_tools.config import ConfigError, load_config
from alttext_tools.errors import AltTextError
from alttext_tools.scan.sources import SourceError, read_source


def package_modules() -> list[str]:
    """Every module of the package (`__main__` modules aside: importing them runs the command)."""
    walked = pkgutil.walk_packages([str(Path(alttext_tools.__file__).parent)], prefix="alttext_tools.")
    return ["alttext_tools", *(info.name for info in walked if not info.name.endswith("__main__"))]


@pytest.mark.parametrize("module", package_modules())
def test_every_public_exception_derives_from_the_root(module: str) -> None:
    """Private exceptions (`_Name`) only carry control flow inside their module."""
    loaded = importlib.import_module(module)
    exceptions = [
        cls
        for name, cls in inspect.getmembers(loaded, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == module and not name.startswith("_")
    ]
    assert [cls.__name__ for cls in exceptions if not issubclass(cls, AltTextError)] == []


@pytest.mark.parametrize("cls", [errors.ModelFileError, errors.GenerationError, errors.CacheError])
def test_shared_errors_derive_from_the_root(cls: type[Exception]) -> None:
    assert issubclass(cls, AltTextError)


def test_messages_are_one_line() -> None:
    assert str(AltTextError("first\nsecond\r\n\tthird ")) == "first second third"
    assert str(ConfigError("bad\nkey")) == "bad key"
    assert str(errors.ModelFileError("m.gguf", "truncated\n")) == "m.gguf: truncated"


def test_config_and_source_errors_are_caught_by_the_root(tmp_path: Path) -> None:
    bad = tmp_path / ".alttext.toml"
    bad.write_text("fail_on = [", encoding="utf-8")
    with pytest.raises(AltTextError) as config_error:
        load_config(explicit=bad)
    assert isinstance(config_error.value, ConfigError) and "\n" not in str(config_error.value)
    with pytest.raises(AltTextError) as source_error:
        read_source(tmp_path / "missing.md")
    assert isinstance(source_error.value, SourceError) and str(source_error.value) == "file not found"
