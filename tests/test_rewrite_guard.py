"""The structural-equivalence guard (rewrite/guard.py): what it lets through, what it refuses, and
fix_file refusing a file whose page would read differently. Property tests: tests/test_rewrite_props.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from alttext_tools.core import Decision, image_key
from alttext_tools.rewrite import edits
from alttext_tools.rewrite.guard import structure_change
from alttext_tools.rewrite.writeback import Status, WriteBack, fix_file
from alttext_tools.scan.dispatch import dialect_of, scan_file

MARKER = "<!-- alttext: decorative -->"

# (id, kind, old, new): only alt values (and the rewriter's markers) differ -> the guard lets it through.
SAME = [
    ("md-label", "markdown", "# T\n\nA ![](a.png) b\n", "# T\n\nA ![A fox](a.png) b\n"),
    ("md-label-markup", "markdown", "![*old* `x`](a.png)\n", "![new](a.png)\n"),
    ("md-label-pipe-ref", "markdown", "![](c.png)\n---\nText\n", "![Revenue &#124; costs](c.png)\n---\nText\n"),
    ("md-marker-added", "markdown", "- ![](a.png)\n- b\n", f"- ![](a.png){MARKER}\n- b\n"),
    ("md-marker-removed-with-space", "markdown", f"- ![](a.png) {MARKER}\n- b\n", "- ![A](a.png)\n- b\n"),
    # The space before a removed marker ended a line that goes on (a soft break): found by
    # test_rewrite_props.py.
    ("md-marker-removed-before-soft-break", "markdown", f"a ![](a.png) {MARKER}\nb\n", "a ![A](a.png)\nb\n"),
    ("md-attr-list-alt", "markdown", '![](a.png){ .w alt="x" } t\n', '![](a.png){ .w alt="New &#42;alt&#42;" } t\n'),
    ("md-attr-list-decorative", "markdown", "![i](a.png){: .icon }\n", '![](a.png){: .icon alt="" }\n'),
    ("md-raw-img", "markdown", 'T <img src="a.png"> u\n', 'T <img src="a.png" alt="A &#96;b&#96;"> u\n'),
    ("md-html-block", "markdown", '<div>\n<img src="a.png">\n</div>\n', '<div>\n<img src="a.png" alt="x">\n</div>\n'),
    (
        "md-in-html",
        "markdown",
        '<figure markdown="span">\n![](a.png)\n</figure>\n',
        '<figure markdown="span">\n![A fox](a.png)\n</figure>\n',
    ),
    (
        "md-admonition-body",  # an indented code block to markdown-it, the admonition's body to MkDocs
        "markdown",
        "!!! note\n\n    Text ![](a.png) more\n",
        "!!! note\n\n    Text ![A fox](a.png) more\n",
    ),
    ("html-insert", "html", '<p>x <img src="a.png"> y</p>', '<p>x <img src="a.png" alt="A &lt;b&gt;"> y</p>'),
    (
        "html-insert-own-line",
        "html",
        '<img\n  src="a.png"\n  width="3">',
        '<img\n  src="a.png"\n  width="3"\n  alt="x">',
    ),
    ("html-replace", "html", "<IMG SRC=a ALT=old>", '<IMG SRC=a ALT="new one">'),
]

# (id, kind, old, new, what the line names): anything else is refused.
CHANGED = [
    ("md-table", "markdown", "# R\n\n![](c.png)\n---\nNext\n", "# R\n\n![a \\| b](c.png)\n---\nNext\n", "table_open"),
    ("md-text", "markdown", "A ![](a.png) b\n", "A ![x](a.png) c\n", "text"),
    ("md-src", "markdown", "![](a.png)\n", "![x](b.png)\n", "an image"),
    ("md-emphasis", "markdown", "*a* ![](a.png)\n", "*a ![x](a.png)\n", "em_open"),
    ("md-glued-text", "markdown", f"A ![](a.png) {MARKER}b\n", "A ![x](a.png)b\n", "text"),
    ("md-html-attr", "markdown", 'T <img src="a.png"> u\n', 'T <img src="a.png" alt="x" b"> u\n', "<img"),
    ("md-code", "markdown", "```\n![](a.png)\n```\n", "```\n![x](a.png)\n```\n", "fence"),
    ("md-other-attr-list-item", "markdown", "![](a.png){ .w } t\n", "![](a.png){ .w }\n", "t"),
    ("html-tag-broken", "html", '<p><img src="a.png"></p>', '<p><img src="a.png" alt="x"y"></p>', "<img"),
    ("html-text", "html", "<p>a <img src=x> b</p>", "<p>a <img src=x alt=y> c</p>", "text"),
    ("html-element-added", "html", "<p><img src=x></p>", "<p><img src=x alt=y><b></b></p>", "<b>"),
    ("html-comment", "html", "<!-- a --><img src=x>", "<!-- b --><img src=x alt=y>", "comment"),
]


@pytest.mark.parametrize(("kind", "old", "new"), [c[1:] for c in SAME], ids=[c[0] for c in SAME])
def test_alt_only_changes_pass(kind: str, old: str, new: str) -> None:
    assert structure_change(old, new, kind, python_markdown=kind == "markdown") is None


@pytest.mark.parametrize(("kind", "old", "new", "named"), [c[1:] for c in CHANGED], ids=[c[0] for c in CHANGED])
def test_other_changes_are_reported_in_one_line(kind: str, old: str, new: str, named: str) -> None:
    problem = structure_change(old, new, kind)
    assert problem is not None and "\n" not in problem and named in problem
    assert problem.startswith("the edit would change how ")


def test_python_markdown_reading_is_compared_only_for_mkdocs_pages() -> None:
    """markdown-it masks a raw <img>'s alt; Python-Markdown turns a link inside it into <a href="...">,
    whose quotes end the alt attribute early."""
    old, new = 'T <img src="a.png"> u\n', 'T <img src="a.png" alt="see [a](b)"> u\n'
    assert structure_change(old, new, "markdown") is None
    problem = structure_change(old, new, "markdown", python_markdown=True)
    assert problem is not None and "Python-Markdown" in problem


def test_indented_code_is_code_outside_mkdocs_and_to_python_markdown() -> None:
    admonition = ("!!! note\n\n    Text ![](a.png) more\n", "!!! note\n\n    Text ![A fox](a.png) more\n")
    problem = structure_change(*admonition, "markdown")
    assert problem is not None and "code_block" in problem
    code = ("Code:\n\n    x = ![](a.png)\n", "Code:\n\n    x = ![A fox](a.png)\n")
    problem = structure_change(*code, "markdown", python_markdown=True)
    assert problem is not None and "Python-Markdown" in problem


def test_old_attr_list_markup_is_masked_for_markdown_it() -> None:
    """An attr_list alt that held emphasis reads as several tokens; all of it is the image's."""
    assert structure_change('![](a.png){ alt="*x*" } t\n', '![](a.png){ alt="y" } t\n', "markdown") is None


