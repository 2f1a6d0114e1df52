"""Per-image overhead of LocalEngine.generate over a bare llama-cpp-python chat completion.

    python benchmarks/engine_overhead.py [--n 60] [--handler moondream] [--text T.gguf --mmproj M.gguf]

Without --text/--mmproj it builds the tiny test models (tests/tiny_models.py) in a temp dir, where
per-call time is smallest and any engine overhead shows most. Both sides load the same files
with the same settings, and calls alternate so background load hits both equally. Target: the
engine's median per call within 10% of the bare call's.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from llama_cpp import Llama, llama_chat_format
from PIL import Image, ImageDraw

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

from alttext_tools.engines.base import EngineSettings
from alttext_tools.engines.llama import HANDLER_CLASSES, LocalEngine
from alttext_tools.models.spec import ModelSpec

SYSTEM = "You write alt text for images."
USER = "Describe this image in one sentence."


def test_image() -> bytes:
    image = Image.new("RGB", (320, 240), (30, 90, 160))
    ImageDraw.Draw(image).ellipse([60, 40, 260, 200], fill=(240, 200, 40))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def bare_llama(spec: ModelSpec, settings: EngineSettings) -> Llama:
    handler = getattr(llama_chat_format, HANDLER_CLASSES[spec.handler])(
        clip_model_path=str(spec.mmproj_path), verbose=False
    )
    return Llama(
        model_path=str(spec.text_path),
        chat_handler=handler,
        n_ctx=settings.n_ctx,
        n_batch=settings.n_batch,
        n_threads=settings.n_threads,
        n_threads_batch=settings.n_threads,
        n_gpu_layers=settings.n_gpu_layers,
        flash_attn=settings.flash_attn,
        seed=settings.seed,
        verbose=False,
    )


def bare_call(llm: Llama, image_png: bytes, settings: EngineSettings) -> dict[str, Any]:
    uri = "data:image/png;base64," + base64.b64encode(image_png).decode("ascii")
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": USER}]},
    ]
    return llm.create_chat_completion(  # type: ignore[return-value]
        messages=messages, temperature=settings.temperature, max_tokens=settings.max_tokens, seed=settings.seed
    )


def timed(fn: Any) -> tuple[float, float]:
    """(wall, process CPU) seconds. CPU time barely moves when other processes share the cores."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def report(label: str, bare: list[float], engine: list[float]) -> None:
    bare_med, engine_med = statistics.median(bare), statistics.median(engine)
    print(
        f"{label:5} bare {bare_med * 1000:8.2f} ms   engine {engine_med * 1000:8.2f} ms"
        f"   overhead {(engine_med - bare_med) * 1000:+7.2f} ms ({(engine_med / bare_med - 1) * 100:+.1f}%)"
    )


def run(spec: ModelSpec, settings: EngineSettings, n: int) -> None:
    image = test_image()
    with LocalEngine(settings) as engine:  # also silences native logs for the bare model
        llm = bare_llama(spec, settings)
        try:
            bare_text = bare_call(llm, image, settings)["choices"][0]["message"]["content"].strip()
            engine_text = engine.generate(spec, image, SYSTEM, USER).text  # warm-up + load
            if bare_text != engine_text:
                print(f"warning: outputs differ\n  bare:   {bare_text!r}\n  engine: {engine_text!r}")
            bare_s: list[tuple[float, float]] = []
            engine_s: list[tuple[float, float]] = []
            for _ in range(n):
                bare_s.append(timed(lambda: bare_call(llm, image, settings)))
                engine_s.append(timed(lambda: engine.generate(spec, image, SYSTEM, USER)))
        finally:
            llm.close()
    print(
        f"model: {spec.model_id}  threads: {settings.n_threads}  max_tokens: {settings.max_tokens}  n: {n}  "
        "(medians per image)"
    )
    report("wall", [w for w, _ in bare_s], [w for w, _ in engine_s])
    report("cpu", [c for _, c in bare_s], [c for _, c in engine_s])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60, help="timed calls per side")
    parser.add_argument("--handler", default="moondream", choices=sorted(HANDLER_CLASSES))
    parser.add_argument("--text", type=Path, help="text GGUF (default: tiny test model)")
    parser.add_argument("--mmproj", type=Path, help="mmproj GGUF (default: tiny test model)")
    parser.add_argument("--threads", type=int, default=1, help="1 keeps shared CPUs from skewing tiny models")
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    # image_max_tokens=None: the bare handler cannot cap image tokens, so neither side does.
    settings = EngineSettings(n_threads=args.threads, max_tokens=args.max_tokens, n_ctx=2048, image_max_tokens=None)
    with tempfile.TemporaryDirectory() as tmp:
        if args.text and args.mmproj:
            text, mmproj = args.text, args.mmproj
        else:
            from tiny_models import build_tiny_models

            models = build_tiny_models(Path(tmp))
            prefix = "qwen" if args.handler == "qwen2.5-vl" else "moondream"
            text, mmproj = models[f"{prefix}_text"], models[f"{prefix}_mmproj"]
        run(ModelSpec("bench", text, mmproj, args.handler), settings, args.n)


if __name__ == "__main__":
    main()
