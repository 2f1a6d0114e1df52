"""The `alttext` command line. Reports go to stdout, chatter to stderr; exit codes in report.ExitCode.

Heavy modules (llama_cpp, Pillow, huggingface_hub) are imported inside the commands that need
them, so `alttext check` starts fast.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from alttext_tools import __version__
from alttext_tools.config import ConfigError, Config, apply_overrides, load_config
from alttext_tools.report import FAIL_ON_CHOICES, FORMAT_CHOICES, ExitCode, use_color

F = TypeVar("F", bound=Callable[..., Any])


def _scan_options(func: F) -> F:
    """Options shared by every command that walks a docs tree."""
    decorators = [
        click.argument("paths", nargs=-1, type=click.Path(path_type=Path)),
        click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Config file (default: [tool.alttext] in pyproject.toml or .alttext.toml, searched upwards)."),
        click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files matching this gitignore-style glob (repeatable)."),
        click.option("--no-gitignore", is_flag=True, default=None, help="Do not honour .gitignore files."),
        click.option("--max-length", type=click.IntRange(min=1), help="Longest acceptable alt text (default 150)."),
        click.option("--disable", multiple=True, metavar="RULE", help="Turn a rule off (repeatable)."),
        click.option("--site-root", type=click.Path(file_okay=False, path_type=Path), help="Folder that root-relative image URLs (/img/x.png) resolve against."),
        click.option("-j", "--jobs", type=click.IntRange(min=0), help="Worker processes (0 = all cores)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _load(paths: Sequence[Path], config_file: Path | None, overrides: dict[str, Any]) -> Config:
    start = paths[0] if paths else Path.cwd()
    try:
        config = load_config(start, config_file)
        apply_overrides(config, overrides, origin="command line")
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    return config


def _common_overrides(no_gitignore: bool | None, max_length: int | None, site_root: Path | None, jobs: int | None) -> dict[str, Any]:
    """Scalar flags that override config keys (list flags are merged in _rule_settings)."""
    return {
        "gitignore": False if no_gitignore else None,
        "max_length": max_length,
        "site_root": str(site_root.resolve()) if site_root else None,
        "jobs": jobs,
    }


def _rule_settings(config: Config, exclude: Sequence[str], disable: Sequence[str]) -> Any:
    from alttext_tools.rules import RuleSettings

    config.exclude = [*config.exclude, *exclude]
    try:
        return RuleSettings(
            max_length=config.max_length,
            disabled=frozenset([*config.disable, *disable]),
            severity_overrides=dict(config.severity),
            extra_placeholders=frozenset(config.placeholders),
        )
    except ValueError as exc:
        raise click.UsageError(f"{config.source or 'command line'}: {exc}") from None


def _unreviewed(config: Config, images: list[Any], settings: Any) -> list[Any]:
    from alttext_tools.cache import cache_path_for
    from alttext_tools.review_state import ImageHasher, unreviewed_findings

    path = cache_path_for(config)
    if path is None:
        raise click.UsageError("--require-reviewed needs the alt-text cache, but `cache = \"\"` turns it off")
    cache = _open_cache(config)
    hasher = ImageHasher(config.root, config.site_root_path(), config.allow_remote)
    return unreviewed_findings(images, cache, hasher, settings.severity("unreviewed-alt"))


def _files(paths: Sequence[Path], config: Config) -> list[tuple[Path, str]]:
    from alttext_tools.walk import Walker

    given = list(paths) or [Path(".")]
    missing = [p for p in given if not p.exists() and not p.is_symlink()]
    if missing:
        raise click.UsageError(f"no such file or directory: {missing[0]}")
    return list(Walker(config.root, config.exclude, config.gitignore).files(given))


def _emit(text: str, output: Path | None, color: bool = False) -> None:
    if output is None:
        if text:
            click.echo(text.rstrip("\n"), color=color)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + ("\n" if text and not text.endswith("\n") else ""), encoding="utf-8")


class NoModel(click.ClickException):
    """No model to write alt text with: the one message says what is missing and how to get it."""

    exit_code = int(ExitCode.USAGE)


def _model_options(func: F) -> F:
    """Options choosing and running the vision models (fix, and later review/serve)."""
    handler = click.Choice(["moondream", "qwen2.5-vl", "llava", "mtmd"])
    decorators = [
        click.option("--router", type=click.Choice(["auto", "fast", "text"]), help="auto: text-heavy images to the text model, photos to the fast one (default auto)."),
        click.option("--model", "model", metavar="PRESET|PATH", help="Use one model for both slots: a preset name or a text GGUF path."),
        click.option("--mmproj", type=click.Path(path_type=Path), help="The vision projector GGUF for --model PATH."),
        click.option("--handler", type=handler, help="Chat handler for --model PATH."),
        click.option("--fast-model", metavar="PRESET|PATH", help="Model for photos (default moondream2)."),
        click.option("--fast-mmproj", type=click.Path(path_type=Path)),
        click.option("--fast-handler", type=handler),
        click.option("--text-model", metavar="PRESET|PATH", help="Model for text-heavy images (default qwen2.5-vl-3b)."),
        click.option("--text-mmproj", type=click.Path(path_type=Path)),
        click.option("--text-handler", type=handler),
        click.option("--language", metavar="LANG", help="Write alt text in this language (default: the page's own)."),
        click.option("--allow-remote", is_flag=True, default=None, help="Fetch http(s) images (https only, size and time limits)."),
        click.option("--threads", type=click.IntRange(min=1), help="CPU threads for llama.cpp (default: physical cores)."),
        click.option("--backend", type=click.Choice(["local", "openai"]), help="local: llama.cpp in this process (default); openai: an OpenAI-compatible server at --base-url, --model NAME being its model id."),
        click.option("--base-url", metavar="URL", help="API root of the server, e.g. http://127.0.0.1:8080/v1 (llama.cpp), http://127.0.0.1:11434/v1 (Ollama)."),
        click.option("--api-key-env", metavar="NAME", help="Environment variable holding the server's API key, sent as a Bearer token (default OPENAI_API_KEY)."),
        click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight to the server (default 4)."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Seconds to wait for one server answer (default 120)."),
        click.option("--retries", type=click.IntRange(min=0), help="Extra attempts on HTTP 429/5xx and dropped connections, with backoff (default 3)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _model_overrides(options: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "router": options["router"],
        "language": options["language"],
        "allow_remote": options["allow_remote"],
    }
    for key in ("backend", "base_url", "api_key_env", "concurrency", "timeout", "retries"):
        values[key] = options.get(key)
    server = options.get("backend") == "openai"  # model names are the server's ids, not paths
    for slot in ("fast", "text"):
        name = options[f"{slot}_model"] or options["model"]
        values[f"{slot}_model"] = name if server else _absolute_if_path(name)
        mmproj = options[f"{slot}_mmproj"] or options["mmproj"]
        values[f"{slot}_mmproj"] = str(mmproj.resolve()) if mmproj else None
        values[f"{slot}_handler"] = options[f"{slot}_handler"] or options["handler"]
    return values


def _absolute_if_path(value: str | None) -> str | None:
    """A model file given on the command line is relative to the cwd; a preset name stays a name,
    and so does anything that is neither a file here nor GGUF-shaped (a server's model id such as
    "llava:7b" or "Qwen/Qwen2.5-VL-3B-Instruct", when `backend = "openai"` comes from the config)."""
    if value is None:
        return None
    from alttext_tools.presets import PRESETS

    if value in PRESETS:
        return value
    path = Path(value).expanduser()
    if value.lower().endswith(".gguf") or value.startswith((".", "~")) or path.is_absolute() or path.exists():
        return str(path.resolve())
    return value


class CacheProblem(click.ClickException):
    """A damaged or unwritable alt-text cache: one line naming the file (and line)."""

    exit_code = int(ExitCode.FILE_ERRORS)


def _open_cache(config: Config) -> Any:
    from alttext_tools.cache import AltCache, CacheError, cache_path_for

    path = cache_path_for(config)
    if path is None:
        return None
    try:
        return AltCache.open(path)
    except CacheError as exc:
        raise CacheProblem(str(exc)) from None


def _flush_cache(cache: Any) -> None:
    from alttext_tools.cache import CacheError

    try:
        cache.flush()
    except (CacheError, OSError) as exc:
        raise CacheProblem(f"{cache.path}: could not save the alt-text cache: {exc}") from None


def _model_provider(config: Config, threads: int | None, verbose: bool, progress: bool, cache: Any = None, *, read_only: bool = False, **extra: Any) -> Any:
    """The generation provider for `config` (local engine, or config.backend == "openai"); `extra`
    goes to ModelProvider (serve passes max_pixels)."""
    from alttext_tools.engine_settings import EngineSettings
    from alttext_tools.cache import GenerationCacheAdapter
    from alttext_tools.generate import ModelProvider, ModelSetupError, models_for

    try:
        slots, engine = models_for(config)
    except ModelSetupError as exc:
        raise NoModel(str(exc)) from None
    return ModelProvider.from_config(
        config,
        slots,
        engine=engine,
        engine_settings=EngineSettings(n_threads=threads) if threads else EngineSettings(),
        progress=progress,
        log=lambda line: click.echo(line, err=True),
        verbose=verbose,
        cache=GenerationCacheAdapter(cache, config.max_length, read_only=read_only) if cache is not None else None,
        **extra,
    )


class LazyGroup(click.Group):
    """Subcommands in `lazy` are imported only when invoked or listed, keeping `check` fast."""

    lazy: dict[str, str] = {
        "models": "alttext_tools.cli_models:models",
        "cache": "alttext_tools.cli_cache:cache",
        "serve": "alttext_tools.serve:serve",
        "review": "alttext_tools.review:review",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="alttext")
def cli() -> None:
    """Find, write and fix image alt text in HTML and Markdown sources."""


@cli.command()
@_scan_options
@click.option("-f", "--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="text", show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to this file instead of stdout.")
@click.option("--fail-on", type=click.Choice(FAIL_ON_CHOICES), help="Lowest severity that makes the exit code 1 (default: error).")
@click.option("--color/--no-color", default=None, help="Colour the text report (default: when stdout is a terminal and NO_COLOR is unset).")
@click.option("-q", "--quiet", is_flag=True, help="No summary line on stderr.")
@click.option("--require-reviewed", is_flag=True, help="Also report alt text a model wrote that no person has reviewed (needs the alt-text cache).")
def check(paths: tuple[Path, ...], config_file: Path | None, exclude: tuple[str, ...], no_gitignore: bool | None, max_length: int | None, disable: tuple[str, ...], site_root: Path | None, jobs: int | None, fmt: str, output: Path | None, fail_on: str | None, color: bool | None, quiet: bool, require_reviewed: bool) -> None:
    """Report images whose text alternative is missing or bad. No model, no network.

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage error,
    3 some files could not be read, 4 internal error.
    """
    from alttext_tools.check import check_files

    overrides = _common_overrides(no_gitignore, max_length, site_root, jobs)
    overrides["fail_on"] = fail_on
    config = _load(paths, config_file, overrides)
    settings = _rule_settings(config, exclude, disable)
    run = check_files(_files(paths, config), settings, config.jobs)
    report = run.report()
    if require_reviewed and "unreviewed-alt" not in settings.disabled:
        report.findings.extend(_unreviewed(config, [image for result in run.results for image in result.images], settings))
        report.findings.sort(key=lambda finding: finding.sort_key)
    colored = (use_color(sys.stdout) if color is None else color) and output is None and fmt == "text"
    _emit(report.render(fmt, color=colored), output, colored)
    if not quiet:
        click.echo(report.summary(color=use_color(sys.stderr) if color is None else color), err=True)
    sys.exit(int(report.return_code(config.fail_on)))


@cli.command()
@_scan_options
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Apply reviewed decisions: `check --format json` output with a new_alt field per entry. No model.")
@click.option("--diff", is_flag=True, help="Print a unified diff (git apply / patch -p1) instead of writing.")
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 if anything would change.")
@click.option("--overwrite", is_flag=True, help="Also replace human-written alt that is merely imperfect (too long, redundant prefix...).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the alt-text cache (default: .alttext-cache.jsonl at the project root).")
@_model_options
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="json: per-image results and a summary on stdout.")
@click.option("-v", "--verbose", is_flag=True, help="Per-image routing and timings on stderr.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: when stderr is a terminal).")
def fix(paths: tuple[Path, ...], config_file: Path | None, exclude: tuple[str, ...], no_gitignore: bool | None, max_length: int | None, disable: tuple[str, ...], site_root: Path | None, jobs: int | None, from_file: Path | None, diff: bool, check_only: bool, overwrite: bool, no_cache: bool, fmt: str, verbose: bool, progress: bool | None, threads: int | None, **model_options: Any) -> None:
    """Write alt text into the sources: only alt values change, byte for byte.

    Without --from, a local vision model writes the alt text (see `alttext models`).
    Exit codes: 0 done, 1 (--check) something would change, 2 usage error or no model,
    3 some files or images could not be fixed, 4 internal error.
    """
    import json as _json

    from alttext_tools.decisions import DecisionsError, FileDecisions
    from alttext_tools.fix import run_fix, scan_for_fix
    from alttext_tools.writeback import FixSummary, WriteBack, find_root

    overrides = _common_overrides(no_gitignore, max_length, site_root, jobs)
    overrides.update(_model_overrides(model_options))
    config = _load(paths, config_file, overrides)
    settings = _rule_settings(config, exclude, disable)
    mode = WriteBack.from_flags(check=check_only, diff=diff)
    provider: Any
    if from_file is not None:
        try:
            provider = FileDecisions.load(from_file)
        except DecisionsError as exc:
            raise click.UsageError(str(exc)) from None
        if not paths:
            paths = tuple(Path(p) for p in provider.paths() if Path(p).exists() or Path(p).is_symlink())
    scanned, file_errors = scan_for_fix(_files(paths, config), settings, config.jobs)
    for error in file_errors:
        click.echo(f"{error.path}: error: {error.message}", err=True)
    cache = None
    if from_file is None:
        show_progress = sys.stderr.isatty() if progress is None else progress
        cache = None if no_cache else _open_cache(config)
        provider = _model_provider(config, threads, verbose, show_progress, cache, read_only=mode is WriteBack.CHECK)
    try:
        run = run_fix(scanned, provider, mode, overwrite=overwrite, root=find_root(), every_image=from_file is not None, jobs=config.jobs)
    finally:
        if hasattr(provider, "close"):
            provider.close()
        if cache is not None and mode is not WriteBack.CHECK:
            _flush_cache(cache)
    problems = [str(p) for p in getattr(provider, "problems", [])]
    if from_file is not None:
        problems += [str(p) for p in provider.unmatched([item.display for item in scanned])]
        problems = list(dict.fromkeys(problems))
    for outcome in run.outcomes:
        if outcome.diff:
            sys.stdout.buffer.write(outcome.diff)
            sys.stdout.buffer.flush()
        for note in outcome.notes:
            click.echo(note, err=True)
        if outcome.message:
            click.echo(outcome.message, err=True)
    for problem in problems:
        click.echo(problem, err=True)
    summary = FixSummary.of(run.outcomes, mode)
    if fmt == "json":
        document: dict[str, Any] = {
            "files": [{"path": o.path, "status": o.status.value, "images": o.images, "error": o.error} for o in run.outcomes],
            "problems": problems,
        }
        if hasattr(provider, "records"):
            document["warnings"] = list(provider.warnings)
            document["images"] = [record.to_dict() for record in provider.records]
            document["summary"] = provider.summary()
        click.echo(_json.dumps(document, indent=2, ensure_ascii=False))
    click.echo(summary.line(), err=True)
    code = summary.exit_code(check=check_only or None, problems=len(problems) + len(file_errors))
    sys.exit(int(code))


def _skip_css_selectors() -> None:
    """bs4 imports soupsieve (CSS selectors, ~60 ms of regex compiling) that we never use.

    Only the CLI does this, in its own process: bs4 treats a missing soupsieve as optional,
    and library users (the MkDocs plugin's host process) keep theirs.
    """
    if "soupsieve" not in sys.modules and "bs4" not in sys.modules:
        sys.modules["soupsieve"] = None  # type: ignore[assignment]
        warnings.filterwarnings("ignore", message="The soupsieve package is not installed", category=UserWarning)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit code (click exits 2 on usage errors)."""
    _skip_css_selectors()
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="alttext", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else int(ExitCode.USAGE))
    return int(ExitCode.OK)
