"""scan/dispatch: the prefilter never hides an image a scanner would find."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_scan_html import tag_soup
from test_scan_markdown import CASES, documents

from alttext_tools.scan.dialects import COMMONMARK, MKDOCS, MYST
from alttext_tools.scan.dispatch import LoadedFile, load_file, may_hold_images
from alttext_tools.scan.html import scan_html
from alttext_tools.scan.markdown import scan_markdown
from alttext_tools.scan.sources import SourceText

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def loaded(text: str, kind: str) -> LoadedFile:
    """`text` as if read from a UTF-8 file (the prefilter then searches its bytes)."""
    data = text.encode("utf-8", "surrogatepass")
    dialect = COMMONMARK if kind == "markdown" else None
    return LoadedFile("t", kind, data, SourceText(text, "utf-8", b""), dialect)  # type: ignore[arg-type]


def test_every_fixture_case_with_images_passes_the_prefilter() -> None:
    for case in CASES:
        if scan_markdown(case.text, case.path, case.dialect):
            assert may_hold_images(case.text, "markdown", case.dialect), case
    for path in sorted(FIXTURES.rglob("*")):
        file = load_file(path, path.name) if path.is_file() else None
        if isinstance(file, LoadedFile) and file.scan().images:
            assert file.may_hold_images(), path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tag_soup())
def test_html_prefilter_is_a_superset(text: str) -> None:
    if scan_html(text, "t.html"):
        assert may_hold_images(text, "html")
        assert loaded(text, "html").may_hold_images()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_markdown_prefilter_is_a_superset(doc: tuple[str, list[tuple[str, str]]]) -> None:
    text = doc[0]
    if scan_markdown(text, "t.md"):
        assert may_hold_images(text, "markdown")
        assert loaded(text, "markdown").may_hold_images()


@given(st.text(alphabet=st.sampled_from(list("!<[roleimgnputsvaRIMGÉé\u0130 ")), max_size=30))
def test_byte_and_text_prefilters_agree(text: str) -> None:
    for kind in ("html", "markdown"):
        assert loaded(text, kind).may_hold_images() == may_hold_images(text, kind)


def test_other_syntaxes_are_not_prefiltered() -> None:
    assert may_hold_images(".. image:: a.png\n", "rst")
    assert may_hold_images("```{image} a.png\n```\n", "myst")
    assert may_hold_images("```{image} a.png\n```\n", "markdown", MYST)
    assert not may_hold_images("```{image} a.png\n```\n", "markdown", COMMONMARK)
    assert not may_hold_images("Just text.\n", "markdown", MKDOCS)
