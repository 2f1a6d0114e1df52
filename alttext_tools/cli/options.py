"""What the commands share: their options, the project config, rule settings, the alt-text cache, the models.

`alttext check` and `fix` (cli.main), `alttext review` and `alttext serve` are built from these.
Heavier modules (the cache, the generation pipeline) are imported inside the functions that need
them, so `alttext check` starts fast. See docs/cli.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from alttext_tools.config import BACKENDS, ROUTER_MODES, Config, ConfigError, apply_overrides, load_config
from alttext_tools.errors import AltTextError
from alttext_tools.extras import MissingExtraError, require
from alttext_tools.models.spec import HANDLERS
from alttext_tools.report.outcome import ExitCode

if TYPE_CHECKING:
    from alttext_tools.cache.store import AltCache
    from alttext_tools.check.results_cache import ResultsCache
    from alttext_tools.check.rules import RuleSettings
    from alttext_tools.core import Finding, ImageRef
    from alttext_tools.generate.provider import ModelProvider

# A click command callback: click passes the options as keyword arguments of any type.
F = TypeVar("F", bound=Callable[..., Any])


class NoModel(click.ClickException, AltTextError):
    """No model to write alt text with: the one message says what is missing and how to get it."""

    exit_code = int(ExitCode.USAGE)


class MissingExtra(click.ClickException, AltTextError):
    """The command needs modules an extra installs (`pip install 'alttext-tools[local]'`); one line."""

    exit_code = int(ExitCode.USAGE)


class ConfigProblem(click.ClickException, AltTextError):
    """An invalid configuration file or setting: one line naming the file and the key, exit 2."""

    exit_code = int(ExitCode.USAGE)


class CacheProblem(click.ClickException, AltTextError):
    """A damaged or unwritable alt-text cache: one line naming the file (and line)."""

    exit_code = int(ExitCode.FILE_ERRORS)


# ----------------------------------------------------------------------------------------------
# Scanning a docs tree
# ----------------------------------------------------------------------------------------------


config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Config file (default: [tool.alttext] in pyproject.toml or .alttext.toml, searched upwards).",
)


def scan_options(func: F) -> F:
    """Options shared by every command that walks a docs tree: PATHS, --config, --exclude,
    --no-gitignore, --max-length, --disable, --no-inline-config, --site-root, --jobs."""
    decorators = [
        click.argument("paths", nargs=-1, type=click.Path(path_type=Path)),
        config_option,
        click.option(
            "--exclude",
            multiple=True,
            metavar="GLOB",
            help="Skip files matching this gitignore-style glob (repeatable).",
        ),
        click.option("--no-gitignore", is_flag=True, default=None, help="Do not honour .gitignore files."),
        click.option("--max-length", type=click.IntRange(min=1), help="Longest acceptable alt text (default 150)."),
        click.option("--disable", multiple=True, metavar="RULE", help="Turn a rule off (repeatable)."),
        click.option(
            "--no-inline-config",
            is_flag=True,
            default=None,
            help="Ignore alttext-disable/-enable comments in the sources (alttext-ignore still applies).",
        ),
        click.option(
            "--site-root",
            type=click.Path(file_okay=False, path_type=Path),
            help="Folder that root-relative image URLs (/img/x.png) resolve against.",
        ),
        click.option("-j", "--jobs", type=click.IntRange(min=0), help="Worker processes (0 = all cores)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def results_cache_option(func: F) -> F:
    """--no-cache-results, for the commands that check files."""
    option = click.option(
        "--no-cache-results",
        is_flag=True,
        help="Scan every file again: neither read nor write the cache of check results "
        "(kept in the user cache folder, or $ALTTEXT_CACHE_DIR).",
    )
    return option(func)


def results_cache(settings: RuleSettings, off: bool) -> ResultsCache | None:
    """The per-file cache of check results for these rule settings, or None when turned off."""
    if off:
        return None
    from alttext_tools.check.results_cache import ResultsCache

    return ResultsCache.default(settings)


def load_project_config(
    paths: Sequence[Path],
    config_file: Path | None,
    overrides: Mapping[str, object],
    flags: Mapping[str, str] | None = None,
) -> Config:
    """The project's config (`config_file`, else found upwards from the first path or the cwd)
    with the command line's `overrides` on top (None values are skipped). `flags`: the option
    that set a key when it is not `--the-key` (`model_flags`), for messages. ConfigProblem
    (one line, exit 2) if invalid."""
    start = paths[0] if paths else Path.cwd()
    named = {key: "--" + key.replace("_", "-") for key in overrides}
    named.update(flags or {})
    try:
        config = load_config(start, config_file)
        apply_overrides(config, dict(overrides), origin="command line", given_as=named)
    except ConfigError as exc:
        raise ConfigProblem(str(exc)) from None
    return config


def common_overrides(
    no_gitignore: bool | None,
    max_length: int | None,
    site_root: Path | None,
    jobs: int | None,
    no_inline_config: bool | None = None,
) -> dict[str, object]:
    """Config keys set by the scalar flags of `scan_options` (list flags are merged in rule_settings)."""
    return {
        "gitignore": False if no_gitignore else None,
        "inline_config": False if no_inline_config else None,
        "max_length": max_length,
        "site_root": str(site_root.resolve()) if site_root else None,
        "jobs": jobs,
    }


def rule_settings(config: Config, exclude: Sequence[str], disable: Sequence[str]) -> RuleSettings:
    """The rules' settings from `config` plus --disable; --exclude is added to `config.exclude`."""
    from alttext_tools.check.rules import RuleSettings

    config.exclude = [*config.exclude, *exclude]
    try:
        return RuleSettings.for_config(config, disable)
    except ValueError as exc:
        raise click.UsageError(f"{config.source or 'command line'}: {exc}") from None


