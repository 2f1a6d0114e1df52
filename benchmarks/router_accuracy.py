"""Router accuracy on the labelled fixtures (or any folder with text/ and photo/ subfolders).

    .venv/bin/python benchmarks/router_accuracy.py                  # fixtures/router
    .venv/bin/python benchmarks/router_accuracy.py --robustness     # + JPEG / rescaled copies
    .venv/bin/python benchmarks/router_accuracy.py --dir /tmp/other --features

Prints accuracy overall and per class, the confusion matrix, misclassified files with their
score and features, and the classify() time per image (decoding excluded).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alttext_tools.generate.router import classify
from alttext_tools.images.decode import load_image

LABELS = ("text", "photo")


def _jpeg(quality: int) -> Callable[[Image.Image], Image.Image]:
    def apply(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    return apply


def _scale(factor: float) -> Callable[[Image.Image], Image.Image]:
    def apply(img: Image.Image) -> Image.Image:
        size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
        return img.resize(size, Image.Resampling.LANCZOS)

    return apply


VARIANTS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg q75": _jpeg(75),
    "jpeg q50": _jpeg(50),
    "scaled x0.6": _scale(0.6),
    "scaled x2": _scale(2.0),
}


def load_set(folder: Path) -> list[tuple[str, Path, Image.Image]]:
    items = []
    for label in LABELS:
        for path in sorted((folder / label).glob("*.png")):
            items.append((label, path, load_image(path.read_bytes(), src=str(path))))
    return items


def evaluate(
    items: list[tuple[str, Path, Image.Image]], *, title: str, show_features: bool, quiet: bool = False
) -> float:
    confusion = {(t, p): 0 for t in LABELS for p in LABELS}
    misses: list[str] = []
    times: list[float] = []
    for label, path, img in items:
        start = time.perf_counter()
        decision = classify(img)
        times.append((time.perf_counter() - start) * 1000)
        confusion[(label, decision.kind)] += 1
        feats = " ".join(f"{k}={v:.3f}" for k, v in decision.features.items())
        if decision.kind != label:
            misses.append(
                f"  {label:5s} -> {decision.kind:5s} score={decision.score:.3f}  "
                f"{path.parent.name}/{path.name}  {feats}"
            )
        elif show_features:
            print(f"  ok    {label:5s} score={decision.score:.3f}  {path.name}  {feats}")
    total = len(items)
    correct = sum(confusion[(t, t)] for t in LABELS)
    accuracy = correct / total if total else 0.0
    if quiet:
        print(
            f"{title:28s} accuracy {accuracy:.3f} ({correct}/{total})" + (f"; misses: {len(misses)}" if misses else "")
        )
        for line in misses:
            print(line)
        return accuracy
    print(f"== {title}: {total} images")
    print(f"accuracy overall: {accuracy:.3f} ({correct}/{total})")
    for t in LABELS:
        n = sum(confusion[(t, p)] for p in LABELS)
        print(f"accuracy {t:5s}:   {confusion[(t, t)] / n if n else 0.0:.3f} ({confusion[(t, t)]}/{n})")
    print("confusion (rows = truth, columns = predicted):")
    print(f"  {'':8s}" + "".join(f"{p:>8s}" for p in LABELS))
    for t in LABELS:
        print(f"  {t:8s}" + "".join(f"{confusion[(t, p)]:8d}" for p in LABELS))
    print("misclassified:" if misses else "misclassified: none")
    for line in misses:
        print(line)
    times.sort()
    print(
        f"classify ms/image: mean {statistics.fmean(times):.2f}, median {statistics.median(times):.2f}, "
        f"p95 {times[int(0.95 * (len(times) - 1))]:.2f}, max {times[-1]:.2f}"
    )
    return accuracy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, action="append", help="folder with text/ and photo/ (repeatable)")
    ap.add_argument("--robustness", action="store_true", help="also score JPEG-compressed and rescaled copies")
    ap.add_argument("--features", action="store_true", help="print features of correctly classified files too")
    args = ap.parse_args(argv)
    folders = args.dir or [ROOT / "fixtures" / "router"]
    for folder in folders:
        items = load_set(folder)
        if not items:
            print(f"no images under {folder}/{{text,photo}}/", file=sys.stderr)
            return 1
        evaluate(items, title=str(folder), show_features=args.features)
        if args.robustness:
            print("robustness (same images, transformed):")
            for name, fn in VARIANTS.items():
                evaluate(
                    [(lab, p, fn(img)) for lab, p, img in items], title=f"  {name}", show_features=False, quiet=True
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
