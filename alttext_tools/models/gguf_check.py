"""Validate a (text, mmproj) GGUF pair before llama.cpp sees it: our own header parser, and a
one-line `ModelFileError` naming the file and the exact problem (see docs/models.md)."""

from __future__ import annotations

import functools
import importlib.util
import math
import mmap
import os
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar

from alttext_tools.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
# Arrays longer than this are summarised (type, count): nobody needs 150k tokens in memory here.
_KEEP_ARRAY_MAX = 64
# Arrays of arrays deeper than this are refused: real files nest at most one level.
MAX_ARRAY_DEPTH = 8
# Elements of a tensor: ggml counts them in an int64.
_MAX_ELEMENTS = 2**62

# --- header parsing ------------------------------------------------------------------------------


class ValueType(IntEnum):
    """Metadata value types of the GGUF format (the numbers are part of the file format)."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


_SCALAR_FORMATS: dict[int, str] = {
    ValueType.UINT8: "<B",
    ValueType.INT8: "<b",
    ValueType.UINT16: "<H",
    ValueType.INT16: "<h",
    ValueType.UINT32: "<I",
    ValueType.INT32: "<i",
    ValueType.FLOAT32: "<f",
    ValueType.BOOL: "<?",
    ValueType.UINT64: "<Q",
    ValueType.INT64: "<q",
    ValueType.FLOAT64: "<d",
}


@dataclass(frozen=True)
class ArrayInfo:
    """A long metadata array, summarised."""

    elem_type: int
    count: int


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]  # ggml order: shape[0] is the innermost (input) dimension
    ggml_type: int
    offset: int  # relative to the start of the data section
    nbytes: int | None  # None for a tensor type newer than the installed gguf package knows


@dataclass(frozen=True)
class GGUFHeader:
    path: Path
    version: int
    metadata: Mapping[str, Any]
    tensors: Mapping[str, TensorInfo]
    data_start: int
    file_size: int


class _HeaderError(Exception):
    """Internal: a structural problem; turned into ModelFileError with the path."""


class _Cursor:
    """Sequential little-endian reader over a memory-mapped file."""

    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str) -> Any:
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        if self.pos + length > len(self.buf):
            raise _HeaderError("header is truncated (string runs past the end of the file)")
        raw = self.buf[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype == ValueType.STRING:
            return self.string()
        if vtype == ValueType.ARRAY:
            return self.array(depth + 1)
        fmt = _SCALAR_FORMATS.get(vtype)
        if fmt is None:
            raise _HeaderError(f"unknown metadata value type {vtype}")
        return self.unpack(fmt)

    def array(self, depth: int = 1) -> list[Any] | ArrayInfo:
        """An array value (`depth`: how many arrays enclose its elements, itself included)."""
        if depth > MAX_ARRAY_DEPTH:
            raise _HeaderError(f"corrupt header (metadata arrays nested deeper than {MAX_ARRAY_DEPTH} levels)")
        elem_type = self.unpack("<I")
        count = self.unpack("<Q")
        if count * _min_size(elem_type) > len(self.buf) - self.pos:
            raise _HeaderError(f"corrupt header (array of {count} elements runs past the end of the file)")
        if count <= _KEEP_ARRAY_MAX:
            return [self.value(elem_type, depth) for _ in range(count)]
        self.skip_array(elem_type, count, depth)
        return ArrayInfo(elem_type, count)

    def skip_array(self, elem_type: int, count: int, depth: int) -> None:
        fmt = _SCALAR_FORMATS.get(elem_type)
        if fmt is not None:
            self.pos += struct.calcsize(fmt) * count
        elif elem_type == ValueType.STRING:
            self.pos = _skip_strings(self.buf, self.pos, count)
        else:
            for _ in range(count):
                self.value(elem_type, depth)
        if self.pos > len(self.buf):
            raise _HeaderError("header is truncated (array runs past the end of the file)")


def _min_size(vtype: int) -> int:
    """The fewest bytes a value of this type takes in the file (a string or an array: its header)."""
    fmt = _SCALAR_FORMATS.get(vtype)
    if fmt is not None:
        return struct.calcsize(fmt)
    return 12 if vtype == ValueType.ARRAY else 8


def _skip_strings(buf: mmap.mmap, pos: int, count: int) -> int:
    # Hot loop for tokenizer vocabularies: locals only.
    unpack_from = struct.unpack_from
    for _ in range(count):
        pos += 8 + unpack_from("<Q", buf, pos)[0]
    return pos


@functools.cache
def _quant_sizes() -> dict[int, tuple[int, int]]:
    """(elements per block, bytes per block) for each ggml tensor type the gguf package knows.

    The table changes with every new quantisation, so it comes from gguf, read when a model is
    checked, never when this module is imported. Only `gguf/constants.py` runs (standard library
    only): the package itself imports numpy (~0.3 s), which setting up a run does not need.
    """
    found = importlib.util.find_spec("gguf")
    constants = Path(found.origin).parent / "constants.py" if found is not None and found.origin else None
    spec = importlib.util.spec_from_file_location("_alttext_gguf_constants", constants) if constants else None
    if spec is None or spec.loader is None or constants is None or not constants.is_file():
        from gguf import GGML_QUANT_SIZES as table
    else:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        table = module.GGML_QUANT_SIZES
    return {int(kind): (int(block), int(size)) for kind, (block, size) in table.items()}


def _tensor_nbytes(shape: tuple[int, ...], ggml_type: int) -> int | None:
    sizes = _quant_sizes().get(ggml_type)
    if sizes is None:
        return None  # permissive: llama.cpp may know quantisations this gguf package does not
    block_size, type_size = sizes
    n_elements = 1
    for dim in shape:
        n_elements *= dim
    return n_elements // block_size * type_size


def _parse(buf: mmap.mmap, path: Path, file_size: int) -> GGUFHeader:
    cur = _Cursor(buf)
    if bytes(buf[:4]) != GGUF_MAGIC:
        raise _HeaderError(f"not a GGUF file (starts with {bytes(buf[:4])!r}, expected b'GGUF')")
    cur.pos = 4
    version = cur.unpack("<I")
    if version not in (2, 3):
        raise _HeaderError(f"unsupported GGUF version {version} (llama.cpp reads 2 and 3)")
    n_tensors, n_kv = cur.unpack("<Q"), cur.unpack("<Q")
    if n_tensors > file_size or n_kv > file_size:
        raise _HeaderError("corrupt header (impossible tensor or key count)")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        metadata[key] = cur.value(cur.unpack("<I"))
    tensors: dict[str, TensorInfo] = {}
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.unpack("<I")
        if n_dims > 8:
            raise _HeaderError(f"corrupt tensor info for {name!r} ({n_dims} dimensions)")
        shape = tuple(cur.unpack("<Q") for _ in range(n_dims))
        if math.prod(shape) > _MAX_ELEMENTS:
            raise _HeaderError(f"corrupt tensor info for {name!r} (shape {list(shape)})")
        ggml_type = cur.unpack("<I")
        offset = cur.unpack("<Q")
        tensors[name] = TensorInfo(shape, ggml_type, offset, _tensor_nbytes(shape, ggml_type))
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0:
        raise _HeaderError(f"invalid general.alignment {alignment!r}")
    data_start = -(-cur.pos // alignment) * alignment
    return GGUFHeader(path, version, metadata, tensors, data_start, file_size)


def read_header(path: Path) -> GGUFHeader:
    """Parse the GGUF header of `path`; raise ModelFileError for anything structurally wrong."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(path, "file not found")
    if not path.is_file():
        raise ModelFileError(path, "not a regular file (expected a .gguf file)")
    file_size = path.stat().st_size
    if file_size < 24:  # magic + version + two counts
        with path.open("rb") as handle:
            what = "file is truncated" if handle.read(4) == GGUF_MAGIC else "not a GGUF file"
        raise ModelFileError(path, f"{what} (only {file_size} bytes)")
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            header = _parse(buf, path, file_size)
    except _HeaderError as err:
        raise ModelFileError(path, str(err)) from None
    except (struct.error, IndexError, UnicodeDecodeError, OverflowError):
        raise ModelFileError(path, "GGUF header is truncated or corrupt") from None
    except OSError as err:
        raise ModelFileError(path, f"cannot read file ({err.strerror or err})") from None
    _check_tensor_data(header)
    return header


