"""The rewriter: table tests over fixture files (through the pure core and through fix_file on disk),
plus unit tests of normalising, escaping, planning, applying and verifying."""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest
from rewrite_helpers import FIXTURES, Case, decision, html_refs, md_ref, read_cases, rendered_alts

from alttext_tools.core import AltKind, Decision, Syntax, image_key
from alttext_tools.rewrite.edits import (
    DECORATIVE_MARKER,
    Edit,
    OverlapError,
    RewriteError,
    VerifyError,
    apply_edits,
    escape_html_attr,
    escape_md_label,
    plan_edits,
    rewrite_text,
    select_decisions,
    verify,
)
from alttext_tools.rewrite.guard import structure_change
from alttext_tools.rewrite.writeback import Status, WriteBack, fix_file
from alttext_tools.scan.dispatch import scan_file, scan_text
from alttext_tools.scan.sources import decode
from alttext_tools.text import normalize_alt

CASES = [case for name in ("html.html.txt", "markdown.md.txt") for case in read_cases(FIXTURES / name)]
BYTE_CASES = sorted(p.name for p in (FIXTURES / "bytes").iterdir() if p.is_dir())

# Each text case runs in these shapes: (id, input/expected text -> bytes as stored)
VARIANTS = {
    "lf": lambda t: t.encode("utf-8"),
    "crlf": lambda t: t.replace("\n", "\r\n").encode("utf-8"),
    "bom": lambda t: codecs.BOM_UTF8 + t.encode("utf-8"),
    "no-eol": lambda t: t[:-1].encode("utf-8"),
    "bom-crlf-no-eol": lambda t: codecs.BOM_UTF8 + t[:-1].replace("\n", "\r\n").encode("utf-8"),
}


def by_index(images: list, decisions: dict[tuple[int, int], str], case_id: str) -> dict[int, str]:
    """Decisions keyed by the image's index in the scan (positions move after an edit)."""
    index = {(image.line, image.column): i for i, image in enumerate(images)}
    missing = sorted(set(decisions) - set(index))
    assert not missing, f"{case_id}: no image at {missing}; images at {sorted(index)}"
    return {index[pos]: alt for pos, alt in decisions.items()}


def run_pure(data: bytes, kind: str, path: str, decisions: dict[int, str]) -> bytes:
    source = decode(data, is_html=kind == "html")
    images = scan_text(source.text, path, kind)  # type: ignore[arg-type]
    pairs = [(images[i], decision(alt)) for i, alt in decisions.items()]
    result = rewrite_text(source.text, path, kind, images, pairs, encoding=source.candidates or source.encoding)
    return source.encode(result.text)


def run_on_disk(tmp_path: Path, data: bytes, suffix: str, decisions: dict[int, str]) -> tuple[bytes, Status]:
    page = tmp_path / f"page{suffix}"
    page.write_bytes(data)
    scan = scan_file(page, page.name)
    assert scan.source is not None, scan.error
    wanted = {image_key(scan.images[i]): decision(alt) for i, alt in decisions.items()}
    outcome = fix_file(page, scan.source, scan.images, wanted, WriteBack.WRITE, overwrite=True, root=tmp_path)
    assert not outcome.failed, outcome.message
    return page.read_bytes(), outcome.status


def check_case(
    tmp_path: Path,
    data: bytes,
    expected: bytes,
    kind: str,
    suffix: str,
    positions: dict[tuple[int, int], str],
    case_id: str,
) -> None:
    source = decode(data, is_html=kind == "html")
    decisions = by_index(scan_text(source.text, "page" + suffix, kind), positions, case_id)  # type: ignore[arg-type]
    assert run_pure(data, kind, f"page{suffix}", decisions) == expected
    written, status = run_on_disk(tmp_path, data, suffix, decisions)
    assert written == expected
    assert status is (Status.UNCHANGED if data == expected else Status.CHANGED)
    # Idempotence through the whole stack: the same decisions on the output change nothing.
    assert run_on_disk(tmp_path, written, suffix, decisions) == (expected, Status.UNCHANGED)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}-{c.id}" for c in CASES])
