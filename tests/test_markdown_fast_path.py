"""The Markdown scanner parses inline content only where an image or HTML could be, and a heading's
only when an image's context needs its text: it must report exactly what a scan that parses every
block reports, every field of every image (context included), on generated and real documents.
markdown-it's block rules skip their debug logging unless it was turned on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it.rules_core import StateCore
from test_scan_markdown import CASES, _corpus

from alttext_tools.core import ImageRef
from alttext_tools.scan import markdown
from alttext_tools.scan.dialects import COMMONMARK, MKDOCS, Dialect, DialectResolver
from alttext_tools.scan.markdown import scan_markdown
from alttext_tools.scan.sources import SourceError, read_source

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


def _parse_everything(state: StateCore) -> None:
    """markdown-it's own core `inline` rule: every inline block parsed."""
    for tok in state.tokens:
        if tok.type == "inline":
            tok.children = []
            state.md.inline.parse(tok.content, state.md, state.env, tok.children)


@contextmanager
def full_parse() -> Iterator[None]:
    """Scan with parsers (built afresh) that parse every inline block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(markdown, "_PARSERS", {})
        patch.setattr(markdown, "_inline_where_needed", _parse_everything)
        yield


def both(text: str, path: str, dialect: Dialect) -> tuple[list[ImageRef], list[ImageRef]]:
    fast = scan_markdown(text, path, dialect)
    with full_parse():
        full = scan_markdown(text, path, dialect)
    return fast, full


# Blocks a page is made of: headings with and without text (emphasis, code, an image, an anchor),
# paragraphs with and without images or inline HTML, HTML blocks with and without images, an
# ignore comment, a table, an admonition.
BLOCKS = [
    "# Title *one*",
    "## Section `two` { #two }",
    "#",
    "## ![logo](logo.png)",
    "Setext **heading**\n---",
    "Plain words, *emphasis*, [a link](x.html).",
    "Text with ![an image](a.png) inside.",
    "![](empty.png)",
    "Inline <abbr>HTML</abbr> and <br> breaks.",
    'Inline <img src="i.png"> image.',
    '<div class="x">\n<img src="block.png">\n</div>',
    "<p>\nno image here\n</p>",
    "<!-- alttext-ignore -->\n![skipped](s.png)",
    "| a | b |\n|---|---|\n| ![cell](c.png) | text |",
    '!!! note "Note"\n    ![in admonition](n.png)',
    "> quoted ![q](q.png)",
    "- item with <img src='li.png' alt='x'>",
    '<figure markdown="span">\n  ![in figure](f.png)\n</figure>',
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=10),
    st.sampled_from([COMMONMARK, MKDOCS]),
    st.sampled_from(["\n\n", "\n"]),
)
def test_generated_documents(blocks: list[str], dialect: Dialect, separator: str) -> None:
    fast, full = both(separator.join(blocks) + "\n", "docs/page.md", dialect)
    assert fast == full


def test_fixture_cases() -> None:
    for case in CASES:
        fast, full = both(case.text, case.path, case.dialect)
        assert fast == full, case


def test_fixture_files() -> None:
    resolve = DialectResolver()
    for path in sorted(FIXTURES.rglob("*.md")):
        try:
            text = read_source(path).text
        except SourceError:
            continue  # fixtures/bad: files that cannot be read
        fast, full = both(text, path.name, resolve(path))
        assert fast == full, path


@pytest.mark.skipif(_corpus() is None, reason="shared FastAPI corpus not available")
def test_fastapi_pages_with_images() -> None:
    root = _corpus()
    assert root is not None
    resolve = DialectResolver()
    pages = [p for p in sorted(root.rglob("*.md")) if "![" in (text := p.read_text(encoding="utf-8")) or "<img" in text]
    for path in pages[::8]:  # an eighth of them: the whole corpus is pinned by benchmarks/check_corpus.py
        fast, full = both(read_source(path).text, path.relative_to(root).as_posix(), resolve(path))
        assert fast == full, path


QUIET_PROBE = """
import logging, sys
if sys.argv[1] == "debug":
    logging.getLogger("markdown_it.rules_block.paragraph").setLevel(logging.DEBUG)
from alttext_tools.scan.markdown import scan_markdown
assert [i.src for i in scan_markdown("# T\\n\\nText ![a](a.png)\\n", "p.md")] == ["a.png"]
logger = sys.modules["markdown_it.rules_block.paragraph"].LOGGER
print(type(logger).__name__, logger.name)
"""


@pytest.mark.parametrize(("level", "kept"), [("default", "Logger"), ("debug", "Logger")])
def test_markdown_it_is_left_as_the_host_process_has_it(level: str, kept: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", QUIET_PROBE, level], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.split() == [kept, "markdown_it.rules_block.paragraph"]