def _check_tensor_data(header: GGUFHeader) -> None:
    """A truncated download keeps a valid header; the tensor data is what goes missing."""
    available = header.file_size - header.data_start
    for name, info in header.tensors.items():
        if info.nbytes is None:
            continue
        end = info.offset + info.nbytes
        if end > available:
            raise ModelFileError(
                header.path,
                f"file is truncated: tensor {name!r} needs bytes up to {header.data_start + end}"
                f" but the file has {header.file_size}",
            )


# --- what llama.cpp needs -------------------------------------------------------------------------


@dataclass(frozen=True)
class TextModelInfo:
    path: Path
    architecture: str
    n_embd: int
    n_layer: int
    n_vocab: int
    has_chat_template: bool


@dataclass(frozen=True)
class MmprojInfo:
    path: Path
    projector_type: str
    n_embd_out: int | None  # embedding size fed to the text model, where the projector tells us


# Projector families we know the tensors of (clip.cpp, llama.cpp as vendored by 0.3.36).
LLAVA_PROJECTORS = frozenset({"mlp", "mlp_norm", "ldp", "ldpv2"})
QWEN_PROJECTORS = frozenset({"qwen2vl_merger", "qwen2.5vl_merger", "qwen3vl_merger"})
# Text architectures with M-RoPE, which the qwen mergers' image positions require.
QWEN_TEXT_ARCHS: Mapping[str, frozenset[str]] = {
    "qwen2vl_merger": frozenset({"qwen2vl"}),
    "qwen2.5vl_merger": frozenset({"qwen2vl"}),
    "qwen3vl_merger": frozenset({"qwen3vl", "qwen3vlmoe"}),
}
# Handler -> projector families it formats prompts for. "mtmd" uses the model's own template.
HANDLER_PROJECTORS: Mapping[str, frozenset[str]] = {
    "moondream": LLAVA_PROJECTORS,
    "llava": LLAVA_PROJECTORS,
    "qwen2.5-vl": QWEN_PROJECTORS,
}