def test_fixture_case(case: Case, variant: str, tmp_path: Path) -> None:
    to_bytes = VARIANTS[variant]
    check_case(tmp_path, to_bytes(case.input), to_bytes(case.expected), case.kind, case.suffix, case.decisions, case.id)


def _byte_case(name: str) -> tuple[bytes, bytes, str, dict[tuple[int, int], str]]:
    folder = FIXTURES / "bytes" / name
    [source] = folder.glob("input.*")
    [expected] = folder.glob("expected.*")
    decisions = {}
    for raw in (folder / "decisions.txt").read_text(encoding="utf-8").splitlines():
        position, alt = raw.split(" = ", 1)
        line, column = position.split(":")
        decisions[(int(line), int(column))] = "" if alt == '""' else alt
    return source.read_bytes(), expected.read_bytes(), source.suffix, decisions


@pytest.mark.parametrize("name", BYTE_CASES)
def test_byte_fixture_case(name: str, tmp_path: Path) -> None:
    data, expected, suffix, decisions = _byte_case(name)
    assert data != expected
    check_case(tmp_path, data, expected, "html" if suffix == ".html" else "markdown", suffix, decisions, name)


def test_markdown_fixture_alts_render_as_intended() -> None:
    """markdown-it itself (not only our scanner) reads the new labels as the intended text."""
    checked = 0
    for case in CASES:
        if case.kind != "markdown":
            continue
        decisions = by_index(scan_text(case.input, "page.md", "markdown"), case.decisions, case.id)
        after = scan_text(case.expected, "page.md", "markdown")
        for i, alt in decisions.items():
            image = after[i]
            if not image.is_markdown_syntax or image.alt_kind is AltKind.MD_ATTR_LIST:
                continue  # HTML, or an attr_list alt (which CommonMark itself does not read)
            # the image alone, with every reference the fixtures use defined
            alone = (
                case.expected[image.span.start : image.span.end]
                + "\n\n[r]: r\n[ref]: r\n[fox]: r\n[fox photo]: r\n[fox.jpg]: r\n"
            )
            assert rendered_alts(alone) == [alt], case.id
            checked += 1
    assert checked > 15


# --------------------------------------------------------------------------- normalising, escaping


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A red fox", "A red fox"),
        ("  A\n red\r\n\tfox  ", "A red fox"),
        ("line\u2028sep\u2029para\x85nel\x0bvt\x0cff", "line sep para nel vt ff"),
        ("bell\x07 and\x00nul\x1b[31m", "bell andnul[31m"),
        ("nbsp\u00a0and\u3000ideographic", "nbsp and ideographic"),
        ("emoji 👩\u200d💻 and rtl \u200fمرحبا", "emoji 👩\u200d💻 and rtl \u200fمرحبا"),
        ("lone \udcff surrogate", "lone surrogate"),
        ("\n\t ", ""),
    ],
)
def test_normalize_alt(raw: str, expected: str) -> None:
    assert normalize_alt(raw) == expected
    assert normalize_alt(expected) == expected


def test_escape_html_attr() -> None:
    assert escape_html_attr("a \"b\" 'c' & <d>", '"') == "a &quot;b&quot; 'c' &amp; &lt;d&gt;"
    assert escape_html_attr("a \"b\" 'c' & <d>", "'") == 'a "b" &#39;c&#39; &amp; &lt;d&gt;'
    assert escape_html_attr("café 🦊", '"', "latin-1") == "café &#x1F98A;"
    assert escape_html_attr("café 🦊", '"', "ascii") == "caf&#xE9; &#x1F98A;"


