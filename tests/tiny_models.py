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
F16 = GGMLQuantizationType.F16


@dataclass(frozen=True)
class TextShape:
    """A text model's shape. The defaults are the tiny test models'."""

    n_embd: int = N_EMBD
    n_layer: int = N_LAYER
    n_head: int = N_HEAD
    n_head_kv: int = N_HEAD
    n_ff: int = N_FF
    n_ctx_train: int = N_CTX_TRAIN
    rope_sections: tuple[int, ...] = (2, 3, 3, 0)  # qwen2vl M-RoPE: sums to head_dim / 2
    rope_dims: int | None = None  # rotated dims per head (phi2: partial rotary); None: all

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def kv_dim(self) -> int:
        return self.n_head_kv * self.head_dim

    @property
    def n_rot(self) -> int:
        return self.rope_dims or self.head_dim


@dataclass(frozen=True)
class VisionShape:
    """A vision encoder + projector shape. The defaults are the tiny mlp mmproj's."""

    n_embd: int = V_EMBD
    n_head: int = V_HEAD
    n_ff: int = V_FF
    n_layer: int = V_LAYER
    image_size: int = 32  # mlp: every image is resized to this square
    patch: int = 8
    mm_hidden: int | None = None  # mlp projector's hidden width; None: the text model's width
    merge: int = 2  # qwen2.5vl: 2x2 patches merged into one image token
    n_wa_pattern: int = 0  # qwen2.5vl: every n-th block has full attention, the others windows


def _scale(fan_in: int, tiny_fan_in: int) -> float:
    """Weight scale keeping a wider layer's outputs at the tiny layer's magnitude (1/sqrt(fan-in));
    exactly 1.0 at the tiny shape, so the tiny files keep their bytes."""
    return float((tiny_fan_in / fan_in) ** 0.5)


@dataclass(frozen=True)
class Vocab:
    """A byte-level BPE vocabulary plus which tokens the rigged output layer lets through."""

    tokens: list[str]
    types: list[int]
    merges: list[str]
    allowed: list[bool]  # the output bias makes every other token practically impossible
    bos: int
    eos: int
    chat_template: str
    eos_bias: float = 0.0  # logit bias of the end-of-turn token (BLOCKED: never stops)


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


def tiny_vocab() -> Vocab:
    tokens, types, allowed = build_vocab()
    return Vocab(tokens, types, list(MERGES), allowed, tokens.index(BOS), tokens.index(EOS), CHAT_TEMPLATE, EOS_PENALTY)


def printable_ascii_tokens(tokens: list[str], types: list[int]) -> list[bool]:
    """Normal tokens whose bytes are all printable ASCII: what a rigged output layer lets through."""
    u2b = {u: b for b, u in bytes_to_unicode().items()}
    normal = int(TokenType.NORMAL)
    return [
        kind == normal and bool(token) and all(ch in u2b and 0x20 <= u2b[ch] <= 0x7E for ch in token)
        for token, kind in zip(tokens, types)
    ]


