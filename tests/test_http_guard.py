"""http_guard: which Host, Origin and Sec-Fetch-Site values the local servers accept, and the
rules for request bodies. The servers themselves are tested for real in test_serve.py and
test_review.py; these tables cover the binding addresses those tests do not start."""

from __future__ import annotations

import socket
from email.message import Message

import pytest

from alttext_tools.http_guard import HostGuard, Refused, content_length, json_depth, load_json


def headers(**values: str) -> Message:
    message = Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


HOSTNAME = socket.gethostname().lower()

# (bound host, port, Host header, accepted)
HOSTS = [
    ("127.0.0.1", 8765, "127.0.0.1:8765", True),
    ("127.0.0.1", 8765, "localhost:8765", True),
    ("127.0.0.1", 8765, "[::1]:8765", True),
    ("127.0.0.1", 8765, "LocalHost:8765", True),
    ("127.0.0.1", 8765, "127.0.0.1", False),  # a browser always names a port other than 80
    ("127.0.0.1", 80, "127.0.0.1", True),
    ("127.0.0.1", 8765, "127.0.0.1:8766", False),
    ("127.0.0.1", 8765, "attacker.example:8765", False),
    ("127.0.0.1", 8765, "127.0.0.1.attacker.example:8765", False),
    ("127.0.0.1", 8765, "", False),
    ("127.0.0.1", 8765, "127.0.0.1:8765:1", False),
    ("127.0.0.1", 8765, "[::1:8765", False),
    ("::1", 8765, "[::1]:8765", True),
    ("::1", 8765, "localhost:8765", True),
    ("localhost", 8765, "127.0.0.1:8765", True),
    ("192.168.1.10", 8765, "192.168.1.10:8765", True),
    ("192.168.1.10", 8765, "127.0.0.1:8765", False),
    ("192.168.1.10", 8765, "attacker.example:8765", False),
    ("alt.example.org", 8765, "ALT.example.org:8765", True),
    ("alt.example.org", 8765, "other.example.org:8765", False),
    ("0.0.0.0", 8765, "192.168.1.10:8765", True),
    ("0.0.0.0", 8765, "[fe80::1]:8765", True),
    ("0.0.0.0", 8765, f"{HOSTNAME}:8765", True),
    ("0.0.0.0", 8765, "localhost:8765", True),
    ("0.0.0.0", 8765, "attacker.example:8765", False),
    ("::", 8765, "10.0.0.2:8765", True),
]


@pytest.mark.parametrize(("bound", "port", "host", "accepted"), HOSTS)
def test_host_header(bound: str, port: int, host: str, accepted: bool) -> None:
    guard = HostGuard.for_address(bound, port)
    assert guard.host_ok(host) is accepted
    refusal = guard.refusal(headers(Host=host))
    assert (refusal is None) is accepted
    if not accepted:
        assert "unexpected Host header" in refusal and "\n" not in refusal


# (headers besides Host: 127.0.0.1:8765, accepted)
BROWSER = [
    ({}, True),
    ({"Origin": "http://127.0.0.1:8765"}, True),
    ({"Origin": "HTTP://127.0.0.1:8765"}, True),
    ({"Origin": "http://localhost:8765"}, False),  # not the origin this request was made to
    ({"Origin": "https://127.0.0.1:8765"}, False),
    ({"Origin": "http://evil.example"}, False),
    ({"Origin": "null"}, False),
    ({"Origin": ""}, False),
    ({"Sec_Fetch_Site": "same-origin"}, True),
    ({"Sec_Fetch_Site": "none"}, True),
    ({"Sec_Fetch_Site": "same-site"}, False),
    ({"Sec_Fetch_Site": "cross-site"}, False),
    ({"Sec_Fetch_Site": "cross-site", "Origin": "http://127.0.0.1:8765"}, False),
]


@pytest.mark.parametrize(("extra", "accepted"), BROWSER)
def test_cross_site_requests(extra: dict[str, str], accepted: bool) -> None:
    refusal = HostGuard.for_address("127.0.0.1", 8765).refusal(headers(Host="127.0.0.1:8765", **extra))
    assert (refusal is None) is accepted, refusal


@pytest.mark.parametrize(
    ("values", "required", "expected"),
    [
        ({"Content_Length": "12"}, True, 12),
        ({"Content_Length": " 0 "}, True, 0),
        ({}, False, 0),
        ({}, True, (411, "Content-Length is required")),
        ({"Transfer_Encoding": "chunked"}, False, (411, "chunked")),
        ({"Transfer_Encoding": "chunked", "Content_Length": "5"}, False, (411, "chunked")),
        ({"Content_Length": "-1"}, False, (400, "invalid Content-Length")),
        ({"Content_Length": "1e3"}, False, (400, "invalid Content-Length")),
        ({"Content_Length": "9" * 40}, False, (400, "invalid Content-Length")),
    ],
)
def test_content_length(values: dict[str, str], required: bool, expected: object) -> None:
    if isinstance(expected, int):
        assert content_length(headers(**values), required=required) == expected
        return
    status, text = expected  # type: ignore[misc]
    with pytest.raises(Refused) as caught:
        content_length(headers(**values), required=required)
    assert caught.value.status == status and text in caught.value.message


def test_conflicting_content_lengths() -> None:
    message = headers(Content_Length="5")
    message["Content-Length"] = "6"
    with pytest.raises(Refused, match="conflicting"):
        content_length(message, required=True)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "\\"]]]", {"x": "{{{"}]', 2),
        ("[" * 40 + "]" * 40, 40),
        ('"just a string with [[["', 0),
    ],
)
def test_json_depth_ignores_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_load_json_bounds_depth_before_parsing() -> None:
    assert load_json(b'{"image_base64": "AAAA", "context": {"text": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}}')
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        load_json(b"[" * 100_000)
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        load_json(b'{"a": ' + b"[" * 33 + b"]" * 33 + b"}")
    assert set(load_json(b'{"a": ' + b"[" * 31 + b"]" * 31 + b"}")) == {"a"}  # 32 levels: accepted
    with pytest.raises(ValueError, match="not UTF-8"):
        load_json(b'{"a": "\xff"}')
    with pytest.raises(ValueError, match="line 1"):
        load_json(b"{nope")
