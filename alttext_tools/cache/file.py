"""The cache file: its entries, their validation, parsing and canonical serialisation, writing, merge conflicts.

The format and why it looks as it does: docs/cache.md.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from operator import itemgetter
from pathlib import Path
from typing import Any

from alttext_tools.cache.key import cache_key, norm_language
from alttext_tools.cache.lock import locked
from alttext_tools.errors import CacheError
from alttext_tools.fsio import atomic_write

GENERATED, REVIEWED, EDITED = "generated", "reviewed", "edited"
DEFAULT_CACHE_FILE = ".alttext-cache.jsonl"
FORMAT_NAME = "alttext-cache"
FORMAT_VERSION = 1
HEADER = {
    "format": FORMAT_NAME,
    "version": FORMAT_VERSION,
    "help": "alt-text cache: one entry per line, sorted; written by `alttext`, see `alttext cache --help`",
}
STATES = (GENERATED, REVIEWED, EDITED)
HUMAN_STATES = frozenset({REVIEWED, EDITED})
HUMAN = "human"  # written_by / handler / model_id of text a person wrote
CONFLICT_MARKERS = ("<<<<<<<", "|||||||", "=======", ">>>>>>>")

# (sha256, language or "", role, model_id, prompt_version): the sort order of the file.
Parts = tuple[str, str, str, str, str]
Row = dict[str, Any]  # one validated entry as read from JSON; never mutated once stored

_FIELDS = (
    "alt",
    "created",
    "decorative",
    "handler",
    "language",
    "long_description",
    "model_id",
    "prompt_version",
    "role",
    "sha256",
    "state",
    "translated_from",
    "updated",
    "written_by",
)
_FIELD_SET = frozenset(_FIELDS)
_SHA256 = re.compile(r"[0-9a-f]{64}")

SHA_OF, LANGUAGE_OF, ROLE_OF, MODEL_OF, PROMPT_OF = (
    itemgetter(n) for n in ("sha256", "language", "role", "model_id", "prompt_version")
)
ALT_OF, DECORATIVE_OF, STATE_OF, WRITTEN_BY_OF, LONG_OF, TRANSLATED_FROM_OF = (
    itemgetter(n) for n in ("alt", "decorative", "state", "written_by", "long_description", "translated_from")
)


def utc_now() -> str:
    """UTC, ISO 8601, second precision: 2025-01-02T03:04:05Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------------------------
# Entries
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One cached decision: the key's parts, the text, and its provenance."""

    sha256: str  # of the image bytes
    model_id: str
    prompt_version: str
    language: str | None
    role: str  # "informative" or "functional:<link target>"
    alt: str  # "" when decorative
    decorative: bool = False
    long_description: str | None = None
    written_by: str = ""  # model id that wrote the current text, or "human" ("" = model_id)
    handler: str = ""  # chat handler that ran the model, or "human"
    state: str = GENERATED
    created: str = ""  # UTC ISO; "" = now
    updated: str = ""  # UTC ISO; "" = created
    # The cache key of the entry this alt was translated from (its image's alt in the primary
    # language); None for an alt described from the image or written by a person.
    translated_from: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", self.sha256.lower())
        object.__setattr__(self, "language", norm_language(self.language))
        object.__setattr__(self, "written_by", self.written_by or self.model_id)
        object.__setattr__(self, "created", self.created or utc_now())
        object.__setattr__(self, "updated", self.updated or self.created)
        problem = _row_problem(self.to_row())
        if problem:
            raise ValueError(problem)
        for text in (self.alt, self.long_description or "", self.role, self.model_id):
            text.encode("utf-8")  # UnicodeEncodeError (a ValueError) on a lone surrogate

    @classmethod
    def generated(
        cls,
        image_sha256: str,
        model_id: str,
        prompt_version: str,
        language: str | None,
        role: str,
        *,
        alt: str,
        decorative: bool = False,
        long_description: str | None = None,
        handler: str = "",
        translated_from: str | None = None,
    ) -> Entry:
        """A model's answer, stamped now (`translated_from`: the key of the entry it translates)."""
        return cls(
            image_sha256,
            model_id,
            prompt_version,
            language,
            role,
            "" if decorative else alt,
            decorative,
            long_description,
            model_id,
            handler,
            GENERATED,
            translated_from=translated_from,
        )

    @property
    def key(self) -> str:
        return cache_key(self.sha256, self.model_id, self.prompt_version, self.language, self.role)

    @property
    def parts(self) -> Parts:
        return (self.sha256, self.language or "", self.role, self.model_id, self.prompt_version)

    @property
    def is_human(self) -> bool:
        """Reviewed or edited by a person: wins over any model."""
        return self.state in HUMAN_STATES

    def to_row(self) -> Row:
        return asdict(self)


