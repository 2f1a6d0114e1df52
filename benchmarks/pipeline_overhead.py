"""Per-image overhead of the whole generation pipeline (ModelProvider) over a bare llama-cpp-python call.

    python benchmarks/pipeline_overhead.py [--rounds 3] [--handler moondream] [--plain]
                                           [--text T.gguf --mmproj M.gguf]

Both sides describe the same image files with the same model files, settings, prompt and
response format:

* bare:     read the file, base64 data URI, `Llama.create_chat_completion` (a minimal script);
* pipeline: `ModelProvider.decide([image])` for the image as found on a docs page: resolve the
            src, read, hash/dedupe, Pillow decode, route (router.classify), resize/PNG for the
            handler, prompt, LocalEngine.generate, post-process, record.

Without --text/--mmproj it uses the tiny test models (tests/tiny_models.py), where a chat call
takes tens of milliseconds and any pipeline cost shows most; with real models (seconds per image)
the same absolute overhead is a far smaller share. Every timed image is a distinct file (the
router's photo fixtures, each copied `--rounds` times with a different PNG text chunk: same pixels,
so both sides generate the same tokens, but new bytes, so the pipeline cannot deduplicate), the
two sides alternate image by image so background load hits both equally, and the model is loaded
before timing. Target (issue 4): pipeline median within 10% of the bare median.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from llama_cpp import Llama, llama_chat_format
from PIL import Image, PngImagePlugin

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

from alttext_tools.core import ImageRef, image_role
from alttext_tools.engines.base import EngineSettings
from alttext_tools.engines.llama import HANDLER_CLASSES
from alttext_tools.generate.postprocess import clean_alt
from alttext_tools.generate.prompts import Prompt, build_prompt
from alttext_tools.generate.provider import ModelProvider
from alttext_tools.generate.router import classify
from alttext_tools.images.decode import load_image
from alttext_tools.models.slots import Slots
from alttext_tools.models.spec import ModelSpec
from alttext_tools.scan.dispatch import scan_file

MAX_LENGTH = 150


def make_site(root: Path, rounds: int, limit: int) -> list[ImageRef]:
    """docs/page.md with one image per line: every photo fixture, `rounds` byte-distinct copies."""
    sources = sorted((REPO_ROOT / "fixtures" / "router" / "photo").glob("*.png"))[:limit]
    img_dir = root / "docs" / "img"
    img_dir.mkdir(parents=True)
    lines = ["# Benchmark page", ""]
    for r in range(rounds):
        for source in sources:
            info = PngImagePlugin.PngInfo()
            info.add_text("copy", str(r))
            name = f"{source.stem}-{r}.png"
            Image.open(source).save(img_dir / name, "PNG", pnginfo=info)
            lines += [f"A picture on the page: ![](img/{name})", ""]
    page = root / "docs" / "page.md"
    page.write_text("\n".join(lines), encoding="utf-8")
    return scan_file(page, "docs/page.md").images


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


def bare_call(
    llm: Llama, path: Path, system: str, user: str, schema: dict[str, Any] | None, settings: EngineSettings
) -> str:
    uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": user}]}
    ]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    kwargs: dict[str, Any] = {
        "messages": messages,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "seed": settings.seed,
    }
    if schema is not None:
        kwargs["response_format"] = {"type": "json_object", "schema": schema}
    response = llm.create_chat_completion(**kwargs)
    return (response["choices"][0]["message"]["content"] or "").strip()  # type: ignore[index]


def timed(fn: Any) -> tuple[float, float, Any]:
    """(wall, process CPU, result). CPU time barely moves when other processes share the cores."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def line(label: str, bare: list[float], pipe: list[float]) -> str:
    b, p = statistics.median(bare), statistics.median(pipe)
    return (
        f"{label:5} bare {b * 1000:8.2f} ms   pipeline {p * 1000:8.2f} ms   "
        f"overhead {(p - b) * 1000:+7.2f} ms ({(p / b - 1) * 100:+.1f}%)"
    )


