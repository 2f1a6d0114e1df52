"""The generation pipeline: images that need alt text in, `Decision`s out, through local models.

    slots = resolve_slots(config)                  # which models, from presets or local files
    with ModelProvider(slots, project_root=..., site_root=..., router_mode="auto", ...) as provider:
        decisions = provider.decide(images)        # decisions.Provider
        provider.problems, provider.records, provider.summary()

Per image: resolve the src safely (project-root boundary, site root, remote only when allowed) ->
read the bytes -> deduplicate (same bytes, same role, same language: generated once per run) ->
SVG: its <title>/<desc>, no model -> decode with Pillow once -> route (router.classify +
choose_slot) -> downscale/PNG for the chosen handler -> prompt (prompts.build_prompt) -> ONE
LocalEngine for the whole run (each model loads lazily, once) -> postprocess.clean_alt ->
Decision. Every failure is about one image: it becomes a record with status "failed" and a
one-line entry in `problems`, and the run goes on. A model whose files turn out to be broken
(ModelFileError) is not retried for every image: its slot is marked broken for the rest of the
run and images go to the other slot when there is one.

The engine is a LocalEngine by default (one in-process model at a time: images go through it one
by one). An engine with a `concurrency` attribute above 1 (openai_backend.OpenAIEngine, a server)
gets that many distinct images in flight: reading and deduplication stay serial and in order, a
thread pool runs decode -> route -> prompt -> generate -> clean for first occurrences, and
records keep the input order.

Alt text caching across runs belongs to the cache issue; `cache` (a `GenerationCache`, keyed by
`GenerationKey`: image sha256, model id, PROMPT_VERSION, language, role) is the hook it plugs into.
"""

from __future__ import annotations

import time
from typing import TextIO

from alttext_tools.generate.records import CACHED, SVG_TITLE, ImageRecord
from alttext_tools.images.errors import shorten_src

# --- progress ------------------------------------------------------------------------------------

WORKER_PREFIX = "alttext-generate"  # name prefix of the generation worker threads


class Progress:
    """`\\r`-redrawn status line on a terminal: images done/total, model, seconds per image."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.started = time.perf_counter()
        self.width = 0
        self.model = ""
        self.done = 0

    def draw(self) -> None:
        elapsed = time.perf_counter() - self.started
        rate = f"{elapsed / self.done:.1f} s/image" if self.done else ""
        bar_len = 20
        filled = bar_len * self.done // max(self.total, 1)
        text = f"alt text [{'#' * filled}{'.' * (bar_len - filled)}] {self.done}/{self.total}"
        if self.model:
            text += f"  {self.model}"
        if rate:
            text += f"  {rate}"
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def discard_line(_line: str) -> None:
    return None


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def timing_line(record: ImageRecord) -> str:
    where = f"{record.where}: {shorten_src(record.src or '')}"
    if record.status == SVG_TITLE:
        return f"{where}: SVG <title>/<desc> used, no model"
    route = (
        f"route {record.route} ({record.kind}, score {record.score:.2f})"
        if record.score is not None
        else f"route {record.route}"
    )

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    timings = f"decode {ms(record.decode_ms)}, encode {ms(record.encode_ms)}, generate {ms(record.generate_ms)}"
    if record.load_ms:
        timings += f", model load {ms(record.load_ms)}"
    if record.status == CACHED:
        timings = "from cache"
    return f"{where}: {route} -> {record.model_id}; {timings}"
