"""`alttext fix` orchestration: scan, ask a provider for decisions, rewrite each file.

The provider is asked once for every image of the run (so a model can deduplicate across pages
and load once); files are then rewritten one by one, each independently of the others' failures.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alttext_tools.check.results_cache import ResultsCache
from alttext_tools.check.rules import RuleSettings, is_fixable
from alttext_tools.check.run import CHUNK, check_files, worker_count
from alttext_tools.core import Decision, FileError, Finding, ImageKey, ImageRef, Provider, image_key
from alttext_tools.rewrite.writeback import FileOutcome, Status, WriteBack, fix_file
from alttext_tools.scan.dialects import Dialect
from alttext_tools.scan.sources import SourceError, read_source
from alttext_tools.workers import die_with_parent


@dataclass
class ScannedFile:
    """One file's scan. Its text is read again only if an edit is planned (see `run_fix`)."""

    path: Path
    display: str
    images: list[ImageRef]
    findings: list[Finding] = field(default_factory=list)
    dialect: Dialect | None = None  # the Markdown dialect it was scanned in (the re-scan uses it too)
    warnings: list[str] = field(default_factory=list)  # malformed suppression comments, `path:line: ...`


@dataclass
class FixRun:
    """What `run_fix` did: one outcome per scanned file, in scan order."""

    outcomes: list[FileOutcome] = field(default_factory=list)


def scan_for_fix(
    files: Iterable[tuple[Path, str]],
    settings: RuleSettings,
    jobs: int = 0,
    dialect: str = "auto",
    results: ResultsCache | None = None,
) -> tuple[list[ScannedFile], list[FileError]]:
    """Scan and judge like `check` (on all cores for big trees, `results` holding what is known
    already); bad files become FileErrors. `dialect` is the project's Markdown dialect setting."""
    items = list(files)
    paths = {display: path for path, display in items}
    scanned: list[ScannedFile] = []
    errors: list[FileError] = []
    for result in check_files(items, settings, jobs, dialect, results).results:
        if result.error is not None:
            errors.append(result.error)
        elif result.internal_error is not None:
            errors.append(FileError(result.path, f"internal error: {result.internal_error}"))
        else:
            scanned.append(
                ScannedFile(
                    paths[result.path], result.path, result.images, result.findings, result.dialect, result.warnings
                )
            )
    return scanned, errors


def needs_alt(findings: Sequence[Finding], overwrite: bool) -> list[ImageRef]:
    """Images a provider should write alt for: fixable findings, or any alt finding with --overwrite."""
    chosen: dict[ImageKey, ImageRef] = {}
    for finding in findings:
        image = finding.image
        if is_fixable(finding) or (overwrite and image.alt_kind is not None):
            chosen.setdefault(image_key(image), image)
    return list(chosen.values())


def run_fix(
    scanned: Sequence[ScannedFile],
    provider: Provider,
    mode: WriteBack,
    *,
    overwrite: bool = False,
    root: Path | None = None,
    every_image: bool = False,
    jobs: int = 0,
    before_writing: Callable[[], None] | None = None,
) -> FixRun:
    """`every_image`: ask the provider about all images (a reviewed decisions file names its own);
    otherwise only about those that need alt. fix_file still refuses to overwrite human alt.

    `before_writing` runs once every decision is made and before the first file is touched (the
    alt-text cache is saved there: if that fails, it raises and no file changes)."""
    run = FixRun()
    if every_image:
        targets = [image for item in scanned for image in item.images]
    else:
        targets = [image for item in scanned for image in needs_alt(item.findings, overwrite)]
    decisions: Mapping[ImageKey, Decision] = provider.decide(targets) if targets else {}
    pending: list[tuple[int, _Job]] = []
    for index, item in enumerate(scanned):
        mine = {image_key(i): decisions[image_key(i)] for i in item.images if image_key(i) in decisions}
        if mine:
            pending.append((index, _Job(item, mine)))
        else:
            run.outcomes.append(FileOutcome(item.display, mode, Status.UNCHANGED))
    if pending and before_writing is not None:
        before_writing()
    done = _fix_all([job for _, job in pending], mode, overwrite, root, jobs_wanted=jobs if _safe_to_fork() else 1)
    # Keep the scan's file order in the report, whatever order the workers finished in.
    order = {item.display: i for i, item in enumerate(scanned)}
    run.outcomes = sorted([*run.outcomes, *done], key=lambda outcome: order.get(outcome.path, len(order)))
    return run


@dataclass(frozen=True)
class _Job:
    item: ScannedFile
    decisions: dict[ImageKey, Decision]


def _fix_one(job: _Job, mode: WriteBack, overwrite: bool, root: Path | None) -> FileOutcome:
    item = job.item
    try:
        source = read_source(item.path)  # fix_file checks it still matches the scan
    except SourceError as exc:
        return FileOutcome(item.display, mode, Status.FAILED, error=f"cannot fix {item.display}: {exc}")
    return fix_file(
        item.path,
        source,
        item.images,
        job.decisions,
        mode,
        findings=item.findings,
        overwrite=overwrite,
        display=item.display,
        root=root,
        dialect=item.dialect,
    )


def _fix_batch(jobs: list[_Job], mode: WriteBack, overwrite: bool, root: Path | None) -> list[FileOutcome]:
    return [_fix_one(job, mode, overwrite, root) for job in jobs]


def _fix_all(
    jobs: list[_Job], mode: WriteBack, overwrite: bool, root: Path | None, *, jobs_wanted: int
) -> list[FileOutcome]:
    """Rewrite (and verify) each file; on all cores when there are enough of them and it is safe."""
    workers = worker_count(jobs_wanted, len(jobs))
    if workers <= 1:
        return _fix_batch(jobs, mode, overwrite, root)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    batches = [jobs[i : i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        futures = [pool.submit(_fix_batch, batch, mode, overwrite, root) for batch in batches]
        return [outcome for future in futures for outcome in future.result()]


def _safe_to_fork() -> bool:
    """Fork workers only from a single-threaded process that never imported llama.cpp: a fork
    beside llama.cpp's native threads or an HTTP pool's threads could inherit a held lock."""
    return sys.platform == "linux" and threading.active_count() == 1 and "llama_cpp" not in sys.modules
