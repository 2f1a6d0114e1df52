"""`alttext describe`: alt text for a folder of images with no pages around them (a media library
export, a DAM), one row per distinct image as CSV, JSON Lines or JSON. See docs/cli.md."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from alttext_tools.cli.options import (
    config_option,
    flush_cache,
    load_project_config,
    model_options,
    model_overrides,
    model_provider,
    open_cache,
    require_local_models,
)
from alttext_tools.report.outcome import ExitCode
from alttext_tools.scan.walk import ALWAYS_SKIPPED, display_path

if TYPE_CHECKING:
    from alttext_tools.generate.progress import Progress
    from alttext_tools.generate.provider import ModelProvider

# What `describe` takes for an image file when it walks a folder (a file named on the command
# line is taken whatever its name).
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif", ".svg"}
)
FORMATS = ("csv", "jsonl", "json")
COLUMNS = ("path", "sha256", "alt", "decorative", "model", "route", "language", "error")


@dataclass
class Row:
    """One distinct image: its first path, its bytes' sha256, and the alt text or the error."""

    path: str
    sha256: str | None = None
    alt: str | None = None
    decorative: bool = False
    model: str | None = None
    route: str | None = None
    language: str | None = None
    error: str | None = None


def image_files(paths: Sequence[Path]) -> Iterator[tuple[Path, str]]:
    """(path, display) of every image file under `paths`, folders walked in name order; each
    file once (by its real path). Version-control and tool folders are skipped."""
    seen: set[str] = set()
    for given in paths:
        candidates = _walk(given) if given.is_dir() else iter([given])
        for path in candidates:
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                yield path, display_path(path)


def _walk(top: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d not in ALWAYS_SKIPPED)
        for name in sorted(files):
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(folder) / name


class FolderDescriber:
    """Runs `ModelProvider.describe` over image files: reads and hashes each file once, skips bytes
    already seen, and keeps at most 2 x the engine's concurrency images in memory."""

    def __init__(self, provider: ModelProvider, bar: Progress | None = None) -> None:
        self.provider = provider
        self.bar = bar
        self.duplicates = 0
        self.internal_errors = 0

    def rows(self, files: Iterable[tuple[Path, str]]) -> list[Row]:
        from alttext_tools.images.errors import ImageError
        from alttext_tools.images.resolve import ImageSource, content_hash, read_image_bytes

        rows: list[Row] = []
        seen: set[str] = set()
        pending: dict[Future[Row], int] = {}
        workers = max(1, self.provider.concurrency)
        pool = ThreadPoolExecutor(workers, thread_name_prefix="alttext-describe") if workers > 1 else None

        def collect(block: bool) -> None:
            done, _ = wait(list(pending), timeout=None if block else 0, return_when=FIRST_COMPLETED)
            for future in done:
                rows[pending.pop(future)] = future.result()
                self._tick()

        try:
            for path, display in files:
                try:
                    data = read_image_bytes(ImageSource(kind="file", src=display, path=path))
                except ImageError as err:
                    rows.append(Row(display, error=err.reason))
                    self._tick()
                    continue
                digest = content_hash(data)
                if digest in seen:
                    self.duplicates += 1
                    self._tick()
                    continue
                seen.add(digest)
                if pool is None:
                    rows.append(self._describe(display, digest, data))
                    self._tick()
                    continue
                rows.append(Row(display, digest))  # replaced by the worker's row
                pending[pool.submit(self._describe, display, digest, data)] = len(rows) - 1
                while len(pending) >= 2 * workers:
                    collect(block=True)
                collect(block=False)
            while pending:
                collect(block=True)
        except BaseException:  # Ctrl+C: do not start the queued images, do not wait for them
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            raise
        if pool is not None:
            pool.shutdown()
        return rows

    def _describe(self, display: str, digest: str, data: bytes) -> Row:
        """One distinct image through the generation pipeline (cache, routing, prompt, cleaning)."""
        from alttext_tools.generate.records import DescribeError
        from alttext_tools.generate.standalone import standalone_image
        from alttext_tools.text import one_line

        row = Row(display, digest, language=self.provider.language)
        try:
            record, decision = self.provider.describe(standalone_image(display), data)
        except DescribeError as err:
            row.model, row.route, row.error = err.record.model_id, err.record.route, err.reason
            return row
        except Exception as err:  # a bug must cost one image, not the run
            self.internal_errors += 1
            row.error = f"internal error: {type(err).__name__}: {one_line(str(err))}"
            return row
        row.model, row.route = record.model_id, record.route
        row.decorative = decision.decorative
        row.alt = "" if decision.decorative else decision.alt
        return row

    def _tick(self) -> None:
        if self.bar is not None:
            self.bar.done += 1
            self.bar.draw()


