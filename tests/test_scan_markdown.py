"""The Markdown scanner: fixture cases, offset invariants, properties, and the FastAPI corpus."""

from __future__ import annotations

import html
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, read_fixture_blocks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alttext_tools.core import AltKind, ImageRef
from alttext_tools.scan.dialects import COMMONMARK, MKDOCS, Dialect, mkdocs_dialect
from alttext_tools.scan.markdown import scan_markdown
from alttext_tools.scan.positions import LineIndex

FIXTURES = REPO / "fixtures" / "markdown"

# --------------------------------------------------------------------------- fixture files
#
# Each case (markdown-it's fixture layout):
#
#     [case-id] what it shows [flag] [flag=value]
#     .
#     input ("→" stands for a tab)
#     .
#     one JSON object per expected image, in source order (nothing = no images)
#     .
#
# Flags: [crlf] / [cr] turn the input's newlines into CRLF / CR, [bom] prepends U+FEFF,
# [path=...] is the path given to the scanner (default docs/page.md), [dialect=...] one of DIALECTS.
# Every expected object has the BASE keys; any further key it names is compared too.

BASE = ("line", "column", "syntax", "alt", "src", "decorative", "ignored", "alt_raw")
DIALECTS: dict[str, Dialect] = {
    "commonmark": COMMONMARK,
    "mkdocs": MKDOCS,  # mkdocs-material's usual extensions
    "mkdocs-plain": mkdocs_dialect({"toc", "tables", "fenced_code"}),  # MkDocs' defaults only
    "mkdocs-blocks": mkdocs_dialect({"attr_list", "md_in_html", "pymdownx.blocks.admonition", "pymdownx.blocks.tab"}),
}


def _extra(text: str, image: ImageRef, key: str) -> object:
    ctx = image.context
    table = {
        "span": lambda: text[image.span.start : image.span.end],
        "kind": lambda: image.alt_kind.value if image.alt_kind else None,
        "quote": lambda: image.alt_quote,
        "marker": lambda: image.decorative_marker,
        "name": lambda: image.name,
        "ref_form": lambda: image.ref_form,
        "ref_label": lambda: image.ref_label,
        "in_html_block": lambda: image.in_html_block,
    }
    if key in table:
        return table[key]()
    return getattr(ctx, key)


def image_dict(text: str, image: ImageRef, extra: tuple[str, ...] = ()) -> dict[str, object]:
    out: dict[str, object] = {
        "line": image.line,
        "column": image.column,
        "syntax": image.syntax.value,
        "alt": image.alt,
        "src": image.src,
        "decorative": image.decorative,
        "ignored": image.ignored,
        "alt_raw": text[image.alt_span.start : image.alt_span.end] if image.alt_span else None,
    }
    for key in extra:
        out[key] = _extra(text, image, key)
    return out


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    text: str
    path: str
    expected: list[dict[str, object]]
    line: int  # in the fixture file
    dialect: Dialect = COMMONMARK

    def __str__(self) -> str:
        return self.id


def read_cases(path: Path) -> list[Case]:
    return [_case(block.title, *block.sections, line=block.line - 1) for block in read_fixture_blocks(path, 2)]


def _case(title: str, raw: str, expected: str, line: int) -> Case:
    match = re.match(r"\[([\w-]+)\]\s*(.*)", title)
    assert match, f"fixture title without [id] at line {line}: {title!r}"
    flags = dict(re.findall(r"\[(\w+)(?:=([^\]]*))?\]", match.group(2)))
    text = raw.replace("→", "\t") + "\n" if raw else ""
    if "no-final-newline" in match.group(1):
        text = text[:-1]
    if "crlf" in flags:
        text = text.replace("\n", "\r\n")
    elif "cr" in flags:
        text = text.replace("\n", "\r")
    if "bom" in flags:
        text = "\ufeff" + text
    objects = [json.loads(row) for row in expected.split("\n") if row.strip()]
    dialect = DIALECTS[flags.get("dialect") or "commonmark"]
    return Case(match.group(1), title, text, flags.get("path") or "docs/page.md", objects, line, dialect)


CASES = [case for file in sorted(FIXTURES.glob("*.txt")) for case in read_cases(file)]


def test_fixture_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(CASES) > 50
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_fixture_case(case: Case) -> None:
    images = scan_markdown(case.text, case.path, case.dialect)
    got = [
        image_dict(case.text, image, tuple(k for k in exp if k not in BASE))
        for image, exp in zip(images, case.expected)
    ]
    got += [image_dict(case.text, image) for image in images[len(case.expected) :]]
    assert got == case.expected
    check_invariants(case.text, images)


