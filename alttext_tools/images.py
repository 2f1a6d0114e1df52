"""Turn an image reference from a page into model-ready pixels, safely.

Pipeline: `resolve_src` (what does this src point at, and is it allowed?) -> `read_source` /
`fetch.fetch_remote` (bytes, with size and time limits) -> `load_image` (decode to RGB with a pixel
limit) -> `prepare_for_model` (downscale for the model, PNG) -> `to_data_uri`.

Security stance: documentation sources are untrusted input. A src may try to read files outside
the project (traversal, absolute paths, symlinks), reach internal services (SSRF), or feed a
decompression bomb / XXE payload to a parser. Each step refuses such input with an `ImageError`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import io
import math
import os
import re
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, unquote_to_bytes
from xml.parsers import expat


if TYPE_CHECKING:
    from PIL import Image

# Pillow is imported where pixels are touched: a fully cached run decodes nothing (~25 ms saved).

from alttext_tools.image_errors import (
    ImageDecodeError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidDataUriError,
    InvalidSvgError,
    RemoteNotAllowedError,
    UnsafePathError,
    UnsupportedImageError,
    UnsafeSvgError,
    UnsupportedSchemeError,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "GENERIC",
    "MOONDREAM",
    "MOONDREAM_SIDE",
    "QWEN_PATCH",
    "QWEN_DEFAULT_TOKEN_BUDGET",
    "ImageSource",
    "ResizePreset",
    "content_hash",
    "fit_size",
    "load_image",
    "looks_like_svg",
    "prepare_for_model",
    "prepare_with_preset",
    "preset_for_handler",
    "qwen25vl_preset",
    "read_source",
    "resolve_src",
    "svg_text_alternative",
    "to_data_uri",
]

DEFAULT_MAX_PIXELS = 40_000_000
# Largest file / body we read at all; a docs image above this is almost certainly a mistake.
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
MAX_SVG_BYTES = 5 * 1024 * 1024

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


def read_source(
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
            from alttext_tools.fetch import fetch_remote  # http.client and ssl: ~25 ms, only when fetching

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
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"file is over {max_bytes} bytes", src=src)
    return data


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

_BASE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "DIB", "TIFF")
_OPTIONAL_FORMATS = ("AVIF", "HEIF")
# ISO-BMFF brands, to say "needs a plug-in" rather than "garbage" for AVIF/HEIC files.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


@functools.cache
def _allowed_formats() -> tuple[str, ...]:
    """Formats load_image will decode. Registers AVIF/HEIC plug-ins when installed.

    An explicit allow-list keeps Pillow's long tail (EPS runs Ghostscript, plus many rarely
    fuzzed decoders) away from untrusted input.
    """
    from PIL import Image

    try:  # pillow-heif: HEIC/HEIF (and AVIF on builds that have it)
        import pillow_heif  # type: ignore[import-not-found]

        pillow_heif.register_heif_opener()
    except Exception:  # not installed or broken: HEIC stays unsupported
        pass
    try:  # pillow-avif-plugin registers itself on import; Pillow >= 11.2 has AVIF built in
        import pillow_avif  # type: ignore[import-not-found]  # noqa: F401
    except Exception:
        pass
    Image.init()
    return _BASE_FORMATS + tuple(f for f in _OPTIONAL_FORMATS if f in Image.OPEN)


def looks_like_svg(data: bytes) -> bool:
    """Cheap sniff: XML-ish text whose first few KB mention an <svg element."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and b"<svg" in head