_VISION_KEYS = (
    "clip.vision.image_size",
    "clip.vision.patch_size",
    "clip.vision.embedding_length",
    "clip.vision.feed_forward_length",
    "clip.vision.projection_dim",
    "clip.vision.block_count",
    "clip.vision.attention.head_count",
    "clip.vision.attention.layer_norm_epsilon",
)


def _require_keys(header: GGUFHeader, keys: Iterable[str]) -> None:
    missing = [key for key in keys if key not in header.metadata]
    if missing:
        raise ModelFileError(header.path, f"missing metadata key {', '.join(missing)}")


def _require_tensors(header: GGUFHeader, names: Iterable[str], why: str) -> None:
    missing = [name for name in names if name not in header.tensors]
    if missing:
        raise ModelFileError(header.path, f"missing tensor {', '.join(missing)} ({why})")


def _int_key(header: GGUFHeader, key: str) -> int:
    value = header.metadata.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ModelFileError(header.path, f"metadata key {key} must be a positive integer, got {value!r}")
    return value


def _positive_float_key(header: GGUFHeader, key: str) -> float:
    value = header.metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ModelFileError(header.path, f"metadata key {key} must be a positive number, got {value!r}")
    return float(value)


def _divides(header: GGUFHeader, part_key: str, part: int, whole_key: str, whole: int) -> None:
    if whole % part:
        raise ModelFileError(header.path, f"metadata key {part_key} ({part}) must divide {whole_key} ({whole})")


def _count(value: Any) -> int:
    return value.count if isinstance(value, ArrayInfo) else len(value) if isinstance(value, list) else 0


def _block_indices(header: GGUFHeader, prefix: str) -> set[int]:
    found: set[int] = set()
    for name in header.tensors:
        if name.startswith(prefix):
            index = name[len(prefix) :].split(".", 1)[0]
            if index.isdigit():
                found.add(int(index))
    return found


