"""The committed alt-text cache: content-addressed, human edits first, safe under concurrency.

One entry per (image bytes, model, prompt version, language, role). The role is "informative" or
"functional:<link target>", so an image that is a link is described by what it does there. The
same image on many pages shares one entry per context; moving or renaming it keeps its entry.

File format (JSON Lines, UTF-8, "\\n" line ends; default `.alttext-cache.jsonl` at the project
root, `cache = "..."` in the config moves it):

    {"format":"alttext-cache","help":"...","version":1}
    {"alt":"A red fox asleep in the snow","created":"2025-01-02T03:04:05Z",...}

Line 1 is the header. Every other line is one complete entry with every field, keys sorted,
compact separators, non-ASCII kept as is; lines are sorted by the key's parts (image sha256,
language, role, model id, prompt version), so one image's entries sit together, two runs that
add the same entries write the same bytes, and git merges additions from two branches cleanly.
The hex key (`cache_key`) is derived from those parts, never stored: one source of truth.
With `.alttext-cache.jsonl merge=union` in .gitattributes git keeps both sides' lines instead of
writing conflict markers; duplicate keys are then resolved on load (human states first, then the
newest) and the next write sorts the file again. Conflict markers are refused with a pointer to
`alttext cache fix-conflicts` (`resolve_conflicts`). A damaged file raises `CacheError` naming
the file and line and is never rewritten.

Writers take an exclusive flock on the sidecar `<file>.lock` (present only while held), re-read
the file if another process replaced it, merge their own changes in (a model's entry never
replaces a human's; a pruned entry someone changed meanwhile stays), write a temp file in the
same folder, fsync it and `os.replace` it: readers take no lock and never see half a file, and
no process loses another's entries. `put()` buffers; `flush()` writes once (also every
`flush_every` changes or `flush_interval` seconds, and on leaving a `with` block). Lookups are
O(1) dict reads; loading parses the whole file with one `json.loads` in the common case.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from alttext_tools.errors import AltTextError

if TYPE_CHECKING:
    from alttext_tools.config import Config

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

DEFAULT_CACHE_FILE = ".alttext-cache.jsonl"
FORMAT_NAME = "alttext-cache"
FORMAT_VERSION = 1
HEADER = {
    "format": FORMAT_NAME,
    "version": FORMAT_VERSION,
    "help": "alt-text cache: one entry per line, sorted; written by `alttext`, see `alttext cache --help`",
}
KEY_SCHEME = "alttext-cache-key/1"

GENERATED, REVIEWED, EDITED = "generated", "reviewed", "edited"
STATES = (GENERATED, REVIEWED, EDITED)
HUMAN_STATES = frozenset({REVIEWED, EDITED})
HUMAN = "human"  # written_by / handler / model_id of text a person wrote
INFORMATIVE = "informative"

LOCK_TIMEOUT_S = 120.0
CONFLICT_MARKERS = ("<<<<<<<", "|||||||", "=======", ">>>>>>>")

# (sha256, language or "", role, model_id, prompt_version): the sort order of the file.
Parts = tuple[str, str, str, str, str]
Row = dict[str, Any]  # one validated entry as read from JSON; never mutated once stored

_FIELDS = (
    "alt", "created", "decorative", "handler", "language", "long_description", "model_id",
    "prompt_version", "role", "sha256", "state", "updated", "written_by",
)  # fmt: skip
_FIELD_SET = frozenset(_FIELDS)
_SHA256 = re.compile(r"[0-9a-f]{64}")


class CacheError(AltTextError):
    """The cache file is damaged, has merge conflicts, or cannot be locked/written. One line."""


def cache_key(image_sha256: str, model_id: str, prompt_version: str, language: str | None, role: str) -> str:
    """SHA-256 hex of a canonical, unambiguous encoding of the key parts.

    Each part is length-prefixed (netstring style), so no value can imitate another split;
    language is compared case-insensitively (BCP 47), None and "" mean "no language".
    """
    parts = (image_sha256.lower(), model_id, prompt_version, norm_language(language) or "", role)
    encoded = KEY_SCHEME + "\n" + "".join(f"{len(p)}:{p}\n" for p in parts)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def norm_language(language: str | None) -> str | None:
    """BCP 47 tags are case-insensitive: one spelling, lower case; "" means none."""
    if language is None:
        return None
    return language.strip().lower() or None


@functools.lru_cache(maxsize=256)
def _canonical_language(language: str) -> str | None:
    return norm_language(language)


def utc_now() -> str:
    """UTC, ISO 8601, second precision: 2025-01-02T03:04:05Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cache_path_for(config: Config) -> Path | None:
    """Where the project's cache lives: `cache` from the config (relative to the project root),
    else `.alttext-cache.jsonl` at the root. `cache = ""` turns the cache off (None)."""
    if config.cache is not None and not config.cache.strip():
        return None
    return config.root / (config.cache or DEFAULT_CACHE_FILE)


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
    ) -> Entry:
        """A model's answer, stamped now."""
        return cls(image_sha256, model_id, prompt_version, language, role, "" if decorative else alt,
                   decorative, long_description, model_id, handler, GENERATED)

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

    def to_line(self) -> str:
        return _dumps(self.to_row())


