"""The tiny GGUF test models: CLI contract, determinism, validity, and the UTF-8 trap fixture."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tiny_models as tm  # the fixture is called tiny_models
from gguf import GGMLQuantizationType, GGUFReader
from llama_cpp import Llama, llama_chat_format
from PIL import Image

from alttext_tools.models.gguf_check import check_model_pair

TESTS_DIR = Path(__file__).parent
KEYS = {"moondream_text", "moondream_mmproj", "qwen_text", "qwen_mmproj"}


def _png_uri() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 90)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def test_cli_prints_json_naming_the_four_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(TESTS_DIR / "tiny_models.py"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    paths = json.loads(result.stdout)
    assert set(paths) == KEYS
    for value in paths.values():
        path = Path(value)
        assert path.is_absolute() and path.is_file()
        assert 100_000 < path.stat().st_size < 600_000


def test_cli_without_outdir_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, str(TESTS_DIR / "tiny_models.py")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_files_are_byte_identical_across_builds(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    again = tm.build_tiny_models(tmp_path)
    for key, path in tiny_models.items():
        assert path.read_bytes() == again[key].read_bytes(), key


@pytest.mark.parametrize(
    ("text", "mmproj", "handler"),
    [
        ("moondream_text", "moondream_mmproj", "moondream"),
        ("moondream_text", "moondream_mmproj", "llava"),
        ("moondream_text", "moondream_mmproj", "mtmd"),
        ("qwen_text", "qwen_mmproj", "qwen2.5-vl"),
        ("qwen_text", "qwen_mmproj", "mtmd"),
    ],
)
def test_pairs_pass_validation(tiny_models: dict[str, Path], text: str, mmproj: str, handler: str) -> None:
    info, proj = check_model_pair(tiny_models[text], tiny_models[mmproj], handler)
    assert info.has_chat_template
    assert proj.n_embd_out == info.n_embd == tm.N_EMBD


def test_vocabulary_layout() -> None:
    tokens, types, allowed = tm.build_vocab()
    assert len(tokens) == len(types) == len(allowed)
    for special in tm.SPECIAL_TOKENS:
        assert special in tokens
    # Only printable ASCII (and end-of-turn) may be generated: never a partial UTF-8 byte.
    byte_of = {char: byte for byte, char in tm.bytes_to_unicode().items()}
    for token, ok in zip(tokens, allowed):
        if ok and token != tm.EOS:
            assert all(0x20 <= byte_of[ch] <= 0x7E for ch in token), token


def test_utf8_trap_model_really_traps_bare_llama_cpp(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """The fixture for the engine's runaway guard: upstream ignores max_tokens and dies at n_ctx."""
    trap = tm.build_utf8_trap_text(tmp_path / "trap.gguf")
    handler = llama_chat_format.MoondreamChatHandler(
        clip_model_path=str(tiny_models["moondream_mmproj"]), verbose=False
    )
    llm = Llama(model_path=str(trap), chat_handler=handler, n_ctx=96, n_threads=1, verbose=False, flash_attn=True)
    try:
        messages = [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": _png_uri()}}, {"type": "text", "text": "Hi"}],
            }
        ]
        with pytest.raises(RuntimeError, match="llama_decode returned"):
            llm.create_chat_completion(messages=messages, temperature=0, max_tokens=4)
    finally:
        llm.close()


def test_lazy_tensor_replays_edits_on_its_random_values() -> None:
    lazy = tm.LazyTensor((6, 4), std=0.5, seed=7)
    lazy[:, 0] = 30.0
    lazy[2, :] = 0.0
    eager = (np.random.default_rng(7).standard_normal((6, 4), dtype=np.float32) * np.float32(0.5)).astype(np.float16)
    eager[:, 0] = 30.0
    eager[2, :] = 0.0
    assert np.array_equal(lazy.materialize(np.float16), eager)


@pytest.mark.parametrize("builder", [tm.phi2_text, tm.qwen_text, tm.mlp_mmproj, tm.qwen_mmproj])
def test_lazy_f16_files_have_the_eager_files_tensors(builder: Any, tmp_path: Path) -> None:
    """The twins' path (lazy tensors, streamed, F16 matrices) writes the same tensors, shapes and
    metadata as the tiny files, with matrices in F16 and vectors in F32."""
    eager = tm.write_gguf(tmp_path / "eager.gguf", builder(tm.Weights(1)))
    lazy = tm.write_gguf(tmp_path / "lazy.gguf", replace(builder(tm.Weights(1, lazy=True)), dtype_of=tm.f16_weights))
    eager_reader, lazy_reader = GGUFReader(eager), GGUFReader(lazy)
    assert list(eager_reader.fields) == list(lazy_reader.fields)
    shapes = {t.name: (list(t.shape), t.tensor_type) for t in lazy_reader.tensors}
    assert {t.name: list(t.shape) for t in eager_reader.tensors} == {k: v[0] for k, v in shapes.items()}
    for name, (shape, kind) in shapes.items():
        is_matrix = sum(1 for n in shape if n > 1) >= 2 and "position_embd" not in name
        assert kind == (GGMLQuantizationType.F16 if is_matrix else GGMLQuantizationType.F32), name


def test_printable_ascii_tokens_reads_byte_level_tokens() -> None:
    b2u = tm.bytes_to_unicode()
    tokens = ["Ġthe", "cat", b2u[0xE2] + b2u[0x80], "<|im_end|>", "Ċ"]
    types = [1, 1, 1, 3, 1]
    assert tm.printable_ascii_tokens(tokens, types) == [True, True, False, False, False]
