"""Scan many files and judge their images, on all cores when the tree is big enough to pay for it."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from alttext_tools.check.results_cache import ResultsCache, Stat, file_stat
from alttext_tools.check.rules import RuleSettings, evaluate_all
from alttext_tools.check.suppression import NONE as NO_SUPPRESSIONS
from alttext_tools.check.suppression import Suppressions, find_directives, may_hold_directives
from alttext_tools.core import FileError, Finding, ImageRef
from alttext_tools.report.outcome import Report
from alttext_tools.scan.dialects import Dialect, DialectResolver
from alttext_tools.scan.dispatch import kind_of, load_file
from alttext_tools.scan.mkdocs_config import read_site
from alttext_tools.scan.sources import SourceError, read_bytes
from alttext_tools.scan.walk import display_path
from alttext_tools.workers import die_with_parent

# Below this many files a process pool costs more (fork + pickling) than it saves.
PARALLEL_THRESHOLD = 48
CHUNK = 16  # most files in one task
# Tasks per worker to aim for: enough that the last ones are small and the workers finish together.
TASKS_PER_WORKER = 24
# A scanning process's youngest generation is collected every this many allocations (CPython's
# default is 700). Parsing allocates millions of short-lived objects that refcounting frees anyway:
# collecting rarely saves ~3% of the CPU time on 1,656 Markdown files and ~15% on mkdocs-material
# HTML pages (thousands of elements each), as much as no GC at all.
WORKER_GC_THRESHOLD = 100_000


@dataclass
class FileResult:
    path: str
    images: list[ImageRef] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    error: FileError | None = None
    internal_error: str | None = None
    dialect: Dialect | None = None  # what a Markdown file was read as (a fix re-scans it the same way)
    warnings: list[str] = field(default_factory=list)  # `path:line: ...` of malformed suppression comments
    suppressions: Suppressions = NO_SUPPRESSIONS  # the file's suppression comments (check/suppression.py)
    # Its results-cache entry, when its findings are that entry's: a cache was used and no
    # suppression comment can be in the file (what the cache's index may keep by the file's stat).
    cache_key: str | None = None


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


def check_file(
    path: Path,
    display: str,
    settings: RuleSettings,
    dialect: Dialect | None = None,
    results: ResultsCache | None = None,
) -> FileResult:
    """Scan and judge one file (or take its result from `results`); nothing escapes but a FileResult.
    The cache holds the rules' findings; the file's suppression comments are applied after it."""
    try:
        loaded = load_file(path, display, dialect)
        if isinstance(loaded, FileError):
            return FileResult(display, error=loaded)
        key = None
        hit = None
        if results is not None:
            key = results.key(loaded.data, display, loaded.kind, loaded.dialect)
            hit = results.get(key, display)
        if hit is not None:
            images, findings = hit.images, hit.findings
        else:
            images = []
            if loaded.may_hold_images():
                scanned = loaded.scan()
                if scanned.error is not None:
                    return FileResult(display, error=scanned.error)
                images = scanned.images
            findings = evaluate_all(images, settings)
            if results is not None and key is not None:
                results.put(key, images, findings)
        if may_hold_directives(loaded.data):
            key = None  # its findings are filtered below: not the cache entry's
        found = NO_SUPPRESSIONS
        if settings.inline_config:
            found = find_directives(loaded.source.text, loaded.kind, display, loaded.dialect)
            findings = found.filter(findings)
        return FileResult(
            display,
            images,
            findings,
            dialect=loaded.dialect,
            warnings=[str(warning) for warning in found.warnings],
            suppressions=found,
            cache_key=key,
        )
    except Exception as exc:  # a bug in our code: report it, keep going with the other files
        return FileResult(display, internal_error=_internal(exc))


def _cached(
    path: str, display: str, dialect: Dialect | None, results: ResultsCache
) -> tuple[FileResult | None, Stat | None]:
    """The file's result if the cache has it, and the stat it was taken with (before its bytes
    were read: a file that changes later never matches it). Taken by that stat from the index,
    else its bytes are read and hashed; nothing is decoded. A file that may hold suppression
    comments is left to `check_file` (which decodes it); the index never holds one."""
    kind = kind_of(path)
    if kind is None:
        return None, None
    stat = file_stat(path)
    if stat is not None:
        known = results.recall(path, display, kind, dialect, stat)
        if known is not None:
            return FileResult(display, known.images, known.findings, dialect=dialect), None
    try:
        data = read_bytes(path)
    except SourceError:
        return None, stat  # reported when the file is checked
    if may_hold_directives(data):
        return None, None
    key = results.key(data, display, kind, dialect)
    hit = results.get(key, display)
    if hit is None:
        return None, stat
    return FileResult(display, hit.images, hit.findings, dialect=dialect, cache_key=key), stat


def _internal(exc: Exception) -> str:
    import traceback

    where = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"


def _check_chunk(
    chunk: list[tuple[str, str, Dialect | None]], settings: RuleSettings, results: ResultsCache | None
) -> list[FileResult]:
    return [check_file(Path(p), d, settings, dialect, results) for p, d, dialect in chunk]


def _worker_init(parent: int) -> None:
    die_with_parent(parent)
    gc.freeze()  # what the parent had before the fork is never garbage here: stop scanning it
    gc.set_threshold(WORKER_GC_THRESHOLD, *gc.get_threshold()[1:])


@contextmanager
def _rare_collections() -> Iterator[None]:
    """Scan in this process with the garbage collector tuned as in the workers (WORKER_GC_THRESHOLD):
    a page's parse allocates one object per element, all freed by reference counting."""
    threshold = gc.get_threshold()
    gc.set_threshold(WORKER_GC_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def check_files(
    files: Iterable[tuple[Path, str]],
    settings: RuleSettings,
    jobs: int = 0,
    dialect: str = "auto",
    results: ResultsCache | None = None,
) -> CheckRun:
    """Results come back in the order the files were given, whatever order they were checked in.
    `dialect` is the project's Markdown dialect setting, resolved here for every Markdown file
    (so each config file is read, and any warning about it printed, once per run).

    With a results cache, this process first takes every result the cache holds (reading and
    hashing a file costs far less than scanning it); only the files left are scanned (and read
    again), on all cores when there are enough of them.
    """
    resolve = DialectResolver(dialect, show=display_path, read=read_site if results is None else results.read_site)
    items = [(str(p), d, resolve(p) if kind_of(p) == "markdown" else None) for p, d in files]
    done: dict[int, FileResult] = {}
    stats: dict[int, Stat] = {}  # files the cache did not have by their stat: taken before reading them
    if results is not None:
        for i, (path, display, md) in enumerate(items):
            try:
                known, stat = _cached(path, display, md, results)
            except Exception as exc:  # a bug in our code: report it, keep going with the other files
                known, stat = FileResult(display, internal_error=_internal(exc)), None
            if known is not None:
                done[i] = known
            if stat is not None:
                stats[i] = stat
    todo = [i for i in range(len(items)) if i not in done]
    workers = worker_count(jobs, len(todo))
    if workers <= 1:
        with _rare_collections():
            for i in todo:
                path, display, md = items[i]
                done[i] = check_file(Path(path), display, settings, md, results)
        return _finish(items, done, stats, results)
    # Imported here: a one-file check never needs them (~15 ms of start-up).
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_worker_init, initargs=(os.getpid(),)
    ) as pool:
        tasks = [
            (batch, pool.submit(_check_chunk, [items[i] for i in batch], settings, results))
            for batch in _batches([items[i] for i in todo], workers, todo)
        ]
        for batch, future in tasks:
            for i, result in zip(batch, future.result()):
                done[i] = result
    return _finish(items, done, stats, results)


