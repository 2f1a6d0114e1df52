"""Scan many files and judge their images, on all cores when the tree is big enough to pay for it."""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from alttext_tools.model import FileError, Finding, ImageRef
from alttext_tools.report import Report
from alttext_tools.rules import RuleSettings, evaluate_all
from alttext_tools.scan import FileScan, scan_file

# Below this many files a process pool costs more (fork + pickling) than it saves.
PARALLEL_THRESHOLD = 48
CHUNK = 16


@dataclass
class FileResult:
    path: str
    images: list[ImageRef] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    error: FileError | None = None
    internal_error: str | None = None


@dataclass
class CheckRun:
    results: list[FileResult]

    def report(self) -> Report:
        """Feed every file's outcome into the one object that owns the exit code."""
        report = Report()
        for result in self.results:
            if result.error is not None:
                report.failed(result.error)
            elif result.internal_error is not None:
                report.crashed(result.path, result.internal_error)
            else:
                report.checked(len(result.images), result.findings)
        return report


def check_file(path: Path, display: str, settings: RuleSettings) -> FileResult:
    """Scan and judge one file; nothing escapes but a FileResult."""
    try:
        scanned: FileScan = scan_file(path, display)
        if scanned.error is not None:
            return FileResult(display, error=scanned.error)
        return FileResult(display, scanned.images, evaluate_all(scanned.images, settings))
    except Exception as exc:  # a bug in our code: report it, keep going with the other files
        where = traceback.extract_tb(exc.__traceback__)[-1]
        detail = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
        return FileResult(display, internal_error=detail)


def _check_chunk(chunk: list[tuple[str, str]], settings: RuleSettings) -> list[FileResult]:
    return [check_file(Path(p), d, settings) for p, d in chunk]


def check_files(files: Iterable[tuple[Path, str]], settings: RuleSettings, jobs: int = 0) -> CheckRun:
    items = [(str(p), d) for p, d in files]
    workers = _worker_count(jobs, len(items))
    if workers <= 1:
        return CheckRun([check_file(Path(p), d, settings) for p, d in items])
    results: list[FileResult] = []
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for chunk_results in pool.map(_check_chunk, _chunks(items, CHUNK), [settings] * _n_chunks(len(items))):
            results.extend(chunk_results)
    return CheckRun(results)


def _worker_count(jobs: int, n_files: int) -> int:
    if n_files < PARALLEL_THRESHOLD:
        return 1
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(jobs or available, available, n_files // CHUNK or 1))


def _chunks(items: list[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _n_chunks(n: int) -> int:
    return (n + CHUNK - 1) // CHUNK
