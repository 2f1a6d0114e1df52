"""A full re-run of `alttext fix` where every image is cached vs `alttext check`, same tree.

Target (issue: alt-text memory): the cached fix takes at most 1.2x the wall time of check.

    python benchmarks/cached_fix.py [CORPUS] [--runs N]

CORPUS defaults to the FastAPI docs in ../shared/corpus (copied to a temp folder: never written).
The cache is filled once with the tiny test models (tests/tiny_models.py, real inference, one
thread). The few images whose random-weight answers are rejected (degenerate answers) get alt
text by hand, as a reviewer gives it: failures are not cached, and fix would ask about them again.
Then two trees are timed, each with check and fix, median of --runs:

- the re-run (the target): the tree the first fix left behind, with its cache - what CI and
  pre-commit do every day. Nothing is generated, no model is loaded.
- pristine sources + full cache (reported, no target): fix writes every alt again from the
  cache, and re-scans each rewritten file to prove only alt text changed. That verification is
  a full parse of those files (their share of the corpus bytes is printed), so this case costs
  check + that share, by design.

Byte-code is written and every command warmed up once first, as in a `pip install`ed package
(PYTHONDONTWRITEBYTECODE, set on some machines, would add the compile time of every module to
every run: more for fix, which imports more).
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


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def alttext(args: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "alttext_tools", *args], cwd=cwd, capture_output=True, text=True, env=ENV
    )
    return time.perf_counter() - start, proc


HAND_WRITTEN_ALT = "Screenshot of the FastAPI documentation page this section describes"


def describe_by_hand(pristine: Path, tree: Path, common: list[str], model: list[str]) -> int:
    """Write alt text into `pristine` for the images the model was asked about but gave no usable
    answer for (a degenerate answer, or one our rules reject twice): failures are not cached, so
    without this every run would load the model to ask about them again. Returns their number."""
    report = json.loads(alttext(["fix", ".", "--check", *common, *model, "--format", "json"], tree)[1].stdout)
    asked = {(r["path"], r["line"], r["column"]) for r in report["images"] if r["status"] == "failed" and r["route"]}
    if not asked:
        return 0
    findings = json.loads(alttext(["check", ".", *common, "--format", "json"], pristine)[1].stdout)
    decisions = [dict(f, new_alt=HAND_WRITTEN_ALT) for f in findings if (f["path"], f["line"], f["column"]) in asked]
    decisions_file = pristine.parent / "by-hand.json"
    decisions_file.write_text(json.dumps(decisions), encoding="utf-8")
    alttext(["fix", "--from", str(decisions_file), "--no-cache", *common], pristine)
    return len(asked)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--site-root", help="where /img/x.png resolves, relative to CORPUS (default: en/docs if present)"
    )
    parser.add_argument(
        "--cache", type=Path, help="keep the filled alt-text cache here and reuse it next time (the fill takes minutes)"
    )
    options = parser.parse_args()
    corpus = (options.corpus or default_corpus()).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pristine, tree = work / "pristine", work / "tree"
        shutil.copytree(corpus, pristine, symlinks=True)
        for path in [pristine, *pristine.rglob("*")]:  # the shared corpus is read-only; the copy must not be
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
        models = json.loads(
            subprocess.run(
                [sys.executable, str(REPO / "tests" / "tiny_models.py"), str(work / "models")],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        site_root = options.site_root or ("en/docs" if (pristine / "en" / "docs").is_dir() else ".")
        common = ["--site-root", site_root, "--no-gitignore"]
        model = [
            "--model",
            models["moondream_text"],
            "--mmproj",
            models["moondream_mmproj"],
            "--handler",
            "moondream",
            "--threads",
            "1",
        ]

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
        if options.cache is not None and options.cache.exists():
            (tree / ".alttext-cache.jsonl").write_bytes(options.cache.read_bytes())
            alttext(["fix", ".", *common, *model], tree)  # from the cache: leaves the fixed tree
            print(f"cache reused from {options.cache}")
        else:
            fill_s, proc = alttext(["fix", ".", *common, *model, "--format", "json"], tree)
            first = json.loads(proc.stdout)["summary"]
            print(
                f"cache filled in {fill_s:.1f} s: {first['generated']} generated, "
                f"{first['deduplicated']} deduplicated, "
                f"{first['failed']} failed (remote images are not fetched), model loads {first['model_loads']}"
            )
            if options.cache is not None:
                options.cache.write_bytes((tree / ".alttext-cache.jsonl").read_bytes())

        by_hand = describe_by_hand(pristine, tree, common, model)
        print(f"{by_hand} images the model could not describe got alt text by hand (as `alttext review` gives it)")
        fresh_tree()

        # Two trees: the pristine sources with a full cache (fix writes every alt again), and the
        # already-fixed tree with that cache (the everyday re-run: CI, pre-commit).
        times: dict[str, list[float]] = {"check pristine": [], "fix pristine": [], "check fixed": [], "fix fixed": []}
        summaries = {}
        alttext(["check", ".", *common], tree)  # warm-up: byte-code for every module check imports
        alttext(["fix", ".", "--check", *common, *model], tree)
        for _ in range(options.runs):
            fresh_tree()
            times["check pristine"].append(alttext(["check", ".", *common, "--format", "json"], tree)[0])
            seconds, proc_pristine = alttext(["fix", ".", *common, *model, "--format", "json"], tree)
            times["fix pristine"].append(seconds)
            summaries["pristine"] = json.loads(proc_pristine.stdout)["summary"]
            times["check fixed"].append(alttext(["check", ".", *common, "--format", "json"], tree)[0])
            seconds, proc = alttext(["fix", ".", *common, *model, "--format", "json"], tree)
            times["fix fixed"].append(seconds)
            summaries["fixed"] = json.loads(proc.stdout)["summary"]
        med = {name: statistics.median(values) for name, values in times.items()}
        sources = [p for p in pristine.rglob("*") if p.suffix in (".md", ".html")]
        print(f"\ncorpus {corpus} ({len(sources)} files), {os.cpu_count()} cores, median of {options.runs}")
        print(f"{'tree':38}{'check':>9}{'fix':>9}{'ratio':>8}{'from cache':>12}{'model loads':>13}")
        ratios, loads = {}, {}
        for label, key in (
            ("re-run: fixed sources + full cache", "fixed"),
            ("pristine sources + full cache", "pristine"),
        ):
            ratios[key] = med[f"fix {key}"] / med[f"check {key}"]
            loads[key] = sum(summaries[key]["model_loads"].values())
            print(
                f"{label:38}{med[f'check {key}']:>8.2f}s{med[f'fix {key}']:>8.2f}s{ratios[key]:>7.2f}x"
                f"{summaries[key]['from_cache']:>12}{loads[key]:>13}"
            )
        rewritten = [tree / f["path"] for f in json.loads(proc_pristine.stdout)["files"] if f["status"] == "changed"]
        share = sum(pristine.joinpath(p.relative_to(tree)).stat().st_size for p in rewritten) / sum(
            p.stat().st_size for p in sources
        )
        print(
            f"pristine: {len(rewritten)} files rewritten and re-scanned to verify them, {share:.0%} of the corpus bytes"
        )
        passed = ratios["fixed"] <= 1.2 and loads["fixed"] == 0 and loads["pristine"] == 0
        print(
            f"target: a re-run of fix <= 1.2x check, no model loaded -> "
            f"{'PASS' if passed else 'FAIL'} ({ratios['fixed']:.2f}x)"
        )
        return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
