"""The multilingual first run: vision calls and text calls, and projected model-seconds, with and
without "describe once, translate", on the FastAPI docs (13 languages).

    python benchmarks/multilingual.py [CORPUS] [--site-root en/docs] [--runs 2] [--plan-only]
                                      [--twins-dir DIR] [--threads N] [--text-quant q4_k_m]

The plan needs no model: the pipeline's own scan (`alttext fix`'s targets: images without alt),
image reader (sha256 of the bytes each src points at), router (photo -> the fast slot, moondream2;
text-heavy -> the text slot, qwen2.5-vl-3b) and `generate.translate.plan_calls` give the distinct
(image, role, language) pairs, which model describes each, and which are translated (by the text
slot's model). Nothing in the corpus is written (it is only read; no cache file is created).

The per-call times are twin-measured (benchmarks/twins.py: real-size random-weight models, the
output pinned at PINNED_TOKENS tokens), through the engine `alttext fix` runs (LocalEngine, its
default settings): a vision call per route on a corpus image of that route, with the prompt
`alttext` builds and the route's image-token budget, and a text-only translation call (no image)
on the text slot's model. Each kind is timed `--runs` times after one untimed call of the same
kind (a run makes hundreds of them in a row, so the instructions they share are reused from the
KV cache, as in the pipeline). Projected first-run model-seconds = the calls of each kind x its
median seconds + one load of each model used. Target: translation needs >= 3x fewer
model-seconds than describing every language from the image.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests"), str(Path(__file__).resolve().parent)]

from alttext_tools.check.rules import RuleSettings
from alttext_tools.cli.options import walk_files
from alttext_tools.config import Config
from alttext_tools.core import Context, image_role
from alttext_tools.engines.base import EngineSettings, Generation, physical_cores
from alttext_tools.engines.llama import LocalEngine
from alttext_tools.generate.prompts import build_prompt
from alttext_tools.generate.provider import PHOTO_IMAGE_TOKENS
from alttext_tools.generate.router import classify
from alttext_tools.generate.translate import CallPlan, plan_calls, translation_prompt
from alttext_tools.images.decode import load_image
from alttext_tools.images.errors import ImageError
from alttext_tools.images.reader import ImageReader
from alttext_tools.images.resize import QWEN_DEFAULT_TOKEN_BUDGET, png_for_model, preset_for_handler
from alttext_tools.images.svg import looks_like_svg
from alttext_tools.models.spec import ModelSpec
from alttext_tools.rewrite.fix import needs_alt, scan_for_fix

ROUTES = ("photo", "text")  # the router's kinds: photo -> moondream2 (fast slot), text -> qwen2.5-vl-3b

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


Occurrence = tuple[str, str, str | None]  # image sha256, role, language


def occurrences(corpus: Path, site_root: str) -> tuple[list[Occurrence], dict[str, tuple[str, bytes]], Counter[str]]:
    """(sha256, role, language) of every image `alttext fix` would ask a model about; each distinct
    image's route (photo or text, by the pipeline's router) and its bytes; and counts of what
    is left out (SVGs, answered by their own <title>; images that cannot be read)."""
    os.chdir(corpus)  # display paths, and the srcs they resolve, are relative to the corpus root
    config = Config(root=corpus, gitignore=False, site_root=site_root)
    files = walk_files([Path(".")], config)
    scanned, errors = scan_for_fix(files, RuleSettings(max_length=config.max_length))
    reader = ImageReader(corpus, config.site_root_path(), allow_remote=False)
    found: list[tuple[str, str, str | None]] = []
    left_out: Counter[str] = Counter(files=len(files), unreadable_files=len(errors))
    svg: dict[str, bool] = {}
    routes: dict[str, tuple[str, bytes]] = {}
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
            if read.sha256 not in routes:
                data = read.data if read.data is not None else reader.data(read)
                routes[read.sha256] = (classify(load_image(data)).kind, data)
            found.append((read.sha256, image_role(image), image.context.lang))
    return found, routes, left_out


# --- per-call times on the twins -----------------------------------------------------------------


def _twins_module(twins_dir: Path | None) -> Any:
    if twins_dir is not None:
        sys.path.insert(0, str(twins_dir))
    try:
        import twins
    except ImportError as err:
        sys.exit(f"benchmarks/twins.py is needed for the per-call times ({err}); pass --twins-dir or --plan-only")
    return twins


def _timed(runs: int, call: Any) -> tuple[float, Generation]:
    """Median seconds of `runs` calls after one untimed call (the weights paged in, the KV cache as
    a run leaves it between calls of this kind), and the last call's Generation."""
    call()
    times: list[float] = []
    for _ in range(runs):
        generation = call()
        times.append(generation.total_s)
    return statistics.median(times), generation


