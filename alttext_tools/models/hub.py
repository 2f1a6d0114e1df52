"""Model files via huggingface_hub: `pull` presets into the HF cache (online, explicit) and find
them there later with the filesystem only (`resolve_local`, `list_models`), at the revision the
preset or the project's lock file pins; see docs/models.md."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alttext_tools.errors import AltTextError, ModelFileError
from alttext_tools.models.lock import LockedModel, LockFileError, is_commit, read_lock, write_entry
from alttext_tools.models.presets import PRESETS, Preset, get_preset
from alttext_tools.models.spec import ModelSpec

Log = Callable[[str], None]

# Timeout of the metadata probe in `pull`; huggingface_hub's own HEAD uses HF_HUB_ETAG_TIMEOUT too.
_PROBE_TIMEOUT_S = 10.0


class ModelError(AltTextError):
    """Base class: the message is one line, meant for users; the CLI prints it and exits 1."""


class ModelNotAvailableError(ModelError):
    """A preset's files are not in the local cache (generation never downloads)."""


class ModelDownloadError(ModelError):
    """`pull` could not fetch a file (offline, repo/file gone, HTTP or disk error)."""


@dataclass(frozen=True)
class ModelStatus:
    """What `models list` reports for one preset."""

    preset: str
    repo_id: str
    revision: str  # what is used: the pinned commit, else the preset's branch
    pinned_by: str | None  # "preset" (a commit in presets.py), "lock" (the lock file), None: not pinned
    slot: str
    handler: str
    description: str
    text_path: Path | None  # None when that file is not cached
    mmproj_path: Path | None
    size_on_disk: int  # bytes of the cached files (blobs, symlinks followed)
    download_size: int  # approximate bytes of a full pull, from the preset

    @property
    def cached(self) -> bool:
        return self.text_path is not None and self.mmproj_path is not None

    @property
    def state(self) -> str:
        """'cached' (both files), 'partial' (one file: pull again) or 'missing'."""
        if self.cached:
            return "cached"
        return "partial" if (self.text_path or self.mmproj_path) else "missing"

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "repo_id": self.repo_id,
            "revision": self.revision,
            "pinned_by": self.pinned_by,
            "slot": self.slot,
            "handler": self.handler,
            "description": self.description,
            "cached": self.cached,
            "state": self.state,
            "text_path": str(self.text_path) if self.text_path else None,
            "mmproj_path": str(self.mmproj_path) if self.mmproj_path else None,
            "size_on_disk": self.size_on_disk,
            "download_size": self.download_size,
        }


# -- environment, read at call time -------------------------------------------------------------


def _expand(value: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(value)))


def hub_cache_dir() -> Path:
    """The HF hub cache folder, with huggingface_hub's precedence, from the current environment."""
    env = os.environ
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(var):
            return _expand(env[var])
    if env.get("HF_HOME"):
        return _expand(env["HF_HOME"]) / "hub"
    if env.get("XDG_CACHE_HOME"):
        return _expand(env["XDG_CACHE_HOME"]) / "huggingface" / "hub"
    from huggingface_hub import constants as hf_constants

    return Path(hf_constants.HF_HUB_CACHE)


def hub_endpoint() -> str:
    """The Hub base URL (HF_ENDPOINT, for mirrors and tests), without a trailing slash."""
    from huggingface_hub import constants as hf_constants

    return (os.environ.get("HF_ENDPOINT") or hf_constants.ENDPOINT).rstrip("/")


def _offline_mode() -> bool:
    from huggingface_hub import constants as hf_constants

    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return flag.strip().upper() in {"1", "ON", "YES", "TRUE"} or bool(hf_constants.HF_HUB_OFFLINE)


def local_flags_hint(preset: Preset) -> str:
    """The CLI flags that bypass the preset with local files, e.g. `--fast-model PATH --fast-mmproj PATH`."""
    return f"--{preset.slot}-model PATH --{preset.slot}-mmproj PATH"


