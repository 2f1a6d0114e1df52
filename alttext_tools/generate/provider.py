"""`ModelProvider`: the generation run. Images that need alt text in, `Decision`s out: read and
deduplicate, answer from the cache or an SVG's title, else decode, route, prompt, generate and
clean. How a run flows and fails: docs/generation.md."""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from alttext_tools.cache.key import CachedAlt, GenerationCache, generation_key_for
from alttext_tools.check.rules import RuleSettings, judge_alt, strip_redundant_prefix
from alttext_tools.config import ROUTER_MODES, Config, is_router_mode
from alttext_tools.core import Decision, ImageKey, ImageRef, image_key, image_role, is_functional
from alttext_tools.engines.base import Engine, EngineSettings, Generation
from alttext_tools.errors import GenerationError, ModelUnusableError
from alttext_tools.generate.postprocess import clean_alt, fit_length
from alttext_tools.generate.progress import WORKER_PREFIX, Progress, discard_line, is_terminal, timing_line
from alttext_tools.generate.prompts import PROMPT_VERSION, answer_token_budget, build_prompt
from alttext_tools.generate.records import (
    CACHED,
    DEDUPLICATED,
    FAIL_IMAGE,
    FAIL_NO_MODEL,
    FAIL_SVG,
    FAIL_TOO_LARGE,
    FAILED,
    GENERATED,
    SVG_TITLE,
    TRANSLATED,
    DescribeError,
    ImageFailed,
    ImageRead,
    ImageRecord,
    Outcome,
    to_ms,
)
from alttext_tools.generate.translate import primary_language, translation_prompt, translation_version
from alttext_tools.images.decode import DEFAULT_MAX_PIXELS, load_image
from alttext_tools.images.errors import ImageError, ImageTooLargeError, shorten_src
from alttext_tools.images.reader import ImageReader
from alttext_tools.images.resize import QWEN_DEFAULT_TOKEN_BUDGET, png_for_model, preset_for_handler
from alttext_tools.images.resolve import content_hash
from alttext_tools.images.svg import looks_like_svg, svg_text_alternative
from alttext_tools.models.slots import NoModelError, Slots, resolve_slots
from alttext_tools.models.spec import SLOTS, ModelSpec, VisionModel
from alttext_tools.text import language_key, normalize_alt, normalize_language, one_line

if TYPE_CHECKING:
    from PIL import Image

    from alttext_tools.engines.llama import LocalEngine
    from alttext_tools.generate.router import RouteDecision

logger = logging.getLogger(__name__)

# Image tokens a dynamic-resolution model (Qwen2.5-VL) gets for a photo: 256 tokens are 448x448
# pixels, enough to say what a photo shows; text-heavy images get the engine's image_max_tokens,
# to read small print (benchmarks/levers.py measures both).
PHOTO_IMAGE_TOKENS = 256


def models_for(config: Config) -> tuple[Slots, Engine | None]:
    """The models `config` names, as (slots, engine): local GGUF files or presets (engine None:
    ModelProvider makes its own lazy llama.cpp engine), or with `backend = "openai"` a server's
    model ids and the client that talks to it. Raises ModelSetupError, one line."""
    if config.backend == "openai":
        from alttext_tools.engines.openai import server_engine, server_slots

        return server_slots(config), server_engine(config)
    return resolve_slots(config), None


# --- provider ------------------------------------------------------------------------------------