def _layer_count(header: GGUFHeader, key: str, prefix: str) -> int:
    """The key's layer count, once every layer below it has tensors: a count is never trusted
    further than the tensors the file holds (2**31 layers would otherwise be 2**31 names)."""
    n_layer = _int_key(header, key)
    found = _block_indices(header, prefix)
    missing = next((i for i in range(len(found) + 1) if i not in found), None)
    if missing is not None and missing < n_layer:
        raise ModelFileError(header.path, f"missing tensors for layer {prefix}{missing} ({key} is {n_layer})")
    return n_layer


def _shape(header: GGUFHeader, name: str, expected: tuple[int | None, ...], why: str) -> tuple[int, ...]:
    """The tensor's ggml shape (innermost first), checked where `expected` gives a size (None: any)."""
    shape = header.tensors[name].shape
    if len(shape) != len(expected) or any(want is not None and got != want for got, want in zip(shape, expected)):
        wanted = ", ".join("*" if want is None else str(want) for want in expected)
        raise ModelFileError(header.path, f"tensor {name} has shape {list(shape)}, expected [{wanted}] ({why})")
    return shape


def _check_shape_if_present(header: GGUFHeader, name: str, expected: tuple[int | None, ...], why: str) -> None:
    if name in header.tensors:
        _shape(header, name, expected, why)


def _check_linear(header: GGUFHeader, prefix: str, n_in: int, n_out: int | None, why: str) -> int:
    """`prefix.weight` takes `n_in` inputs (and gives `n_out`, when given); `prefix.bias`, if any,
    matches its outputs. Returns the number of outputs: a matmul of other sizes aborts ggml."""
    n_out = _shape(header, f"{prefix}.weight", (n_in, n_out), why)[1]
    _check_shape_if_present(header, f"{prefix}.bias", (n_out,), f"{prefix}.weight gives {n_out}")
    return n_out


def _check_text_attention(header: GGUFHeader, arch: str, n_embd: int) -> None:
    """Head counts and rotary sizes llama.cpp divides by, or asserts on while building the graph."""
    key = f"{arch}.attention.head_count"
    heads = header.metadata.get(key)
    if isinstance(heads, (list, ArrayInfo)):
        return  # one count per layer: llama.cpp checks those itself
    n_head = _int_key(header, key)
    kv_key = f"{arch}.attention.head_count_kv"
    if isinstance(header.metadata.get(kv_key), int):
        _divides(header, kv_key, _int_key(header, kv_key), key, n_head)
    head_key = f"{arch}.attention.key_length"
    if head_key in header.metadata:
        head_dim = _int_key(header, head_key)
    else:
        _divides(header, key, n_head, f"{arch}.embedding_length", n_embd)
        head_dim = n_embd // n_head
    rot_key = f"{arch}.rope.dimension_count"
    n_rot = head_dim
    if rot_key in header.metadata:
        n_rot = _int_key(header, rot_key)
        if n_rot > head_dim or n_rot % 2:
            raise ModelFileError(
                header.path, f"metadata key {rot_key} ({n_rot}) must be even and at most the head size {head_dim}"
            )
    sections_key = f"{arch}.rope.dimension_sections"
    sections = header.metadata.get(sections_key)
    if isinstance(sections, list) and (
        not all(isinstance(n, int) and n >= 0 for n in sections) or not 0 < sum(sections) <= n_rot // 2
    ):
        raise ModelFileError(
            header.path,
            f"metadata key {sections_key} {sections} must add up to between 1 and {n_rot // 2} (half of {n_rot})",
        )


