"""Seconds per image at real size: `alttext fix` vs a bare llama-cpp-python call vs llama-mtmd-cli.

    python benchmarks/real_size.py [--preset moondream2|qwen2.5-vl-3b|all] [--quant f16]
                                   [--images 10] [--threads 2] [--sides alttext,bare,mtmd]
                                   [--gpu-layers all|none|N]

Runs on the preset twins (benchmarks/twins.py: real shapes, real vocabularies, random weights),
so every figure is twin-measured: time and memory, never quality. A fixture site of distinct
images (photos as JPEG, screenshots as PNG, realistic sizes, drawn deterministically) is built in
a temp dir, and for each twin, in this order, in child processes (one peak RSS each):

1. `alttext fix SITE --model TWIN ...`, in process (the real pipeline: scan, read, decode, route,
   prompt, LocalEngine, write-back). Its one hook: the engine's `max_tokens` is set to
   PINNED_TOKENS, as a benchmark setting (no option offers it). The twin never emits end-of-turn,
   so each answer is PINNED_TOKENS tokens, or fewer when the JSON grammar closes the object first.
   Each model call's prompt text, image bytes (as the pipeline prepared them) and grammar are kept.
2. A bare `llama_cpp.Llama` + the same chat handler, on the same messages and grammar, with
   `twins.pin_output_kwargs` and `max_tokens` = the tokens alttext generated for that call.
3. llama.cpp's own `llama-mtmd-cli`, built here from the sdist's vendored llama.cpp (only that
   target; cached under ~/.cache/alttext-bench/), one process per image: the same prompt text (the
   twins' chat template passes it through), image file, grammar, `-n`, threads, batch, context,
   flash attention, `--temp 0 --ignore-eos`.

The parts come from llama.cpp's own counters: vision encode from mtmd's "slice encoded in" log
line, prompt evaluation (image embeddings + text) and generation from llama_perf_context (in
process) or llama_perf_context_print (mtmd-cli). Resolve + decode is the pipeline's decode_ms.
Then the machine's limits: numpy F32 GEMM peak and memory bandwidth, measured once, against the
FLOPs computed from the twin's shapes. Timings on a shared machine are noisy: compare the sides
of one run, not runs.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import logging
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "benchmarks"), str(REPO_ROOT / "tests")]

import twins

HANDLER = {"moondream2": "moondream", "qwen2.5-vl-3b": "qwen2.5-vl"}
MTMD_BUILD = twins.CACHE / "mtmd-cli-build"
ENCODED = re.compile(r"(?:slice encoded|mtmd batch encoding done) in (\d+) ms")  # llama-cpp-python; mtmd-cli
IMAGE_BATCH = re.compile(r"decoding image batch \d+/\d+, n_tokens_batch = (\d+)")


# --- fixture site --------------------------------------------------------------------------------

# (kind, width, height): photos as JPEG, screenshots as PNG, at sizes real pages carry.
IMAGES = (
    ("photo", 1600, 1200),
    ("screenshot", 1280, 800),
    ("photo", 1200, 800),
    ("screenshot", 1920, 1080),
    ("photo", 2048, 1365),
    ("screenshot", 1440, 900),
    ("photo", 1024, 768),
    ("screenshot", 800, 600),
    ("photo", 800, 1200),
    ("screenshot", 1366, 768),
    ("photo", 640, 480),
    ("screenshot", 1024, 640),
)


def _photo(rng: np.random.Generator, width: int, height: int) -> Any:
    from PIL import Image, ImageDraw, ImageFilter

    y = np.mgrid[0:height, 0:width][0].astype(np.float32)
    base = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    t = (y / height)[..., None]
    pixels = base[0] * (1 - t) + base[1] * t + rng.normal(0, 12, (height, width, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(12):  # objects: soft ellipses and polygons
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.03, 0.25) * width
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse([cx - r, cy - r * 0.7, cx + r, cy + r * 0.7], fill=color)
    return image.filter(ImageFilter.GaussianBlur(2))


def _screenshot(rng: np.random.Generator, width: int, height: int) -> Any:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (250, 250, 252))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width, 48], fill=(36, 41, 47))
    draw.text((16, 16), "Settings  Projects  Docs  Pricing", fill=(255, 255, 255))
    draw.rectangle([0, 48, 220, height], fill=(240, 242, 245))
    words = ["install", "configure", "model", "alt", "text", "image", "page", "build", "run", "check", "fix"]
    for i, top in enumerate(range(72, height - 24, 22)):
        draw.text((16, top), words[i % len(words)].title(), fill=(60, 60, 60))
        line = " ".join(rng.choice(words, int(rng.integers(4, 12))))
        draw.text((240, top), line, fill=(20, 20, 20) if i % 7 else (0, 90, 200))
    draw.rectangle([width - 180, height - 64, width - 24, height - 24], fill=(0, 110, 220))
    draw.text((width - 160, height - 52), "Save changes", fill=(255, 255, 255))
    return image


def build_site(folder: Path, count: int) -> list[Path]:
    """A Markdown page with `count` distinct images without alt text; deterministic bytes."""
    rng = np.random.default_rng(20251202)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    lines = ["# Field notes", ""]
    paths = []
    for i, (kind, width, height) in enumerate(IMAGES[:count]):
        name = f"img/{kind}-{i:02d}.{'jpg' if kind == 'photo' else 'png'}"
        image = _photo(rng, width, height) if kind == "photo" else _screenshot(rng, width, height)
        image.save(folder / name, quality=88) if kind == "photo" else image.save(folder / name)
        paths.append(folder / name)
        lines += [f"## Part {i + 1}", "", f"What we saw on day {i + 1} of the survey.", "", f"![]({name})", ""]
    (folder / "index.md").write_text("\n".join(lines), encoding="utf-8")
    (folder / ".alttext.toml").write_text("", encoding="utf-8")  # the project root
    return paths


# --- in-process probe ----------------------------------------------------------------------------


class _LogLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class Probe:
    """Per model call: wall time, llama.cpp's perf counters, mtmd's encode log lines, and the
    exact prompt text and image bytes the handler used (observation only: nothing is changed)."""

    def __init__(self, work: Path) -> None:
        import llama_cpp
        import llama_cpp.mtmd_cpp as mtmd_cpp

        from alttext_tools.engines.llama import silence_native_logs

        self.work = work
        self.calls: list[dict[str, Any]] = []
        self.log = _LogLines()
        silence_native_logs()  # native logs -> logging, where the mtmd timing lines are read
        native = logging.getLogger("alttext_tools.llama_cpp")
        native.setLevel(logging.DEBUG)
        native.propagate = False
        native.addHandler(self.log)
        self._prompt = b""
        tokenize = mtmd_cpp.mtmd_tokenize

        def tokenize_spy(ctx: Any, chunks: Any, text: Any, *rest: Any) -> Any:
            self._prompt = bytes(text._obj.text[: text._obj.text_len])
            return tokenize(ctx, chunks, text, *rest)

        mtmd_cpp.mtmd_tokenize = tokenize_spy
        complete = llama_cpp.Llama.create_chat_completion
        probe = self

        def timed(llm: Any, *args: Any, **kwargs: Any) -> Any:
            llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
            probe.log.lines.clear()
            started = time.perf_counter()
            response = complete(llm, *args, **kwargs)
            wall = time.perf_counter() - started
            probe._record(llm, kwargs, response, wall)
            return response

        llama_cpp.Llama.create_chat_completion = timed  # type: ignore[method-assign]

    def _record(self, llm: Any, kwargs: dict[str, Any], response: Any, wall: float) -> None:
        import llama_cpp

        perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
        index = len(self.calls)
        image = self.work / f"call-{index:02d}.png"
        for message in kwargs["messages"]:
            for part in message["content"] if isinstance(message["content"], list) else ():
                if part.get("type") == "image_url":
                    image.write_bytes(base64.b64decode(part["image_url"]["url"].split(",", 1)[1]))
        text = "\n".join(self.log.lines)
        self.calls.append(
            {
                "wall_s": wall,
                "encode_s": sum(int(m) for m in ENCODED.findall(text)) / 1000,
                "image_tokens": sum(int(m) for m in IMAGE_BATCH.findall(text)),
                "prompt_eval_s": perf.t_p_eval_ms / 1000,
                "prompt_tokens": perf.n_p_eval,
                "gen_s": perf.t_eval_ms / 1000,
                "gen_tokens": int(response["usage"]["completion_tokens"]),
                "decode_calls": perf.n_eval,
                "prompt_text": self._prompt.decode("utf-8"),
                "image": str(image),
                "messages": kwargs["messages"],
                "response_format": kwargs.get("response_format"),
            }
        )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_alttext(work: Path, text: Path, mmproj: Path, handler: str, threads: int, gpu: str) -> dict[str, Any]:
    """`alttext fix` over work/site, in this process; its calls recorded by a Probe."""
    import alttext_tools.engines.base as engine_base
    from alttext_tools.cli.main import main

    probe = Probe(work)
    settings_of = engine_base.engine_settings

    def pinned(*args: Any, **kwargs: Any) -> Any:
        return replace(settings_of(*args, **kwargs), max_tokens=twins.PINNED_TOKENS)

    engine_base.engine_settings = pinned  # the benchmark's one hook: the output length
    os.chdir(work / "site")
    argv = ["fix", ".", "--model", str(text), "--mmproj", str(mmproj), "--handler", handler]
    argv += ["--no-cache", "--no-cache-results", "--threads", str(threads), "--format", "json", "--no-progress"]
    if gpu != "all":  # all is the default; given explicitly, a CPU build prints a note
        argv += ["--gpu-layers", gpu]
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    wall = time.perf_counter() - started
    document = json.loads(out.getvalue() or "{}")
    return {
        "exit_code": code,
        "wall_s": wall,
        "records": document.get("images", []),
        "calls": probe.calls,
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_bare(work: Path, text: Path, mmproj: Path, handler: str, threads: int, gpu: str) -> dict[str, Any]:
    """The same calls as alttext's, straight through llama_cpp.Llama + the chat handler."""
    from llama_cpp import Llama, llama_chat_format

    from alttext_tools.config import parse_gpu_layers
    from alttext_tools.engines.base import EngineSettings
    from alttext_tools.engines.llama import HANDLER_CLASSES, native_model_params

    calls = json.loads((work / "alttext.json").read_text())["calls"]
    probe = Probe(work / "bare")
    settings = EngineSettings(n_threads=threads)
    started = time.perf_counter()
    chat = getattr(llama_chat_format, HANDLER_CLASSES[handler])(clip_model_path=str(mmproj), verbose=False)
    # No image-token cap here (the engine sets mtmd's image_max_tokens through a private hook):
    # the pipeline already resized each image within that budget; the image-token column shows it.
    with native_model_params(settings):  # what the engine sets that Llama takes no argument for
        llm = Llama(
            model_path=str(text),
            chat_handler=chat,
            n_ctx=settings.n_ctx,
            n_batch=settings.n_batch,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=parse_gpu_layers(gpu),
            flash_attn=settings.flash_attn,
            seed=settings.seed,
            verbose=False,
        )
    chat._init_mtmd_context(llm)
    load_s = time.perf_counter() - started
    for call in calls:
        kwargs = twins.pin_output_kwargs(text)
        kwargs["max_tokens"] = call["gen_tokens"]
        if call["response_format"] is not None:
            kwargs["response_format"] = call["response_format"]
        llm.create_chat_completion(messages=call["messages"], seed=settings.seed, **kwargs)
    llm.close()
    return {"load_s": load_s, "calls": probe.calls, "peak_rss_mb": _peak_rss_mb()}


