"""Tiny random-weight GGUF vision models for real-inference tests (no downloads, no mocks).

Usage: ``python tests/tiny_models.py OUTDIR`` writes four files and prints one JSON object:
``{"moondream_text": ..., "moondream_mmproj": ..., "qwen_text": ..., "qwen_mmproj": ...}``.

Two pairs:
* ``moondream_*``: a phi2 text model (the real Moondream2 text model is phi2) with an ``mlp``
  (LLaVA-style) mmproj. Runs through Llava15ChatHandler, MoondreamChatHandler and MTMDChatHandler.
* ``qwen_*``: a qwen2vl text model with a ``qwen2.5vl_merger`` mmproj for Qwen25VLChatHandler.

Random weights can emit half a UTF-8 character forever; llama-cpp-python 0.3.36 then skips its
max_tokens check and runs into n_ctx. So the output layer is rigged to make every token except
printable ASCII (and the end-of-turn token) practically impossible: via ``output.bias`` for phi2,
and for qwen2vl (whose graph ignores ``output.bias``) via a hidden dimension held constant through
the residual stream plus a large negative output weight on that dimension. The same bias favours
letters and spaces, so answers look like (random) words: line noise is what the tool rejects as a
degenerate answer.

A fixed seed and a fixed writing order make the files byte-identical across runs.

For failure tests: `build_variant` writes one of the files without chosen tensors or metadata
keys, or with chosen values and tensors replaced, and `build_utf8_trap_text` writes a text model
that emits nothing but UTF-8 lead bytes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter, TokenType
from gguf.gguf_writer import GGUFValue

SEED = 20240611

# Text model shape: big enough to be a real transformer, small enough to load in milliseconds.
N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
HEAD_DIM = N_EMBD // N_HEAD
N_FF = 128
N_CTX_TRAIN = 4096

# Vision encoder shape shared by both mmproj files.
V_EMBD = 32
V_HEAD = 2
V_FF = 64
V_LAYER = 2

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
)
BOS = "<|endoftext|>"
EOS = "<|im_end|>"

# A few merges so the gpt2 BPE path is exercised; merged tokens are plain ASCII.
MERGES = ("Ġ t", "h e", "Ġt he", "Ġ a", "i n", "Ġ o", "e r", "o n", "Ġ s", "a n", "e d", "Ġ i")

# ChatML, the format MTMDChatHandler renders from `tokenizer.chat_template`. Image parts arrive as
# {"type": "text", "text": <media marker>} after MTMDChatHandler's conversion.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Logit penalty for tokens the tiny models must never emit (raw logits are within about +-15).
BLOCKED = -100.0
# Mild penalty on end-of-turn so answers are usually a few words, not empty.
EOS_PENALTY = -4.0
# Logit bonus for letters and spaces, so answers look like words rather than line noise (which the
# tool rejects as degenerate); which letters, and whether they loop, stays up to the random weights.
LETTER_BONUS = 6.0

F32 = GGMLQuantizationType.F32


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode mapping used by byte-level BPE vocabularies."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, codes)}


def build_vocab() -> tuple[list[str], list[int], list[bool]]:
    """All 256 byte tokens, the merge results and the control tokens; plus an 'allowed output' mask."""
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    allowed = [0x20 <= b <= 0x7E for b in range(256)]  # printable ASCII only: never a partial UTF-8 byte
    for merge in MERGES:
        tokens.append(merge.replace(" ", ""))
        allowed.append(True)
    types = [int(TokenType.NORMAL)] * len(tokens)
    for special in SPECIAL_TOKENS:
        tokens.append(special)
        types.append(int(TokenType.CONTROL))
        allowed.append(special == EOS)
    return tokens, types, allowed


class _Weights:
    """Deterministic random tensors; one generator consumed in a fixed order."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def normal(self, *shape: int, std: float) -> np.ndarray:
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    def ones(self, *shape: int) -> np.ndarray:
        return np.ones(shape, dtype=np.float32)

    def zeros(self, *shape: int) -> np.ndarray:
        return np.zeros(shape, dtype=np.float32)


@dataclass(frozen=True)
class _FileSpec:
    """Everything one GGUF file holds, before writing: lets tests write broken variants."""

    arch: str
    add_meta: Callable[[GGUFWriter], None]
    tensors: dict[str, np.ndarray]


