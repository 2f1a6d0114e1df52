"""The Sphinx extension `alttext_tools.integrations.sphinx`: check image alt text while the docs
build, or fill it into the built pages.

`check` (default) makes every finding a Sphinx warning at its source line (`page.rst:LINE`), so
`sphinx-build -W` fails; findings below `alttext_fail_on` are logged as info. `fill` sets alt on
the doctree of each page as it is written, from a decisions file, else the alt-text cache, and
with `alttext_model = True` also the models (loaded once per build, in the main process); the
sources are never written. Both read the sources with the scanners of `alttext check` (reST with
docutils, Markdown with myst-parser). Options: docs/integrations.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

from alttext_tools import __version__
from alttext_tools.check.rules import RuleSettings, evaluate_all
from alttext_tools.check.suppression import apply_inline_config
from alttext_tools.config import ENGINE_SETTINGS, TRANSLATION_SETTINGS, ConfigError, apply_overrides, load_config
from alttext_tools.config import Config as ProjectConfig
from alttext_tools.core import Decision, Finding, ImageRef, Provider, Severity, image_key, norm_path
from alttext_tools.extras import MissingExtraError, require
from alttext_tools.report.outcome import FAIL_ON_CHOICES
from alttext_tools.rewrite.decisions import DecisionsError, FileDecisions
from alttext_tools.rewrite.edits import select_decisions
from alttext_tools.rewrite.fix import needs_alt
from alttext_tools.scan.myst import scan_myst
from alttext_tools.scan.rst import scan_rst
from alttext_tools.scan.sources import SourceError, read_source
from alttext_tools.scan.walk import display_path

if TYPE_CHECKING:
    from alttext_tools.cache.store import AltCache
    from alttext_tools.generate.provider import ModelProvider

log = logging.getLogger(__name__)

MODES = ("check", "fill")
_SRC = "alttext_src"  # node attribute: the image's URI as written, before Sphinx rewrites it


@dataclass
class _State:
    """One build's settings and models; made in builder-inited, before any worker forks."""

    project: ProjectConfig = field(default_factory=ProjectConfig)
    settings: RuleSettings = field(default_factory=RuleSettings)
    warn_rank: int | None = Severity.ERROR.rank
    provider: Provider | None = None
    models: ModelProvider | None = None
    cache: AltCache | None = None
    filled_images: int = 0
    filled_pages: int = 0
    scanned: set[str] = field(default_factory=set)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("alttext_mode", "check", "env", [str])
    app.add_config_value("alttext_fail_on", None, "env")  # default: the project's fail_on
    app.add_config_value("alttext_config", None, "env")  # alttext config file; default: searched from conf.py
    app.add_config_value("alttext_decisions", None, "env")  # fill: reviewed decisions (`fix --from` format)
    app.add_config_value("alttext_cache", None, "env")  # the alt-text cache file
    app.add_config_value("alttext_model", False, "env")  # fill: also the models, for what the cache lacks
    for name in ENGINE_SETTINGS:  # llama.cpp settings for alttext_model (alttext_gpu_layers = "all" | "none" | N)
        app.add_config_value(f"alttext_{name}", None, "env")
    for name in TRANSLATION_SETTINGS:  # alttext_translate = False: every language described from the image
        app.add_config_value(f"alttext_{name}", None, "env")
    state = _State()
    app.connect("builder-inited", lambda app: _builder_inited(app, state))
    app.connect("doctree-read", lambda app, doctree: _doctree_read(app, doctree, state), priority=400)
    app.connect("doctree-resolved", lambda app, doctree, docname: _doctree_resolved(app, doctree, docname, state))
    app.connect("build-finished", lambda app, exc: _build_finished(app, state))
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}


# --------------------------------------------------------------------------- configuration


