"""Speed of `alttext check` on large real corpora, against other linters and against html.parser.

    python benchmarks/check_corpus.py [CORPUS] [--runs 3] [--one-file-runs 10] [--no-markdownlint] [--no-rumdl]
    python benchmarks/check_corpus.py --html [python-docs|fastapi|FOLDER] [--runs 3]

Markdown mode (the default). CORPUS defaults to ../shared/corpus/fastapi-docs/docs next to the
repository (or /work/shared/corpus/fastapi-docs/docs). Every tool runs as a subprocess from the
corpus folder on the same files (every *.md; alttext with --no-gitignore and the other source
suffixes excluded):

- alttext cold: `alttext check --format json -j 0 --no-cache-results`, via the `alttext` console
  script of this Python;
- alttext warm: the same with the results cache on, in a fresh cache folder filled by one untimed
  run first: an unchanged tree, as CI and pre-commit see it;
- rumdl (a Rust Markdown linter from PyPI) with only MD045 and its cache off. It is taken from this
  Python's environment (`pip install rumdl`), else installed once with `pip install --target
  benchmarks/.cache/rumdl-VERSION`;
- when `npx` is available, markdownlint-cli2 with only MD045 enabled. It is installed once with
  `npm install --prefix benchmarks/.cache/markdownlint-cli2-VERSION` before anything is timed, and
  its own bin is run directly, so neither the download nor npx's start-up is counted against it.

Every tool gets one untimed warm-up run (its output is what the findings comparison uses), then
--runs timed runs, interleaved; the median wall time is reported, with the CPU time of the process
tree next to it (when the two disagree, other load interfered). Findings are compared where the
rules mean the same thing: MD045 flags a Markdown image whose label is empty and (markdownlint
only) an HTML <img> without an `alt=` attribute, unless aria-hidden="true"; on our side that is
missing-alt / empty-alt / whitespace-alt on html-img, md-inline and md-reference images (md-inline
and md-reference only for rumdl, which does not read HTML). Sets of (file, line) are compared; a
few disagreements are shown with the likely reason. The warm run's report must equal the cold one's.

Then `alttext check FILE` on one small corpus file that holds an image is timed --one-file-runs
times, and an import-time probe (PYTHONPROFILEIMPORTTIME) of that same command says whether
llama_cpp or PIL got imported. Targets (exit code 1 when one is measured and missed): at least 5x
faster than markdownlint-cli2; cold at most 2x rumdl's wall time; warm faster than rumdl; one-file
check under 0.3 s; neither heavy module imported.

HTML mode (--html). The corpus is real built documentation: `python-docs`, the Python
documentation that Debian's python3-doc package installs (/usr/share/doc/python3-doc/html:
`apt-get install python3-doc`), or `fastapi`, the FastAPI docs of the corpus above built with
mkdocs-material into benchmarks/.cache/fastapi-site (once; a minimal mkdocs.yml, the same
Markdown extensions as FastAPI's), or any FOLDER of *.html. In this process, on one core, the
html.parser floor (read, decode and tokenize every page with a bare html.parser.HTMLParser) and
the whole check (`check.run.check_files`, -j 1, no results cache: read, decode, scan, judge) run
--runs times each, interleaved; the fastest of each is compared, with pages/s and MB/s. Target:
the check within 1.5x of the floor. The CLI is then timed too (`alttext check -j 1` and `-j 0`,
cold, and warm), and a digest of the findings is printed, to compare two versions of the tool.

Nothing is written into the corpus (no --fix; the corpus's sizes and mtimes are compared before and
after). benchmarks/.cache/ holds the installs and the built site and should stay out of git.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPORA = (REPO.parent / "shared/corpus/fastapi-docs/docs", Path("/work/shared/corpus/fastapi-docs/docs"))
CACHE = REPO / "benchmarks" / ".cache"
MARKDOWNLINT_CLI2 = "0.22.1"  # bundles markdownlint 0.40.0; MD045 as described above
RUMDL = "0.3.0"  # installed when this Python's environment has none
PYTHON_DOCS = Path("/usr/share/doc/python3-doc/html")
FASTAPI_SITE = CACHE / "fastapi-site"

SPEEDUP_TARGET = 5.0
COLD_TARGET = 2.0  # alttext cold at most this many times rumdl's wall time
HTML_TARGET = 1.5  # the HTML check at most this many times the html.parser floor
ONE_FILE_TARGET_S = 0.3
HEAVY_MODULES = ("llama_cpp", "PIL")

# Sources alttext would check besides *.md; excluded so both tools see the same files.
OTHER_SUFFIXES = ("*.html", "*.htm", "*.xhtml", "*.markdown", "*.mdown", "*.mkd")
SKIPPED_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".tox", ".nox"}
COMPARABLE_RULES = {"missing-alt", "empty-alt", "whitespace-alt"}
COMPARABLE_SYNTAX = {"html-img", "md-inline", "md-reference"}
MARKDOWN_SYNTAX = {"md-inline", "md-reference"}  # what rumdl's MD045 looks at
_MD045_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::\d+)?\s+(?:error\s+|warning\s+)?MD045/")
_SUMMARY = re.compile(r"(\d+) images? checked in (\d+) files?")


@dataclass
class Timed:
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)  # user + sys of the command and its workers
    stdout: str = ""
    stderr: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    def add(self, measured: tuple[float, float, subprocess.CompletedProcess[str]]) -> None:
        self.walls.append(measured[0])
        self.cpus.append(measured[1])


def run_timed(
    cmd: list[str], cwd: Path, ok_codes: tuple[int, ...] = (0, 1), env: dict[str, str] | None = None
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """(wall s, CPU s of the process tree, result). CPU next to wall shows when other load interfered."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in ok_codes:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise SystemExit(f"{' '.join(cmd[:3])}... exited {proc.returncode} in {cwd}:\n{tail}")
    return wall, cpu, proc