def _dumps(row: Row) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _parts(row: Row) -> Parts:
    return (row["sha256"], row["language"] or "", row["role"], row["model_id"], row["prompt_version"])


def _entry(row: Row) -> Entry:
    """An Entry from a row already validated and normalised (skips __post_init__: hot path)."""
    entry = object.__new__(Entry)
    entry.__dict__.update(row)
    return entry


_STR_NAMES = ("alt", "model_id", "prompt_version", "role", "written_by", "handler", "created", "updated", "sha256", "state")
_STR_FIELDS = itemgetter(*_STR_NAMES)
_OPTIONAL = itemgetter("language", "long_description")
_ONLY_STR = {str}
_STR_OR_NONE = ({str}, {type(None)}, {str, type(None)})
_STATE_SET = frozenset(STATES)
_SHA, _LANGUAGE, _ROLE, _MODEL, _PROMPT = (itemgetter(n) for n in ("sha256", "language", "role", "model_id", "prompt_version"))
_ALT, _DECORATIVE, _STATE, _WRITTEN_BY, _LONG = (itemgetter(n) for n in ("alt", "decorative", "state", "written_by", "long_description"))


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
        return next(f"field {name!r} must be a string or null" for name in ("language", "long_description")
                    if row[name] is not None and type(row[name]) is not str)
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


def _better(a: Row, b: Row) -> Row:
    """Of two entries with the same key: a human's first, then the newest (deterministic)."""
    return max(a, b, key=lambda r: (r["state"] in HUMAN_STATES, r["updated"], r["state"] == EDITED, _dumps(r)))


# ----------------------------------------------------------------------------------------------
# Reading and writing the file
# ----------------------------------------------------------------------------------------------

def _read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when there is no file yet."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheError(f"{path}: cannot read the alt-text cache: {exc.strerror or exc}") from None


def _read(path: Path) -> tuple[dict[Parts, Row], bytes | None]:
    """The entries on disk and the bytes they came from; ({}, None) when there is no file yet."""
    data = _read_bytes(path)
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
        rows = json.loads("[" + body.replace("\n", ",") + "]")
    except ValueError:
        return None
    if len(rows) != body.count("\n") + 1:
        return None
    return rows  # type: ignore[no-any-return]


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
        raise CacheError(f"{path}:{n}: cache format version {version} is newer than this alttext reads ({FORMAT_VERSION}); upgrade alttext-tools")


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
        raise CacheError(f"{path}:{n}: damaged cache entry (not JSON: {reason}); fix or delete that line, the file was not changed") from None


def _index(rows: list[Any], line_numbers: Sequence[int], path: Path | str) -> dict[Parts, Row]:
    """Validate parsed entries and index them by key parts (duplicates: `_better` wins)."""
    if not _all_valid(rows):
        for n, row in zip(line_numbers, rows):
            problem = "not a JSON object" if type(row) is not dict else _row_problem(row)
            if problem:
                raise CacheError(f"{path}:{n}: damaged cache entry ({problem}); fix or delete that line, the file was not changed")
    odd = {lang for lang in set(map(_LANGUAGE, rows)) if lang is not None and lang != _canonical_language(lang)}
    if odd:
        for row in rows:
            if row["language"] in odd:
                row["language"] = norm_language(row["language"])
    keys = list(zip(map(_SHA, rows), map(_language_part, rows), map(_ROLE, rows), map(_MODEL, rows), map(_PROMPT, rows)))
    out = dict(zip(keys, rows))
    if len(out) != len(rows):  # the same key twice, e.g. after a `merge=union` merge
        out = {}
        for parts, row in zip(keys, rows):
            seen = out.get(parts)
            out[parts] = row if seen is None else _better(seen, row)
    return out


