"""`alttext serve`: alt text as a local HTTP service, for CMS upload hooks.

    alttext serve [--host 127.0.0.1] [--port 8765] [model options as for `fix`]

    POST /v1/alt        an image -> {"alt", "decorative", "model", "route", "source", "timing_ms"}
                        multipart/form-data: field `image` (the file) and optional text fields
                        page_title, text, language, link_target; or application/json:
                        {"image_base64": "...", "context": {"page_title", "text", "language", "link_target"}}
    GET  /healthz       status, models, load counts, queue
    GET  /openapi.json  the OpenAPI 3.1 document below (OPENAPI), written by hand

Design:
* stdlib only (`http.server.ThreadingHTTPServer`): a request is one image and seconds of model
  time, so a thread per connection is plenty, and no web framework joins the dependencies.
* ONE ModelProvider (and engine) for the server's life, built and warmed at startup: every model
  is loaded (or, with --backend openai, looked up on the server) before the first request, so a
  broken model stops the start with one line instead of failing the first upload. The same
  decode -> route -> prompt -> generate -> clean path as `alttext fix` (ModelProvider.describe),
  with an ImageRef whose Context carries the request's context.
* Requests queue safely: at most `--queue` requests are admitted (waiting or running; more get
  503 with Retry-After), and a semaphore lets as many reach the engine as it takes at once (1 in
  process; --concurrency for a server).
* Limits before reading: a POST without Content-Length (or chunked) gets 411, one whose length
  exceeds what --max-bytes allows gets 413 before any of the body is read (also in answer to
  `Expect: 100-continue`); decoded images over --max-bytes or --max-pixels get 413, bodies that
  are not an image 415, bad JSON / multipart / missing fields 400, a missing or wrong token 401.
  Every error is JSON: {"error": CODE, "message": ONE LINE}.
* No image is ever written to disk: bodies are read into memory and parsed there (multipart with
  email.parser, never cgi / temp files); nothing is logged but the request line and status.
* Binding anything but loopback needs --allow-remote-clients AND a token (--token or
  ALTTEXT_SERVE_TOKEN, 16+ characters): clients then send `Authorization: Bearer TOKEN`. A
  token also protects a loopback server when given.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from alttext_tools.cli.options import NoModel, load_project_config, model_options, model_overrides, model_provider
from alttext_tools.serve.app import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_PORT,
    DEFAULT_QUEUE,
    TOKEN_ENV,
    AltService,
    binding_problem,
    make_server,
)

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
    help="Require Authorization: Bearer TOKEN on POST /v1/alt (prefer the environment variable: arguments show in ps).",
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
    max_length: int | None,
    config_file: Path | None,
    quiet: bool,
    threads: int | None,
    **model_options: Any,
) -> None:
    """Serve alt text over HTTP for CMS upload hooks: POST /v1/alt, GET /healthz, GET /openapi.json.

    One model load for the server's life; images stay in memory. Exit codes: 2 usage error or
    no usable model.
    """
    problem = binding_problem(host, allow_remote_clients, token)
    if problem is not None:
        raise click.UsageError(problem)
    overrides = model_overrides(model_options)
    overrides["max_length"] = max_length
    config = load_project_config((), config_file, overrides)
    language, config.language = config.language, None  # a request's own language wins over --language

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
            token=token or None,
            log=(lambda line: None) if quiet else log,
        )
        try:
            httpd = make_server(service, host, port)
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound_host, bound_port = httpd.server_address[:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        models = ", ".join(dict.fromkeys(spec.name for spec in provider.slots.available.values()))
        click.echo(
            f"alttext serve: http://{shown}:{bound_port} (POST /v1/alt, GET /healthz, GET /openapi.json; model {models}); Ctrl+C stops",
        )
        sys.stdout.flush()

        def stop(signum: int, frame: Any) -> None:
            threading.Thread(target=httpd.shutdown, daemon=True).start()

        previous = (
            signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
        )
        try:
            httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            httpd.server_close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    finally:
        provider.close()