# --------------------------------------------------------------------------- setup


def default_corpus() -> Path:
    for candidate in DEFAULT_CORPORA:
        if candidate.is_dir():
            return candidate.resolve()
    raise SystemExit("no corpus found; pass its path (e.g. .../fastapi-docs/docs)")


def alttext_env(**extra: str) -> dict[str, str]:
    """The environment alttext runs in: this checkout's package first, with byte-code written and
    read as in an installed package (PYTHONDONTWRITEBYTECODE, set on some machines, would add the
    compile time of every module to every run)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**env, **extra}


def alttext_command() -> list[str]:
    script = Path(sys.executable).with_name("alttext")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "alttext_tools"]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file: proof afterwards that nothing was written into the corpus."""
    out = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[path] = (st.st_size, st.st_mtime_ns)
    return out


def markdown_files(folder: Path) -> list[Path]:
    """What both tools check: every *.md (markdownlint-cli2's `**/*.md`; case-sensitive)."""
    found = []
    for dirpath, dirnames, names in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        found.extend(Path(dirpath) / n for n in sorted(names) if n.endswith(".md"))
    return found


def pick_one_file(files: list[Path]) -> Path:
    """The smallest corpus file that holds an image: the scanners (and markdown-it) must load."""
    with_image = [p for p in files if re.search(rb"!\[|<img\b", p.read_bytes(), re.I)]
    return min(with_image or files, key=lambda p: (p.stat().st_size, str(p)))


def install_markdownlint(version: str) -> Path | None:
    """Install markdownlint-cli2 into the cache once; returns its bin, or None (with a reason printed)."""
    if shutil.which("npx") is None or shutil.which("npm") is None or shutil.which("node") is None:
        print("markdownlint-cli2: skipped (npx/npm/node not on PATH)")
        return None
    prefix = CACHE / f"markdownlint-cli2-{version}"
    binary = prefix / "node_modules" / ".bin" / "markdownlint-cli2"
    if not binary.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        print(f"installing markdownlint-cli2@{version} into {prefix.relative_to(REPO)} (not timed)...", flush=True)
        proc = subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                "--no-save",
                f"markdownlint-cli2@{version}",
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not binary.exists():
            print(f"markdownlint-cli2: skipped (npm install failed: {(proc.stderr or proc.stdout).strip()[-500:]})")
            return None
    return binary


