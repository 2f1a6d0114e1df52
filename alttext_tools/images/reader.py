"""The one reader of image bytes for a run: src -> resolved source -> bytes -> sha256, each
image read and hashed once while it is unchanged."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from alttext_tools.images.errors import ImageChangedError, ImageError
from alttext_tools.images.resolve import ImageSource, content_hash, read_image_bytes, resolve_src

# (device, inode, size, modification time in ns): what says a file is unchanged since it was
# hashed, as git's index does.
FileIdentity = tuple[int, int, int, int]


def file_identity(path: Path) -> FileIdentity | None:
    """The identity of the file at `path`; None when it cannot be stat'ed (reading it says why)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class ImageBytes:
    """An image's sha256 and where its bytes come from. `data` holds the bytes when this read
    loaded them; None when the digest came from an earlier read of the same, unchanged image
    (`ImageReader.data` reads them again)."""

    source: ImageSource
    sha256: str
    data: bytes | None = field(default=None, repr=False)


class ImageReader:
    """Reads the images of one run. Thread-safe.

    Each src is resolved once per page folder (a relative src depends on it, nothing else does);
    each local file is read and hashed once while its identity (`file_identity`) stays the same,
    and again when it changes; each remote URL is fetched once for its digest. A failure is
    remembered the same way: it is raised again without another attempt. Bytes are not kept
    between reads, only digests.
    """

    def __init__(self, project_root: Path, site_root: Path | None = None, allow_remote: bool = False) -> None:
        self.project_root = Path(project_root)
        self.site_root = Path(site_root) if site_root is not None else None
        self.allow_remote = allow_remote
        self._lock = threading.Lock()
        self._sources: dict[tuple[str, str], ImageSource | ImageError] = {}
        self._files: dict[Path, tuple[FileIdentity, str | ImageError]] = {}
        self._others: dict[ImageSource, str | ImageError] = {}  # data: URIs and remote URLs

    def resolve(self, src: str, page: Path) -> ImageSource:
        """`resolve_src` for a src found in `page`, once per (src, page folder). Raises ImageError."""
        relative = not src.lstrip().startswith(("/", "\\")) and ":" not in src
        key = (src, os.path.dirname(page) if relative else "")
        with self._lock:
            known = self._sources.get(key)
        if known is None:
            try:
                known = resolve_src(src, Path(page), self.project_root, self.site_root, self.allow_remote)
            except ImageError as err:
                known = err
            with self._lock:
                self._sources[key] = known
        if isinstance(known, ImageError):
            raise known
        return known

    def read(self, src: str, page: Path) -> ImageBytes:
        """The sha256 of what `src` in `page` points at, with the bytes when they were read now.
        Raises ImageError."""
        source = self.resolve(src, page)
        if source.kind == "file" and source.path is not None:
            return self._read_file(source, source.path)
        with self._lock:
            known = self._others.get(source)
        if known is None:
            try:
                data = read_image_bytes(source)
            except ImageError as err:
                with self._lock:
                    self._others[source] = err
                raise
            digest = content_hash(data)
            with self._lock:
                self._others[source] = digest
            return ImageBytes(source, digest, data)
        if isinstance(known, ImageError):
            raise known
        return ImageBytes(source, known, source.data)

    def _read_file(self, source: ImageSource, path: Path) -> ImageBytes:
        identity = file_identity(path)
        if identity is not None:
            with self._lock:
                known = self._files.get(path)
            if known is not None and known[0] == identity:
                if isinstance(known[1], ImageError):
                    raise known[1]
                return ImageBytes(source, known[1])
        try:
            data = read_image_bytes(source)
        except ImageError as err:
            self._remember(path, identity, err)
            raise
        digest = content_hash(data)
        self._remember(path, identity, digest)
        return ImageBytes(source, digest, data)

    def _remember(self, path: Path, identity: FileIdentity | None, outcome: str | ImageError) -> None:
        if identity is not None:
            with self._lock:
                self._files[path] = (identity, outcome)

    def data(self, image: ImageBytes) -> bytes:
        """The bytes of an image read earlier: `image.data`, else read again and checked against
        its sha256. Raises ImageError (ImageChangedError when the bytes are not the same)."""
        if image.data is not None:
            return image.data
        data = read_image_bytes(image.source)
        if content_hash(data) != image.sha256:
            raise ImageChangedError("the image file changed while alttext was running; run again", src=image.source.src)
        return data
