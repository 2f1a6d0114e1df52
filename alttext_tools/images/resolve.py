"""What an image src on a page points at (`resolve_src`: a file inside the project, a data: URI,
or a remote URL when allowed) and its bytes (`read_image_bytes`), with size limits.

Sources are untrusted input: a src may try to read outside the project (traversal, absolute
paths, symlinks) or reach internal services; see docs/images.md for the security stance.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, unquote_to_bytes

from alttext_tools.images.errors import (
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidDataUriError,
    RemoteNotAllowedError,
    UnsafePathError,
    UnsupportedSchemeError,
)

# Largest file / body we read at all; a docs image above this is almost certainly a mistake.
DEFAULT_MAX_BYTES = 50 * 1024 * 1024

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# WHATWG URL parsing drops ASCII tab/newline anywhere in a URL; browsers would load "im\ng.png".
_URL_IGNORED_CHARS = str.maketrans("", "", "\t\n\r")


# --------------------------------------------------------------------------------------------
# Resolving a src
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSource:
    """What a src refers to.

    kind "file": `path` is the resolved absolute path, guaranteed inside the project root.
    kind "data": `data` holds the decoded bytes of a data: URI, `media_type` its declared type
                 (informational only; load_image sniffs the content).
    kind "remote": `url` is the absolute http(s) URL without fragment; fetch only via fetch.fetch_remote.
    """

    kind: Literal["file", "data", "remote"]
    src: str
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)
    media_type: str | None = None
    url: str | None = None


def resolve_src(
    src: str,
    page_path: Path,
    project_root: Path,
    site_root: Path | None = None,
    allow_remote: bool = False,
) -> ImageSource:
    """Resolve an <img src> / Markdown image target found in `page_path`.

    Relative paths resolve against the page's folder, root-relative ones (`/img/x.png`) against
    `site_root` (e.g. MkDocs `docs_dir`; defaults to `project_root`). Anything that resolves
    outside `project_root` -- after following symlinks -- is refused.
    """
    ref = src.strip().translate(_URL_IGNORED_CHARS)
    if not ref:
        raise ImageNotFoundError("empty image reference", src=src)

    m = _SCHEME_RE.match(ref)
    if m:
        scheme = m.group(1).lower()
        if scheme == "data":
            data, media_type = _decode_data_uri(ref, src)
            return ImageSource(kind="data", src=src, data=data, media_type=media_type)
        if scheme in ("http", "https"):
            return _remote_source(ref, src, allow_remote)
        # file:, ftp:, javascript:, blob:, a Windows drive letter ("C:"), ...
        raise UnsupportedSchemeError(f"unsupported URL scheme {scheme!r}", src=src)

    # Browsers treat "\" as "/" in http(s) URLs; doing the same also stops Windows-style traversal.
    ref = ref.replace("\\", "/")
    if ref.startswith("//"):
        return _remote_source("https:" + ref, src, allow_remote)

    # Fragment first, then query: that is the order they appear in a URL. Decode afterwards so
    # an encoded "%3F" stays part of the file name.
    path_part = ref.split("#", 1)[0].split("?", 1)[0]
    if not path_part:
        raise ImageNotFoundError("reference points at the page itself, not an image", src=src)
    try:
        decoded = unquote(path_part, errors="strict")
    except UnicodeDecodeError:
        raise ImageNotFoundError("percent-encoding in path is not UTF-8", src=src) from None
    if "\x00" in decoded:
        raise UnsafePathError("NUL byte in path", src=src)

    root = Path(project_root).resolve()
    if decoded.startswith("/"):
        base = Path(site_root) if site_root is not None else Path(project_root)
        candidate = base / decoded.lstrip("/")
    else:
        candidate = Path(page_path).parent / decoded
    try:
        # resolve() follows every symlink, so a link inside the root pointing out is caught below.
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise UnsafePathError(f"cannot resolve path ({type(exc).__name__})", src=src) from None
    if not resolved.is_relative_to(root):
        raise UnsafePathError("path resolves outside the project root", src=src)
    if not resolved.exists():
        raise ImageNotFoundError(f"no such file: {_display(resolved, root)}", src=src)
    if not resolved.is_file():
        raise ImageNotFoundError(f"not a regular file: {_display(resolved, root)}", src=src)
    return ImageSource(kind="file", src=src, path=resolved)


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _remote_source(url: str, src: str, allow_remote: bool) -> ImageSource:
    if not allow_remote:
        raise RemoteNotAllowedError("remote image not fetched (remote fetching is off)", src=src)
    return ImageSource(kind="remote", src=src, url=url.split("#", 1)[0])


def _decode_data_uri(ref: str, src: str) -> tuple[bytes, str]:
    """Decode `data:[<media type>][;base64],<data>` (RFC 2397), base64 or percent-encoded."""
    body = ref[len("data:") :].split("#", 1)[0]
    if "," not in body:
        raise InvalidDataUriError("data: URI has no comma", src=src)
    meta, payload = body.split(",", 1)
    params = [p.strip() for p in meta.split(";")]
    is_base64 = len(params) > 1 and params[-1].lower() == "base64"
    if is_base64:
        params = params[:-1]
    media_type = params[0].lower() if params and params[0] else "text/plain"
    raw = unquote_to_bytes(payload)
    if not is_base64:
        return raw, media_type
    compact = re.sub(rb"\s+", b"", raw)
    compact += b"=" * (-len(compact) % 4)  # browsers accept unpadded base64
    try:
        return base64.b64decode(compact, validate=True), media_type
    except (binascii.Error, ValueError):
        raise InvalidDataUriError("data: URI has invalid base64", src=src) from None


def read_image_bytes(
    source: ImageSource,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout_s: float = 15.0,
    https_only: bool = True,
) -> bytes:
    """The raw bytes behind a resolved source, at most `max_bytes`."""
    if source.kind == "data":
        assert source.data is not None
        if len(source.data) > max_bytes:
            raise ImageTooLargeError(f"data: URI is {len(source.data)} bytes, limit {max_bytes}", src=source.src)
        return source.data
    if source.kind == "remote":
        assert source.url is not None
        try:
            from alttext_tools.images.fetch import fetch_remote

            return fetch_remote(source.url, max_bytes=max_bytes, timeout_s=timeout_s, https_only=https_only)
        except ImageError as exc:
            raise type(exc)(exc.reason, src=source.src) from None
    assert source.path is not None
    return _read_local(source.path, source.src, max_bytes)


def _read_local(path: Path, src: str, max_bytes: int) -> bytes:
    # O_NOFOLLOW: if the final component was swapped for a symlink after resolve_src checked it,
    # refuse instead of following it out of the project.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ImageNotFoundError(f"cannot open file ({exc.strerror})", src=src) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ImageNotFoundError("not a regular file", src=src)
        if st.st_size > max_bytes:
            raise ImageTooLargeError(f"file is {st.st_size} bytes, limit {max_bytes}", src=src)
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:  # EIO, EISDIR on odd file systems
            raise ImageNotFoundError(f"cannot read file ({exc.strerror or exc})", src=src) from None
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"file is over {max_bytes} bytes", src=src)
    return data


def content_hash(data: bytes) -> str:
    """sha256 hex digest of the raw bytes (cache key: same bytes, same alt text)."""
    return hashlib.sha256(data).hexdigest()