def walk_files(paths: Sequence[Path], config: Config) -> list[tuple[Path, str]]:
    """(path, display) of every source under `paths` (default: the cwd), excludes applied; an
    invalid ignore pattern is a warning on stderr."""
    from alttext_tools.scan.walk import Walker

    given = list(paths) or [Path(".")]
    missing = [p for p in given if not p.exists() and not p.is_symlink()]
    if missing:
        raise click.UsageError(f"no such file or directory: {missing[0]}")
    walker = Walker(config.root, config.exclude, config.gitignore)
    files = list(walker.files(given))
    for warning in walker.warnings:
        click.echo(f"warning: {warning}", err=True)
    return files


def show_warnings(lines: Iterable[str]) -> None:
    """One `warning: ...` line on stderr each (malformed suppression comments, `path:line: ...`)."""
    for line in lines:
        click.echo(f"warning: {line}", err=True)


def unreviewed_alt_findings(config: Config, images: Sequence[ImageRef], settings: RuleSettings) -> list[Finding]:
    """`unreviewed-alt` findings for `images` (`check --require-reviewed`); needs the cache."""
    from alttext_tools.cache.store import cache_path_for
    from alttext_tools.check.unreviewed import ImageHasher, unreviewed_findings

    path = cache_path_for(config)
    if path is None:
        raise click.UsageError('--require-reviewed needs the alt-text cache, but `cache = ""` turns it off')
    cache = open_cache_file(path)
    hasher = ImageHasher(config.root, config.site_root_path(), config.allow_remote)
    return unreviewed_findings(images, cache, hasher, settings.severity("unreviewed-alt"))


def report_targets(
    ctx: click.Context | None, param: click.Parameter | None, values: Sequence[str]
) -> list[tuple[str, Path]]:
    """`--report FORMAT:FILE` values as (format, path): more reports from the same run."""
    from alttext_tools.report.formats import FORMAT_CHOICES

    targets = []
    for value in values:
        fmt, colon, path = value.partition(":")
        if not colon or not path or fmt not in FORMAT_CHOICES:
            raise click.BadParameter(
                f"{value!r} is not FORMAT:FILE with FORMAT one of {', '.join(FORMAT_CHOICES)}", ctx, param
            )
        targets.append((fmt, Path(path)))
    return targets


report_option = click.option(
    "--report",
    "reports",
    multiple=True,
    metavar="FORMAT:FILE",
    callback=report_targets,
    help="Also write the report in FORMAT to FILE, from the same run (repeatable), e.g. --report sarif:alttext.sarif.",
)


def emit_report(text: str, output: Path | None, color: bool = False) -> None:
    """Print `text` to stdout, or write it to `output` (folders created, one final newline)."""
    if output is None:
        if text:
            click.echo(text.rstrip("\n"), color=color)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + ("\n" if text and not text.endswith("\n") else ""), encoding="utf-8")


# ----------------------------------------------------------------------------------------------
# The alt-text cache
# ----------------------------------------------------------------------------------------------