@pytest.mark.parametrize(
    "alt",
    [
        "plain text",
        "*emphasis* and **strong** and _under_ score_in_word",
        "`code` and ``double``",
        "[link](http://x) and [ref][r] and ![img](y)",
        "<b>html</b> and <http://autolink.example> and <!-- comment -->",
        "&amp; &copy; &#123; &#x41; & alone &nosemi",
        "back\\slash \\* \\",
        "~~strike~~ and ~single~",
        "a | b || c",
        "trailing \\",
        "!",
        "![",
        "# not a heading",
        "1. not a list",
        "> not a quote",
        "ends with !",
    ],
)
@pytest.mark.parametrize("preset", ["commonmark", "gfm"])
def test_escape_md_label_renders_back(alt: str, preset: str) -> None:
    assert rendered_alts(f"![{escape_md_label(alt)}](x.png)\n", preset) == [alt]
    # also inside a table cell
    table = f"| a |\n|---|\n| ![{escape_md_label(alt)}](x.png) |\n"
    assert rendered_alts(table, preset) == [alt]


def test_escape_md_label_is_minimal() -> None:
    assert escape_md_label("A red fox, asleep (mostly) in 2024!") == "A red fox, asleep (mostly) in 2024!"
    assert escape_md_label("Tom & Jerry") == "Tom & Jerry"
    assert escape_md_label("😀", "latin-1") == "&#x1F600;"


# --------------------------------------------------------------------------- plan / apply (hand-built)


def test_plan_edits_touch_only_the_alt_value() -> None:
    text = '<p class="x"><img src="a.png" alt="IMG_1.png"></p>'
    [image] = html_refs(text)
    [edit] = plan_edits(text, [(image, Decision.text("A fox"))])
    assert (text[edit.start : edit.end], edit.text) == ("IMG_1.png", "A fox")
    assert apply_edits(text, [edit]) == '<p class="x"><img src="a.png" alt="A fox"></p>'


def test_plan_edits_bare_alt_keeps_name_case() -> None:
    text = "<IMG SRC=a.png ALT>"
    [image] = html_refs(text)
    assert apply_edits(text, plan_edits(text, [(image, Decision.text("A fox"))])) == '<IMG SRC=a.png ALT="A fox">'
    # a bare alt already is alt="": decorative asks for nothing
    assert plan_edits(text, [(image, Decision.mark_decorative())]) == []


def test_plan_edits_tag_without_attributes() -> None:
    text = "<img>"
    [image] = html_refs(text)
    assert apply_edits(text, plan_edits(text, [(image, Decision.text("x"))])) == '<img alt="x">'


def test_plan_edits_unquoted_value_with_slash() -> None:
    # `src=x/>`: the "/" belongs to the unquoted value (as in browsers), so alt goes after it
    text = "<img src=x/>"
    [image] = html_refs(text)
    assert apply_edits(text, plan_edits(text, [(image, Decision.text("y"))])) == '<img src=x/ alt="y">'


def test_plan_edits_multiline_crlf_indentation() -> None:
    text = '<img\r\n    src="a.png"\r\n    class="x">'
    [image] = html_refs(text)
    assert (
        apply_edits(text, plan_edits(text, [(image, Decision.text("A fox"))]))
        == '<img\r\n    src="a.png"\r\n    class="x"\r\n    alt="A fox">'
    )


def test_plan_edits_stale_position_is_refused() -> None:
    text = '<img src="a.png">'
    [image] = html_refs(text)
    with pytest.raises(RewriteError, match="no tag at the scanned position"):
        plan_edits(" " + text, [(image, Decision.text("x"))])


def test_plan_edits_markdown_hand_built() -> None:
    text = "x ![old](a.png) y ![ref] z ![r2][] and ![o][r3]\n"
    images = [
        md_ref(text, 2, label=(4, 7), end=15),
        md_ref(text, 18, label=(20, 23), end=24, syntax=Syntax.MD_REFERENCE, ref_form="shortcut"),
        md_ref(text, 27, label=(29, 31), end=34, syntax=Syntax.MD_REFERENCE, ref_form="collapsed"),
        md_ref(text, 39, label=(41, 42), end=47, syntax=Syntax.MD_REFERENCE, ref_form="full"),
    ]
    edits = plan_edits(text, [(i, Decision.text("new [*x*]")) for i in images])
    assert (
        apply_edits(text, edits) == "x ![new \\[\\*x\\*\\]](a.png) y ![new \\[\\*x\\*\\]][ref] "
        "z ![new \\[\\*x\\*\\]][r2] and ![new \\[\\*x\\*\\]][r3]\n"
    )
    edits = plan_edits(text, [(i, Decision.mark_decorative()) for i in images])
    m = DECORATIVE_MARKER
    assert apply_edits(text, edits) == f"x ![](a.png){m} y ![][ref]{m} z ![][r2]{m} and ![][r3]{m}\n"