class LazyTensor:
    """A random normal tensor generated only when written (real-size models do not fit in RAM
    all at once), with the element assignments the builders make replayed on the result."""

    def __init__(self, shape: tuple[int, ...], std: float, seed: int) -> None:
        self.shape = shape
        self.std = std
        self.seed = seed
        self.edits: list[tuple[Any, Any]] = []

    def __setitem__(self, key: Any, value: Any) -> None:
        self.edits.append((key, value))

    def materialize(self, dtype: Any) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        out = np.empty(self.shape, dtype=dtype)
        flat = out.reshape(self.shape[0], -1)
        rows = max(1, (1 << 22) // max(1, flat.shape[1]))  # ~16 MB of float32 at a time
        for start in range(0, flat.shape[0], rows):
            chunk = rng.standard_normal((min(rows, flat.shape[0] - start), flat.shape[1]), dtype=np.float32)
            chunk *= np.float32(self.std)
            flat[start : start + len(chunk)] = chunk
        for key, value in self.edits:
            out[key] = value
        return out


Tensor = np.ndarray | LazyTensor


class Weights:
    """Deterministic random tensors; one generator consumed in a fixed order. `lazy`: normal
    tensors are LazyTensors (each with its own seed drawn from the generator)."""

    def __init__(self, seed: int, lazy: bool = False) -> None:
        self.rng = np.random.default_rng(seed)
        self.lazy = lazy

    def normal(self, *shape: int, std: float) -> Any:
        if self.lazy:
            return LazyTensor(shape, std, int(self.rng.integers(2**63)))
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    def ones(self, *shape: int) -> np.ndarray:
        return np.ones(shape, dtype=np.float32)

    def zeros(self, *shape: int) -> np.ndarray:
        return np.zeros(shape, dtype=np.float32)


def f32_only(name: str, ndim: int) -> GGMLQuantizationType:
    """Tensor type policy of the tiny files: everything F32."""
    return F32


def f16_weights(name: str, ndim: int) -> GGMLQuantizationType:
    """Tensor type policy of real conversions: matrices F16; norms, biases, position embeddings F32."""
    return F16 if ndim >= 2 and "position_embd" not in name else F32


@dataclass(frozen=True)
class FileSpec:
    """Everything one GGUF file holds, before writing: lets tests write broken variants."""

    arch: str
    add_meta: Callable[[GGUFWriter], None]
    tensors: dict[str, Tensor]
    dtype_of: Callable[[str, int], GGMLQuantizationType] = f32_only


_NP_TYPES = {F32: np.float32, F16: np.float16}


def write_gguf(
    path: Path,
    spec: FileSpec,
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
    tensors = {name: t for name, t in {**spec.tensors, **(set_tensors or {})}.items() if name not in dropped}
    # Tensor infos first, data streamed one tensor at a time: a real-size file never sits in RAM.
    types: dict[str, GGMLQuantizationType] = {}
    for name, tensor in tensors.items():
        types[name] = spec.dtype_of(name, len(tensor.shape))
        np_type = np.dtype(_NP_TYPES[types[name]])
        nbytes = int(np.prod(tensor.shape)) * np_type.itemsize
        writer.add_tensor_info(name, tensor.shape, np_type, nbytes, raw_dtype=types[name])
    writer.write_header_to_file()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 50_000))  # gguf's writer packs nested arrays recursively
    try:
        writer.write_kv_data_to_file()
    finally:
        sys.setrecursionlimit(limit)
    writer.write_ti_data_to_file()
    for name, tensor in tensors.items():
        np_type = _NP_TYPES[types[name]]
        if isinstance(tensor, LazyTensor):
            writer.write_tensor_data(tensor.materialize(np_type))
        else:
            writer.write_tensor_data(np.ascontiguousarray(tensor, dtype=np_type))
    writer.close()
    return path


def _add_tokenizer(writer: GGUFWriter, pre: str, vocab: Vocab) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    writer.add_bos_token_id(vocab.bos)
    writer.add_eos_token_id(vocab.eos)
    writer.add_add_bos_token(False)
    writer.add_chat_template(vocab.chat_template)


def _wordy(tokens: list[str]) -> np.ndarray:
    """Tokens made of letters or a leading space ("Ġ" in the byte-level vocabulary): favoured."""
    return np.array([t == "Ġ" or t.replace("Ġ", "").isalpha() for t in tokens])


def _output_bias(vocab: Vocab) -> np.ndarray:
    bias = np.where(np.array(vocab.allowed), 0.0, BLOCKED).astype(np.float32)
    bias[_wordy(vocab.tokens) & np.array(vocab.allowed)] += LETTER_BONUS
    bias[vocab.eos] = vocab.eos_bias
    return bias


# --- phi2 text model (moondream_text) ------------------------------------------------------------


def _phi2_tensors(w: Weights, vocab: Vocab, shape: TextShape) -> dict[str, Tensor]:
    # numpy shapes are (rows=out, cols=in): ggml's {in, out} reversed.
    n_vocab, d, ff = len(vocab.tokens), shape.n_embd, shape.n_ff
    k, k_ff = _scale(d, N_EMBD), _scale(ff, N_FF)
    t: dict[str, Tensor] = {"token_embd.weight": w.normal(n_vocab, d, std=1.0)}
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        t[p + "attn_norm.weight"] = w.ones(d)
        t[p + "attn_norm.bias"] = w.zeros(d)
        t[p + "attn_qkv.weight"] = w.normal(3 * d, d, std=0.3 * k)
        t[p + "attn_qkv.bias"] = w.normal(3 * d, std=0.02)
        t[p + "attn_output.weight"] = w.normal(d, d, std=0.2 * k)
        t[p + "attn_output.bias"] = w.zeros(d)
        t[p + "ffn_up.weight"] = w.normal(ff, d, std=0.2 * k)
        t[p + "ffn_up.bias"] = w.zeros(ff)
        t[p + "ffn_down.weight"] = w.normal(d, ff, std=0.2 * k_ff)
        t[p + "ffn_down.bias"] = w.zeros(d)
    t["output_norm.weight"] = w.ones(d)
    t["output_norm.bias"] = w.zeros(d)
    t["output.weight"] = w.normal(n_vocab, d, std=1.0 * k)
    t["output.bias"] = _output_bias(vocab)
    return t


