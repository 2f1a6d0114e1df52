"""The MkDocs plugin `alttext`: check image alt text while the site builds, or fill it into the built pages.

`check` reads each page as the site's Python-Markdown does (the `mkdocs` dialect with its
markdown_extensions: images in admonitions, details, tabs, footnotes and md_in_html blocks
included) and logs every finding at its position in the Markdown source (a WARNING at or above
`fail_on`, so `mkdocs build --strict` fails). `fill` splices alt text into the Markdown MkDocs
renders, with the verified edits of `alttext fix`; the sources are never written. The alt text
comes from a decisions file, else the alt-text cache, and with `model: true` also the models
(kept on the plugin instance across `mkdocs serve` rebuilds). Options: docs/integrations.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mkdocs.config import base
from mkdocs.config import config_options as c
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, get_plugin_logger
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from alttext_tools.check.rules import RuleSettings, evaluate_all
from alttext_tools.check.suppression import apply_inline_config
from alttext_tools.config import (
    ENGINE_SETTINGS,
    ROUTER_MODES,
    TRANSLATION_SETTINGS,
    ConfigError,
    apply_overrides,
    load_config,
)
from alttext_tools.config import Config as ProjectConfig
from alttext_tools.core import Finding, ImageRef, Provider, Severity, image_key, norm_path
from alttext_tools.extras import MissingExtraError, require
from alttext_tools.report.outcome import FAIL_ON_CHOICES, Report
from alttext_tools.report.text import format_text
from alttext_tools.rewrite.decisions import DecisionsError, FileDecisions
from alttext_tools.rewrite.edits import RewriteError, plan_edits, rewrite_text, select_decisions
from alttext_tools.rewrite.fix import needs_alt
from alttext_tools.rewrite.guard import structure_change
from alttext_tools.scan.dialects import MKDOCS, Dialect, mkdocs_dialect
from alttext_tools.scan.markdown import scan_markdown
from alttext_tools.scan.mkdocs_config import extension_names
from alttext_tools.scan.walk import Patterns, display_path, ignore_patterns

if TYPE_CHECKING:
    from alttext_tools.cache.store import AltCache
    from alttext_tools.generate.provider import ModelProvider

# Logged as `alttext`, the name users write in mkdocs.yml: the logger is mkdocs.plugins.alttext.
log = get_plugin_logger("alttext")

# Project settings that decide which models a `fill` build loads.
_MODEL_SETTINGS = (
    "router",
    "fast_model",
    "fast_mmproj",
    "fast_handler",
    "text_model",
    "text_mmproj",
    "text_handler",
    "language",
    "allow_remote",
    "max_length",
    "site_root",
    "root",
    "backend",
    "base_url",
    "api_key_env",
    "concurrency",
    "timeout",
    "retries",
    *ENGINE_SETTINGS,
    *TRANSLATION_SETTINGS,
)
# Plugin options that are project settings of the same name (they override the config file).
_PROJECT_OPTIONS = ("fail_on", "cache", "router", "fast_model", "text_model", *ENGINE_SETTINGS, *TRANSLATION_SETTINGS)


class AltTextConfig(base.Config):  # type: ignore[no-untyped-call]  # mkdocs' __init_subclass__ is untyped
    """Options of `plugins: - alttext:` in mkdocs.yml. Paths are relative to mkdocs.yml."""

    enabled = c.Type(bool, default=True)
    mode = c.Choice(("check", "fill"), default="check")
    # Lowest severity logged as a WARNING (fails `mkdocs build --strict`); lower ones are INFO.
    # Default: the project's `fail_on` (itself "error" by default).
    fail_on = c.Optional(c.Choice(FAIL_ON_CHOICES))
    config = c.Optional(c.File(exists=True))  # alttext config file; default: searched from mkdocs.yml
    exclude = c.ListOfItems(c.Type(str), default=[])  # gitignore-style globs, relative to docs_dir
    decisions = c.Optional(c.File(exists=True))  # fill: reviewed decisions (`alttext fix --from` format)
    cache = c.Optional(c.File(exists=False))  # the alt-text cache file (passed to the project config)
    router = c.Optional(c.Choice(ROUTER_MODES))
    fast_model = c.Optional(c.Type(str))
    text_model = c.Optional(c.Type(str))
    # fill: also generate alt text the cache lacks with the local models (loaded once, kept
    # across `mkdocs serve` rebuilds); without it, fill uses the cache alone.
    model = c.Type(bool, default=False)
    # llama.cpp in process (model: true): context size, tokens per image, CPU threads, GPU layers.
    n_ctx = c.Optional(c.Type(int))
    image_max_tokens = c.Optional(c.Type(int))
    threads = c.Optional(c.Type(int))
    gpu_layers = c.Optional(c.Type((int, str)))  # all | none | N
    # model: true: an image in several languages is described once and translated (default true);
    # primary_language is the language described from the image (default en).
    translate = c.Optional(c.Type(bool))
    primary_language = c.Optional(c.Type(str))


@dataclass
class _Located:
    """Where a page's rendered Markdown sits in its source, so positions are the source's."""

    text: str  # what is scanned: the source when the Markdown is its tail, else the Markdown
    start: int  # the Markdown is text[start:]


@dataclass
class _BuildStats:
    """What one build saw; reset in on_config (every rebuild under `mkdocs serve` too)."""

    report: Report = field(default_factory=Report)
    filled_images: int = 0
    filled_pages: int = 0
    scanned: set[str] = field(default_factory=set)  # pages checked, as decisions name them


class AltTextPlugin(BasePlugin[AltTextConfig]):  # type: ignore[no-untyped-call]  # as above
    """Checks (or fills) image alt text in every page of a MkDocs build."""

    def __init__(self) -> None:
        self.project = ProjectConfig()
        self.settings = RuleSettings()
        self.provider: Provider | None = None  # where this build's `fill` gets alt text
        self._models: ModelProvider | None = None  # loaded models, kept across `mkdocs serve` rebuilds
        self._models_key: tuple[object, ...] | None = None  # the settings `_models` was made with
        self._cache: AltCache | None = None  # the cache a fill build reads (and, with a model, writes)
        self._docs_dir = Path.cwd()
        self._warn_rank: int | None = Severity.ERROR.rank
        self._exclude_project: Patterns = ignore_patterns([])[0]
        self._exclude_docs: Patterns = ignore_patterns([])[0]
        self._stats = _BuildStats()
        self._dialect: Dialect = MKDOCS

    # ------------------------------------------------------------------ events

    def on_startup(self, *, command: Literal["build", "gh-deploy", "serve"], dirty: bool) -> None:
        """Defined so that MkDocs keeps this instance (and a loaded model) across serve rebuilds."""

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig | None:
        if not self.config.enabled:
            return None
        self._docs_dir = Path(config.docs_dir)
        # Pages are read as this site's Python-Markdown renders them, whatever `dialect` says.
        self._dialect = mkdocs_dialect(extension_names([str(name) for name in config.markdown_extensions]))
        self.project = self._load_project(config)
        try:
            self.settings = RuleSettings.for_config(self.project)
        except ValueError as exc:
            raise PluginError(f"alttext: {self.project.source or 'configuration'}: {exc}") from None
        self._warn_rank = None if self.project.fail_on == "never" else Severity(self.project.fail_on).rank
        self._exclude_project = self._patterns(self.project.exclude)
        self._exclude_docs = self._patterns(self.config.exclude)
        self._stats = _BuildStats()
        if self.config.mode == "fill":
            self.provider = self._provider_for_build()
        return config

    def on_page_markdown(self, markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str | None:
        if not self.config.enabled:
            return None
        if self._excluded(page):
            return None
        display = self._display(page)
        located = _locate(page, markdown)
        scanned = scan_markdown(located.text, display, self._dialect)
        images = [image for image in scanned if image.span.start >= located.start]  # not in stripped meta
        findings = evaluate_all(images, self.settings)
        if self.settings.inline_config:
            findings, warnings = apply_inline_config(findings, located.text, "markdown", display, self._dialect)
            for warning in warnings:
                log.warning(str(warning))
        self._stats.scanned.add(norm_path(display))
        if self.config.mode == "fill" and images:
            markdown, filled = self._fill(located, display, scanned, findings)
            findings = [f for f in findings if image_key(f.image) not in filled]
        self._stats.report.checked(len(images), findings)
        for finding in findings:
            self._log_finding(finding)
        return markdown

    def on_post_build(self, *, config: MkDocsConfig) -> None:
        if not self.config.enabled:
            return
        stats = self._stats
        if stats.filled_images:
            source = (
                os.path.basename(self.config.decisions)
                if self.config.decisions
                else ("the alt-text cache and models" if self.config.model else "the alt-text cache")
            )
            log.info(
                f"filled alt text for {_plural(stats.filled_images, 'image')} in "
                f"{_plural(stats.filled_pages, 'page')} from {source} (sources unchanged)"
            )
        if self._cache is not None and self.config.model:
            self._cache.flush()  # keep what the models wrote for the next build and `alttext fix`
        if isinstance(self.provider, FileDecisions):
            self.provider.unmatched(stats.scanned)
            for problem in self.provider.problems:
                if problem.path is None or problem.path in stats.scanned:
                    log.warning(str(problem))
        log.info(_summary(stats.report))

    def on_shutdown(self) -> None:
        self._close_models()
        self.provider = None

    # ------------------------------------------------------------------ configuration

    @staticmethod
    def _patterns(lines: list[str]) -> Patterns:
        """Exclude globs; an invalid one is skipped with a warning, as `alttext check` skips it."""
        patterns, skipped = ignore_patterns(lines)
        for line in skipped:
            log.warning(f"alttext: {line}")
        return patterns

    def _load_project(self, config: MkDocsConfig) -> ProjectConfig:
        """The alttext configuration of the project, with this plugin's options on top."""
        here = Path(config.config_file_path).parent if config.config_file_path else Path.cwd()
        explicit = Path(self.config.config) if self.config.config else None
        origin = f"{config.config_file_path or 'mkdocs.yml'}: plugins.alttext"
        try:
            project = load_config(here, explicit)
            overrides: dict[str, Any] = {name: self.config[name] for name in _PROJECT_OPTIONS}
            if project.site_root is None:
                overrides["site_root"] = str(self._docs_dir)  # /img/x.png resolves in docs_dir
            apply_overrides(project, overrides, origin=origin)
        except ConfigError as exc:
            raise PluginError(f"alttext: {exc}") from None
        return project

    def _provider_for_build(self) -> Provider:
        """Where `fill` gets alt text from: a decisions file, else the alt-text cache (and the
        models, with `model: true`). Files are re-read every build: cheap, and they may change
        while `mkdocs serve` runs. Loaded models are kept while their settings stay the same."""
        if self.config.decisions is not None:
            self._close_models()
            try:
                return FileDecisions.load(self.config.decisions)
            except DecisionsError as exc:
                raise PluginError(f"alttext: {exc}") from None
        from alttext_tools.cache.providers import CacheProvider, GenerationCacheAdapter
        from alttext_tools.cache.store import AltCache, cache_path_for
        from alttext_tools.check.unreviewed import ImageHasher
        from alttext_tools.errors import CacheError

        path = cache_path_for(self.project)
        if path is None:
            raise PluginError(
                "alttext: mode 'fill' needs `decisions: FILE` or the alt-text cache, which `cache = \"\"` turns off"
            )
        if self.config.model and self.project.backend != "openai":
            try:
                require("local", "the alttext plugin's `model: true` (models in this process)")
            except MissingExtraError as exc:
                raise PluginError(f"alttext: {exc}") from None
        try:
            self._cache = AltCache.open(path)
        except CacheError as exc:
            raise PluginError(f"alttext: {exc}") from None
        if not self.config.model:
            self._close_models()
            hasher = ImageHasher(self.project.root, self.project.site_root_path(), self.project.allow_remote)
            return CacheProvider(self._cache, hasher, self.project.language)
        adapter = GenerationCacheAdapter(self._cache, self.project.max_length)
        key = tuple(getattr(self.project, name) for name in _MODEL_SETTINGS)
        if self._models is None or self._models_key != key:
            self._close_models()
            self._models = self._load_models()
            self._models_key = key
        self._models.cache = adapter  # the same loaded models, this build's cache
        return self._models

    def _load_models(self) -> ModelProvider:
        from alttext_tools.engines.base import engine_settings
        from alttext_tools.generate.provider import ModelProvider, models_for
        from alttext_tools.models.slots import ModelSetupError

        try:
            slots, engine = models_for(self.project)  # local models, or `backend = "openai"`'s server
        except ModelSetupError as exc:
            raise PluginError(f"alttext: {exc}") from None
        if engine is None:
            from alttext_tools.engines.llama import gpu_offload_note

            note = gpu_offload_note(self.project.gpu_layers)
            if note:
                log.warning(note)
        settings = engine_settings(self.project)
        return ModelProvider.from_config(self.project, slots, engine=engine, engine_settings=settings, log=log.info)

    def _close_models(self) -> None:
        if self._models is not None:
            self._models.close()
        self._models = None
        self._models_key = None

    # ------------------------------------------------------------------ pages

    def _excluded(self, page: Page) -> bool:
        if self._exclude_docs.match_file(page.file.src_uri):
            return True
        if page.file.abs_src_path is None:
            return False
        try:
            rel = Path(page.file.abs_src_path).resolve().relative_to(self.project.root.resolve())
        except ValueError:
            return False
        return self._exclude_project.match_file(rel.as_posix())

    def _display(self, page: Page) -> str:
        """The source path as `alttext check` shows it: relative to the cwd when inside it."""
        if page.file.abs_src_path is not None:
            return display_path(Path(page.file.abs_src_path))
        return display_path(self._docs_dir / page.file.src_uri)

    def _log_finding(self, finding: Finding) -> None:
        line = format_text([finding]).rstrip("\n")
        if self._warn_rank is not None and finding.severity.rank >= self._warn_rank:
            log.warning(line)
        else:
            log.info(line)

    def _fill(
        self, located: _Located, display: str, scanned: Sequence[ImageRef], findings: Sequence[Finding]
    ) -> tuple[str, set[tuple[str, int, int]]]:
        """(the Markdown to render, keys of the images whose alt was filled). `scanned` is the
        complete scan of `located.text`, which the rewriter's verification needs."""
        assert self.provider is not None
        markdown = located.text[located.start :]
        # A decisions file names its own images (as with `alttext fix --from`); anything else is
        # asked only about the images that need alt text.
        if isinstance(self.provider, FileDecisions):
            targets = [image for image in scanned if image.span.start >= located.start]
        else:
            targets = needs_alt(findings, overwrite=False)
        if not targets:
            return markdown, set()
        decisions = self.provider.decide(targets)
        pairs, notes = select_decisions(scanned, decisions, findings)
        usable = []
        for pair in pairs:
            try:
                plan_edits(located.text, [pair])
            except RewriteError as exc:
                notes.append(f"{exc} (not filled)")
            else:
                usable.append(pair)
        for note in notes:
            log.info(note)
        if not usable:
            return markdown, set()
        try:
            result = rewrite_text(located.text, display, "markdown", scanned, usable, dialect=self._dialect)
        except RewriteError as exc:  # VerifyError included: never render a doubtful edit
            log.warning(f"{display}: alt text not filled: {exc}")
            return markdown, set()
        changed = structure_change(
            located.text, result.text, "markdown", python_markdown=True, extensions=self._dialect.extensions
        )
        if changed:  # the page would render differently beyond its alt text
            log.warning(f"{display}: alt text not filled: {changed}")
            return markdown, set()
        self._stats.filled_images += len(result.changed)
        self._stats.filled_pages += 1 if result.changed else 0
        return result.text[located.start :], {image_key(image) for image in result.changed}


def _locate(page: Page, markdown: str) -> _Located:
    """MkDocs renders the source minus its front matter; scan the whole source when the Markdown
    is exactly its tail (the usual case), so line numbers and front-matter context are right."""
    try:
        source = page.file.content_string
    except (OSError, ValueError):
        source = None
    if source is not None and source.endswith(markdown):
        return _Located(source, len(source) - len(markdown))
    # Another plugin rewrote the page: positions are those of the Markdown MkDocs renders.
    log.debug(f"{page.file.src_uri}: Markdown differs from its source; positions refer to the rendered Markdown")
    return _Located(markdown, 0)


def _summary(report: Report) -> str:
    """`3 problems (1 error, 2 warnings) in 2 pages; 7 images checked in 5 pages.`"""
    checked = f"{_plural(report.images_checked, 'image')} checked in {_plural(report.files_checked, 'page')}."
    if not report.findings:
        return f"no problems found; {checked}"
    pages = len({f.image.path for f in report.findings})
    errors, warnings = report.count(Severity.ERROR), report.count(Severity.WARNING)
    return (
        f"{_plural(len(report.findings), 'problem')} ({_plural(errors, 'error')}, "
        f"{_plural(warnings, 'warning')}) in {_plural(pages, 'page')}; {checked}"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
