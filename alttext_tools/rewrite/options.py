"""Edits of an image directive's `:alt:` option (reST and MyST): its value replaced, or the option
inserted as a new line in the style of the directive's other options. Pure: no I/O.

reST option values are literal text to docutils (no escapes, no character references), so a
one-line alt text is written as it is; MyST option values are YAML-like scalars, written plain
when MyST reads them back unchanged, else quoted. docs/rewriting.md.
"""

from __future__ import annotations

from alttext_tools.core import AltKind, ImageRef, Span
from alttext_tools.errors import AltTextError
from alttext_tools.text import encodable

OptionEdit = tuple[int, int, str]  # replace text[start:end] with the string


class OptionEditError(AltTextError):
    """An `:alt:` option that cannot be written exactly; the message is one line."""


def escape_rst_option(value: str, encoding: str = "utf-8") -> str:
    """`value` as a reST option value that docutils reads back as `value`.

    docutils takes an option's text literally (backslashes, `*`, `|` and backticks included) and
    strips it, and the value is one line of normalised alt text: nothing needs escaping. reST has
    no character references, so a character the file's encoding cannot hold cannot be written.
    """
    if value != value.strip() or "\n" in value or "\r" in value:
        raise OptionEditError("alt text for a reST option must be one line without surrounding spaces")
    _check_encodable(value, encoding)
    return value


def escape_myst_option(value: str, encoding: str = "utf-8") -> str:
    """`value` as a MyST directive option value that myst-parser reads back as `value`: plain when
    that reads back exactly (and the file's encoding holds it), else double-quoted, else single-quoted."""
    if not value:
        return ""
    double = "".join(_double_quoted(ch, encoding) for ch in value)
    candidates = [value, f'"{double}"', "'" + value.replace("'", "''") + "'"]
    for candidate in candidates:
        if all(encodable(ch, encoding) for ch in candidate) and _myst_reads(candidate) == value:
            return candidate
    raise OptionEditError("this alt text cannot be written as a MyST option value that reads back exactly")


def _double_quoted(ch: str, encoding: str) -> str:
    if ch in '\\"':
        return "\\" + ch
    if encodable(ch, encoding):
        return ch
    code = ord(ch)
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def _myst_reads(written: str) -> str | None:
    """What myst-parser's option tokenizer reads for `:alt: <written>` (None: not one clean value)."""
    from myst_parser.parsers.options import TokenizeError, options_to_tokens

    try:
        tokens, state = options_to_tokens(f"alt: {written}")
    except TokenizeError:
        return None
    if state.has_comments or len(tokens) != 1:
        return None
    _, value = tokens[0]
    return "" if value is None else value.value


def _check_encodable(value: str, encoding: str) -> None:
    missing = sorted({ch for ch in value if not encodable(ch, encoding)})
    if missing:
        shown = "".join(missing[:5])
        raise OptionEditError(f"the file's encoding ({encoding}) cannot hold {shown!r}, and reST has no escape for it")


def plan_option_edit(text: str, image: ImageRef, value: str, encoding: str = "utf-8") -> OptionEdit:
    """The one edit that gives a directive image the alt `value` ("" = decorative, an empty `:alt:`)."""
    if image.alt_kind is AltKind.RST_OPTION:
        return _rst_edit(text, image, value, encoding)
    if image.alt_kind is AltKind.MYST_OPTION:
        return _myst_edit(text, image, value, encoding)
    raise OptionEditError(f"{image.syntax.value} has no `:alt:` option")


def _rst_edit(text: str, image: ImageRef, value: str, encoding: str) -> OptionEdit:
    from alttext_tools.scan.rst import directive_at  # only for reST images: fix on other pages never loads it

    block = directive_at(text, image)
    if block is None:
        raise OptionEditError("no image directive at the scanned position (file changed?)")
    if not block.exact:
        raise OptionEditError("the directive is indented with tabs; edit its :alt: by hand")
    written = escape_rst_option(value, encoding)
    option = block.option("alt")
    if option is None:
        if image.alt_span is not None:
            raise OptionEditError("the :alt: option is no longer where it was scanned (file changed?)")
        line = f"{block.indent}:alt:{' ' + written if written else ''}"
        if block.after_header > block.header_end:  # the header's last line has a line break
            return (block.after_header, block.after_header, line + block.newline)
        return (block.header_end, block.header_end, block.newline + line)
    if image.alt_span is None or image.alt_span != option.value:
        raise OptionEditError(
            "cannot locate the :alt: value exactly (a table cell, or several values); edit it by hand"
        )
    return _replace(option.marker.end, option.value, written)


def _replace(after_marker: int, old: Span, written: str) -> OptionEdit:
    """Replace an option's value; an empty value gets one space after the marker first."""
    if old.start == old.end:
        return (after_marker, after_marker, " " + written if written else "")
    if not written:
        return (after_marker, old.end, "")  # `:alt:` alone: an empty value
    return (old.start, old.end, written)


def _myst_edit(text: str, image: ImageRef, value: str, encoding: str) -> OptionEdit:
    from alttext_tools.scan.myst import fence_at  # only for MyST images (it loads markdown-it)

    block = fence_at(text, image)
    if block is None:
        raise OptionEditError("no directive fence at the scanned position (file changed?)")
    if not block.exact:
        raise OptionEditError("the directive's options are indented with tabs; edit its :alt: by hand")
    written = escape_myst_option(value, encoding)
    option = block.option("alt")
    if option is None:
        if image.alt_span is not None:
            raise OptionEditError("the :alt: option is no longer where it was scanned (file changed?)")
        if block.insert_at < 0:
            raise OptionEditError("no line to add :alt: to (the fence is not closed); edit it by hand")
        line = f"{block.insert_prefix}alt:{' ' + written if written else ''}{block.newline}"
        return (block.insert_at, block.insert_at, line)
    if option.value is None or image.alt_span != option.value or text[option.key.end : option.key.end + 1] != ":":
        raise OptionEditError("cannot locate the :alt: value exactly (a multi-line value?); edit it by hand")
    return _replace(option.key.end + 1, option.value, written)
