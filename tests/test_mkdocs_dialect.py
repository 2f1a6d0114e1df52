"""The `mkdocs` dialect against the real thing: fixture sites built with `mkdocs build`.

Every page of every site under fixtures/mkdocs-sites/ is built once; each `<img>` in a built page's
content is taken with its alt and judged by the same rules (on the HTML), and the scanner's view of
the page's source must hold the same images: the same count, alt values and verdicts. Images are
compared as a multiset of (src, alt, rules), since footnotes render at the end of a page.

One difference is by design and mapped: `![](x.png)` renders `alt=""`, which HTML reads as
decorative, while the source says nothing either way, so the scanner reports it (`empty-alt`).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from alttext_tools.check.rules import RuleSettings, evaluate_all
from alttext_tools.core import ImageRef, Syntax
from alttext_tools.scan.dialects import DialectResolver
from alttext_tools.scan.html import scan_html
from alttext_tools.scan.markdown import scan_markdown
from alttext_tools.scan.sources import read_source

REPO = Path(__file__).resolve().parent.parent
SITES = REPO / "fixtures" / "mkdocs-sites"
# Where each theme puts the page's own content.
CONTENT = ("article.md-content__inner", "div[role=main]")

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("material") is None or importlib.util.find_spec("pymdownx") is None,
    reason="mkdocs-material and pymdown-extensions are in the test extras: pip install -e '.[test]'",
)

Seen = tuple[str | None, str | None, frozenset[str]]  # (src, alt, rule ids)


def pages() -> list[tuple[str, str]]:
    return [
        (site.name, page.relative_to(site / "docs").as_posix())
        for site in sorted(SITES.iterdir())
        for page in sorted((site / "docs").rglob("*.md"))
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each site copied and built once (sources stay as they are in fixtures/)."""
    out: dict[str, Path] = {}
    for site in sorted(SITES.iterdir()):
        root = tmp_path_factory.mktemp("sites") / site.name
        shutil.copytree(site, root)
        proc = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "-q", "-f", "mkdocs.yml", "-d", "site"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out[site.name] = root
    return out


def verdict(images: list[ImageRef]) -> dict[int, frozenset[str]]:
    """Rule ids that fire for each image (by index), as `alttext check` judges them."""
    rules: dict[int, set[str]] = {i: set() for i in range(len(images))}
    index = {id(image): i for i, image in enumerate(images)}
    for finding in evaluate_all(images, RuleSettings()):
        rules[index[id(finding.image)]].add(finding.rule)
    return {i: frozenset(r) for i, r in rules.items()}


def rendered(html_file: Path) -> Counter[Seen]:
    """Every <img> in the built page's content, as the HTML scanner and the rules see it."""
    soup = BeautifulSoup(html_file.read_text(encoding="utf-8"), "html.parser")
    content = next(found for selector in CONTENT if (found := soup.select_one(selector)) is not None)
    images = [image for image in scan_html(str(content), html_file.name) if image.syntax is Syntax.HTML_IMG]
    rules = verdict(images)
    assert len(images) == len(content.find_all("img"))
    return Counter((image.src, image.alt, rules[i]) for i, image in enumerate(images))


def scanned(source: Path, display: str) -> Counter[Seen]:
    """The scanner's images of the page source, as their rendering would read: a Markdown image
    with an empty label and no decorative marker renders alt="" (decorative in HTML)."""
    dialect = DialectResolver()(source)
    assert dialect.name == "mkdocs", f"{display}: read as {dialect.name}, not as its mkdocs.yml says"
    images = [
        image
        for image in scan_markdown(read_source(source).text, display, dialect)
        if image.is_markdown_syntax or image.syntax is Syntax.HTML_IMG
    ]
    rules = verdict(images)
    seen: Counter[Seen] = Counter()
    for i, image in enumerate(images):
        expected = rules[i]
        if image.is_markdown_syntax and image.alt == "" and not image.decorative_marker:
            assert "empty-alt" in expected or image.ignored
            expected = expected - {"empty-alt"}
        seen[(image.src, image.alt, expected)] += 1
    return seen


@pytest.mark.parametrize(("site", "page"), pages(), ids=[f"{s}/{p}" for s, p in pages()])
def test_rendered_images_are_the_scanned_images(built: dict[str, Path], site: str, page: str) -> None:
    root = built[site]
    html_file = root / "site" / Path(page).with_suffix(".html")
    want = rendered(html_file)
    got = scanned(root / "docs" / page, f"docs/{page}")
    missing, extra = want - got, got - want
    assert (sorted(missing.elements(), key=str), sorted(extra.elements(), key=str)) == ([], []), (
        f"{site}/{page}: rendered but not scanned (left), scanned but not rendered (right)"
    )
    assert sum(want.values()) > 0