class LazyLocalEngine:
    """An `Engine` that creates its LocalEngine on first use, so a run answered from the cache
    never imports llama.cpp (~0.4 s) nor spends anything on it."""

    concurrency = 1  # one in-process model: images go through it one at a time

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self._engine: LocalEngine | None = None

    def _get(self) -> LocalEngine:
        if self._engine is None:
            from alttext_tools.engines.llama import LocalEngine

            self._engine = LocalEngine(self.settings)
        return self._engine

    @property
    def image_max_tokens(self) -> int | None:
        return self.settings.image_max_tokens

    @property
    def load_counts(self) -> Mapping[str, int]:
        return self._engine.load_counts if self._engine is not None else {}

    @property
    def loaded_models(self) -> list[str]:
        return self._engine.loaded_models if self._engine is not None else []

    def load(self, spec: ModelSpec) -> float:
        """LocalEngine.load: load `spec` now; seconds spent."""
        return self._get().load(spec)

    def prepare(self, model: VisionModel) -> None:
        self._get().prepare(model)

    def generate(
        self,
        model: VisionModel,
        image_png: bytes,
        system: str,
        user: str,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Generation:
        return self._get().generate(model, image_png, system, user, json_schema, max_tokens)

    def complete_text(self, model: VisionModel, system: str, user: str) -> Generation:
        return self._get().complete_text(model, system, user)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


class ModelProvider:
    """A core.Provider that writes alt text with vision models (see docs/generation.md).

    One instance is one run: its engine loads each model at most once, deduplication and broken
    slots span every `decide()` call, and `records` / `problems` / `summary()` cover them all.
    `log` receives one-line messages: warnings always (also kept in `warnings`), per-image route
    and timing lines only when `verbose`.
    """

    def __init__(
        self,
        slots: Slots,
        *,
        project_root: Path,
        site_root: Path,
        router_mode: str,
        language: str | None,
        allow_remote: bool,
        max_length: int,
        engine_settings: EngineSettings | None = None,
        progress: bool = False,
        log: Callable[[str], None] = discard_line,
        verbose: bool = False,
        cache: GenerationCache | None = None,
        json_output: bool = True,
        engine: Engine | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        rules: RuleSettings | None = None,
        photo_image_tokens: int | None = None,
        decode_ahead: bool = True,
        translate: bool = True,
        primary_language: str | None = "en",
    ) -> None:
        """`engine`: default a LazyLocalEngine(engine_settings); the provider closes it.
        `max_pixels`: decoded images larger than this fail. `rules`: the settings `check` judges
        alt text with (default: the defaults with `max_length`); no alt that breaks them is kept.
        `photo_image_tokens`: image tokens for a photo on a dynamic-resolution model (default
        PHOTO_IMAGE_TOKENS, never more than the engine's image_max_tokens). `decode_ahead`: with
        an engine that takes one image at a time, read, decode and route the next image on a
        helper thread while the model describes the current one.
        `translate`: an image on pages in several languages is described once, in its primary
        language (`primary_language`, the site's default, when it appears in it), and translated
        into the others by a text-only call; False describes every language from the image."""
        if not is_router_mode(router_mode):
            raise ValueError(f"unknown router mode {router_mode!r}; expected one of {', '.join(ROUTER_MODES)}")
        if max_length < 1:
            raise ValueError(f"max_length must be positive, not {max_length}")
        if not slots.available:
            raise NoModelError("no model available")
        self.slots = slots
        self.project_root = Path(project_root)
        self.site_root = Path(site_root)
        self.router_mode = router_mode
        self.language = normalize_language(language)
        self.allow_remote = allow_remote
        self.max_length = max_length
        self.progress = progress
        self.log = log
        self.verbose = verbose
        self.cache = cache
        self.json_output = json_output
        self.max_pixels = max_pixels
        self.rules = rules if rules is not None else RuleSettings(max_length=max_length)
        self.translate = translate
        self.primary_language = language_key(primary_language)
        self.engine: Engine = engine if engine is not None else LazyLocalEngine(engine_settings)
        self._qwen_budget = self.engine.image_max_tokens or QWEN_DEFAULT_TOKEN_BUDGET
        self._photo_budget = min(photo_image_tokens or PHOTO_IMAGE_TOKENS, self._qwen_budget)
        # Images in flight at once: only engines that take concurrent requests get more than one.
        self.concurrency = max(1, self.engine.concurrency)
        self._reader = ImageReader(self.project_root, self.site_root, allow_remote)
        self._lock = threading.RLock()  # warnings, broken slots, cache calls: shared by workers
        self._deferred: list[str] = []  # log lines from worker threads, printed by the main thread

        self.records: list[ImageRecord] = []
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self._shared: dict[tuple[str, str, str], Outcome] = {}
        self._svg_texts: dict[str, str | None] = {}  # sha256 -> text alternative: one parse per SVG per run
        self.decode_ahead = decode_ahead
        self.decoded_ahead = 0  # images decoded and routed ahead that were then used
        self._ahead: dict[ImageKey, Future[tuple[str, Image.Image, RouteDecision] | None]] = {}
        self._ahead_pool: ThreadPoolExecutor | None = None
        self._broken: dict[str, str] = {}  # model_id -> reason
        # Describe once, translate: (sha256, role) -> the first occurrence in each language key,
        # filled before a run's images are decided; the primary language chosen for each; and the
        # primary-language alt each translation starts from, computed once.
        self._occurrences: dict[tuple[str, str], dict[str, ImageRef]] = {}
        self._primaries: dict[tuple[str, str], str | None] = {}
        self._sources: dict[tuple[str, str, str], _Source] = {}
        self._seconds = 0.0
        self._announced = False
        self._warned_forced = False

    # context manager -------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: Config, slots: Slots, **options: Any) -> ModelProvider:
        """A provider for `slots` (see `models_for`) with the project settings of `config`;
        `options` add to or override them (a forced router mode, the cache, logging...)."""
        try:
            rules = RuleSettings.for_config(config)
        except ValueError:  # an unknown rule in `disable`: the commands that check report it
            rules = RuleSettings(max_length=config.max_length)
        settings: dict[str, Any] = {
            "project_root": config.root,
            "site_root": config.site_root_path(),
            "router_mode": config.router,
            "language": config.language,
            "translate": config.translate,
            "primary_language": config.primary_language,
            "allow_remote": config.allow_remote,
            "max_length": config.max_length,
            "rules": rules,
            "photo_image_tokens": config.photo_image_tokens,
        }
        return cls(slots, **{**settings, **options})

    def __enter__(self) -> ModelProvider:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.engine.close()

    def warm(self) -> None:
        """Load (LocalEngine) or look up (a server's model list) every slot's model now, for a
        long-lived service. A model that turns out unusable is marked so, as during a run, and
        warned about; NoModelError when no model is left."""
        for spec in self.slots.available.values():
            try:
                self.engine.prepare(spec)
            except ModelUnusableError as err:
                self._mark_broken(spec, err)
        with self._lock:
            if all(spec.model_id in self._broken for spec in self.slots.available.values()):
                raise NoModelError("no usable model: " + "; ".join(dict.fromkeys(self._broken.values())))

    # reporting -------------------------------------------------------------------------------

    def _warn(self, line: str) -> None:
        line = one_line(line)
        with self._lock:
            self.warnings.append(line)
            if threading.current_thread().name.startswith(WORKER_PREFIX):
                self._deferred.append(f"warning: {line}")  # the main thread prints it between bar redraws
            else:
                self.log(f"warning: {line}")

    def _flush_deferred(self, bar: Progress | None) -> None:
        with self._lock:
            lines, self._deferred = self._deferred, []
        for line in lines:
            if bar is not None:
                bar.clear()
            self.log(line)
        if lines and bar is not None:
            bar.draw()

    def summary(self) -> dict[str, Any]:
        counts = {status: 0 for status in (GENERATED, TRANSLATED, CACHED, DEDUPLICATED, SVG_TITLE, FAILED)}
        routes: dict[str, int] = {slot: 0 for slot in SLOTS}
        for record in self.records:
            counts[record.status] += 1
            if record.route is not None and record.status != FAILED:
                routes[record.route] += 1
        return {
            "images": len(self.records),
            "generated": counts[GENERATED],
            "translated": counts[TRANSLATED],
            "from_cache": counts[CACHED],
            "deduplicated": counts[DEDUPLICATED],
            "svg_title": counts[SVG_TITLE],
            "failed": counts[FAILED],
            "routes": routes,
            "model_loads": dict(self.engine.load_counts),
            "seconds": round(self._seconds, 3),
        }

    # the Provider interface ------------------------------------------------------------------

    def decide(self, images: Sequence[ImageRef]) -> dict[ImageKey, Decision]:
        started = time.perf_counter()
        if images and not self._announced:
            self._announced = True
            available = self.slots.available
            for slot, reason in self.slots.reasons.items():
                other = next(iter(available.values()))
                self._warn(f"{reason}; {slot} images use {other.name} instead")
        bar = Progress(len(images), sys.stderr) if self.progress and images and is_terminal(sys.stderr) else None
        decisions: dict[ImageKey, Decision] = {}
        if self.translate and self.language is None:
            self._note_languages(images)

        def done(image: ImageRef, record: ImageRecord, decision: Decision | None) -> None:
            self.records.append(record)
            if record.status == FAILED:
                self.problems.append(record.problem())
            elif decision is not None:
                decisions[image_key(image)] = decision

        try:
            if bar is not None:
                bar.draw()
            if self.concurrency > 1 and len(images) > 1:
                for image, (record, decision) in zip(images, self._concurrently(images, bar)):
                    done(image, record, decision)
            else:
                for index, image in enumerate(images):
                    # Only once a model is in use: a run the cache answers reads each image once.
                    if self.decode_ahead and index + 1 < len(images) and self.engine.load_counts:
                        self._start_decoding(images[index + 1])
                    record, decision = self._one(image, bar)
                    self._ahead.pop(image_key(image), None)  # not used: a duplicate, a cache hit, a failure
                    done(image, record, decision)
                    if bar is not None:
                        bar.done += 1
                        bar.draw()
        finally:
            self._stop_decoding()
            if bar is not None:
                bar.clear()
            self._seconds += time.perf_counter() - started
        return decisions

    def describe(self, image: ImageRef, data: bytes) -> tuple[ImageRecord, Decision]:
        """Alt text for one image given as bytes (`alttext serve`): the same decode, routing,
        prompt, cache and cleaning as decide(), but no src to resolve, no deduplication, and
        nothing kept (records, problems). Safe to call from several threads when the engine is.
        Raises DescribeError."""
        record = ImageRecord(image.path, image.line, image.column, image.src)
        started = time.perf_counter()
        lang, role = self._language_and_role(image, record)
        read = ImageRead(content_hash(data), role, lang, 0.0, loaded=data)
        try:
            decision = self._first(image, record, read, None)
        except ImageFailed as failed:
            record.status, record.error = FAILED, failed.reason
            raise DescribeError(failed.reason, failed.kind, record) from None
        finally:
            record.total_ms = to_ms(time.perf_counter() - started)
        return record, decision

    # concurrent generation ---------------------------------------------------------------

    def _concurrently(
        self, images: Sequence[ImageRef], bar: Progress | None
    ) -> list[tuple[ImageRecord, Decision | None]]:
        """decide() for an engine that takes concurrent requests: results in input order.

        The main thread reads each image and deduplicates in input order (so "first occurrence"
        means the same as in a serial run), submits first occurrences to a pool while keeping at
        most 2 x concurrency of them (with their bytes) in memory, and draws progress; duplicates
        are settled once their first occurrence is done. Workers log nothing themselves.
        """
        results: list[tuple[ImageRecord, Decision | None] | None] = [None] * len(images)
        pending: dict[Future[tuple[ImageRecord, Decision | None]], int] = {}
        # Duplicates of images still in flight, with their own reading time (not the wait).
        waiting: list[tuple[int, ImageRecord, Outcome, float]] = []

        def reuse(index: int, shared: Outcome, record: ImageRecord) -> Callable[[], Decision | None]:
            return functools.partial(self._reuse, images[index], shared, record)

        def finish(index: int, record: ImageRecord, decision: Decision | None) -> None:
            results[index] = (record, decision)
            self._flush_deferred(bar)
            self._report(record, bar)
            if bar is not None:
                bar.done += 1
                bar.draw()

        def settle_duplicates() -> None:
            still: list[tuple[int, ImageRecord, Outcome, float]] = []
            for index, record, shared, read_s in waiting:
                if not shared.done:
                    still.append((index, record, shared, read_s))
                    continue
                began = time.perf_counter() - read_s
                finish(index, record, self._settle(record, began, reuse(index, shared, record)))
            waiting[:] = still

        def collect(block: bool) -> None:
            if not pending:
                return
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED, timeout=None if block else 0)
            for future in finished:
                index = pending.pop(future)
                record, decision = future.result()  # _job never raises
                finish(index, record, decision)
            settle_duplicates()

        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=WORKER_PREFIX)
        try:
            for index, image in enumerate(images):
                record = ImageRecord(image.path, image.line, image.column, image.src)
                began = time.perf_counter()
                try:
                    read = self._read(image, record)
                except Exception as err:  # ImageFailed, or a bug: one image
                    finish(index, record, self._settle(record, began, _raiser(err)))
                    continue
                shared = self._shared.get(read.key)
                if shared is not None:
                    if shared.done:
                        finish(index, record, self._settle(record, began, reuse(index, shared, record)))
                    else:
                        waiting.append((index, record, shared, read.read_s))
                    continue
                outcome = Outcome(record, None, done=False)
                self._shared[read.key] = outcome
                pending[pool.submit(self._job, image, record, read, outcome)] = index
                while len(pending) >= 2 * self.concurrency:
                    collect(block=True)
                collect(block=False)
            while pending:
                collect(block=True)
        except BaseException:  # Ctrl+C: do not start the queued requests, do not wait for them
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        settle_duplicates()
        self._flush_deferred(bar)
        assert not waiting
        return [result for result in results if result is not None]

    def _job(
        self, image: ImageRef, record: ImageRecord, read: ImageRead, outcome: Outcome
    ) -> tuple[ImageRecord, Decision | None]:
        """Worker thread: generate a first occurrence. Never raises."""
        began = time.perf_counter() - read.read_s
        try:
            outcome.decision = self._settle(record, began, lambda: self._first(image, record, read, None))
        finally:
            outcome.done = True
        return record, outcome.decision

    def _settle(self, record: ImageRecord, began: float, work: Callable[[], Decision | None]) -> Decision | None:
        """Run `work` for one image; a failure becomes the record's status and error."""
        decision: Decision | None = None
        try:
            decision = work()
        except ImageFailed as failed:
            record.status, record.error = FAILED, failed.reason
        except Exception as err:  # a bug must cost one image, not the run
            logger.exception("unexpected error while generating alt for %s", record.where)
            record.status, record.error = FAILED, f"internal error: {type(err).__name__}: {one_line(str(err))}"
        record.total_ms = to_ms(time.perf_counter() - began)
        return decision

    def _report(self, record: ImageRecord, bar: Progress | None) -> None:
        """The per-image verbose line, and the model shown on the progress bar (main thread)."""
        if bar is not None and record.route is not None and record.status not in (FAILED, DEDUPLICATED):
            spec = self.slots.get(record.route)
            if spec is not None:
                bar.model = spec.name
        if record.status == DEDUPLICATED:
            self._say(
                bar,
                f"{record.where}: {shorten_src(record.src or '')}: same image as {record.duplicate_of}, result reused",
            )
        elif record.status != FAILED:
            self._say(bar, timing_line(record))

    # one image -------------------------------------------------------------------------------

    def _say(self, bar: Progress | None, line: str) -> None:
        if not self.verbose:
            return
        if bar is not None:
            bar.clear()
        self.log(line)
        if bar is not None:
            bar.draw()

    def _one(self, image: ImageRef, bar: Progress | None) -> tuple[ImageRecord, Decision | None]:
        record = ImageRecord(image.path, image.line, image.column, image.src)
        decision = self._settle(record, time.perf_counter(), lambda: self._describe(image, record, bar))
        self._report(record, bar)
        return record, decision

    def _read(self, image: ImageRef, record: ImageRecord) -> ImageRead:
        """Resolve and read the image's bytes (no decoding): raises ImageFailed. Each file is
        resolved, read and hashed once per run while it is unchanged (images.reader)."""
        started = time.perf_counter()
        src = image.src
        if not src or not src.strip():
            raise ImageFailed(
                "the image has no src to describe (inline SVG or role=img element): write its text alternative by hand"
            )
        lang, role = self._language_and_role(image, record)
        try:
            found = self._reader.read(src, Path(image.path))
        except ImageError as err:
            raise ImageFailed(err.reason, FAIL_IMAGE) from None
        reread = functools.partial(self._reader.data, found)
        return ImageRead(found.sha256, role, lang, time.perf_counter() - started, loaded=found.data, reread=reread)

    def _language_and_role(self, image: ImageRef, record: ImageRecord) -> tuple[str | None, str]:
        """The language the alt is written in (the run's, else the page's) and the image's role,
        noted on its record."""
        record.language = self.language or normalize_language(image.context.lang)
        record.role = image_role(image)
        return record.language, record.role

    def _describe(self, image: ImageRef, record: ImageRecord, bar: Progress | None) -> Decision | None:
        read = self._read(image, record)
        shared = self._shared.get(read.key)
        if shared is not None:
            return self._reuse(image, shared, record)
        outcome = Outcome(record, None)
        self._shared[read.key] = outcome
        outcome.decision = self._first(image, record, read, bar)
        return outcome.decision

    def _reuse(self, image: ImageRef, shared: Outcome, record: ImageRecord) -> Decision | None:
        first = shared.first
        record.duplicate_of = first.where
        for name in ("route", "kind", "score", "model_id", "alt", "decorative", "json_mode"):
            setattr(record, name, getattr(first, name))
        if first.status == FAILED or shared.decision is None:
            raise ImageFailed(f"{first.error} (same image as {first.where})")
        decision, broken = self._judge(image, shared.decision)
        if broken is not None:  # fits the first occurrence's context, not this one's
            raise ImageFailed(f"the alt text written for the same image at {first.where} {broken} here")
        record.status, record.alt = DEDUPLICATED, None if decision.decorative else decision.alt
        return decision

    def _first(self, image: ImageRef, record: ImageRecord, read: ImageRead, bar: Progress | None = None) -> Decision:
        """The alt of a first occurrence (of its image bytes, role and language). May run on a
        worker thread (bar is None there): shared state goes through self._lock."""
        primary = self._primary_for(read)
        if primary is None:
            return self._from_image(image, record, read, bar)
        if (language_key(read.lang) or "") == primary:
            return self._primary_alt(image, record, read, primary, bar)
        return self._translated(image, record, read, primary, bar)

    def _from_image(self, image: ImageRef, record: ImageRecord, read: ImageRead, bar: Progress | None) -> Decision:
        """Decode, route, prompt, generate and clean: the alt described from the image's pixels."""
        src = image.src or ""
        digest, role, lang = read.digest, read.role, read.lang
        decode_started = time.perf_counter() - read.read_s
        cached = self._cached_for_any_route(image, digest, lang, role, record)
        if cached is not None:
            return cached
        if digest in self._svg_texts:  # the same SVG in another language or role: not read again
            return self._svg(image, read, src, record)
        ahead = self._decoded_ahead(image, digest)
        data = read.data
        try:
            if ahead is None and looks_like_svg(data):
                return self._svg(image, read, src, record)
            img = ahead[0] if ahead is not None else load_image(data, max_pixels=self.max_pixels, src=src)
        except ImageTooLargeError as err:
            raise ImageFailed(err.reason, FAIL_TOO_LARGE) from None
        except ImageError as err:
            raise ImageFailed(err.reason, FAIL_IMAGE) from None
        record.decode_ms = to_ms(time.perf_counter() - decode_started)

        route_started = time.perf_counter()
        from alttext_tools.generate.router import classify

        verdict = ahead[1] if ahead is not None else classify(img)
        record.kind, record.score = verdict.kind, verdict.score
        record.route_ms = to_ms(time.perf_counter() - route_started)

        prepared: dict[str, bytes] = {}
        tried: list[str] = []  # slots that gave up on this image (unusable model, degenerate answers)
        degenerate: str | None = None  # the last degenerate answer, when that is why slots ran out
        hint: str | None = None  # why the previous answer was rejected; asked once per image
        while True:
            slot = self._choose(verdict, tried, degenerate)
            spec = self.slots.available[slot]
            record.route, record.model_id = slot, spec.model_id
            if bar is not None and bar.model != spec.name:
                bar.model = spec.name  # show the model at work during a long generation
                bar.draw()
            cache_key = None
            if self.cache is not None:
                cache_key = generation_key_for(digest, spec.model_id, lang, role, PROMPT_VERSION)
                with self._lock:
                    hit = self.cache.get(cache_key)
                if hit is not None:
                    cache_key = None  # a context-specific answer never replaces an entry
                    if hint is None:
                        decision, broken = self._judge(image, self._from_cache(hit, record, role))
                        if broken is None:
                            return decision
                        hint = f"the cached alt text {broken}"
                        record.status, record.alt, record.model_id = FAILED, None, spec.model_id

            prep_started = time.perf_counter()
            budget = self._qwen_budget if verdict.kind == "text" else self._photo_budget
            preset = preset_for_handler(spec.handler, qwen_token_budget=budget)
            if preset.name not in prepared:
                prepared[preset.name] = png_for_model(data, img, preset)
            record.decode_ms = round((record.decode_ms or 0.0) + (time.perf_counter() - prep_started) * 1000, 2)

            prompt = build_prompt(
                image,
                role,
                lang,
                spec.handler,
                self.max_length,
                text_heavy=verdict.kind == "text",
                json_output=self.json_output,
                hint=hint,
            )
            try:
                generation = self.engine.generate(
                    spec,
                    prepared[preset.name],
                    prompt.system,
                    prompt.user,
                    prompt.json_schema,
                    max_tokens=answer_token_budget(self.max_length, lang, json_output=prompt.json_schema is not None),
                )
            except ModelUnusableError as err:
                self._mark_broken(spec, err)
                tried.append(slot)
                continue  # the other slot, if it is still usable; else _choose fails the image
            except ImageError as err:
                raise ImageFailed(str(err), FAIL_IMAGE) from None
            except GenerationError as err:
                raise ImageFailed(str(err)) from None
            try:
                decision = self._decision(generation, record, role)
            except DegenerateAnswer as err:
                degenerate = str(err)  # the other slot, when it has another model
                tried += [other for other, model in self.slots.available.items() if model.model_id == spec.model_id]
                continue
            decision, broken = self._judge(image, decision)
            if broken is not None:
                record.status, record.alt = FAILED, None
                if hint is not None:
                    raise ImageFailed(f"{generation.model_id}: the answer {broken}, also when asked again")
                hint = f"the answer {broken}"
                continue  # the same model once more, told what was wrong
            record.status = GENERATED
            if self.cache is not None and cache_key is not None:
                with self._lock:
                    self.cache.put(
                        cache_key,
                        CachedAlt(
                            None if decision.decorative else decision.alt,
                            decision.decorative,
                            generation.model_id,
                            generation.handler,
                        ),
                    )
            return decision

    # decoding ahead ----------------------------------------------------------------------------

    def _start_decoding(self, image: ImageRef) -> None:
        """Read, decode and route `image` on a helper thread (PIL and llama.cpp both release the
        GIL). Only what the model would need: not an image the cache or an earlier occurrence
        answers, nor an SVG; any failure is left for `_first` to meet and report."""
        if not image.src or not image.src.strip():
            return
        if self._ahead_pool is None:
            self._ahead_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alttext-decode-ahead")
        self._ahead[image_key(image)] = self._ahead_pool.submit(self._decode_for_later, image)

    def _decode_for_later(self, image: ImageRef) -> tuple[str, Image.Image, RouteDecision] | None:
        from alttext_tools.generate.router import classify

        try:
            found = self._reader.read(image.src or "", Path(image.path))
            lang, role = self.language or normalize_language(image.context.lang), image_role(image)
            here = (image.path, image.line, image.column)
            with self._lock:
                if any(
                    key[0] == found.sha256 and (shared.first.path, shared.first.line, shared.first.column) != here
                    for key, shared in self._shared.items()
                ):
                    return None  # an earlier occurrence answers it
                if self.cache is not None and any(
                    self.cache.get(generation_key_for(found.sha256, spec.model_id, lang, role, PROMPT_VERSION))
                    for spec in self.slots.available.values()
                ):
                    return None
            data = self._reader.data(found)
            if looks_like_svg(data):
                return None
            img = load_image(data, max_pixels=self.max_pixels, src=image.src or "")
            return found.sha256, img, classify(img)
        except Exception:  # `_first` decodes the image again and reports what is wrong
            return None

    def _decoded_ahead(self, image: ImageRef, digest: str) -> tuple[Image.Image, RouteDecision] | None:
        """The pixels and route of `image` if the helper thread decoded them (waiting for it)."""
        future = self._ahead.pop(image_key(image), None)
        done = future.result() if future is not None else None
        if done is None or done[0] != digest:  # the file changed since: decode what was hashed
            return None
        self.decoded_ahead += 1
        return done[1], done[2]

    def _stop_decoding(self) -> None:
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()
        if self._ahead_pool is not None:
            self._ahead_pool.shutdown(wait=True)
            self._ahead_pool = None

    # describe once, translate ----------------------------------------------------------------

    def _note_languages(self, images: Sequence[ImageRef]) -> None:
        """Before deciding: the first occurrence of each image bytes and role in each language,
        so that an image seen in several languages is described in one and translated. Pages in
        one language only need none of this (nor the extra read of each image it costs)."""
        languages = {language_key(self.language or image.context.lang) for image in images} - {None}
        if len(languages) < 2:
            return
        for image in images:
            if not image.src or not image.src.strip():
                continue
            try:
                read = self._read(image, ImageRecord(image.path, image.line, image.column, image.src))
            except ImageFailed:
                continue  # the image's own turn reports it
            found = self._occurrences.setdefault((read.digest, read.role), {})
            found.setdefault(language_key(read.lang) or "", image)

    def _primary_for(self, read: ImageRead) -> str | None:
        """The language key this image is described in when `read`'s language is to be translated
        from it; None to describe `read` from the image (translation off, one language, a page
        without a language). Languages count when the run shows the image in them, when a person
        reviewed its alt in them, or (the site's default) when the cache holds its alt there: a
        site built one language at a time translates from the default language's entries."""
        target = language_key(read.lang) or ""
        if not self.translate or self.language is not None or not target:
            return None
        group = (read.digest, read.role)
        with self._lock:
            if group in self._primaries:
                return self._primaries[group]
            languages = [lang for lang in self._occurrences.get(group, {}) if lang]
        preferred = self.primary_language
        reviewed = None
        if self.cache is not None:
            reviewed = self.cache.reviewed_language(read.digest, read.role)
            if preferred and preferred not in languages and self.cache.source(read.digest, preferred, read.role):
                languages.append(preferred)
        known = {*languages, target, language_key(reviewed) or ""} - {""}
        if len(known) < 2:
            return None
        primary = primary_language(languages or [target], preferred, reviewed)
        with self._lock:
            return self._primaries.setdefault(group, primary)

    def _primary_alt(
        self, image: ImageRef, record: ImageRecord, read: ImageRead, primary: str, bar: Progress | None
    ) -> Decision:
        """The alt of the image in its primary language, described from the image once per run:
        for an occurrence in that language (`record` is filled in) or as the source of a
        translation (`record` is left alone). Raises ImageFailed when it cannot be written."""
        key = (read.digest, read.role, primary)
        with self._lock:
            source = self._sources.setdefault(key, _Source())
        own = (language_key(read.lang) or "") == primary
        with source.lock:
            if source.record is None:
                ref = image if own else self._primary_ref(image, read, primary)
                first = record if own else ImageRecord(ref.path, ref.line, ref.column, ref.src)
                first_read = read
                if not own:
                    lang = normalize_language(ref.context.lang) or primary
                    first_read = ImageRead(read.digest, read.role, lang, 0.0, loaded=read.loaded, reread=read.reread)
                try:
                    source.decision = self._from_image(ref, first, first_read, bar)
                except ImageFailed as failed:
                    source.failure = failed
                    first.status, first.error = FAILED, failed.reason
                source.ref, source.record = ref, first
                if own:
                    return source.result()
        if not own:
            return source.result()
        assert source.ref is not None
        if image_key(source.ref) == image_key(image):  # described for a translation, from this very occurrence
            for name, value in source.record.to_dict().items():
                setattr(record, name, value)
            return source.result()
        reused = self._reuse(image, Outcome(source.record, source.decision), record)
        return reused if reused is not None else source.result()

    def _primary_ref(self, image: ImageRef, read: ImageRead, primary: str) -> ImageRef:
        """The occurrence the primary-language alt is described for: the run's first one in that
        language (its own page's context), else this one asked in that language."""
        with self._lock:
            found = self._occurrences.get((read.digest, read.role), {}).get(primary)
        if found is not None:
            return found
        return replace(image, context=replace(image.context, lang=primary))

    def _translator(self) -> tuple[str, VisionModel] | None:
        """The slot and model that translate: the text slot's (the stronger language model), else
        the fast one; a forced router mode names the only slot to use."""
        order = (self.router_mode,) if self.router_mode in SLOTS else ("text", "fast")
        with self._lock:
            for slot in order:
                spec = self.slots.available.get(slot)
                if spec is not None and spec.model_id not in self._broken:
                    return slot, spec
        return None

    def _translated(
        self, image: ImageRef, record: ImageRecord, read: ImageRead, primary: str, bar: Progress | None
    ) -> Decision:
        """The alt in `read`'s language translated from the primary language's alt by a text-only
        call (no image tokens), cached under a key derived from the source entry. Anything that
        keeps a translation from being usable describes the image in this language instead."""
        digest, role, lang = read.digest, read.role, read.lang
        cached = self._cached_for_any_route(image, digest, lang, role, record)
        if cached is not None:
            return cached
        try:
            source = self._primary_alt(image, record, read, primary, bar)
        except ImageFailed:
            return self._from_image(image, record, read, bar)
        stored = self.cache.source(digest, primary, role) if self.cache is not None else None
        source_key = stored.key if stored is not None else ""
        if source.decorative:
            record.status, record.decorative, record.translated_from = TRANSLATED, True, source_key or None
            return Decision.mark_decorative("model")
        translator = self._translator()
        if translator is None:
            return self._from_image(image, record, read, bar)
        slot, spec = translator
        human, updated = (stored.human, stored.updated) if stored is not None else (False, "")
        version = translation_version(source_key, source.alt, human, updated)
        cache_key = generation_key_for(digest, spec.model_id, lang, role, version)
        record.route, record.model_id = slot, spec.model_id
        if self.cache is not None:
            with self._lock:
                hit = self.cache.get(cache_key)
            if hit is not None:
                reused, problem = self._judge(image, self._from_cache(hit, record, role))
                if problem is None:
                    record.route, record.translated_from = slot, hit.translated_from or source_key or None
                    return reused
        prompt = translation_prompt(source.alt, primary, lang or "", image.context, role, self.max_length)
        try:
            generation = self.engine.complete_text(spec, prompt.system, prompt.user)
        except ModelUnusableError as err:
            self._mark_broken(spec, err)
            return self._from_image(image, record, read, bar)
        except GenerationError:
            return self._from_image(image, record, read, bar)
        clean = clean_alt(generation.text, max_length=self.max_length, json_mode=False)
        answer = _text_decision(clean.alt) if not (clean.degenerate or clean.decorative) else None
        broken: str | None = "no usable answer"
        if answer is not None:
            answer, broken = self._judge(image, answer)
        if answer is None or broken is not None:  # no usable translation: described from the image
            return self._from_image(image, record, read, bar)
        decision = answer
        record.status, record.alt, record.route, record.model_id = TRANSLATED, decision.alt, slot, spec.model_id
        record.translated_from = source_key or None
        record.json_mode = False
        record.load_ms = to_ms(generation.load_s) if generation.load_s else None
        record.encode_ms = to_ms(generation.encode_s)
        record.generate_ms = to_ms(generation.generate_s)
        if self.cache is not None:
            with self._lock:
                self.cache.put(
                    cache_key,
                    CachedAlt(
                        decision.alt, False, generation.model_id, generation.handler, translated_from=source_key or None
                    ),
                )
        return decision

    def _judge(self, image: ImageRef, decision: Decision) -> tuple[Decision, str | None]:
        """`decision` as it may be written for `image`: a redundant "Image of" stripped; and,
        when the alt text would still break one of `check`'s rules in the image's context (a file
        name, a placeholder, the link or paragraph text repeated...), what is wrong, naming the
        rule: `check` never reports an alt that generation wrote."""
        if decision.decorative:
            return decision, None
        alt = strip_redundant_prefix(decision.alt)
        if alt != decision.alt:
            try:
                decision = Decision.text(alt, decision.origin)
            except ValueError:
                return decision, f"{_show(decision.alt)} is only a prefix (redundant-prefix)"
        findings = judge_alt(image, decision.alt, self.rules)
        if not findings:
            return decision, None
        finding = findings[0]
        return decision, f"{_show(decision.alt)} breaks rule {finding.rule}: {finding.message}"

    def _cached_for_any_route(
        self, image: ImageRef, digest: str, lang: str | None, role: str, record: ImageRecord
    ) -> Decision | None:
        """A cache hit found before decoding: decoding and routing cost more than everything else
        in a fully cached run. Taken when the models that could be chosen all answer alike (a
        person's entry answers for every model), or when only one of them has an entry - the one
        the router chose when it was written. Different answers: decode and route as usual."""
        if self.cache is None:
            return None
        with self._lock:
            slots = {slot: spec for slot, spec in self.slots.available.items() if spec.model_id not in self._broken}
            if self.router_mode in slots:
                slots = {self.router_mode: slots[self.router_mode]}
            hits = {
                slot: hit
                for slot, spec in slots.items()
                if (hit := self.cache.get(generation_key_for(digest, spec.model_id, lang, role, PROMPT_VERSION)))
                is not None
            }
        answers = {(hit.alt, hit.decorative) for hit in hits.values()}
        if len(answers) != 1:
            return None
        slot, hit = next(iter(hits.items()))
        record.route, record.model_id = slot, slots[slot].model_id
        decision, broken = self._judge(image, self._from_cache(hit, record, role))
        if broken is not None:  # decode and route as usual: the chosen model is asked again
            record.status, record.alt, record.route, record.model_id = FAILED, None, None, None
            return None
        return decision

    def _svg(self, image: ImageRef, read: ImageRead, src: str, record: ImageRecord) -> Decision:
        """The SVG's own text alternative; each SVG is parsed once per run (its bytes are read
        only for that parse)."""
        if read.digest not in self._svg_texts:
            self._svg_texts[read.digest] = svg_text_alternative(read.data, src=src)
        text = self._svg_texts[read.digest]
        alt = fit_length(normalize_alt(text or ""), self.max_length)
        if not alt:
            raise ImageFailed(
                "SVG without <title> or <desc>: SVG images are not rasterised, write its alt by hand", FAIL_SVG
            )
        decision, broken = self._judge(image, Decision.text(alt, "svg-title"))
        if broken is not None:
            raise ImageFailed(f"the SVG's own <title>/<desc> {broken}: write its alt by hand", FAIL_SVG)
        record.status, record.alt = SVG_TITLE, decision.alt
        return decision

    def _choose(self, verdict: RouteDecision, tried: list[str], degenerate: str | None = None) -> str:
        """The slot for the next try; ImageFailed when none is left (`degenerate`: the last
        slot's answer was a loop or noise, which is then the reason)."""
        with self._lock:
            usable = {
                slot
                for slot, spec in self.slots.available.items()
                if spec.model_id not in self._broken and slot not in tried
            }
            if not usable and degenerate is not None:
                raise ImageFailed(degenerate)
            if not usable:
                reasons = "; ".join(dict.fromkeys(self._broken.values())) or "no model"
                raise ImageFailed(f"no usable model ({reasons})", FAIL_NO_MODEL)
            if self.router_mode != "auto" and self.router_mode not in usable and not self._warned_forced:
                self._warned_forced = True
                self._warn(
                    f"--router {self.router_mode}: the {self.router_mode} model is not available,"
                    f" using {next(iter(usable))}"
                )
            from alttext_tools.generate.router import choose_slot

            return choose_slot(verdict, usable, self.router_mode)

    def _mark_broken(self, spec: VisionModel, err: ModelUnusableError) -> None:
        with self._lock:
            if spec.model_id in self._broken:
                return
            self._broken[spec.model_id] = f"model {spec.name} is unusable: {err}"
            others = [s.name for s in self.slots.available.values() if s.model_id not in self._broken]
            then = f"; using {others[0]} for the rest of the run" if others else "; no other model to use"
            self._warn(f"model {spec.name} is unusable ({err}){then}")

    def _from_cache(self, hit: CachedAlt, record: ImageRecord, role: str) -> Decision:
        record.status, record.model_id = CACHED, hit.model_id
        if hit.decorative and not is_functional(role):
            record.decorative = True
            return Decision.mark_decorative("cache")
        try:
            decision = Decision.text(hit.alt or "", "cache")
        except ValueError:
            raise ImageFailed(f"the cached entry (by {hit.model_id}) has no alt text") from None
        record.alt = decision.alt
        return decision

    def _decision(self, generation: Generation, record: ImageRecord, role: str) -> Decision:
        """The model's answer as a Decision (not yet judged by the rules); ImageFailed when it
        has none, DegenerateAnswer when it is a loop or noise."""
        record.json_mode = generation.json_mode
        record.load_ms = to_ms(generation.load_s) if generation.load_s else None
        record.encode_ms = to_ms(generation.encode_s)
        record.generate_ms = to_ms(generation.generate_s)
        clean = clean_alt(generation.text, max_length=self.max_length, json_mode=generation.json_mode)
        if clean.degenerate:
            raise DegenerateAnswer(f"{generation.model_id}: {clean.reason}")
        record.decorative = clean.decorative and not is_functional(role)
        if record.decorative:
            return Decision.mark_decorative("model")
        if clean.alt:
            record.alt = clean.alt
            try:
                return Decision.text(clean.alt, "model")
            except ValueError as err:
                raise ImageFailed(f"{generation.model_id}: unusable answer: {err}") from None
        if clean.decorative:  # functional
            raise ImageFailed(
                f"{generation.model_id}: the model called an image inside a link/button decorative;"
                " it needs alt text naming the destination"
            )
        raise ImageFailed(f"{generation.model_id}: {clean.reason}")


@dataclass
class _Source:
    """The primary-language alt of one image and role, written once per run (a lock per image,
    so concurrent translations of it wait for one description)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ref: ImageRef | None = None  # the occurrence it was described for
    record: ImageRecord | None = None  # set once it is done
    decision: Decision | None = None
    failure: ImageFailed | None = None

    def result(self) -> Decision:
        if self.failure is not None:
            raise ImageFailed(self.failure.reason, self.failure.kind)
        assert self.decision is not None
        return self.decision


def _text_decision(alt: str | None) -> Decision | None:
    try:
        return Decision.text(alt or "", "model")
    except ValueError:
        return None


class DegenerateAnswer(ImageFailed):
    """The model answered with a loop or noise ("degenerate answer"): the other slot may do better."""


def _show(alt: str) -> str:
    return repr(alt if len(alt) <= 80 else alt[:77] + "...")


def _raiser(err: Exception) -> Callable[[], Decision | None]:
    def work() -> Decision | None:
        raise err

    return work