# --------------------------------------------------------------------------- invariants


def check_invariants(text: str, images: list[ImageRef]) -> None:
    """What every scan must satisfy, whatever the input."""
    lines = LineIndex(text)
    starts = [image.span.start for image in images]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for image in images:
        assert 0 <= image.span.start <= image.span.end <= len(text)
        assert (image.line, image.column) == lines.line_col(image.span.start)
        if not image.is_markdown_syntax:
            assert image.in_html_block and text[image.span.start] == "<"
            continue
        assert text.startswith("![", image.span.start)
        assert image.name == (" ".join((image.alt or "").split()) or None)
        assert image.decorative == (image.decorative_marker and image.alt == "")
        span = image.alt_span
        if span is None:
            continue
        assert image.span.start < span.start <= span.end <= image.span.end
        raw = text[span.start : span.end]
        if image.alt_kind is AltKind.MD_LABEL:
            assert text[span.start - 2 : span.start] == "![" and text[span.end] == "]"
        else:
            assert image.alt_kind is AltKind.MD_ATTR_LIST
            quote = image.alt_quote
            assert (
                text[span.start - len(quote) : span.start] == quote and text[span.end : span.end + len(quote)] == quote
            )
            assert "{" in text[image.span.start : span.start] and text[image.span.end - 1] == "}"
            assert "\n" not in raw


# --------------------------------------------------------------------------- focused tests


def test_label_span_is_the_raw_label_for_shortcut_and_collapsed() -> None:
    text = "![Fox Photo] ![Fox Photo][]\n\n[fox photo]: f.png\n"
    first, second = scan_markdown(text, "p.md")
    assert (first.ref_form, second.ref_form) == ("shortcut", "collapsed")
    assert text[first.alt_span.start : first.alt_span.end] == "Fox Photo"  # type: ignore[union-attr]
    assert text[second.alt_span.start : second.alt_span.end] == "Fox Photo"  # type: ignore[union-attr]
    assert text[second.span.start : second.span.end] == "![Fox Photo][]"


def test_offsets_survive_crlf_and_front_matter() -> None:
    body = "---\r\ntitle: T\r\n---\r\n> quote ![a\r\n> b](x.png) and ![c](y.png)\r\n"
    a, c = scan_markdown(body, "p.md")
    assert body[a.alt_span.start : a.alt_span.end] == "a\r\n> b"  # type: ignore[union-attr]
    assert body[c.alt_span.start : c.alt_span.end] == "c"  # type: ignore[union-attr]
    assert (a.line, a.column, c.line, c.column) == (4, 9, 5, 17)
    assert a.context.page_title == "T"


def test_precheck_skips_texts_without_images() -> None:
    assert scan_markdown("# Just prose\n\nwith [a link](x) and <b>html</b>.\n", "p.md") == []
    assert scan_markdown("", "p.md") == []


def test_reused_parser_keeps_no_state_between_texts() -> None:
    first = scan_markdown("![a][r]\n\n[r]: one.png\n", "p.md")
    second = scan_markdown("![a][r]\n", "p.md")
    assert [i.src for i in first] == ["one.png"] and second == []


# --------------------------------------------------------------------------- properties

