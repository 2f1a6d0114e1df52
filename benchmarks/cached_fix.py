"""A full re-run of `alttext fix` where every image is cached vs `alttext check`, same tree.

Target (issue: alt-text memory): the cached fix takes at most 1.2x the wall time of check.

    python benchmarks/cached_fix.py [CORPUS] [--runs N]
    python benchmarks/cached_fix.py [CORPUS] --small 3 [--runs N]

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

--small N measures what a pre-commit hook pays instead: `check FILES` and `fix FILES` on N corpus
files (the smallest Markdown pages whose images are all local PNG/JPEG pictures), the cache filled
for them first, timed in the same run (interleaved, median of --runs): the re-run on the fixed
files (target: fix at most 1.2x check), and the pristine files with a full cache (reported). Fixed
start-up costs dominate such a run.

Byte-code is written and every command warmed up once first, as in a `pip install`ed package
(PYTHONDONTWRITEBYTECODE, set on some machines, would add the compile time of every module to
every run: more for fix, which imports more).
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
ENV["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)  # this checkout


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
    parser.add_argument("--small", type=int, metavar="N", help="time check and fix on N files only (see above)")
    options = parser.parse_args()
    corpus = (options.corpus or default_corpus()).resolve()
    if options.small is not None:
        return small_run(corpus, options.small, options.runs, options.site_root)
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
        verdict = "PASS" if passed else "FAIL"
        print(f"target: a re-run of fix <= 1.2x check, no model loaded -> {verdict} ({ratios['fixed']:.2f}x)")
        return 0 if passed else 1


def small_files(tree: Path, site_root: Path, count: int) -> list[str]:
    """The `count` smallest Markdown pages with images, all of them local PNG/JPEG files."""
    found = []
    for page in sorted(tree.rglob("*.md")):
        text = page.read_text(encoding="utf-8", errors="replace")
        srcs = re.findall(r"""!\[[^\]]*\]\(([^)\s]+)|<img\b[^>]*?\ssrc=["']?([^"'\s>]+)""", text)
        urls = [a or b for a, b in srcs]
        if not urls or any(not url.lower().endswith((".png", ".jpg", ".jpeg")) for url in urls):
            continue
        if any(url.startswith(("http:", "https:")) for url in urls):
            continue
        paths = [site_root / url.lstrip("/") if url.startswith("/") else page.parent / url for url in urls]
        if all(path.is_file() for path in paths):
            found.append((page.stat().st_size, page.relative_to(tree).as_posix()))
    return [name for _, name in sorted(found)[:count]]


def small_run(corpus: Path, count: int, runs: int, site_root_option: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tree, results = work / "tree", work / "results-cache"
        shutil.copytree(corpus, tree, symlinks=True)
        for path in [tree, *tree.rglob("*")]:  # the shared corpus is read-only; the copy must not be
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
        (tree / ".alttext.toml").write_text("", encoding="utf-8")  # the project root: cache lives here
        site_root = site_root_option or ("en/docs" if (tree / "en" / "docs").is_dir() else ".")
        candidates = small_files(tree, tree / site_root, count * 4)
        models = json.loads(
            subprocess.run(
                [sys.executable, str(REPO / "tests" / "tiny_models.py"), str(work / "models")],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        model = ["--model", models["moondream_text"], "--mmproj", models["moondream_mmproj"], "--handler", "moondream"]
        common = ["--site-root", site_root]
        env = {**ENV, "ALTTEXT_CACHE_DIR": str(results)}
        pristine = {name: (tree / name).read_bytes() for name in candidates}

        def run(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "alttext_tools", *args], cwd=tree, capture_output=True, text=True, env=env
            )
            return time.perf_counter() - start, proc

        # The tiny models' answers are noise that the rules may reject: failures are not cached (fix
        # would load the model for them on every run), so only pages the model described fully count.
        fill_s, proc = run(["fix", *candidates, *common, *model, "--threads", "1", "--format", "json"])
        report = json.loads(proc.stdout)
        failed = {record["path"] for record in report["images"] if record["status"] == "failed"}
        files = [name for name in candidates if name not in failed][:count]
        pristine = {name: pristine[name] for name in files}
        print(
            f"{count} files ({', '.join(files)}): cache filled in {fill_s:.1f} s for {len(candidates)} candidate "
            f"pages, {report['summary']['generated']} generated, {len(failed)} pages left out (an answer rejected)"
        )
        fixed = {name: (tree / name).read_bytes() for name in files}
        times: dict[str, list[float]] = {"check fixed": [], "fix fixed": [], "check pristine": [], "fix pristine": []}
        run(["check", *files, *common])  # warm-up: byte-code, and the results cache
        run(["fix", *files, *common, *model])
        for _ in range(runs):
            times["check fixed"].append(run(["check", *files, *common])[0])
            times["fix fixed"].append(run(["fix", *files, *common, *model])[0])
            for name, data in pristine.items():
                (tree / name).write_bytes(data)
            times["check pristine"].append(run(["check", *files, *common])[0])
            seconds, proc = run(["fix", *files, *common, *model])
            times["fix pristine"].append(seconds)
            assert all((tree / name).read_bytes() == data for name, data in fixed.items()), proc.stderr
        med = {name: statistics.median(values) for name, values in times.items()}
        print(f"\n{count} files, {os.cpu_count()} cores, median of {runs}")
        print(f"{'files':38}{'check':>9}{'fix':>9}{'ratio':>8}")
        for label, key in (("re-run: fixed files + full cache", "fixed"), ("pristine files + full cache", "pristine")):
            ratio = med[f"fix {key}"] / med[f"check {key}"]
            print(f"{label:38}{med[f'check {key}']:>8.2f}s{med[f'fix {key}']:>8.2f}s{ratio:>7.2f}x")
        for name, values in times.items():
            print(f"  {name}: {' '.join(f'{v:.2f}' for v in values)}")
        ratio = med["fix fixed"] / med["check fixed"]
        passed = ratio <= 1.2
        print(
            f"target: a re-run of fix on {count} files <= 1.2x check -> {'PASS' if passed else 'FAIL'} ({ratio:.2f}x)"
        )
        return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
