"""A full re-run of `alttext fix` where every image is cached vs `alttext check`, same tree.

Target (issue: alt-text memory): the cached fix takes at most 1.2x the wall time of check.

    python benchmarks/cached_fix.py [CORPUS] [--runs N]

CORPUS defaults to the FastAPI docs in ../shared/corpus (copied to a temp folder: never written).
The cache is filled once with the tiny test models (tests/tiny_models.py, real inference, one
thread); then each timed fix starts from the pristine sources with that cache, so it writes the
same alt text again without loading a model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def default_corpus() -> Path:
    for base in (REPO.parent / "shared", Path("/work/shared")):
        candidate = base / "corpus" / "fastapi-docs" / "docs"
        if candidate.is_dir():
            return candidate
    sys.exit("no corpus found: pass its path")


def alttext(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "alttext_tools", *args], cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--site-root", help="where /img/x.png resolves, relative to CORPUS (default: en/docs if present)")
    options = parser.parse_args()
    corpus = (options.corpus or default_corpus()).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pristine, tree = work / "pristine", work / "tree"
        shutil.copytree(corpus, pristine, symlinks=True)
        for path in [pristine, *pristine.rglob("*")]:  # the shared corpus is read-only; the copy must not be
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
        models = json.loads(subprocess.run([sys.executable, str(REPO / "tests" / "tiny_models.py"), str(work / "models")],
                                           capture_output=True, text=True, check=True).stdout)
        site_root = options.site_root or ("en/docs" if (pristine / "en" / "docs").is_dir() else ".")
        common = ["--site-root", site_root, "--no-gitignore"]
        model = ["--model", models["moondream_text"], "--mmproj", models["moondream_mmproj"], "--handler", "moondream", "--threads", "1"]

        def fresh_tree() -> None:
            cache = tree / ".alttext-cache.jsonl"
            kept = cache.read_bytes() if cache.exists() else None
            if tree.exists():
                shutil.rmtree(tree)
            shutil.copytree(pristine, tree, symlinks=True)
            (tree / ".alttext.toml").write_text("", encoding="utf-8")  # the project root: cache lives here
            if kept is not None:
                cache.write_bytes(kept)

        fresh_tree()
        fill_s, proc = alttext(["fix", ".", *common, *model, "--format", "json"], tree)
        first = json.loads(proc.stdout)["summary"]
        print(f"cache filled in {fill_s:.1f} s: {first['generated']} generated, {first['deduplicated']} deduplicated, "
              f"{first['failed']} failed (remote images are not fetched), model loads {first['model_loads']}")

        # Two trees: the pristine sources with a full cache (fix writes every alt again), and the
        # already-fixed tree with that cache (the everyday re-run: CI, pre-commit).
        times: dict[str, list[float]] = {"check pristine": [], "fix pristine": [], "check fixed": [], "fix fixed": []}
        summaries = {}
        for _ in range(options.runs):
            fresh_tree()
            times["check pristine"].append(alttext(["check", ".", *common, "--format", "json"], tree)[0])
            seconds, proc = alttext(["fix", ".", *common, *model, "--format", "json"], tree)
            times["fix pristine"].append(seconds)
            summaries["pristine"] = json.loads(proc.stdout)["summary"]
            times["check fixed"].append(alttext(["check", ".", *common, "--format", "json"], tree)[0])
            seconds, proc = alttext(["fix", ".", *common, *model, "--format", "json"], tree)
            times["fix fixed"].append(seconds)
            summaries["fixed"] = json.loads(proc.stdout)["summary"]
        med = {name: statistics.median(values) for name, values in times.items()}
        files = sum(1 for p in pristine.rglob("*") if p.suffix in (".md", ".html"))
        print(f"\ncorpus {corpus} ({files} files), {os.cpu_count()} cores, median of {options.runs}")
        print(f"{'tree':34}{'check':>9}{'fix':>9}{'ratio':>8}{'from cache':>12}{'model loads':>13}")
        verdicts = []
        for label, key in (("pristine sources + full cache", "pristine"), ("fixed sources + full cache (re-run)", "fixed")):
            ratio = med[f"fix {key}"] / med[f"check {key}"]
            loads = sum(summaries[key]["model_loads"].values())
            verdicts.append(ratio <= 1.2 and loads == 0)
            print(f"{label:34}{med[f'check {key}']:>8.2f}s{med[f'fix {key}']:>8.2f}s{ratio:>7.2f}x{summaries[key]['from_cache']:>12}{loads:>13}")
        print("target: fix <= 1.2x check with no model loaded -> "
              f"pristine {'PASS' if verdicts[0] else 'FAIL'}, re-run {'PASS' if verdicts[1] else 'FAIL'}")
        return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