def _finish(
    items: list[tuple[str, str, Dialect | None]],
    done: dict[int, FileResult],
    stats: dict[int, Stat],
    results: ResultsCache | None,
) -> CheckRun:
    """The run in the order given; the results cache's index learns the stat of each file it
    did not know by its stat."""
    if results is not None:
        for i, stat in stats.items():
            result = done[i]
            if result.cache_key is not None:
                path, display, md = items[i]
                kind = kind_of(path)
                if kind is not None:
                    results.remember(path, display, kind, md, stat, result.cache_key, result.images, result.findings)
        results.save_index()
    return CheckRun([done[i] for i in range(len(items))])


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


def _batches(items: list[tuple[str, str, Dialect | None]], workers: int, indices: list[int]) -> list[list[int]]:
    """`indices` (one per item) in tasks, largest files first and tasks shrinking towards the end
    (guided scheduling): no worker is left with a big file while the others sit idle."""
    sizes = [_size(p) for p, _, _ in items]
    order = sorted(range(len(items)), key=sizes.__getitem__, reverse=True)
    budget = max(1, sum(sizes) // (workers * TASKS_PER_WORKER))  # bytes per task
    batches: list[list[int]] = []
    batch: list[int] = []
    weight = 0
    for i in order:
        batch.append(indices[i])
        weight += sizes[i]
        if weight >= budget or len(batch) == CHUNK:
            batches.append(batch)
            batch, weight = [], 0
    if batch:
        batches.append(batch)
    return batches