def _add_text_shape(writer: GGUFWriter, name: str, shape: TextShape) -> None:
    """The metadata every text model has, in the order both architectures write it."""
    writer.add_name(name)
    writer.add_context_length(shape.n_ctx_train)
    writer.add_embedding_length(shape.n_embd)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_block_count(shape.n_layer)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)


def _phi2_meta(name: str, vocab: Vocab, shape: TextShape) -> Callable[[GGUFWriter], None]:
    def add_meta(writer: GGUFWriter) -> None:
        _add_text_shape(writer, name, shape)
        writer.add_layer_norm_eps(1e-5)
        writer.add_rope_dimension_count(shape.n_rot)
        _add_tokenizer(writer, "gpt-2", vocab)

    return add_meta


def phi2_text(
    w: Weights, vocab: Vocab | None = None, shape: TextShape = TextShape(), name: str = "tiny-moondream-text"
) -> FileSpec:
    vocab = vocab or tiny_vocab()
    return FileSpec("phi2", _phi2_meta(name, vocab, shape), _phi2_tensors(w, vocab, shape))


TRAP_BYTE = 0xE2  # lead byte of a 3-byte UTF-8 sequence (e.g. the "—" of real model output)


def build_utf8_trap_text(path: Path) -> Path:
    """A phi2 text model (pairs with the moondream mmproj) that emits only TRAP_BYTE, forever.

    Every new lead byte restarts llama-cpp-python's "wait for the rest of the character" logic,
    which skips the max_tokens check: the engine's own generation cap must stop it.
    """
    vocab = tiny_vocab()
    tensors = _phi2_tensors(Weights(SEED + 100), vocab, TextShape())
    bias = np.zeros(len(vocab.tokens), dtype=np.float32)
    bias[vocab.tokens.index(bytes_to_unicode()[TRAP_BYTE])] = 50.0
    bias[vocab.eos] = BLOCKED
    tensors["output.bias"] = bias
    return write_gguf(path, FileSpec("phi2", _phi2_meta("tiny-utf8-trap-text", vocab, TextShape()), tensors))


# --- qwen2vl text model (qwen_text) --------------------------------------------------------------

QWEN_HEAD_KV = 2
QWEN_TEXT = TextShape(n_head_kv=QWEN_HEAD_KV)
QWEN_KV_DIM = QWEN_TEXT.kv_dim
ROPE_SECTIONS = list(QWEN_TEXT.rope_sections)  # like Qwen2.5-VL's [16, 24, 24, 0] for head_dim 128
# Hidden dim 0 of every text token (see module docstring). Large, so that it dominates the RMS
# norm and stays ~5-8 after it whatever the other dims do.
CONST_DIM_VALUE = 30.0


def _qwen_tensors(w: Weights, vocab: Vocab, shape: TextShape) -> dict[str, Tensor]:
    n_vocab, d, kv, ff = len(vocab.tokens), shape.n_embd, shape.kv_dim, shape.n_ff
    k, k_ff = _scale(d, N_EMBD), _scale(ff, N_FF)
    embd = w.normal(n_vocab, d, std=1.0)
    embd[:, 0] = CONST_DIM_VALUE
    t: dict[str, Tensor] = {"token_embd.weight": embd}
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        t[p + "attn_norm.weight"] = w.ones(d)
        t[p + "attn_q.weight"] = w.normal(d, d, std=0.3 * k)
        t[p + "attn_q.bias"] = w.normal(d, std=0.02)
        t[p + "attn_k.weight"] = w.normal(kv, d, std=0.3 * k)
        t[p + "attn_k.bias"] = w.normal(kv, std=0.02)
        t[p + "attn_v.weight"] = w.normal(kv, d, std=0.3 * k)
        t[p + "attn_v.bias"] = w.normal(kv, std=0.02)
        wo = w.normal(d, d, std=0.2 * k)
        wo[0, :] = 0.0  # residual dim 0 untouched by attention...
        t[p + "attn_output.weight"] = wo
        t[p + "ffn_norm.weight"] = w.ones(d)
        t[p + "ffn_gate.weight"] = w.normal(ff, d, std=0.2 * k)
        t[p + "ffn_up.weight"] = w.normal(ff, d, std=0.2 * k)
        down = w.normal(d, ff, std=0.2 * k_ff)
        down[0, :] = 0.0  # ...and by the FFN, so it stays CONST_DIM_VALUE at every text position
        t[p + "ffn_down.weight"] = down
    t["output_norm.weight"] = w.ones(d)
    out = w.normal(n_vocab, d, std=0.5 * k)
    # After the final RMS norm dim 0 is ~5-8, so this column acts as an output bias.
    out[:, 0] = _output_bias(vocab) / 2.0
    out[vocab.eos, 0] = vocab.eos_bias / 6.0
    t["output.weight"] = out
    return t