def _write(
    path: Path,
    spec: _FileSpec,
    drop_tensors: Iterable[str] = (),
    drop_keys: Iterable[str] = (),
    set_keys: Mapping[str, Any] | None = None,
    set_tensors: Mapping[str, np.ndarray] | None = None,
) -> Path:
    writer = GGUFWriter(str(path), spec.arch)
    spec.add_meta(writer)
    kv = writer.kv_data[0]
    for key in drop_keys:
        del kv[key]  # KeyError on a typo: a test must not silently drop nothing
    for key, value in (set_keys or {}).items():
        if isinstance(value, GGUFValue):
            kv[key] = value
        else:  # the key's own type: KeyError for a new key, which needs a GGUFValue
            kv[key] = GGUFValue(value, kv[key].type, kv[key].sub_type)
    dropped = set(drop_tensors)
    unknown = dropped - spec.tensors.keys()
    if unknown:
        raise KeyError(f"no such tensor(s): {sorted(unknown)}")
    for name, array in {**spec.tensors, **(set_tensors or {})}.items():
        if name not in dropped:
            writer.add_tensor(name, np.ascontiguousarray(array), raw_dtype=F32)
    writer.write_header_to_file()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 50_000))  # gguf's writer packs nested arrays recursively
    try:
        writer.write_kv_data_to_file()
    finally:
        sys.setrecursionlimit(limit)
    writer.write_tensors_to_file()
    writer.close()
    return path


def _add_tokenizer(writer: GGUFWriter, pre: str) -> None:
    tokens, types, _ = build_vocab()
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(list(MERGES))
    writer.add_bos_token_id(tokens.index(BOS))
    writer.add_eos_token_id(tokens.index(EOS))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)


def _wordy(tokens: list[str]) -> np.ndarray:
    """Tokens made of letters or a leading space ("Ġ" in the byte-level vocabulary): favoured."""
    return np.array([t == "Ġ" or t.replace("Ġ", "").isalpha() for t in tokens])


def _output_bias(allowed: list[bool]) -> np.ndarray:
    bias = np.where(np.array(allowed), 0.0, BLOCKED).astype(np.float32)
    tokens = build_vocab()[0]
    bias[_wordy(tokens) & np.array(allowed)] += LETTER_BONUS
    bias[tokens.index(EOS)] = EOS_PENALTY
    return bias


# --- phi2 text model (moondream_text) ------------------------------------------------------------


def _phi2_tensors(w: _Weights, n_vocab: int, allowed: list[bool]) -> dict[str, np.ndarray]:
    # numpy shapes are (rows=out, cols=in): ggml's {in, out} reversed.
    t: dict[str, np.ndarray] = {"token_embd.weight": w.normal(n_vocab, N_EMBD, std=1.0)}
    for i in range(N_LAYER):
        p = f"blk.{i}."
        t[p + "attn_norm.weight"] = w.ones(N_EMBD)
        t[p + "attn_norm.bias"] = w.zeros(N_EMBD)
        t[p + "attn_qkv.weight"] = w.normal(3 * N_EMBD, N_EMBD, std=0.3)
        t[p + "attn_qkv.bias"] = w.normal(3 * N_EMBD, std=0.02)
        t[p + "attn_output.weight"] = w.normal(N_EMBD, N_EMBD, std=0.2)
        t[p + "attn_output.bias"] = w.zeros(N_EMBD)
        t[p + "ffn_up.weight"] = w.normal(N_FF, N_EMBD, std=0.2)
        t[p + "ffn_up.bias"] = w.zeros(N_FF)
        t[p + "ffn_down.weight"] = w.normal(N_EMBD, N_FF, std=0.2)
        t[p + "ffn_down.bias"] = w.zeros(N_EMBD)
    t["output_norm.weight"] = w.ones(N_EMBD)
    t["output_norm.bias"] = w.zeros(N_EMBD)
    t["output.weight"] = w.normal(n_vocab, N_EMBD, std=1.0)
    t["output.bias"] = _output_bias(allowed)
    return t