def format_size(n: int) -> str:
    """Decimal units, as the Hub shows file sizes (so numbers match the model card)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


# -- revisions ----------------------------------------------------------------------------------


def _locked(preset: Preset, lock: Path | None) -> LockedModel | None:
    """The lock file's entry for `preset`, if it has one for the preset's repository; LockFileError
    (a configuration error, like a bad config file) when the file is damaged."""
    if lock is None:
        return None
    entry = read_lock(lock).get(preset.name)
    return entry if entry is not None and entry.repo_id == preset.repo_id else None


def pinned_revision(preset: Preset, lock: Path | None) -> tuple[str, str | None]:
    """(revision, pinned_by): a commit in the preset wins, then the lock file's, else the preset's
    branch, not pinned (the first pull locks the commit it resolves)."""
    if is_commit(preset.revision):
        return preset.revision, "preset"
    locked = _locked(preset, lock)
    if locked is not None:
        return locked.revision, "lock"
    return preset.revision, None


def _commit_of(path: Path) -> str | None:
    """The commit of a file in the HF cache: its snapshot folder (snapshots/<commit>/<file>)."""
    name = path.parent.name
    return name if is_commit(name) else None


# -- local cache (no network) -------------------------------------------------------------------


def _cached_file(preset: Preset, filename: str, cache: Path, revision: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(preset.repo_id, filename, cache_dir=cache, revision=revision)
    # Anything but a str is "not here" (None, or the _CACHED_NO_EXIST sentinel for a known 404).
    return Path(found) if isinstance(found, str) else None


def quantized_text_path(preset: Preset, text: Path, cache: Path) -> Path:
    """Where `pull` writes the text model of a preset that quantizes it: in the hub cache folder,
    beside the repositories, by repository and the commit the f16 file came from."""
    assert preset.quantize is not None
    folder = cache / "alttext-quantized" / preset.repo_id.replace("/", "--") / (_commit_of(text) or "unknown")
    return folder / f"{Path(preset.text_file).stem}.{preset.quantize}.gguf"


def _used_text(preset: Preset, text: Path | None, cache: Path) -> Path | None:
    """The text model a run uses: the downloaded file, or its quantized copy (None: not there)."""
    if text is None or preset.quantize is None:
        return text
    quantized = quantized_text_path(preset, text, cache)
    return quantized if quantized.is_file() else None


def resolve_local(preset_name: str, *, cache_dir: Path | None = None, lock: Path | None = None) -> ModelSpec:
    """The preset's files from the local cache only, at the revision the preset or the lock file
    `lock` pins; ModelNotAvailableError naming what is missing."""
    preset = get_preset(preset_name)
    cache = cache_dir or hub_cache_dir()
    revision, pinned_by = pinned_revision(preset, lock)
    text, mmproj = (_cached_file(preset, f, cache, revision) for f in preset.files)
    if text is None or mmproj is None:
        missing = [f for f, p in zip(preset.files, (text, mmproj)) if p is None]
        at = f" at {revision} (pinned by {lock})" if pinned_by == "lock" else ""
        raise ModelNotAvailableError(
            f"model {preset.name}{at} is not downloaded ({' and '.join(missing)} not in {cache}): "
            f"run `alttext models pull {preset.name}` when online, or pass {local_flags_hint(preset)}"
        )
    used = _used_text(preset, text, cache)
    if used is None:
        raise ModelNotAvailableError(
            f"model {preset.name}: {text.name} is downloaded but not yet quantized to {preset.quantize}:"
            f" run `alttext models pull {preset.name}` (it quantizes the file once, no download)"
        )
    return ModelSpec(name=preset.name, text_path=used, mmproj_path=mmproj, handler=preset.handler)


def list_models(*, cache_dir: Path | None = None, lock: Path | None = None) -> list[ModelStatus]:
    """Every preset with its revision and cache state, in preset order. Filesystem only."""
    cache = cache_dir or hub_cache_dir()
    statuses = []
    for preset in PRESETS.values():
        revision, pinned_by = pinned_revision(preset, lock)
        text, mmproj = (_cached_file(preset, f, cache, revision) for f in preset.files)
        text = _used_text(preset, text, cache)
        size = sum(p.stat().st_size for p in (text, mmproj) if p is not None)
        statuses.append(
            ModelStatus(
                preset=preset.name,
                repo_id=preset.repo_id,
                revision=revision,
                pinned_by=pinned_by,
                slot=preset.slot,
                handler=preset.handler,
                description=preset.description,
                text_path=text,
                mmproj_path=mmproj,
                size_on_disk=size,
                download_size=preset.download_size,
            )
        )
    return statuses


# -- pull (network) -----------------------------------------------------------------------------


def _silent_tqdm() -> type:
    """progress=False: huggingface_hub still builds its bars, this one never draws."""
    from huggingface_hub.utils.tqdm import tqdm as hf_tqdm

    class _SilentTqdm(hf_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]  # tqdm's __init__ has no annotations

    return _SilentTqdm


def _is_unreachable(exc: BaseException) -> bool:
    """Connection-level failures (DNS, refused, connect timeout, proxy, offline mode)."""
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    if isinstance(exc, (OfflineModeIsEnabled, LocalEntryNotFoundError)):
        return True
    # Matched by name: the HTTP stack under huggingface_hub changed across versions (requests,
    # httpx, httpx2), and this module should not import whichever one is installed.
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectError", "ConnectTimeout", "ProxyError", "NameResolutionError"}) or (
        isinstance(exc, ConnectionRefusedError)
    )


def _is_transport_error(exc: BaseException) -> bool:
    roots = {cls.__module__.split(".")[0] for cls in type(exc).__mro__}
    return bool(roots & {"httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3"}) or isinstance(
        exc, (TimeoutError, ConnectionError)
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def _download_error(
    preset: Preset, filename: str, endpoint: str, exc: BaseException, revision: str
) -> ModelDownloadError | None:
    """One-line error for a failed pull, or None for an unexpected exception (a bug: let it raise)."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{preset.repo_id}@{revision}"
    if _is_unreachable(exc):
        return ModelDownloadError(
            f"cannot reach {endpoint} (offline?): pull {preset.name} when online, or pass {local_flags_hint(preset)}"
        )
    if isinstance(exc, RevisionNotFoundError):
        return ModelDownloadError(f"revision {revision!r} not found in {preset.repo_id} on {endpoint}")
    if isinstance(exc, RepositoryNotFoundError):  # also GatedRepoError
        return ModelDownloadError(f"repository {preset.repo_id} not found on {endpoint} (renamed, private or gated?)")
    if isinstance(exc, EntryNotFoundError):
        return ModelDownloadError(
            f"{filename} not found in {where} on {endpoint} (renamed upstream? update the preset)"
        )
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        return ModelDownloadError(f"downloading {filename} from {endpoint} failed: HTTP {status}")
    if _is_transport_error(exc):
        return ModelDownloadError(
            f"downloading {filename} from {endpoint} failed: {_first_line(exc)}; run the pull again"
        )
    if isinstance(exc, OSError):  # disk full, permissions, huggingface_hub's size consistency check
        return ModelDownloadError(f"downloading {filename} failed: {_first_line(exc)}")
    return None