# --- llama-mtmd-cli ------------------------------------------------------------------------------


def ensure_mtmd_cli(cmake_options: str = "") -> Path:
    """llama-mtmd-cli built from the sdist's vendored llama.cpp (only that target), cached; extra
    CMake options (a GPU backend) get a build folder of their own."""
    extra = cmake_options.split()
    build = MTMD_BUILD.with_name(MTMD_BUILD.name + "".join(f"-{o.lstrip('-D').lower()}" for o in extra))
    binary = build / "bin" / "llama-mtmd-cli"
    if binary.is_file():
        return binary
    twins.ensure_sdist()
    source = twins.CACHE / "src" / f"llama_cpp_python-{twins.LLAMA_CPP_PYTHON}"
    if not source.is_dir():
        (twins.CACHE / "src").mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "xzf", str(twins.SDIST), "-C", str(twins.CACHE / "src")], check=True)
    llama_cpp_dir = source / "vendor" / "llama.cpp"
    options = ["-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF"]
    options += ["-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TOOLS=ON"]
    options += extra
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(["cmake", "-S", str(llama_cpp_dir), "-B", str(build), *generator, *options], check=True)
    jobs = str(os.cpu_count() or 1)
    subprocess.run(["cmake", "--build", str(build), "--target", "llama-mtmd-cli", "-j", jobs], check=True)
    return binary


