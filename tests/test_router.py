"""alttext_tools.generate.router: text-vs-photo classification and slot choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from alttext_tools.generate.router import RouteDecision, choose_slot, classify, extract_features
from alttext_tools.images.decode import load_image

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "router"
LABELS = ("text", "photo")


def _labelled() -> list[tuple[str, Path]]:
    return [(label, path) for label in LABELS for path in sorted((FIXTURES / label).glob("*.png"))]


def test_fixture_set_is_present_and_balanced() -> None:
    counts = {label: len(list((FIXTURES / label).glob("*.png"))) for label in LABELS}
    assert counts["text"] >= 40 and counts["photo"] >= 40, counts
    total = sum(p.stat().st_size for _label, p in _labelled())
    assert total < 4_500_000  # the set is committed: keep it small


def test_router_accuracy_on_labelled_fixtures() -> None:
    """Regression guard for the hand-tuned rule (not a speed test)."""
    items = _labelled()
    wrong: list[str] = []
    per_class = {label: [0, 0] for label in LABELS}
    for label, path in items:
        decision = classify(load_image(path.read_bytes(), src=str(path)))
        per_class[label][1] += 1
        if decision.kind == label:
            per_class[label][0] += 1
        else:
            wrong.append(f"{label}/{path.name} -> {decision.kind} ({decision.score:.2f})")
    accuracy = 1 - len(wrong) / len(items)
    assert accuracy >= 0.9, wrong
    for label, (ok, n) in per_class.items():
        assert ok / n >= 0.85, (label, wrong)


def test_decision_shape() -> None:
    path = next((FIXTURES / "text").glob("*.png"))
    decision = classify(load_image(path.read_bytes()))
    assert isinstance(decision, RouteDecision)
    assert decision.kind in LABELS
    assert 0.0 <= decision.score <= 1.0
    assert (decision.score >= 0.5) == (decision.kind == "text")
    assert set(decision.features) >= {"ridge", "flat", "top4", "points", "ridge_rows"}
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in decision.features.values())


def _paragraph(size: tuple[int, int], fg: tuple[int, int, int], bg: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=14)  # Pillow's bundled font: no system fonts needed
    for i, y in enumerate(range(8, size[1] - 16, 20)):
        draw.text((8, y), f"Line {i}: the quick brown fox jumps over the lazy dog 0123456789", fill=fg, font=font)
    return img


def _gradient(size: tuple[int, int]) -> Image.Image:
    x = np.linspace(0, 1, size[0])[None, :, None]
    y = np.linspace(0, 1, size[1])[:, None, None]
    arr = (x * np.array([255, 80, 0]) + y * np.array([0, 120, 255])) / 1.5
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def _noise(size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


SYNTHETIC = [
    ("dark-on-light-text", lambda: _paragraph((600, 300), (20, 20, 20), (250, 250, 250)), "text"),
    ("light-on-dark-text", lambda: _paragraph((600, 300), (230, 230, 230), (30, 30, 35)), "text"),
    ("text-as-grey-L", lambda: _paragraph((500, 200), (0, 0, 0), (255, 255, 255)).convert("L"), "text"),
    ("text-as-RGBA", lambda: _paragraph((500, 200), (0, 0, 0), (255, 255, 255)).convert("RGBA"), "text"),
    ("blank-white", lambda: Image.new("RGB", (400, 300), (255, 255, 255)), "photo"),
    ("gradient", lambda: _gradient((800, 500)), "photo"),
    ("noise", lambda: _noise((200, 200)), "photo"),
    ("tiny", lambda: _paragraph((30, 20), (0, 0, 0), (255, 255, 255)), "photo"),
    ("fully-transparent", lambda: Image.new("RGBA", (300, 200), (0, 0, 0, 0)), "photo"),
    ("palette", lambda: _gradient((300, 200)).convert("P"), "photo"),
]


@pytest.mark.parametrize(("factory", "expected"), [c[1:] for c in SYNTHETIC], ids=[c[0] for c in SYNTHETIC])
def test_synthetic_cases(factory, expected: str) -> None:
    assert classify(factory()).kind == expected


def test_features_are_deterministic() -> None:
    img = _paragraph((400, 200), (0, 0, 0), (255, 255, 255))
    assert extract_features(img) == extract_features(img.copy())


TEXT = RouteDecision(kind="text", score=0.9)
PHOTO = RouteDecision(kind="photo", score=0.1)
BOTH = {"fast", "text"}

SLOT_CASES = [
    # (decision, available, mode, expected)
    (TEXT, BOTH, "auto", "text"),
    (PHOTO, BOTH, "auto", "fast"),
    (TEXT, BOTH, "fast", "fast"),
    (PHOTO, BOTH, "fast", "fast"),
    (TEXT, BOTH, "text", "text"),
    (PHOTO, BOTH, "text", "text"),
    (TEXT, {"fast"}, "auto", "fast"),
    (PHOTO, {"text"}, "auto", "text"),
    (TEXT, {"fast"}, "text", "fast"),  # only one slot loaded: use it
    (PHOTO, {"text"}, "fast", "text"),
    (TEXT, {"text", "unrelated"}, "auto", "text"),
]


@pytest.mark.parametrize(("decision", "available", "mode", "expected"), SLOT_CASES)
def test_choose_slot(decision: RouteDecision, available: set[str], mode: str, expected: str) -> None:
    assert choose_slot(decision, available, mode) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("available", "mode"), [(set(), "auto"), ({"other"}, "auto"), (BOTH, "fastest")])
def test_choose_slot_errors(available: set[str], mode: str) -> None:
    with pytest.raises(ValueError):
        choose_slot(TEXT, available, mode)  # type: ignore[arg-type]