def _phi2_meta(name: str) -> Callable[[GGUFWriter], None]:
    def add_meta(writer: GGUFWriter) -> None:
        writer.add_name(name)
        writer.add_context_length(N_CTX_TRAIN)
        writer.add_embedding_length(N_EMBD)
        writer.add_feed_forward_length(N_FF)
        writer.add_block_count(N_LAYER)
        writer.add_head_count(N_HEAD)
        writer.add_head_count_kv(N_HEAD)
        writer.add_layer_norm_eps(1e-5)
        writer.add_rope_dimension_count(HEAD_DIM)
        _add_tokenizer(writer, "gpt-2")

    return add_meta


def phi2_text(w: _Weights) -> _FileSpec:
    tokens, _, allowed = build_vocab()
    return _FileSpec("phi2", _phi2_meta("tiny-moondream-text"), _phi2_tensors(w, len(tokens), allowed))


TRAP_BYTE = 0xE2  # lead byte of a 3-byte UTF-8 sequence (e.g. the "—" of real model output)


def build_utf8_trap_text(path: Path) -> Path:
    """A phi2 text model (pairs with the moondream mmproj) that emits only TRAP_BYTE, forever.

    Every new lead byte restarts llama-cpp-python's "wait for the rest of the character" logic,
    which skips the max_tokens check: the engine's own generation cap must stop it.
    """
    tokens, _, allowed = build_vocab()
    tensors = _phi2_tensors(_Weights(SEED + 100), len(tokens), allowed)
    bias = np.zeros(len(tokens), dtype=np.float32)
    bias[tokens.index(bytes_to_unicode()[TRAP_BYTE])] = 50.0
    bias[tokens.index(EOS)] = BLOCKED
    tensors["output.bias"] = bias
    return _write(path, _FileSpec("phi2", _phi2_meta("tiny-utf8-trap-text"), tensors))


# --- qwen2vl text model (qwen_text) --------------------------------------------------------------

QWEN_HEAD_KV = 2
QWEN_KV_DIM = QWEN_HEAD_KV * HEAD_DIM
ROPE_SECTIONS = [2, 3, 3, 0]  # sums to HEAD_DIM / 2, like Qwen2.5-VL's [16, 24, 24, 0] for 128
# Hidden dim 0 of every text token (see module docstring). Large, so that it dominates the RMS
# norm and stays ~5-8 after it whatever the other 63 dims do.
CONST_DIM_VALUE = 30.0


def _qwen_tensors(w: _Weights, n_vocab: int, allowed: list[bool]) -> dict[str, np.ndarray]:
    embd = w.normal(n_vocab, N_EMBD, std=1.0)
    embd[:, 0] = CONST_DIM_VALUE
    t: dict[str, np.ndarray] = {"token_embd.weight": embd}
    for i in range(N_LAYER):
        p = f"blk.{i}."
        t[p + "attn_norm.weight"] = w.ones(N_EMBD)
        t[p + "attn_q.weight"] = w.normal(N_EMBD, N_EMBD, std=0.3)
        t[p + "attn_q.bias"] = w.normal(N_EMBD, std=0.02)
        t[p + "attn_k.weight"] = w.normal(QWEN_KV_DIM, N_EMBD, std=0.3)
        t[p + "attn_k.bias"] = w.normal(QWEN_KV_DIM, std=0.02)
        t[p + "attn_v.weight"] = w.normal(QWEN_KV_DIM, N_EMBD, std=0.3)
        t[p + "attn_v.bias"] = w.normal(QWEN_KV_DIM, std=0.02)
        wo = w.normal(N_EMBD, N_EMBD, std=0.2)
        wo[0, :] = 0.0  # residual dim 0 untouched by attention...
        t[p + "attn_output.weight"] = wo
        t[p + "ffn_norm.weight"] = w.ones(N_EMBD)
        t[p + "ffn_gate.weight"] = w.normal(N_FF, N_EMBD, std=0.2)
        t[p + "ffn_up.weight"] = w.normal(N_FF, N_EMBD, std=0.2)
        down = w.normal(N_EMBD, N_FF, std=0.2)
        down[0, :] = 0.0  # ...and by the FFN, so it stays CONST_DIM_VALUE at every text position
        t[p + "ffn_down.weight"] = down
    t["output_norm.weight"] = w.ones(N_EMBD)
    out = w.normal(n_vocab, N_EMBD, std=0.5)
    # After the final RMS norm dim 0 is ~5-8, so this column acts as an output bias.
    out[:, 0] = _output_bias(allowed) / 2.0
    out[build_vocab()[0].index(EOS), 0] = EOS_PENALTY / 6.0
    t["output.weight"] = out
    return t