def open_cache(config: Config) -> AltCache | None:
    """The project's alt-text cache (see `cache.store.cache_path_for`); None when `cache = ""`."""
    from alttext_tools.cache.store import cache_path_for

    path = cache_path_for(config)
    return None if path is None else open_cache_file(path)


def open_cache_file(path: Path) -> AltCache:
    """The alt-text cache at `path` (a missing file is an empty cache); CacheProblem if damaged."""
    from alttext_tools.cache.store import AltCache
    from alttext_tools.errors import CacheError

    try:
        return AltCache.open(path)
    except CacheError as exc:
        raise CacheProblem(str(exc)) from None


def flush_cache(cache: AltCache) -> None:
    """Write the cache's pending changes; CacheProblem if it cannot."""
    from alttext_tools.errors import CacheError

    try:
        cache.flush()
    except (CacheError, OSError) as exc:
        raise CacheProblem(f"{cache.path}: could not save the alt-text cache: {exc}") from None


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------


def model_options(func: F) -> F:
    """Options choosing and running the vision models (fix, review, serve). The command gets
    `threads` and the rest as keyword arguments; `model_overrides` turns those into config keys."""
    handler = click.Choice(HANDLERS)
    decorators = [
        click.option(
            "--router",
            type=click.Choice(ROUTER_MODES),
            help="auto: text-heavy images to the text model, photos to the fast one (default auto).",
        ),
        click.option(
            "--model",
            "model",
            metavar="PRESET|PATH",
            help="Use one model for both slots: a preset name or a text GGUF path.",
        ),
        click.option("--mmproj", type=click.Path(path_type=Path), help="The vision projector GGUF for --model PATH."),
        click.option("--handler", type=handler, help="Chat handler for --model PATH."),
        click.option("--fast-model", metavar="PRESET|PATH", help="Model for photos (default moondream2-q4_k_m)."),
        click.option(
            "--fast-mmproj",
            type=click.Path(path_type=Path),
            help="The vision projector GGUF for --fast-model PATH (a preset brings its own).",
        ),
        click.option(
            "--fast-handler",
            type=handler,
            help="Chat handler for --fast-model PATH (default mtmd: the model's own chat template).",
        ),
        click.option(
            "--text-model", metavar="PRESET|PATH", help="Model for text-heavy images (default qwen2.5-vl-3b)."
        ),
        click.option(
            "--text-mmproj",
            type=click.Path(path_type=Path),
            help="The vision projector GGUF for --text-model PATH (a preset brings its own).",
        ),
        click.option(
            "--text-handler",
            type=handler,
            help="Chat handler for --text-model PATH (default mtmd: the model's own chat template).",
        ),
        click.option("--language", metavar="LANG", help="Write alt text in this language (default: the page's own)."),
        click.option(
            "--translate/--no-translate",
            default=None,
            help=(
                "An image on pages in several languages: describe it once, in the primary language, and translate"
                " that alt into the others with text-only calls (default); --no-translate describes every language"
                " from the image."
            ),
        ),
        click.option(
            "--allow-remote",
            is_flag=True,
            default=None,
            help="Fetch http(s) images (https only, size and time limits).",
        ),
        click.option(
            "--threads", type=click.IntRange(min=1), help="CPU threads for llama.cpp (default: physical cores)."
        ),
        click.option(
            "--gpu-layers",
            metavar="all|none|N",
            help="Model layers llama.cpp offloads to the GPU (default all, on a GPU build of llama-cpp-python).",
        ),
        click.option(
            "--backend",
            type=click.Choice(BACKENDS),
            help=(
                "local: llama.cpp in this process (default); openai: an OpenAI-compatible server at --base-url, "
                "--model NAME being its model id."
            ),
        ),
        click.option(
            "--base-url",
            metavar="URL",
            help=(
                "API root of the server, e.g. http://127.0.0.1:8080/v1 (llama.cpp), http://127.0.0.1:11434/v1 (Ollama)."
            ),
        ),
        click.option(
            "--api-key-env",
            metavar="NAME",
            help="Environment variable holding the server's API key, sent as a Bearer token (default OPENAI_API_KEY).",
        ),
        click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight to the server (default 4)."),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Seconds one server request may take, connecting to the last byte of the answer (default 120).",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0),
            help="Extra attempts on HTTP 429/5xx and dropped connections, with backoff (default 3).",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


# Options of `model_options` that are config keys as they are.
_MODEL_SCALARS = (
    "router",
    "language",
    "translate",
    "allow_remote",
    "backend",
    "base_url",
    "api_key_env",
    "concurrency",
    "timeout",
    "retries",
    "gpu_layers",
)


