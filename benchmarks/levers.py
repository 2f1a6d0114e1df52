"""Seconds per image for each first-run lever, before and after, on the real-size twins
(twin-measured: random weights at the real shapes, so the time is real and the words are not).

    python benchmarks/levers.py [--twins PATH/twins.py] [--images N] [--qwen]

Every row runs LocalEngine.generate on the same images with the prompts alttext builds, the
output pinned at PINNED_TOKENS tokens (the twins never stop on their own; `max_tokens` stops
them), except the rows that measure the answer budget itself. "today" is the defaults before
the levers: the `w3c-tree-1` instructions (read from git: BEFORE_LEVERS), prefix cache off, f16.
Rows with the same model and settings share one engine: one load and one warm-up image (not
counted: the first call pages the weights in), then N images per row. The table shows means:
total seconds per image, prompt seconds (vision encode + prompt evaluation), generation seconds,
tokens per second, prompt tokens reused from the KV cache. Timings on a shared machine are
noisy: compare rows of one run, never across runs. The levers: docs/engines.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from alttext_tools.core import ImageRef
from alttext_tools.engines.base import EngineSettings, Generation, physical_cores
from alttext_tools.engines.llama import LocalEngine
from alttext_tools.generate import prompts
from alttext_tools.generate.provider import PHOTO_IMAGE_TOKENS
from alttext_tools.generate.router import classify
from alttext_tools.images.decode import load_image
from alttext_tools.images.resize import png_for_model, preset_for_handler
from alttext_tools.models.spec import ModelSpec
from alttext_tools.scan.dispatch import scan_file

ROUTER = REPO_ROOT / "fixtures" / "router"
# Photos and screenshots, scaled up to what a site serves (a 12 MP camera photo, a 1600 px screenshot).
IMAGES = (
    ("photo/gen_landscape_02.png", (4000, 3000), "JPEG"),
    ("text/gen_table_00.png", (1600, 1000), "PNG"),
    ("photo/gen_gradient_00.png", (2400, 1600), "JPEG"),
    ("text/gen_ui_01.png", (1440, 900), "PNG"),
)
PAGE = "# Our offsite\n\nThe team spent three days in the mountains planning the next release.\n\n"
MAX_LENGTH = 150


def load_twins(path: Path) -> ModuleType:
    """benchmarks/twins.py, from this checkout or another one; its sys.path entries are undone so
    that `alttext_tools` stays this checkout's (already imported above)."""
    saved = list(sys.path)
    spec = importlib.util.spec_from_file_location("twins", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules["twins"] = module
    spec.loader.exec_module(module)
    sys.path[:] = saved
    return module


# The last commit with the defaults before the levers ("today" in the table): the w3c-tree-1
# instructions, a 120-token answer cap, no prefix cache, Qwen photos at 1024 image tokens.
BEFORE_LEVERS = "3f579c3^"


def old_prompts() -> ModuleType | None:
    """generate/prompts.py as it was before the levers, or None outside a git checkout."""
    try:
        source = subprocess.run(
            ["git", "show", f"{BEFORE_LEVERS}:alttext_tools/generate/prompts.py"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = ModuleType("prompts_main")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{BEFORE_LEVERS}:alttext_tools/generate/prompts.py", "exec"), module.__dict__)
    return module


@dataclass
class Image:
    ref: ImageRef
    data: bytes
    kind: str
    prepare_s: float  # decode + route + resize: what overlap can hide behind generation


def site_images(folder: Path) -> list[Image]:
    from PIL import Image as PILImage

    lines = [PAGE]
    for index, (source, size, fmt) in enumerate(IMAGES):
        name = f"img{index}.{'jpg' if fmt == 'JPEG' else 'png'}"
        PILImage.open(ROUTER / source).convert("RGB").resize(size).save(folder / name, fmt, quality=90)
        lines.append(f"Figure {index}: ![]({name})\n\n")
    (folder / "page.md").write_text("".join(lines), encoding="utf-8")
    refs = scan_file(folder / "page.md", "page.md").images
    images = []
    for ref in refs:
        data = (folder / (ref.src or "")).read_bytes()
        started = time.perf_counter()
        img = load_image(data)
        kind = classify(img).kind
        png_for_model(data, img, preset_for_handler("moondream"))
        images.append(Image(ref, data, kind, time.perf_counter() - started))
    return images


@dataclass(frozen=True)
class Row:
    lever: str
    setting: str
    spec: ModelSpec
    settings: EngineSettings
    prompt_module: Any = prompts
    json_output: bool = True
    max_tokens: int | None = None  # answer tokens per request (None: pinned at PINNED_TOKENS)
    photo_tokens: int | None = None  # Qwen: image tokens for photos (None: image_max_tokens)
    late: bool = False  # run after every other row (the long unpinned answers)


@dataclass
class Result:
    row: Row
    load_s: float
    seconds: list[float]
    prompt_s: list[float]
    generate_s: list[float]
    tokens: list[int]
    reused: int


def request(engine: LocalEngine, row: Row, image: Image, pinned: int) -> Generation:
    budget = row.settings.image_max_tokens or 1024
    if image.kind != "text" and row.photo_tokens:
        budget = min(budget, row.photo_tokens)
    preset = preset_for_handler(row.spec.handler, qwen_token_budget=budget)
    png = png_for_model(image.data, load_image(image.data), preset)
    prompt = row.prompt_module.build_prompt(
        image.ref,
        "informative",
        None,
        row.spec.handler,
        MAX_LENGTH,
        text_heavy=image.kind == "text",
        json_output=row.json_output,
    )
    return engine.generate(row.spec, png, prompt.system, prompt.user, prompt.json_schema, row.max_tokens or pinned)


def run_group(rows: list[Row], images: list[Image], count: int, pinned: int) -> list[Result]:
    """Rows that load the same model with the same settings share one engine: one load, one
    warm-up image (not counted: the first call pages the weights in), then `count` images each."""
    engine = LocalEngine(rows[0].settings)
    try:
        load_s = engine.load(rows[0].spec)
        results = []
        if count:
            request(engine, rows[0], images[-1], pinned)
        for row in rows:
            result = Result(row, load_s, [], [], [], [], 0)
            for image in images[:count]:
                generation = request(engine, row, image, pinned)
                result.seconds.append(generation.total_s)
                result.prompt_s.append(generation.encode_s or 0.0)
                result.generate_s.append(generation.generate_s)
                result.tokens.append(generation.tokens)
            reuse = engine._loaded[row.spec.model_id].reuse
            result.reused = reuse.reused if reuse else 0
            results.append(result)
        return results
    finally:
        engine.close()


def _at_pinned(r: Result, pinned: int) -> float | None:
    """Seconds per image had every answer been `pinned` tokens: prompt seconds + generation seconds
    per token x `pinned`. The JSON grammar may close an answer earlier than the pin (the twins never
    stop on their own, but the grammar can end the object), so rows differ in tokens; this
    compares them at the same answer length. None for unpinned rows."""
    if r.row.max_tokens is not None or not r.seconds:
        return None
    per_token = sum(r.generate_s) / max(1, sum(r.tokens))
    return statistics.mean(r.prompt_s) + per_token * pinned


def print_table(results: list[Result], baseline: dict[str, float], pinned: int) -> None:
    header = (
        "model",
        "lever",
        "setting",
        "s/image",
        "vs today",
        f"s @{pinned}t",
        "vs today",
        "prompt s",
        "gen s",
        "tok",
        "tok/s",
        "reused",
        "load s",
        "s per image",
    )
    rows = []
    for r in results:
        if not r.seconds:  # a load-only row
            rows.append((r.row.spec.name, r.row.lever, r.row.setting, *["-"] * 9, f"{r.load_s:.1f}", "-"))
            continue
        mean = statistics.mean(r.seconds)
        gen = statistics.mean(r.generate_s)
        tokens = statistics.mean(r.tokens)
        at_pinned = _at_pinned(r, pinned)
        base = baseline.get(r.row.spec.handler)
        base_pinned = baseline.get(r.row.spec.handler + "@")
        rows.append(
            (
                r.row.spec.name,
                r.row.lever,
                r.row.setting,
                f"{mean:.2f}",
                f"{base / mean:.2f}x" if base else "-",
                f"{at_pinned:.2f}" if at_pinned else "-",
                f"{base_pinned / at_pinned:.2f}x" if base_pinned and at_pinned else "-",
                f"{statistics.mean(r.prompt_s):.2f}",
                f"{gen:.2f}",
                f"{tokens:.0f}",
                f"{tokens / gen:.1f}" if gen else "-",
                str(r.reused),
                f"{r.load_s:.1f}",
                " / ".join(f"{image_s:.1f}" for image_s in r.seconds),
            )
        )
    widths = [max(len(str(line[i])) for line in (header, *rows)) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths)) + " |")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--twins", type=Path, default=REPO_ROOT / "benchmarks" / "twins.py", help="twins.py to use")
    parser.add_argument("--images", type=int, default=2, help="measured images per row (after one warm-up)")
    parser.add_argument("--qwen", action="store_true", help="also the qwen2.5-vl-3b twin (Q4_K_M, as the preset)")
    parser.add_argument(
        "--only", default="", help="comma-separated levers to run, 'today' for the baseline (default: all)"
    )
    args = parser.parse_args(argv)
    twins = load_twins(args.twins)
    pinned = twins.PINNED_TOKENS
    old = old_prompts()
    if old is None:
        print("warning: no git history: 'today' uses the current instructions", file=sys.stderr)
        old = prompts

    def twin(preset: str, quant: str, name: str, handler: str) -> ModelSpec:
        text, mmproj = twins.ensure_twin(preset, quant)
        return ModelSpec(name, Path(text), Path(mmproj), handler)

    moondream = twin("moondream2", "f16", "moondream2", "moondream")
    moondream_q4 = twin("moondream2", "q4_k_m", "moondream2-q4_k_m", "moondream")
    cores = physical_cores()
    # Today's cap on answer tokens; every row is pinned at `pinned` tokens unless it says otherwise.
    today = EngineSettings(n_threads=cores, max_tokens=120, prefix_cache=False)
    new = replace(today, prefix_cache=True)
    rows: list[Row] = [
        Row("today", "w3c-tree-1 prompt, JSON, f16", moondream, today, old),
        Row("prompt", "w3c-tree-2 (shorter)", moondream, today),
        Row("output", "plain text, no JSON grammar", moondream, today, json_output=False),
        Row("output", "unpinned: today's cap 120", moondream, today, max_tokens=120, late=True),
        Row(
            "output",
            f"unpinned: budget {prompts.answer_token_budget(MAX_LENGTH, None)}",
            moondream,
            today,
            max_tokens=prompts.answer_token_budget(MAX_LENGTH, None),
            late=True,
        ),
        Row("precision", "text Q4_K_M", moondream_q4, new),
        Row("precision", "text Q8_0", twin("moondream2", "q8_0", "moondream2-q8_0", "moondream"), new),
        Row("threads", "1 thread", moondream, replace(new, n_threads=1)),
        Row("batch", "n_batch 1024, n_ubatch 1024", moondream, replace(new, n_batch=1024, n_ubatch=1024)),
        Row("batch", "n_batch 256, n_ubatch 256", moondream, replace(new, n_batch=256, n_ubatch=256)),
        Row("flash", "flash attention off", moondream, replace(new, flash_attn=False)),
        Row("mmap", "mmap off", moondream, replace(new, use_mmap=False)),
        # What a run does by default: the moondream2-q4_k_m preset, the current instructions.
        Row("new defaults", "w3c-tree-2, moondream2-q4_k_m", moondream_q4, new),
    ]
    if args.qwen:
        qwen = twin("qwen2.5-vl-3b", "q4_k_m", "qwen2.5-vl-3b", "qwen2.5-vl")
        qwen_today = replace(today, image_max_tokens=1024)
        rows += [
            Row("today", "w3c-tree-1, 1024 image tokens", qwen, qwen_today, old),
            Row("prefix", "w3c-tree-2, prefix cache on", qwen, replace(qwen_today, prefix_cache=True)),
            Row(
                "image tokens",
                f"photos {PHOTO_IMAGE_TOKENS}, text 1024",
                qwen,
                qwen_today,
                photo_tokens=PHOTO_IMAGE_TOKENS,
            ),
            *(
                Row(
                    "image budget",
                    f"every image {tokens} tokens (w3c-tree-2, prefix cache)",
                    qwen,
                    replace(qwen_today, prefix_cache=True, image_max_tokens=tokens),
                )
                for tokens in (256, 512, 1024)
            ),
            Row(
                "new defaults",
                f"prefix cache, photos {PHOTO_IMAGE_TOKENS}",
                qwen,
                replace(qwen_today, prefix_cache=True),
                photo_tokens=PHOTO_IMAGE_TOKENS,
            ),
            Row(
                "precision",
                "text Q8_0 (qwen2.5-vl-3b-q8_0), new defaults",
                twin("qwen2.5-vl-3b", "q8_0", "qwen2.5-vl-3b-q8_0", "qwen2.5-vl"),
                replace(qwen_today, prefix_cache=True),
                photo_tokens=PHOTO_IMAGE_TOKENS,
            ),
        ]
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    if only:
        rows = [row for row in rows if row.lever in only]
    with tempfile.TemporaryDirectory() as folder:
        images = site_images(Path(folder))
    kinds = ", ".join(image.kind for image in images)
    print(f"twin-measured; {cores} threads by default; output pinned at {pinned} tokens; images: {kinds}")
    prepare = ", ".join(f"{image.prepare_s * 1000:.0f}" for image in images)
    print(f"overlap: decode + route + resize per image (ms), what overlap could hide: {prepare}")
    groups: dict[tuple[bool, str, EngineSettings], list[Row]] = {}
    for row in sorted(rows, key=lambda row: row.late):
        groups.setdefault((row.late, row.spec.name, row.settings), []).append(row)
    results: list[Result] = []
    baseline: dict[str, float] = {}
    for group in groups.values():
        started = time.perf_counter()
        count = 0 if group[0].lever == "mmap" else args.images  # mmap: the load is what changes
        for result in run_group(group, images, count, pinned):
            results.append(result)
            if result.row.lever == "today":
                # One "today" per model family (its handler): quantized variants compare with it.
                baseline[result.row.spec.handler] = statistics.mean(result.seconds)
                baseline[result.row.spec.handler + "@"] = _at_pinned(result, pinned) or 0.0
        names = "; ".join(f"{row.lever}: {row.setting}" for row in group)
        print(f"# {group[0].spec.name} {names} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        print_table(results, baseline, pinned)  # as far as it got, in case the run is cut short
    return 0


if __name__ == "__main__":
    sys.exit(main())
