"""Optional parts of the install: which extra adds which modules, and one error when one is missing."""

from __future__ import annotations

import importlib.util

from alttext_tools.errors import AltTextError

EXTRAS: dict[str, tuple[str, ...]] = {
    "local": ("llama_cpp", "gguf", "huggingface_hub"),
    "mkdocs": ("mkdocs",),
    "sphinx": ("sphinx", "myst_parser"),
    "wagtail": ("wagtail", "django"),
    "serve": ("fastapi", "uvicorn", "python_multipart"),
}


class MissingExtraError(AltTextError):
    """A command needs modules that only an extra installs; the message names the `pip install`."""


def missing_modules(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here (found without importing them)."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, what: str) -> None:
    """Raise MissingExtraError, one line, when `what` cannot run without `extra`."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(
            f"{what} needs {', '.join(missing)}, which this install lacks: pip install 'alttext-tools[{extra}]'"
        )