def _builder_inited(app: Sphinx, state: _State) -> None:
    config = app.config
    mode = config.alttext_mode
    if mode not in MODES:
        raise ExtensionError(f"alttext: alttext_mode must be one of {', '.join(MODES)}, not {mode!r}")
    if config.alttext_fail_on is not None and config.alttext_fail_on not in FAIL_ON_CHOICES:
        raise ExtensionError(f"alttext: alttext_fail_on must be one of {', '.join(FAIL_ON_CHOICES)}")
    explicit = Path(app.confdir, config.alttext_config) if config.alttext_config else None
    try:
        project = load_config(Path(app.confdir), explicit)
        overrides: dict[str, Any] = {"fail_on": config.alttext_fail_on, "cache": _conf_path(app, config.alttext_cache)}
        overrides.update({name: config[f"alttext_{name}"] for name in (*ENGINE_SETTINGS, *TRANSLATION_SETTINGS)})
        if project.site_root is None:
            overrides["site_root"] = str(app.srcdir)  # `/img/x.png` resolves in the source folder
        apply_overrides(project, overrides, origin=f"{Path(app.confdir, 'conf.py')}: alttext_*")
        state.settings = RuleSettings(
            max_length=project.max_length,
            disabled=frozenset(project.disable),
            severity_overrides={rule: Severity(level) for rule, level in project.severity.items()},
            extra_placeholders=frozenset(project.placeholders),
        )
    except (ConfigError, ValueError) as exc:
        raise ExtensionError(f"alttext: {exc}") from None
    state.project = project
    state.warn_rank = None if project.fail_on == "never" else Severity(project.fail_on).rank
    state.filled_images = state.filled_pages = 0
    state.scanned = set()
    if mode == "fill":
        state.provider = _provider(app, state)


def _conf_path(app: Sphinx, value: object) -> str | None:
    return str(Path(app.confdir, str(value))) if value else None


def _provider(app: Sphinx, state: _State) -> Provider:
    """Where `fill` gets alt text: a decisions file, else the cache (and the models, opted in)."""
    config = app.config
    if config.alttext_decisions:
        try:
            return FileDecisions.load(Path(app.confdir, config.alttext_decisions))
        except DecisionsError as exc:
            raise ExtensionError(f"alttext: {exc}") from None
    from alttext_tools.cache.providers import CacheProvider, GenerationCacheAdapter
    from alttext_tools.cache.store import AltCache, cache_path_for
    from alttext_tools.check.unreviewed import ImageHasher
    from alttext_tools.errors import CacheError

    project = state.project
    path = cache_path_for(project)
    if path is None:
        raise ExtensionError(
            'alttext: fill mode needs alttext_decisions or the alt-text cache, which `cache = ""` turns off'
        )
    if config.alttext_model and project.backend != "openai":
        try:
            require("local", "alttext_model = True (models in this process)")
        except MissingExtraError as exc:
            raise ExtensionError(f"alttext: {exc}") from None
    try:
        state.cache = AltCache.open(path)
    except CacheError as exc:
        raise ExtensionError(f"alttext: {exc}") from None
    if not config.alttext_model:
        hasher = ImageHasher(project.root, project.site_root_path(), project.allow_remote)
        return CacheProvider(state.cache, hasher, project.language)
    from alttext_tools.generate.provider import ModelProvider, models_for
    from alttext_tools.models.slots import ModelSetupError

    try:
        slots, engine = models_for(project)
    except ModelSetupError as exc:
        raise ExtensionError(f"alttext: {exc}") from None
    if engine is None:
        from alttext_tools.engines.llama import gpu_offload_note

        note = gpu_offload_note(project.gpu_layers)
        if note:
            log.warning(f"alttext: {note}")
    from alttext_tools.engines.base import engine_settings

    settings = engine_settings(project)
    state.models = ModelProvider.from_config(project, slots, engine=engine, engine_settings=settings, log=log.info)
    state.models.cache = GenerationCacheAdapter(state.cache, project.max_length)
    return state.models


# --------------------------------------------------------------------------- pages


def _scan(app: Sphinx, docname: str, state: _State) -> tuple[str, list[ImageRef], list[Finding]] | None:
    """The page's source as `alttext check` shows, scans and judges it: (display path, images,
    findings that no suppression comment silences; a malformed comment is a warning at its line)."""
    path = Path(app.env.doc2path(docname))
    filetype = _filetype(app, path)
    if filetype is None:
        return None
    display = display_path(path)
    try:
        source = read_source(path)
    except SourceError as exc:
        log.warning(f"alttext: cannot read {display}: {exc}", location=docname, type="alttext", subtype="file-error")
        return None
    if filetype == "markdown":
        kind, images = "myst", scan_myst(source.text, display)
    else:
        kind, images = "rst", scan_rst(source.text, display)
    findings = evaluate_all(images, state.settings)
    if state.settings.inline_config:
        findings, warnings = apply_inline_config(findings, source.text, kind, display)
        for warning in warnings:
            log.warning(
                f"alttext: {warning.message}", location=(docname, warning.line), type="alttext", subtype="inline-config"
            )
    return display, images, findings


