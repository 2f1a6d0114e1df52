"""The multilingual first run: vision calls and text calls, and projected model-seconds, with and
without "describe once, translate", on the FastAPI docs (13 languages).

    python benchmarks/multilingual.py [CORPUS] [--site-root en/docs] [--runs 2] [--plan-only]
                                      [--twins-dir DIR] [--threads N]

The plan needs no model: the pipeline's own scan (`alttext fix`'s targets: images without alt),
image reader (sha256 of the bytes each src points at) and `generate.translate.plan_calls` give
the distinct (image, role, language) pairs and which of them are described from the image or
translated. Nothing in the corpus is written (it is only read; no cache file is created).

The per-call times are twin-measured (benchmarks/twins.py: real-size random-weight models, the
output pinned at PINNED_TOKENS tokens): a moondream2 vision call on a screenshot from the corpus
with the prompt `alttext` sends, and a qwen2.5-vl-3b text-only translation call with the
translation prompt (no image). When the qwen2.5-vl-3b twin is not built, the text call is
measured on the moondream2 twin's language model instead, and the output says so. Projected
first-run model-seconds = vision calls x vision call + text calls x text call (+ one load of
each model used). Target: translation needs >= 3x fewer model-seconds than describing every
language from the image.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests"), str(Path(__file__).resolve().parent)]

from alttext_tools.check.rules import RuleSettings
from alttext_tools.cli.options import walk_files
from alttext_tools.config import Config
from alttext_tools.core import Context, image_role
from alttext_tools.engines.base import build_messages, build_text_messages, physical_cores
from alttext_tools.engines.llama import HANDLER_CLASSES
from alttext_tools.generate.prompts import build_prompt
from alttext_tools.generate.translate import CallPlan, plan_calls, translation_prompt
from alttext_tools.images.decode import load_image
from alttext_tools.images.errors import ImageError
from alttext_tools.images.reader import ImageReader
from alttext_tools.images.resize import png_for_model, preset_for_handler
from alttext_tools.images.svg import looks_like_svg
from alttext_tools.rewrite.fix import needs_alt, scan_for_fix

SAMPLE_IMAGE = "en/docs/img/tutorial/path-params/image01.png"  # a screenshot of the docs' own UI
SAMPLE_ALT = "Swagger UI listing the read_item path operation with its item_id path parameter"
SAMPLE_CONTEXT = Context(
    page_title="Parámetros de path",
    heading="Documentación",
    paragraph=(
        "Y cuando abras tu navegador en http://127.0.0.1:8000/docs verás una documentación automática e interactiva."
    ),
    lang="es",
)


def default_corpus() -> Path:
    for base in (REPO_ROOT.parent / "shared", Path("/work/shared")):
        candidate = base / "corpus" / "fastapi-docs" / "docs"
        if candidate.is_dir():
            return candidate
    sys.exit("no corpus found: pass its path")


# --- the plan --------------------------------------------------------------------------------------


def occurrences(corpus: Path, site_root: str) -> tuple[list[tuple[str, str, str | None]], Counter[str]]:
    """(sha256, role, language) of every image `alttext fix` would ask a model about, and counts
    of what is left out (SVGs, answered by their own <title>; images that cannot be read)."""
    os.chdir(corpus)  # display paths, and the srcs they resolve, are relative to the corpus root
    config = Config(root=corpus, gitignore=False, site_root=site_root)
    files = walk_files([Path(".")], config)
    scanned, errors = scan_for_fix(files, RuleSettings(max_length=config.max_length))
    reader = ImageReader(corpus, config.site_root_path(), allow_remote=False)
    found: list[tuple[str, str, str | None]] = []
    left_out: Counter[str] = Counter(files=len(files), unreadable_files=len(errors))
    svg: dict[str, bool] = {}
    for item in scanned:
        for image in needs_alt(item.findings, overwrite=False):
            left_out["images without alt"] += 1
            if not image.src or not image.src.strip():
                left_out["no src"] += 1
                continue
            try:
                read = reader.read(image.src, Path(image.path))
            except ImageError:
                left_out["cannot be read (missing, remote)"] += 1
                continue
            if read.sha256 not in svg:
                svg[read.sha256] = looks_like_svg(read.data if read.data is not None else reader.data(read))
            if svg[read.sha256]:
                left_out["SVG (never sent to a model)"] += 1
                continue
            found.append((read.sha256, image_role(image), image.context.lang))
    return found, left_out


# --- per-call times on the twins -----------------------------------------------------------------


def _twins_module(twins_dir: Path | None) -> Any:
    if twins_dir is not None:
        sys.path.insert(0, str(twins_dir))
    try:
        import twins
    except ImportError as err:
        sys.exit(f"benchmarks/twins.py is needed for the per-call times ({err}); pass --twins-dir or --plan-only")
    return twins


def _llama(text: Path, mmproj: Path, handler: str, threads: int) -> tuple[Any, float]:
    from llama_cpp import Llama, llama_chat_format

    started = time.perf_counter()
    chat = getattr(llama_chat_format, HANDLER_CLASSES[handler])(clip_model_path=str(mmproj), verbose=False)
    llm = Llama(
        model_path=str(text),
        chat_handler=chat,
        n_ctx=4096,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        flash_attn=True,
        verbose=False,
    )
    return llm, time.perf_counter() - started


def _timed(llm: Any, messages: list[dict[str, Any]], pin: dict[str, Any], runs: int) -> tuple[float, int, int]:
    """Median seconds of `runs` calls, and the prompt and completion tokens of the last one."""
    times: list[float] = []
    usage: dict[str, int] = {}
    for _ in range(runs):
        started = time.perf_counter()
        response = llm.create_chat_completion(messages=messages, seed=0, **pin)
        times.append(time.perf_counter() - started)
        usage = response["usage"]
    return statistics.median(times), int(usage["prompt_tokens"]), int(usage["completion_tokens"])


def measure(corpus: Path, twins: Any, runs: int, threads: int, text_quant: str = "q4_k_m") -> dict[str, Any]:
    """Per-call seconds: a moondream2 vision call and a text-only translation call. Without the
    qwen2.5-vl-3b twin both run on the moondream2 twin, alternating (text, vision, text, ...) so
    that the machine's background load falls on both alike."""
    data = (corpus / SAMPLE_IMAGE).read_bytes()
    png = png_for_model(data, load_image(data), preset_for_handler("moondream"))
    prompt = build_prompt(_image_ref(), "informative", "en", "moondream", 150, text_heavy=True, json_output=True)
    translate = translation_prompt(SAMPLE_ALT, "en", "es", SAMPLE_CONTEXT, "informative", 150)
    text_messages = build_text_messages(translate.system, translate.user)
    messages = build_messages(png, prompt.system, prompt.user)
    out: dict[str, Any] = {"threads": threads, "pinned_tokens": twins.PINNED_TOKENS}

    text, mmproj = twins.ensure_twin("moondream2")
    llm, out["moondream2_load_s"] = _llama(text, mmproj, "moondream", threads)
    pin = twins.pin_output_kwargs(text)
    qwen_text, qwen_mmproj = twins.twin_paths("qwen2.5-vl-3b", text_quant)
    if not (qwen_text.is_file() and qwen_mmproj.is_file()):
        out["text_load_s"] = out["moondream2_load_s"]
        out["text_model"] = (
            f"moondream2 twin's language model (phi2 shape, F16): the qwen2.5-vl-3b {text_quant} twin is not built"
            f" ({qwen_text.name} missing)"
        )
        llm.create_chat_completion(messages=text_messages, seed=0, **{**pin, "max_tokens": 1})  # warm-up
        vision: list[float] = []
        texts: list[float] = []
        for _ in range(runs):
            for kind, chat, times in (("text", text_messages, texts), ("vision", messages, vision)):
                seconds, prompt_tokens, tokens = _timed(llm, chat, pin, 1)
                times.append(seconds)
                out[f"{kind}_prompt_tokens"], out[f"{kind}_tokens"] = prompt_tokens, tokens
                print(f"  (measured: {kind} call {seconds:.2f} s)", flush=True)
        seconds, _, _ = _timed(llm, text_messages, pin, 1)
        texts.append(seconds)
        print(f"  (measured: text call {seconds:.2f} s)", flush=True)
        out["vision_s"], out["text_s"] = statistics.median(vision), statistics.median(texts)
        llm.close()
        return out

    # No warm-up call: one costs as much as a measured one (the image encode and its tokens).
    out["vision_s"], out["vision_prompt_tokens"], out["vision_tokens"] = _timed(llm, messages, pin, runs)
    print(f"  (measured: vision call {out['vision_s']:.2f} s, load {out['moondream2_load_s']:.1f} s)", flush=True)
    llm.close()
    del llm
    gc.collect()
    llm, out["text_load_s"] = _llama(qwen_text, qwen_mmproj, "qwen2.5-vl", threads)
    pin = twins.pin_output_kwargs(qwen_text)
    out["text_model"] = f"qwen2.5-vl-3b twin ({text_quant.upper()} text model, as the preset downloads)"
    llm.create_chat_completion(messages=text_messages, seed=0, **{**pin, "max_tokens": 1})  # warm-up
    out["text_s"], out["text_prompt_tokens"], out["text_tokens"] = _timed(llm, text_messages, pin, runs)
    llm.close()
    return out


