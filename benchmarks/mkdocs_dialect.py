"""Scan time of the `mkdocs` Markdown dialect against `commonmark`, on pages that stress its rules.

    python benchmarks/mkdocs_dialect.py [CORPUS] [--runs 3]

The mkdocs dialect adds block rules (lists, admonitions, tabs, footnotes, raw HTML read with
html.parser); each must stay linear in the size of the page. Each generated page below is built
with N and with 2N units and scanned in the mkdocs dialect (median of --runs): a linear rule takes
about twice as long on the double page, a quadratic one four times. The commonmark scan of the
same text is printed for reference (it finds fewer images: it reads block bodies as code). The
MkDocs pages of CORPUS (default: the FastAPI docs' en/docs, next to the repository or in
/work/shared) are timed in both dialects.
Target: every generated page grows by at most 3x when doubled (exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alttext_tools.scan.dialects import COMMONMARK, MKDOCS, Dialect, DialectResolver
from alttext_tools.scan.markdown import scan_markdown
from alttext_tools.scan.sources import read_source

TARGET = 3.0
CORPORA = (
    REPO.parent / "shared/corpus/fastapi-docs/docs/en/docs",
    Path("/work/shared/corpus/fastapi-docs/docs/en/docs"),
)


def pages(n: int) -> dict[str, str]:
    """Generated pages of `n` units, each stressing one rule."""
    return {
        "raw HTML blocks": "".join(f'<div class="c">\n<img src="i{i}.png" alt="x">\n</div>\n\n' for i in range(n)),
        "blocks nested 4 deep in list items": "".join(
            f'- Step {i}\n\n    === "Tab"\n\n        !!! note\n            ??? tip\n'
            f"                ![Deep {i}](d{i}.png)\n\n"
            for i in range(n)
        ),
        "list items": "".join(f"- Item {i} ![Item](i{i}.png)\n" for i in range(n)),
        "footnotes": "".join(f"Text[^{i}].\n\n[^{i}]: ![Note {i}](n{i}.png)\n    more text\n\n" for i in range(n)),
        "admonitions with code": "".join(f"!!! note\n    ![Note {i}](a{i}.png)\n\n        code\n\n" for i in range(n)),
        "md_in_html grid": '<div class="grid" markdown>\n\n'
        + "".join(f"![Card {i}](c{i}.png)\n\n" for i in range(n))
        + "</div>\n",
    }


def timed(texts: list[tuple[str, str]], dialect: Dialect, runs: int) -> tuple[float, int]:
    walls, found = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        found = sum(len(scan_markdown(text, path, dialect)) for path, text in texts)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls), found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--units", type=int, default=1000, help="N: units in the smaller page")
    args = parser.parse_args()
    n = args.units
    small, large = pages(n), pages(2 * n)
    print(
        f"{'page (mkdocs dialect)':<36} {f'{n} units':>18} {f'{2 * n} units':>18} {'growth':>7} {'commonmark, 2N':>18}"
    )
    worst = 0.0
    for name in small:
        once, found = timed([("page.md", small[name])], MKDOCS, args.runs)
        twice, found2 = timed([("page.md", large[name])], MKDOCS, args.runs)
        plain, plain_found = timed([("page.md", large[name])], COMMONMARK, args.runs)
        growth = twice / once if once else 0.0
        worst = max(worst, growth)
        print(
            f"{name:<36} {once:>7.3f} s {found:>5} img {twice:>7.3f} s {found2:>5} img {growth:>6.2f}x"
            f" {plain:>7.3f} s {plain_found:>5} img"
        )
    corpus = args.corpus or next((path for path in CORPORA if path.is_dir()), None)
    if corpus is not None:
        files = sorted(corpus.rglob("*.md"))
        dialect = DialectResolver()(files[0])
        texts = [(str(path), read_source(path).text) for path in files]
        plain, plain_found = timed(texts, COMMONMARK, args.runs)
        read, found = timed(texts, dialect, args.runs)
        print(
            f"{corpus}: {len(files)} files; {dialect.name} {read:.3f} s ({found} images), "
            f"commonmark {plain:.3f} s ({plain_found} images)"
        )
    verdict = "PASS" if worst <= TARGET else "FAIL"
    print(
        f"largest growth {worst:.2f}x when the page doubles, target <= {TARGET:.0f}x: {verdict}"
        " (wall time: noisy under load)"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
