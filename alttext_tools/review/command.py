"""`alttext review`: the command that lists the images to review and serves the review page until Ctrl+C."""

from __future__ import annotations

import signal
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click

from alttext_tools.cli.options import (
    MissingExtra,
    NoModel,
    common_overrides,
    load_project_config,
    model_flags,
    model_options,
    model_overrides,
    open_cache_file,
    require_local_models,
    rule_settings,
    scan_options,
    walk_files,
)
from alttext_tools.config import Config
from alttext_tools.review.server import ReviewServer
from alttext_tools.review.session import Regenerator, ReviewSession


@click.command()
@scan_options
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default="a random free port",
    help="Port on 127.0.0.1 (no other interface is ever used).",
)
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
@click.option(
    "--no-model", is_flag=True, help="Load no model: regenerate is off (accept, edit, decorative and Apply work)."
)
@model_options
@click.option("-v", "--verbose", is_flag=True, help="Log requests and model messages on stderr.")
def review(
    paths: tuple[Path, ...],
    config_file: Path | None,
    exclude: tuple[str, ...],
    no_gitignore: bool | None,
    max_length: int | None,
    disable: tuple[str, ...],
    no_inline_config: bool | None,
    site_root: Path | None,
    jobs: int | None,
    port: int,
    no_browser: bool,
    no_model: bool,
    verbose: bool,
    threads: int | None,
    **model_options: Any,
) -> None:
    """Review alt text in the browser: accept, edit, mark decorative, regenerate, then Apply.

    Lists every image whose alt a model wrote and no person reviewed, and every image that
    still needs alt. Decisions go to the alt-text cache at once; Apply writes them into the
    sources and shows the diff. The page is served on 127.0.0.1 only, with a per-run token in
    its URL. Stop with Ctrl+C.
    """
    from alttext_tools.cache.store import cache_path_for
    from alttext_tools.rewrite.diff import find_root

    overrides = common_overrides(no_gitignore, max_length, site_root, jobs, no_inline_config)
    overrides.update(model_overrides(model_options))
    config = load_project_config(paths, config_file, overrides, model_flags(model_options))
    settings = rule_settings(config, exclude, disable)
    cache_path = cache_path_for(config)
    if cache_path is None:
        raise click.UsageError('alttext review keeps decisions in the alt-text cache, but `cache = ""` turns it off')
    files = walk_files(paths, config)
    cache = open_cache_file(cache_path)

    def log(line: str) -> None:
        click.echo(f"review: {line}", err=True)

    if no_model:
        regenerator, reason = None, "the page was started with --no-model"
    else:
        regenerator, reason = _regenerator(config, threads, log if verbose else _warnings_only(log))
        if regenerator is None:
            log(f"regenerate is off: {reason}")
    started = time.perf_counter()
    session = ReviewSession(
        config, settings, files, cache, regenerator=regenerator, no_model_reason=reason, diff_root=find_root()
    )
    for problem in session.file_errors:
        click.echo(f"{problem}", err=True)
    try:
        server = ReviewServer(session, port, verbose=verbose)
    except OSError as exc:
        raise click.UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    counts = session.counts()
    log(
        f"{counts['total']} image{'' if counts['total'] == 1 else 's'} to review "
        f"({counts['needs_alt']} need alt, {counts['unreviewed']} model-written), "
        f"listed in {time.perf_counter() - started:.1f} s"
    )
    click.echo(server.url)
    sys.stdout.flush()
    log("press Ctrl+C to stop")
    if not no_browser:
        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as Ctrl+C does: cache saved, models freed
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        log("stopped")
    finally:
        server.server_close()
        try:
            cache.flush()
        finally:
            if regenerator is not None:
                regenerator.close()


def _regenerator(config: Config, threads: int | None, log: Callable[[str], None]) -> tuple[Regenerator | None, str]:
    """The models behind "regenerate", or None and why it is off: no model is available, or
    this install lacks the `local` extra. A model given explicitly but wrong stops the command."""
    from alttext_tools.models.slots import ModelSetupError, NoModelError

    try:
        require_local_models(config, "generating alt text in this process")
        return Regenerator.for_config(config, threads, log), ""
    except MissingExtra as exc:
        return None, exc.message
    except NoModelError as exc:
        return None, str(exc)
    except ModelSetupError as exc:
        raise NoModel(str(exc)) from None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _warnings_only(log: Callable[[str], None]) -> Callable[[str], None]:
    def keep(line: str) -> None:
        if line.startswith("warning:"):
            log(line)

    return keep
