"""Model-ready pixels: the size each model family wants (`ResizePreset`, `fit_size`) and the
PNG it gets (`prepare_for_model`, `png_for_model`)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alttext_tools.images.decode import to_rgb

if TYPE_CHECKING:
    from PIL import Image

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
        f"qwen2.5-vl-{token_budget}",
        max_side=None,
        max_pixels=token_budget * QWEN_PATCH * QWEN_PATCH,
        multiple_of=QWEN_PATCH,
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


def prepare_for_model(img: Image.Image, *, max_side: int | None, max_pixels: int | None, multiple_of: int = 1) -> bytes:
    """Downscale (LANCZOS, never upscale) and encode as PNG bytes."""
    from PIL import Image

    if img.mode != "RGB":
        img = to_rgb(img)
    target = fit_size(img.width, img.height, max_side=max_side, max_pixels=max_pixels, multiple_of=multiple_of)
    if target != img.size:
        # reducing_gap: box-reduce by an integer factor first, then LANCZOS; same look, much faster
        # on multi-megapixel photos.
        img = img.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def prepare_with_preset(img: Image.Image, preset: ResizePreset) -> bytes:
    return prepare_for_model(
        img, max_side=preset.max_side, max_pixels=preset.max_pixels, multiple_of=preset.multiple_of
    )


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks that make Pillow's decoded pixels differ from a plain decode of the first image:
# transparency (flattened on white), EXIF orientation (applied), animation (first frame).
_PNG_CHANGING_CHUNKS = frozenset({b"tRNS", b"eXIf", b"acTL"})


def _plain_rgb_png(data: bytes) -> bool:
    """An 8-bit truecolour PNG without transparency, EXIF or animation: llama.cpp decodes it to
    exactly the RGB pixels load_image produced, so it can be handed over without re-encoding."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return False
    if data[24] != 8 or data[25] != 2:  # bit depth 8, colour type 2 (RGB)
        return False
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            return True
        if kind in _PNG_CHANGING_CHUNKS:
            return False
        pos += 12 + length
    return False


def png_for_model(data: bytes, img: Image.Image, preset: ResizePreset) -> bytes:
    """The PNG a model gets for `img` (decoded from `data`): the original bytes when they already
    are what prepare_with_preset would produce (a plain RGB PNG within the preset's size: saves an
    encode, ~4 ms for a 300 px image), else the downscaled re-encode."""
    target = fit_size(
        img.width, img.height, max_side=preset.max_side, max_pixels=preset.max_pixels, multiple_of=preset.multiple_of
    )
    if target == img.size and _plain_rgb_png(data):
        return data
    return prepare_with_preset(img, preset)