def validate_text_model(header: GGUFHeader) -> TextModelInfo:
    arch = header.metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelFileError(header.path, "missing metadata key general.architecture")
    if arch == "clip":
        raise ModelFileError(
            header.path, "this is an mmproj (architecture 'clip'), not a text model; are the files swapped?"
        )
    _require_keys(header, (f"{arch}.context_length", f"{arch}.embedding_length", f"{arch}.block_count"))
    _require_keys(header, ("tokenizer.ggml.model", "tokenizer.ggml.tokens"))
    if arch in ("qwen2vl", "qwen3vl", "qwen3vlmoe"):
        _require_keys(header, (f"{arch}.rope.dimension_sections",))
    n_embd = _int_key(header, f"{arch}.embedding_length")
    _require_tensors(header, ("token_embd.weight", "output_norm.weight"), f"every {arch} text model has it")
    n_layer = _layer_count(header, f"{arch}.block_count", "blk.")
    if f"{arch}.attention.head_count" in header.metadata:
        _check_text_attention(header, arch, n_embd)
    n_vocab = _count(header.metadata["tokenizer.ggml.tokens"])
    embd_rows = header.tensors["token_embd.weight"].shape[-1]
    if embd_rows != n_vocab:
        raise ModelFileError(
            header.path, f"token_embd.weight has {embd_rows} rows but the tokenizer lists {n_vocab} tokens"
        )
    template = header.metadata.get("tokenizer.chat_template")
    return TextModelInfo(header.path, arch, n_embd, n_layer, n_vocab, isinstance(template, str) and bool(template))


def _projector_type(header: GGUFHeader) -> str:
    for key in ("clip.projector_type", "clip.vision.projector_type"):
        value = header.metadata.get(key)
        if isinstance(value, str) and value:
            return value
    raise ModelFileError(header.path, "missing metadata key clip.projector_type")


@dataclass(frozen=True)
class _Vision:
    """The vision encoder's sizes, from its metadata keys."""

    n_embd: int
    n_layer: int
    patch: int
    image_size: int


_EMBD = "clip.vision.embedding_length"


def _check_vit_blocks(header: GGUFHeader, vision: _Vision, *, qkv_bias: bool) -> None:
    """Tensors the llava/qwen ViT graphs use unconditionally (NULL there means a segfault), and
    the shapes their matmuls and norms need (another shape is a ggml abort)."""
    n_embd = vision.n_embd
    why = f"{_EMBD} is {n_embd}"
    for i in range(vision.n_layer):
        p = f"v.blk.{i}."
        names = [p + f"attn_{x}.weight" for x in "qkv"]
        if qkv_bias:
            names += [p + f"attn_{x}.bias" for x in "qkv"]
        names += [p + "attn_out.weight", p + "ffn_up.weight", p + "ffn_down.weight"]
        _require_tensors(header, names, f"vision block {i}")
        for proj in ("attn_q", "attn_k", "attn_v", "attn_out"):
            _check_linear(header, p + proj, n_embd, n_embd, why)
        for norm in ("ln1", "ln2"):
            for kind in ("weight", "bias"):
                _check_shape_if_present(header, f"{p}{norm}.{kind}", (n_embd,), why)
        hidden = _check_linear(header, p + "ffn_up", n_embd, None, why)
        if p + "ffn_gate.weight" in header.tensors:
            _check_linear(header, p + "ffn_gate", n_embd, hidden, f"{p}ffn_up.weight gives {hidden}")
        _check_linear(header, p + "ffn_down", hidden, n_embd, f"{p}ffn_up.weight gives {hidden}; {why}")


def _check_patch_embedding(header: GGUFHeader, name: str, vision: _Vision) -> None:
    p = vision.patch
    _shape(header, name, (p, p, 3, vision.n_embd), f"clip.vision.patch_size {p}, 3 colours, {_EMBD} {vision.n_embd}")


