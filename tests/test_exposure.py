"""The one exposed-decorative judgement (check/exposure.py), from markup to the rules' verdict."""

from __future__ import annotations

import pytest

from alttext_tools.check.exposure import exposed_by, is_marked_decorative
from alttext_tools.check.rules import evaluate
from alttext_tools.scan.aria import GLOBAL_ARIA
from alttext_tools.scan.dispatch import scan_text

# (markup, what exposes the last image in it, the rules that fire on it). Markup starting with
# "<" is HTML; anything else is Markdown.
CASES: list[tuple[str, tuple[str, ...], list[str]]] = [
    # not marked decorative: nothing to expose
    ('<img src=a alt="Team photo" tabindex="0">', (), []),
    ("<img src=a>", (), ["missing-alt"]),
    ('<img src=a alt="" aria-label="Named" tabindex="0">', (), []),
    ('<p id=n>Named</p><img src=a alt="" aria-labelledby=n aria-live="polite">', (), []),
    ('<img src=a alt=" " tabindex="0">', (), ["whitespace-alt"]),
    ('<input type=image src=a alt="">', (), ["missing-alt"]),
    ('<svg role="img"></svg>', (), ["missing-name"]),
    # decorative and not exposed
    ('<img src=a alt="">', (), []),
    ("<img src=a alt>", (), []),
    ('<img src=a alt="" title="Tooltip">', (), []),
    ('<img src=a role="presentation">', (), []),
    ('<img src=a role="NONE presentation">', (), []),
    ('<img src=a alt="" role="presentation">', (), []),
    ('<img src=a alt="" tabindex="x">', (), []),
    ('<img src=a alt="" tabindex="">', (), []),
    ('<img src=a alt="" aria-live="off">', (), []),
    ('<img src=a alt="" aria-live=" OFF ">', (), []),
    ('<img src=a alt="" aria-live="">', (), []),
    ('<img src=a alt="" aria-hidden="false">', (), []),
    ('<img src=a alt="Logo" aria-hidden="true">', (), []),
    ('<img src=a alt="" aria-hidden="true" aria-live="polite" role="img">', (), []),
    ('<div aria-hidden="true"><img src=a role="img" aria-describedby="d"></div>', (), []),
    ('<svg role="img" aria-hidden="true"><title>Star</title></svg>', (), []),
    ('<input type=image src=a aria-hidden="true" disabled>', (), []),
    ('<input type=image src=a aria-hidden="true" disabled tabindex="0">', (), []),
    # focus
    ('<img src=a alt="" tabindex="0">', ("tabindex",), ["decorative-exposed"]),
    ('<img src=a alt="" tabindex="-1">', ("tabindex",), ["decorative-exposed"]),
    ('<img src=a alt="" tabindex=" +2">', ("tabindex",), ["decorative-exposed"]),
    ('<img src=a alt="" tabindex="1x">', ("tabindex",), ["decorative-exposed"]),
    ('<img src=a role="presentation" tabindex="0">', ("tabindex",), ["decorative-exposed"]),
    ('<img src=a aria-hidden="true" tabindex="0">', ("tabindex",), ["decorative-exposed"]),
    ('<div aria-hidden="true"><img src=a tabindex="0"></div>', ("tabindex",), ["decorative-exposed"]),
    ('<span role="img" aria-hidden="true" tabindex="0">★</span>', ("tabindex",), ["decorative-exposed"]),
    ('<input type=image src=a alt="Go" aria-hidden="true">', ("focusable",), ["decorative-exposed"]),
    ('<map><area href=/x alt="" aria-hidden="true"></map>', ("focusable",), ["decorative-exposed"]),
    # another role
    ('<img src=a alt="" role="img">', ("role=img",), ["decorative-exposed"]),
    ('<img src=a alt="" role="button">', ("role=button",), ["decorative-exposed"]),
    # global ARIA attributes (every one of GLOBAL_ARIA: test_every_global_aria_attribute_exposes)
    ('<img src=a alt="" aria-live="polite">', ("aria-live",), ["decorative-exposed"]),
    ('<img src=a alt="" aria-describedby="d">', ("aria-describedby",), ["decorative-exposed"]),
    ('<img src=a alt="" aria-details="d">', ("aria-details",), ["decorative-exposed"]),
    ('<img src=a role="presentation" aria-live="assertive">', ("aria-live",), ["decorative-exposed"]),
    ('<img src=a role="none" aria-roledescription="logo">', ("aria-roledescription",), ["decorative-exposed"]),
    # several at once, most important first
    (
        '<img src=a alt="" aria-describedby="d" aria-live="polite" role="img" tabindex="0">',
        ("tabindex", "role=img", "aria-live", "aria-describedby"),
        ["decorative-exposed"],
    ),
    # Markdown: a decorative marker makes the rendered <img alt=""> presentational
    ("![](a.png)", (), ["empty-alt"]),
    ('![](a.png){ alt="" }', (), []),
    ("![](a.png)<!-- alttext: decorative -->", (), []),
    ('![](a.png){ alt="" tabindex="0" }', ("tabindex",), ["decorative-exposed"]),
    ('![](a.png){ alt="" aria-live="polite" }', ("aria-live",), ["decorative-exposed"]),
    ('![](a.png){ alt="" aria-describedby="note" }', ("aria-describedby",), ["decorative-exposed"]),
    ('![Acme logo](a.png){ aria-describedby="note" }', (), []),
]


@pytest.mark.parametrize(("markup", "exposed", "rules"), CASES, ids=[c[0] for c in CASES])
def test_exposure(markup: str, exposed: tuple[str, ...], rules: list[str]) -> None:
    kind = "html" if markup.startswith("<") else "markdown"
    [*_, image] = scan_text(markup, f"t.{'html' if kind == 'html' else 'md'}", kind)
    assert exposed_by(image) == exposed
    assert [finding.rule for finding in evaluate(image)] == rules
    if exposed:
        assert is_marked_decorative(image)


def test_case_markup_unique() -> None:
    markups = [markup for markup, _, _ in CASES]
    assert len(markups) == len(set(markups))


@pytest.mark.parametrize("name", GLOBAL_ARIA)
def test_every_global_aria_attribute_exposes(name: str) -> None:
    [image] = scan_text(f'<img src=a alt="" {name}="x">', "t.html", "html")
    assert exposed_by(image) == (name,)
    [finding] = evaluate(image)
    assert finding.rule == "decorative-exposed" and name in finding.message
    [hidden] = scan_text(f'<img src=a alt="" aria-hidden="true" {name}="x">', "t.html", "html")
    assert exposed_by(hidden) == () and evaluate(hidden) == []


def test_message_says_how_the_image_was_marked() -> None:
    [image] = scan_text('<div aria-hidden="true"><img src=a tabindex="0"></div>', "t.html", "html")
    [finding] = evaluate(image)
    assert 'decorative (aria-hidden="true" on an ancestor)' in finding.message


def test_message_names_every_reason() -> None:
    [image] = scan_text('<img src=a alt="" tabindex="0" role="img" aria-live="polite" aria-owns="x">', "t.html", "html")
    [finding] = evaluate(image)
    assert finding.message.startswith(
        'image is marked decorative (alt="") but is focusable (tabindex="0") and given role="img" and '
        'a live region (aria-live="polite") and given aria-owns;'
    )