def test_markdown_without_proven_label_is_not_rewritten() -> None:
    text = "![old](a.png)"
    image = md_ref(text, 0, label=(2, 5), end=13)
    from dataclasses import replace

    with pytest.raises(RewriteError, match="cannot locate the image label"):
        plan_edits(text, [(replace(image, alt_span=None), Decision.text("x"))])


def test_no_alt_syntax_is_refused() -> None:
    text = '<svg role="img"></svg>'
    [image] = scan_text(text, "t.html", "html")
    assert image.alt_kind is None
    with pytest.raises(RewriteError, match="has no alt attribute"):
        plan_edits(text, [(image, Decision.text("x"))])


def test_apply_edits_back_to_front_and_overlaps() -> None:
    text = "0123456789"
    assert apply_edits(text, [Edit(1, 2, "one"), Edit(5, 5, "+"), Edit(8, 10, "")]) == "0one234+567"
    assert apply_edits(text, []) == text
    with pytest.raises(OverlapError):
        apply_edits(text, [Edit(1, 4, "a"), Edit(3, 5, "b")])
    with pytest.raises(OverlapError):
        apply_edits(text, [Edit(3, 3, "a"), Edit(3, 3, "b")])
    with pytest.raises(OverlapError):
        apply_edits(text, [Edit(8, 11, "a")])
    assert apply_edits(text, [Edit(1, 3, "a"), Edit(3, 5, "b")]) == "0ab56789"  # touching is fine


# --------------------------------------------------------------------------- verify


def test_verify_catches_a_wrong_alt_and_a_lost_image() -> None:
    old = '<img src="a.png"><img src="b.png">'
    images = scan_text(old, "t.html", "html")
    pairs = [(images[0], Decision.text("A"))]
    edits = plan_edits(old, pairs)
    good = apply_edits(old, edits)
    assert verify(images, scan_text(good, "t.html", "html"), pairs, edits) == []
    wrong = good.replace('alt="A"', 'alt="B"')
    assert verify(images, scan_text(wrong, "t.html", "html"), pairs, edits) == [
        "image at 1:1: expected alt 'A', re-scan reads 'B'"
    ]
    lost = good.replace('<img src="b.png">', "")
    assert verify(images, scan_text(lost, "t.html", "html"), pairs, edits) == ["image count changed from 2 to 1"]
    touched = good.replace("b.png", "c.png")
    assert "the element itself changed" in verify(images, scan_text(touched, "t.html", "html"), pairs, edits)[0]
    other = good.replace('<img src="b.png">', '<img src="b.png" alt="sneaky">')
    assert "no decision was made" in verify(images, scan_text(other, "t.html", "html"), pairs, edits)[0]


def test_rewrite_text_refuses_an_edit_that_breaks_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    from alttext_tools.rewrite import edits as rewrite

    text = "![old](a.png) and ![b](b.png)\n"
    images = scan_text(text, "t.md", "markdown")
    # a broken escaper lets "](" through: the re-scan must notice
    monkeypatch.setattr(rewrite, "escape_md_label", lambda value, encoding="utf-8": value)
    with pytest.raises(VerifyError):
        rewrite_text(text, "t.md", "markdown", images, [(images[0], Decision.text("x](evil.png) ![y"))])


# --------------------------------------------------------------------------- select_decisions


FIXABLE = frozenset({"missing-alt", "empty-alt", "whitespace-alt", "filename-alt", "placeholder-alt"})


