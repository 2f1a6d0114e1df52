"""Reading source files into text that can be written back byte for byte.

Newlines are never translated: offsets and edits work on the text exactly as stored. A file is
only ever rewritten when its decoded text re-encodes to the very bytes that were read.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from alttext_tools.errors import AltTextError

MAX_BYTES = 20 * 1024 * 1024  # larger "docs" are almost surely generated or binary; refuse clearly

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with FF FE too
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# <meta charset="x"> or <meta http-equiv=... content="text/html; charset=x"> in the first KB.
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


class SourceError(AltTextError):
    """A file that cannot be read as text; the message is one line for the user."""


@dataclass(frozen=True)
class SourceText:
    text: str  # decoded, BOM removed, newlines as stored
    encoding: str  # a Python codec name
    bom: bytes  # b"" when there was none
    # Guessed from the bytes (no BOM, not UTF-8, no declared charset): every ASCII-compatible encoding
    # the detector found plausible, `encoding` first. Empty when the encoding is certain.
    candidates: tuple[str, ...] = ()

    @property
    def detected(self) -> bool:
        return bool(self.candidates)

    def encode(self, text: str) -> bytes:
        """Encode edited text the way the original was stored (same codec, same BOM)."""
        return self.bom + text.encode(self.encoding)


def decode(data: bytes, *, is_html: bool) -> SourceText:
    """Decode a source file: BOM, then UTF-8, then a declared HTML charset, then detection."""
    if b"\x00" in data[:8192] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceError("binary file (contains NUL bytes), not HTML or Markdown")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _checked(data[len(bom) :], encoding, bom)
    try:
        return SourceText(data.decode("utf-8"), "utf-8", b"")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if is_html:
        declared = _declared_charset(data)
        if declared:
            return _checked(data, declared, b"")
    return _detected(data, utf8_error)


def read_source(path: Path) -> SourceText:
    """Read and decode a file; every failure becomes one SourceError line."""
    return decode_file(path, read_bytes(path))


def decode_file(path: Path, data: bytes) -> SourceText:
    """Decode the bytes read from `path` (an HTML file may declare its charset)."""
    return decode(data, is_html=path.suffix.lower() in (".html", ".htm"))


def read_bytes(path: Path | str) -> bytes:
    """A source file's bytes; a file that is not regular, too large or unreadable is one SourceError line."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise SourceError("not a regular file")  # a FIFO or device would block or never end
        size = info.st_size
        if size > MAX_BYTES:
            raise SourceError(f"file too large ({size // (1024 * 1024)} MiB > {MAX_BYTES // (1024 * 1024)} MiB)")
        with open(path, "rb", buffering=0) as file:  # one read of the whole file: no buffer needed
            return file.readall()
    except SourceError:
        raise
    except FileNotFoundError:
        raise SourceError("file not found") from None
    except IsADirectoryError:
        raise SourceError("is a directory") from None
    except PermissionError:
        raise SourceError("permission denied") from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None


def _declared_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:1024])
    if not match:
        return None
    try:
        return codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None


def _checked(payload: bytes, encoding: str, bom: bytes) -> SourceText:
    try:
        text = payload.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise SourceError(f"not valid {encoding}: {exc}") from None
    return SourceText(text, encoding, bom)


def _detected(data: bytes, utf8_error: UnicodeDecodeError) -> SourceText:
    """Last resort for legacy files (Latin-1, cp1252, Shift-JIS...): detect, then demand a round trip.

    A cp1252 page is often detected as cp1250: `candidates` keeps every encoding the bytes could be
    in, and the rewriter writes a new character as it is only where all of them store it alike
    (otherwise as a character reference)."""
    from charset_normalizer import from_bytes  # imported lazily: rarely needed, not cheap

    results = from_bytes(data)
    best = results.best()
    line = data.count(b"\n", 0, utf8_error.start) + 1
    if best is None or best.encoding is None:
        raise SourceError(
            f"not valid UTF-8 (byte 0x{data[utf8_error.start]:02x} on line {line}) "
            "and the encoding could not be detected"
        )
    encoding = codecs.lookup(best.encoding).name
    text = data.decode(encoding, errors="strict")
    if text.encode(encoding) != data:
        raise SourceError(
            f"not valid UTF-8 (line {line}) and {encoding} does not round-trip; convert the file to UTF-8"
        )
    plausible = [name for match in results for name in (match.encoding, *match.could_be_from_charset)]
    others = [name for name in map(_codec_name, plausible) if _ascii_compatible(name)]
    return SourceText(text, encoding, b"", tuple(dict.fromkeys([encoding, *others])))


def _codec_name(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return ""


_ASCII = bytes(range(0x20, 0x7F))


def _ascii_compatible(encoding: str) -> bool:
    """Whether `encoding` stores printable ASCII as ASCII (not UTF-16, not EBCDIC)."""
    try:
        return _ASCII.decode(encoding) == _ASCII.decode("ascii")
    except (UnicodeDecodeError, LookupError):
        return False