def find_rumdl(version: str) -> Path | None:
    """rumdl from this Python's environment, else installed once into the cache from PyPI."""
    here = Path(sys.executable).with_name("rumdl")
    if here.exists():
        return here
    prefix = CACHE / f"rumdl-{version}"
    binary = prefix / "bin" / "rumdl"
    if not binary.exists():
        print(f"installing rumdl=={version} into {prefix.relative_to(REPO)} (not timed)...", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(prefix), f"rumdl=={version}"],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not binary.exists():
            print(f"rumdl: skipped (pip install failed: {(proc.stderr or proc.stdout).strip()[-500:]})")
            return None
    return binary


def rumdl_findings(report_json: str) -> tuple[set[tuple[str, int]], int]:
    entries = json.loads(report_json or "[]")
    keys = {(str(e["file"]), int(e["line"])) for e in entries if e.get("rule") == "MD045"}
    return keys, len(entries)


# --------------------------------------------------------------------------- findings


def our_findings(
    report_json: str, syntaxes: set[str] = COMPARABLE_SYNTAX
) -> tuple[set[tuple[str, int]], dict[tuple[str, int], dict[str, object]], int, int]:
    """(comparable (file, line) set, one finding per key for explanations, all findings, skipped as not comparable)."""
    entries = json.loads(report_json)
    keys: set[tuple[str, int]] = set()
    detail: dict[tuple[str, int], dict[str, object]] = {}
    other = 0
    for entry in entries:
        if (
            entry.get("rule") in COMPARABLE_RULES
            and entry.get("syntax") in syntaxes
            and str(entry.get("path", "")).endswith(".md")
        ):
            key = (str(entry["path"]), int(entry["line"]))
            keys.add(key)
            detail.setdefault(key, entry)
        elif entry.get("rule") in COMPARABLE_RULES:
            other += 1  # e.g. <input type=image>, <area>: images MD045 does not look at
    return keys, detail, len(entries), other


def markdownlint_findings(output: str) -> tuple[set[tuple[str, int]], int]:
    keys = set()
    count = 0
    for line in output.splitlines():
        match = _MD045_LINE.match(line.strip())
        if match:
            count += 1
            keys.add((match["path"], int(match["line"])))
    return keys, count


