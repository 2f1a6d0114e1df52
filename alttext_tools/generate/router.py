"""Decide, before any model runs, whether an image is text-heavy or photo-like (`classify`), and
which model slot it goes to (`choose_slot`). The heuristic is explained in docs/generation.md."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from alttext_tools.config import ROUTER_MODES, RouterMode
from alttext_tools.models.spec import SLOTS

Kind = Literal["text", "photo"]

# Long side of the working copy. Large enough that 11-12 px UI text in a 1200 px screenshot
# still has 1-3 px strokes; small enough to stay within a few milliseconds.
WORK_SIDE = 512
# Below this many pixels nothing is legible to a model anyway: route as a photo.
MIN_AREA = 32 * 32
RIDGE_CONTRAST = 40  # grey levels a stroke must differ from both sides by

# Decision thresholds (see docs/generation.md). Each is (threshold, softness) for the score.
CLEAN_RIDGE = (0.006, 0.0015)  # fraction of ridge pixels, max over full and half scale
CLEAN_FLAT = (0.55, 0.04)  # fraction of pixels with gradient <= 3
CLEAN_TOP4 = (0.55, 0.04)  # fraction of pixels in the 4 most common colours (4 bits/channel)
CLEAN_POINTS = (0.5, 0.05)  # share of ridge pixels that are ridges both ways (dots), at most
DENSE_RIDGE = (0.06, 0.01)
DENSE_ROWS = (0.9, 0.03)  # share of rows with >2 % ridge pixels, at most: text lines have gaps


@dataclass(frozen=True)
class RouteDecision:
    """kind: the call; score: 0..1 text-likeness (>= 0.5 means "text"); features: the inputs."""

    kind: Kind
    score: float
    features: dict[str, float] = field(default_factory=dict)


Grey = NDArray[np.int16]
Mask = NDArray[np.bool_]


def _ridges(g: Grey, contrast: int) -> tuple[Mask, Mask]:
    """Masks of thin-stroke pixels: horizontal (vertical strokes) and vertical (horizontal strokes).

    A pixel is a ridge at distance d when it is darker than both the pixel d to the left and d
    to the right by more than `contrast` (or brighter than both). d = 1 and 2 cover strokes up
    to 3 px wide at the working scale.
    """

    def thin(c: Grey, a: Grey, b: Grey) -> Mask:
        # darker than both sides, or brighter than both sides
        left, right = a - c, b - c
        return ((left > contrast) & (right > contrast)) | ((left < -contrast) & (right < -contrast))

    h = np.zeros(g.shape, dtype=bool)
    v = np.zeros(g.shape, dtype=bool)
    for d in (1, 2):
        if g.shape[1] > 2 * d:
            h[:, d:-d] |= thin(g[:, d:-d], g[:, : -2 * d], g[:, 2 * d :])
        if g.shape[0] > 2 * d:
            v[d:-d, :] |= thin(g[d:-d, :], g[: -2 * d, :], g[2 * d :, :])
    return h, v


def _working_copy(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        # Same as load_image: transparent pixels count as a white page, not as black.
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    factor = math.ceil(max(img.size) / WORK_SIDE)
    # reduce() is an integer box filter: fast, and averages noise rather than aliasing it.
    return img.reduce(factor) if factor > 1 else img


def extract_features(img: Image.Image) -> dict[str, float]:
    """The router's measurements, all in 0..1 (see docs/generation.md)."""
    small = _working_copy(img)
    g = np.asarray(small.convert("L"), dtype=np.int16)
    height, width = g.shape
    if width * height < MIN_AREA or min(width, height) < 8:
        return {
            "tiny": 1.0,
            "ridge": 0.0,
            "ridge_half": 0.0,
            "points": 0.0,
            "ridge_rows": 0.0,
            "flat": 0.0,
            "top4": 0.0,
        }

    grad = np.maximum(np.abs(np.diff(g, axis=1))[:-1, :], np.abs(np.diff(g, axis=0))[:, :-1])
    flat = float((grad <= 3).mean())

    rh, rv = _ridges(g, RIDGE_CONTRAST)
    ridge_mask = rh | rv
    ridge = float(ridge_mask.mean())
    points = float((rh & rv).mean() / ridge) if ridge > 0 else 0.0
    ridge_rows = float((ridge_mask.mean(axis=1) > 0.02).mean())

    # Half scale catches strokes too wide for d <= 2 (large headings, HiDPI screenshots).
    h2, w2 = height // 2, width // 2
    if h2 >= 8 and w2 >= 8:
        half = g[: h2 * 2, : w2 * 2].reshape(h2, 2, w2, 2).mean(axis=(1, 3)).astype(np.int16)
        hh, hv = _ridges(half, RIDGE_CONTRAST)
        ridge_half = float((hh | hv).mean())
    else:
        ridge_half = 0.0

    rgb = np.asarray(small, dtype=np.uint8) >> 4
    keys = (rgb[..., 0].astype(np.int32) << 8) | (rgb[..., 1].astype(np.int32) << 4) | rgb[..., 2]
    counts = np.bincount(keys.ravel(), minlength=4096)
    top4 = float(np.sort(counts)[-4:].sum() / keys.size)

    return {
        "tiny": 0.0,
        "ridge": ridge,
        "ridge_half": ridge_half,
        "points": points,
        "ridge_rows": ridge_rows,
        "flat": flat,
        "top4": top4,
    }


def _at_least(value: float, rule: tuple[float, float]) -> float:
    threshold, softness = rule
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, (value - threshold) / softness))))


def _at_most(value: float, rule: tuple[float, float]) -> float:
    threshold, softness = rule
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, (threshold - value) / softness))))


def _score(f: dict[str, float]) -> float:
    """Fuzzy AND (min) / OR (max) of soft thresholds: >= 0.5 exactly when the crisp rule holds."""
    if f["tiny"]:
        return 0.0
    clean = min(
        _at_least(max(f["ridge"], f["ridge_half"]), CLEAN_RIDGE),
        _at_least(f["flat"], CLEAN_FLAT),
        _at_least(f["top4"], CLEAN_TOP4),
        _at_most(f["points"], CLEAN_POINTS),
    )
    dense = min(_at_least(f["ridge"], DENSE_RIDGE), _at_most(f["ridge_rows"], DENSE_ROWS))
    return max(clean, dense)


def classify(img: Image.Image) -> RouteDecision:
    """Text-heavy or photo-like, from cheap pixel statistics; no model involved."""
    features = extract_features(img)
    score = _score(features)
    return RouteDecision(kind="text" if score >= 0.5 else "photo", score=round(score, 4), features=features)


def choose_slot(decision: RouteDecision, available: set[str], mode: RouterMode = "auto") -> str:
    """Pick the model slot ("fast" or "text") for one image.

    With a single slot available, that slot is used whatever the mode (a forced mode cannot
    conjure a model that is not loaded; callers may warn). Otherwise mode "fast"/"text" forces
    the slot and "auto" follows the router: text-heavy -> "text", photo-like -> "fast".
    """
    if mode not in ROUTER_MODES:
        raise ValueError(f"unknown routing mode {mode!r}; expected one of {', '.join(ROUTER_MODES)}")
    usable = {slot for slot in available if slot in SLOTS}
    if not usable:
        raise ValueError("no model slot available (expected 'fast' and/or 'text')")
    if len(usable) == 1:
        return next(iter(usable))
    if mode != "auto":
        return mode
    return "text" if decision.kind == "text" else "fast"