def _request(
    engine: LocalEngine, spec: ModelSpec, route: str, samples: dict[str, bytes], translate: Any
) -> Callable[[], Generation]:
    """One call of `route`: a translation (text only), or a vision call on the route's sample
    image at the route's image-token budget, with the prompt alttext builds."""
    if route == "translate":
        return partial(engine.complete_text, spec, translate.system, translate.user)
    data = samples[route]
    budget = PHOTO_IMAGE_TOKENS if route == "photo" else QWEN_DEFAULT_TOKEN_BUDGET
    png = png_for_model(data, load_image(data), preset_for_handler(spec.handler, qwen_token_budget=budget))
    prompt = build_prompt(_image_ref(), "informative", "en", spec.handler, 150, text_heavy=route == "text")
    return partial(engine.generate, spec, png, prompt.system, prompt.user, prompt.json_schema)


def measure(
    samples: dict[str, bytes], twins: Any, runs: int, threads: int, text_quant: str = "q4_k_m"
) -> dict[str, Any]:
    """Per-call seconds through LocalEngine: a vision call on each route's model and sample image
    (the route's image-token budget, the prompt alttext builds), and a text-only translation call
    on the text slot's model."""
    settings = EngineSettings(n_threads=threads, max_tokens=twins.PINNED_TOKENS)
    moondream = ModelSpec("moondream2", *map(Path, twins.ensure_twin("moondream2")), "moondream")
    qwen = ModelSpec("qwen2.5-vl-3b", *map(Path, twins.ensure_twin("qwen2.5-vl-3b", text_quant)), "qwen2.5-vl")
    translate = translation_prompt(SAMPLE_ALT, "en", "es", SAMPLE_CONTEXT, "informative", 150)
    out: dict[str, Any] = {"threads": threads, "pinned_tokens": twins.PINNED_TOKENS, "text_quant": text_quant}
    for spec, kinds in ((moondream, ("photo",)), (qwen, ("text", "translate"))):
        routes = tuple(route for route in kinds if route == "translate" or route in samples)
        if not routes:
            continue  # no image of this model's route in the corpus
        engine = LocalEngine(settings)
        try:
            out[f"{spec.name}_load_s"] = engine.load(spec)
            for route in routes:
                seconds, last = _timed(runs, _request(engine, spec, route, samples, translate))
                out[route] = {
                    "model": spec.name,
                    "seconds": seconds,
                    "prompt_tokens": last.prompt_tokens,
                    "tokens": last.tokens,
                }
                print(f"  (measured: {route} call on {spec.name}: {seconds:.2f} s)", flush=True)
        finally:
            engine.close()
        gc.collect()
    return out


def _image_ref() -> Any:
    from alttext_tools.generate.standalone import standalone_image

    return standalone_image("image01.png", title="Path Parameters", heading="Documentation", language="en")


# --- report --------------------------------------------------------------------------------------


