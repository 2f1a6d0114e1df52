"""The `alttext` command line: the entry point, the command group, and `alttext check` and `alttext fix`.

Reports go to stdout, chatter to stderr; exit codes in report.ExitCode. The other commands are
imported only when invoked (LazyGroup), and heavy modules only inside the commands that need them,
so `alttext check` starts fast. See docs/cli.md.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import click

from alttext_tools import __version__
from alttext_tools.cli.options import (
    CacheProblem,
    common_overrides,
    emit_report,
    flush_cache,
    load_project_config,
    model_flags,
    model_options,
    model_overrides,
    model_provider,
    open_cache,
    report_option,
    require_local_models,
    results_cache,
    results_cache_option,
    rule_settings,
    scan_options,
    show_warnings,
    unreviewed_alt_findings,
    walk_files,
)
from alttext_tools.report.formats import FORMAT_CHOICES
from alttext_tools.report.outcome import FAIL_ON_CHOICES, ExitCode
from alttext_tools.report.text import use_color

if TYPE_CHECKING:
    from alttext_tools.generate.provider import ModelProvider
    from alttext_tools.rewrite.decisions import FileDecisions
    from alttext_tools.rewrite.fix import FixRun


class LazyGroup(click.Group):
    """Subcommands in `lazy` are imported only when invoked or listed, keeping `check` fast."""

    lazy: ClassVar[dict[str, str]] = {
        "models": "alttext_tools.cli.models:models",
        "cache": "alttext_tools.cli.cache:cache",
        "describe": "alttext_tools.cli.describe:describe",
        "serve": "alttext_tools.serve.command:serve",
        "review": "alttext_tools.review.command:review",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def invoke(self, ctx: click.Context) -> Any:
        """Ctrl+C exits 130 (click's own handling would print "Aborted!" and exit 1, which
        means findings)."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(int(ExitCode.INTERRUPTED)) from None

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
@scan_options
@results_cache_option
@click.option(
    "-f", "--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="text", show_default=True, help="Report format."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file instead of stdout.",
)
@report_option
@click.option(
    "--fail-on", type=click.Choice(FAIL_ON_CHOICES), help="Lowest severity that makes the exit code 1 (default: error)."
)
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the text report (default: when stdout is a terminal and NO_COLOR is unset, or FORCE_COLOR is set).",
)
@click.option("-q", "--quiet", is_flag=True, help="No summary line on stderr.")
@click.option(
    "--require-reviewed",
    is_flag=True,
    help="Also report alt text a model wrote that no person has reviewed (needs the alt-text cache).",
)
def check(
    paths: tuple[Path, ...],
    config_file: Path | None,
    exclude: tuple[str, ...],
    no_gitignore: bool | None,
    max_length: int | None,
    disable: tuple[str, ...],
    no_inline_config: bool | None,
    site_root: Path | None,
    jobs: int | None,
    no_cache_results: bool,
    fmt: str,
    output: Path | None,
    reports: list[tuple[str, Path]],
    fail_on: str | None,
    color: bool | None,
    quiet: bool,
    require_reviewed: bool,
) -> None:
    """Report images whose text alternative is missing or bad. No model, no network.

    Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage error,
    3 some files could not be read, 4 internal error.
    """
    from alttext_tools.check.run import check_files

    overrides = common_overrides(no_gitignore, max_length, site_root, jobs, no_inline_config)
    overrides["fail_on"] = fail_on
    config = load_project_config(paths, config_file, overrides)
    settings = rule_settings(config, exclude, disable)
    results = results_cache(settings, no_cache_results)
    run = check_files(walk_files(paths, config), settings, config.jobs, config.dialect, results)
    show_warnings(warning for result in run.results for warning in result.warnings)
    report = run.report()
    if require_reviewed and "unreviewed-alt" not in settings.disabled:
        suppressions = {result.path: result.suppressions for result in run.results}
        unreviewed = unreviewed_alt_findings(
            config, [image for result in run.results for image in result.images], settings
        )
        # A file's suppression comments apply to unreviewed-alt too.
        report.findings.extend(f for f in unreviewed if not suppressions[f.image.path].silences(f))
        report.findings.sort(key=lambda finding: finding.sort_key)
    colored = (use_color(sys.stdout) if color is None else color) and output is None and fmt == "text"
    emit_report(report.render(fmt, color=colored), output, colored)
    for other_fmt, path in reports:
        emit_report(report.render(other_fmt), path)
    if not quiet:
        summary_color = use_color(sys.stderr) if color is None else color
        click.echo(report.summary(color=summary_color), err=True, color=summary_color)
    sys.exit(int(report.return_code(config.fail_on)))


