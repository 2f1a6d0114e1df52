"""Verdicts on SVG and image-map markup, as browsers expose it (compared with axe-core).

Each case is a page and the findings `check` gives for it: (line, rule) pairs.
"""

from __future__ import annotations

import pytest

from alttext_tools.check.rules import evaluate_all
from alttext_tools.scan.html import scan_html

CASES = [
    pytest.param(
        '<svg><g role="img"><title>Revenue by quarter</title><rect width="4" height="4"/></g></svg>',
        [],
        id="svg-title-child-names-a-role-img-group",
    ),
    pytest.param('<svg><g role="img"><rect/></g></svg>', [(1, "missing-name")], id="unnamed-role-img-group"),
    pytest.param('<svg role="graphics-document"><path d="M0 0"/></svg>', [(1, "missing-name")], id="graphics-document"),
    pytest.param('<svg role="graphics-symbol"></svg>', [(1, "missing-name")], id="graphics-symbol-svg"),
    pytest.param('<svg><g role="graphics-symbol"></g></svg>', [(1, "missing-name")], id="graphics-symbol-in-svg"),
    pytest.param('<svg role="graphics-document"><title>Site map</title></svg>', [], id="graphics-document-titled"),
    pytest.param('<svg role="graphics-document" aria-label="Site map"></svg>', [], id="graphics-document-labelled"),
    pytest.param('<svg role="image"></svg>', [(1, "missing-name")], id="role-image-svg"),
    pytest.param('<span role="image">★★★</span>', [(1, "missing-name")], id="role-image-span"),
    pytest.param('<span role="image" aria-label="3 stars">★★★</span>', [], id="role-image-labelled"),
    pytest.param(
        '<img src="a.png" alt="" role="image">', [(1, "decorative-exposed")], id="role-image-exposes-empty-alt"
    ),
    pytest.param('<div role="graphics-document"></div>', [], id="graphics-document-outside-svg"),
    pytest.param('<p><area href="/room/1"></p>', [], id="area-outside-map"),
    pytest.param(
        '<area href="/room/1" alt="">\n<map name="m">\n<area href="/room/2">\n</map>',
        [(3, "missing-alt")],
        id="area-inside-map",
    ),
]


@pytest.mark.parametrize(("page", "expected"), CASES)
def test_verdicts(page: str, expected: list[tuple[int, str]]) -> None:
    findings = evaluate_all(scan_html(page, "t.html"))
    assert [(finding.image.line, finding.rule) for finding in findings] == expected


def test_missing_name_message_names_the_role_written() -> None:
    (finding,) = evaluate_all(scan_html('<svg role="graphics-document"></svg>', "t.html"))
    assert finding.message.startswith('<svg role="graphics-document"> has no accessible name')
    (finding,) = evaluate_all(scan_html('<i role="image"></i>', "t.html"))
    assert finding.message.startswith('<i role="image"> has no accessible name')