PERF_LINE = re.compile(r"llama_perf_context_print:\s+(load|prompt eval|eval) time =\s+([\d.]+) ms(?: /\s+(\d+))?")


def run_mtmd_cli(
    binary: Path, work: Path, text: Path, mmproj: Path, threads: int, gpu: str, calls: list[dict[str, Any]]
) -> dict[str, Any]:
    from alttext_tools.config import parse_gpu_layers
    from alttext_tools.engines.base import EngineSettings, uses_extra_buffers

    settings = EngineSettings(n_threads=threads)
    results = []
    peak_kb = 0
    for call in calls:
        argv = [str(binary), "-m", str(text), "--mmproj", str(mmproj), "--image", call["image"]]
        argv += ["-p", call["prompt_text"], "-n", str(call["gen_tokens"]), "--temp", "0", "--jinja"]
        argv += ["--perf", "-lv", "4"]  # llama_perf_context_print (load, prompt eval, eval) is logged at level 4
        argv += ["-t", str(threads), "-tb", str(threads), "-c", str(settings.n_ctx), "-b", str(settings.n_batch)]
        argv += ["-fa", "on" if settings.flash_attn else "off", "--seed", str(settings.seed), "--no-warmup"]
        layers = parse_gpu_layers(gpu)
        argv += ["-ngl", str(999 if layers < 0 else layers)]
        if not uses_extra_buffers(settings):  # as the engine loads models on this CPU
            argv += ["--no-repack"]
        if settings.image_max_tokens is not None:
            argv += ["--image-max-tokens", str(settings.image_max_tokens)]
        schema = (call["response_format"] or {}).get("schema")
        if schema is not None:  # the grammar ends the answer; --ignore-eos past its end aborts llama.cpp
            argv += ["--json-schema", json.dumps(schema)]
        else:
            argv += ["--ignore-eos"]
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        assert process.stdout is not None
        output = process.stdout.read().decode("utf-8", "replace")
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        peak_kb = max(peak_kb, usage.ru_maxrss)
        if process.returncode != 0:
            tail = output.strip().splitlines()[-3:]
            raise RuntimeError(f"llama-mtmd-cli failed ({process.returncode}): {' | '.join(tail)}")
        perf = {kind: (float(ms) / 1000, int(n or 0)) for kind, ms, n in PERF_LINE.findall(output)}
        encode = sum(int(m) for m in ENCODED.findall(output)) / 1000
        model_s = encode + perf["prompt eval"][0] + perf["eval"][0]
        results.append(
            {
                "wall_s": wall,
                "load_s": perf["load"][0],
                "encode_s": encode,
                "image_tokens": sum(int(m) for m in IMAGE_BATCH.findall(output)),
                "prompt_eval_s": perf["prompt eval"][0],
                "prompt_tokens": perf["prompt eval"][1],
                "gen_s": perf["eval"][0],
                "gen_tokens": perf["eval"][1],
                "model_s": model_s,
            }
        )
    return {"calls": results, "peak_rss_mb": peak_kb / 1024}


