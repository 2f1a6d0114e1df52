"""Decisions from a file: `alttext check --format json` output with `new_alt` filled in, as a Provider.

The format and how entries are matched to images: docs/rewriting.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from alttext_tools.core import Decision, ImageKey, ImageRef, image_key, norm_path
from alttext_tools.errors import AltTextError
from alttext_tools.rewrite.edits import is_satisfied, shown


class DecisionsError(AltTextError):
    """The decisions file as a whole is unusable (unreadable, not JSON, not a list). One line."""


@dataclass(frozen=True)
class DecisionProblem:
    """One entry that cannot be used. `str()` is the line shown to the user."""

    origin: str  # the decisions file
    index: int  # 0-based position of the entry in the file's list
    message: str
    path: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f" ({self.path}:{self.line}:{self.column})" if self.path is not None else ""
        return f"{self.origin}: entry {self.index + 1}{where}: {self.message}"


@dataclass(frozen=True)
class DecisionEntry:
    """One usable entry of the decisions file."""

    index: int
    key: ImageKey
    src: str | None
    has_src: bool  # the entry named a src (null included): it is then checked
    decision: Decision


@dataclass
class FileDecisions:
    """Decisions read from a JSON file; a Provider. Problems accumulate in `problems`."""

    origin: str
    entries: list[DecisionEntry] = field(default_factory=list)
    problems: list[DecisionProblem] = field(default_factory=list)
    skipped: int = 0  # entries without new_alt
    _decided: set[int] = field(default_factory=set, repr=False)

    @classmethod
    def load(cls, path: Path | str) -> FileDecisions:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise DecisionsError(f"{path}: decisions file not found") from None
        except OSError as exc:
            raise DecisionsError(f"{path}: cannot read decisions file: {exc.strerror or exc}") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DecisionsError(f"{path}: not UTF-8 (byte {exc.start})") from None
        return cls.from_json(text, str(path))

    @classmethod
    def from_json(cls, text: str, origin: str = "<decisions>") -> FileDecisions:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DecisionsError(
                f"{origin}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        if isinstance(data, dict) and isinstance(data.get("findings"), list):
            data = data["findings"]  # tolerate a report object that wraps the list
        if not isinstance(data, list):
            raise DecisionsError(
                f"{origin}: expected a JSON list of findings (as printed by `alttext check --format json`), "
                f"got {type(data).__name__}"
            )
        return cls.from_entries(data, origin)

    @classmethod
    def from_entries(cls, data: Iterable[object], origin: str = "<decisions>") -> FileDecisions:
        result = cls(origin)
        by_key: dict[ImageKey, DecisionEntry] = {}
        conflicted: set[ImageKey] = set()
        for index, item in enumerate(data):
            entry = result._entry(index, item)
            if entry is None:
                continue
            previous = by_key.get(entry.key)
            if previous is None:
                by_key[entry.key] = entry
                result.entries.append(entry)
                continue
            if (entry.decision.alt, entry.decision.decorative) != (previous.decision.alt, previous.decision.decorative):
                why = f"{_show(previous.decision)} vs {_show(entry.decision)}"
            elif entry.has_src and previous.has_src and entry.src != previous.src:
                why = f"src {shown(previous.src, 'none')} vs {shown(entry.src, 'none')}"
            else:
                continue
            if entry.key not in conflicted:
                conflicted.add(entry.key)
                message = f"conflicts with entry {previous.index + 1} for the same image ({why}); image left unchanged"
                result.problems.append(result._problem(index, entry.key, message))
        result.entries = [e for e in result.entries if e.key not in conflicted]
        return result

    def _problem(self, index: int, key: ImageKey | None, message: str) -> DecisionProblem:
        if key is None:
            return DecisionProblem(self.origin, index, message)
        return DecisionProblem(self.origin, index, message, *key)

    def _entry(self, index: int, item: object) -> DecisionEntry | None:
        if not isinstance(item, dict):
            self.problems.append(self._problem(index, None, f"expected an object, got {type(item).__name__}"))
            return None
        if item.get("new_alt") is None:  # not filled in (file errors and internal errors included)
            self.skipped += 1
            return None
        path, line, column = item.get("path"), _position(item.get("line")), _position(item.get("column"))
        if not isinstance(path, str) or not path or line is None or column is None:
            self.problems.append(self._problem(index, None, "needs path (string), line and column (positive integers)"))
            return None
        key: ImageKey = (norm_path(path), line, column)
        new_alt = item["new_alt"]
        if not isinstance(new_alt, str):
            self.problems.append(
                self._problem(index, key, f'new_alt must be a string ("" for decorative), got {type(new_alt).__name__}')
            )
            return None
        src = item.get("src")
        if src is not None and not isinstance(src, str):
            self.problems.append(self._problem(index, key, "src must be a string or null"))
            return None
        try:
            decision = Decision.mark_decorative("file") if new_alt == "" else Decision.text(new_alt, "file")
        except ValueError as exc:
            self.problems.append(
                self._problem(index, key, f'new_alt {new_alt!r}: {exc} (use "" to mark the image decorative)')
            )
            return None
        return DecisionEntry(index, key, src, "src" in item, decision)

    def refuse_outside(self, root: Path) -> list[DecisionProblem]:
        """Drop the entries that name a file outside `root` (an absolute path elsewhere, `..`, or a
        symlink leading out): a decisions file edits the project's own files only. Each becomes
        a problem (also appended to `problems`)."""
        base = Path(os.path.realpath(root))
        refused = []
        kept = []
        for entry in self.entries:
            path = entry.key[0]
            if all(_inside(Path(where), base) for where in (os.path.abspath(path), os.path.realpath(path))):
                kept.append(entry)
                continue
            self._decided.add(entry.index)
            message = f"{path} is outside the project root {base}; image left unchanged"
            refused.append(self._problem(entry.index, entry.key, message))
        self.entries = kept
        self.problems.extend(refused)
        return refused

    # ----------------------------------------------------------------- Provider and matching

    def paths(self) -> list[str]:
        """The files the usable entries name, in first-mention order (what the CLI should fix)."""
        return list(dict.fromkeys(e.key[0] for e in self.entries))

    def decide(self, images: Sequence[ImageRef]) -> dict[ImageKey, Decision]:
        """Decisions for those of `images` an entry names (position and src both agree).

        An entry that no longer finds its image at its position, but finds one on the same line with
        its src that already carries its `new_alt`, is done: applying a decisions file twice changes
        nothing, even where an earlier edit on the line moved the image. Otherwise an entry whose src
        differs from the image now at its position becomes a problem, and entries that match no
        image at all are reported by `unmatched()` once every file is done.
        """
        by_key = {image_key(image): image for image in images}
        by_line: dict[tuple[str, int], list[ImageRef]] = {}
        for each in images:
            by_line.setdefault(image_key(each)[:2], []).append(each)
        decided: dict[ImageKey, Decision] = {}
        for entry in self.entries:
            if entry.index in self._decided:
                continue
            image = by_key.get(entry.key)
            if (image is None or (entry.has_src and entry.src != image.src)) and _applied(
                entry, by_line.get(entry.key[:2], [])
            ):
                self._decided.add(entry.index)  # applied before: an earlier edit on its line moved it
                continue
            if image is None:
                continue
            self._decided.add(entry.index)
            if entry.has_src and entry.src != image.src:
                self.problems.append(
                    self._problem(
                        entry.index,
                        entry.key,
                        f"src is now {shown(image.src, 'none')}, not {shown(entry.src, 'none')} "
                        "(file changed since the check?); "
                        "image left unchanged",
                    )
                )
                continue
            decided[entry.key] = entry.decision
        return decided

    def unmatched(self, scanned_paths: Iterable[str] | None = None) -> list[DecisionProblem]:
        """Problems for entries that matched no image. With `scanned_paths`, entries for files
        outside it are reported as "not processed" rather than stale. Also appended to
        `problems`; calling it twice reports each entry once."""
        scanned = None if scanned_paths is None else {norm_path(p) for p in scanned_paths}
        found = []
        for entry in self.entries:
            if entry.index in self._decided:
                continue
            self._decided.add(entry.index)
            if scanned is not None and entry.key[0] not in scanned:
                message = (
                    "file was not processed (missing, unreadable, or not among the paths given); image left unchanged"
                )
            else:
                message = (
                    "no image at this position any more (file changed since the check? re-run `alttext check`); "
                    "nothing changed"
                )
            found.append(self._problem(entry.index, entry.key, message))
        self.problems.extend(found)
        return found


def _applied(entry: DecisionEntry, line: Sequence[ImageRef]) -> bool:
    """Whether an image on the entry's line, with the entry's src, already has what it asks for."""
    return any((not entry.has_src or image.src == entry.src) and is_satisfied(image, entry.decision) for image in line)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _position(value: object) -> int | None:
    """A 1-based line or column number, or None when `value` is not one."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def _show(decision: Decision) -> str:
    return "decorative" if decision.decorative else repr(decision.alt)
