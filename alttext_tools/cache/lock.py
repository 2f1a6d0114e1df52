"""The cache writers' lock: an exclusive flock on a sidecar `.<file>.alttext-lock`, present only while held."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alttext_tools.errors import CacheError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_TIMEOUT_S = 120.0
LOCK_SUFFIX = ".alttext-lock"
# The content of every lock file this tool creates: a file at the lock's path without it is
# someone else's, and is never written to nor removed.
LOCK_MARK = b"alttext-tools cache lock: present only while a writer holds it\n"
_OPEN_FLAGS = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


def lock_path(path: Path) -> Path:
    """`.<name>.alttext-lock` next to the cache file: a name of the tool's own, never another
    tool's file (`uv.lock`, `Cargo.lock`) whatever the cache is called."""
    return path.with_name(f".{path.name}{LOCK_SUFFIX}")


@contextmanager
def locked(path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive lock shared by every alttext process writing this cache: flock on `lock_path(path)`.

    The lock file exists only while a writer holds it (removed before unlocking; a waiter that
    then finds its file unlinked or replaced starts over), so nothing is left in the work tree.
    Only a file holding LOCK_MARK is removed: one this tool created (a crashed writer's too)."""
    lock = lock_path(path)
    deadline = time.monotonic() + timeout_s
    while True:
        fd = _open_lock(lock, deadline)
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
        if fcntl is not None and _is_ours(fd):
            lock.unlink(missing_ok=True)
        _release(fd)
        os.close(fd)


def _open_lock(lock: Path, deadline: float) -> int:
    """A descriptor of the lock file: created (with LOCK_MARK) when there is none, else opened as it is."""
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"{lock}: cannot create the cache lock file: {exc.strerror or exc}") from None
    while True:
        try:
            fd = os.open(lock, _OPEN_FLAGS | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            pass
        except OSError as exc:
            raise CacheError(f"{lock}: cannot create the cache lock file: {exc.strerror or exc}") from None
        else:
            try:
                os.write(fd, LOCK_MARK)
            except OSError as exc:
                os.close(fd)
                os.unlink(lock)
                raise CacheError(f"{lock}: cannot write the cache lock file: {exc.strerror or exc}") from None
            return fd
        try:
            return os.open(lock, _OPEN_FLAGS)
        except FileNotFoundError:  # its holder removed it meanwhile: create it
            if time.monotonic() >= deadline:
                raise CacheError(f"{lock}: the cache lock file keeps disappearing") from None
        except OSError as exc:  # ELOOP: a symlink where the lock belongs
            raise CacheError(f"{lock}: cannot open the cache lock file: {exc.strerror or exc}") from None


def _is_ours(fd: int) -> bool:
    try:
        return os.pread(fd, len(LOCK_MARK) + 1, 0) == LOCK_MARK
    except OSError:
        return False


def _still_linked(fd: int, lock: Path) -> bool:
    try:
        on_disk = os.stat(lock, follow_symlinks=False)
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
