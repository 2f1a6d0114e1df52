"""What the structural-equivalence guard (rewrite/guard.py) adds to rewriting a file.

    python benchmarks/rewrite_guard.py [CORPUS] [--runs N]

CORPUS defaults to the FastAPI docs in ../shared/corpus (read only). Every Markdown and HTML file
with an image is given a new alt for each image; the benchmark times, per file, the rewrite as
`fix` did it before the guard (plan, apply, re-scan, verify: `edits.rewrite_text`), then the guard
with markdown-it / html.parser alone and with Python-Markdown too (MkDocs pages), and prints the
totals (median of --runs) and the guard's share. No timing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from alttext_tools.core import Decision
from alttext_tools.rewrite.edits import rewrite_text
from alttext_tools.rewrite.guard import structure_change
from alttext_tools.scan.dispatch import kind_of, scan_text
from alttext_tools.scan.sources import SourceError, read_source


def default_corpus() -> Path:
    for base in (REPO.parent / "shared", Path("/work/shared")):
        candidate = base / "corpus" / "fastapi-docs" / "docs"
        if candidate.is_dir():
            return candidate
    sys.exit("no corpus found: pass its path")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    corpus = args.corpus or default_corpus()
    jobs = []
    for path in sorted(corpus.rglob("*")):
        kind = kind_of(path)
        if kind is None or not path.is_file():
            continue
        try:
            text = read_source(path).text
        except SourceError:
            continue
        images = [i for i in scan_text(text, str(path), kind) if i.alt_kind is not None and not i.ignored]
        if images:
            pairs = [(i, Decision.text(f"A new | `alt` for [{i.src}] *{n}*")) for n, i in enumerate(images)]
            jobs.append((str(path), kind, text, scan_text(text, str(path), kind), pairs))
    if not jobs:
        sys.exit(f"no file with images under {corpus}")
    rewritten = []
    refused = 0
    rewrite_times, guard_times, python_markdown_times = [], [], []
    for _ in range(args.runs):
        rewritten = []
        start = time.perf_counter()
        for path, kind, text, images, pairs in jobs:
            usable = [(image, decision) for image, decision in pairs if image.alt_span is not None or kind == "html"]
            try:
                rewritten.append((kind, text, rewrite_text(text, path, kind, images, usable).text))
            except Exception:  # a label the rewriter cannot locate: not what is measured here
                continue
        rewrite_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        refused = sum(structure_change(old, new, kind) is not None for kind, old, new in rewritten)
        guard_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        for kind, old, new in rewritten:
            structure_change(old, new, kind, python_markdown=True)
        python_markdown_times.append(time.perf_counter() - start)
    images = sum(len(pairs) for *_, pairs in jobs)
    rewrite, guard, with_pm = (statistics.median(t) for t in (rewrite_times, guard_times, python_markdown_times))
    size = sum(len(text) for _, text, _ in rewritten) / 1e6
    print(f"corpus: {corpus}")
    print(f"files rewritten: {len(rewritten)} ({images} images, {size:.1f} M characters), guard refused: {refused}")
    print(f"rewrite (plan, apply, re-scan, verify): {rewrite:.2f} s")
    print(f"guard, markdown-it / html.parser:        {guard:.2f} s ({guard / rewrite:.0%} of the rewrite)")
    print(f"guard, plus Python-Markdown (MkDocs):    {with_pm:.2f} s ({with_pm / rewrite:.0%} of the rewrite)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
