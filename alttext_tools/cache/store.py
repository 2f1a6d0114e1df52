"""AltCache: one cache file in memory, safe across threads and processes; changes merged into the file on flush."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypedDict, TypeVar

from alttext_tools.cache.file import (
    DEFAULT_CACHE_FILE,
    EDITED,
    GENERATED,
    HUMAN,
    HUMAN_STATES,
    REVIEWED,
    STATES,
    Entry,
    Parts,
    Row,
    better_row,
    entry_of_row,
    parse,
    read_cache_bytes,
    read_rows,
    row_parts,
    serialize,
    utc_now,
    write_cache,
)
from alttext_tools.cache.key import cache_key, norm_language
from alttext_tools.cache.lock import locked

if TYPE_CHECKING:
    from alttext_tools.config import Config


class CacheStats(TypedDict):
    """`AltCache.stats()`: JSON-ready counts."""

    entries: int
    images: int
    by_state: dict[str, int]  # state -> entries
    by_model: dict[str, dict[str, int]]  # model id -> {state: entries, "total": entries}


def cache_path_for(config: Config) -> Path | None:
    """Where the project's cache lives: `cache` from the config (relative to the project root),
    else `.alttext-cache.jsonl` at the root. `cache = ""` turns the cache off (None)."""
    if config.cache is not None and not config.cache.strip():
        return None
    return config.root / (config.cache or DEFAULT_CACHE_FILE)


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
Triple = tuple[str, str, str]  # (sha256, language or "", role): where a human decision applies
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _synchronized(method: Callable[Concatenate[AltCache, _P], _R]) -> Callable[Concatenate[AltCache, _P], _R]:
    """One thread at a time per AltCache (the review page's server may use threads)."""

    @functools.wraps(method)
    def wrapper(self: AltCache, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._mutex:
            return method(self, *args, **kwargs)

    return wrapper


class AltCache:
    """The alt-text cache of one file: safe across threads and processes.

    Use as a context manager (flushes on exit), or call `flush()` yourself.
    """

    def __init__(
        self, path: Path, *, flush_every: int = 25, flush_interval: float = 15.0, clock: Callable[[], str] = utc_now
    ) -> None:
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
    def open(
        cls,
        path: Path | str,
        *,
        flush_every: int = 25,
        flush_interval: float = 15.0,
        clock: Callable[[], str] = utc_now,
    ) -> AltCache:
        """Read the cache at `path` (a missing file is an empty cache, created on the first flush)."""
        cache = cls(Path(path), flush_every=flush_every, flush_interval=flush_interval, clock=clock)
        cache._base, cache._raw = read_rows(cache.path)
        cache._reset_view()
        return cache

    def __enter__(self) -> AltCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def __len__(self) -> int:
        return len(self._rows)

    # -- reading ---------------------------------------------------------------------------

    @_synchronized
    def get(self, key: str) -> Entry | None:
        """The entry stored under exactly this `cache_key`, or None."""
        if self._by_key is None:
            self._by_key = {cache_key(p[0], p[3], p[4], p[1], p[2]): p for p in self._rows}
        parts = self._by_key.get(key)
        row = self._rows.get(parts) if parts is not None else None
        return entry_of_row(row) if row is not None else None

    @_synchronized
    def lookup(
        self, image_sha256: str, model_id: str, prompt_version: str, language: str | None, role: str
    ) -> Entry | None:
        """What to use for this image in this context: a person's reviewed or edited entry for the
        same image, language and role (whatever model or prompt wrote it), else this model's own."""
        sha, lang = image_sha256.lower(), norm_language(language) or ""
        human = self.human_entry(sha, lang, role)
        if human is not None:
            return human
        row = self._rows.get((sha, lang, role, model_id, prompt_version))
        return entry_of_row(row) if row is not None else None

    @_synchronized
    def human_entry(self, image_sha256: str, language: str | None, role: str) -> Entry | None:
        """The newest reviewed/edited entry for this image, language and role, or None."""
        found = self._human.get((image_sha256.lower(), norm_language(language) or "", role))
        if not found:
            return None
        best = None
        for parts in found:
            row = self._rows[parts]
            best = row if best is None else better_row(best, row)
        return entry_of_row(best) if best is not None else None

    @_synchronized
    def for_image(self, image_sha256: str) -> list[Entry]:
        """Every entry for these image bytes, in file order."""
        if self._by_image is None:
            self._by_image = {}
            for parts in sorted(self._rows):
                self._by_image.setdefault(parts[0], []).append(parts)
        return [entry_of_row(self._rows[p]) for p in self._by_image.get(image_sha256.lower(), [])]

    @_synchronized
    def entries(self) -> list[Entry]:
        """Every entry, in file order."""
        return [entry_of_row(self._rows[p]) for p in sorted(self._rows)]

    @_synchronized
    def image_hashes(self) -> set[str]:
        return {parts[0] for parts in self._rows}

    @_synchronized
    def stats(self) -> CacheStats:
        """Counts of entries and images, by review state and by model (with a "total" per model)."""
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
            return entry_of_row(old)
        row = entry.to_row()
        if old is not None:
            row["created"] = old["created"]
        self._change(parts, _Put(row, force or entry.is_human))
        return entry_of_row(row)

    @_synchronized
    def set_review(self, target: str | Entry, state: str = REVIEWED) -> Entry:
        """A person accepted an entry as is (`reviewed`), or sent it back (`generated`)."""
        if state not in (REVIEWED, GENERATED):
            raise ValueError(f"review state must be {REVIEWED!r} or {GENERATED!r}; use edit() to change the text")
        row = {**self._require(target), "state": state, "updated": self._clock()}
        self._change(row_parts(row), _Put(row, True))
        return entry_of_row(row)

    @_synchronized
    def edit(
        self, target: str | Entry, alt: str, *, decorative: bool = False, long_description: str | None = None
    ) -> Entry:
        """A person rewrote an entry's text: state `edited`, written by "human"."""
        old = self._require(target)
        entry = replace(
            entry_of_row(old),
            alt="" if decorative else alt,
            decorative=decorative,
            long_description=long_description,
            written_by=HUMAN,
            handler=HUMAN,
            state=EDITED,
            updated=self._clock(),
        )
        self._change(entry.parts, _Put(entry.to_row(), True))
        return entry

    @_synchronized
    def put_human(
        self,
        image_sha256: str,
        language: str | None,
        role: str,
        alt: str,
        *,
        decorative: bool = False,
        long_description: str | None = None,
    ) -> Entry:
        """A person wrote alt text for an image no model described: model id and handler "human"."""
        now = self._clock()
        entry = Entry(
            image_sha256,
            HUMAN,
            "",
            language,
            role,
            "" if decorative else alt,
            decorative,
            long_description,
            HUMAN,
            HUMAN,
            EDITED,
            now,
            now,
        )
        return self.put(entry, force=True)

    @_synchronized
    def prunable(self, referenced_hashes: Iterable[str]) -> list[Entry]:
        """Entries whose image no page references any more, in file order."""
        keep = {h.lower() for h in referenced_hashes}
        return [entry_of_row(self._rows[p]) for p in sorted(self._rows) if p[0] not in keep]

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
                raw = write_cache(self.path, serialize(merged))
            self._base, self._raw = merged, raw
        self._pending.clear()
        self._reset_view()
        return changed

    # -- internals -------------------------------------------------------------------------

    def _current_disk(self) -> tuple[dict[Parts, Row], bytes | None]:
        """The file's entries now (call under the lock). Reading is cheap, parsing is not: an
        unchanged file, byte for byte, reuses what this process already holds."""
        data = read_cache_bytes(self.path)
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
        if auto_flush and (
            len(self._pending) >= self.flush_every or time.monotonic() - self._last_flush >= self.flush_interval
        ):
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
    if (
        current is not None
        and not change.force
        and current["state"] in HUMAN_STATES
        and row["state"] not in HUMAN_STATES
    ):
        return  # a person's decision on disk beats a model's answer from this process
    if current is not None and current["created"] < row["created"]:
        row = {**row, "created": current["created"]}
    rows[parts] = row