def _qwen_meta(writer: GGUFWriter) -> None:
    writer.add_name("tiny-qwen2.5-vl-text")
    writer.add_context_length(N_CTX_TRAIN)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_block_count(N_LAYER)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(QWEN_HEAD_KV)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_rope_dimension_sections(ROPE_SECTIONS)
    _add_tokenizer(writer, "qwen2")


def qwen_text(w: _Weights) -> _FileSpec:
    tokens, _, allowed = build_vocab()
    return _FileSpec("qwen2vl", _qwen_meta, _qwen_tensors(w, len(tokens), allowed))


# --- mmproj files --------------------------------------------------------------------------------


def _add_vision_meta(writer: GGUFWriter, projector: str, image_size: int, patch_size: int) -> None:
    writer.add_string("general.name", f"tiny-{projector}-mmproj")
    writer.add_string("clip.projector_type", projector)
    writer.add_bool("clip.has_text_encoder", False)
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.has_audio_encoder", False)
    writer.add_uint32("clip.vision.image_size", image_size)
    writer.add_uint32("clip.vision.patch_size", patch_size)
    writer.add_uint32("clip.vision.embedding_length", V_EMBD)
    writer.add_uint32("clip.vision.feed_forward_length", V_FF)
    writer.add_uint32("clip.vision.projection_dim", N_EMBD)
    writer.add_uint32("clip.vision.block_count", V_LAYER)
    writer.add_uint32("clip.vision.attention.head_count", V_HEAD)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])


def _vit_block(w: _Weights, i: int, *, norm_bias: bool, gated: bool) -> dict[str, np.ndarray]:
    p = f"v.blk.{i}."
    t: dict[str, np.ndarray] = {}
    for proj in ("attn_q", "attn_k", "attn_v", "attn_out"):
        t[p + proj + ".weight"] = w.normal(V_EMBD, V_EMBD, std=0.3)
        t[p + proj + ".bias"] = w.normal(V_EMBD, std=0.02)
    for ln in ("ln1", "ln2"):
        t[p + ln + ".weight"] = w.ones(V_EMBD)
        if norm_bias:
            t[p + ln + ".bias"] = w.zeros(V_EMBD)
    if gated:
        t[p + "ffn_gate.weight"] = w.normal(V_FF, V_EMBD, std=0.3)
        t[p + "ffn_gate.bias"] = w.zeros(V_FF)
    t[p + "ffn_up.weight"] = w.normal(V_FF, V_EMBD, std=0.3)
    t[p + "ffn_up.bias"] = w.zeros(V_FF)
    t[p + "ffn_down.weight"] = w.normal(V_EMBD, V_FF, std=0.3)
    t[p + "ffn_down.bias"] = w.zeros(V_EMBD)
    return t


MLP_IMAGE_SIZE = 32  # every image is resized to this square: 16 image tokens
MLP_PATCH = 8


def _mlp_meta(writer: GGUFWriter) -> None:
    _add_vision_meta(writer, "mlp", MLP_IMAGE_SIZE, MLP_PATCH)
    writer.add_bool("clip.use_gelu", True)