def _image_ref() -> Any:
    from alttext_tools.generate.standalone import standalone_image

    return standalone_image("image01.png", title="Path Parameters", heading="Documentation", language="en")


# --- report --------------------------------------------------------------------------------------


def report(with_translation: CallPlan, without: CallPlan, times: dict[str, Any] | None) -> int:
    print(f"{'':28}{'vision calls':>14}{'text calls':>12}{'model-s (projected)':>22}")
    totals: dict[str, float] = {}
    for name, plan in (("every language from image", without), ("describe once, translate", with_translation)):
        seconds = ""
        if times is not None:
            total = plan.vision_calls * times["vision_s"] + plan.text_calls * times["text_s"]
            total += times["moondream2_load_s"]
            if plan.text_calls and times["text_model"].startswith("qwen"):
                total += times["text_load_s"]
            totals[name] = total
            seconds = f"{total:,.0f} s ({total / 3600:.2f} h)"
        print(f"{name:28}{plan.vision_calls:>14,}{plan.text_calls:>12,}{seconds:>22}")
    if times is None:
        print(f"ratio of calls: {without.vision_calls / max(1, with_translation.vision_calls):.1f}x fewer vision calls")
        return 0
    ratio = totals["every language from image"] / totals["describe once, translate"]
    print(f"model-seconds: {ratio:.2f}x fewer with translation (target >= 3x): {'met' if ratio >= 3 else 'NOT met'}")
    return 0 if ratio >= 3 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=None)
    parser.add_argument("--site-root", default="en/docs", help="where /img/... resolves (the English docs_dir)")
    parser.add_argument("--runs", type=int, default=1, help="timed calls of each kind (median)")
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--plan-only", action="store_true", help="count calls, measure nothing")
    parser.add_argument(
        "--text-quant", default="q4_k_m", help="the qwen2.5-vl-3b twin's text model type (the preset's: q4_k_m)"
    )
    parser.add_argument("--twins-dir", type=Path, help="folder holding twins.py, when not this one")
    args = parser.parse_args(argv)
    corpus = (args.corpus or default_corpus()).resolve()

    started = time.perf_counter()
    found, left_out = occurrences(corpus, args.site_root)
    plan_s = time.perf_counter() - started
    with_translation = plan_calls(found, translate=True, preferred="en")
    without = plan_calls(found, translate=False)
    languages = Counter(lang or "(none)" for _, _, lang in found)
    images = len({sha for sha, _, _ in found})
    print(f"corpus: {corpus} (site root {args.site_root}), planned in {plan_s:.1f} s without a model", flush=True)
    print(", ".join(f"{name}: {count:,}" for name, count in left_out.items()))
    print(
        f"images a model describes: {len(found):,} on pages, {images} distinct images, "
        f"{without.distinct:,} distinct (image, role, language), {len(languages)} languages",
        flush=True,
    )
    times = None
    if not args.plan_only:
        twins = _twins_module(args.twins_dir)
        times = measure(corpus, twins, args.runs, args.threads, args.text_quant)
        print(
            f"twin-measured per call ({times['threads']} threads, output pinned at {times['pinned_tokens']} tokens;"
            " a busy shared machine: noisy):"
        )
        print(
            f"  vision call, moondream2 twin: {times['vision_s']:.2f} s"
            f" ({times['vision_prompt_tokens']} prompt tokens incl. the image, {times['vision_tokens']} generated);"
            f" load {times['moondream2_load_s']:.1f} s"
        )
        print(
            f"  text-only translate call, {times['text_model']}: {times['text_s']:.2f} s"
            f" ({times['text_prompt_tokens']} prompt tokens, no image, {times['text_tokens']} generated);"
            f" load {times['text_load_s']:.1f} s"
        )
    return report(with_translation, without, times)


if __name__ == "__main__":
    sys.exit(main())