def _check_mlp(header: GGUFHeader, vision: _Vision) -> int:
    _require_tensors(header, ("v.patch_embd.weight", "v.position_embd.weight"), "mlp projector input")
    n_embd = vision.n_embd
    if vision.image_size < vision.patch:
        raise ModelFileError(
            header.path,
            f"metadata key clip.vision.image_size ({vision.image_size}) is smaller than clip.vision.patch_size"
            f" ({vision.patch}): no image patches",
        )
    _check_patch_embedding(header, "v.patch_embd.weight", vision)
    _check_shape_if_present(header, "v.patch_embd.bias", (n_embd,), f"{_EMBD} is {n_embd}")
    _check_shape_if_present(header, "v.class_embd", (n_embd,), f"{_EMBD} is {n_embd}")
    positions = (vision.image_size // vision.patch) ** 2 + ("v.class_embd" in header.tensors)
    rows = _shape(header, "v.position_embd.weight", (n_embd, None), f"{_EMBD} is {n_embd}")[1]
    if rows < positions:
        raise ModelFileError(
            header.path,
            f"tensor v.position_embd.weight has {rows} positions but clip.vision.image_size {vision.image_size}"
            f" and clip.vision.patch_size {vision.patch} need {positions}",
        )
    for norm in ("v.pre_ln", "v.post_ln"):
        for kind in ("weight", "bias"):
            _check_shape_if_present(header, f"{norm}.{kind}", (n_embd,), f"{_EMBD} is {n_embd}")
    _check_vit_blocks(header, vision, qkv_bias=False)
    if "mm.3.weight" in header.tensors:  # Yi-style llava: clip.cpp switches to mlp_norm
        names = [f"mm.{i}.{kind}" for i in (0, 1, 3, 4) for kind in ("weight", "bias")]
        _require_tensors(header, names, "mlp_norm projector")
        hidden = _check_linear(header, "mm.0", n_embd, None, f"{_EMBD} is {n_embd}")
        for kind in ("weight", "bias"):
            _shape(header, f"mm.1.{kind}", (hidden,), f"mm.0.weight gives {hidden}")
        out = _check_linear(header, "mm.3", hidden, None, f"mm.0.weight gives {hidden}")
        for kind in ("weight", "bias"):
            _shape(header, f"mm.4.{kind}", (out,), f"mm.3.weight gives {out}")
        return out
    _require_tensors(header, ("mm.0.weight", "mm.0.bias", "mm.2.weight", "mm.2.bias"), "mlp projector")
    hidden = _check_linear(header, "mm.0", n_embd, None, f"{_EMBD} is {n_embd}")
    return _check_linear(header, "mm.2", hidden, None, f"mm.0.weight gives {hidden}")


def _check_qwen_merger(header: GGUFHeader, projector: str, vision: _Vision) -> int:
    _require_tensors(header, ("v.patch_embd.weight", "v.patch_embd.weight.1"), f"{projector} patch embedding")
    for forbidden in ("v.patch_embd.bias", "v.class_embd"):
        if forbidden in header.tensors:  # clip.cpp GGML_ASSERTs (aborts) on these for qwen
            raise ModelFileError(header.path, f"unexpected tensor {forbidden} for projector {projector}")
    if projector == "qwen2.5vl_merger":
        _require_keys(header, ("clip.vision.n_wa_pattern",))
    merge = (
        _int_key(header, "clip.vision.spatial_merge_size") if "clip.vision.spatial_merge_size" in header.metadata else 2
    )
    n_embd = vision.n_embd
    for name in ("v.patch_embd.weight", "v.patch_embd.weight.1"):
        _check_patch_embedding(header, name, vision)
    for kind in ("weight", "bias"):
        _check_shape_if_present(header, f"v.post_ln.{kind}", (n_embd,), f"{_EMBD} is {n_embd}")
    _check_vit_blocks(header, vision, qkv_bias=True)
    _require_tensors(header, ("mm.0.weight", "mm.0.bias", "mm.2.weight", "mm.2.bias"), f"{projector} merger")
    merged = n_embd * merge * merge
    hidden = _check_linear(
        header, "mm.0", merged, None, f"{_EMBD} {n_embd} times clip.vision.spatial_merge_size {merge} squared"
    )
    return _check_linear(header, "mm.2", hidden, None, f"mm.0.weight gives {hidden}")


def _check_other_projector(header: GGUFHeader) -> None:
    _require_tensors(header, ("v.patch_embd.weight",), "vision patch embedding")
    if "v.position_embd.weight" not in header.tensors and not _block_indices(header, "v.blk."):
        raise ModelFileError(header.path, "missing tensor v.position_embd.weight and no v.blk.* vision blocks")


def _vision(header: GGUFHeader) -> _Vision:
    """The encoder's sizes; the values clip.cpp divides by or asserts on are checked here."""
    n_embd = _int_key(header, _EMBD)
    n_head = _int_key(header, "clip.vision.attention.head_count")
    _divides(header, "clip.vision.attention.head_count", n_head, _EMBD, n_embd)
    _positive_float_key(header, "clip.vision.attention.layer_norm_epsilon")
    return _Vision(
        n_embd=n_embd,
        n_layer=_layer_count(header, "clip.vision.block_count", "v.blk."),
        patch=_int_key(header, "clip.vision.patch_size"),
        image_size=_int_key(header, "clip.vision.image_size"),
    )


def validate_mmproj(header: GGUFHeader) -> MmprojInfo:
    arch = header.metadata.get("general.architecture", "clip")
    if arch != "clip":
        raise ModelFileError(
            header.path, f"not an mmproj: architecture is {arch!r}, expected 'clip'; are the files swapped?"
        )
    if header.metadata.get("clip.has_vision_encoder") is not True:
        raise ModelFileError(
            header.path, "clip.has_vision_encoder is missing or false: this mmproj has no vision encoder"
        )
    projector = _projector_type(header)
    _require_keys(header, _VISION_KEYS)
    for key in ("clip.vision.image_mean", "clip.vision.image_std"):
        if _count(header.metadata.get(key, [])) < 3:
            raise ModelFileError(header.path, f"metadata key {key} must list 3 values")
    vision = _vision(header)
    n_embd_out: int | None = None
    if projector == "mlp":
        n_embd_out = _check_mlp(header, vision)
    elif projector in ("qwen2vl_merger", "qwen2.5vl_merger"):
        n_embd_out = _check_qwen_merger(header, projector, vision)
    else:
        _check_other_projector(header)
    return MmprojInfo(header.path, projector, n_embd_out)


def check_compatible(text: TextModelInfo, mmproj: MmprojInfo, handler: str) -> None:
    """Raise ModelFileError if the pair cannot work together or with `handler`."""
    projector = mmproj.projector_type
    if mmproj.n_embd_out is not None and mmproj.n_embd_out != text.n_embd:
        raise ModelFileError(
            mmproj.path,
            f"projector outputs {mmproj.n_embd_out}-dim embeddings but {text.path.name} has n_embd"
            f" {text.n_embd}; wrong mmproj for this model",
        )
    archs = QWEN_TEXT_ARCHS.get(projector)
    if archs is not None and text.architecture not in archs:
        raise ModelFileError(
            text.path,
            f"architecture {text.architecture!r} cannot take {projector} images (needs {' or '.join(sorted(archs))})",
        )
    known = LLAVA_PROJECTORS | QWEN_PROJECTORS
    allowed = HANDLER_PROJECTORS.get(handler)
    if allowed is not None and projector in known and projector not in allowed:
        raise ModelFileError(mmproj.path, f"handler {handler!r} does not fit projector type {projector!r}")
    if handler == "mtmd" and not text.has_chat_template:
        raise ModelFileError(
            text.path, "no tokenizer.chat_template, which the 'mtmd' handler needs; pick another handler"
        )


# --- cached entry points ------------------------------------------------------------------------

_T = TypeVar("_T")
_cache: dict[tuple[str, str, int, int], Any] = {}
_cache_lock = threading.Lock()


def _cached(kind: str, path: Path, validate: Callable[[GGUFHeader], _T]) -> _T:
    try:
        stat = os.stat(path)
    except OSError:
        raise ModelFileError(path, "file not found") from None
    key = (kind, str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is None:
        try:
            hit = validate(read_header(Path(path)))
        except ModelFileError as err:
            hit = err  # remembered: an unchanged broken file fails again without re-reading
        with _cache_lock:
            _cache[key] = hit
    if isinstance(hit, ModelFileError):
        raise hit
    return hit


def check_text_model(path: Path) -> TextModelInfo:
    return _cached("text", path, validate_text_model)


def check_mmproj(path: Path) -> MmprojInfo:
    return _cached("mmproj", path, validate_mmproj)


def check_model_pair(text_path: Path, mmproj_path: Path, handler: str) -> tuple[TextModelInfo, MmprojInfo]:
    """Validate both files and their fit with `handler`; cached, so cheap to call per image."""
    text = check_text_model(text_path)
    mmproj = check_mmproj(mmproj_path)
    check_compatible(text, mmproj, handler)
    return text, mmproj
