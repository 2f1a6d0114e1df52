"""Which files a run looks at: paths given, directories walked, .gitignore and excludes honoured."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from alttext_tools.scan.dispatch import EXTRA_SUFFIXES, SUFFIXES


class Patterns(Protocol):
    """A set of gitignore-style patterns, as the walker asks it (pathspec's GitIgnoreSpec is one)."""

    def __len__(self) -> int: ...

    def match_file(self, file: str) -> bool: ...


# Folders that are never documentation sources, whatever .gitignore says.
ALWAYS_SKIPPED = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".tox", ".nox"})


@dataclass
class Walker:
    """Yields (path, display) for every HTML, Markdown or reStructuredText source under the given paths.

    Files named explicitly are always taken (pre-commit passes exact file names), except those an
    exclude glob matches; directories are walked with .gitignore files and excludes applied. An
    invalid pattern is skipped, as git skips it, with one line in `warnings`.
    """

    root: Path  # project root: excludes and .gitignore patterns are relative to it
    exclude: Sequence[str] = ()
    use_gitignore: bool = True
    warnings: list[str] = field(init=False, default_factory=list)  # one line per skipped pattern
    _exclude_spec: Patterns = field(init=False)
    _excludes: bool = field(init=False)  # any exclude pattern at all
    _root: str = field(init=False)
    _read: dict[str, Patterns | None] = field(init=False, default_factory=dict)  # .gitignore files by folder

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self._root = str(self.root)
        self._exclude_spec = self._spec(self.exclude, None)
        self._excludes = len(self._exclude_spec) > 0

    def files(self, paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
        # Hot path (thousands of files): plain strings and DirEntry data instead of pathlib, with
        # the same lexical rules (see _rel); what a run walks is the same as with Path methods.
        seen: set[str] = set()
        cwd = os.path.abspath(os.getcwd())
        for given in paths:
            if given.is_dir():
                candidates: Iterable[tuple[Path, str]] = self._walk_dir(given)
            else:
                candidates = [(given, os.path.realpath(given))]
            for path, key in candidates:
                if key in seen or self._excluded(key):
                    continue
                seen.add(key)
                yield path, _display(path, cwd)

    def _excluded(self, resolved: str) -> bool:
        if not self._excludes:
            return False
        rel = _rel(resolved, self._root)
        return rel is not None and self._exclude_spec.match_file(rel)

    def _walk_dir(self, top: Path) -> Iterator[tuple[Path, str]]:
        # Collect .gitignore specs from the root down to `top`, then extend them while descending.
        inherited = self._gitignores_above(top)
        yield from self._walk(top, os.path.realpath(top), inherited)

    def _walk(self, folder: Path, real: str, ignores: list[tuple[str, Patterns]]) -> Iterator[tuple[Path, str]]:
        """Yields (path, realpath) of the sources under `folder`, whose realpath is `real`."""
        if self.use_gitignore:
            spec = self._gitignore(folder)
            if spec is not None:
                ignores = [*ignores, (real, spec)]
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return  # unreadable folder: nothing to scan there; files given explicitly still report
        absolute = str(folder.absolute())
        join = os.path.join
        for entry in entries:
            name = entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir:
                if name in ALWAYS_SKIPPED:
                    continue
            elif not name.lower().endswith(SUFFIXES) and not (
                name.lower().endswith(EXTRA_SUFFIXES) and _sphinx_source(real, name)
            ):
                continue  # never yielded: no need to ask the ignore files about it
            symlink = entry.is_symlink()
            resolved = os.path.realpath(entry.path) if symlink else join(absolute, name)
            if (ignores or self._excludes) and self._ignored(resolved, is_dir, ignores):
                continue
            # The realpath of a name that is not a symlink is its folder's realpath plus the name.
            real_path = resolved if symlink else join(real, name)
            if is_dir:
                yield from self._walk(Path(entry.path), real_path, ignores)
            elif entry.is_file():
                yield Path(entry.path), real_path

    def _ignored(self, resolved: str, is_dir: bool, ignores: list[tuple[str, Patterns]]) -> bool:
        slash = "/" if is_dir else ""
        for base, spec in ignores:
            rel = _rel(resolved, base)
            if rel is not None and spec.match_file(rel + slash):
                return True
        if not self._excludes:
            return False
        rel_root = _rel(resolved, self._root)
        return rel_root is not None and self._exclude_spec.match_file(rel_root + slash)

    def _gitignores_above(self, top: Path) -> list[tuple[str, Patterns]]:
        if not self.use_gitignore:
            return []
        top = top.resolve()
        chain = [p for p in [top, *top.parents] if _relative_to(p, self.root) is not None]
        specs = []
        for folder in reversed(chain[1:]):  # `top` itself is read by _walk
            spec = self._gitignore(folder)
            if spec is not None:
                specs.append((str(folder), spec))
        return specs

    def _gitignore(self, folder: Path) -> Patterns | None:
        """The patterns of `folder`'s .gitignore (None: it has none), read once per run."""
        key = str(folder)
        if key not in self._read:
            try:
                lines = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self._read[key] = None
            else:
                self._read[key] = self._spec(lines, folder / ".gitignore")
        return self._read[key]

    def _spec(self, lines: Iterable[str], source: Path | None) -> Patterns:
        patterns, skipped = ignore_patterns(lines, display_path(source) if source else None)
        self.warnings.extend(skipped)
        return patterns


def _sphinx_source(folder: str, name: str) -> bool:
    """A `.txt` file is a source only where the Sphinx `conf.py` above it says so."""
    from alttext_tools.scan.sphinx_conf import sphinx_kind

    return sphinx_kind(Path(folder) / name) is not None


def ignore_patterns(lines: Iterable[str], source: str | None = None) -> tuple[Patterns, list[str]]:
    """Gitignore-style patterns from `lines` (of the file `source`, else exclude settings), and one
    warning per invalid pattern, which is skipped as git skips it (`!`, `\\`, `[z-a]`)."""
    lines = list(lines)
    if not lines:
        return _EMPTY, []
    # Imported on first use (~15 ms): a run with no excludes and no .gitignore never needs it.
    from pathspec import GitIgnoreSpec

    try:
        return GitIgnoreSpec.from_lines(lines), []
    except (ValueError, re.error):  # pathspec's GitIgnorePatternError; re.error for a range like [z-a]
        pass
    kept, skipped = [], []
    for number, line in enumerate(lines, 1):
        try:
            GitIgnoreSpec.from_lines([line])
        except (ValueError, re.error):
            where = f"{source}:{number}: invalid ignore pattern" if source else "invalid exclude pattern"
            skipped.append(f"{where} {line!r} skipped")
            continue
        kept.append(line)
    return GitIgnoreSpec.from_lines(kept), skipped


class _NoPatterns:
    """What GitIgnoreSpec.from_lines([]) is, without importing pathspec: matches nothing."""

    def __len__(self) -> int:
        return 0

    def match_file(self, file: str) -> bool:
        return False


_EMPTY: Patterns = _NoPatterns()


def _rel(path: str, base: str) -> str | None:
    """`Path(path).relative_to(base).as_posix()` (None when not inside) for normalised absolute
    paths, by string comparison on POSIX: the same lexical rule, without building Path objects."""
    if os.sep != "/":
        return _relative_to(Path(path), Path(base))
    if not path.startswith(base):
        return None
    rest = path[len(base) :]
    if not rest:
        return "."
    if base.endswith("/"):  # the root itself
        return None if rest.startswith("/") else rest
    return rest[1:] if rest[0] == "/" and len(rest) > 1 and rest[1] != "/" else None


def _display(path: Path, cwd: str) -> str:
    """display_path() with the cwd looked up once per run."""
    if os.sep != "/":
        return display_path(path)
    rel = _rel(os.path.abspath(path), cwd)
    return rel if rel is not None else path.as_posix()


def _relative_to(path: Path, base: Path) -> str | None:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return None


def display_path(path: Path) -> str:
    """Relative to the cwd when inside it (what editors and CI annotations expect), else as given."""
    # abspath, not resolve(): a symlink is shown under its own name, as the user wrote it.
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(Path.cwd())).as_posix()
    except ValueError:
        return path.as_posix()