def _all_valid(rows: list[Any]) -> bool:
    """Every row a valid entry? Column-wise checks in C loops, ~4x faster than row by row;
    False means "look closer" (`_row_problem` then names the line)."""
    if not rows:
        return True
    if set(map(type, rows)) != {dict} or set(map(len, rows)) != {len(_FIELDS)}:
        return False
    try:  # with 13 keys each, reading all 13 names below proves the key set (KeyError otherwise)
        return _columns_valid(rows)
    except KeyError:
        return False


def _columns_valid(rows: list[Row]) -> bool:
    for name in _STR_NAMES:
        if set(map(type, map(itemgetter(name), rows))) != _ONLY_STR:
            return False
    for getter in (_LANGUAGE, _LONG):
        if set(map(type, map(getter, rows))) not in _STR_OR_NONE:
            return False
    decorative = list(map(_DECORATIVE, rows))
    if set(map(type, decorative)) != {bool} or not set(map(_STATE, rows)) <= _STATE_SET:
        return False
    shas = list(map(_SHA, rows))
    if set(map(len, shas)) != {64} or "".join(shas).encode("ascii", "replace").translate(None, b"0123456789abcdef"):
        return False
    if not (all(map(_MODEL, rows)) and all(map(_ROLE, rows)) and all(map(_WRITTEN_BY, rows))):
        return False
    alts = list(map(_ALT, rows))
    marked = list(itertools.compress(alts, decorative))
    plain = list(itertools.compress(alts, (not d for d in decorative)))
    return not any(marked) and all(map(str.strip, plain))


def serialize(rows: dict[Parts, Row]) -> str:
    """The canonical file text: header, then one entry per line sorted by key parts."""
    lines = [_dumps(HEADER)]
    lines.extend(_dumps(rows[parts]) for parts in sorted(rows))
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> bytes:
    """Temp file in the same folder, fsync, os.replace, fsync the folder. Keeps the file's mode."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)  # umask applies
        try:
            data = _encode(text, path)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(folder)
        return data
    except OSError as exc:
        raise CacheError(f"{path}: cannot write the alt-text cache: {exc.strerror or exc}") from None


def _encode(text: str, path: Path) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # only a hand-written "\\udXXX" escape can get here
        raise CacheError(f"{path}: an entry holds a lone surrogate (\\udXXX escape), which is not text; fix that line by hand") from None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse
        pass
    finally:
        os.close(fd)


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextmanager
def locked(path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive lock shared by every alttext process writing this cache: flock on `<path>.lock`.

    The lock file exists only while a writer holds it (removed before unlocking; a waiter that
    then finds its file unlinked or replaced starts over), so nothing is left in the work tree."""
    lock = lock_path(path)
    deadline = time.monotonic() + timeout_s
    while True:
        fd = _open_lock(lock)
        try:
            _acquire(fd, lock, deadline, timeout_s)
            if _still_linked(fd, lock):
                break
            _release(fd)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        if fcntl is not None:
            lock.unlink(missing_ok=True)
        _release(fd)
        os.close(fd)


def _open_lock(lock: Path) -> int:
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        return os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise CacheError(f"{lock}: cannot create the cache lock file: {exc.strerror or exc}") from None