# --- machine limits and FLOPs --------------------------------------------------------------------


def measure_machine() -> dict[str, float]:
    """numpy F32 GEMM peak (BLAS, all cores) and memory bandwidth (sum: read; copy: read + write)."""
    n = 2048
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    gemm = []
    for _ in range(5):
        started = time.perf_counter()
        a @ b
        gemm.append(2 * n**3 / (time.perf_counter() - started))
    big = np.ones(128 * 1024 * 1024, dtype=np.float32)  # 512 MB
    out = np.empty_like(big)
    read, copy = [], []
    for _ in range(3):
        started = time.perf_counter()
        big.sum()
        read.append(big.nbytes / (time.perf_counter() - started))
        started = time.perf_counter()
        np.copyto(out, big)
        copy.append(2 * big.nbytes / (time.perf_counter() - started))
    return {"gemm_f32": max(gemm), "read_bw": max(read), "copy_bw": max(copy)}


def _vit_flops(n: int, d: int, ff: int, layers: int, gated: bool, window: int | None, n_full: int) -> float:
    linear = 2 * n * 4 * d * d + 2 * n * d * ff * (3 if gated else 2)
    full = 4 * n * n * d
    local = 4 * n * min(n, window or n) * d
    return layers * linear + n_full * full + (layers - n_full) * local


