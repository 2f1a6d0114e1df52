"""Errors raised by the model engine. Every message is one line, so reports can print `str(err)`.

`ModelFileError` is about a model file (fix the file or the preset); `ImageDecodeError` and
`GenerationError` are about one image and never leave the engine unusable.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache


def one_line(text: str) -> str:
    """Collapse newlines and control characters: llama.cpp messages often end in '\\n'."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


# --------------------------------------------------------------------------- normalising/escaping


def normalize_alt(text: str) -> str:
    """Alt text is one line: control characters dropped, any run of whitespace one space, stripped."""
    kept = "".join(
        " " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    return " ".join(kept.split())


@lru_cache(maxsize=4096)
def encodable(ch: str, encoding: str) -> bool:
    try:
        ch.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True
