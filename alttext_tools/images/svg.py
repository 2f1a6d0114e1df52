"""SVG images, which are never rasterised: sniffing (`looks_like_svg`) and the text alternative of
the root's <title>/<desc> (`svg_text_alternative`), refusing DOCTYPE and entity declarations."""

from __future__ import annotations

import re
from typing import NoReturn
from xml.parsers import expat

from alttext_tools.images.errors import InvalidSvgError, UnsafeSvgError, UnsupportedImageError

MAX_SVG_BYTES = 5 * 1024 * 1024


def looks_like_svg(data: bytes) -> bool:
    """Cheap sniff: XML-ish text whose first few KB mention an <svg element."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and b"<svg" in head


# --------------------------------------------------------------------------------------------
# SVG
# --------------------------------------------------------------------------------------------

_SVG_NS = "http://www.w3.org/2000/svg"
_DTD_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class _SvgRefused(Exception):
    pass


def _cannot_have_text(data: bytes) -> bool:
    """True when an 8-bit-encoded SVG with an <svg> tag holds neither "title" nor "desc" anywhere:
    no element can then carry a text alternative, whatever else the file holds. UTF-16/32 (NUL
    bytes) and anything odd go through the parser, which reports what is wrong."""
    return b"<svg" in data and b"\x00" not in data and b"title" not in data and b"desc" not in data


def svg_text_alternative(data: bytes, *, src: str | None = None) -> str | None:
    """Text of the root <svg>'s <title>, else its <desc>; None when neither has text.

    No DOCTYPE or entity declaration is accepted (XXE, billion laughs): such input raises
    UnsafeSvgError before anything is resolved. The parser is expat driven directly, with
    handlers that abort on any DTD construct, so the check also holds for UTF-16 input that a
    byte search would miss. An 8-bit SVG whose bytes hold neither "title" nor "desc" is answered
    None without parsing: it cannot have a text alternative (nor is its XML then checked).
    """
    if len(data) > MAX_SVG_BYTES:
        raise UnsupportedImageError(f"SVG larger than {MAX_SVG_BYTES} bytes", src=src)
    if _DTD_RE.search(data):
        raise UnsafeSvgError("SVG with a DOCTYPE or ENTITY declaration refused", src=src)
    if _cannot_have_text(data):
        return None  # most SVGs (drawio exports, logos): parsing them all cost ~2 ms each, per run

    parser = expat.ParserCreate(namespace_separator=" ")

    def refuse(*_args: object) -> NoReturn:
        raise _SvgRefused()

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    depth = 0
    root_name: list[str] = []
    capture: str | None = None  # "title" / "desc" while inside one of the root's children
    capture_depth = 0
    texts: dict[str, list[str]] = {}

    def local(name: str) -> tuple[str, str]:
        ns, _, tag = name.rpartition(" ")
        return ns, tag

    def start(name: str, _attrs: dict[str, str]) -> None:
        nonlocal depth, capture, capture_depth
        depth += 1
        ns, tag = local(name)
        if depth == 1:
            root_name.append(tag)
            if tag != "svg" or ns not in ("", _SVG_NS):
                raise _SvgRefused("root")
        elif depth == 2 and capture is None and tag in ("title", "desc") and ns in ("", _SVG_NS) and tag not in texts:
            # only the first <title> / <desc> counts
            capture, capture_depth = tag, depth
            texts[tag] = []

    def end(_name: str) -> None:
        nonlocal depth, capture
        if capture is not None and depth == capture_depth:
            capture = None
        depth -= 1

    def chars(text: str) -> None:
        if capture is not None:
            texts[capture].append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except _SvgRefused as exc:
        if exc.args == ("root",):
            root = root_name[0] if root_name else "?"
            raise InvalidSvgError(f"root element is <{root}>, not <svg>", src=src) from None
        raise UnsafeSvgError("SVG with a DOCTYPE or entity declaration refused", src=src) from None
    except expat.ExpatError as exc:
        why = f"{expat.ErrorString(exc.code)}, line {exc.lineno}"
        raise InvalidSvgError(f"not well-formed XML ({why})", src=src) from None
    if not root_name:
        raise InvalidSvgError("no root element", src=src)
    for tag in ("title", "desc"):
        text = " ".join("".join(texts.get(tag, [])).split())
        if text:
            return text
    return None
