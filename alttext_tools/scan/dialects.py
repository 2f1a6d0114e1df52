"""Which Markdown dialect a file is read in: `commonmark`, `mkdocs` or `myst` (docs/scanning.md).

`dialect = "auto"` (the default) picks, for each Markdown file, `mkdocs` when a mkdocs.yml governs
it (the file is under that site's docs_dir), `myst` when a Sphinx conf.py whose project reads `.md`
as MyST does, else `commonmark`. The nearest config above the file wins; the search stops at the repository root.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alttext_tools.config import DIALECTS
from alttext_tools.scan.mkdocs_config import CONFIG_NAMES, MkDocsConfigError, MkDocsSite, read_site

# What `dialect = "mkdocs"` reads when no mkdocs.yml governs the file: mkdocs-material's usual set.
MKDOCS_DEFAULT_EXTENSIONS = frozenset(
    {
        "admonition",
        "attr_list",
        "footnotes",
        "md_in_html",
        "pymdownx.details",
        "pymdownx.superfences",
        "pymdownx.tabbed",
        "tables",
        "toc",
    }
)


@dataclass(frozen=True)
class Dialect:
    """A Markdown dialect and, for `mkdocs`, the Python-Markdown extensions the site enables."""

    name: str  # "commonmark" | "mkdocs" | "myst"
    extensions: frozenset[str] = frozenset()

    def has(self, extension: str) -> bool:
        return extension in self.extensions

    @property
    def python_markdown(self) -> bool:
        """Read as Python-Markdown reads it (MkDocs), not as CommonMark."""
        return self.name == "mkdocs"

    @property
    def attr_list(self) -> bool:
        """`![x](a.png){ alt="..." }` sets attributes (always read outside MkDocs: an explicit marker)."""
        return not self.python_markdown or self.has("attr_list")

    @property
    def md_in_html(self) -> bool:
        """Elements with a `markdown` attribute hold Markdown."""
        return not self.python_markdown or self.has("md_in_html")

    @property
    def blocks(self) -> bool:
        """pymdownx.blocks (`/// note` ... `///`) is enabled."""
        return any(name.startswith("pymdownx.blocks") for name in self.extensions)


COMMONMARK = Dialect("commonmark")
MYST = Dialect("myst")
MKDOCS = Dialect("mkdocs", MKDOCS_DEFAULT_EXTENSIONS)


def mkdocs_dialect(extensions: frozenset[str] | set[str] | list[str]) -> Dialect:
    return Dialect("mkdocs", frozenset(extensions))


Warn = Callable[[str], None]


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")


class DialectResolver:
    """Resolves the dialect of Markdown files for one run; reads each config file once.

    A mkdocs.yml that cannot be read is reported once through `warn` (`path:line: warning: ...`,
    the path as `show` writes it) and the pages under it are read as CommonMark. `read` reads a
    mkdocs.yml (a results cache passes one that keeps sites whose files have not changed).
    Each folder on the way up is looked at once per run, whatever the number of pages below it.
    """

    def __init__(
        self,
        setting: str = "auto",
        warn: Warn = _stderr,
        show: Callable[[Path], str] = str,
        read: Callable[[Path], MkDocsSite] = read_site,
    ) -> None:
        if setting not in DIALECTS:
            raise ValueError(f"unknown Markdown dialect {setting!r} (known: {', '.join(DIALECTS)})")
        self.setting = setting
        self.warn = warn
        self.show = show  # how a config file's path is written in a warning
        self.read = read
        self._folders: dict[Path, Dialect] = {}  # by resolved folder
        self._given: dict[str, Dialect] = {}  # by folder as given (saves resolving every path)
        self._sites: dict[Path, MkDocsSite | None] = {}
        self._chains: dict[Path, tuple[_Level, ...]] = {}  # by folder: the folders above it that matter

    def __call__(self, path: Path) -> Dialect:
        if self.setting == "commonmark":
            return COMMONMARK
        if self.setting == "myst":
            return MYST
        given = os.path.dirname(path)  # a string: hashing a Path costs more than resolving it once
        found = self._given.get(given)
        if found is None:
            try:
                folder = path.resolve().parent
            except (OSError, RuntimeError):
                return MKDOCS if self.setting == "mkdocs" else COMMONMARK
            found = self._folders.get(folder)
            if found is None:
                found = self._folders[folder] = self._resolve(folder)
            self._given[given] = found
        return found

    def _resolve(self, folder: Path) -> Dialect:
        for level in self._chain(folder):
            for config in level.configs:
                site = self._site(config)
                if site is None:  # unreadable: warned once; its pages are CommonMark
                    return MKDOCS if self.setting == "mkdocs" else COMMONMARK
                if site.governs(folder):
                    return mkdocs_dialect(site.extensions)
            if self.setting == "auto" and level.reads_myst():
                return MYST
        return MKDOCS if self.setting == "mkdocs" else COMMONMARK

    def _chain(self, folder: Path) -> tuple[_Level, ...]:
        """The folders from `folder` up to the repository root that hold a config or are that root,
        nearest first (shared by every folder below them)."""
        chain = self._chains.get(folder)
        if chain is None:
            level = _Level(folder)
            parent = folder.parent
            above = () if level.repository_root or parent == folder else self._chain(parent)
            chain = self._chains[folder] = ((level,) if level.matters else ()) + above
        return chain

    def _site(self, config: Path) -> MkDocsSite | None:
        if config not in self._sites:
            try:
                self._sites[config] = self.read(config)
            except MkDocsConfigError as exc:
                self._sites[config] = None
                line = f":{exc.line}" if exc.line is not None else ""
                self.warn(
                    f"{self.show(exc.config)}{line}: warning: {exc.reason}; Markdown under it is read as CommonMark"
                )
        return self._sites[config]


class _Level:
    """One folder as the resolver sees it: its MkDocs configs, whether it is a repository's root,
    and (read only when it matters) whether a Sphinx conf.py in it reads `.md` as MyST."""

    __slots__ = ("_myst", "configs", "folder", "repository_root", "sphinx")

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.configs = tuple(config for name in CONFIG_NAMES if (config := folder / name).is_file())
        self.sphinx = (folder / "conf.py").is_file()
        self.repository_root = (folder / ".git").exists()
        self._myst: bool | None = None

    @property
    def matters(self) -> bool:
        return bool(self.configs) or self.sphinx or self.repository_root

    def reads_myst(self) -> bool:
        if self._myst is None:
            self._myst = self.sphinx and _sphinx_reads_myst(self.folder / "conf.py")
        return self._myst


def _sphinx_reads_myst(conf: Path) -> bool:
    """A Sphinx conf.py whose project reads `.md` as MyST (parsed, never run: sphinx_conf.py)."""
    if not conf.is_file():
        return False
    from alttext_tools.scan.sphinx_conf import read_conf

    sphinx = read_conf(conf)
    return sphinx is not None and sphinx.kind(".md") == "myst"
