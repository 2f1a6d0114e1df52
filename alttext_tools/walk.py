"""Which files a run looks at: paths given, directories walked, .gitignore and excludes honoured."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pathspec import GitIgnoreSpec, PathSpec

from alttext_tools.scan import SUFFIXES

# Folders that are never documentation sources, whatever .gitignore says.
ALWAYS_SKIPPED = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".tox", ".nox"})


@dataclass
class Walker:
    """Yields (path, display) for every HTML/Markdown source under the given paths.

    Files named explicitly are always taken (pre-commit passes exact file names), except those an
    exclude glob matches; directories are walked with .gitignore files and excludes applied.
    """

    root: Path  # project root: excludes and .gitignore patterns are relative to it
    exclude: Sequence[str] = ()
    use_gitignore: bool = True
    _exclude_spec: PathSpec = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self._exclude_spec = GitIgnoreSpec.from_lines(self.exclude)

    def files(self, paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
        seen: set[Path] = set()
        for given in paths:
            if given.is_dir():
                candidates: Iterable[Path] = self._walk_dir(given)
            else:
                candidates = [given]
            for path in candidates:
                key = path.resolve()
                if key in seen or self._excluded(path):
                    continue
                seen.add(key)
                yield path, display_path(path)

    def _excluded(self, path: Path) -> bool:
        rel = _relative_to(path.resolve(), self.root)
        return rel is not None and self._exclude_spec.match_file(rel)

    def _walk_dir(self, top: Path) -> Iterator[Path]:
        # Collect .gitignore specs from the root down to `top`, then extend them while descending.
        inherited = self._gitignores_above(top)
        yield from self._walk(top, inherited)

    def _walk(self, folder: Path, ignores: list[tuple[Path, PathSpec]]) -> Iterator[Path]:
        if self.use_gitignore:
            spec = _read_gitignore(folder)
            if spec is not None:
                ignores = [*ignores, (folder.resolve(), spec)]
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return  # unreadable folder: nothing to scan there; files given explicitly still report
        for entry in entries:
            path = Path(entry.path)
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir and entry.name in ALWAYS_SKIPPED:
                continue
            if self._ignored(path, is_dir, ignores):
                continue
            if is_dir:
                yield from self._walk(path, ignores)
            elif entry.name.lower().endswith(SUFFIXES) and entry.is_file():
                yield path

    def _ignored(self, path: Path, is_dir: bool, ignores: list[tuple[Path, PathSpec]]) -> bool:
        resolved = path.resolve() if path.is_symlink() else path.absolute()
        for base, spec in ignores:
            rel = _relative_to(resolved, base)
            if rel is not None and spec.match_file(rel + ("/" if is_dir else "")):
                return True
        rel_root = _relative_to(resolved, self.root)
        return rel_root is not None and self._exclude_spec.match_file(rel_root + ("/" if is_dir else ""))

    def _gitignores_above(self, top: Path) -> list[tuple[Path, PathSpec]]:
        if not self.use_gitignore:
            return []
        top = top.resolve()
        chain = [p for p in [top, *top.parents] if _relative_to(p, self.root) is not None]
        specs = []
        for folder in reversed(chain[1:]):  # `top` itself is read by _walk
            spec = _read_gitignore(folder)
            if spec is not None:
                specs.append((folder, spec))
        return specs


def _read_gitignore(folder: Path) -> PathSpec | None:
    try:
        lines = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return GitIgnoreSpec.from_lines(lines)


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
