"""A per-file cache of check results, so an unchanged file is never scanned twice.

An entry is keyed by everything a file's images and findings depend on: the file's bytes, the path
it is shown as (Markdown reads the page language from it), its syntax and Markdown dialect, the
rule settings, and this tool's own
code and the parsers it runs on (its version, its source files, the Python version, markdown-it-py
and charset-normalizer). Nothing else can change a result, so a hit is always what a scan would
give. Entries are JSON files under the user cache folder (`$ALTTEXT_CACHE_DIR`, else
`$XDG_CACHE_HOME/alttext-tools`, `~/Library/Caches/alttext-tools` or `%LOCALAPPDATA%`), one per key,
written to a temporary file and renamed into place: runs at the same time never see half an entry,
and two runs that write one key write the same bytes. An entry that cannot be read is a miss.

On top of the entries, one index file per working folder maps each file checked there to its
(size, mtime, inode, ctime) and its entry, result included: a warm run stats its files and reads
that one file, and reads and hashes only the files whose stat changed. It also keeps each mkdocs.yml
read, by the stat of the files it was read from. A file changed less than RACY_NS before it was
looked at is never taken by its stat (a second write could keep size and mtime). Deleting the
folder is always safe. Design: docs/checking.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import sys
import time
import types
from collections.abc import Callable
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import alttext_tools
from alttext_tools.check.rules import RuleSettings
from alttext_tools.core import Finding, ImageRef, Severity
from alttext_tools.scan.dialects import Dialect
from alttext_tools.scan.mkdocs_config import MkDocsSite, read_site

FORMAT = 1
INDEX_FORMAT = 1
# A file whose mtime or ctime is this close to the moment it was looked at may be written again
# within the same timestamp, keeping its stat: it is not taken by its stat, its bytes are hashed.
RACY_NS = 2_000_000_000
_EMPTY = b'{"images":[],"findings":[]}'  # what put() writes for a file with no image
_PACKAGE = Path(alttext_tools.__file__).resolve().parent
# Third-party code whose behaviour results depend on (the Markdown, MyST and reST readers, detection).
_PARSERS = ("markdown_it", "mdit_py_plugins", "markdown", "pymdownx", "myst_parser", "docutils", "charset_normalizer")


@dataclasses.dataclass(frozen=True)
class CachedResult:
    images: list[ImageRef]
    findings: list[Finding]


Stat = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns


class ResultsCache:
    """Check results by file content. Picklable: process-pool workers read and write it too (the
    index is read and written by the process that started the run only)."""

    def __init__(self, folder: Path, settings: RuleSettings) -> None:
        self.folder = folder
        self._folder = str(folder)
        self._prefix = f"{FORMAT}\0{code_fingerprint()}\0{_settings_key(settings)}\0".encode()
        self._index: _Index | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_index": None}  # workers never touch the index

    @classmethod
    def default(cls, settings: RuleSettings) -> ResultsCache:
        return cls(default_folder() / f"results-v{FORMAT}", settings)

    def key(self, data: bytes, display: str, kind: str, dialect: Dialect | None = None) -> str:
        """The entry for a file of these bytes, shown as `display`, of syntax `kind` (Markdown: read
        in `dialect`, whose extensions change what a page holds)."""
        digest = hashlib.sha256(self._prefix)
        digest.update(f"{kind}\0{_variant(dialect)}\0{display}\0".encode("utf-8", "surrogatepass"))
        digest.update(data)
        return digest.hexdigest()

    def get(self, key: str, display: str) -> CachedResult | None:
        try:
            with open(self._path(key), "rb", buffering=0) as file:
                raw = file.readall()
            if raw == _EMPTY:
                return CachedResult([], [])  # most files of a tree: no image at all
            return _decode(json.loads(raw), display)
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None  # missing, or written by something else: scan again

    def put(self, key: str, images: list[ImageRef], findings: list[Finding]) -> None:
        """Store a result; a cache that cannot be written is simply not used."""
        import tempfile  # only when writing: a warm run never needs it

        path = self._path(key)
        data = json.dumps(_encode(images, findings), ensure_ascii=False, separators=(",", ":")).encode()
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    def _path(self, key: str) -> str:
        return f"{self._folder}{os.sep}{key[:2]}{os.sep}{key[2:]}.json"  # os.path.join: 3x slower

    # --- the index: files by stat, for the process that runs the check ---------------------------

    @property
    def index(self) -> _Index:
        if self._index is None:
            name = hashlib.sha256(self._prefix + os.path.abspath(os.getcwd()).encode("utf-8", "surrogatepass"))
            self._index = _Index(f"{self._folder}{os.sep}index{os.sep}{name.hexdigest()[:32]}.json")
        return self._index

    def recall(self, path: str, display: str, kind: str, dialect: Dialect | None, stat: Stat) -> CachedResult | None:
        """The result of `path` if the index has it for this stat, display, syntax and dialect."""
        entry = self.index.files.get(path)
        if entry is None or entry[1] != stat or entry[0] != [display, kind, _variant(dialect)]:
            return None
        try:
            result = entry[3]
            return CachedResult([], []) if result == 0 else _decode(result, display)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None

    def remember(
        self,
        path: str,
        display: str,
        kind: str,
        dialect: Dialect | None,
        stat: Stat,
        key: str,
        images: list[ImageRef],
        findings: list[Finding],
    ) -> None:
        """Put `path`'s result into the index (saved by `save_index`), unless its stat cannot be trusted."""
        if max(stat[1], stat[3]) > time.time_ns() - RACY_NS:
            return
        result: Any = _encode(images, findings) if images or findings else 0
        self.index.set(path, [[display, kind, _variant(dialect)], stat, key, result])

    def read_site(self, config: Path) -> MkDocsSite:
        """`read_site`, taken from the index while the files it was read from keep their stat."""
        entry = self.index.sites.get(str(config))
        if entry is not None:
            try:
                docs_dir, extensions, sources = entry
                if all(file_stat(source) == tuple(stat) for source, stat in sources):
                    return MkDocsSite.make(
                        config, docs_dir, frozenset(extensions), tuple(Path(source) for source, _ in sources)
                    )
            except (ValueError, TypeError):
                pass
        site = read_site(config)
        stats = [(str(source), file_stat(source)) for source in site.sources]
        if all(stat is not None and max(stat[1], stat[3]) <= time.time_ns() - RACY_NS for _, stat in stats):
            self.index.set_site(str(config), [site.docs_dir_setting, sorted(site.extensions), stats])
        return site

    def save_index(self) -> None:
        """Write what this run added to the index (merged with what other runs wrote meanwhile)."""
        if self._index is not None:
            self._index.save()