def model_overrides(options: Mapping[str, Any]) -> dict[str, object]:
    """Config keys from the values of `model_options` (all but `threads`), as click passed them.

    `--model`/`--mmproj`/`--handler` fill both slots unless a slot's own option is given; model
    files are made absolute (relative to the cwd), preset names and a server's model ids are not."""
    values: dict[str, object] = {key: options.get(key) for key in _MODEL_SCALARS}
    server = options.get("backend") == "openai"  # model names are the server's ids, not paths
    for slot in ("fast", "text"):
        name: str | None = options.get(f"{slot}_model") or options.get("model")
        values[f"{slot}_model"] = name if server else _absolute_if_path(name)
        mmproj: Path | None = options.get(f"{slot}_mmproj") or options.get("mmproj")
        values[f"{slot}_mmproj"] = str(mmproj.resolve()) if mmproj else None
        values[f"{slot}_handler"] = options.get(f"{slot}_handler") or options.get("handler")
    return values


def model_flags(options: Mapping[str, Any]) -> dict[str, str]:
    """The option that set each slot key of `model_overrides`: `--fast-model`, or `--model` when
    it filled both slots, so messages name what the user typed."""
    flags: dict[str, str] = {}
    for slot in ("fast", "text"):
        for what in ("model", "mmproj", "handler"):
            flags[f"{slot}_{what}"] = f"--{slot}-{what}" if options.get(f"{slot}_{what}") else f"--{what}"
    return flags


def _absolute_if_path(value: str | None) -> str | None:
    """A model file given on the command line is relative to the cwd; a preset name stays a name,
    and so does anything that is neither a file here nor GGUF-shaped (a server's model id such as
    "llava:7b" or "Qwen/Qwen2.5-VL-3B-Instruct", when `backend = "openai"` comes from the config)."""
    if value is None:
        return None
    from alttext_tools.models.presets import PRESETS

    if value in PRESETS:
        return value
    path = Path(value).expanduser()
    if value.lower().endswith(".gguf") or value.startswith((".", "~")) or path.is_absolute() or path.exists():
        return str(path.resolve())
    return value


def require_extra(extra: str, what: str) -> None:
    """MissingExtra (exit 2, one line naming the `pip install`) unless `extra` is installed."""
    try:
        require(extra, what)
    except MissingExtraError as exc:
        raise MissingExtra(str(exc)) from None


def require_local_models(config: Config, what: str) -> None:
    """MissingExtra when `config` runs the models in this process (not `backend = "openai"`) and
    the `local` extra (llama.cpp, gguf, huggingface_hub) is not installed. Call it before any work."""
    if config.backend != "openai":
        require_extra("local", what)


def model_provider(
    config: Config,
    threads: int | None,
    verbose: bool,
    progress: bool,
    cache: AltCache | None = None,
    *,
    read_only: bool = False,
    max_pixels: int | None = None,
    rules: RuleSettings | None = None,
) -> ModelProvider:
    """The generation provider for `config` (llama.cpp in this process, or `backend = "openai"`'s
    server), reading and writing `cache` (only reading it when `read_only`). `max_pixels` bounds
    decoded images (default: the pipeline's); `rules`: what generated alt text must pass (default:
    the config's). NoModel, one line, when no model can be set up."""
    from alttext_tools.cache.providers import GenerationCacheAdapter
    from alttext_tools.engines.base import engine_settings
    from alttext_tools.generate.provider import ModelProvider, models_for
    from alttext_tools.models.slots import ModelSetupError

    try:
        slots, engine = models_for(config)
    except ModelSetupError as exc:
        raise NoModel(str(exc)) from None
    if engine is None:
        from alttext_tools.engines.llama import gpu_offload_note

        note = gpu_offload_note(config.gpu_layers)
        if note:
            click.echo(f"warning: {note}", err=True)
    limits: dict[str, Any] = {} if max_pixels is None else {"max_pixels": max_pixels}
    if rules is not None:
        limits["rules"] = rules
    return ModelProvider.from_config(
        config,
        slots,
        engine=engine,
        engine_settings=engine_settings(config, threads),
        progress=progress,
        log=lambda line: click.echo(line, err=True),
        verbose=verbose,
        cache=GenerationCacheAdapter(cache, config.max_length, read_only=read_only) if cache is not None else None,
        **limits,
    )