def vision_flops(preset: str, image_tokens: int) -> float:
    """FLOPs of one image's vision encode + projector, from the twin's shapes."""
    if preset == "moondream2":
        v, n = twins.MOONDREAM_VISION, image_tokens
        embed = 2 * n * v.n_embd * 3 * v.patch**2
        hidden = v.mm_hidden or 2048
        projector = 2 * n * (v.n_embd * hidden + hidden * 2048)
        return embed + _vit_flops(n, v.n_embd, v.n_ff, v.n_layer, False, None, v.n_layer) + projector
    v = twins.QWEN_VISION
    n = image_tokens * v.merge * v.merge  # patches before the 2x2 merge
    embed = 2 * 2 * n * v.n_embd * 3 * v.patch**2  # two temporal kernels
    n_full = v.n_layer // v.n_wa_pattern
    merged = v.n_embd * v.merge * v.merge
    projector = 2 * image_tokens * (merged * merged + merged * 2048)
    return embed + _vit_flops(n, v.n_embd, v.n_ff, v.n_layer, True, 64, n_full) + projector


def text_flops(preset: str, tokens: int) -> float:
    """FLOPs of evaluating `tokens` prompt tokens (from position 0), logits for the last one only."""
    shape = twins.MOONDREAM_TEXT if preset == "moondream2" else twins.QWEN_TEXT
    d, kv, ff = shape.n_embd, shape.kv_dim, shape.n_ff
    gated = preset != "moondream2"
    per_token = 2 * (d * (d + 2 * kv) + d * d + d * ff * (3 if gated else 2))
    attention = 4 * d * tokens * tokens / 2  # causal: average context tokens / 2
    return shape.n_layer * (tokens * per_token + attention)