def test_the_guard_reads_mkdocs_pages_as_python_markdown(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    page = tmp_path / "docs" / "sub" / "a.md"
    page.parent.mkdir(parents=True)
    page.write_text("x\n")
    assert not dialect_of(page).python_markdown
    other = tmp_path / "site" / "docs" / "a.md"
    other.parent.mkdir(parents=True)
    other.write_text("x\n")
    (tmp_path / "site" / "mkdocs.yml").write_text("site_name: x\n")
    assert dialect_of(other).python_markdown


# --------------------------------------------------------------------------- fix_file refuses the file


def _fix(page: Path, alt: str) -> tuple[Status, str | None, bool]:
    scan = scan_file(page, page.name)
    assert scan.source is not None
    decisions = {image_key(scan.images[0]): Decision.text(alt)}
    outcome = fix_file(page, scan.source, scan.images, decisions, WriteBack.WRITE, overwrite=True, display=page.name)
    return outcome.status, outcome.message, outcome.internal


def test_fix_file_refuses_a_table_made_by_an_escape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the label escaping of old (`\\|`), the re-scan still finds the same image and alt, but
    markdown-it reads a table: the guard refuses the file, in one line, and leaves it as it was."""
    page = tmp_path / "report.md"
    page.write_bytes(b"# Report\n\n![](chart.png)\n---\nNext section text.\n")
    old_escape = edits.escape_md_label
    monkeypatch.setattr(
        edits, "escape_md_label", lambda value, encoding="utf-8": old_escape(value).replace("&#124;", "\\|")
    )
    status, message, internal = _fix(page, "Revenue | costs by quarter")
    assert status is Status.FAILED and not internal
    assert message == (
        "error: cannot fix report.md: the edit would change how markdown-it reads the page "
        "(heading_open becomes table_open); file left unchanged"
    )
    assert page.read_bytes() == b"# Report\n\n![](chart.png)\n---\nNext section text.\n"


def test_fix_file_compares_python_markdown_under_mkdocs_yml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A raw <img> escaped only for HTML (as before): harmless to markdown-it, broken by Python-Markdown.
    Refused under a mkdocs.yml, written elsewhere."""
    old_escape = edits.escape_html_attr
    monkeypatch.setattr(
        edits,
        "escape_html_attr",
        lambda value, quote, encoding="utf-8", in_markdown=False: old_escape(value, quote, encoding),
    )
    original = b'Text <img src="a.png"> more\n'
    for site, refused in (("plain", False), ("mkdocs", True)):
        folder = tmp_path / site
        (folder / "docs").mkdir(parents=True)
        (folder / ".git").mkdir()
        if site == "mkdocs":
            (folder / "mkdocs.yml").write_text("site_name: x\n")
        page = folder / "docs" / "page.md"
        page.write_bytes(original)
        status, message, _ = _fix(page, "See [the guide](guide.md)")
        if refused:
            assert status is Status.FAILED and message is not None and "Python-Markdown" in message
            assert page.read_bytes() == original
        else:
            assert status is Status.CHANGED
            assert page.read_bytes() == b'Text <img src="a.png" alt="See [the guide](guide.md)"> more\n'


@pytest.mark.parametrize(
    ("old", "new", "seen"),
    [
        ('<p><area href="/a" alt="old"></p>', '<p><area href="/a" alt="new"></p>', True),  # not rendered: no image
        ('<map name="m"><area href="/a" alt="old"></map>', '<map name="m"><area href="/a" alt="new"></map>', False),
    ],
    ids=["area-outside-map", "area-inside-map"],
)
def test_an_area_alt_is_masked_only_inside_a_map(old: str, new: str, seen: bool) -> None:
    for kind in ("html", "markdown"):
        assert (structure_change(old, new, kind) is not None) is seen, kind
