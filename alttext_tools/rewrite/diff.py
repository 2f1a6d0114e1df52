"""Byte-exact unified diffs that `git apply` and `patch -p1` accept, and the repository-relative paths they name."""

from __future__ import annotations

import difflib
import os
from pathlib import Path


def _split_lines(data: bytes) -> list[bytes]:
    """Lines ending at b"\\n" with their endings kept ("\\r\\n" stays on the line, a lone "\\r" too)."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def unified_diff(old: bytes, new: bytes, path: str, *, context: int = 3) -> bytes:
    """A unified diff of two versions of `path` (relative to the repo root, "/"-separated) that
    `git apply` and `patch -p1` accept, in the file's own bytes: CRLF, non-UTF-8 text and a missing
    final newline ("\\ No newline at end of file") reproduce exactly. Empty when equal."""
    if old == new:
        return b""
    # Latin-1 maps every byte to one code point and back, so difflib can work on any encoding.
    a = [line.decode("latin-1") for line in _split_lines(old)]
    b = [line.decode("latin-1") for line in _split_lines(new)]
    name = os.fsencode(path).decode("latin-1")
    if any(ch in name for ch in " \t"):
        name += "\t"  # GNU patch ends a name at a tab (else at the first space); git agrees
    out = [f"--- a/{name}\n", f"+++ b/{name}\n"]
    for i, line in enumerate(difflib.unified_diff(a, b, n=context, lineterm="\n")):
        if i < 2:  # difflib's own ---/+++ header
            continue
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out).encode("latin-1")


def find_root(start: Path | None = None) -> Path:
    """The repository root above `start` (the cwd by default): the nearest folder with `.git`,
    else `start` itself. Diff paths are written relative to it."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def diff_path(path: Path, root: Path | None = None) -> str:
    """`path` relative to `root` (the repository root by default), "/"-separated."""
    base = (root or find_root()).resolve()
    absolute = Path(os.path.abspath(path))
    try:
        relative = absolute.relative_to(base)
    except ValueError:
        try:
            relative = Path(os.path.realpath(path)).relative_to(base)
        except ValueError:
            return Path(os.path.relpath(absolute, Path.cwd())).as_posix()
    return relative.as_posix()