def _line(corpus: Path, path: str, line: int, before: int = 0) -> str:
    """Source line `line` (1-based), continued up to the `>` that closes a tag opened on it, with
    `before` lines above it; whitespace collapsed."""
    try:
        lines = (corpus / path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    if not 0 < line <= len(lines):
        return ""
    end = line
    while end < min(len(lines), line + 10) and "<" in lines[line - 1] and ">" not in " ".join(lines[line - 1 : end]):
        end += 1
    return " ".join(" ".join(lines[max(0, line - 1 - before) : end]).split())


def reason_only_ours(entry: dict[str, object], text: str) -> str:
    if entry.get("rule") == "whitespace-alt":
        return "label is only whitespace: MD045 counts any character as alt text"
    if entry.get("syntax") == "md-reference":
        return "reference image: MD045 may see no image if micromark resolves the reference differently"
    if re.search(r"""\salt\s*=""", str(entry.get("element", "")), re.I):
        return "`alt=` appears inside another attribute's value: MD045's regex takes it as the alt"
    return f"{entry.get('rule')} on {entry.get('syntax')} (markdownlint parses this block differently?)"


def reason_only_markdownlint(text: str, above: str) -> str:
    if "alttext-ignore" in above:
        return "an alttext-ignore comment applies (MD045 has its own: <!-- markdownlint-disable MD045 -->)"
    if re.search(r"<img\b[^>]*\salt(?=[\s/>])(?!\s*=)", text, re.I):
        return 'bare `alt` attribute means alt="" (decorative); MD045\'s regex wants `alt=`'
    if re.search(r"""role\s*=\s*["']?(?:presentation|none)""", text, re.I):
        return "role=presentation/none: decorative for alttext, MD045 ignores role"
    if "alttext: decorative" in text:
        return "alttext decorative marker"
    if re.search(r"""aria-hidden\s*=\s*["']?true""", text, re.I):
        return "aria-hidden=true: both skip it, but on different tags or lines"
    if re.search(r"<img\b[^>]*\btitle\s*=", text, re.I) or re.search(r"aria-label", text, re.I):
        return "the image has another accessible name (title/aria-label)? alttext reports other rules then"
    return "not seen as an image by alttext here (different Markdown/HTML parsing?)"


def pair_near_misses(
    only_a: set[tuple[str, int]], only_b: set[tuple[str, int]], window: int = 3
) -> list[tuple[tuple[str, int], tuple[str, int]]]:
    """Same file, lines a few apart: the same image reported on a different line."""
    by_file: dict[str, list[int]] = defaultdict(list)
    for path, line in only_b:
        by_file[path].append(line)
    pairs = []
    for path, line in sorted(only_a):
        near = [b for b in by_file.get(path, []) if abs(b - line) <= window]
        if near:
            best = min(near, key=lambda b: abs(b - line))
            by_file[path].remove(best)
            pairs.append(((path, line), (path, best)))
    return pairs


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", type=Path, help="folder of Markdown files (default: the fastapi docs corpus)")
    ap.add_argument(
        "--html",
        nargs="?",
        const="auto",
        metavar="CORPUS",
        help="HTML mode: python-docs, fastapi, or a folder of *.html (default: python-docs if installed, else fastapi)",
    )
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each tool (median reported; default 3)")
    ap.add_argument("--one-file-runs", type=int, default=10, help="timed runs of the one-file check (default 10)")
    ap.add_argument("--no-markdownlint", action="store_true", help="do not run markdownlint-cli2")
    ap.add_argument("--no-rumdl", action="store_true", help="do not run rumdl")
    ap.add_argument(
        "--markdownlint-version",
        default=MARKDOWNLINT_CLI2,
        help=f"markdownlint-cli2 version to install (default {MARKDOWNLINT_CLI2})",
    )
    ap.add_argument("--rumdl-version", default=RUMDL, help=f"rumdl version to install if none is (default {RUMDL})")
    ap.add_argument("--examples", type=int, default=5, help="disagreements shown per side (default 5)")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.one_file_runs < 1:
        ap.error("--runs and --one-file-runs must be at least 1")
    if args.html is not None:
        return html_mode(args.html, args.runs)
    return markdown_mode(ap, args)


def markdown_mode(ap: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    corpus = (args.corpus or default_corpus()).resolve()
    if not corpus.is_dir():
        ap.error(f"not a folder: {corpus}")
    files = markdown_files(corpus)
    if not files:
        ap.error(f"no *.md files under {corpus}")
    before = snapshot(corpus)
    alttext = alttext_command()
    check_cmd = [
        *alttext,
        "check",
        "--format",
        "json",
        "-j",
        "0",
        "--no-gitignore",
        *(f"--exclude={g}" for g in OTHER_SUFFIXES),
        ".",
    ]
    cold_cmd = [*check_cmd, "--no-cache-results"]
    mdl_bin = None if args.no_markdownlint else install_markdownlint(args.markdownlint_version)
    rumdl_bin = None if args.no_rumdl else find_rumdl(args.rumdl_version)
    rumdl_cmd = (
        [str(rumdl_bin), "check", "--no-config", "--enable", "MD045", "--no-cache", "--output-format", "json", "."]
        if rumdl_bin
        else None
    )

    with tempfile.TemporaryDirectory(prefix="alttext-bench-") as tmp:
        config = Path(tmp) / ".markdownlint-cli2.jsonc"
        config.write_text(json.dumps({"config": {"default": False, "MD045": True}}) + "\n", encoding="utf-8")
        mdl_cmd = [str(mdl_bin), "--config", str(config), "**/*.md"] if mdl_bin else None
        cold_env = alttext_env()
        warm_env = alttext_env(ALTTEXT_CACHE_DIR=str(Path(tmp) / "results-cache"))

        print(f"corpus {corpus}: {len(files)} *.md files; {args.runs} timed run(s) each after a warm-up", flush=True)
        ours, warm, rumdl, mdl = Timed(), Timed(), Timed(), Timed()
        proc = run_timed(cold_cmd, corpus, env=cold_env)[2]
        ours.stdout, ours.stderr = proc.stdout, proc.stderr
        proc = run_timed(check_cmd, corpus, env=warm_env)[2]  # fills the results cache
        warm.stdout = proc.stdout
        if rumdl_cmd:
            proc = run_timed(rumdl_cmd, corpus)[2]
            rumdl.stdout, rumdl.stderr = proc.stdout, proc.stderr
        if mdl_cmd:
            proc = run_timed(mdl_cmd, corpus)[2]
            mdl.stdout, mdl.stderr = proc.stdout, proc.stderr
        for _ in range(args.runs):
            ours.add(run_timed(cold_cmd, corpus, env=cold_env))
            measured = run_timed(check_cmd, corpus, env=warm_env)
            warm.add(measured)
            warm.stderr = measured[2].stdout  # the last warm report, compared below
            if rumdl_cmd:
                rumdl.add(run_timed(rumdl_cmd, corpus))
            if mdl_cmd:
                mdl.add(run_timed(mdl_cmd, corpus))

    # One small file: start-up cost, and what gets imported.
    one = pick_one_file(files)
    one_rel = one.relative_to(corpus).as_posix()
    one_cmd = [*alttext, "check", "-q", one_rel]
    run_timed(one_cmd, corpus, env=alttext_env())  # warm-up
    one_walls = [run_timed(one_cmd, corpus, env=alttext_env())[0] for _ in range(args.one_file_runs)]
    probe = run_timed(one_cmd, corpus, env=alttext_env(PYTHONPROFILEIMPORTTIME="1"))[2]
    imported = {
        m.group(1).split(".")[0] for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", probe.stderr, re.M)
    }
    heavy = [m for m in HEAVY_MODULES if m in imported]

    after = snapshot(corpus)
    if after != before:
        changed = sorted(set(after.items()) ^ set(before.items()))[:5]
        print(f"ERROR: the corpus changed during the benchmark: {changed}")
        return 2

    # ------------------------------------------------------------------- findings
    ours_keys, ours_detail, ours_total, not_comparable = our_findings(ours.stdout)
    md_keys = our_findings(ours.stdout, MARKDOWN_SYNTAX)[0]
    warm_same = json.loads(warm.stdout) == json.loads(ours.stdout) == json.loads(warm.stderr)
    summary = _SUMMARY.search(ours.stderr)
    images, ours_files = (int(summary[1]), int(summary[2])) if summary else (None, None)
    if mdl_cmd:
        mdl_keys, mdl_count = markdownlint_findings(mdl.stderr + "\n" + mdl.stdout)
        linted = re.search(r"Linting: (\d+) file", mdl.stdout + mdl.stderr)
        mdl_files = int(linted[1]) if linted else None
    else:
        mdl_keys, mdl_count, mdl_files = set(), 0, None
    rumdl_keys, rumdl_count = rumdl_findings(rumdl.stdout) if rumdl_cmd else (set(), 0)

    # ------------------------------------------------------------------- table
    def fmt_s(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f} s"

    def cpu(t: Timed) -> str:
        return fmt_s(statistics.median(t.cpus) if t.cpus else None)

    def wall(t: Timed) -> str:
        return fmt_s(t.median if t.walls else None)

    speedup = mdl.median / ours.median if mdl.walls else None
    one_median = statistics.median(one_walls)
    columns = ("alttext cold", "alttext warm", "rumdl MD045", "markdownlint MD045")
    rows: list[tuple[str, ...]] = [
        (
            "files checked",
            str(ours_files if ours_files is not None else "?"),
            str(ours_files if ours_files is not None else "?"),
            str(len(files)) if rumdl_cmd else "-",
            str(mdl_files if mdl_files is not None else "-"),
        ),
        ("images", str(images if images is not None else "?"), "same", "-", "-"),
        (f"wall, median of {args.runs}", wall(ours), wall(warm), wall(rumdl), wall(mdl)),
        ("CPU (user+sys), median", cpu(ours), cpu(warm), cpu(rumdl), cpu(mdl)),
        (
            "findings, all rules",
            str(ours_total),
            "identical" if warm_same else "DIFFERENT",
            str(rumdl_count) if rumdl_cmd else "-",
            str(mdl_count) if mdl_cmd else "-",
        ),
        (
            "comparable (file, line)",
            f"{len(ours_keys)} ({len(md_keys)} md)",
            "-",
            str(len(rumdl_keys)) if rumdl_cmd else "-",
            str(len(mdl_keys)) if mdl_cmd else "-",
        ),
    ]
    if rumdl_cmd or mdl_cmd:
        rows.append(
            (
                "agree with alttext",
                "-",
                "-",
                f"{len(md_keys & rumdl_keys)}, -{len(md_keys - rumdl_keys)}/+{len(rumdl_keys - md_keys)}"
                if rumdl_cmd
                else "-",
                f"{len(ours_keys & mdl_keys)}, -{len(ours_keys - mdl_keys)}/+{len(mdl_keys - ours_keys)}"
                if mdl_cmd
                else "-",
            )
        )
    print()
    print(f"{'':26s}" + "".join(f"{c:>20s}" for c in columns))
    for label, *cells in rows:
        print(f"{label:26s}" + "".join(f"{c:>20s}" for c in cells))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ok = warm_same
    if not warm_same:
        print("FAIL: the warm run's report differs from the cold run's")
    if rumdl.walls:
        cold_ratio, warm_ratio = ours.median / rumdl.median, warm.median / rumdl.median
        ok &= cold_ratio <= COLD_TARGET and warm_ratio < 1
        print(
            f"{'cold / rumdl (wall)':26s}{cold_ratio:>19.2f}x   target <= {COLD_TARGET:.0f}x: "
            f"{'PASS' if cold_ratio <= COLD_TARGET else 'FAIL'}"
        )
        print(f"{'warm / rumdl (wall)':26s}{warm_ratio:>19.2f}x   target < 1x: {'PASS' if warm_ratio < 1 else 'FAIL'}")
    if speedup is not None:
        passed = speedup >= SPEEDUP_TARGET
        ok &= passed
        verdict = "PASS" if passed else "FAIL"
        print(f"{'markdownlint / cold':26s}{speedup:>19.1f}x   target >= {SPEEDUP_TARGET:.0f}x: {verdict}")
    one_ok = one_median < ONE_FILE_TARGET_S
    ok &= one_ok and not heavy
    print(
        f"{'one-file check':26s}{one_median:>18.3f} s   median of {args.one_file_runs}, "
        f"target < {ONE_FILE_TARGET_S} s: {'PASS' if one_ok else 'FAIL'}  ({one_rel}, {one.stat().st_size} bytes)"
    )
    print(
        f"{'heavy imports':26s}{'none' if not heavy else ', '.join(heavy):>20s}   llama_cpp imported: "
        f"{'yes' if 'llama_cpp' in imported else 'no'}, PIL imported: {'yes' if 'PIL' in imported else 'no'}  "
        f"({len(imported)} top-level modules)"
    )
    tools = [f"{cores} cores", f"Python {platform.python_version()}"]
    if rumdl_cmd:
        tools.append(subprocess.run([str(rumdl_bin), "--version"], capture_output=True, text=True).stdout.strip())
    if mdl_cmd:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        tools.append(f"node {node}, markdownlint-cli2 {args.markdownlint_version}")
    print(f"{'machine':26s}  {', '.join(tools)}")
    walls = [("alttext cold", ours), ("warm", warm), ("rumdl", rumdl), ("markdownlint-cli2", mdl)]
    print(
        f"{'wall of each run (s)':26s}  "
        + "; ".join(f"{name}: {' '.join(f'{w:.2f}' for w in t.walls)}" for name, t in walls if t.walls)
    )
    if not_comparable:
        print(
            f"(not compared: {not_comparable} missing/empty alt findings on <input type=image>/<area>/role=img, "
            "which MD045 does not check)"
        )

    if rumdl_cmd and md_keys != rumdl_keys:
        print(f"\nrumdl: only alttext {sorted(md_keys - rumdl_keys)[: args.examples]}")
        print(f"rumdl: only rumdl {sorted(rumdl_keys - md_keys)[: args.examples]}")
    if mdl_cmd:
        only_ours, only_mdl = sorted(ours_keys - mdl_keys), sorted(mdl_keys - ours_keys)
        near = pair_near_misses(set(only_ours), set(only_mdl))
        for a, b in near:
            only_ours.remove(a)
            only_mdl.remove(b)
        if near:
            print(f"\nsame image, different line ({len(near)}):")
            for (path, la), (_, lb) in near[: args.examples]:
                print(f"  {path}: alttext line {la}, markdownlint line {lb}")
        if only_ours:
            print(f"\nonly alttext ({len(only_ours)}), e.g.:")
            for key in only_ours[: args.examples]:
                entry = ours_detail[key]
                print(f"  {key[0]}:{key[1]} {entry['rule']}  {str(entry.get('element', ''))[:70]}")
                print(f"      why: {reason_only_ours(entry, _line(corpus, *key))}")
        if only_mdl:
            print(f"\nonly markdownlint ({len(only_mdl)}), e.g.:")
            for path, line in only_mdl[: args.examples]:
                text = _line(corpus, path, line)
                print(f"  {path}:{line}  {text[:70]}")
                print(f"      why: {reason_only_markdownlint(text, _line(corpus, path, line, before=2))}")
        if not (near or only_ours or only_mdl):
            print("\nfindings agree exactly where the rules overlap")
    return 0 if ok else 1


# --------------------------------------------------------------------------- HTML mode

FASTAPI_MKDOCS = """\
site_name: FastAPI
site_url: https://fastapi.tiangolo.com/
docs_dir: {docs}
site_dir: site
theme:
  name: material
  features: [content.code.annotate, content.code.copy, content.tabs.link, navigation.footer,
    navigation.indexes, navigation.path, navigation.tabs, navigation.top, search.highlight, toc.follow]
  logo: img/icon-white.svg
  favicon: img/favicon.png
repo_name: fastapi/fastapi
repo_url: https://github.com/fastapi/fastapi
plugins: []
markdown_extensions:
  abbr: null
  attr_list: null
  footnotes: null
  md_in_html: null
  tables: null
  toc: {{permalink: true}}
  pymdownx.betterem: null
  pymdownx.caret: null
  pymdownx.highlight: {{line_spans: __span, linenums_style: pymdownx-inline}}
  pymdownx.inlinehilite: null
  pymdownx.keys: null
  pymdownx.mark: null
  pymdownx.superfences: null
  pymdownx.tilde: null
  pymdownx.blocks.admonition: {{types: [note, attention, caution, danger, error, tip, hint, warning, info, check]}}
  pymdownx.blocks.details: null
  pymdownx.blocks.tab: {{alternate_style: true}}
"""


def html_corpus(choice: str) -> Path:
    """The folder of built pages for --html CHOICE."""
    if choice == "auto":
        choice = "python-docs" if PYTHON_DOCS.is_dir() else "fastapi"
    if choice == "python-docs":
        if not PYTHON_DOCS.is_dir():
            raise SystemExit(f"{PYTHON_DOCS} not found: apt-get install python3-doc (or use --html fastapi)")
        return PYTHON_DOCS.resolve()
    if choice == "fastapi":
        return build_fastapi_site()
    folder = Path(choice)
    if not folder.is_dir():
        raise SystemExit(f"--html: not python-docs, fastapi or a folder: {choice}")
    return folder.resolve()


def build_fastapi_site() -> Path:
    """The English FastAPI docs built with mkdocs-material (once; rebuilt when the config changes)."""
    docs = default_corpus() / "en" / "docs"
    config = FASTAPI_MKDOCS.format(docs=docs)
    site = FASTAPI_SITE / "site"
    config_file = FASTAPI_SITE / "mkdocs.yml"
    if site.is_dir() and config_file.exists() and config_file.read_text(encoding="utf-8") == config:
        return site
    FASTAPI_SITE.mkdir(parents=True, exist_ok=True)
    config_file.write_text(config, encoding="utf-8")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    print(f"building {docs} with mkdocs-material into {site.relative_to(REPO)} (once, not timed)...", flush=True)
    proc = subprocess.run(
        [str(mkdocs) if mkdocs.exists() else "mkdocs", "build", "-q", "-f", str(config_file)],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    if proc.returncode != 0:
        raise SystemExit(f"mkdocs build failed:\n{(proc.stderr or proc.stdout)[-2000:]}")
    return site


def html_mode(choice: str, runs: int) -> int:
    from html.parser import HTMLParser

    sys.path.insert(0, str(REPO))  # this checkout's alttext_tools, as the console script runs it
    from alttext_tools.check.rules import RuleSettings
    from alttext_tools.check.run import check_files
    from alttext_tools.scan.sources import read_source

    corpus = html_corpus(choice)
    before = snapshot(corpus)
    pages = sorted(p for p in corpus.rglob("*") if p.suffix.lower() in (".html", ".htm") and p.is_file())
    size = sum(p.stat().st_size for p in pages)
    files = [(p, p.relative_to(corpus).as_posix()) for p in pages]
    print(f"corpus {corpus}: {len(pages)} pages, {size / 1e6:.1f} MB; {runs} run(s) of each, interleaved", flush=True)

    def floor() -> None:
        for page in pages:
            parser = HTMLParser()
            parser.feed(read_source(page).text)
            parser.close()

    settings = RuleSettings()
    floor_cpu: list[float] = []
    ours_cpu: list[float] = []
    run = None
    for _ in range(runs):
        start = time.process_time()
        floor()
        floor_cpu.append(time.process_time() - start)
        start = time.process_time()
        run = check_files(files, settings, jobs=1)
        ours_cpu.append(time.process_time() - start)
    assert run is not None
    report = run.report()
    errors = [r for r in run.results if r.error or r.internal_error]
    findings = [
        (f.image.path, f.image.line, f.image.column, f.rule, f.message)
        for f in sorted(report.findings, key=lambda f: f.sort_key)
    ]
    digest = hashlib.sha256(json.dumps(findings).encode()).hexdigest()[:16]
    images = sum(len(r.images) for r in run.results)

    # The command line: start-up, walk and report included; -j 0 uses every core.
    alttext = [*alttext_command(), "check", "--format", "json", "--no-gitignore", "-q", "."]
    with tempfile.TemporaryDirectory(prefix="alttext-bench-") as tmp:
        env = alttext_env(ALTTEXT_CACHE_DIR=str(Path(tmp) / "results-cache"))
        cli: dict[str, Timed] = {"-j 1": Timed(), "-j 0": Timed(), "warm -j 0": Timed()}
        commands = {
            "-j 1": [*alttext, "-j", "1", "--no-cache-results"],
            "-j 0": [*alttext, "-j", "0", "--no-cache-results"],
            "warm -j 0": [*alttext, "-j", "0"],
        }
        run_timed(commands["warm -j 0"], corpus, env=env)  # warm-up, and fills the results cache
        for _ in range(runs):
            for name, command in commands.items():
                measured = run_timed(command, corpus, env=env)
                cli[name].add(measured)
                cli[name].stdout = measured[2].stdout
    outputs = {json.dumps(json.loads(t.stdout), sort_keys=True) for t in cli.values()}

    if snapshot(corpus) != before:
        print("ERROR: the corpus changed during the benchmark")
        return 2
    best_floor, best_ours = min(floor_cpu), min(ours_cpu)
    ratio = best_ours / best_floor
    print()
    print(f"{'one process, one core':34s}{'html.parser floor':>20s}{'alttext check':>20s}")
    print(f"{'CPU s, fastest of ' + str(runs):34s}{best_floor:>20.2f}{best_ours:>20.2f}")
    print(f"{'CPU s, median':34s}{statistics.median(floor_cpu):>20.2f}{statistics.median(ours_cpu):>20.2f}")
    print(f"{'pages/s':34s}{len(pages) / best_floor:>20.0f}{len(pages) / best_ours:>20.0f}")
    print(f"{'MB/s':34s}{size / 1e6 / best_floor:>20.2f}{size / 1e6 / best_ours:>20.2f}")
    passed = ratio <= HTML_TARGET
    print(f"{'check / floor':34s}{'':>20s}{ratio:>19.2f}x   target <= {HTML_TARGET}x: {'PASS' if passed else 'FAIL'}")
    print(f"{'images, findings, unreadable':34s}{'':>20s}{f'{images}, {len(findings)}, {len(errors)}':>20s}")
    print(f"{'findings digest':34s}{'':>20s}{digest:>20s}")
    print()
    print(f"{'alttext check (command line)':34s}{'wall, median':>20s}{'CPU, median':>20s}")
    for name, timed in cli.items():
        print(f"{name:34s}{timed.median:>19.2f}s{statistics.median(timed.cpus):>19.2f}s")
    print(f"{'same report from all three':34s}{'yes' if len(outputs) == 1 else 'NO':>20s}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{'machine':34s}  {cores} cores, Python {platform.python_version()}")
    return 0 if passed and len(outputs) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
