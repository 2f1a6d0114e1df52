"""Wall time of `alttext check` on a large real Markdown corpus, against markdownlint-cli2's MD045.

    python benchmarks/check_corpus.py [CORPUS] [--runs 3] [--one-file-runs 10] [--no-markdownlint]

CORPUS defaults to ../shared/corpus/fastapi-docs/docs next to the repository (or
/work/shared/corpus/fastapi-docs/docs). Both tools run as subprocesses from the corpus folder on
the same files (every *.md; alttext with --no-gitignore and the other source suffixes excluded):

- `alttext check --format json -j 0` (all cores), via the `alttext` console script of this Python;
- when `npx` is available, markdownlint-cli2 with only MD045 enabled. It is installed once with
  `npm install --prefix benchmarks/.cache/markdownlint-cli2-VERSION` before anything is timed, and
  its own bin is run directly, so neither the download nor npx's start-up is counted against it.

Both get one untimed warm-up run (its output is what the findings comparison uses), then --runs
timed runs, interleaved; the median wall time is reported. Findings are compared where the two
rules mean the same thing: MD045 flags a Markdown image whose label is empty and an HTML <img>
(in Markdown) without an `alt=` attribute, unless aria-hidden="true"; on our side that is
missing-alt / empty-alt / whitespace-alt on html-img, md-inline and md-reference images. Sets of
(file, line) are compared; a few disagreements are shown with the likely reason.

Then `alttext check FILE` on one small corpus file that holds an image is timed --one-file-runs
times, and an import-time probe (PYTHONPROFILEIMPORTTIME) of that same command says whether
llama_cpp or PIL got imported. Targets (exit code 1 when one is measured and missed): at least 5x
faster than markdownlint-cli2, one-file check under 0.3 s, neither heavy module imported.

Nothing is written into the corpus (no --fix; the corpus's sizes and mtimes are compared before and
after). benchmarks/.cache/ holds the npm install and should stay out of git.
"""

from __future__ import annotations

import argparse
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

SPEEDUP_TARGET = 5.0
ONE_FILE_TARGET_S = 0.3
HEAVY_MODULES = ("llama_cpp", "PIL")

# Sources alttext would check besides *.md; excluded so both tools see the same files.
OTHER_SUFFIXES = ("*.html", "*.htm", "*.xhtml", "*.markdown", "*.mdown", "*.mkd")
SKIPPED_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".tox", ".nox"}
COMPARABLE_RULES = {"missing-alt", "empty-alt", "whitespace-alt"}
COMPARABLE_SYNTAX = {"html-img", "md-inline", "md-reference"}
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


# --------------------------------------------------------------------------- findings


