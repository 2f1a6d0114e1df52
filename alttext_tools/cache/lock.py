"""The committed alt-text cache: content-addressed, human edits first, safe under concurrency.

One entry per (image bytes, model, prompt version, language, role). The role is "informative" or
"functional:<link target>", so an image that is a link is described by what it does there. The
same image on many pages shares one entry per context; moving or renaming it keeps its entry.

File format (JSON Lines, UTF-8, "\n" line ends; default `.alttext-cache.jsonl` at the project
root, `cache = "..."` in the config moves it):

    {"format":"alttext-cache","help":"...","version":1}
    {"alt":"A red fox asleep in the snow","created":"2025-01-02T03:04:05Z",...}

Line 1 is the header. Every other line is one complete entry with every field, keys sorted,
compact separators, non-ASCII kept as is; lines are sorted by the key's parts (image sha256,
language, role, model id, prompt version), so one image's entries sit together, two runs that
add the same entries write the same bytes, and git merges additions from two branches cleanly.
The hex key (`cache_key`) is derived from those parts, never stored: one source of truth.
With `.alttext-cache.jsonl merge=union` in .gitattributes git keeps both sides' lines instead of
writing conflict markers; duplicate keys are then resolved on load (human states first, then the
newest) and the next write sorts the file again. Conflict markers are refused with a pointer to
`alttext cache fix-conflicts` (`resolve_conflicts`). A damaged file raises `CacheError` naming
the file and line and is never rewritten.

Writers take an exclusive flock on the sidecar `<file>.lock` (present only while held), re-read
the file if another process replaced it, merge their own changes in (a model's entry never
replaces a human's; a pruned entry someone changed meanwhile stays), write a temp file in the
same folder, fsync it and `os.replace` it: readers take no lock and never see half a file, and
no process loses another's entries. `put()` buffers; `flush()` writes once (also every
`flush_every` changes or `flush_interval` seconds, and on leaving a `with` block). Lookups are
O(1) dict reads; loading parses the whole file with one `json.loads` in the common case.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass
try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
from alttext_tools.errors import CacheError

LOCK_TIMEOUT_S = 120.0


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextmanager
def locked(path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive lock shared by every alttext process writing this cache: flock on `<path>.lock`.

    The lock file exists only while a writer holds it (removed before unlocking; a waiter that
    then finds its file unlinked or replaced starts over), so nothing is left in the work tree."""
    lock = lock_path(path)
    deadline = time.monotonic() + timeout_s
    while True:
        fd = _open_lock(lock)
        try:
            _acquire(fd, lock, deadline, timeout_s)
            if _still_linked(fd, lock):
                break
            _release(fd)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        if fcntl is not None:
            lock.unlink(missing_ok=True)
        _release(fd)
        os.close(fd)


def _open_lock(lock: Path) -> int:
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        return os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise CacheError(f"{lock}: cannot create the cache lock file: {exc.strerror or exc}") from None


def _still_linked(fd: int, lock: Path) -> bool:
    try:
        on_disk = os.stat(lock)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _acquire(fd: int, lock: Path, deadline: float, timeout_s: float) -> None:
    delay = 0.002
    while True:
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise CacheError(
                    f"{lock}: another alttext process has held the cache lock for {timeout_s:.0f} s"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _release(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
