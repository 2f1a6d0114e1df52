"""Shared helpers for the rewriter tests: hand-built ImageRefs, the fixture-file reader, markdown-it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from conftest import read_fixture_blocks
from markdown_it import MarkdownIt

from alttext_tools.core import AltKind, Decision, ImageRef, Span, Syntax
from alttext_tools.scan.html_tag import parse_start_tag
from alttext_tools.scan.positions import LineIndex

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rewrite"

_SYNTAX = {"img": Syntax.HTML_IMG, "input": Syntax.HTML_INPUT_IMAGE, "area": Syntax.HTML_AREA}


def html_ref(text: str, start: int, path: str = "t.html") -> ImageRef:
    """An ImageRef for the HTML start tag at `start`, built without the scanner."""
    tag = parse_start_tag(text, start)
    alt = tag.attr("alt")
    src = tag.attr("src")
    line, column = LineIndex(text).line_col(start)
    return ImageRef(
        path=path,
        syntax=_SYNTAX[tag.name],
        span=tag.span,
        line=line,
        column=column,
        source=text[tag.span.start : tag.span.end],
        src=src.value if src else None,
        alt=(alt.value if alt.value is not None else "") if alt else None,  # a bare alt means alt=""
        alt_kind=AltKind.HTML_ATTR,
        alt_span=alt.value_span if alt else None,
        alt_quote=alt.quote if alt else '"',
        attrs=tag.attrs,
        decorative=alt is not None and alt.value == "",
    )


def html_refs(text: str, path: str = "t.html") -> list[ImageRef]:
    return [html_ref(text, m.start(), path) for m in re.finditer(r"<(?:img|input|area)\b", text, re.I)]


def md_ref(
    text: str,
    start: int,
    *,
    label: tuple[int, int],
    end: int,
    syntax: Syntax = Syntax.MD_INLINE,
    ref_form: str | None = None,
    path: str = "t.md",
) -> ImageRef:
    line, column = LineIndex(text).line_col(start)
    return ImageRef(
        path=path,
        syntax=syntax,
        span=Span(start, end),
        line=line,
        column=column,
        source=text[start:end],
        src=None,
        alt=text[label[0] : label[1]],
        alt_kind=AltKind.MD_LABEL,
        alt_span=Span(*label),
        ref_form=ref_form,
        ref_label=text[label[0] : label[1]] if ref_form in ("shortcut", "collapsed") else None,
    )


def decision(new_alt: str) -> Decision:
    """The decisions-file convention: "" means decorative."""
    return Decision.mark_decorative() if new_alt == "" else Decision.text(new_alt)


# --------------------------------------------------------------------------- markdown-it oracle

_PARSERS = {
    "commonmark": MarkdownIt("commonmark"),
    "scanner": MarkdownIt("commonmark").enable("table"),  # what scan_markdown parses with
    "gfm": MarkdownIt("commonmark").enable(["table", "strikethrough"]),
}


def rendered_alts(markdown: str, preset: str = "gfm") -> list[str]:
    """The alt text markdown-it renders for each image in `markdown`, in order."""
    md = _PARSERS[preset]
    alts: list[str] = []

    def walk(tokens: list) -> None:  # type: ignore[type-arg]
        for token in tokens:
            if token.type == "image":
                alts.append(md.renderer.renderInlineAsText(token.children or [], md.options, {}))
            if token.children:
                walk(token.children)

    walk(md.parse(markdown))
    return alts


# --------------------------------------------------------------------------- fixture files


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    kind: str  # "html" | "markdown"
    input: str
    decisions: dict[tuple[int, int], str]  # (line, column) -> new_alt ("" = decorative)
    expected: str

    @property
    def suffix(self) -> str:
        return ".html" if self.kind == "html" else ".md"


_HEADER = re.compile(r"^\[(?P<id>[a-z0-9-]+)\] (?P<title>.+)$")
_DECISION = re.compile(r"^(?P<line>\d+):(?P<column>\d+) = (?P<alt>.*)$")


def read_cases(path: Path) -> list[Case]:
    """Read a fixture file of blocks, markdown-it style:

        [case-id] what it shows
        .
        input (any lines)
        .
        LINE:COLUMN = new alt        (one per line; `= ""` means decorative)
        .
        expected output
        .

    The kind (html/markdown) comes from the file name (`*.html.txt` / `*.md.txt`). Input and
    expected end with a newline; tests derive CRLF, BOM and no-newline variants themselves.
    """
    kind = "html" if path.name.endswith(".html.txt") else "markdown"
    cases: list[Case] = []
    for block in read_fixture_blocks(path, 3):
        header = _HEADER.match(block.title)
        if not header:
            raise ValueError(f"{path.name}:{block.line}: expected '[case-id] title', got {block.title!r}")
        source, raw_decisions, expected = block.sections
        decisions = {}
        for raw in raw_decisions.split("\n") if raw_decisions else []:
            m = _DECISION.match(raw)
            if not m:
                raise ValueError(f"{path.name}: case {header['id']}: bad decision line {raw!r}")
            alt = m["alt"]
            decisions[(int(m["line"]), int(m["column"]))] = "" if alt == '""' else alt
        cases.append(Case(header["id"], header["title"], kind, source + "\n", decisions, expected + "\n"))
    ids = [c.id for c in cases]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path.name}: duplicate case ids")
    return cases
