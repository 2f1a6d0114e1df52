"""`alttext serve`: the command that sets up the models once and serves alt text over HTTP until stopped."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from alttext_tools.cli.options import (
    NoModel,
    load_project_config,
    model_flags,
    model_options,
    model_overrides,
    model_provider,
    require_extra,
    require_local_models,
)
from alttext_tools.serve.service import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_PORT,
    DEFAULT_QUEUE,
    DEFAULT_UPLOAD_TIMEOUT,
    DEFAULT_UPLOADS,
    TOKEN_ENV,
    AltService,
    binding_problem,
)

GRACEFUL_SECONDS = 5.0  # on SIGTERM or Ctrl+C, requests in progress get this long to finish
KEEP_ALIVE_SECONDS = 5.0  # an idle kept-alive connection is closed after this long

# --- the command ---------------------------------------------------------------------------------


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback needs --allow-remote-clients and a token.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port; 0 picks a free one (the URL is printed).",
)
@click.option("--allow-remote-clients", is_flag=True, help="Allow a non-loopback --host (needs a token).")
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    show_envvar=True,
    help=(
        "Require Authorization: Bearer TOKEN on POST /v1/alt (prefer the environment variable: arguments show in ps)."
    ),
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Largest image accepted, in bytes.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Largest image accepted, in pixels (width x height).",
)
@click.option(
    "--queue",
    "queue",
    type=click.IntRange(min=1),
    default=DEFAULT_QUEUE,
    show_default=True,
    help="Requests admitted at once (waiting or running); more get 503.",
)
@click.option(
    "--max-uploads",
    type=click.IntRange(min=1),
    default=DEFAULT_UPLOADS,
    show_default=True,
    help="Connections sending an image at once; more get 503. Only a complete upload joins the queue.",
)
@click.option(
    "--upload-timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_UPLOAD_TIMEOUT,
    show_default=True,
    help="Seconds a client gets to send a whole request body; a slower upload gets 408.",
)
@click.option("--max-length", type=click.IntRange(min=1), help="Longest alt text (default 150, or the config's).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Config file (default: searched upwards from the current folder).",
)
@model_options
@click.option("-q", "--quiet", is_flag=True, help="Do not log requests.")
def serve(
    host: str,
    port: int,
    allow_remote_clients: bool,
    token: str | None,
    max_bytes: int,
    max_pixels: int,
    queue: int,
    max_uploads: int,
    upload_timeout: float,
    max_length: int | None,
    config_file: Path | None,
    quiet: bool,
    threads: int | None,
    **model_options: Any,
) -> None:
    """Serve alt text over HTTP for CMS upload hooks: POST /v1/alt, GET /healthz, GET /openapi.json.

    One model load for the server's life; images stay in memory. Exit codes: 2 usage error,
    no usable model, or (models in this process) an install without the `local` extra.
    """
    problem = binding_problem(host, allow_remote_clients, token)
    if problem is not None:
        raise click.UsageError(problem)
    require_extra("serve", "alttext serve")
    overrides = model_overrides(model_options)
    overrides["max_length"] = max_length
    config = load_project_config((), config_file, overrides, model_flags(model_options))
    language, config.language = config.language, None  # a request's own language wins over --language
    require_local_models(config, "alttext serve")

    import uvicorn

    from alttext_tools.http_guard import HostGuard
    from alttext_tools.serve.app import make_app
    from alttext_tools.serve.protocol import HeadDeadlineProtocol

    def log(line: str) -> None:
        click.echo(line, err=True)

    provider = model_provider(config, threads, verbose=False, progress=False, max_pixels=max_pixels)
    try:
        try:
            provider.warm()
        except Exception as exc:  # NoModelError: every model unusable
            raise NoModel(str(exc)) from None
        service = AltService(
            provider,
            backend=config.backend,
            language=language,
            max_bytes=max_bytes,
            queue=queue,
            uploads=max_uploads,
            upload_timeout=upload_timeout,
            token=token or None,
            log=(lambda line: None) if quiet else log,
        )
        try:
            listener = _listen(host, port)
        except OSError as exc:
            raise click.UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound_port = int(listener.getsockname()[1])
        _log_requests(quiet)
        server = uvicorn.Server(
            uvicorn.Config(
                make_app(service, HostGuard.for_address(host, bound_port)),
                http=HeadDeadlineProtocol,  # h11, with a deadline for each request's head
                lifespan="off",
                log_config=None,
                access_log=not quiet,
                server_header=False,
                proxy_headers=False,  # X-Forwarded-* from a local client must not change who it is
                timeout_keep_alive=int(KEEP_ALIVE_SECONDS),
                timeout_graceful_shutdown=int(GRACEFUL_SECONDS),
            )
        )
        shown = f"[{host}]" if ":" in host else host
        models = ", ".join(dict.fromkeys(spec.name for spec in provider.slots.available.values()))
        click.echo(
            f"alttext serve: http://{shown}:{bound_port} (POST /v1/alt, GET /healthz, GET /openapi.json; "
            f"model {models}); Ctrl+C stops",
        )
        sys.stdout.flush()
        # uvicorn stops on SIGTERM and SIGINT, then raises the signal again with the handler that
        # was there before: for SIGTERM, one that lets the command end normally (exit 0).
        previous = (
            signal.signal(signal.SIGTERM, _stopped) if threading.current_thread() is threading.main_thread() else None
        )
        try:
            server.run(sockets=[listener])
        except KeyboardInterrupt:
            pass
        finally:
            listener.close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    finally:
        provider.close()


def _stopped(signum: int, frame: FrameType | None) -> None:
    """SIGTERM after uvicorn has shut down: nothing left to do."""


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port` (IPv4 or IPv6, whichever the address is)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    listener.setblocking(False)
    return listener


def _log_requests(quiet: bool) -> None:
    """uvicorn's request log (method, path, status: never a header or a body) on stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.WARNING if quiet or name == "uvicorn.error" else logging.INFO)
