"""`alttext fix` orchestration: scan, ask a provider for decisions, rewrite each file.

The provider is asked once for every image of the run (so a model can deduplicate across pages
and load once); files are then rewritten one by one, each independently of the others' failures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alttext_tools.decisions import Decision, ImageKey, Provider, image_key
from alttext_tools.model import FileError, Finding, ImageRef
from alttext_tools.rules import RuleSettings, evaluate_all, is_fixable
from alttext_tools.scan import FileScan, scan_file
from alttext_tools.writeback import FileOutcome, Status, WriteBack, fix_file


@dataclass
class ScannedFile:
    path: Path
    scan: FileScan
    findings: list[Finding] = field(default_factory=list)


@dataclass
class FixRun:
    outcomes: list[FileOutcome] = field(default_factory=list)
    file_errors: list[FileError] = field(default_factory=list)
    targets: int = 0  # images the provider was asked about


def scan_for_fix(files: Iterable[tuple[Path, str]], settings: RuleSettings) -> tuple[list[ScannedFile], list[FileError]]:
    scanned: list[ScannedFile] = []
    errors: list[FileError] = []
    for path, display in files:
        scan = scan_file(path, display)
        if scan.error is not None:
            errors.append(scan.error)
            continue
        scanned.append(ScannedFile(path, scan, evaluate_all(scan.images, settings)))
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
) -> FixRun:
    """`every_image`: ask the provider about all images (a reviewed decisions file names its own);
    otherwise only about those that need alt. fix_file still refuses to overwrite human alt."""
    run = FixRun()
    if every_image:
        targets = [image for item in scanned for image in item.scan.images]
    else:
        targets = [image for item in scanned for image in needs_alt(item.findings, overwrite)]
    run.targets = len(targets)
    decisions: Mapping[ImageKey, Decision] = provider.decide(targets) if targets else {}
    for item in scanned:
        assert item.scan.source is not None  # scan_for_fix drops files without a source
        if not any(image_key(image) in decisions for image in item.scan.images):
            run.outcomes.append(FileOutcome(item.scan.path, mode, Status.UNCHANGED))
            continue
        run.outcomes.append(
            fix_file(
                item.path,
                item.scan.source,
                item.scan.images,
                decisions,
                mode,
                findings=item.findings,
                overwrite=overwrite,
                display=item.scan.path,
                root=root,
            )
        )
    return run