def test_select_decisions_guard() -> None:
    from alttext_tools.check.rules import evaluate_all

    text = (
        '<img src="a.png"><img src="b.png" alt="A written description"><img src="c.png" alt="image">'
        '<input type="image" src="go.png">'
    )
    images = scan_text(text, "t.html", "html")
    findings = evaluate_all(images)
    decisions = {image_key(i): Decision.text("New") for i in images[:3]}
    decisions[image_key(images[3])] = Decision.mark_decorative()
    pairs, notes = select_decisions(images, decisions, findings, fixable_rules=FIXABLE)
    assert [image.src for image, _ in pairs] == ["a.png", "c.png"]  # missing-alt, placeholder-alt
    assert len(notes) == 2
    assert "keeps its written alt 'A written description'" in notes[0]
    assert "cannot be decorative" in notes[1]
    pairs, notes = select_decisions(images, decisions, findings, fixable_rules=FIXABLE, overwrite=True)
    assert [image.src for image, _ in pairs] == ["a.png", "b.png", "c.png"]


def test_select_decisions_writes_a_reviewed_alt_where_there_is_no_alt() -> None:
    """`decorative-exposed` (hidden, focusable, no alt at all) is not a fixable rule, but there is
    no written alt to keep: the decision is applied, and no note shows Python's None."""
    from alttext_tools.check.rules import evaluate_all

    images = scan_text('<img src="logo.png" role="presentation" tabindex="0">', "t.html", "html")
    findings = evaluate_all(images)
    assert [f.rule for f in findings] == ["decorative-exposed"] and images[0].alt is None
    pairs, notes = select_decisions(images, {image_key(images[0]): Decision.text("Company logo")}, findings)
    assert [image.src for image, _ in pairs] == ["logo.png"] and notes == []


@pytest.mark.parametrize("alt", ["", ' alt=""'], ids=["no-alt", "empty-alt"])
def test_reviewed_text_for_an_exposed_decorative_image_is_written(alt: str) -> None:
    from alttext_tools.check.rules import evaluate_all

    images = scan_text(f'<img src="logo.png" role="presentation" tabindex="0"{alt}>', "t.html", "html")
    findings = evaluate_all(images)
    assert [f.rule for f in findings] == ["decorative-exposed"]
    pairs, notes = select_decisions(images, {image_key(images[0]): Decision.text("Company logo")}, findings)
    assert len(pairs) == 1 and notes == []


def test_note_for_an_image_without_alt_never_shows_none() -> None:
    images = scan_text('<img src="a.png">', "t.html", "html")
    pairs, notes = select_decisions(images, {image_key(images[0]): Decision.text("x")}, [])
    assert pairs == []
    assert notes == ["t.html:1:1: not changed: no fixable finding for it (use --overwrite to write its alt anyway)"]


def test_guessed_encoding_writes_a_character_as_is_only_where_every_candidate_agrees() -> None:
    assert escape_html_attr("\u0141\u00f3d\u017a", '"', ("cp1250", "cp1252")) == "&#x141;\u00f3d&#x17A;"
    assert escape_md_label("\u00df \u20ac", ("cp1252", "iso8859-15")) == "\u00df &#x20AC;"  # € is 0x80 / 0xA4


def test_select_decisions_skips_ignored_and_satisfied() -> None:
    text = '<img src="a.png" data-alttext-ignore><img src="b.png" alt="Same">'
    images = scan_text(text, "t.html", "html")
    decisions = {image_key(images[0]): Decision.text("x"), image_key(images[1]): Decision.text("Same")}
    pairs, notes = select_decisions(images, decisions, [], fixable_rules=FIXABLE, overwrite=True)
    assert pairs == []
    assert notes == ["t.html:1:1: not changed: the image is marked ignored"]


