"""What a Sphinx project's `conf.py` says about its sources, read without running it.

`conf.py` is Python; it is parsed (never executed, never imported) and only literal assignments
are read: `source_suffix` (which suffixes are sources, and in which syntax) and `extensions`
(whether myst-parser reads Markdown). The nearest `conf.py` above a file governs it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

SphinxKind = Literal["rst", "myst", "markdown"]
MYST_EXTENSIONS = frozenset({"myst_parser", "myst_nb"})
DEFAULT_SUFFIXES = {".rst": "restructuredtext"}


@dataclass(frozen=True)
class SphinxConf:
    """The literal settings of one `conf.py` that decide which files are sources."""

    path: Path
    extensions: tuple[str, ...] = ()
    source_suffix: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SUFFIXES))

    @property
    def uses_myst(self) -> bool:
        return any(ext in MYST_EXTENSIONS for ext in self.extensions)

    def kind(self, suffix: str) -> SphinxKind | None:
        """The syntax of a file with `suffix` in this project (None: not a source here)."""
        suffix = suffix.lower()
        suffixes = dict(self.source_suffix)
        if self.uses_myst:
            suffixes.setdefault(".md", "markdown")  # myst-parser registers it
        filetype = suffixes.get(suffix)
        if filetype is None:
            return None
        if filetype == "markdown":
            return "myst" if self.uses_myst else "markdown"
        return "rst"


def read_conf(path: Path) -> SphinxConf | None:
    """A `conf.py`'s literal settings; None when it is not Python this version can parse."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
        else:
            continue
        if name in ("extensions", "source_suffix"):
            try:
                values[name] = ast.literal_eval(value)
            except ValueError:
                continue
    extensions = values.get("extensions", [])
    conf = SphinxConf(path, tuple(e for e in extensions if isinstance(e, str)) if isinstance(extensions, list) else ())
    suffix = values.get("source_suffix")
    if isinstance(suffix, str):
        conf = SphinxConf(path, conf.extensions, {suffix: "restructuredtext"})
    elif isinstance(suffix, (list, tuple)):
        conf = SphinxConf(path, conf.extensions, {s: "restructuredtext" for s in suffix if isinstance(s, str)})
    elif isinstance(suffix, dict):
        conf = SphinxConf(path, conf.extensions, {k: str(v) for k, v in suffix.items() if isinstance(k, str)})
    return conf


@lru_cache(maxsize=1024)
def conf_for(folder: Path) -> SphinxConf | None:
    """The `conf.py` that governs files in `folder`: the nearest one in it or above it."""
    for candidate in (folder, *folder.parents):
        conf = candidate / "conf.py"
        if conf.is_file():
            return read_conf(conf)
    return None


def sphinx_kind(path: Path) -> SphinxKind | None:
    """The syntax of `path` as its Sphinx project reads it; None outside a project or not a source."""
    conf = conf_for(Path(path).absolute().parent)
    return conf.kind(Path(path).suffix) if conf is not None else None