def _qwen_meta(name: str, vocab: Vocab, shape: TextShape) -> Callable[[GGUFWriter], None]:
    def add_meta(writer: GGUFWriter) -> None:
        _add_text_shape(writer, name, shape)
        writer.add_layer_norm_rms_eps(1e-6)
        writer.add_rope_freq_base(1_000_000.0)
        writer.add_rope_dimension_count(shape.n_rot)
        writer.add_rope_dimension_sections(list(shape.rope_sections))
        _add_tokenizer(writer, "qwen2", vocab)

    return add_meta


def qwen_text(
    w: Weights, vocab: Vocab | None = None, shape: TextShape = QWEN_TEXT, name: str = "tiny-qwen2.5-vl-text"
) -> FileSpec:
    vocab = vocab or tiny_vocab()
    return FileSpec("qwen2vl", _qwen_meta(name, vocab, shape), _qwen_tensors(w, vocab, shape))


# --- mmproj files --------------------------------------------------------------------------------


def _add_vision_meta(writer: GGUFWriter, projector: str, v: VisionShape, proj_dim: int, name: str) -> None:
    writer.add_string("general.name", name)
    writer.add_string("clip.projector_type", projector)
    writer.add_bool("clip.has_text_encoder", False)
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.has_audio_encoder", False)
    writer.add_uint32("clip.vision.image_size", v.image_size)
    writer.add_uint32("clip.vision.patch_size", v.patch)
    writer.add_uint32("clip.vision.embedding_length", v.n_embd)
    writer.add_uint32("clip.vision.feed_forward_length", v.n_ff)
    writer.add_uint32("clip.vision.projection_dim", proj_dim)
    writer.add_uint32("clip.vision.block_count", v.n_layer)
    writer.add_uint32("clip.vision.attention.head_count", v.n_head)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])


def _vit_block(w: Weights, i: int, v: VisionShape, *, norm_bias: bool, gated: bool) -> dict[str, Tensor]:
    p = f"v.blk.{i}."
    d, ff = v.n_embd, v.n_ff
    k, k_ff = _scale(d, V_EMBD), _scale(ff, V_FF)
    t: dict[str, Tensor] = {}
    for proj in ("attn_q", "attn_k", "attn_v", "attn_out"):
        t[p + proj + ".weight"] = w.normal(d, d, std=0.3 * k)
        t[p + proj + ".bias"] = w.normal(d, std=0.02)
    for ln in ("ln1", "ln2"):
        t[p + ln + ".weight"] = w.ones(d)
        if norm_bias:
            t[p + ln + ".bias"] = w.zeros(d)
    if gated:
        t[p + "ffn_gate.weight"] = w.normal(ff, d, std=0.3 * k)
        t[p + "ffn_gate.bias"] = w.zeros(ff)
    t[p + "ffn_up.weight"] = w.normal(ff, d, std=0.3 * k)
    t[p + "ffn_up.bias"] = w.zeros(ff)
    t[p + "ffn_down.weight"] = w.normal(d, ff, std=0.3 * k_ff)
    t[p + "ffn_down.bias"] = w.zeros(d)
    return t


MLP_VISION = VisionShape()
MLP_IMAGE_SIZE = MLP_VISION.image_size  # every image is resized to this square: 16 image tokens
MLP_PATCH = MLP_VISION.patch


