"""Atomic file replacement: all or nothing, keeping the file's mode and owner, refusing read-only files."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from alttext_tools.errors import AltTextError

TEMP_INFIX = ".alttext-tmp-"  # temp files are named `.<name>.alttext-tmp-<random>`, next to the target
_CHUNK = 1 << 20


class ReadOnlyFileError(PermissionError, AltTextError):
    """The file has no write permission bit (or this process may not write it): it is left alone."""

    def __init__(self, path: str) -> None:
        PermissionError.__init__(self, errno.EACCES, "read-only file", path)


def atomic_write(path: Path | str, data: bytes, *, create: bool = False) -> None:
    """Replace the file at `path` with `data`, all or nothing.

    The bytes go to a temp file in the same folder (`.<name>.alttext-tmp-*`), are fsynced, get the
    original permission bits and owner, and `os.replace` swaps it in; the folder is fsynced after.
    Any exception (disk full, KeyboardInterrupt) removes the temp file and leaves the original
    untouched. A symlink is followed: its target is rewritten, the link stays. A file with no write
    permission bit is refused even for root (ReadOnlyFileError): read-only means "don't touch".
    A missing file raises FileNotFoundError, unless `create`: it is then made with the usual
    mode for new files (0o666 less the umask). The folder must exist.
    """
    target = Path(os.path.realpath(path))
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        if not create:
            raise
        st = None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
        if not st.st_mode & 0o222 or not os.access(target, os.W_OK):
            raise ReadOnlyFileError(str(path))
    tmp = target.with_name(f".{target.name}{TEMP_INFIX}{secrets.token_hex(8)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600 if st is not None else 0o666)  # the umask applies to a new file
    try:
        try:
            _write_all(fd, data)
            if st is not None:
                _keep_owner(fd, st)  # before the mode: a change of owner clears setuid/setgid bits
                os.chmod(tmp, stat.S_IMODE(st.st_mode))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:_CHUNK])
        view = view[written:]


def _keep_owner(fd: int, st: os.stat_result) -> None:
    """Give the temp file the original's owner and group where this process may (root may)."""
    fchown = getattr(os, "fchown", None)
    if fchown is None or (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()):
        return
    with contextlib.suppress(OSError):
        fchown(fd, st.st_uid, st.st_gid)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; best effort (not every platform or file system allows it)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