def report(plans: dict[str, dict[str, CallPlan]], times: dict[str, Any] | None) -> int:
    """`plans`: per way of working (without / with translation), the plan of each route's images."""
    print(f"{'':28}{'vision: photo':>15}{'vision: text':>14}{'text calls':>12}{'model-s (projected)':>24}")
    totals: dict[str, float] = {}
    for name, by_route in plans.items():
        photo, text = by_route["photo"], by_route["text"]
        translations = photo.text_calls + text.text_calls
        seconds = ""
        if times is not None:
            total = text.vision_calls * times["text"]["seconds"] + translations * times["translate"]["seconds"]
            if photo.vision_calls:
                total += photo.vision_calls * times["photo"]["seconds"] + times["moondream2_load_s"]
            total += times["qwen2.5-vl-3b_load_s"] if text.vision_calls or translations else 0.0
            totals[name] = total
            seconds = f"{total:,.0f} s ({total / 3600:.2f} h)"
        print(f"{name:28}{photo.vision_calls:>15,}{text.vision_calls:>14,}{translations:>12,}{seconds:>24}")
    if times is None:
        return 0
    ratio = totals[WITHOUT] / totals[WITH]
    print(f"model-seconds: {ratio:.2f}x fewer with translation (target >= 3x): {'met' if ratio >= 3 else 'NOT met'}")
    return 0 if ratio >= 3 else 1


WITHOUT, WITH = "every language from image", "describe once, translate"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=None)
    parser.add_argument("--site-root", default="en/docs", help="where /img/... resolves (the English docs_dir)")
    parser.add_argument("--runs", type=int, default=2, help="timed calls of each kind (median)")
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--plan-only", action="store_true", help="count calls, measure nothing")
    parser.add_argument(
        "--text-quant", default="q4_k_m", help="the qwen2.5-vl-3b twin's text model type (the preset's: q4_k_m)"
    )
    parser.add_argument("--twins-dir", type=Path, help="folder holding twins.py, when not this one")
    args = parser.parse_args(argv)
    corpus = (args.corpus or default_corpus()).resolve()

    started = time.perf_counter()
    found, routes, left_out = occurrences(corpus, args.site_root)
    plan_s = time.perf_counter() - started
    plans = {
        way: {
            route: plan_calls([o for o in found if routes[o[0]][0] == route], translate=way == WITH, preferred="en")
            for route in ROUTES
        }
        for way in (WITHOUT, WITH)
    }
    languages = Counter(lang or "(none)" for _, _, lang in found)
    images = len({sha for sha, _, _ in found})
    routed = Counter(route for route, _ in routes.values())
    print(f"corpus: {corpus} (site root {args.site_root}), planned in {plan_s:.1f} s without a model", flush=True)
    print(", ".join(f"{name}: {count:,}" for name, count in left_out.items()))
    print(
        f"images a model describes: {len(found):,} on pages, {images} distinct images, "
        f"{sum(p.distinct for p in plans[WITHOUT].values()):,} distinct (image, role, language),"
        f" {len(languages)} languages; routed: {routed['photo']} photo, {routed['text']} text-heavy",
        flush=True,
    )
    times = None
    if not args.plan_only:
        twins = _twins_module(args.twins_dir)
        samples = {route: data for route, data in reversed(list(routes.values()))}  # the first of each
        samples["text"] = (corpus / SAMPLE_IMAGE).read_bytes()
        times = measure(samples, twins, args.runs, args.threads, args.text_quant)
        print(
            f"twin-measured per call through LocalEngine ({times['threads']} threads, output pinned at"
            f" {times['pinned_tokens']} tokens; median of {args.runs} after one untimed call):"
        )
        for kind in ("photo", "text", "translate"):
            if kind not in times:
                continue
            call = times[kind]
            what = "text-only translation" if kind == "translate" else f"vision call, {kind} route"
            print(
                f"  {what}, {call['model']} twin: {call['seconds']:.2f} s"
                f" ({call['prompt_tokens']} prompt tokens, {call['tokens']} generated)"
            )
        models = [name for name in ("moondream2", "qwen2.5-vl-3b") if f"{name}_load_s" in times]
        loads = [f"{name} {times[f'{name}_load_s']:.1f} s" for name in models]
        print(f"  loads: {', '.join(loads)}")
    return report(plans, times)


if __name__ == "__main__":
    sys.exit(main())
