"""html_tag.parse_start_tag: attribute tokenizing as browsers do it, with exact raw spans."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alttext_tools.core import Span
from alttext_tools.scan.html_tag import StartTag, parse_start_tag

# Each attribute as (name, value, raw name, raw value or None, quote): raw texts are what the
# spans cover in the source, so a table row shows the spans without offsets to count.
Row = tuple[str, str | None, str, str | None, str]


def attrs_of(text: str, start: int = 0) -> list[Row]:
    tag = parse_start_tag(text, start)
    return [
        (
            a.name,
            a.value,
            text[a.name_span.start : a.name_span.end],
            None if a.value_span is None else text[a.value_span.start : a.value_span.end],
            a.quote,
        )
        for a in tag.attrs
    ]


# (case id, tag text, tag name, self_closing, terminated, attributes)
CASES: list[tuple[str, str, str, bool, bool, list[Row]]] = [
    (
        "double-quoted",
        '<img src="a.png" alt="x">',
        "img",
        False,
        True,
        [("src", "a.png", "src", "a.png", '"'), ("alt", "x", "alt", "x", '"')],
    ),
    ("single-quoted-holding-double", "<img alt='it\"s'>", "img", False, True, [("alt", 'it"s', "alt", 'it"s', "'")]),
    ("unquoted", "<img alt=foo>", "img", False, True, [("alt", "foo", "alt", "foo", "")]),
    ("unquoted-keeps-quote-chars", '<img alt=a"b>', "img", False, True, [("alt", 'a"b', "alt", 'a"b', "")]),
    ("bare-attribute", "<img ismap>", "img", False, True, [("ismap", None, "ismap", None, "")]),
    (
        "bare-attribute-last",
        "<img src=a alt>",
        "img",
        False,
        True,
        [("src", "a", "src", "a", ""), ("alt", None, "alt", None, "")],
    ),
    (
        "entities-decoded-span-raw",
        '<img alt="a &amp; b &lt;c&gt;">',
        "img",
        False,
        True,
        [("alt", "a & b <c>", "alt", "a &amp; b &lt;c&gt;", '"')],
    ),
    ("entity-unquoted", "<img alt=&lt;>", "img", False, True, [("alt", "<", "alt", "&lt;", "")]),
    ("empty-quoted", '<img alt="">', "img", False, True, [("alt", "", "alt", "", '"')]),
    ("empty-unquoted", "<img alt=>", "img", False, True, [("alt", "", "alt", "", "")]),
    ("equals-then-spaces", "<img alt=  >", "img", False, True, [("alt", "", "alt", "", "")]),
    ("spaces-around-equals", '<img alt = "x">', "img", False, True, [("alt", "x", "alt", "x", '"')]),
    ("newlines-around-equals", '<img alt\n=\n"x">', "img", False, True, [("alt", "x", "alt", "x", '"')]),
    (
        "gt-inside-quotes",
        '<img alt="a>b" src=c>',
        "img",
        False,
        True,
        [("alt", "a>b", "alt", "a>b", '"'), ("src", "c", "src", "c", "")],
    ),
    (
        "no-space-between-attributes",
        '<img alt="x"src="y">',
        "img",
        False,
        True,
        [("alt", "x", "alt", "x", '"'), ("src", "y", "src", "y", '"')],
    ),
    (
        "all-whitespace-kinds",
        "<img\talt=x\fsrc=y\r>",
        "img",
        False,
        True,
        [("alt", "x", "alt", "x", ""), ("src", "y", "src", "y", "")],
    ),
    (
        "multi-line",
        '<img\n  src="a"\n  alt="b"\n>',
        "img",
        False,
        True,
        [("src", "a", "src", "a", '"'), ("alt", "b", "alt", "b", '"')],
    ),
    (
        "upper-case",
        '<IMG ALT="X" SRC=Y>',
        "img",
        False,
        True,
        [("alt", "X", "ALT", "X", '"'), ("src", "Y", "SRC", "Y", "")],
    ),
    (
        "duplicates-all-kept",
        "<img alt=a alt=b>",
        "img",
        False,
        True,
        [("alt", "a", "alt", "a", ""), ("alt", "b", "alt", "b", "")],
    ),
    ("self-closing", "<img src=a />", "img", True, True, [("src", "a", "src", "a", "")]),
    ("self-closing-after-quote", "<img src='a'/>", "img", True, True, [("src", "a", "src", "a", "'")]),
    ("self-closing-no-attributes", "<br/>", "br", True, True, []),
    ("slash-in-unquoted-value", "<img src=a/>", "img", False, True, [("src", "a/", "src", "a/", "")]),
    ("slash-value-then-space", "<img src=a/ >", "img", False, True, [("src", "a/", "src", "a/", "")]),
    ("slash-before-attribute-skipped", "<img / src=a>", "img", False, True, [("src", "a", "src", "a", "")]),
    ("slash-right-after-name", "<img/src=a>", "img", False, True, [("src", "a", "src", "a", "")]),
    ("slashes-everywhere", "<img/ /src=a>", "img", False, True, [("src", "a", "src", "a", "")]),
    ("slash-space-gt-not-self-closing", "<img / >", "img", False, True, []),
    (
        "slash-between-bare-attributes",
        "<img a/ b>",
        "img",
        False,
        True,
        [("a", None, "a", None, ""), ("b", None, "b", None, "")],
    ),
    ("equals-first-is-name", "<img =foo>", "img", False, True, [("=foo", None, "=foo", None, "")]),
    ("equals-name-with-value", '<img =="x">', "img", False, True, [("=", "x", "=", "x", '"')]),
    ("unterminated-quote", '<img src="a', "img", False, False, [("src", "a", "src", "a", '"')]),
    ("unterminated-quote-swallows-gt", '<img alt="x>', "img", False, False, [("alt", "x>", "alt", "x>", '"')]),
    ("unterminated-after-equals", "<img alt=", "img", False, False, [("alt", "", "alt", "", "")]),
    ("unterminated-name-only", "<img", "img", False, False, []),
    ("lone-lt", "<", "", False, False, []),
]


@pytest.mark.parametrize(
    ("text", "name", "self_closing", "terminated", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_table(text: str, name: str, self_closing: bool, terminated: bool, expected: list[Row]) -> None:
    tag = parse_start_tag(text, 0)
    assert (tag.name, tag.self_closing, tag.terminated) == (name, self_closing, terminated)
    assert tag.span == Span(0, len(text))  # every case is one whole tag, or ends with the text
    assert attrs_of(text) == expected


def test_offsets_are_into_the_whole_text() -> None:
    text = 'xx <img alt="1" src=b> yy <p>'
    tag = parse_start_tag(text, 3)
    assert tag.span == Span(3, 22) and tag.name_span == Span(4, 7)
    alt = tag.attr("alt")
    assert alt is not None and alt.name_span == Span(8, 11) and alt.value_span == Span(13, 14)
    assert attrs_of(text, 3) == [("alt", "1", "alt", "1", '"'), ("src", "b", "src", "b", "")]


def test_attr_returns_the_first_duplicate_and_none_when_absent() -> None:
    tag = parse_start_tag('<img ALT="first" alt="second">', 0)
    first = tag.attr("alt")
    assert first is not None and first.value == "first"
    assert tag.attr("src") is None


def test_name_span_and_lower_cased_name() -> None:
    tag = parse_start_tag("<SvG role=img>", 0)
    assert tag.name == "svg" and tag.name_span == Span(1, 4)


@pytest.mark.parametrize("text", ["", "img", " <img>", "a<img>"])
def test_no_tag_at_offset(text: str) -> None:
    with pytest.raises(ValueError):
        parse_start_tag(text, 0)


# --------------------------------------------------------------------------- properties

_SOUP = st.text(alphabet=list("<>/=\"' \t\n\f\rabcALT&;lgt#1"), max_size=40)


def _check_invariants(text: str, start: int, tag: StartTag) -> None:
    n = len(text)
    assert tag.span.start == start and tag.name_span.start == start + 1
    if tag.terminated:
        assert text[tag.span.end - 1] == ">" and tag.span.end <= n
    else:
        assert tag.span.end == n
    assert not tag.self_closing or (tag.terminated and text[tag.span.end - 2 : tag.span.end] == "/>")
    assert tag.name == text[tag.name_span.start : tag.name_span.end].lower()
    at = tag.name_span.end
    for attr in tag.attrs:
        raw_name = text[attr.name_span.start : attr.name_span.end]
        assert attr.name == raw_name.lower() and raw_name
        assert not any(c in "\t\n\f\r />" for c in raw_name) and "=" not in raw_name[1:]
        assert attr.name_span.start >= at  # in source order, never overlapping
        at = attr.name_span.end
        if attr.value_span is None:
            assert attr.value is None and attr.quote == ""
            continue
        raw = text[attr.value_span.start : attr.value_span.end]
        assert attr.value == html.unescape(raw)
        assert attr.value_span.start >= at
        if attr.quote:
            assert text[attr.value_span.start - 1] == attr.quote and attr.quote not in raw
            assert attr.value_span.end == n or text[attr.value_span.end] == attr.quote
        else:
            assert not any(c in "\t\n\f\r >" for c in raw)
        at = attr.value_span.end
    assert at <= tag.span.end


@settings(max_examples=400, deadline=None)
@given(prefix=st.text(max_size=5), soup=_SOUP)
def test_invariants_on_tag_soup(prefix: str, soup: str) -> None:
    text = prefix + "<" + soup
    tag = parse_start_tag(text, len(prefix))
    _check_invariants(text, len(prefix), tag)


@settings(max_examples=400, deadline=None)
@given(soup=_SOUP, after=st.text(alphabet=list("<>/=\"' ab"), max_size=10))
def test_a_tag_does_not_look_past_its_end(soup: str, after: str) -> None:
    """What follows a terminated tag never changes how it parses."""
    tag = parse_start_tag("<" + soup, 0)
    if not tag.terminated:
        return
    text = "<" + soup[: tag.span.end - 1] + after
    again = parse_start_tag(text, 0)
    assert (again.name, again.attrs, again.self_closing, again.span) == (
        tag.name,
        tag.attrs,
        tag.self_closing,
        tag.span,
    )
