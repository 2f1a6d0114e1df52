"""The root of every exception the tool raises on purpose, and the errors several layers share.

Every message is one line, so commands and reports can print `str(err)` as it is.
"""

from __future__ import annotations

from pathlib import Path

from alttext_tools.text import one_line


class AltTextError(Exception):
    """Base class of every error alttext-tools raises on purpose; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class ModelFileError(AltTextError):
    """A model file is missing, not GGUF, truncated, or lacks what llama.cpp needs."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        self.reason = one_line(message)
        super().__init__(f"{self.path}: {self.reason}")


class ImageDecodeError(AltTextError):
    """llama.cpp could not decode the image bytes (not an image, truncated, unsupported format)."""


class GenerationError(AltTextError):
    """Inference for one image failed: prompt too long for n_ctx, runaway output, decode failure."""


class CacheError(AltTextError):
    """The cache file is damaged, has merge conflicts, or cannot be locked/written."""
