"""The models lock file (`alttext-models.lock` at the project root): the Hub commit each preset was
first pulled at, so that later pulls, and runs, use the same files; see docs/models.md."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alttext_tools.errors import AltTextError
from alttext_tools.fsio import atomic_write

LOCK_FILE = "alttext-models.lock"
LOCK_VERSION = 1
_COMMIT = re.compile(r"[0-9a-f]{40}")


class LockFileError(AltTextError):
    """The lock file cannot be read or written; the message is one line naming it."""


def is_commit(revision: str) -> bool:
    """A full Git commit hash (what pins a revision), not a branch or tag name."""
    return bool(_COMMIT.fullmatch(revision))


@dataclass(frozen=True)
class LockedModel:
    """One preset's entry: the repository it was pulled from and the commit it resolved to."""

    repo_id: str
    revision: str  # a 40-hex commit


def lock_path(root: Path) -> Path:
    return root / LOCK_FILE


def read_lock(path: Path) -> dict[str, LockedModel]:
    """The entries by preset name; {} when there is no lock file. LockFileError when it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as err:
        raise LockFileError(f"{path}: cannot read the models lock file ({err})") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
            raise ValueError(f"expected an object with version {LOCK_VERSION}")
        models = data.get("models")
        if not isinstance(models, dict):
            raise ValueError('no "models" object')
        entries = {}
        for name, entry in models.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("repo_id"), str):
                raise ValueError(f"{name}: no repo_id")
            revision = entry.get("revision")
            if not isinstance(revision, str) or not is_commit(revision):
                raise ValueError(f"{name}: revision is not a 40-hex commit")
            entries[str(name)] = LockedModel(entry["repo_id"], revision)
    except ValueError as err:
        raise LockFileError(
            f"{path}: not a models lock file ({err}); fix it, or delete it and run `alttext models pull` again"
        ) from None
    return entries


def render_lock(entries: Mapping[str, LockedModel]) -> str:
    """The file's text: sorted, one key per line, so that a change is a small diff."""
    models = {name: {"repo_id": e.repo_id, "revision": e.revision} for name, e in sorted(entries.items())}
    return json.dumps({"version": LOCK_VERSION, "models": models}, indent=2) + "\n"


def write_entry(path: Path, name: str, entry: LockedModel) -> bool:
    """Record `entry` for preset `name` (the file is replaced whole, atomically); False when it was
    already there."""
    entries = read_lock(path)
    if entries.get(name) == entry:
        return False
    entries[name] = entry
    try:
        atomic_write(path, render_lock(entries).encode("utf-8"), create=True)
    except OSError as err:
        raise LockFileError(f"{path}: cannot write the models lock file ({err.strerror or err})") from None
    return True
