"""`alttext cache prune|stats|fix-conflicts`: look after the committed alt-text cache.

Results go to stdout, notes and errors to stderr. Exit codes (report.ExitCode): 0 done,
2 usage error, 3 the cache or some pages could not be read (nothing was pruned).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import click

from alttext_tools.cache.file import STATES, Entry, resolve_conflicts
from alttext_tools.cache.store import CacheStats, cache_path_for
from alttext_tools.cli.options import CacheProblem, config_option, load_project_config, open_cache_file, walk_files
from alttext_tools.config import Config
from alttext_tools.errors import CacheError


def _say(message: str) -> None:
    click.echo(message, err=True)


def _cache_file(config: Config, override: Path | None) -> Path:
    if override is not None:
        return override
    path = cache_path_for(config)
    if path is None:
        raise click.UsageError(f'{config.source or "configuration"}: the alt-text cache is turned off (cache = "")')
    return path


_cache_option = click.option(
    "--cache",
    "cache_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Cache file (default: `cache` from the config, else .alttext-cache.jsonl at the project root).",
)


@click.group("cache")
def cache() -> None:
    """Look after the committed alt-text cache (.alttext-cache.jsonl).

    One line per image, model, prompt version, language and role; reviewed and edited
    entries win over any model. Commit it; `merge=union` in .gitattributes avoids conflicts.
    """


# ----------------------------------------------------------------------------------------------
# prune
# ----------------------------------------------------------------------------------------------


@dataclass
class References:
    """What the pages reference: image hashes, and what could not be read."""

    hashes: set[str] = field(default_factory=set)
    pages: int = 0
    images: int = 0
    page_errors: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # "page:line: reason"
    remote_skipped: int = 0


def referenced_hashes(files: Iterable[tuple[Path, str]], config: Config) -> References:
    """Scan every page and hash every image it references (each image file read once)."""
    from alttext_tools.images.errors import ImageError, RemoteNotAllowedError
    from alttext_tools.images.resolve import content_hash, read_image_bytes, resolve_src
    from alttext_tools.scan.dispatch import scan_file

    refs = References()
    by_file: dict[Path, str] = {}
    site_root = config.site_root_path()
    for path, display in files:
        scanned = scan_file(path, display)
        if scanned.error is not None:
            refs.page_errors.append(f"{scanned.error.path}: error: {scanned.error.message}")
            continue
        refs.pages += 1
        for image in scanned.images:
            if not image.src:
                continue
            refs.images += 1
            try:
                source = resolve_src(image.src, path, config.root, site_root, config.allow_remote)
                if source.kind == "file" and source.path in by_file:
                    refs.hashes.add(by_file[source.path])
                    continue
                digest = content_hash(read_image_bytes(source))
            except RemoteNotAllowedError:
                refs.remote_skipped += 1
                continue
            except ImageError as exc:
                refs.unreadable.append(f"{display}:{image.line}: {exc}")
                continue
            if source.kind == "file" and source.path is not None:
                by_file[source.path] = digest
            refs.hashes.add(digest)
    return refs


def _entry_line(entry: Entry) -> str:
    what = "(decorative)" if entry.decorative else json.dumps(entry.alt, ensure_ascii=False)
    return f"{entry.sha256[:12]}  {entry.state:<9}  {entry.model_id}  {entry.language or '-'}  {entry.role}  {what}"


@cache.command("prune")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@config_option
@_cache_option
@click.option(
    "--exclude", multiple=True, metavar="GLOB", help="Skip pages matching this gitignore-style glob (repeatable)."
)
@click.option("--no-gitignore", is_flag=True, default=None, help="Do not honour .gitignore files.")
@click.option(
    "--site-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder that root-relative image URLs (/img/x.png) resolve against.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    default=None,
    help="Fetch http(s) images to hash them (else their entries count as unreferenced).",
)
@click.option("-n", "--dry-run", is_flag=True, help="List what would be dropped; change nothing.")
def prune_command(
    paths: tuple[Path, ...],
    config_file: Path | None,
    cache_file: Path | None,
    exclude: tuple[str, ...],
    no_gitignore: bool | None,
    site_root: Path | None,
    allow_remote: bool | None,
    dry_run: bool,
) -> None:
    """Drop cache entries whose image no page references any more.

    PATHS default to the whole project (the folder holding the config file). Give PATHS only
    if they hold every page of the site: entries used only by pages outside them are dropped.
    Nothing is pruned if a page cannot be read.
    """
    overrides = {
        "gitignore": False if no_gitignore else None,
        "site_root": str(site_root.resolve()) if site_root else None,
        "allow_remote": allow_remote,
    }
    config = load_project_config(paths, config_file, overrides)
    config.exclude = [*config.exclude, *exclude]
    path = _cache_file(config, cache_file)
    alt_cache = open_cache_file(path)
    refs = referenced_hashes(walk_files(list(paths) or [config.root], config), config)
    for error in refs.page_errors:
        _say(error)
    if refs.page_errors:
        raise CacheProblem(
            f"{len(refs.page_errors)} page(s) could not be read; nothing pruned "
            "(their images may still need their entries)"
        )
    _report_unreadable(refs)
    doomed = alt_cache.prunable(refs.hashes)
    if dry_run:
        for entry in doomed:
            click.echo(_entry_line(entry))
        scanned = f"{refs.images} images on {refs.pages} pages"
        click.echo(f"would drop {len(doomed)} of {len(alt_cache)} entries from {path} ({scanned})")
        return
    dropped = alt_cache.prune(refs.hashes)
    try:
        alt_cache.flush()
    except CacheError as exc:
        raise CacheProblem(str(exc)) from None
    scanned = f"{refs.images} images on {refs.pages} pages"
    click.echo(f"dropped {dropped} of {dropped + len(alt_cache)} entries from {path} ({scanned})")


def _report_unreadable(refs: References) -> None:
    if refs.remote_skipped:
        _say(
            f"note: {refs.remote_skipped} remote image(s) not fetched (remote fetching is off): their entries, if any, "
            "count as unreferenced; pass --allow-remote to keep them"
        )
    if refs.unreadable:
        _say(f"note: {len(refs.unreadable)} image reference(s) could not be read, e.g. {refs.unreadable[0]}")


# ----------------------------------------------------------------------------------------------
# stats
# ----------------------------------------------------------------------------------------------


@cache.command("stats")
@config_option
@_cache_option
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def stats_command(config_file: Path | None, cache_file: Path | None, fmt: str) -> None:
    """Count cache entries by review state and by model."""
    path = cache_file if cache_file is not None else _cache_file(load_project_config((), config_file, {}), None)
    alt_cache = open_cache_file(path)
    stats = alt_cache.stats()
    if fmt == "json":
        click.echo(json.dumps({"path": str(path), "exists": path.exists(), **stats}, indent=2, ensure_ascii=False))
        return
    for line in render_stats(stats, path, exists=path.exists()):
        click.echo(line)


def render_stats(stats: CacheStats, path: Path, *, exists: bool = True) -> list[str]:
    """The text table of `AltCache.stats()`."""
    if not exists:
        return [f"{path}: no cache file yet (0 entries)"]
    states = ", ".join(f"{stats['by_state'][s]} {s}" for s in STATES)
    lines = [f"{path}: {stats['entries']} entries for {stats['images']} images ({states})"]
    if not stats["by_model"]:
        return lines
    header = ("MODEL", *(s.upper() for s in STATES), "TOTAL")
    rows = [(model, *(str(c[s]) for s in STATES), str(c["total"])) for model, c in stats["by_model"].items()]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines.append("")
    for row in (header, *rows):
        cells = [row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:]))]
        lines.append("  ".join(cells))
    return lines


# ----------------------------------------------------------------------------------------------
# fix-conflicts
# ----------------------------------------------------------------------------------------------


@cache.command("fix-conflicts")
@config_option
@_cache_option
def fix_conflicts_command(config_file: Path | None, cache_file: Path | None) -> None:
    """Resolve git merge conflicts in the cache: keep both sides' entries.

    Every line is one whole entry, so both sides of a conflict are kept; where both sides hold
    the same key, a reviewed or edited entry wins, then the newer one. Then `git add` the file.
    """
    path = cache_file if cache_file is not None else _cache_file(load_project_config((), config_file, {}), None)
    if not path.exists():
        raise CacheProblem(f"{path}: no such cache file")
    try:
        result = resolve_conflicts(path)
    except CacheError as exc:
        raise CacheProblem(str(exc)) from None
    if result.conflicts == 0:
        click.echo(f"{path}: no merge conflicts ({result.entries} entries)")
        return
    click.echo(f"{path}: resolved {result.conflicts} conflict(s); {result.entries} entries; now `git add {path}`")
