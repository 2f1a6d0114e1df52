"""Image bytes to RGB pixels with Pillow (`load_image`): an allow-list of formats, a pixel limit
checked before decoding, EXIF orientation applied, transparency flattened on white."""

from __future__ import annotations

import functools
import io
import warnings
from typing import TYPE_CHECKING

from alttext_tools.images.errors import ImageDecodeError, ImageError, ImageTooLargeError, UnsupportedImageError
from alttext_tools.images.svg import looks_like_svg

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_MAX_PIXELS = 40_000_000


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
        import pillow_heif  # type: ignore[import-not-found, unused-ignore]  # typed when installed

        pillow_heif.register_heif_opener()
    except Exception:  # not installed or broken: HEIC stays unsupported
        pass
    try:  # pillow-avif-plugin registers itself on import; Pillow >= 11.2 has AVIF built in
        import pillow_avif  # type: ignore[import-not-found]  # noqa: F401
    except Exception:
        pass
    Image.init()
    return _BASE_FORMATS + tuple(f for f in _OPTIONAL_FORMATS if f in Image.OPEN)


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
        raise UnsupportedImageError("SVG is not rasterised; it needs a <title>/<desc> or a human-written alt", src=src)
    formats = _allowed_formats()
    with warnings.catch_warnings():
        # Pillow's other warnings (corrupt EXIF, palette notes) are noise for a report; but it
        # warns (rather than raises) between 1x and 2x its own pixel limit: make that fatal.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img: Image.Image = Image.open(io.BytesIO(data), formats=list(formats))
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
        return to_rgb(img)
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


def to_rgb(img: Image.Image) -> Image.Image:
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