_ALT_CHARS = st.text(st.sampled_from(list("abcXYZ 019.,;:'\"-?éß中*_&#")), max_size=12)
_SRC = st.text(st.sampled_from(list("abcxyz019./-_")), min_size=1, max_size=10)


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    """Markdown with images in assorted syntaxes and containers; returns (text, [(raw label, src)])."""
    blocks, expected = [], []
    for _ in range(draw(st.integers(1, 6))):
        label = draw(_ALT_CHARS).strip()
        label = re.sub(r"[*_]{2,}", "*", label)  # no `**` runs that could pair across images
        src = draw(_SRC)
        form = draw(st.sampled_from(["inline", "title", "angle", "full", "collapsed", "shortcut", "attr"]))
        ref = f"r{len(blocks)}"
        if form == "inline":
            image = f"![{label}]({src})"
        elif form == "title":
            image = f'![{label}]({src} "t")'
        elif form == "angle":
            image = f"![{label}](<{src} x>)"
            src = src + " x"
        elif form == "full":
            image = f"![{label}][{ref}]\n\n[{ref}]: {src}"
        elif form == "collapsed" or form == "shortcut":
            label = ref + label.replace("[", "").replace("]", "")
            image = f"![{label}][]" if form == "collapsed" else f"![{label}]"
            image += f"\n\n[{label}]: {src}" if label.strip() else ""
            if not label.strip():
                continue
        else:
            value = label.replace('"', "")
            image = f'![x]({src}){{ alt="{value}" }}'
            label = value
        container = draw(st.sampled_from(["", "> ", "- ", "1. ", "> > ", "table", "#"]))
        if container == "table":
            if "\n" in image:
                continue
            image = f"| a | b |\n|---|---|\n| {image} | {image} |"
            expected += [(label, src)]
        elif container == "#":
            image = "## " + image if "\n" not in image else image
        elif container:
            image = "\n".join(container + line if line else line for line in image.split("\n"))
        expected.append((label, src))
        blocks.append(image)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = "\n\n".join(blocks) + "\n"
    return text.replace("\n", newline), expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_generated_documents_report_exact_labels(doc: tuple[str, list[tuple[str, str]]]) -> None:
    text, expected = doc
    images = scan_markdown(text, "docs/page.md")
    check_invariants(text, images)
    got = [(text[i.alt_span.start : i.alt_span.end], i.src) for i in images if i.alt_span]
    assert len(images) == len(expected)
    assert got == expected


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "![",
                "]",
                "(",
                ")",
                "[",
                "<",
                ">",
                "{",
                "}",
                "`",
                "*",
                "\\",
                "|",
                "#",
                "> ",
                "- ",
                "1. ",
                " ",
                "\t",
                "\n",
                "\r\n",
                "\r",
                '"',
                "'",
                "=",
                ":",
                "a",
                "b",
                "x.png",
                "<img src=x>",
                "<IMG\nSRC=y>",
                "<!--",
                "-->",
                "alt=",
                '{ alt="',
                "```",
                "    ",
                "---\n",
                "[r]: u\n",
                "<!-- alttext-ignore -->",
                "\x00",
                "é",
                "\u2028",
            ]
        ),
        max_size=60,
    ).map("".join)
)
def test_arbitrary_text_never_raises_and_spans_verify(text: str) -> None:
    check_invariants(text, scan_markdown(text, "docs/page.md"))


_IMG_RENDERED = re.compile(r'<img src="([^"]*)" alt="([^"]*)"')


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "![",
                "]",
                "(",
                ")",
                "[",
                "`",
                "*",
                "_",
                "~",
                "\\",
                "\\|",
                "|",
                "#",
                "> ",
                "- ",
                "1. ",
                " ",
                "\t",
                "\n",
                "\r\n",
                '"',
                "'",
                ":",
                "a",
                "b",
                "x.png",
                "```",
                "    ",
                "|---|---|\n",
                "[r]: u\n",
                "&amp;",
                "é",
            ]
        ),
        max_size=80,
    ).map("".join)
)
def test_same_images_as_markdown_it_renders(text: str) -> None:
    """Without raw HTML, attr_lists or front matter, the scanner reports exactly the <img> elements
    markdown-it renders (same order, src and alt): nothing missed, nothing invented."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    md.normalizeLink = lambda url: url  # type: ignore[method-assign]
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    if text.startswith("---"):
        return
    want = [(html.unescape(src), html.unescape(alt)) for src, alt in _IMG_RENDERED.findall(md.render(text))]
    assert [(image.src, image.alt) for image in scan_markdown(text, "p.md")] == want


# --------------------------------------------------------------------------- the real corpus


def _corpus() -> Path | None:
    for shared in (Path("/work/shared"), REPO.parent / "shared"):
        root = shared / "corpus" / "fastapi-docs" / "docs"
        if root.is_dir():
            return root
    return None


@pytest.mark.skipif(_corpus() is None, reason="shared FastAPI corpus not available")
def test_fastapi_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    from alttext_tools.scan.sources import read_source

    root = _corpus()
    assert root is not None
    files = sorted(root.rglob("*.md"))
    texts = [(str(path.relative_to(root)), read_source(path).text) for path in files]
    started = time.perf_counter()
    scans = [(path, text, scan_markdown(text, path)) for path, text in texts]
    elapsed = time.perf_counter() - started
    total = markdown = 0
    for path, text, images in scans:
        check_invariants(text, images)
        for image in images:
            total += 1
            if image.is_markdown_syntax:
                markdown += 1
                assert image.alt_span is not None, f"{path}:{image.line}: unproven offsets"
            assert image.context.lang is not None, f"{path}: no language"
    with capsys.disabled():
        print(f"\nFastAPI corpus: {len(files)} files, {total} images ({markdown} Markdown), {elapsed:.2f}s")
    assert len(files) > 1000 and 1700 <= total <= 2100