def run(spec: ModelSpec, settings: EngineSettings, rounds: int, limit: int, json_output: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = make_site(root, rounds, limit)
        cwd = os.getcwd()
        os.chdir(root)  # the pipeline resolves page paths relative to the cwd, like the CLI
        try:
            provider = ModelProvider(
                Slots(fast=spec),
                project_root=root,
                site_root=root,
                router_mode="auto",
                language=None,
                allow_remote=False,
                max_length=MAX_LENGTH,
                engine_settings=settings,
                json_output=json_output,
            )
            with provider:  # also routes native logs away from stderr for the bare model
                provider.engine.load(spec)
                llm = bare_llama(spec, settings)
                try:
                    bare_w, bare_c, pipe_w, pipe_c = [], [], [], []
                    same = 0
                    for index, image in enumerate(images):
                        path = root / "docs" / (image.src or "")
                        # The router's verdict (a prompt hint) is taken outside the timing, so the
                        # bare call gets exactly the pipeline's prompt.
                        text_heavy = classify(load_image(path.read_bytes())).kind == "text"
                        prompt = build_prompt(
                            image,
                            image_role(image),
                            None,
                            spec.handler,
                            MAX_LENGTH,
                            text_heavy=text_heavy,
                            json_output=json_output,
                        )
                        bare_text = ""

                        def bare(path: Path = path, prompt: Prompt = prompt) -> None:
                            nonlocal bare_text
                            bare_text = bare_call(llm, path, prompt.system, prompt.user, prompt.json_schema, settings)

                        def pipe(image: ImageRef = image) -> None:
                            provider.decide([image])

                        for fn in (bare, pipe) if index % 2 == 0 else (pipe, bare):
                            wall, cpu, _ = timed(fn)
                            (bare_w if fn is bare else pipe_w).append(wall)
                            (bare_c if fn is bare else pipe_c).append(cpu)
                        cleaned = clean_alt(bare_text, max_length=MAX_LENGTH, json_mode=json_output)
                        record = provider.records[-1]
                        same += (cleaned.alt, cleaned.decorative) == (record.alt, record.decorative)
                finally:
                    llm.close()
                summary = provider.summary()
        finally:
            os.chdir(cwd)
    mode = "json" if json_output else "plain"
    print(
        f"model: {spec.model_id}  handler: {spec.handler}  mode: {mode}  threads: {settings.n_threads}  "
        f"max_tokens: {settings.max_tokens}  images: {len(images)} (medians per image)"
    )
    print(
        f"pipeline summary: generated {summary['generated']}, failed {summary['failed']}, "
        f"deduplicated {summary['deduplicated']}, model loads {summary['model_loads']}; "
        f"same answer as the bare call on {same}/{len(images)} images"
    )
    print(line("wall", bare_w, pipe_w))
    print(line("cpu", bare_c, pipe_c))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="byte-distinct copies of each fixture image")
    parser.add_argument("--limit", type=int, default=40, help="fixture images per round")
    parser.add_argument("--handler", default="moondream", choices=sorted(HANDLER_CLASSES))
    parser.add_argument("--text", type=Path, help="text GGUF (default: tiny test model)")
    parser.add_argument("--mmproj", type=Path, help="mmproj GGUF (default: tiny test model)")
    parser.add_argument("--threads", type=int, default=1, help="1 keeps shared CPUs from skewing tiny models")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--plain", action="store_true", help="plain-text answers instead of the JSON schema")
    args = parser.parse_args()
    # image_max_tokens=None: the bare handler cannot cap image tokens, so neither side does.
    settings = EngineSettings(n_threads=args.threads, max_tokens=args.max_tokens, image_max_tokens=None)
    with tempfile.TemporaryDirectory() as tmp:
        if args.text and args.mmproj:
            text, mmproj = args.text, args.mmproj
        else:
            from tiny_models import build_tiny_models

            models = build_tiny_models(Path(tmp))
            prefix = "qwen" if args.handler == "qwen2.5-vl" else "moondream"
            text, mmproj = models[f"{prefix}_text"], models[f"{prefix}_mmproj"]
        run(
            ModelSpec("bench", Path(text), Path(mmproj), args.handler),
            settings,
            args.rounds,
            args.limit,
            not args.plain,
        )


if __name__ == "__main__":
    main()