def file_stat(path: str | Path) -> Stat | None:
    """What the index takes a file by: (size, mtime_ns, inode, ctime_ns); None if it cannot be statted."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)


@cache
def _variant(dialect: Dialect | None) -> str:
    return f"{dialect.name}:{','.join(sorted(dialect.extensions))}" if dialect is not None else ""


class _Index:
    """One JSON file: {"format", "files": {path: [[display, kind, dialect], stat, key, result]},
    "sites": {mkdocs.yml: [docs_dir, extensions, [[file, stat], ...]]}}. Read once, on first use;
    written only when something was added, merged with the file as it is then, to a temporary file
    renamed into place (runs at the same time lose at most each other's additions)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.files: dict[str, list[Any]] = {}
        self.sites: dict[str, list[Any]] = {}
        self._new_files: dict[str, list[Any]] = {}
        self._new_sites: dict[str, list[Any]] = {}
        self.files, self.sites = self._read()

    def _read(self) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        try:
            with open(self.path, "rb", buffering=0) as file:
                data = json.loads(file.readall())
            if data["format"] != INDEX_FORMAT or not isinstance(data["files"], dict):
                return {}, {}
            files = {path: _stat_tuple(entry) for path, entry in data["files"].items()}
            return files, dict(data["sites"])
        except (OSError, ValueError, TypeError, KeyError, IndexError):
            return {}, {}  # missing or unreadable: an empty index

    def set(self, path: str, entry: list[Any]) -> None:
        self.files[path] = self._new_files[path] = entry

    def set_site(self, config: str, entry: list[Any]) -> None:
        self.sites[config] = self._new_sites[config] = entry

    def save(self) -> None:
        if not self._new_files and not self._new_sites:
            return
        import tempfile  # only when writing: a warm run never needs it

        files, sites = self._read()
        # Paths are relative to the working folder the index belongs to: a file gone is dropped.
        files = {path: entry for path, entry in files.items() if os.path.exists(path)}
        files.update(self._new_files)
        sites.update(self._new_sites)
        data = {"format": INDEX_FORMAT, "files": files, "sites": sites}
        folder = os.path.dirname(self.path)
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        self._new_files.clear()
        self._new_sites.clear()


def _stat_tuple(entry: list[Any]) -> list[Any]:
    """An index entry as read from JSON, its stat a tuple again (what `recall` compares)."""
    entry[1] = tuple(entry[1])
    return entry


def default_folder() -> Path:
    """$ALTTEXT_CACHE_DIR, else this platform's user cache folder for alttext-tools."""
    explicit = os.environ.get("ALTTEXT_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "alttext-tools"


@cache
def code_fingerprint() -> str:
    """Changes whenever the code that produces results may have: this package's source files (an
    editable install changes without a new version), the parsers it runs on, and Python itself
    (html.parser differs between versions)."""
    digest = hashlib.sha256(f"{alttext_tools.__version__}\0{sys.version}\0".encode())
    sources = sorted(_PACKAGE.rglob("*.py"))
    for name in _PARSERS:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            sources.extend(sorted(Path(spec.origin).parent.glob("*.py")))
    for path in sources:
        try:
            info = path.stat()
        except OSError:
            continue
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _settings_key(settings: RuleSettings) -> str:
    values = {
        field.name: sorted(value.items()) if isinstance(value, dict) else value
        for field in dataclasses.fields(settings)
        for value in [getattr(settings, field.name)]
    }
    return json.dumps(values, sort_keys=True, default=lambda v: sorted(v) if isinstance(v, frozenset) else str(v))


# --- the entry format: dataclasses as lists of their fields, enums as their values ---------------


def _encode(images: list[ImageRef], findings: list[Finding]) -> dict[str, Any]:
    index = {id(image): i for i, image in enumerate(images)}
    return {
        "images": [_plain(image) for image in images],
        "findings": [[index[id(f.image)], f.rule, f.severity.value, f.message] for f in findings],
    }


_SEVERITIES = {member.value: member for member in Severity}  # Severity(value) without Enum's call machinery


def _decode(data: dict[str, Any], display: str) -> CachedResult:
    decode = _dataclass_decoder_for(ImageRef)
    images: list[ImageRef] = [decode(item) for item in data["images"]]
    if any(image.path != display for image in images):
        raise ValueError("entry for another path")
    severity_of = _SEVERITIES.__getitem__
    findings = [
        Finding(str(rule), severity_of(severity), str(message), images[i])
        for i, rule, severity, message in data["findings"]
    ]
    return CachedResult(images, findings)


def _dataclass_decoder_for(kind: type) -> Callable[[Any], Any]:
    decode = _decoder(kind)
    assert decode is not None
    return decode


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [_plain(getattr(value, field.name)) for field in dataclasses.fields(value)]
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


@cache
def _decoder(kind: Any) -> Callable[[Any], Any] | None:
    """A function that rebuilds a value of type `kind` from `_plain`'s output; None when the JSON
    value is the value (str, int, bool)."""
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(kind) if arg is not type(None)]
        decode_inner = _decoder(inner)
        if decode_inner is None:
            return None
        return lambda value: None if value is None else decode_inner(value)
    if origin is tuple:
        decode_item = _decoder(get_args(kind)[0])
        if decode_item is None:
            return tuple
        return lambda value: tuple([decode_item(item) for item in value])
    if isinstance(kind, type) and issubclass(kind, Enum):
        members: dict[Any, Any] = {member.value: member for member in kind}
        return members.__getitem__  # what kind(value) does, without Enum's call machinery
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass_decoder(kind)
    if kind in (str, int, bool):
        return None
    raise TypeError(f"no decoder for {kind!r}")


def _dataclass_decoder(kind: type) -> Callable[[Any], Any]:
    """A function that builds a `kind` from the list of its fields, written out for this class as
    dataclasses writes __init__ (a warm run builds thousands of these). The entry was made from a
    valid instance: its fields are set as they were, without going through __init__ (a frozen
    dataclass sets each field with object.__setattr__: several times slower)."""
    hints = get_type_hints(kind)
    names = [field.name for field in dataclasses.fields(kind)]
    scope: dict[str, Any] = {"kind": kind, "new": object.__new__}
    lines = [
        "def build(value):",
        f"    if type(value) is not list or len(value) != {len(names)}:",
        f"        raise ValueError('not a {kind.__name__}')",
        "    instance = new(kind)",
        "    fields = instance.__dict__",
    ]
    for i, name in enumerate(names):
        decode = _decoder(hints[name])
        if decode is None:
            lines.append(f"    fields[{name!r}] = value[{i}]")
        else:
            scope[f"decode_{i}"] = decode
            lines.append(f"    fields[{name!r}] = decode_{i}(value[{i}])")
    source = "\n".join([*lines, "    return instance", ""])
    exec(source, scope)
    build: Callable[[Any], Any] = scope["build"]
    return build