def _dumps(row: Row) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _dumps_entry(row: Row) -> str:
    """One entry line: `translated_from` only where it is set, so entries described from the image
    keep the bytes they had before translations existed."""
    if row["translated_from"] is None:
        row = {name: value for name, value in row.items() if name != "translated_from"}
    return _dumps(row)


def row_parts(row: Row) -> Parts:
    return (row["sha256"], row["language"] or "", row["role"], row["model_id"], row["prompt_version"])


def entry_of_row(row: Row) -> Entry:
    """An Entry from a row already validated and normalised (skips __post_init__: hot path)."""
    entry = object.__new__(Entry)
    entry.__dict__.update(row)
    return entry


_STR_NAMES = (
    "alt",
    "model_id",
    "prompt_version",
    "role",
    "written_by",
    "handler",
    "created",
    "updated",
    "sha256",
    "state",
)
_STR_FIELDS = itemgetter(*_STR_NAMES)
_OPTIONAL_NAMES = ("language", "long_description", "translated_from")
_OPTIONAL = itemgetter(*_OPTIONAL_NAMES)
_ONLY_STR = {str}
_STR_OR_NONE = ({str}, {type(None)}, {str, type(None)})
_STATE_SET = frozenset(STATES)


def _language_part(row: Row) -> str:
    return row["language"] or ""


def _row_problem(row: Row) -> str | None:
    """Why `row` is not a valid entry (one phrase), or None. Hot on load: keep it cheap."""
    if row.keys() != _FIELD_SET:
        missing = _FIELD_SET - row.keys()
        return f"missing field {min(missing)!r}" if missing else f"unknown field {min(row.keys() - _FIELD_SET)!r}"
    if set(map(type, _STR_FIELDS(row))) != _ONLY_STR:
        return next(f"field {name!r} must be a string" for name in _STR_NAMES if type(row[name]) is not str)
    if set(map(type, _OPTIONAL(row))) not in _STR_OR_NONE:
        return next(
            f"field {name!r} must be a string or null"
            for name in _OPTIONAL_NAMES
            if row[name] is not None and type(row[name]) is not str
        )
    decorative = row["decorative"]
    if decorative is not True and decorative is not False:
        return "field 'decorative' must be true or false"
    if not _SHA256.fullmatch(row["sha256"]):
        return "field 'sha256' must be 64 lower-case hex digits"
    if row["state"] not in STATES:
        return f"field 'state' must be one of {', '.join(STATES)}"
    if not (row["model_id"] and row["role"] and row["written_by"]):
        return "fields 'model_id', 'role' and 'written_by' must not be empty"
    if decorative:
        return "a decorative entry has an empty 'alt'" if row["alt"] else None
    return None if row["alt"].strip() else "'alt' is empty but 'decorative' is false"


def better_row(a: Row, b: Row) -> Row:
    """Of two entries with the same key: a human's first, then the newest (deterministic)."""
    return max(a, b, key=lambda r: (r["state"] in HUMAN_STATES, r["updated"], r["state"] == EDITED, _dumps(r)))


# ----------------------------------------------------------------------------------------------
# Reading and writing the file
# ----------------------------------------------------------------------------------------------


def read_cache_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when there is no file yet."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheError(f"{path}: cannot read the alt-text cache: {exc.strerror or exc}") from None


def read_rows(path: Path) -> tuple[dict[Parts, Row], bytes | None]:
    """The entries on disk and the bytes they came from; ({}, None) when there is no file yet."""
    data = read_cache_bytes(path)
    return ({}, None) if data is None else (parse(data, path), data)


