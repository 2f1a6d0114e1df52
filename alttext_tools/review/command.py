"""`alttext review`: a local web page to accept, edit, mark decorative or regenerate alt text.

    alttext review [PATHS] [--port N] [--no-browser] [--no-model] [model options]

The items are every image whose alt a model wrote and no person reviewed (review_state.unreviewed)
and every image that still needs alt (the fixable findings `alttext fix` would act on). For each,
the page shows the image, where it is, its context, the proposal from the alt-text cache (with
its character count, the model that wrote it, its review state) and four actions:

* accept      -> the cache entry becomes `reviewed` (an image with no proposal needs text: edit)
* edit        -> `edited`, written by "human" (`AltCache.edit`, or `put_human` with no proposal)
* decorative  -> `edited` with decorative=true (refused where it would leave a link unnamed)
* regenerate  -> the generation pipeline runs for that one image with the *other* model slot;
                 the answer is a new `generated` entry. One engine for the server's life: each
                 model loads on first use, once. `--no-model` turns this off.

Every decision is flushed to the cache at once. "Apply" writes the reviewed and edited alt text
of the listed images into the sources (`writeback.fix_file`, WRITE mode) and returns the diff.

Security: the server binds 127.0.0.1 only (never another interface), checks the Host header
(no DNS rebinding), and every request for data carries a per-run random token: the
`X-Alttext-Token` header (required for every POST, so another site in the browser cannot
send one: a custom header needs a CORS preflight this server never grants), or `?token=` for
GETs (the page itself and <img> URLs). Images are served by item number only, from files
`images.resolve_src` already proved to be inside the project root (symlinks followed), read
with O_NOFOLLOW. Responses carry a strict Content-Security-Policy; images are sandboxed.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from alttext_tools.cli.options import (
    NoModel,
    common_overrides,
    load_project_config,
    model_options,
    model_overrides,
    open_cache,
    rule_settings,
    scan_options,
    walk_files,
)
from alttext_tools.review.server import ReviewServer
from alttext_tools.review.session import Regenerator, ReviewSession

# ----------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------


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
    from alttext_tools.models.slots import ModelSetupError, NoModelError
    from alttext_tools.rewrite.diff import find_root

    overrides = common_overrides(no_gitignore, max_length, site_root, jobs)
    overrides.update(model_overrides(model_options))
    config = load_project_config(paths, config_file, overrides)
    settings = rule_settings(config, exclude, disable)
    if cache_path_for(config) is None:
        raise click.UsageError('alttext review keeps decisions in the alt-text cache, but `cache = ""` turns it off')
    files = walk_files(paths, config)
    cache = open_cache(config)

    def log(line: str) -> None:
        click.echo(f"review: {line}", err=True)

    regenerator = None
    reason = "the page was started with --no-model"
    if not no_model:
        try:
            regenerator = Regenerator.for_config(config, threads, log if verbose else _warnings_only(log))
        except NoModelError as exc:
            reason = str(exc)
            log(f"regenerate is off: {reason}")
        except ModelSetupError as exc:
            raise NoModel(str(exc)) from None
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
        f"({counts['needs_alt']} need alt, {counts['unreviewed']} model-written), listed in {time.perf_counter() - started:.1f} s"
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


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _warnings_only(log: Callable[[str], None]) -> Callable[[str], None]:
    def keep(line: str) -> None:
        if line.startswith("warning:"):
            log(line)

    return keep
