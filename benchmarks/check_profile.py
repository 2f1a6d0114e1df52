"""Where the time of `alttext check` goes on a Markdown corpus: a wall/CPU breakdown and a profile.

    python benchmarks/check_profile.py [CORPUS] [--top 25]

CORPUS defaults to the FastAPI docs (as benchmarks/check_corpus.py). Printed, in this order:

1. the start-up of a bare interpreter (`python -c pass`) and of `alttext --version`, as subprocesses
   (the median of 5);
2. in this process, stage by stage, with wall and CPU time: importing the check command, walking
   the tree (every *.md, other source suffixes excluded, no .gitignore: what check_corpus.py
   checks), resolving each file's Markdown dialect, then a cold check in one process (`-j 1`, no
   results cache; read, decode, scan, judge), and the report;
3. the same walk and check with a results cache: filling it (untimed), then the warm lookup
   (stat, one index file, decode), in a fresh cache folder;
4. a cProfile of the cold check, its own time summed by where the code lives (markdown-it's block
   parser, its inline parser, our Markdown and HTML scanners, ...), then the --top functions.

Nothing is written into the corpus; the cache lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = (REPO.parent / "shared/corpus/fastapi-docs/docs", Path("/work/shared/corpus/fastapi-docs/docs"))
EXCLUDED = ("*.html", "*.htm", "*.xhtml", "*.markdown", "*.mdown", "*.mkd")
# Where a function's own time is counted: the first pattern found in its file name.
AREAS = (
    ("markdown_it/rules_block", "markdown-it block rules"),
    ("markdown_it/parser_block", "markdown-it block parser"),
    ("markdown_it/rules_inline", "markdown-it inline rules"),
    ("markdown_it/parser_inline", "markdown-it inline parser"),
    ("markdown_it/", "markdown-it (other)"),
    ("logging/", "logging (markdown-it's debug calls)"),
    ("alttext_tools/scan/markdown", "alttext scan/markdown.py"),
    ("alttext_tools/scan/python_markdown", "alttext scan/python_markdown.py"),
    ("alttext_tools/scan/html", "alttext scan/html*.py"),
    ("html/parser", "html.parser"),
    ("alttext_tools/check/", "alttext check/ (rules, run)"),
    ("alttext_tools/", "alttext (other)"),
    ("<string>", "generated code (dataclass __init__)"),
    ("/python3.", "standard library (re, dataclasses, ...)"),
)

T = TypeVar("T")


def default_corpus() -> Path:
    for candidate in DEFAULT_CORPORA:
        if candidate.is_dir():
            return candidate.resolve()
    raise SystemExit("no corpus found; pass its path (e.g. .../fastapi-docs/docs)")


def timed(label: str, func: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    value = func()
    print(f"  {label:44s}{time.perf_counter() - wall:8.3f} s wall{time.process_time() - cpu:8.3f} s CPU", flush=True)
    return value


def startup(command: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    walls = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, env=env)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def area(filename: str) -> str:
    if filename == "~":
        return "built-ins (regex, str, list, ...)"
    for pattern, name in AREAS:
        if pattern in filename:
            return name
    return "other"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", type=Path)
    ap.add_argument("--top", type=int, default=25, help="functions listed by own time (default 25)")
    args = ap.parse_args()
    corpus = (args.corpus or default_corpus()).resolve()
    os.chdir(corpus)
    sys.path.insert(0, str(REPO))
    print(
        f"corpus {corpus}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} (timings are noisy under load)"
    )

    print("start-up (subprocess, median of 5)")
    print(f"  {'python -c pass':44s}{startup([sys.executable, '-c', 'pass']):8.3f} s wall")
    print(f"  {'alttext --version':44s}{startup([sys.executable, '-m', 'alttext_tools', '--version']):8.3f} s wall")

    print("in this process")

    def imports() -> None:
        import alttext_tools.check.run
        import alttext_tools.cli.main  # noqa: F401

    timed("import the check command", imports)
    from alttext_tools.check.results_cache import ResultsCache
    from alttext_tools.check.rules import RuleSettings
    from alttext_tools.check.run import check_files
    from alttext_tools.report.json_format import format_json
    from alttext_tools.scan.dialects import DialectResolver
    from alttext_tools.scan.walk import Walker

    def walk() -> list[tuple[Path, str]]:
        return list(Walker(corpus, EXCLUDED, use_gitignore=False).files([Path(".")]))

    files = timed("walk", walk)
    resolve = DialectResolver()
    timed(f"dialect of {len(files)} files", lambda: [resolve(path) for path, _ in files])
    settings = RuleSettings()
    run = timed("cold check, -j 1 (read, decode, scan, judge)", lambda: check_files(files, settings, jobs=1))
    timed("JSON report", lambda: format_json(run.report().findings))
    scanned = sum(1 for r in run.results if r.images or r.findings)
    print(f"  ({len(files)} files, {scanned} with images, {sum(len(r.images) for r in run.results)} images)")

    with tempfile.TemporaryDirectory(prefix="alttext-profile-") as tmp:
        cache = ResultsCache(Path(tmp), settings)
        check_files(files, settings, jobs=1, results=cache)  # fills it (files just written are hashed)
        check_files(files, settings, jobs=1, results=ResultsCache(Path(tmp), settings))  # the index learns stats
        warm = ResultsCache(Path(tmp), settings)
        timed("warm: index file read", lambda: warm.index)
        timed("warm: check (stat, dialect, decode)", lambda: check_files(files, settings, jobs=1, results=warm))

    print("profile of the cold check, -j 1 (own time by area; cProfile adds its overhead)")
    profile = cProfile.Profile()
    profile.enable()
    check_files(files, settings, jobs=1)
    profile.disable()
    stats = pstats.Stats(profile)
    by_area: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        by_area[area(filename)] += own
        total += own
    for name, own in sorted(by_area.items(), key=lambda item: -item[1]):
        print(f"  {name:44s}{own:8.2f} s {100 * own / total:5.1f}%")
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