def parse(data: bytes, path: Path | str) -> dict[Parts, Row]:
    """Entries of a cache file's bytes; CacheError names `path` and the first bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CacheError(f"{path}:{_line_at(data, exc.start)}: not UTF-8 text; the file was not changed") from None
    fast = _parse_canonical(text, path)  # conflict marker lines are not JSON: never fast
    if fast is not None:
        return _index(fast, range(2, len(fast) + 2), path)
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    _refuse_conflicts(lines, path)
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        return {}
    _check_header(numbered[0], path)
    return _index(_load_rows(numbered[1:], path), [n for n, _ in numbered[1:]], path)


def _parse_canonical(text: str, path: Path | str) -> list[Any] | None:
    """The common case, fast: header on line 1, then one entry per line, no blank lines, LF only.
    One json.loads for the whole file; None sends anything else to the line-by-line path."""
    head, _, body = text.partition("\n")
    if not head.startswith("{") or "\r" in text or "\n\n" in body:
        return None
    _check_header((1, head), path)
    body = body.removesuffix("\n")
    if not body:
        return []
    try:
        rows: list[Any] = json.loads("[" + body.replace("\n", ",") + "]")
    except ValueError:
        return None
    if len(rows) != body.count("\n") + 1:
        return None
    return rows


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _refuse_conflicts(lines: list[str], path: Path | str) -> None:
    for n, line in enumerate(lines, 1):
        if line.startswith(CONFLICT_MARKERS):
            raise CacheError(
                f"{path}:{n}: unresolved git merge conflict; run `alttext cache fix-conflicts` to keep both "
                "sides' entries (every line is one whole entry, so keeping both is safe)"
            )


def _check_header(first: tuple[int, str], path: Path | str) -> None:
    n, line = first
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise CacheError(f"{path}:{n}: not an alt-text cache file (the first line must be its header)")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CacheError(f"{path}:{n}: header has no valid format version")
    if version > FORMAT_VERSION:
        raise CacheError(
            f"{path}:{n}: cache format version {version} is newer than this alttext reads ({FORMAT_VERSION}); "
            "upgrade alttext-tools"
        )


def _load_rows(numbered: list[tuple[int, str]], path: Path | str) -> list[Any]:
    """Parse every entry line. Fast path: one json.loads of all lines; on failure, line by line."""
    try:
        rows = json.loads("[" + ",".join(line for _, line in numbered) + "]")
    except ValueError:
        rows = None
    if not isinstance(rows, list) or len(rows) != len(numbered):
        rows = [_loads_line(n, line, path) for n, line in numbered]
    return rows


def _loads_line(n: int, line: str, path: Path | str) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise CacheError(
            f"{path}:{n}: damaged cache entry (not JSON: {reason}); fix or delete that line, the file was not changed"
        ) from None


def _index(rows: list[Any], line_numbers: Sequence[int], path: Path | str) -> dict[Parts, Row]:
    """Validate parsed entries and index them by key parts (duplicates: `better_row` wins).
    An entry line without `translated_from` was not translated (the field is written only when set)."""
    for row in rows:
        if type(row) is dict and "translated_from" not in row:
            row["translated_from"] = None
    if not _all_valid(rows):
        for n, row in zip(line_numbers, rows):
            problem = "not a JSON object" if type(row) is not dict else _row_problem(row)
            if problem:
                raise CacheError(
                    f"{path}:{n}: damaged cache entry ({problem}); fix or delete that line, the file was not changed"
                )
    odd = {lang for lang in set(map(LANGUAGE_OF, rows)) if lang is not None and lang != norm_language(lang)}
    if odd:
        for row in rows:
            if row["language"] in odd:
                row["language"] = norm_language(row["language"])
    keys = list(
        zip(map(SHA_OF, rows), map(_language_part, rows), map(ROLE_OF, rows), map(MODEL_OF, rows), map(PROMPT_OF, rows))
    )
    out = dict(zip(keys, rows))
    if len(out) != len(rows):  # the same key twice, e.g. after a `merge=union` merge
        out = {}
        for parts, row in zip(keys, rows):
            seen = out.get(parts)
            out[parts] = row if seen is None else better_row(seen, row)
    return out


def _all_valid(rows: list[Any]) -> bool:
    """Every row a valid entry? Column-wise checks in C loops, ~4x faster than row by row;
    False means "look closer" (`_row_problem` then names the line)."""
    if not rows:
        return True
    if set(map(type, rows)) != {dict} or set(map(len, rows)) != {len(_FIELDS)}:
        return False
    try:  # with 14 keys each, reading all 14 names below proves the key set (KeyError otherwise)
        return _columns_valid(rows)
    except KeyError:
        return False


def _columns_valid(rows: list[Row]) -> bool:
    for name in _STR_NAMES:
        if set(map(type, map(itemgetter(name), rows))) != _ONLY_STR:
            return False
    for getter in (LANGUAGE_OF, LONG_OF, TRANSLATED_FROM_OF):
        if set(map(type, map(getter, rows))) not in _STR_OR_NONE:
            return False
    decorative = list(map(DECORATIVE_OF, rows))
    if set(map(type, decorative)) != {bool} or not set(map(STATE_OF, rows)) <= _STATE_SET:
        return False
    shas = list(map(SHA_OF, rows))
    if set(map(len, shas)) != {64} or "".join(shas).encode("ascii", "replace").translate(None, b"0123456789abcdef"):
        return False
    if not (all(map(MODEL_OF, rows)) and all(map(ROLE_OF, rows)) and all(map(WRITTEN_BY_OF, rows))):
        return False
    alts = list(map(ALT_OF, rows))
    marked = list(itertools.compress(alts, decorative))
    plain = list(itertools.compress(alts, (not d for d in decorative)))
    return not any(marked) and all(map(str.strip, plain))


def serialize(rows: dict[Parts, Row]) -> str:
    """The canonical file text: header, then one entry per line sorted by key parts."""
    lines = [_dumps(HEADER)]
    lines.extend(_dumps_entry(rows[parts]) for parts in sorted(rows))
    return "\n".join(lines) + "\n"


def write_cache(path: Path, text: str) -> bytes:
    """Replace the cache file with `text` atomically (`fsio.atomic_write`); the bytes written.

    A missing file (and its folder) is created; a symlink's target is rewritten; a read-only file
    is refused. Any failure raises CacheError and leaves the file as it was."""
    data = _encode(text, path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data, create=True)
    except OSError as exc:
        raise CacheError(f"{path}: cannot write the alt-text cache: {exc.strerror or exc}") from None
    return data


def _encode(text: str, path: Path) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # only a hand-written "\\udXXX" escape can get here
        raise CacheError(
            f"{path}: an entry holds a lone surrogate (\\udXXX escape), which is not text; fix that line by hand"
        ) from None


# ----------------------------------------------------------------------------------------------
# Merge conflicts
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    conflicts: int  # conflict blocks resolved
    entries: int  # entries in the file afterwards


def resolve_conflicts(path: Path | str) -> Resolution:
    """Rewrite a cache with git conflict markers: keep both sides' entries (never the diff3 base);
    for a key on both sides keep a person's entry first, then the newest. Damaged lines still raise."""
    path = Path(path)
    with locked(path):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CacheError(f"{path}: cannot read the alt-text cache: {exc.strerror or exc}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CacheError(f"{path}:{_line_at(data, exc.start)}: not UTF-8 text; the file was not changed") from None
        kept, blocks = _drop_markers(text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n"), path)
        if blocks == 0:
            rows = parse(data, path)
            return Resolution(0, len(rows))
        if not kept:
            raise CacheError(f"{path}: nothing left once the conflict markers are removed; resolve this file by hand")
        _check_header(kept[0], path)
        entries = [(n, line) for n, line in kept[1:] if not _is_header(line)]
        for header in [(n, line) for n, line in kept[1:] if _is_header(line)]:  # both sides' copies
            _check_header(header, path)
        rows = _index(_load_rows(entries, path), [n for n, _ in entries], path)
        write_cache(path, serialize(rows))
        return Resolution(blocks, len(rows))


def _is_header(line: str) -> bool:
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and "format" in value


def _drop_markers(lines: list[str], path: Path | str) -> tuple[list[tuple[int, str]], int]:
    """Numbered non-blank lines outside the diff3 base sections, and the number of conflict blocks."""
    kept: list[tuple[int, str]] = []
    section = None  # None outside a conflict, else "ours" | "base" | "theirs"
    blocks = 0
    for n, line in enumerate(lines, 1):
        if line.startswith("<<<<<<<"):
            if section is not None:
                raise CacheError(f"{path}:{n}: nested conflict marker; resolve this file by hand")
            section, blocks = "ours", blocks + 1
        elif line.startswith("|||||||") and section == "ours":
            section = "base"
        elif line.startswith("=======") and section in ("ours", "base"):
            section = "theirs"
        elif line.startswith(">>>>>>>") and section == "theirs":
            section = None
        elif line.startswith(CONFLICT_MARKERS):
            raise CacheError(f"{path}:{n}: unexpected conflict marker; resolve this file by hand")
        elif section != "base" and line.strip():
            kept.append((n, line))
    if section is not None:
        raise CacheError(f"{path}: conflict block not closed at the end of the file; resolve this file by hand")
    return kept, blocks