def _still_linked(fd: int, lock: Path) -> bool:
    try:
        on_disk = os.stat(lock)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _acquire(fd: int, lock: Path, deadline: float, timeout_s: float) -> None:
    delay = 0.002
    while True:
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise CacheError(f"{lock}: another alttext process has held the cache lock for {timeout_s:.0f} s") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _release(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


# ----------------------------------------------------------------------------------------------
# The cache
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Put:
    row: Row
    force: bool  # a person's decision: replaces whatever is on disk


@dataclass(frozen=True)
class _Delete:
    seen: Row  # deleted only if the disk still holds exactly this entry


_Change = _Put | _Delete
Triple = tuple[str, str, str]
_M = TypeVar("_M", bound=Callable[..., Any])  # (sha256, language or "", role): where a human decision applies


def _synchronized(method: _M) -> _M:
    """One thread at a time per AltCache (the review page's server may use threads)."""

    @functools.wraps(method)
    def wrapper(self: AltCache, *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class AltCache:
    """The alt-text cache of one file: safe across threads and processes.

    Use as a context manager (flushes on exit), or call `flush()` yourself.
    """

    def __init__(self, path: Path, *, flush_every: int = 25, flush_interval: float = 15.0,
                 clock: Callable[[], str] = utc_now) -> None:
        self.path = Path(path)
        self.flush_every = flush_every
        self.flush_interval = flush_interval
        self._clock = clock
        self._base: dict[Parts, Row] = {}  # the file as of the last read/write
        self._raw: bytes | None = None  # those entries' bytes: unchanged file, no re-parse
        self._rows: dict[Parts, Row] = {}  # what this process sees: base + pending changes
        self._pending: dict[Parts, _Change] = {}
        self._human: dict[Triple, set[Parts]] = {}
        self._by_key: dict[str, Parts] | None = None  # built on the first get(key)
        self._by_image: dict[str, list[Parts]] | None = None
        self._last_flush = time.monotonic()
        self._mutex = threading.RLock()

    @classmethod
    def open(cls, path: Path | str, **options: Any) -> AltCache:
        """Read the cache at `path` (a missing file is an empty cache, created on the first flush)."""
        cache = cls(Path(path), **options)
        cache._base, cache._raw = _read(cache.path)
        cache._reset_view()
        return cache

    def __enter__(self) -> AltCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    @property
    def pending(self) -> int:
        """Changes not yet written."""
        return len(self._pending)

    # -- reading ---------------------------------------------------------------------------

    @_synchronized
    def get(self, key: str) -> Entry | None:
        """The entry stored under exactly this `cache_key`, or None."""
        if self._by_key is None:
            self._by_key = {cache_key(p[0], p[3], p[4], p[1], p[2]): p for p in self._rows}
        parts = self._by_key.get(key)
        row = self._rows.get(parts) if parts is not None else None
        return _entry(row) if row is not None else None

    @_synchronized
    def lookup(self, image_sha256: str, model_id: str, prompt_version: str, language: str | None, role: str) -> Entry | None:
        """What to use for this image in this context: a person's reviewed or edited entry for the
        same image, language and role (whatever model or prompt wrote it), else this model's own."""
        sha, lang = image_sha256.lower(), norm_language(language) or ""
        human = self.human_entry(sha, lang, role)
        if human is not None:
            return human
        row = self._rows.get((sha, lang, role, model_id, prompt_version))
        return _entry(row) if row is not None else None

    @_synchronized
    def human_entry(self, image_sha256: str, language: str | None, role: str) -> Entry | None:
        """The newest reviewed/edited entry for this image, language and role, or None."""
        found = self._human.get((image_sha256.lower(), norm_language(language) or "", role))
        if not found:
            return None
        best = None
        for parts in found:
            row = self._rows[parts]
            best = row if best is None else _better(best, row)
        return _entry(best) if best is not None else None

    @_synchronized
    def for_image(self, image_sha256: str) -> list[Entry]:
        """Every entry for these image bytes, in file order."""
        if self._by_image is None:
            self._by_image = {}
            for parts in sorted(self._rows):
                self._by_image.setdefault(parts[0], []).append(parts)
        return [_entry(self._rows[p]) for p in self._by_image.get(image_sha256.lower(), [])]

    @_synchronized
    def entries(self) -> list[Entry]:
        """Every entry, in file order."""
        return [_entry(self._rows[p]) for p in sorted(self._rows)]

    @_synchronized
    def image_hashes(self) -> set[str]:
        return {parts[0] for parts in self._rows}

    @_synchronized
    def stats(self) -> dict[str, Any]:
        """Counts by state and by model: {"entries", "images", "by_state", "by_model"}."""
        by_state = dict.fromkeys(STATES, 0)
        by_model: dict[str, dict[str, int]] = {}
        for row in self._rows.values():
            by_state[row["state"]] += 1
            counts = by_model.setdefault(row["model_id"], {**dict.fromkeys(STATES, 0), "total": 0})
            counts[row["state"]] += 1
            counts["total"] += 1
        return {
            "entries": len(self._rows),
            "images": len(self.image_hashes()),
            "by_state": by_state,
            "by_model": dict(sorted(by_model.items())),
        }

    # -- writing ---------------------------------------------------------------------------

    @_synchronized
    def put(self, entry: Entry, *, force: bool = False) -> Entry:
        """Store `entry` (written at the next flush) and return what the cache now holds for its key.

        A model's entry never replaces a reviewed or edited one unless `force` (a person asked
        to regenerate). `created` is kept from the entry it replaces.
        """
        parts = entry.parts
        old = self._rows.get(parts)
        if old is not None and old["state"] in HUMAN_STATES and not entry.is_human and not force:
            return _entry(old)
        row = entry.to_row()
        if old is not None:
            row["created"] = old["created"]
        self._change(parts, _Put(row, force or entry.is_human))
        return _entry(row)

    @_synchronized
    def set_review(self, target: str | Entry, state: str = REVIEWED) -> Entry:
        """A person accepted an entry as is (`reviewed`), or sent it back (`generated`)."""
        if state not in (REVIEWED, GENERATED):
            raise ValueError(f"review state must be {REVIEWED!r} or {GENERATED!r}; use edit() to change the text")
        row = {**self._require(target), "state": state, "updated": self._clock()}
        self._change(_parts(row), _Put(row, True))
        return _entry(row)

    @_synchronized
    def edit(self, target: str | Entry, alt: str, *, decorative: bool = False, long_description: str | None = None) -> Entry:
        """A person rewrote an entry's text: state `edited`, written by "human"."""
        old = self._require(target)
        entry = replace(_entry(old), alt="" if decorative else alt, decorative=decorative, long_description=long_description,
                        written_by=HUMAN, handler=HUMAN, state=EDITED, updated=self._clock())
        self._change(entry.parts, _Put(entry.to_row(), True))
        return entry

    @_synchronized
    def put_human(self, image_sha256: str, language: str | None, role: str, alt: str, *,
                  decorative: bool = False, long_description: str | None = None) -> Entry:
        """A person wrote alt text for an image no model described: model id and handler "human"."""
        now = self._clock()
        entry = Entry(image_sha256, HUMAN, "", language, role, "" if decorative else alt, decorative, long_description,
                      HUMAN, HUMAN, EDITED, now, now)
        return self.put(entry, force=True)

    @_synchronized
    def prunable(self, referenced_hashes: Iterable[str]) -> list[Entry]:
        """Entries whose image no page references any more, in file order."""
        keep = {h.lower() for h in referenced_hashes}
        return [_entry(self._rows[p]) for p in sorted(self._rows) if p[0] not in keep]

    @_synchronized
    def prune(self, referenced_hashes: Iterable[str]) -> int:
        """Drop entries whose image hash is not in `referenced_hashes`; returns how many (written on flush).

        An entry another process changes before the flush is kept."""
        doomed = self.prunable(referenced_hashes)
        for entry in doomed:
            parts = entry.parts
            self._change(parts, _Delete(self._rows[parts]), auto_flush=False)
        return len(doomed)

    @_synchronized
    def flush(self) -> bool:
        """Merge this process's changes into the file under the lock; True if the file changed.

        Raises CacheError, writing nothing and keeping the changes, if the file is now damaged."""
        if not self._pending:
            return False
        with locked(self.path):
            base, raw = self._current_disk()
            merged = dict(base)
            for parts, change in self._pending.items():
                _apply(merged, parts, change)
            changed = merged != base
            if changed:
                raw = _atomic_write(self.path, serialize(merged))
            self._base, self._raw = merged, raw
        self._pending.clear()
        self._reset_view()
        return changed

    @_synchronized
    def reload(self) -> None:
        """Pick up what other processes wrote; changes not yet flushed stay on top."""
        self._base, self._raw = _read(self.path)
        pending = dict(self._pending)
        self._reset_view()
        for parts, change in pending.items():
            _apply(self._rows, parts, change)
            self._index_human(parts)
        self._pending = pending

    # -- internals -------------------------------------------------------------------------

    def _current_disk(self) -> tuple[dict[Parts, Row], bytes | None]:
        """The file's entries now (call under the lock). Reading is cheap, parsing is not: an
        unchanged file, byte for byte, reuses what this process already holds."""
        data = _read_bytes(self.path)
        if data is None:
            return {}, None
        if data == self._raw:
            return self._base, data
        return parse(data, self.path), data

    def _require(self, target: str | Entry) -> Row:
        parts = target.parts if isinstance(target, Entry) else None
        if parts is None:
            found = self.get(str(target))
            parts = found.parts if found is not None else None
        row = self._rows.get(parts) if parts is not None else None
        if row is None:
            raise KeyError(f"no cache entry {target.key if isinstance(target, Entry) else target}")
        return row

    def _change(self, parts: Parts, change: _Change, auto_flush: bool = True) -> None:
        self._pending[parts] = change
        _apply(self._rows, parts, change, local=True)
        self._index_human(parts)
        if self._by_key is not None and parts in self._rows:
            self._by_key[cache_key(parts[0], parts[3], parts[4], parts[1], parts[2])] = parts
        self._by_image = None
        if auto_flush and (len(self._pending) >= self.flush_every or time.monotonic() - self._last_flush >= self.flush_interval):
            self.flush()

    def _reset_view(self) -> None:
        self._rows = dict(self._base)
        self._human = {}
        for parts, row in self._rows.items():
            if row["state"] in HUMAN_STATES:
                self._human.setdefault(parts[:3], set()).add(parts)
        self._by_key = None
        self._by_image = None
        self._last_flush = time.monotonic()

    def _index_human(self, parts: Parts) -> None:
        triple: Triple = parts[:3]
        row = self._rows.get(parts)
        members = self._human.setdefault(triple, set())
        if row is not None and row["state"] in HUMAN_STATES:
            members.add(parts)
        else:
            members.discard(parts)
        if not members:
            del self._human[triple]


def _apply(rows: dict[Parts, Row], parts: Parts, change: _Change, local: bool = False) -> None:
    """Merge one change into `rows` (the disk's entries, or this process's view)."""
    current = rows.get(parts)
    if isinstance(change, _Delete):
        if current is not None and (local or current == change.seen):
            del rows[parts]
        return
    row = change.row
    if current is not None and not change.force and current["state"] in HUMAN_STATES and row["state"] not in HUMAN_STATES:
        return  # a person's decision on disk beats a model's answer from this process
    if current is not None and current["created"] < row["created"]:
        row = {**row, "created": current["created"]}
    rows[parts] = row


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
        _atomic_write(path, serialize(rows))
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


class GenerationCacheAdapter:
    """Lets the generation pipeline (generate.GenerationCache) read and write an AltCache.

    The length limit is part of the prompt, so it goes into the stored prompt version: a cached
    150-character answer is not reused under a 80-character limit.
    """

    def __init__(self, cache: AltCache, max_length: int, *, read_only: bool = False) -> None:
        self.cache = cache
        self.max_length = max_length
        self.read_only = read_only  # `fix --check` reads the cache but leaves the work tree alone

    def _prompt_version(self, key: Any) -> str:
        return f"{key.prompt_version}/max{self.max_length}"

    def get(self, key: Any) -> Any:
        from alttext_tools.generate import CachedAlt

        entry = self.cache.lookup(key.image_sha256, key.model_id, self._prompt_version(key), key.language, key.role)
        if entry is None:
            return None
        return CachedAlt(None if entry.decorative else entry.alt, entry.decorative, entry.written_by, entry.handler)

    def put(self, key: Any, value: Any) -> None:
        if self.read_only:
            return
        self.cache.put(
            Entry.generated(
                key.image_sha256, key.model_id, self._prompt_version(key), key.language, key.role,
                alt=value.alt or "", decorative=value.decorative, handler=value.handler,
            )
        )
