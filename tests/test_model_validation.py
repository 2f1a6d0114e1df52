"""Malformed GGUF files that llama.cpp would abort on (exit 134, no message), exhaust memory on,
or recurse too deeply on: each is refused first with one line naming the file and the key or
tensor, through the real CLI, exit 2: `alttext serve` loads its models before it listens, and
`alttext fix` checks a preset's downloaded files before the first image.

The files are the tiny models of tests/tiny_models.py with one value or tensor changed.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tiny_models as tm
from conftest import FIXTURES, fake_hub_cache

V, E = tm.V_EMBD, tm.N_EMBD
MEMORY_LIMIT = 3 * 1024**3  # the child's address space: a bug that builds 2**31 names fails, not the box

# (case, which file, handler, build_variant arguments, what the one line must name)
CASES: list[tuple[str, str, str, dict[str, Any], str]] = [
    (
        "image size 0",
        "moondream_mmproj",
        "moondream",
        {"set_keys": {"clip.vision.image_size": 0}},
        "clip.vision.image_size",
    ),
    (
        "image below one patch",
        "moondream_mmproj",
        "moondream",
        {"set_keys": {"clip.vision.image_size": 7}},
        "clip.vision.image_size",
    ),
    (
        "head count 0",
        "moondream_mmproj",
        "moondream",
        {"set_keys": {"clip.vision.attention.head_count": 0}},
        "clip.vision.attention.head_count",
    ),
    (
        "heads do not divide",
        "qwen_mmproj",
        "qwen2.5-vl",
        {"set_keys": {"clip.vision.attention.head_count": 3}},
        "clip.vision.attention.head_count",
    ),
    (
        "negative epsilon",
        "moondream_mmproj",
        "moondream",
        {"set_keys": {"clip.vision.attention.layer_norm_epsilon": -1.0}},
        "clip.vision.attention.layer_norm_epsilon",
    ),
    (
        "mm.0 input",
        "moondream_mmproj",
        "moondream",
        {"set_tensors": {"mm.0.weight": np.zeros((E, V - 1), np.float32)}},
        "mm.0.weight",
    ),
    (
        "mm.0 bias",
        "moondream_mmproj",
        "moondream",
        {"set_tensors": {"mm.0.bias": np.zeros(E - 1, np.float32)}},
        "mm.0.bias",
    ),
    (
        "too few positions",
        "moondream_mmproj",
        "moondream",
        {"set_tensors": {"v.position_embd.weight": np.zeros((15, V), np.float32)}},
        "v.position_embd.weight",
    ),
    (
        "two colour patches",
        "moondream_mmproj",
        "moondream",
        {"set_tensors": {"v.patch_embd.weight": np.zeros((V, 2, 8, 8), np.float32)}},
        "v.patch_embd.weight",
    ),
    (
        "ffn input",
        "moondream_mmproj",
        "moondream",
        {"set_tensors": {"v.blk.0.ffn_up.weight": np.zeros((tm.V_FF, V - 1), np.float32)}},
        "v.blk.0.ffn_up.weight",
    ),
    (
        "merge 3",
        "qwen_mmproj",
        "qwen2.5-vl",
        {"set_keys": {"clip.vision.spatial_merge_size": 3}},
        "clip.vision.spatial_merge_size",
    ),
    (
        "post norm",
        "qwen_mmproj",
        "qwen2.5-vl",
        {"set_tensors": {"v.post_ln.weight": np.zeros(V - 1, np.float32)}},
        "v.post_ln.weight",
    ),
    (
        "rope too wide",
        "moondream_text",
        "moondream",
        {"set_keys": {"phi2.rope.dimension_count": 1000}},
        "phi2.rope.dimension_count",
    ),
    (
        "rope 0",
        "moondream_text",
        "moondream",
        {"set_keys": {"phi2.rope.dimension_count": 0}},
        "phi2.rope.dimension_count",
    ),
    (
        "rope sections",
        "qwen_text",
        "qwen2.5-vl",
        {"set_keys": {"qwen2vl.rope.dimension_sections": [20, 20, 20, 20]}},
        "qwen2vl.rope.dimension_sections",
    ),
    (
        "text block count 2**31",
        "moondream_text",
        "moondream",
        {"set_keys": {"phi2.block_count": 2**31}},
        "phi2.block_count",
    ),
    (
        "vision block count 2**31",
        "qwen_mmproj",
        "qwen2.5-vl",
        {"set_keys": {"clip.vision.block_count": 2**31}},
        "clip.vision.block_count",
    ),
    (
        "arrays 5000 deep",
        "moondream_text",
        "moondream",
        {"set_keys": {"test.nested": tm.nested_array(5000)}},
        "nested deeper than",
    ),
    (
        "mmproj arrays 5000 deep",
        "qwen_mmproj",
        "qwen2.5-vl",
        {"set_keys": {"test.nested": tm.nested_array(5000)}},
        "nested deeper than",
    ),
]


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.parametrize(("case", "key", "handler", "change", "named"), CASES, ids=[c[0] for c in CASES])
def test_malformed_model_is_one_line_and_exit_2(
    tiny_models: dict[str, Path], tmp_path: Path, case: str, key: str, handler: str, change: dict[str, Any], named: str
) -> None:
    broken = tm.build_variant(key, tmp_path / f"{case.replace(' ', '-')}.gguf", **change)
    family = "moondream" if handler == "moondream" else "qwen"
    text, mmproj = tiny_models[f"{family}_text"], tiny_models[f"{family}_mmproj"]
    if key.endswith("_text"):
        text = broken
    else:
        mmproj = broken
    args = ["--model", str(text), "--mmproj", str(mmproj), "--handler", handler, "--threads", "1", "--port", "0"]
    proc = subprocess.run(
        [sys.executable, "-m", "alttext_tools.serve", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limited,
        env={**os.environ, "PYTHONFAULTHANDLER": ""},
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert proc.stdout == ""  # it never listened
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"{broken}: " in errors[0] and named in errors[0], errors[0]


# Through `fix` and a preset in the Hugging Face cache: one of each kind of file and failure.
PRESET_CASES = [
    c
    for c in CASES
    if c[0]
    in {
        "image size 0",
        "heads do not divide",
        "mm.0 input",
        "rope sections",
        "text block count 2**31",
        "mmproj arrays 5000 deep",
    }
]


@pytest.mark.parametrize(("case", "key", "handler", "change", "named"), PRESET_CASES, ids=[c[0] for c in PRESET_CASES])
def test_damaged_preset_stops_fix_before_any_image(
    tiny_models: dict[str, Path], tmp_path: Path, case: str, key: str, handler: str, change: dict[str, Any], named: str
) -> None:
    family = "moondream" if handler == "moondream" else "qwen"
    preset = "moondream2-q4_k_m" if family == "moondream" else "qwen2.5-vl-3b"  # the default presets
    broken = tm.build_variant(key, tmp_path / "broken.gguf", **change)
    text, mmproj = tiny_models[f"{family}_text"], tiny_models[f"{family}_mmproj"]
    fake_hub_cache(
        tmp_path / "hub",
        preset,
        broken if key.endswith("_text") else text,
        broken if key.endswith("_mmproj") else mmproj,
    )
    site = tmp_path / "site"
    shutil.copytree(FIXTURES / "site", site)
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    proc = subprocess.run(
        [sys.executable, "-m", "alttext_tools", "fix", "."],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limited,
        env={**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"preset {preset}: " in errors[0] and named in errors[0], errors[0]
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