def load_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, src: str | None = None) -> Image.Image:
    """Decode image bytes to an RGB PIL image, whatever the extension claimed.

    The pixel limit is checked from the header before any pixel is decoded. EXIF orientation is
    applied; transparency is flattened on white; CMYK, 16-bit, palette and grayscale become RGB.
    Animated images give their first frame.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ImageDecodeError("empty file (0 bytes)", src=src)
    if looks_like_svg(data):
        raise UnsupportedImageError(
            "SVG is not rasterised; it needs a <title>/<desc> or a human-written alt", src=src
        )
    formats = _allowed_formats()
    with warnings.catch_warnings():
        # Pillow's other warnings (corrupt EXIF, palette notes) are noise for a report; but it
        # warns (rather than raises) between 1x and 2x its own pixel limit: make that fatal.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=list(formats))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLargeError(f"decompression bomb refused ({exc})", src=src) from None
        except UnidentifiedImageError:
            raise _unidentified(data, src) from None
        except Exception as exc:  # corrupt headers surface as many exception types
            raise ImageDecodeError(f"corrupt image header ({_exc_text(exc)})", src=src) from None

        width, height = img.size
        if width <= 0 or height <= 0:
            raise ImageDecodeError(f"invalid dimensions {width}x{height}", src=src)
        if width * height > max_pixels:
            raise ImageTooLargeError(
                f"{width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}", src=src
            )
        try:
            img.seek(0)  # first frame of an animation
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLargeError(f"decompression bomb refused ({exc})", src=src) from None
        except Exception as exc:
            raise ImageDecodeError(f"truncated or corrupt {img.format} data ({_exc_text(exc)})", src=src) from None

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data" is not worth a report line
            img = ImageOps.exif_transpose(img)
    except Exception:  # broken EXIF must not cost us the picture; keep it unrotated
        pass
    try:
        return _to_rgb(img)
    except ImageError:
        raise
    except Exception as exc:
        raise UnsupportedImageError(f"cannot convert mode {img.mode} to RGB ({_exc_text(exc)})", src=src) from None


def _exc_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _unidentified(data: bytes, src: str | None) -> ImageError:
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _AVIF_BRANDS:
            return UnsupportedImageError("AVIF needs the pillow-avif-plugin or pillow-heif package", src=src)
        if brand in _HEIF_BRANDS:
            return UnsupportedImageError("HEIC/HEIF needs the pillow-heif package", src=src)
    if data.startswith(b"%PDF"):
        return UnsupportedImageError("PDF is not an image", src=src)
    return ImageDecodeError("not a recognised image (PNG, JPEG, GIF, WebP, BMP, TIFF, AVIF, HEIC)", src=src)


def _flatten_on_white(img: Image.Image) -> Image.Image:
    from PIL import Image

    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_rgb(img: Image.Image) -> Image.Image:
    from PIL import Image

    mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        return _flatten_on_white(img)
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode == "I" or mode == "F":
        import numpy as np  # only for 16-bit and float images; ~0.17 s to import
    if mode.startswith("I;16") or mode == "I":
        # Pillow's own I;16 -> RGB clips at 255 (a mid-grey 16-bit image turns white); scale
        # the 16-bit range down instead.
        arr = np.asarray(img).astype(np.int64)
        eight = (np.clip(arr, 0, 65535) // 257).astype(np.uint8)
        return Image.fromarray(eight, mode="L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        finite = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(finite.min()), float(finite.max())
        scaled = (finite - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(finite)
        return Image.fromarray(scaled.astype(np.uint8), mode="L").convert("RGB")
    # "1", "L", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", ...
    return img.convert("RGB")


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

    def refuse(*_args: object) -> None:
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
        elif depth == 2 and capture is None and tag in ("title", "desc") and ns in ("", _SVG_NS):
            if tag not in texts:  # only the first <title> / <desc> counts
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


# --------------------------------------------------------------------------------------------
# Model input
# --------------------------------------------------------------------------------------------

# Moondream 2's vision encoder (SigLIP) sees 378x378. llama.cpp's llava-style preprocessing pads
# the image to a square and resizes it to 378x378, so only the long side survives: capping the
# long side at 378 loses nothing the model would see, keeps PNG encoding and the data URI small,
# and our LANCZOS downscale is cleaner than the bilinear one llama.cpp would otherwise do.
MOONDREAM_SIDE = 378
# Qwen2.5-VL: 14 px patches, merged 2x2 -> one token per 28x28 block. Its preprocessing wants
# multiples of 28, so when we downscale we land on multiples of 28 ourselves (rounding down, to
# stay within the budget) rather than let the model resample a second time.
QWEN_PATCH = 28
# 1024 tokens = ~800k pixels, e.g. 1092x728: enough to read ~12 px text in a screenshot.
QWEN_DEFAULT_TOKEN_BUDGET = 1024


@dataclass(frozen=True)
class ResizePreset:
    """How to size an image for one model family (see prepare_with_preset)."""

    name: str
    max_side: int | None
    max_pixels: int | None
    multiple_of: int = 1


MOONDREAM = ResizePreset("moondream", max_side=MOONDREAM_SIDE, max_pixels=None)
# Handlers without a known encoder size: bounded but generous, they resize again themselves.
GENERIC = ResizePreset("generic", max_side=1024, max_pixels=1024 * 1024)


def qwen25vl_preset(token_budget: int = QWEN_DEFAULT_TOKEN_BUDGET) -> ResizePreset:
    """Qwen2.5-VL sizing for a budget of image tokens (one per 28x28 block)."""
    if token_budget < 4:
        raise ValueError(f"token_budget must be >= 4, got {token_budget}")
    return ResizePreset(
        f"qwen2.5-vl-{token_budget}", max_side=None,
        max_pixels=token_budget * QWEN_PATCH * QWEN_PATCH, multiple_of=QWEN_PATCH,
    )


def preset_for_handler(handler: str, *, qwen_token_budget: int = QWEN_DEFAULT_TOKEN_BUDGET) -> ResizePreset:
    """Preset for a ModelSpec.handler name ("moondream", "qwen2.5-vl", others -> GENERIC)."""
    if handler == "moondream":
        return MOONDREAM
    if handler == "qwen2.5-vl":
        return qwen25vl_preset(qwen_token_budget)
    return GENERIC


def fit_size(
    width: int, height: int, *, max_side: int | None, max_pixels: int | None, multiple_of: int = 1
) -> tuple[int, int]:
    """Target size: aspect kept, within both limits, never larger than the input.

    An image already within the limits keeps its size. When it must shrink and multiple_of > 1,
    each side is rounded DOWN to a multiple (so the limits still hold) and the model's own
    preprocessing has nothing left to resample; a side shorter than one multiple stays as is.
    Small images are not snapped: flooring 50 px to 28 would throw away detail, and rounding up
    would upscale -- the model's preprocessing pads/rounds those itself.
    """
    scale = 1.0
    if max_side is not None and max(width, height) > max_side:
        scale = min(scale, max_side / max(width, height))
    if max_pixels is not None and width * height > max_pixels:
        scale = min(scale, math.sqrt(max_pixels / (width * height)))
    if scale >= 1.0:
        return width, height
    new_w = max(1, min(width, math.floor(width * scale + 1e-9)))
    new_h = max(1, min(height, math.floor(height * scale + 1e-9)))
    if multiple_of > 1:
        new_w = new_w // multiple_of * multiple_of if new_w >= multiple_of else new_w
        new_h = new_h // multiple_of * multiple_of if new_h >= multiple_of else new_h
    # Float rounding can leave us one step over a limit; step down until both hold.
    step = multiple_of if multiple_of > 1 else 1
    while max_pixels is not None and new_w * new_h > max_pixels and max(new_w, new_h) > step:
        if new_w >= new_h:
            new_w -= step
        else:
            new_h -= step
    return new_w, new_h


def prepare_for_model(
    img: Image.Image, *, max_side: int | None, max_pixels: int | None, multiple_of: int = 1
) -> bytes:
    """Downscale (LANCZOS, never upscale) and encode as PNG bytes."""
    from PIL import Image

    if img.mode != "RGB":
        img = _to_rgb(img)
    target = fit_size(img.width, img.height, max_side=max_side, max_pixels=max_pixels, multiple_of=multiple_of)
    if target != img.size:
        # reducing_gap: box-reduce by an integer factor first, then LANCZOS; same look, much faster
        # on multi-megapixel photos.
        img = img.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def prepare_with_preset(img: Image.Image, preset: ResizePreset) -> bytes:
    return prepare_for_model(img, max_side=preset.max_side, max_pixels=preset.max_pixels,
                             multiple_of=preset.multiple_of)


def to_data_uri(png: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(png).decode('ascii')}"


def content_hash(data: bytes) -> str:
    """sha256 hex digest of the raw bytes (cache key: same bytes, same alt text)."""
    return hashlib.sha256(data).hexdigest()
