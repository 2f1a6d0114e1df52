"""Errors raised while resolving, reading, fetching and decoding images.

Every error is one line and names the image reference it is about, so a report can print
`str(err)` next to the page and line without further formatting.
"""

from __future__ import annotations

from alttext_tools.errors import AltTextError
from alttext_tools.text import one_line

# Long data: URIs or hostile inputs must not flood a report line.
_MAX_SRC_IN_MESSAGE = 120


def shorten_src(src: str) -> str:
    """The src as shown in messages: one line, at most _MAX_SRC_IN_MESSAGE characters."""
    flat = one_line(src)
    if len(flat) > _MAX_SRC_IN_MESSAGE:
        flat = flat[: _MAX_SRC_IN_MESSAGE - 3] + "..."
    return flat


class ImageError(AltTextError):
    """Base class: anything that stops an image reference from becoming model-ready pixels."""

    def __init__(self, message: str, *, src: str | None = None) -> None:
        self.src = src
        self.reason = one_line(message)
        text = f"{shorten_src(src)!r}: {self.reason}" if src is not None else self.reason
        super().__init__(text)


class UnsafePathError(ImageError):
    """A local reference resolves outside the project root (traversal, absolute path, symlink)."""


class ImageNotFoundError(ImageError):
    """A local reference points at nothing, or at something that is not a regular file."""


class UnsupportedSchemeError(ImageError):
    """A URL scheme we never load (file:, ftp:, javascript:, blob:, ...)."""


class RemoteNotAllowedError(ImageError):
    """An http(s) or protocol-relative reference while remote fetching is off."""


class InvalidDataUriError(ImageError):
    """A malformed data: URI (no comma, bad base64)."""


class RemoteFetchError(ImageError):
    """Fetching a remote image failed: network error, HTTP status, too many redirects."""


class DisallowedHostError(RemoteFetchError):
    """The host resolves to a private, loopback, link-local, multicast or reserved address."""


class RemoteTooLargeError(RemoteFetchError):
    """The remote body is larger than the allowed number of bytes."""


class RemoteTimeoutError(RemoteFetchError):
    """The remote fetch took longer than the allowed time."""


class ImageChangedError(ImageError):
    """The bytes behind a src changed between two reads in one run (the file was edited meanwhile)."""


class ImageDecodeError(ImageError):
    """The bytes are not a decodable image (empty, truncated, corrupt or garbage), whether Pillow
    or a model's own decoder found out."""


class ImageTooLargeError(ImageError):
    """The image declares more pixels than allowed (decompression bomb guard)."""


class UnsupportedImageError(ImageError):
    """A real image format we do not rasterise here (SVG, or AVIF/HEIC without a plug-in)."""


class UnsafeSvgError(ImageError):
    """An SVG carrying a DOCTYPE or entity declarations, refused before parsing."""


class InvalidSvgError(ImageError):
    """An SVG that is not well-formed XML or whose root is not <svg>."""