def weight_bytes_per_token(text: Path) -> int:
    """Bytes of text-model weights read per generated token (every matrix but the embedding table)."""
    from gguf import GGUFReader

    reader = GGUFReader(text)
    return sum(int(t.n_bytes) for t in reader.tensors if t.name != "token_embd.weight")


# --- report --------------------------------------------------------------------------------------


@dataclass
class Side:
    name: str
    calls: list[dict[str, Any]]
    load_s: float
    peak_rss_mb: float


def _image_s(record: dict[str, Any]) -> float:
    """The pipeline's seconds for one image, without the model load the first image triggers."""
    return float(record["total_ms"] - (record.get("load_ms") or 0.0)) / 1000


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _take_encode_out_of_prompt_eval(sides: list[Side]) -> str | None:
    """llama.cpp adds to its prompt-eval counter the time from the first decode after a sync to the
    next sync (llama_context::synchronize). When text is evaluated before the image (Qwen2.5-VL's
    template) and nothing syncs in between, the vision encode falls inside that window and is
    counted twice. The bare call's wall time tells: where its encode + prompt eval + generation
    exceed it, the encode is taken out of the prompt eval of that call on the bare and mtmd-cli
    sides (they evaluate the same chunks in the same order; alttext's prefix cache starts
    evaluating after the image, and its own counters add up to its wall time)."""
    bare = next((side for side in sides if side.name == "bare"), None)
    if bare is None:
        return None
    inside = [c["encode_s"] + c["prompt_eval_s"] + c["gen_s"] > 1.02 * c["wall_s"] for c in bare.calls]
    if not any(inside):
        return None
    for side in sides:
        if side.name == "alttext":
            continue
        for call, overlaps in zip(side.calls, inside):
            if overlaps:
                call["prompt_eval_s"] -= call["encode_s"]
                if "model_s" in call:
                    call["model_s"] -= call["encode_s"]
    return (
        f"(bare and mtmd-cli, {sum(inside)} of {len(inside)} calls: llama.cpp's prompt-eval counter spanned the"
        " vision encode (text before the image, no sync in between); the encode was taken out of it)"
    )


