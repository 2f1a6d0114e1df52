"""What a generation run shows on the terminal: the progress line and the per-image timing line."""

from __future__ import annotations

import time
from typing import TextIO

from alttext_tools.generate.records import CACHED, SVG_TITLE, TRANSLATED, ImageRecord
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

    if record.status == TRANSLATED:
        return (
            f"{where}: translated into {record.language} by {record.model_id}, text only;"
            f" prompt {ms(record.encode_ms)}, generate {ms(record.generate_ms)}"
        )
    timings = f"decode {ms(record.decode_ms)}, encode {ms(record.encode_ms)}, generate {ms(record.generate_ms)}"
    if record.load_ms:
        timings += f", model load {ms(record.load_ms)}"
    if record.status == CACHED:
        timings = "from cache"
    return f"{where}: {route} -> {record.model_id}; {timings}"