def mlp_mmproj(w: _Weights) -> _FileSpec:
    n_patches = (MLP_IMAGE_SIZE // MLP_PATCH) ** 2
    t: dict[str, np.ndarray] = {
        # conv kernel: ggml {kw, kh, c_in, c_out} -> numpy (c_out, c_in, kh, kw)
        "v.patch_embd.weight": w.normal(V_EMBD, 3, MLP_PATCH, MLP_PATCH, std=0.5),
        "v.patch_embd.bias": w.zeros(V_EMBD),
        "v.position_embd.weight": w.normal(n_patches, V_EMBD, std=0.5),
        "v.pre_ln.weight": w.ones(V_EMBD),
        "v.pre_ln.bias": w.zeros(V_EMBD),
    }
    for i in range(V_LAYER):
        t.update(_vit_block(w, i, norm_bias=True, gated=False))
    t["mm.0.weight"] = w.normal(N_EMBD, V_EMBD, std=0.5)
    t["mm.0.bias"] = w.zeros(N_EMBD)
    t["mm.2.weight"] = w.normal(N_EMBD, N_EMBD, std=0.5)
    t["mm.2.bias"] = w.zeros(N_EMBD)
    return _FileSpec("clip", _mlp_meta, t)


QWEN_PATCH = 4  # 8x8 pixels per image token after the 2x2 merge
QWEN_MERGE = 2


def _qwen_vision_meta(writer: GGUFWriter) -> None:
    _add_vision_meta(writer, "qwen2.5vl_merger", QWEN_PATCH * QWEN_MERGE * 8, QWEN_PATCH)
    writer.add_bool("clip.use_silu", True)
    writer.add_uint32("clip.vision.spatial_merge_size", QWEN_MERGE)
    # 0 = no window attention; the key itself is required for qwen2.5vl_merger.
    writer.add_uint32("clip.vision.n_wa_pattern", 0)


def qwen_mmproj(w: _Weights) -> _FileSpec:
    merged = V_EMBD * QWEN_MERGE * QWEN_MERGE
    t: dict[str, np.ndarray] = {
        # Qwen's 3D patch conv is stored as two 2D kernels (one per temporal frame), no bias.
        "v.patch_embd.weight": w.normal(V_EMBD, 3, QWEN_PATCH, QWEN_PATCH, std=0.5),
        "v.patch_embd.weight.1": w.normal(V_EMBD, 3, QWEN_PATCH, QWEN_PATCH, std=0.5),
    }
    for i in range(V_LAYER):
        t.update(_vit_block(w, i, norm_bias=False, gated=True))
    t["v.post_ln.weight"] = w.ones(V_EMBD)
    t["mm.0.weight"] = w.normal(merged, merged, std=0.3)
    t["mm.0.bias"] = w.zeros(merged)
    t["mm.2.weight"] = w.normal(N_EMBD, merged, std=0.3)
    t["mm.2.bias"] = w.zeros(N_EMBD)
    return _FileSpec("clip", _qwen_vision_meta, t)


# --- entry points --------------------------------------------------------------------------------

FILES: dict[str, tuple[str, Callable[[_Weights], _FileSpec]]] = {
    "moondream_text": ("tiny-moondream-text.gguf", phi2_text),
    "moondream_mmproj": ("tiny-moondream-mmproj.gguf", mlp_mmproj),
    "qwen_text": ("tiny-qwen-text.gguf", qwen_text),
    "qwen_mmproj": ("tiny-qwen-mmproj.gguf", qwen_mmproj),
}


def _file_spec(key: str) -> _FileSpec:
    # One seed per file, so a file's bytes do not depend on which others are built.
    return FILES[key][1](_Weights(SEED + list(FILES).index(key)))


def tensor_names(key: str) -> list[str]:
    """Names of the tensors file `key` holds, e.g. to pick what a broken variant drops."""
    return list(_file_spec(key).tensors)


def build_variant(
    key: str,
    path: Path,
    *,
    drop_tensors: Iterable[str] = (),
    drop_keys: Iterable[str] = (),
    set_keys: Mapping[str, Any] | None = None,
    set_tensors: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write file `key` (a FILES key) to `path` without some tensors / metadata keys, or with some
    values (`set_keys`: a plain value keeps the key's type; a `GGUFValue` sets any key) and tensors
    (`set_tensors`: replaced or added, float32) of its own."""
    return _write(Path(path), _file_spec(key), drop_tensors, drop_keys, set_keys, set_tensors)


def nested_array(depth: int) -> GGUFValue:
    """A metadata value that is an array of arrays `depth` levels deep around one uint32."""
    value: Any = [1]
    for _ in range(depth - 1):
        value = [value]
    return GGUFValue(value, GGUFValueType.ARRAY)


def build_tiny_models(outdir: Path) -> dict[str, Path]:
    """Write the four tiny GGUF files into `outdir`; return their absolute paths by key."""
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    return {key: _write(outdir / filename, _file_spec(key)) for key, (filename, _) in FILES.items()}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python tests/tiny_models.py OUTDIR", file=sys.stderr)
        return 2
    paths = build_tiny_models(Path(argv[1]))
    print(json.dumps({key: str(path) for key, path in paths.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