def _filetype(app: Sphinx, path: Path) -> str | None:
    suffixes: Any = app.config.source_suffix
    name = path.name.lower()
    for suffix, filetype in dict(suffixes).items():
        if name.endswith(str(suffix).lower()):
            return "markdown" if filetype == "markdown" else "restructuredtext"
    return None


def _doctree_read(app: Sphinx, doctree: nodes.document, state: _State) -> None:
    """Remember each image's URI as written (Sphinx's image collector rewrites it next); in check
    mode, report the page's findings."""
    for node in doctree.findall(nodes.image):
        node[_SRC] = node.get("uri")
    if app.config.alttext_mode != "check":
        return
    scanned = _scan(app, app.env.docname, state)
    if scanned is None:
        return
    for finding in scanned[2]:
        _log_finding(finding, app.env.docname, state)


def _log_finding(finding: Finding, docname: str, state: _State) -> None:
    message = f"{finding.rule}: {finding.message}"
    location = (docname, finding.image.line)
    if state.warn_rank is not None and finding.severity.rank >= state.warn_rank:
        log.warning(message, location=location, type="alttext", subtype=finding.rule)
    else:
        log.info(message, location=location)


def _doctree_resolved(app: Sphinx, doctree: nodes.document, docname: str, state: _State) -> None:
    """fill: set alt on the page's image nodes (main process, once per page written)."""
    if app.config.alttext_mode != "fill" or state.provider is None:
        return
    scanned = _scan(app, docname, state)
    if scanned is None:
        return
    display, images, findings = scanned
    state.scanned.add(norm_path(display))
    if isinstance(state.provider, FileDecisions):
        targets = list(images)
    else:
        targets = needs_alt(findings, overwrite=False)
    filled: set[tuple[str, int, int]] = set()
    if targets:
        decisions = state.provider.decide(targets)
        pairs, notes = select_decisions(images, decisions, findings)
        for note in notes:
            log.info(f"alttext: {note}")
        filled = _fill(doctree, app.env.doc2path(docname), images, pairs)
        if filled:
            state.filled_images += len(filled)
            state.filled_pages += 1
    for finding in findings:
        if image_key(finding.image) not in filled:
            _log_finding(finding, docname, state)


def _fill(
    doctree: nodes.document, source: object, images: Sequence[ImageRef], pairs: Sequence[tuple[ImageRef, Decision]]
) -> set[tuple[str, int, int]]:
    """Set alt on the image nodes each decided image became; the keys of the images filled.

    A node is matched by its URI as written and its line; an image whose URI is unique in the page
    also matches nodes whose line is that of the enclosing paragraph, and every copy a
    substitution made."""
    mine = [n for n in doctree.findall(nodes.image) if n.get(_SRC) is not None and str(n.source) == str(source)]
    by_src: dict[str, int] = {}
    for image in images:
        if image.src is not None:
            by_src[image.src] = by_src.get(image.src, 0) + 1
    filled = set()
    for image, decision in pairs:
        if image.in_html_block or image.src is None:
            log.info(f"alttext: {image.path}:{image.line}: raw HTML is not filled; run `alttext fix` on the source")
            continue
        same = [n for n in mine if n.get(_SRC) == image.src]
        targets = [n for n in same if n.line == image.line] or (same if by_src[image.src] == 1 else [])
        if not targets:
            log.info(f"alttext: {image.path}:{image.line}: no rendered image matches; not filled")
            continue
        for node in targets:
            node["alt"] = "" if decision.decorative else decision.alt
        filled.add(image_key(image))
    return filled


def _build_finished(app: Sphinx, state: _State) -> None:
    if state.filled_images:
        log.info(
            f"alttext: filled alt text for {state.filled_images} image(s) in {state.filled_pages} page(s) "
            "(sources unchanged)"
        )
    if state.cache is not None and state.models is not None:
        state.cache.flush()  # keep what the models wrote for the next build and `alttext fix`
    if isinstance(state.provider, FileDecisions):
        state.provider.unmatched(state.scanned)
        for problem in state.provider.problems:
            if problem.path is None or problem.path in state.scanned:
                log.warning(f"alttext: {problem}", type="alttext", subtype="decisions")
    if state.models is not None:
        state.models.close()
        state.models = None
    state.provider = None