def our_findings(report_json: str) -> tuple[set[tuple[str, int]], dict[tuple[str, int], dict[str, object]], int, int]:
    """(comparable (file, line) set, one finding per key for explanations, all findings, skipped as not comparable)."""
    entries = json.loads(report_json)
    keys: set[tuple[str, int]] = set()
    detail: dict[tuple[str, int], dict[str, object]] = {}
    other = 0
    for entry in entries:
        if (
            entry.get("rule") in COMPARABLE_RULES
            and entry.get("syntax") in COMPARABLE_SYNTAX
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
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each tool (median reported; default 3)")
    ap.add_argument("--one-file-runs", type=int, default=10, help="timed runs of the one-file check (default 10)")
    ap.add_argument("--no-markdownlint", action="store_true", help="time alttext only")
    ap.add_argument(
        "--markdownlint-version",
        default=MARKDOWNLINT_CLI2,
        help=f"markdownlint-cli2 version to install (default {MARKDOWNLINT_CLI2})",
    )
    ap.add_argument("--examples", type=int, default=5, help="disagreements shown per side (default 5)")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.one_file_runs < 1:
        ap.error("--runs and --one-file-runs must be at least 1")

    corpus = (args.corpus or default_corpus()).resolve()
    if not corpus.is_dir():
        ap.error(f"not a folder: {corpus}")
    files = markdown_files(corpus)
    if not files:
        ap.error(f"no *.md files under {corpus}")
    before = snapshot(corpus)
    alttext = alttext_command()
    ours_cmd = [
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
    mdl_bin = None if args.no_markdownlint else install_markdownlint(args.markdownlint_version)

    with tempfile.TemporaryDirectory(prefix="alttext-bench-") as tmp:
        config = Path(tmp) / ".markdownlint-cli2.jsonc"
        config.write_text(json.dumps({"config": {"default": False, "MD045": True}}) + "\n", encoding="utf-8")
        mdl_cmd = [str(mdl_bin), "--config", str(config), "**/*.md"] if mdl_bin else None

        print(f"corpus {corpus}: {len(files)} *.md files; {args.runs} timed run(s) each after a warm-up", flush=True)
        ours, mdl = Timed(), Timed()
        proc = run_timed(ours_cmd, corpus)[2]
        ours.stdout, ours.stderr = proc.stdout, proc.stderr
        if mdl_cmd:
            proc = run_timed(mdl_cmd, corpus)[2]
            mdl.stdout, mdl.stderr = proc.stdout, proc.stderr
        for _ in range(args.runs):
            ours.add(run_timed(ours_cmd, corpus))
            if mdl_cmd:
                mdl.add(run_timed(mdl_cmd, corpus))

    # One small file: start-up cost, and what gets imported.
    one = pick_one_file(files)
    one_rel = one.relative_to(corpus).as_posix()
    one_cmd = [*alttext, "check", "-q", one_rel]
    run_timed(one_cmd, corpus)  # warm-up
    one_walls = [run_timed(one_cmd, corpus)[0] for _ in range(args.one_file_runs)]
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    probe = run_timed(one_cmd, corpus, env=env)[2]
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
    summary = _SUMMARY.search(ours.stderr)
    images, ours_files = (int(summary[1]), int(summary[2])) if summary else (None, None)
    if mdl_cmd:
        mdl_keys, mdl_count = markdownlint_findings(mdl.stderr + "\n" + mdl.stdout)
        linted = re.search(r"Linting: (\d+) file", mdl.stdout + mdl.stderr)
        mdl_files = int(linted[1]) if linted else None
    else:
        mdl_keys, mdl_count, mdl_files = set(), 0, None

    # ------------------------------------------------------------------- table
    def fmt_s(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f} s"

    speedup = mdl.median / ours.median if mdl.walls else None
    one_median = statistics.median(one_walls)
    rows: list[tuple[str, str, str]] = [
        (
            "files checked",
            str(ours_files if ours_files is not None else "?"),
            str(mdl_files if mdl_files is not None else "-"),
        ),
        ("images", str(images if images is not None else "?"), "-"),
        (f"wall, median of {args.runs}", fmt_s(ours.median), fmt_s(mdl.median if mdl.walls else None)),
        (
            "CPU (user+sys), median",
            fmt_s(statistics.median(ours.cpus)),
            fmt_s(statistics.median(mdl.cpus) if mdl.cpus else None),
        ),
        ("findings, all rules", str(ours_total), str(mdl_count) if mdl_cmd else "-"),
        ("comparable (file, line)", str(len(ours_keys)), str(len(mdl_keys)) if mdl_cmd else "-"),
    ]
    if mdl_cmd:
        both = ours_keys & mdl_keys
        only_ours, only_mdl = sorted(ours_keys - mdl_keys), sorted(mdl_keys - ours_keys)
        rows += [
            ("agree (both report)", str(len(both)), str(len(both))),
            ("only this tool", str(len(only_ours)), str(len(only_mdl))),
        ]
    print()
    print(f"{'':26s}{'alttext check -j 0':>22s}{'markdownlint-cli2 MD045':>26s}")
    for label, a, b in rows:
        print(f"{label:26s}{a:>22s}{b:>26s}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ok = True
    if speedup is not None:
        passed = speedup >= SPEEDUP_TARGET
        ok &= passed
        print(f"{'speed-up':26s}{speedup:>21.1f}x   target >= {SPEEDUP_TARGET:.0f}x: {'PASS' if passed else 'FAIL'}")
    one_ok = one_median < ONE_FILE_TARGET_S
    ok &= one_ok and not heavy
    print(
        f"{'one-file check':26s}{one_median:>20.3f} s   median of {args.one_file_runs}, "
        f"target < {ONE_FILE_TARGET_S} s: {'PASS' if one_ok else 'FAIL'}"
        f"  ({one_rel}, {one.stat().st_size} bytes)"
    )
    print(
        f"{'heavy imports':26s}{'none' if not heavy else ', '.join(heavy):>22s}   "
        f"llama_cpp imported: {'yes' if 'llama_cpp' in imported else 'no'}, "
        f"PIL imported: {'yes' if 'PIL' in imported else 'no'}  ({len(imported)} top-level modules)"
    )
    print(
        f"{'machine':26s}  {cores} cores, Python {platform.python_version()}"
        + (
            f", node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}, "
            f"markdownlint-cli2 {args.markdownlint_version}"
            if mdl_cmd
            else ""
        )
    )
    print(
        f"{'wall of each run (s)':26s}  alttext: {' '.join(f'{w:.2f}' for w in ours.walls)}"
        + (f"; markdownlint-cli2: {' '.join(f'{w:.2f}' for w in mdl.walls)}" if mdl.walls else "")
    )
    if not_comparable:
        print(
            f"(not compared: {not_comparable} missing/empty alt findings on <input type=image>/<area>/role=img, "
            "which MD045 does not check)"
        )

    if mdl_cmd:
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


if __name__ == "__main__":
    sys.exit(main())
