"""Scan many files and judge their images, on all cores when the tree is big enough to pay for it."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from alttext_tools.check.rules import RuleSettings, evaluate_all
from alttext_tools.core import FileError, Finding, ImageRef
from alttext_tools.report.outcome import Report
from alttext_tools.scan.dialects import Dialect, DialectResolver
from alttext_tools.scan.dispatch import FileScan, kind_of, scan_file
from alttext_tools.scan.walk import display_path
from alttext_tools.workers import die_with_parent

# Below this many files a process pool costs more (fork + pickling) than it saves.
PARALLEL_THRESHOLD = 48
CHUNK = 16  # most files in one task
# Tasks per worker to aim for: enough that the last ones are small and the workers finish together.
TASKS_PER_WORKER = 24
# A worker's youngest generation is collected every this many allocations (CPython's default is
# 700). Parsing allocates millions of short-lived tokens that refcounting frees anyway: collecting
# rarely saves ~3% of the CPU time (measured on 1,656 Markdown files), as much as no GC at all.
WORKER_GC_THRESHOLD = 100_000


@dataclass
class FileResult:
    path: str
    images: list[ImageRef] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    error: FileError | None = None
    internal_error: str | None = None
    dialect: Dialect | None = None  # what a Markdown file was read as (a fix re-scans it the same way)


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


def check_file(path: Path, display: str, settings: RuleSettings, dialect: Dialect | None = None) -> FileResult:
    """Scan and judge one file; nothing escapes but a FileResult."""
    try:
        scanned: FileScan = scan_file(path, display, dialect)
        if scanned.error is not None:
            return FileResult(display, error=scanned.error)
        return FileResult(display, scanned.images, evaluate_all(scanned.images, settings), dialect=scanned.dialect)
    except Exception as exc:  # a bug in our code: report it, keep going with the other files
        import traceback

        where = traceback.extract_tb(exc.__traceback__)[-1]
        detail = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
        return FileResult(display, internal_error=detail)


def _check_chunk(chunk: list[tuple[str, str, Dialect | None]], settings: RuleSettings) -> list[FileResult]:
    return [check_file(Path(p), d, settings, dialect) for p, d, dialect in chunk]


def _worker_init(parent: int) -> None:
    die_with_parent(parent)
    gc.freeze()  # what the parent had before the fork is never garbage here: stop scanning it
    gc.set_threshold(WORKER_GC_THRESHOLD, *gc.get_threshold()[1:])


def check_files(
    files: Iterable[tuple[Path, str]], settings: RuleSettings, jobs: int = 0, dialect: str = "auto"
) -> CheckRun:
    """Results come back in the order the files were given, whatever order they were checked in.
    `dialect` is the project's Markdown dialect setting, resolved here for every Markdown file
    (so each config file is read, and any warning about it printed, once per run)."""
    resolve = DialectResolver(dialect, show=display_path)
    items = [(str(p), d, resolve(p) if kind_of(p) == "markdown" else None) for p, d in files]
    workers = worker_count(jobs, len(items))
    if workers <= 1:
        return CheckRun([check_file(Path(p), d, settings, md) for p, d, md in items])
    # Imported here: a one-file check never needs them (~15 ms of start-up).
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    results: dict[int, FileResult] = {}
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_worker_init, initargs=(os.getpid(),)
    ) as pool:
        tasks = [
            (batch, pool.submit(_check_chunk, [items[i] for i in batch], settings))
            for batch in _batches(items, workers)
        ]
        for batch, future in tasks:
            for i, result in zip(batch, future.result()):
                results[i] = result
    return CheckRun([results[i] for i in range(len(items))])


def worker_count(jobs: int, n_files: int) -> int:
    if n_files < PARALLEL_THRESHOLD:
        return 1
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(jobs or available, available, n_files // CHUNK or 1))


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # reported by the worker; costs nothing to check


def _batches(items: list[tuple[str, str, Dialect | None]], workers: int) -> list[list[int]]:
    """Indices of `items` in tasks, largest files first and tasks shrinking towards the end
    (guided scheduling): no worker is left with a big file while the others sit idle."""
    sizes = [_size(p) for p, _, _ in items]
    order = sorted(range(len(items)), key=sizes.__getitem__, reverse=True)
    budget = max(1, sum(sizes) // (workers * TASKS_PER_WORKER))  # bytes per task
    batches: list[list[int]] = []
    batch: list[int] = []
    weight = 0
    for i in order:
        batch.append(i)
        weight += sizes[i]
        if weight >= budget or len(batch) == CHUNK:
            batches.append(batch)
            batch, weight = [], 0
    if batch:
        batches.append(batch)
    return batches