def test_attr_list_alt_is_updated_in_place() -> None:
    text = '![label](a.png){ .wide alt="photo" }\n![](b.png){: .icon }\n![c](c.png){ alt=pic }\n'
    images = scan_text(text, "t.md", "markdown")
    assert [i.alt_kind for i in images] == [AltKind.MD_ATTR_LIST, AltKind.MD_LABEL, AltKind.MD_ATTR_LIST]
    pairs = [
        (images[0], Decision.text('A "wide" {shot} & more')),
        (images[1], Decision.mark_decorative()),
        (images[2], Decision.text("C")),
    ]
    result = rewrite_text(text, "t.md", "markdown", images, pairs)
    assert result.text == (
        '![label](a.png){ .wide alt="A &quot;wide&quot; &#123;shot&#125; &amp; more" }\n'
        '![](b.png){: .icon alt="" }\n'
        '![c](c.png){ alt="C" }\n'
    )


def test_a_brace_in_an_attr_list_alt_in_a_table_cell_keeps_the_cell_as_it_was() -> None:
    """An unescaped `{` in the value made Python-Markdown's attr_list give the cell an attribute
    (`<td>` became `<td _>`): found by test_rewrite_props.py."""
    text = '| h0 | h1 |\n|---|---|\n| <img src="h.png"> | ![](a.png){ alt="photo" } |\n'
    images = scan_text(text, "t.md", "markdown")
    pairs = [(images[0], Decision.mark_decorative()), (images[1], Decision.text("a {"))]
    result = rewrite_text(text, "t.md", "markdown", images, pairs)
    assert result.text.splitlines()[2] == '| <img src="h.png" alt=""> | ![](a.png){ alt="a &#123;" } |'
    assert structure_change(text, result.text, "markdown", python_markdown=True) is None
    assert [image.alt for image in scan_text(result.text, "t.md", "markdown")] == ["", "a {"]


def test_select_decisions_default_uses_the_rules_flags() -> None:
    from alttext_tools.check.rules import evaluate_all

    text = '<img src="a.png"><img src="b.png" alt="A written description" title="x">'
    images = scan_text(text, "t.html", "html")
    decisions = {image_key(i): Decision.text("New") for i in images}
    pairs, notes = select_decisions(images, decisions, evaluate_all(images))
    assert [image.src for image, _ in pairs] == ["a.png"] and len(notes) == 1


# --------------------------------------------------------------------------- what Python-Markdown makes of our escapes


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.alts: list[str | None] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.alts.append(dict(attrs).get("alt"))

    handle_startendtag = handle_starttag


RENDERER_SYNTAX = "Use `code`, [a link](x), ![i](y), *stars*, **bold**, _under_, a\\b, $x$ and 1 | 2"
PYTHON_MARKDOWN = ["tables", "attr_list", "md_in_html", "pymdownx.arithmatex"]


@pytest.mark.parametrize(
    "page",
    [
        'Text <img src="a.png"> more\n',
        '<p>\n<img src="a.png">\n</p>\n',
        '<figure markdown="span">\n  <img src="a.png">\n</figure>\n',
        '| a | b |\n|---|---|\n| <img src="a.png"> | x |\n',
        '![Photo](a.png){ .wide alt="photo" }\n',
    ],
    ids=["inline", "html-block", "md-in-html", "table-cell", "attr-list"],
)
def test_alt_with_markdown_syntax_survives_python_markdown(page: str) -> None:
    """The alt written into raw HTML (or an attr_list) in a Markdown page comes out of
    Python-Markdown as one intact <img> whose alt is exactly the text asked for."""
    images = scan_text(page, "page.md", "markdown")
    result = rewrite_text(page, "page.md", "markdown", images, [(images[0], Decision.text(RENDERER_SYNTAX))])
    parsed = _Images()
    parsed.feed(markdown.markdown(result.text, extensions=PYTHON_MARKDOWN))
    parsed.close()
    assert parsed.alts == [RENDERER_SYNTAX]
    assert not {"code", "a", "em", "strong", "script", "span"} & set(parsed.tags)
    assert not re.search(r"[`\[\]*_$|\\]", result.text[images[0].span.start : images[0].span.end].split("alt=")[-1])
