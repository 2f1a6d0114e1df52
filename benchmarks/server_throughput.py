"""Throughput of `--backend openai` (images/s) at concurrency 1, 2 and 4.

    python benchmarks/server_throughput.py [--images 24] [--repeats 3] [--levels 1,2,4]
                                           [--server-threads 1]
    python benchmarks/server_throughput.py --base-url http://127.0.0.1:11434/v1 --model llava
    python benchmarks/server_throughput.py --fake-latency 0.2

Without --base-url it starts llama-cpp-python's server (`python -m llama_cpp.server`, needs the
`llama-cpp-python[server]` extra) on a free 127.0.0.1 port with the tiny random-weight moondream
pair (tests/tiny_models.py), and stops it at the end.

What is timed: `ModelProvider.decide(images)` for a docs page of `--images` byte- and pixel-
distinct PNGs (random noise, fresh for every run so neither deduplication nor the server's prompt
prefix reuse can help), i.e. the whole pipeline as `alttext fix --backend openai` runs it: read,
hash, decode, route, resize, prompt, HTTP request, clean. One warm-up request first. Each level is
run `--repeats` times, levels interleaved, and the median is reported.

Reading the numbers: llama-cpp-python's server runs one request at a time (one model, one
lock), so extra concurrency can only overlap our client-side work and the HTTP round trip with
the server's inference; batching servers (vLLM, llama.cpp's server with --parallel N) overlap the
inference itself. The tiny models answer in tens of milliseconds, which makes client overhead
(and the gain from overlapping it) look much larger than with a real model.

--fake-latency S replaces the model server with a scripted one (tests/openai_servers.FakeOpenAI)
that answers every request after S seconds, all in parallel: an idealised batching server, to
show how far the client side scales when the server does not serialise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

from alttext_tools.engines.openai import OpenAIEngine, ServerModel, ServerSettings
from alttext_tools.generate.provider import ModelProvider
from alttext_tools.models.slots import Slots
from alttext_tools.scan.dispatch import scan_file


def make_page(root: Path, count: int, seed: int) -> list:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    img = root / "img"
    img.mkdir(parents=True)
    lines = ["# Benchmark", ""]
    for index in range(count):
        pixels = rng.integers(0, 256, size=(96, 128, 3), dtype=np.uint8)
        Image.fromarray(pixels, "RGB").save(img / f"p{index}.png")
        lines.append(f"Picture {index}: ![](img/p{index}.png)\n")
    (root / "page.md").write_text("\n".join(lines), encoding="utf-8")
    return scan_file(root / "page.md", str(root / "page.md")).images  # absolute: src resolves from the page


def run_once(
    base_url: str, model: ServerModel, concurrency: int, count: int, seed: int, max_tokens: int
) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = make_page(root, count, seed)
        engine = OpenAIEngine(
            ServerSettings(base_url=base_url, concurrency=concurrency, max_tokens=max_tokens, timeout=300)
        )
        provider = ModelProvider(
            Slots(fast=model),
            engine=engine,
            project_root=root,
            site_root=root,  # type: ignore[arg-type]
            router_mode="auto",
            language=None,
            allow_remote=False,
            max_length=150,
        )
        with provider:
            started = time.perf_counter()
            provider.decide(images)
            elapsed = time.perf_counter() - started
        summary = provider.summary()
        unanswered = [p for p in provider.problems if "no words" not in p and "model's answer" not in p]
        if unanswered:  # gibberish answers from random weights still count: the server did the work
            print(f"  warning: {len(unanswered)} requests failed, e.g. {unanswered[0]}", file=sys.stderr)
        return elapsed, summary["images"] - len(unanswered)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="use this server instead of starting llama_cpp.server with the tiny models")
    parser.add_argument("--model", default="tiny-moondream", help="server model id (default: the tiny model's alias)")
    parser.add_argument("--handler", default="moondream")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--levels", default="1,2,4")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--server-threads", type=int, default=1, help="llama.cpp threads of the started server")
    parser.add_argument("--fake-latency", type=float, help="scripted parallel server answering after this many seconds")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    model = ServerModel(args.model, args.handler)

    server = None
    base_url = args.base_url
    if args.fake_latency is not None:
        from openai_servers import FakeOpenAI, Reply, completion

        answer = Reply(
            body=completion('{"alt": "A benchmark picture of coloured noise", "decorative": false}'),
            delay=args.fake_latency,
        )
        server = FakeOpenAI(lambda seen, n: answer, models=[args.model])
        server.__enter__()
        base_url = server.base_url
    elif base_url is None:
        from openai_servers import LlamaServer
        from tiny_models import build_tiny_models

        models = build_tiny_models(Path(tempfile.mkdtemp(prefix="tiny-models-")))
        server = LlamaServer(
            models["moondream_text"], models["moondream_mmproj"], alias=args.model, threads=args.server_threads
        )
        server.start()
        base_url = server.base_url
    try:
        run_once(base_url, model, 1, 2, seed=999, max_tokens=args.max_tokens)  # warm-up
        timings: dict[int, list[float]] = {level: [] for level in levels}
        seed = 0
        for _ in range(args.repeats):
            for level in levels:
                seed += 1
                elapsed, done = run_once(base_url, model, level, args.images, seed, args.max_tokens)
                timings[level].append(done / elapsed)
    finally:
        if server is not None:
            server.__exit__() if args.fake_latency is not None else server.stop()

    where = base_url
    if args.fake_latency is not None:
        where = f"scripted parallel server, {args.fake_latency:g} s per answer"
    elif args.base_url is None:
        where = f"llama_cpp.server (--n_threads {args.server_threads}), tiny moondream pair"
    print(
        f"server: {where}; {args.images} distinct images per run, median of {args.repeats} runs, "
        f"max_tokens {args.max_tokens}"
    )
    print(f"{'concurrency':>11}  {'images/s':>9}  {'s/image':>8}  {'vs 1':>6}  runs (images/s)")
    base = statistics.median(timings[levels[0]])
    for level in levels:
        rate = statistics.median(timings[level])
        runs = ", ".join(f"{r:.1f}" for r in timings[level])
        print(f"{level:>11}  {rate:>9.2f}  {1 / rate:>8.3f}  {rate / base:>5.2f}x  {runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