def render(rows: Sequence[Row], fmt: str, *, bom: bool = False) -> bytes:
    """The rows as UTF-8 bytes: CSV with a header row (RFC 4180 line ends), JSON Lines, or a JSON
    list; `bom` puts a UTF-8 byte order mark first (what spreadsheet programs look for)."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for row in rows:
            values = asdict(row)
            writer.writerow(
                ["true" if value is True else "false" if value is False else value for value in values.values()]
            )
        text = out.getvalue()
    elif fmt == "jsonl":
        text = "".join(json.dumps(asdict(row), ensure_ascii=False) + "\n" for row in rows)
    elif fmt == "json":
        text = json.dumps([asdict(row) for row in rows], indent=2, ensure_ascii=False) + "\n"
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return ("\ufeff" if bom else "").encode("utf-8") + text.encode("utf-8")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@config_option
@model_options
@click.option("--lang", metavar="LANG", help="Write alt text in this language (same as --language).")
@click.option(
    "-f", "--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True, help="Output format."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rows to this file instead of stdout.",
)
@click.option("--bom", is_flag=True, help="Start the output with a UTF-8 byte order mark (for spreadsheets).")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Neither read nor write the alt-text cache (default: .alttext-cache.jsonl at the project root).",
)
@click.option("-v", "--verbose", is_flag=True, help="Model notes on stderr.")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar on stderr (default: when stderr is a terminal)."
)
def describe(
    paths: tuple[Path, ...],
    config_file: Path | None,
    lang: str | None,
    fmt: str,
    output: Path | None,
    bom: bool,
    no_cache: bool,
    verbose: bool,
    progress: bool | None,
    threads: int | None,
    **options: Any,
) -> None:
    """Alt text for image files with no pages around them: one row per distinct image.

    Folders are walked for image files; images with the same bytes get one row (the first path).
    Columns: path, sha256, alt, decorative, model, route, language, error. An image that cannot be
    read or described is a row with an error, and the run goes on.
    Exit codes: 0 done, 2 usage error, no model or no `local` extra, 3 some images could not be
    described, 4 internal error.
    """
    from alttext_tools.fsio import atomic_write
    from alttext_tools.generate.progress import Progress, is_terminal

    if lang:
        options["language"] = lang
    config = load_project_config(paths, config_file, model_overrides(options))
    require_local_models(config, "alttext describe with in-process models")
    files = list(image_files(paths))
    show_progress = is_terminal(sys.stderr) if progress is None else progress
    cache = None if no_cache else open_cache(config)
    provider = model_provider(config, threads, verbose, progress=False, cache=cache)
    bar = Progress(len(files), sys.stderr) if show_progress and files else None
    describer = FolderDescriber(provider, bar)
    try:
        rows = describer.rows(files)
    finally:
        if bar is not None:
            bar.clear()
        provider.close()
        if cache is not None:
            flush_cache(cache)
    data = render(rows, fmt, bom=bom)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(output, data, create=True)
    errors = 0
    for row in rows:
        if row.error is not None:
            errors += 1
            click.echo(f"{row.path}: error: {row.error}", err=True)
    click.echo(
        f"{len(rows)} distinct image{'' if len(rows) == 1 else 's'} described"
        f" ({describer.duplicates} duplicate{'' if describer.duplicates == 1 else 's'} skipped, {errors} failed)",
        err=True,
    )
    if describer.internal_errors:
        sys.exit(int(ExitCode.INTERNAL_ERROR))
    sys.exit(int(ExitCode.FILE_ERRORS if errors else ExitCode.OK))