def _pull_file(
    preset: Preset, filename: str, *, revision: str, cache: Path, endpoint: str, progress: bool, log: Log
) -> tuple[Path, str | None]:
    """The file's path in the cache and the commit it came from (None when nothing says)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    cached = _cached_file(preset, filename, cache, revision)
    if _offline_mode():
        if cached is not None:
            log(f"{filename}: offline mode (HF_HUB_OFFLINE), using the cached copy")
            return cached, _commit_of(cached)
        raise ModelDownloadError(
            f"offline mode is on (HF_HUB_OFFLINE) and {filename} is not cached: "
            f"unset it to pull {preset.name}, or pass {local_flags_hint(preset)}"
        )

    # Probe first, without retries: hf_hub_download retries an unreachable Hub with backoff for
    # ~25 s (logging a warning per try) before failing when nothing is cached. The probe makes an
    # offline pull fail at once, and tells whether bytes will move (blob already in the cache?).
    url = hf_hub_url(preset.repo_id, filename, revision=revision, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url, timeout=_PROBE_TIMEOUT_S, endpoint=endpoint)
    except Exception as exc:
        if cached is not None and _is_unreachable(exc):
            log(f"{filename}: cannot reach {endpoint}, keeping the cached copy (not checked for updates)")
            return cached, _commit_of(cached)
        error = _download_error(preset, filename, endpoint, exc, revision)
        if error is None:
            raise
        raise error from exc

    if meta.commit_hash is None or meta.etag is None:
        # A captive portal or a misconfigured proxy/mirror answered, not a Hub.
        raise ModelDownloadError(
            f"{endpoint} did not answer like a Hugging Face Hub (no commit/etag headers for {filename}): "
            "check HF_ENDPOINT and proxy settings"
        )
    blob = cache / f"models--{preset.repo_id.replace('/', '--')}" / "blobs" / meta.etag
    if blob.is_file():
        log(f"{filename}: up to date")
    else:
        size = f" ({format_size(meta.size)})" if meta.size else ""
        log(f"{filename}: downloading{size}")
    try:
        path = hf_hub_download(
            preset.repo_id,
            filename,
            revision=revision,
            cache_dir=cache,
            endpoint=endpoint,
            library_name="alttext-tools",
            tqdm_class=None if progress else _silent_tqdm(),
        )
    except Exception as exc:
        error = _download_error(preset, filename, endpoint, exc, revision)
        if error is None:
            raise
        raise error from exc
    return Path(path), meta.commit_hash


def pull(
    preset_name: str,
    *,
    progress: bool = True,
    log: Log | None = None,
    cache_dir: Path | None = None,
    lock: Path | None = None,
    update: bool = False,
) -> ModelSpec:
    """Download (or refresh) both files of a preset into the HF cache; return the local spec.

    `lock`: the project's lock file. The files come from the commit the preset pins, else the one
    the lock file holds, else the newest commit of the preset's branch, which is then written to
    the lock file (`update`: ignore the lock's commit and lock the branch's newest again). Both
    files come from one commit: the second is fetched at the commit the first resolved to.

    `progress`: huggingface_hub's tqdm bar on stderr (drawn only on a terminal, and off with
    HF_HUB_DISABLE_PROGRESS_BARS=1). `log`: receives one-line status messages (the CLI prints
    them on stderr). Files already cached are not downloaded again (only HEAD requests to check
    for a newer upstream version). A connection dropped mid-file is resumed within this call
    (huggingface_hub retries with a Range request); a killed or interrupted pull starts that file
    over next time, since huggingface_hub 2.x discards partial files.
    """
    preset = get_preset(preset_name)
    cache = cache_dir or hub_cache_dir()
    endpoint = hub_endpoint()
    say: Log = log or (lambda _msg: None)
    revision, pinned_by = pinned_revision(preset, None if update else lock)
    paths: list[Path] = []
    for filename in preset.files:
        path, commit = _pull_file(
            preset, filename, revision=revision, cache=cache, endpoint=endpoint, progress=progress, log=say
        )
        paths.append(path)
        if commit is not None and is_commit(commit) and not is_commit(revision):
            revision = commit  # the branch as it is now: the next file from the same commit
    if lock is not None and pinned_by != "preset" and is_commit(revision):
        try:
            if write_entry(lock, preset.name, LockedModel(preset.repo_id, revision)):
                say(f"locked at {revision} in {lock}")
        except LockFileError as err:
            raise ModelError(str(err)) from None
    text, mmproj = paths
    if preset.quantize is not None:
        text = _quantize_once(preset, text, cache, say)
    return ModelSpec(name=preset.name, text_path=text, mmproj_path=mmproj, handler=preset.handler)


def _quantize_once(preset: Preset, text: Path, cache: Path, say: Log) -> Path:
    """The preset's quantized text model, written from the downloaded `text` unless it exists."""
    from alttext_tools.models.quantize import quantize  # llama.cpp's quantizer: only when pulling

    assert preset.quantize is not None
    target = quantized_text_path(preset, text, cache)
    if target.is_file():
        return target
    say(f"quantizing the text model to {preset.quantize} (once, llama.cpp's quantizer) -> {target}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        seconds = quantize(text, target, preset.quantize)
    except (ModelFileError, OSError) as err:
        raise ModelError(f"model {preset.name}: {err}") from None
    say(f"quantized in {seconds:.0f} s")
    return target
