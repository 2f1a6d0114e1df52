"""`alttext models pull|list|path|quantize`: fetch, inspect and quantize preset vision models.

Data goes to stdout (paths, the table, JSON); status and errors go to stderr. Exit codes
(report.ExitCode): 0 ok, 2 usage error (an unknown preset name, which lists the valid ones, an
install without the `local` extra, a damaged alttext-models.lock), 3 a model could not be
downloaded (no network, a file missing upstream) or is not downloaded (`path`), 130 interrupted.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from alttext_tools.cli.options import require_extra
from alttext_tools.config import find_config
from alttext_tools.errors import AltTextError
from alttext_tools.models.hub import ModelError, format_size, hub_cache_dir, list_models, pull, resolve_local
from alttext_tools.models.lock import LockFileError, lock_path
from alttext_tools.models.presets import PRESETS, UnknownPresetError, get_preset
from alttext_tools.models.quantize import QUANT_TYPES
from alttext_tools.report.outcome import ExitCode


class ModelFilesProblem(click.ClickException, AltTextError):
    """A model's files could not be downloaded, or are not there: one line, exit 3."""

    exit_code = int(ExitCode.FILE_ERRORS)


class LockFileProblem(click.ClickException, AltTextError):
    """The project's alttext-models.lock cannot be read: a configuration error, one line, exit 2."""

    exit_code = int(ExitCode.USAGE)


def _say(message: str) -> None:
    click.echo(message, err=True)


def _project_lock() -> Path:
    """The lock file of the project around the current folder (config file's folder, else the
    git root, else here), as `fix` finds its root."""
    return lock_path(find_config(Path.cwd())[1])


def _check_names(ctx: click.Context, param: click.Parameter, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
    # Validate every name before any download starts; a usage error (exit 2) lists the presets.
    for name in (value,) if isinstance(value, str) else value:
        try:
            get_preset(name)
        except UnknownPresetError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


@click.group("models")
def models() -> None:
    """Download and inspect the vision models used to write alt text."""


@models.command("pull", short_help="Download preset models (prints their paths).")
@click.argument("names", nargs=-1, required=True, metavar="NAME...", callback=_check_names)
@click.option("--no-progress", is_flag=True, help="Do not draw download progress bars.")
@click.option(
    "--update",
    is_flag=True,
    help="Ignore the commit in alttext-models.lock: pull the newest commit of the preset's branch and lock that.",
)
@click.option("--no-lock", is_flag=True, help="Neither read nor write alttext-models.lock.")
def pull_command(names: tuple[str, ...], no_progress: bool, update: bool, no_lock: bool) -> None:
    """Download preset models into the Hugging Face cache (prints their local paths).

    NAME is a preset from `alttext models list`. The first pull records the commit it got in
    alttext-models.lock at the project root (commit it); later pulls, and runs, use that commit.
    Honours HF_ENDPOINT, HF_HOME, HF_HUB_CACHE and HF_TOKEN; files already cached are only
    checked, not downloaded again.
    """
    require_extra("local", "alttext models pull")
    cache = hub_cache_dir()
    lock = None if no_lock else _project_lock()
    for name in dict.fromkeys(names):  # de-duplicate, keep order
        preset = get_preset(name)
        _say(f"{name}: {preset.repo_id} (~{format_size(preset.download_size)}) -> {cache}")

        def log(message: str, prefix: str = name) -> None:
            _say(f"{prefix}: {message}")

        try:
            spec = pull(name, progress=not no_progress, log=log, lock=lock, update=update)
        except ModelError as exc:
            raise ModelFilesProblem(str(exc)) from None
        except LockFileError as exc:
            raise LockFileProblem(str(exc)) from None
        except KeyboardInterrupt:
            # huggingface_hub deletes its partial file on interrupt: say so rather than promise a resume.
            _say(f"{name}: interrupted, partial file discarded; run `alttext models pull {name}` again")
            raise click.exceptions.Exit(int(ExitCode.INTERRUPTED)) from None
        click.echo(spec.text_path)
        click.echo(spec.mmproj_path)
        _say(f"{name}: ready")


@models.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Output format."
)
def list_command(fmt: str) -> None:
    """Show the presets, the revision each is pinned to, and whether it is downloaded (no network).

    REVISION is a commit (the first 12 of its 40 hex digits in the table) and what pins it: the
    preset itself or alttext-models.lock; "main (not pinned)" until the first pull locks one.
    """
    require_extra("local", "alttext models list")
    cache = hub_cache_dir()
    lock = _project_lock()
    try:
        statuses = list_models(cache_dir=cache, lock=lock)
    except LockFileError as exc:
        raise LockFileProblem(str(exc)) from None
    if fmt == "json":
        listing = {"cache_dir": str(cache), "lock_file": str(lock), "models": [s.to_dict() for s in statuses]}
        click.echo(json.dumps(listing, indent=2))
        return
    header = ("PRESET", "SLOT", "HANDLER", "STATUS", "ON DISK", "DOWNLOAD", "REVISION", "REPO")
    rows = [
        (
            s.preset,
            s.slot,
            s.handler,
            s.state,
            format_size(s.size_on_disk) if s.size_on_disk else "-",
            f"~{format_size(s.download_size)}",
            f"{s.revision[:12]} ({s.pinned_by})" if s.pinned_by else f"{s.revision} (not pinned)",
            s.repo_id,
        )
        for s in statuses
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    _say(f"cache: {cache}")


@models.command("path", short_help="Print a downloaded preset's two file paths.")
@click.argument("name", callback=_check_names)
def path_command(name: str) -> None:
    """Print the local text-model and mmproj paths of a downloaded preset (no network)."""
    require_extra("local", "alttext models path")
    try:
        spec = resolve_local(name, lock=_project_lock())
    except ModelError as exc:
        raise ModelFilesProblem(str(exc)) from None
    except LockFileError as exc:
        raise LockFileProblem(str(exc)) from None
    click.echo(spec.text_path)
    click.echo(spec.mmproj_path)


@models.command("quantize", short_help="Quantize a text model (moondream2 is published in f16 only).")
@click.argument("source", metavar="SRC")
@click.argument("target", metavar="DST", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--type",
    "quant_type",
    type=click.Choice(list(QUANT_TYPES), case_sensitive=False),
    default="Q4_K_M",
    show_default=True,
    help="llama.cpp quantization type.",
)
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (default: all).")
def quantize_command(source: str, target: Path, quant_type: str, threads: int | None) -> None:
    """Write SRC, a text GGUF (or a downloaded preset's, by name), quantized to --type as DST,
    with llama.cpp's own quantizer; then use it with `--fast-model DST --fast-mmproj MMPROJ`.
    The mmproj stays as it is."""
    require_extra("local", "alttext models quantize")
    from alttext_tools.errors import ModelFileError
    from alttext_tools.models.quantize import quantize

    mmproj: Path | None = None
    path = Path(source)
    if not path.exists() and source in PRESETS:
        try:
            spec = resolve_local(source)
        except ModelError as exc:
            raise ModelFilesProblem(str(exc)) from None
        path, mmproj = spec.text_path, spec.mmproj_path
    _say(f"quantizing {path} to {quant_type.upper()} -> {target}")
    try:
        seconds = quantize(path, target, quant_type.upper(), threads or 0)
    except ModelFileError as exc:
        raise ModelFilesProblem(str(exc)) from None
    _say(f"done in {seconds:.1f} s: {format_size(path.stat().st_size)} -> {format_size(target.stat().st_size)}")
    click.echo(target)
    if mmproj is not None:
        _say(f"use it with: --fast-model {target} --fast-mmproj {mmproj}")