def print_report(
    preset: str, quant: str, sides: list[Side], records: list[dict[str, Any]], machine: dict[str, float], text: Path
) -> None:
    print(
        f"\n== {preset} twin, text {quant}, mmproj f16"
        f" (twin-measured; output pinned at <= {twins.PINNED_TOKENS} tokens) =="
    )
    head = f"{'image':<22} {'side':<9} {'decode':>7} {'encode':>7} {'prompt eval':>16} {'generation':>20} {'wall':>7}"
    print(head)
    print("-" * len(head))
    for i, record in enumerate(records):
        name = Path(record.get("src") or f"image {i}").name
        for side in sides:
            if i >= len(side.calls):
                continue
            c = side.calls[i]
            decode = (
                f"{record['decode_ms'] / 1000:7.2f}"
                if side.name == "alttext" and record.get("decode_ms")
                else f"{'-':>7}"
            )
            wall = (
                _image_s(record) if side.name == "alttext" and record.get("total_ms") else c.get("model_s", c["wall_s"])
            )
            tps = c["gen_tokens"] / c["gen_s"] if c["gen_s"] else float("nan")
            print(
                f"{name:<22} {side.name:<9} {decode} {c['encode_s']:7.2f}"
                f" {c['prompt_eval_s']:8.2f} s {c['prompt_tokens']:5d} t"
                f" {c['gen_s']:7.2f} s {c['gen_tokens']:3d} t {tps:4.1f}/s {wall:7.2f}"
            )
    print()
    print(
        f"{'per run':<9} {'load s':>7} {'peak RSS MB':>12} {'mean s/image':>13} {'encode':>7} {'prompt':>7} {'gen':>7}"
    )
    means: dict[str, float] = {}
    for side in sides:
        if side.name == "alttext":
            walls = [_image_s(r) for r in records if r.get("total_ms")]
        elif side.name == "mtmd-cli":
            walls = [c["model_s"] for c in side.calls]
        else:
            walls = [c["wall_s"] for c in side.calls]
        means[side.name] = _mean(walls)
        print(
            f"{side.name:<9} {side.load_s:7.2f} {side.peak_rss_mb:12.0f} {means[side.name]:13.2f}"
            f" {_mean([c['encode_s'] for c in side.calls]):7.2f} {_mean([c['prompt_eval_s'] for c in side.calls]):7.2f}"
            f" {_mean([c['gen_s'] for c in side.calls]):7.2f}"
        )
    if "alttext" in means:
        for other in ("bare", "mtmd-cli"):
            if other in means:
                print(f"ratio alttext / {other}: {means['alttext'] / means[other]:.3f} (seconds per image)")
    print(
        "(alttext: the pipeline's total_ms per image less the model load; bare: the create_chat_completion call;"
        " mtmd-cli: encode + prompt eval + generation from its own counters, its per-process model load excluded)"
    )
    print()
    print(
        f"machine: numpy F32 GEMM peak {machine['gemm_f32'] / 1e9:.1f} GFLOP/s;"
        f" memory read {machine['read_bw'] / 1e9:.1f}"
        f" GB/s, copy {machine['copy_bw'] / 1e9:.1f} GB/s (read + write)"
    )
    per_token_bytes = weight_bytes_per_token(text)
    print(
        f"{'side':<9} {'vision GFLOP/s':>15} {'% peak':>7} {'prompt GFLOP/s':>15} {'% peak':>7}"
        f" {'gen GB/s':>9} {'% read bw':>9}"
    )
    for side in sides:
        vision = [
            vision_flops(preset, c["image_tokens"]) / c["encode_s"]
            for c in side.calls
            if c["encode_s"] and c["image_tokens"]
        ]
        prompt = [text_flops(preset, c["prompt_tokens"]) / c["prompt_eval_s"] for c in side.calls if c["prompt_eval_s"]]
        gen = [per_token_bytes * c["gen_tokens"] / c["gen_s"] for c in side.calls if c["gen_s"]]
        v, p, g = _mean(vision), _mean(prompt), _mean(gen)
        print(
            f"{side.name:<9} {v / 1e9:15.1f} {100 * v / machine['gemm_f32']:6.0f}% {p / 1e9:15.1f}"
            f" {100 * p / machine['gemm_f32']:6.0f}% {g / 1e9:9.2f} {100 * g / machine['read_bw']:8.0f}%"
        )
    print(
        f"(FLOPs from the shapes: vision {vision_flops(preset, sides[0].calls[0]['image_tokens']) / 1e9:.0f} GFLOP for"
        f" {sides[0].calls[0]['image_tokens']} image tokens;"
        f" weights read per generated token {per_token_bytes / 1e9:.2f} GB)"
    )


# --- driver --------------------------------------------------------------------------------------


def _child(side: str, work: Path, text: Path, mmproj: Path, handler: str, threads: int, gpu: str) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", side, "--work", str(work), "--text", str(text)]
    argv += ["--mmproj", str(mmproj), "--handler", handler, "--threads", str(threads), "--gpu-layers", gpu]
    subprocess.run(argv, check=True)
    return dict(json.loads((work / f"{side}.json").read_text()))


def _log(message: str) -> None:
    print(f"[real_size] {message}", file=sys.stderr, flush=True)


