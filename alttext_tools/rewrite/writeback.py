"""One file's fixes written in place or shown as a diff (`fix_file`); the WriteBack mode; outcomes and their summary.

Every failure of one file (vanished, changed since the scan, read-only, disk full, a verification
mismatch) leaves that file untouched and becomes one line in its outcome.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from alttext_tools.core import Decision, Finding, ImageKey, ImageRef
from alttext_tools.fsio import ReadOnlyFileError, atomic_write
from alttext_tools.report.outcome import ExitCode
from alttext_tools.rewrite.diff import diff_path, unified_diff
from alttext_tools.rewrite.edits import (
    Encoding,
    RewriteError,
    VerifyError,
    plan_edits,
    rewrite_text,
    select_decisions,
)
from alttext_tools.rewrite.guard import structure_change
from alttext_tools.scan.dialects import Dialect
from alttext_tools.scan.dispatch import NOT_A_SOURCE_KIND, dialect_of, kind_of
from alttext_tools.scan.sources import SourceError, SourceText, decode


class WriteBack(Enum):
    """What `fix` does with a changed file. Built once from the flags."""

    WRITE = "write"  # rewrite in place (default)
    DIFF = "diff"  # print a unified diff, write nothing
    CHECK = "check"  # write nothing; exit 1 if anything would change

    @classmethod
    def from_flags(cls, *, check: bool = False, diff: bool = False) -> WriteBack:
        """`--diff` wins over `--check` (as in black, `--check --diff` prints the diff; the caller
        then also exits 1 when something would change)."""
        if diff:
            return cls.DIFF
        if check:
            return cls.CHECK
        return cls.WRITE


class Status(Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"  # written (WRITE) or would be (DIFF/CHECK)
    FAILED = "failed"  # left untouched because of an error


@dataclass
class FileOutcome:
    """What happened to one file. `message` is the line for stderr (None when nothing to say)."""

    path: str  # as displayed
    mode: WriteBack
    status: Status = Status.UNCHANGED
    images: int = 0  # images whose alt changed (or would)
    diff: bytes = b""  # DIFF mode: the patch for this file, in the file's own bytes
    error: str | None = None  # FAILED: why, one line
    internal: bool = False  # FAILED because our own verification caught a bug
    notes: list[str] = field(default_factory=list)  # decisions not applied, one line each

    @property
    def changed(self) -> bool:
        return self.status is Status.CHANGED

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    @property
    def message(self) -> str | None:
        if self.status is Status.FAILED:
            if self.internal:
                return (
                    f"error: internal error while fixing {self.path}: {self.error}; "
                    "file left unchanged (please report this)"
                )
            return f"error: cannot fix {self.path}: {self.error}"
        if self.status is Status.CHANGED:
            verb = "fixed" if self.mode is WriteBack.WRITE else "would fix"
            return f"{verb} {self.path} ({self.images} image{'' if self.images == 1 else 's'})"
        return None


@dataclass(frozen=True)
class FixSummary:
    """Counts over many outcomes, with black-style wording that follows the mode."""

    mode: WriteBack
    changed: int
    unchanged: int
    failed: int
    internal: int
    images: int

    @classmethod
    def of(cls, outcomes: Iterable[FileOutcome], mode: WriteBack) -> FixSummary:
        outs = list(outcomes)
        return cls(
            mode,
            sum(o.changed for o in outs),
            sum(o.status is Status.UNCHANGED for o in outs),
            sum(o.failed for o in outs),
            sum(o.internal for o in outs),
            sum(o.images for o in outs if o.changed),
        )

    def line(self) -> str:
        def files(n: int) -> str:
            return f"{n} file{'' if n == 1 else 's'}"

        verb = "fixed" if self.mode is WriteBack.WRITE else "would be fixed"
        parts = [f"{files(self.changed)} {verb} ({self.images} image{'' if self.images == 1 else 's'})"]
        if self.unchanged:
            parts.append(
                f"{files(self.unchanged)} {'left' if self.mode is WriteBack.WRITE else 'would be left'} unchanged"
            )
        if self.failed:
            parts.append(f"{files(self.failed)} failed to fix")
        return ", ".join(parts) + "."

    def exit_code(self, *, check: bool | None = None, problems: int = 0) -> ExitCode:
        """The process status: an internal error wins, then files that could not be fixed (and
        `problems`, e.g. stale decisions), then - with `check` (default: CHECK mode; pass True for
        `--check --diff`) - "something would change"."""
        if self.internal:
            return ExitCode.INTERNAL_ERROR
        if self.failed or problems:
            return ExitCode.FILE_ERRORS
        if (self.mode is WriteBack.CHECK if check is None else check) and self.changed:
            return ExitCode.FINDINGS
        return ExitCode.OK


def _os_reason(exc: OSError) -> str:
    reasons = {
        errno.ENOSPC: "no space left on device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.ENOENT: "file vanished",
        errno.EISDIR: "not a regular file",
    }
    if isinstance(exc, ReadOnlyFileError):
        return "permission denied (read-only file)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return reasons.get(exc.errno or 0, exc.strerror or str(exc))


# --------------------------------------------------------------------------- one file


def fix_file(
    path: Path,
    source: SourceText,
    images: Sequence[ImageRef],
    decisions: Mapping[ImageKey, Decision],
    mode: WriteBack,
    *,
    findings: Iterable[Finding] = (),
    fixable_rules: frozenset[str] | None = None,
    overwrite: bool = False,
    display: str | None = None,
    root: Path | None = None,
    dialect: Dialect | None = None,
) -> FileOutcome:
    """Apply `decisions` to one scanned file according to `mode`.

    `source`/`images` are the file's scan (`scan.dispatch.scan_file`); `findings` are the rule verdicts on
    those images: only images with a fixable finding are edited unless `overwrite` (see
    `edits.select_decisions`; `fixable_rules=None` means the rules' own `fixable` flags).
    Without findings nothing is edited unless `overwrite`: the safe default.
    Before writing, the file on disk must still be byte-identical to the scanned source; the
    result is re-scanned and verified (`edits.rewrite_text`), then compared with the old text, alt
    values masked (`guard.structure_change`): any other difference refuses the file. Never raises
    for one bad file.
    """
    shown = display if display is not None else str(path)
    outcome = FileOutcome(shown, mode)
    kind = kind_of(path)
    if kind is None:
        return _failed(outcome, NOT_A_SOURCE_KIND)
    pairs, outcome.notes = select_decisions(
        images, decisions, findings, fixable_rules=fixable_rules, overwrite=overwrite
    )
    # A guessed encoding: a new character is written as it is only where every encoding the file
    # could be in stores it alike, else as a character reference (which reads the same in all).
    escape_for: Encoding = source.candidates or source.encoding
    pairs = _plannable(source.text, pairs, escape_for, outcome.notes)
    if not pairs:
        return outcome
    try:
        if kind == "markdown" and dialect is None:
            dialect = dialect_of(path)  # the dialect scan_file read it in by default
        result = rewrite_text(source.text, shown, kind, images, pairs, encoding=escape_for, dialect=dialect)
    except VerifyError as exc:
        return _failed(outcome, str(exc), internal=True)
    except RewriteError as exc:
        return _failed(outcome, str(exc))
    except Exception as exc:  # a bug in a scanner or here: report it, keep going with other files
        return _failed(outcome, f"{type(exc).__name__}: {exc}", internal=True)
    if not result.edits:
        return outcome
    try:
        python_markdown = kind == "markdown" and dialect is not None and dialect.python_markdown
        extensions = dialect.extensions if dialect is not None else ()
        changed = structure_change(
            source.text, result.text, kind, python_markdown=python_markdown, extensions=extensions
        )
    except Exception as exc:  # a parser failing on this page: do not write what could not be compared
        return _failed(outcome, f"{type(exc).__name__} while comparing the page before and after: {exc}", internal=True)
    if changed:
        return _failed(outcome, f"{changed}; file left unchanged")
    old = source.encode(source.text)
    try:
        new = source.encode(result.text)
    except UnicodeEncodeError as exc:  # rewrite escapes what the codec lacks; this is a bug
        return _failed(outcome, f"new text cannot be encoded as {source.encoding}: {exc.reason}", internal=True)
    problem = _still_as_scanned(path, old, source, kind == "html") or _same_detection(new, source, kind == "html")
    if problem:
        return _failed(outcome, problem)
    if mode is WriteBack.DIFF:
        if source.encoding.startswith(("utf-16", "utf-32")):
            return _failed(outcome, f"cannot show a text diff of a {source.encoding} file; fix it without --diff")
        name = diff_path(path, root)
        if "\n" in name or "\r" in name:
            return _failed(outcome, "cannot write a diff for a path with a line break in it")
        outcome.diff = unified_diff(old, new, name)
    elif mode is WriteBack.WRITE:
        try:
            atomic_write(path, new)
        except OSError as exc:
            return _failed(outcome, _os_reason(exc))
    outcome.status = Status.CHANGED
    outcome.images = len(result.changed)
    return outcome
    return False


def _plannable(
    text: str, pairs: list[tuple[ImageRef, Decision]], encoding: Encoding, notes: list[str]
) -> list[tuple[ImageRef, Decision]]:
    """The pairs that can be edited on their own; one that cannot (e.g. a Markdown label the
    scanner could not locate exactly) becomes a note, and the file's other images still get fixed."""
    usable = []
    for pair in pairs:
        try:
            plan_edits(text, [pair], encoding=encoding)
        except RewriteError as exc:
            notes.append(f"{exc} (not changed)")
        else:
            usable.append(pair)
    return usable


def _still_as_scanned(path: Path, old: bytes, source: SourceText, is_html: bool) -> str | None:
    """None if the file on disk holds exactly the bytes the scan decoded, else why not."""
    try:
        current = path.read_bytes()
    except FileNotFoundError:
        return "file vanished"
    except OSError as exc:
        return f"cannot read: {_os_reason(exc)}"
    if current == old:
        return None
    try:
        if decode(current, is_html=is_html).text == source.text:
            return f"its bytes do not round-trip through {source.encoding}; not rewriting it"
    except SourceError:
        pass
    return "file changed since it was scanned; run again"


def _same_detection(new: bytes, source: SourceText, is_html: bool) -> str | None:
    """None unless the encoding was detected and the new bytes would be detected as another one."""
    if not source.detected:
        return None
    try:
        again = decode(new, is_html=is_html).encoding
    except SourceError as exc:
        again = str(exc)
    if again == source.encoding:
        return None
    return (
        f"its encoding was detected as {source.encoding} and would be detected as {again} after the edit; "
        "not rewriting it (convert the file to UTF-8)"
    )


def _failed(outcome: FileOutcome, error: str, *, internal: bool = False) -> FileOutcome:
    outcome.status = Status.FAILED
    outcome.error = error
    outcome.internal = internal
    return outcome
