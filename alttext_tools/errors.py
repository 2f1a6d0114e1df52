"""The root of every exception the tool raises on purpose, and the errors several layers share.

Every message is one line, so commands and reports can print `str(err)` as it is.
`ModelUnusableError` is about a model (fix the file, the preset or the server); `GenerationError`
is about one image and never leaves the engine unusable.
"""

from __future__ import annotations

from pathlib import Path

from alttext_tools.text import one_line


class AltTextError(Exception):
    """Base class of every error alttext-tools raises on purpose; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class ModelUnusableError(AltTextError):
    """A model cannot describe any image: generation stops sending images to it for the run."""


class ModelFileError(ModelUnusableError):
    """A model file is missing, not GGUF, truncated, or lacks what llama.cpp needs."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        self.reason = one_line(message)
        super().__init__(f"{self.path}: {self.reason}")


class GenerationError(AltTextError):
    """Inference for one image failed: prompt too long for n_ctx, runaway output, decode failure."""


class CacheError(AltTextError):
    """The cache file is damaged, has merge conflicts, or cannot be locked/written."""