def run_twin(
    preset: str, quant: str, images: int, threads: int, sides: list[str], machine: dict[str, float], options: Any
) -> None:
    if options.tiny:  # a quick check of this script on the tiny test models: no meaningful figures
        from tiny_models import build_tiny_models

        key = "moondream" if preset == "moondream2" else "qwen"
        built = build_tiny_models(Path(tempfile.mkdtemp(prefix="tiny-")))
        text, mmproj = built[f"{key}_text"], built[f"{key}_mmproj"]
    else:
        text, mmproj = twins.ensure_twin(preset, quant)
    handler = HANDLER[preset]
    binary = ensure_mtmd_cli(options.mtmd_cmake) if "mtmd" in sides else None
    work = Path(options.work_dir or tempfile.mkdtemp(prefix="real-size-")) / f"{preset}-{quant}-{images}"
    if not (options.resume and (work / "alttext.json").is_file()):
        shutil.rmtree(work, ignore_errors=True)
        build_site(work / "site", images)
        (work / "bare").mkdir()
        started = time.perf_counter()
        _child("alttext", work, text, mmproj, handler, threads, options.gpu_layers)
        _log(f"{preset}: alttext fix done in {time.perf_counter() - started:.0f} s")
    alt = json.loads((work / "alttext.json").read_text())
    records = [r for r in alt["records"] if r.get("status") != "deduplicated"]
    if not alt["calls"]:
        raise SystemExit(f"alttext fix made no model calls (exit {alt['exit_code']})")
    load = next((r["load_ms"] / 1000 for r in records if r.get("load_ms")), float("nan"))
    result = [Side("alttext", alt["calls"], load, alt["peak_rss_mb"])]
    if "bare" in sides:
        if not (options.resume and (work / "bare.json").is_file()):
            _child("bare", work, text, mmproj, handler, threads, options.gpu_layers)
        bare = json.loads((work / "bare.json").read_text())
        result.append(Side("bare", bare["calls"], bare["load_s"], bare["peak_rss_mb"]))
    if binary is not None:
        if not (options.resume and (work / "mtmd-cli.json").is_file()):
            (work / "mtmd-cli.json").write_text(
                json.dumps(run_mtmd_cli(binary, work, text, mmproj, threads, options.gpu_layers, alt["calls"]))
            )
        cli = json.loads((work / "mtmd-cli.json").read_text())
        result.append(Side("mtmd-cli", cli["calls"], _mean([c["load_s"] for c in cli["calls"]]), cli["peak_rss_mb"]))
    if len(alt["calls"]) != len(records):
        print(
            f"note: alttext made {len(alt['calls'])} model calls for {len(records)} images (answers asked again);"
            " rows pair calls with images in order"
        )
    note = _take_encode_out_of_prompt_eval(result)
    print_report(preset, quant, result, records, machine, text)
    if note:
        print(note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=(*twins.PRESETS, "all"), default="all")
    parser.add_argument("--quant", choices=tuple(twins.QUANTS), default="f16")
    parser.add_argument("--images", type=int, default=10, help=f"fixture images (at most {len(IMAGES)})")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sides", default="alttext,bare,mtmd")
    parser.add_argument(
        "--gpu-layers",
        default="all",
        help="layers offloaded to a GPU on every side: all|none|N (all: the tool's default; CPU builds ignore it)",
    )
    parser.add_argument(
        "--mtmd-cmake",
        default="",
        help="extra CMake options for llama-mtmd-cli, e.g. -DGGML_CUDA=ON (a build folder per option set)",
    )
    parser.add_argument("--tiny", action="store_true", help="check the script on the tiny test models (no figures)")
    parser.add_argument("--work-dir", type=Path, help="keep the site, prompts and per-side results here")
    parser.add_argument("--resume", action="store_true", help="reuse the sides already recorded in --work-dir")
    parser.add_argument("--child", choices=("alttext", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--text", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mmproj", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--handler", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run = child_alttext if args.child == "alttext" else child_bare
        result = run(args.work, args.text, args.mmproj, args.handler, args.threads, args.gpu_layers)
        (args.work / f"{args.child}.json").write_text(json.dumps(result))
        return 0
    machine = measure_machine()
    for preset in twins.PRESETS if args.preset == "all" else (args.preset,):
        sides = args.sides.split(",")
        run_twin(preset, args.quant, min(args.images, len(IMAGES)), args.threads, sides, machine, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
