"""fsio.atomic_write: all or nothing, mode and owner kept, read-only files refused, no temp left behind."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

from alttext_tools import fsio
from alttext_tools.fsio import TEMP_INFIX, ReadOnlyFileError, atomic_write


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if TEMP_INFIX in p.name]


def test_atomic_write_replaces_and_keeps_permission_bits(tmp_path: Path) -> None:
    target = tmp_path / "page.md"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    atomic_write(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert temps(tmp_path) == []


def test_atomic_write_executable_bit_survives(tmp_path: Path) -> None:
    target = tmp_path / "page.md"
    target.write_bytes(b"old")
    os.chmod(target, 0o755)
    atomic_write(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


def test_atomic_write_follows_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real.md"
    real.write_bytes(b"old")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    atomic_write(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_read_only_file_is_refused_even_for_root(tmp_path: Path) -> None:
    target = tmp_path / "page.md"
    target.write_bytes(b"old")
    os.chmod(target, 0o444)
    with pytest.raises(ReadOnlyFileError):
        atomic_write(target, b"new")
    with pytest.raises(ReadOnlyFileError):
        atomic_write(target, b"new", create=True)
    assert target.read_bytes() == b"old"
    assert temps(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a file away")
def test_owner_and_group_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "page.md"
    target.write_bytes(b"old")
    os.chown(target, 12345, 23456)
    os.chmod(target, 0o6754)  # setuid and setgid too: a change of owner would clear them
    atomic_write(target, b"new")
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (12345, 23456)
    assert stat.S_IMODE(st.st_mode) == 0o6754
    assert target.read_bytes() == b"new"


def test_owner_is_this_process_for_its_own_file(tmp_path: Path) -> None:
    target = tmp_path / "page.md"
    target.write_bytes(b"old")
    before = target.stat()
    atomic_write(target, b"new")
    after = target.stat()
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino  # replaced, not rewritten in place


def test_create_makes_a_missing_file_with_the_umask_mode(tmp_path: Path) -> None:
    target = tmp_path / "new.jsonl"
    old_umask = os.umask(0o027)
    try:
        atomic_write(target, b"data", create=True)
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert temps(tmp_path) == []


def test_create_through_a_dangling_symlink_keeps_the_link(tmp_path: Path) -> None:
    link = tmp_path / "cache.jsonl"
    link.symlink_to(tmp_path / "real.jsonl")
    atomic_write(link, b"data", create=True)
    assert link.is_symlink() and (tmp_path / "real.jsonl").read_bytes() == b"data"


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path, b"data", create=True)


def test_failed_rename_leaves_original_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "page.md"
    target.write_bytes(b"old")

    def exdev(*args: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(fsio.os, "replace", exdev)
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert temps(tmp_path) == []


def test_vanished_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "gone.md", b"new")
    assert temps(tmp_path) == []


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_disk_full_leaves_original_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    target = tmp_path / "page.md"
    target.write_bytes(b"old")

    def enospc(*args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsio.os, failing, enospc)
    with pytest.raises(OSError) as info:
        atomic_write(target, b"new" * 1000)
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old"
    assert temps(tmp_path) == []


def test_partial_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    monkeypatch.setattr(fsio.os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))
    target = tmp_path / "page.md"
    target.write_bytes(b"old")
    atomic_write(target, b"0123456789" * 10)
    assert target.read_bytes() == b"0123456789" * 10


def test_keyboard_interrupt_mid_write_removes_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "page.md"
    target.write_bytes(b"old")
    real_write = os.write
    calls = []

    def interrupted(fd: int, data: memoryview) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_write(fd, data)

    monkeypatch.setattr(fsio.os, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"x" * (3 << 20))  # three chunks
    assert target.read_bytes() == b"old"
    assert temps(tmp_path) == []


_KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from alttext_tools import fsio
    real_write = os.write
    def slow(fd, data):
        n = real_write(fd, data)
        print("chunk", flush=True)
        time.sleep(0.2)
        return n
    fsio.os.write = slow
    fsio.atomic_write(sys.argv[1], b"N" * (64 << 20))
    print("done", flush=True)
    """
)


def test_sigkill_mid_write_leaves_target_fully_old(tmp_path: Path) -> None:
    target = tmp_path / "big.md"
    old = b"O" * (8 << 20)
    target.write_bytes(old)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"chunk\n"  # the temp file is being written right now
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert target.read_bytes() == old  # fully old
    # A stale temp is unavoidable after SIGKILL; it is recognisable and not the target.
    left = temps(tmp_path)
    assert all(p.name.startswith(".big.md" + TEMP_INFIX) for p in left)