@cli.command()
@scan_options
@results_cache_option
@click.option(
    "--from",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Apply reviewed decisions: `check --format json` output with a new_alt field per entry. No model.",
)
@click.option("--diff", is_flag=True, help="Print a unified diff (git apply / patch -p1) instead of writing.")
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 if anything would change.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Also replace human-written alt that is merely imperfect (too long, redundant prefix...).",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Neither read nor write the alt-text cache (default: .alttext-cache.jsonl at the project root).",
)
@model_options
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: per-image results and a summary on stdout.",
)
@click.option("-v", "--verbose", is_flag=True, help="Per-image routing and timings on stderr.")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar on stderr (default: when stderr is a terminal)."
)
def fix(
    paths: tuple[Path, ...],
    config_file: Path | None,
    exclude: tuple[str, ...],
    no_gitignore: bool | None,
    max_length: int | None,
    disable: tuple[str, ...],
    no_inline_config: bool | None,
    site_root: Path | None,
    jobs: int | None,
    no_cache_results: bool,
    from_file: Path | None,
    diff: bool,
    check_only: bool,
    overwrite: bool,
    no_cache: bool,
    fmt: str,
    verbose: bool,
    progress: bool | None,
    threads: int | None,
    **model_options: Any,
) -> None:
    """Write alt text into the sources: only alt values change, byte for byte.

    Without --from, a local vision model writes the alt text (see `alttext models`).
    Exit codes: 0 done, 1 (--check) something would change, 2 usage error, no model or no `local` extra,
    3 some files or images could not be fixed, 4 internal error.
    """
    from alttext_tools.rewrite.decisions import DecisionsError, FileDecisions
    from alttext_tools.rewrite.diff import find_root
    from alttext_tools.rewrite.fix import needs_alt, run_fix, scan_for_fix
    from alttext_tools.rewrite.writeback import FixSummary, WriteBack

    overrides = common_overrides(no_gitignore, max_length, site_root, jobs, no_inline_config)
    overrides.update(model_overrides(model_options))
    config = load_project_config(paths, config_file, overrides, model_flags(model_options))
    settings = rule_settings(config, exclude, disable)
    mode = WriteBack.from_flags(check=check_only, diff=diff)
    decisions: FileDecisions | None = None
    if from_file is not None:
        try:
            decisions = FileDecisions.load(from_file)
        except DecisionsError as exc:
            raise click.UsageError(str(exc)) from None
        decisions.refuse_outside(config.root)
        if not paths:
            paths = tuple(Path(p) for p in decisions.paths() if Path(p).exists() or Path(p).is_symlink())
    else:
        require_local_models(config, "alttext fix with in-process models")
    results = results_cache(settings, no_cache_results)
    scanned, file_errors = scan_for_fix(walk_files(paths, config), settings, config.jobs, config.dialect, results)
    show_warnings(warning for item in scanned for warning in item.warnings)
    for error in file_errors:
        click.echo(f"{error.path}: error: {error.message}", err=True)
    run_options: dict[str, Any] = {"overwrite": overwrite, "root": find_root(), "jobs": config.jobs}
    models: ModelProvider | None = None
    if decisions is not None:
        run = run_fix(scanned, decisions, mode, every_image=True, **run_options)
        problems = [str(p) for p in decisions.problems]
        problems += [str(p) for p in decisions.unmatched([item.display for item in scanned])]
        problems = list(dict.fromkeys(problems))
    elif fmt != "json" and not any(needs_alt(item.findings, overwrite) for item in scanned):
        # Nothing for a model to write: set none up (a re-run on a fixed tree costs what check
        # costs). --format json still sets one up, for the generation summary it reports.
        run = run_fix(scanned, _NoImagesToDecide(), mode, **run_options)
        problems = []
    else:
        show_progress = sys.stderr.isatty() if progress is None else progress
        cache = None if no_cache else open_cache(config)
        # --diff and --check write nothing at all: the cache is only read.
        writes = mode is WriteBack.WRITE
        models = model_provider(config, threads, verbose, show_progress, cache, read_only=not writes, rules=settings)
        unsaved: list[CacheProblem] = []

        def save_cache_first() -> None:  # the cache holds the alt text before any source does
            assert cache is not None
            try:
                flush_cache(cache)
            except CacheProblem as exc:
                unsaved.append(exc)
                raise CacheProblem(f"{exc.message}; no file was changed (fix that, or run with --no-cache)") from None

        if cache is not None and mode is WriteBack.WRITE:
            run_options["before_writing"] = save_cache_first
        try:
            run = run_fix(scanned, models, mode, **run_options)
        finally:
            models.close()
            if cache is not None and writes and not unsaved:
                flush_cache(cache)
        problems = list(models.problems)
    _print_outcomes(run, problems)
    summary = FixSummary.of(run.outcomes, mode)
    if fmt == "json":
        click.echo(json.dumps(_fix_document(run, problems, models), indent=2, ensure_ascii=False))
    click.echo(summary.line(), err=True)
    code = summary.exit_code(check=check_only or None, problems=len(problems) + len(file_errors))
    sys.exit(int(code))


def _print_outcomes(run: FixRun, problems: Sequence[str]) -> None:
    """Diffs to stdout (the file's own bytes); notes, per-file lines and problems to stderr."""
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


def _fix_document(run: FixRun, problems: list[str], models: ModelProvider | None) -> dict[str, object]:
    """`fix --format json`: per-file results and problems; with a model, per-image records too."""
    document: dict[str, object] = {
        "files": [
            {"path": o.path, "status": o.status.value, "images": o.images, "error": o.error} for o in run.outcomes
        ],
        "problems": problems,
    }
    if models is not None:
        document["warnings"] = list(models.warnings)
        document["images"] = [record.to_dict() for record in models.records]
        document["summary"] = models.summary()
    return document


class _NoImagesToDecide:
    """The provider of a fix run in which no image needs alt text."""

    def decide(self, images: Sequence[Any]) -> dict[Any, Any]:
        assert not images, "asked to decide images although none needed alt text"
        return {}


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit code (click exits 2 on usage errors)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="alttext", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else int(ExitCode.USAGE))
    return int(ExitCode.OK)