def mlp_mmproj(
    w: Weights, v: VisionShape = MLP_VISION, text_embd: int = N_EMBD, name: str = "tiny-mlp-mmproj"
) -> FileSpec:
    n_patches = (v.image_size // v.patch) ** 2
    hidden = v.mm_hidden or text_embd
    d = v.n_embd

    def add_meta(writer: GGUFWriter) -> None:
        _add_vision_meta(writer, "mlp", v, text_embd, name)
        writer.add_bool("clip.use_gelu", True)

    t: dict[str, Tensor] = {
        # conv kernel: ggml {kw, kh, c_in, c_out} -> numpy (c_out, c_in, kh, kw)
        "v.patch_embd.weight": w.normal(d, 3, v.patch, v.patch, std=0.5 * _scale(v.patch**2, MLP_PATCH**2)),
        "v.patch_embd.bias": w.zeros(d),
        "v.position_embd.weight": w.normal(n_patches, d, std=0.5),
        "v.pre_ln.weight": w.ones(d),
        "v.pre_ln.bias": w.zeros(d),
    }
    for i in range(v.n_layer):
        t.update(_vit_block(w, i, v, norm_bias=True, gated=False))
    t["mm.0.weight"] = w.normal(hidden, d, std=0.5 * _scale(d, V_EMBD))
    t["mm.0.bias"] = w.zeros(hidden)
    t["mm.2.weight"] = w.normal(text_embd, hidden, std=0.5 * _scale(hidden, N_EMBD))
    t["mm.2.bias"] = w.zeros(text_embd)
    return FileSpec("clip", add_meta, t)


QWEN_PATCH = 4  # 8x8 pixels per image token after the 2x2 merge
QWEN_MERGE = 2
QWEN_VISION = VisionShape(image_size=QWEN_PATCH * QWEN_MERGE * 8, patch=QWEN_PATCH, merge=QWEN_MERGE)


def qwen_mmproj(
    w: Weights, v: VisionShape = QWEN_VISION, text_embd: int = N_EMBD, name: str = "tiny-qwen2.5vl_merger-mmproj"
) -> FileSpec:
    merged = v.n_embd * v.merge * v.merge
    d = v.n_embd

    def add_meta(writer: GGUFWriter) -> None:
        _add_vision_meta(writer, "qwen2.5vl_merger", v, text_embd, name)
        writer.add_bool("clip.use_silu", True)
        writer.add_uint32("clip.vision.spatial_merge_size", v.merge)
        # 0 = no window attention; the key itself is required for qwen2.5vl_merger.
        writer.add_uint32("clip.vision.n_wa_pattern", v.n_wa_pattern)

    kernel_std = 0.5 * _scale(v.patch**2, QWEN_PATCH**2)
    k_mm = _scale(merged, V_EMBD * QWEN_MERGE * QWEN_MERGE)
    t: dict[str, Tensor] = {
        # Qwen's 3D patch conv is stored as two 2D kernels (one per temporal frame), no bias.
        "v.patch_embd.weight": w.normal(d, 3, v.patch, v.patch, std=kernel_std),
        "v.patch_embd.weight.1": w.normal(d, 3, v.patch, v.patch, std=kernel_std),
    }
    for i in range(v.n_layer):
        t.update(_vit_block(w, i, v, norm_bias=False, gated=True))
    t["v.post_ln.weight"] = w.ones(d)
    t["mm.0.weight"] = w.normal(merged, merged, std=0.3 * k_mm)
    t["mm.0.bias"] = w.zeros(merged)
    t["mm.2.weight"] = w.normal(text_embd, merged, std=0.3 * k_mm)
    t["mm.2.bias"] = w.zeros(text_embd)
    return FileSpec("clip", add_meta, t)


# --- entry points --------------------------------------------------------------------------------

FILES: dict[str, tuple[str, Callable[[Weights], FileSpec]]] = {
    "moondream_text": ("tiny-moondream-text.gguf", phi2_text),
    "moondream_mmproj": ("tiny-moondream-mmproj.gguf", mlp_mmproj),
    "qwen_text": ("tiny-qwen-text.gguf", qwen_text),
    "qwen_mmproj": ("tiny-qwen-mmproj.gguf", qwen_mmproj),
}


def _file_spec(key: str) -> FileSpec:
    # One seed per file, so a file's bytes do not depend on which others are built.
    return FILES[key][1](Weights(SEED + list(FILES).index(key)))


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
    return write_gguf(Path(path), _file_spec(key), drop_tensors, drop_keys, set_keys, set_tensors)


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
    return {key: write_gguf(outdir / filename, _file_spec(key)) for key, (filename, _) in FILES.items()}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python tests/tiny_models.py OUTDIR", file=sys.stderr)
        return 2
    paths = build_tiny_models(Path(argv[1]))
    print(json.dumps({key: str(path) for key, path in paths.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
