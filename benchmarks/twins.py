"""Real-size random-weight "twins" of the preset models, cached on disk and built only when missing.

    python benchmarks/twins.py [--preset moondream2|qwen2.5-vl-3b|all] [--quant f16|q8_0|q4_k_m]

A twin has the real model's architecture, tensor shapes and tokenizer vocabulary, and random
weights: it costs the same compute and memory per image as the real model and says nothing
meaningful. Twins measure time and memory, never quality (docs/benchmarks.md).

Shapes, from the models' published configs:
* moondream2 (https://huggingface.co/vikhyatk/moondream2, revision 2025-04-14, ``config.py``; the
  preset's GGUF is ggml-org/moondream2-20250414-GGUF): text ``dim`` 2048, ``n_layers`` 24,
  ``n_heads`` 32 (= kv heads), ``ff_dim`` 8192, ``vocab_size`` 51200, ``max_context`` 2048, phi
  partial rotary (32 of 64 head dims); vision ``enc_dim`` 1152, ``enc_n_layers`` 27,
  ``enc_n_heads`` 16, ``enc_ff_dim`` 4304, ``crop_size`` 378, ``enc_patch_size`` 14 (729 image
  tokens), projector ``proj_inner_dim`` 8192 -> ``proj_out_dim`` 2048. llama.cpp runs it as a
  phi2 text model with an ``mlp`` (LLaVA-style) mmproj.
* qwen2.5-vl-3b (https://huggingface.co/Qwen/Qwen2.5-VL-3B-Instruct, ``config.json``): text
  ``hidden_size`` 2048, ``num_hidden_layers`` 36, ``num_attention_heads`` 16,
  ``num_key_value_heads`` 2, ``intermediate_size`` 11008, ``vocab_size`` 151936, ``rope_theta``
  1e6, ``mrope_section`` [16, 24, 24]; vision ``hidden_size`` 1280, ``depth`` 32, ``num_heads``
  16, ``intermediate_size`` 3420, ``patch_size`` 14, ``spatial_merge_size`` 2,
  ``fullatt_block_indexes`` [7, 15, 23, 31] (window attention elsewhere: llama.cpp's
  ``n_wa_pattern`` 8, as its converter derives it), ``out_hidden_size`` 2048; image_size 560 (the
  converter's default). The real model ties its output to the token embedding; the twin has its
  own output matrix (the same matmul per token).

Vocabularies: llama.cpp's ``models/ggml-vocab-gpt-2.gguf`` (padded with unused tokens to
moondream2's 51200 rows) and ``ggml-vocab-qwen2.gguf`` (151936 rows, with Qwen2.5-VL's vision
tokens in their real slots), from the llama-cpp-python 0.3.36 sdist, which this script fetches
once with ``pip download``. Tensors are written by tests/tiny_models.py's writer (the same
architectures, at real size, streamed in F16); quantized text models are made from the F16 one by
llama.cpp's own ``llama_model_quantize``. The mmproj stays F16, as the presets download it.

Random weights never stop on their own, and the twins are built so they never do: the output
layer makes every token except printable-ASCII words practically impossible, end-of-turn
included. ``pin_output_kwargs`` adds the same as a ``logit_bias`` for callers of
``create_chat_completion``, and every benchmark generates ``PINNED_TOKENS`` tokens.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

import tiny_models as tm

PINNED_TOKENS = 40  # generated tokens per image in every twin benchmark (a typical alt text)

LLAMA_CPP_PYTHON = "0.3.36"
CACHE = Path(os.environ.get("ALTTEXT_BENCH_CACHE", Path.home() / ".cache" / "alttext-bench"))
TWINS = CACHE / "twins"
SDIST = CACHE / f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz"
VOCAB_DIR = CACHE / "vocab"
# Part of every twin's file name: a change to how twins are written gets new files.
TWIN_VERSION = "v1"

PRESETS = ("moondream2", "qwen2.5-vl-3b")
# quant name -> llama_ftype (llama.h: LLAMA_FTYPE_MOSTLY_F16 = 1, Q8_0 = 7, Q4_K_M = 15)
QUANTS = {"f16": 1, "q8_0": 7, "q4_k_m": 15}

MOONDREAM_TEXT = tm.TextShape(
    n_embd=2048, n_layer=24, n_head=32, n_head_kv=32, n_ff=8192, n_ctx_train=2048, rope_dims=32
)
MOONDREAM_VISION = tm.VisionShape(
    n_embd=1152, n_head=16, n_ff=4304, n_layer=27, image_size=378, patch=14, mm_hidden=8192
)
MOONDREAM_VOCAB_ROWS = 51200
QWEN_TEXT = tm.TextShape(
    n_embd=2048, n_layer=36, n_head=16, n_head_kv=2, n_ff=11008, n_ctx_train=128000, rope_sections=(16, 24, 24, 0)
)
QWEN_VISION = tm.VisionShape(
    n_embd=1280, n_head=16, n_ff=3420, n_layer=32, image_size=560, patch=14, merge=2, n_wa_pattern=8
)
# Qwen2.5-VL's special tokens missing from llama.cpp's qwen2 vocabulary, at their real ids.
QWEN_VISION_TOKENS = {
    151652: "<|vision_start|>",
    151653: "<|vision_end|>",
    151654: "<|vision_pad|>",
    151655: "<|image_pad|>",
}
QWEN_EOS = "<|im_end|>"

# The twins' tokenizer.chat_template passes a user message through unchanged: llama-cpp-python's
# handlers bring their own layouts, and llama-mtmd-cli (which reads this template) is given the
# handler's exact prompt text.
PASS_THROUGH_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{% endif %}{% endif %}{% endfor %}"
)


def _log(message: str) -> None:
    print(f"[twins] {message}", file=sys.stderr, flush=True)


# --- vocabularies --------------------------------------------------------------------------------


def ensure_sdist() -> Path:
    """The llama-cpp-python sdist (vendored llama.cpp source and vocabularies), fetched once."""
    if not SDIST.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        _log(f"downloading the llama-cpp-python {LLAMA_CPP_PYTHON} sdist into {CACHE}")
        requirement = f"llama-cpp-python=={LLAMA_CPP_PYTHON}"
        pip = [sys.executable, "-m", "pip", "download", requirement, "--no-binary", "llama-cpp-python"]
        subprocess.run([*pip, "--no-deps", "-d", str(CACHE)], check=True)
    return SDIST


def vocab_file(name: str) -> Path:
    """`vendor/llama.cpp/models/<name>` from the sdist, extracted once into the cache."""
    target = VOCAB_DIR / name
    if not target.is_file():
        member = f"llama_cpp_python-{LLAMA_CPP_PYTHON}/vendor/llama.cpp/models/{name}"
        VOCAB_DIR.mkdir(parents=True, exist_ok=True)
        with tarfile.open(ensure_sdist()) as tar:
            source = tar.extractfile(member)
            if source is None:
                raise FileNotFoundError(f"{SDIST}: no {member}")
            partial = target.with_suffix(".part")
            partial.write_bytes(source.read())
            partial.replace(target)
    return target


def _read_vocab(name: str) -> tuple[list[str], list[int], list[str]]:
    from gguf import GGUFReader

    reader = GGUFReader(vocab_file(name))
    fields = reader.fields
    tokens = [str(t) for t in fields["tokenizer.ggml.tokens"].contents()]
    types = [int(t) for t in fields["tokenizer.ggml.token_type"].contents()]
    merges = [str(m) for m in fields["tokenizer.ggml.merges"].contents()]
    return tokens, types, merges


def real_vocab(preset: str) -> tm.Vocab:
    """The preset's real BPE vocabulary, with end-of-turn blocked in the output layer."""
    if preset == "moondream2":
        tokens, types, merges = _read_vocab("ggml-vocab-gpt-2.gguf")
        unused = int(tm.TokenType.UNUSED)
        for i in range(len(tokens), MOONDREAM_VOCAB_ROWS):
            tokens.append(f"[PAD{i}]")
            types.append(unused)
        eos = tokens.index("<|endoftext|>")
        bos, template = eos, PASS_THROUGH_TEMPLATE
    elif preset == "qwen2.5-vl-3b":
        tokens, types, merges = _read_vocab("ggml-vocab-qwen2.gguf")
        control = int(tm.TokenType.CONTROL)
        for index, token in QWEN_VISION_TOKENS.items():
            if tokens[index] != token:
                tokens[index], types[index] = token, control
        eos, bos, template = tokens.index(QWEN_EOS), tokens.index("<|endoftext|>"), PASS_THROUGH_TEMPLATE
    else:
        raise ValueError(f"unknown twin preset {preset!r}; choose from: {', '.join(PRESETS)}")
    allowed = tm.printable_ascii_tokens(tokens, types)
    return tm.Vocab(tokens, types, merges, allowed, bos, eos, template, eos_bias=tm.BLOCKED)


# --- building ------------------------------------------------------------------------------------


def _specs(preset: str) -> tuple[Any, Any]:
    """(text, mmproj) file specs of `preset`'s twin: lazy tensors, F16 matrices."""
    vocab = real_vocab(preset)
    seed = tm.SEED + 1000 + PRESETS.index(preset) * 10
    if preset == "moondream2":
        text = tm.phi2_text(tm.Weights(seed, lazy=True), vocab, MOONDREAM_TEXT, "moondream2-twin-text")
        mmproj = tm.mlp_mmproj(tm.Weights(seed + 1, lazy=True), MOONDREAM_VISION, 2048, "moondream2-twin-mmproj")
    else:
        text = tm.qwen_text(tm.Weights(seed, lazy=True), vocab, QWEN_TEXT, "qwen2.5-vl-3b-twin-text")
        mmproj = tm.qwen_mmproj(tm.Weights(seed + 1, lazy=True), QWEN_VISION, 2048, "qwen2.5-vl-3b-twin-mmproj")
    return replace(text, dtype_of=tm.f16_weights), replace(mmproj, dtype_of=tm.f16_weights)


def _write_atomic(path: Path, spec: Any) -> None:
    partial = path.with_name(path.name + ".part")
    started = time.perf_counter()
    tm.write_gguf(partial, spec)
    partial.replace(path)
    _log(f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB, {time.perf_counter() - started:.0f} s)")


def quantize(source: Path, target: Path, quant: str, threads: int | None = None) -> None:
    """Quantize a text GGUF with llama.cpp's in-process API (what `llama-quantize` runs)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANTS[quant]
    params.nthread = threads or os.cpu_count() or 1
    partial = target.with_name(target.name + ".part")
    started = time.perf_counter()
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params)
    if status != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"llama_model_quantize {source} -> {quant} failed ({status})")
    partial.replace(target)
    _log(f"quantized {target} ({target.stat().st_size / 1e9:.2f} GB, {time.perf_counter() - started:.0f} s)")


def twin_paths(preset: str, quant: str = "f16") -> tuple[Path, Path]:
    """Where `ensure_twin` keeps the files (whether or not they exist yet)."""
    folder = TWINS / preset
    return folder / f"text-{quant}-{TWIN_VERSION}.gguf", folder / f"mmproj-f16-{TWIN_VERSION}.gguf"


def ensure_twin(preset: str, quant: str = "f16") -> tuple[Path, Path]:
    """(text model path, mmproj path) of `preset`'s twin in `quant`, built when missing."""
    if preset not in PRESETS:
        raise ValueError(f"unknown twin preset {preset!r}; choose from: {', '.join(PRESETS)}")
    if quant not in QUANTS:
        raise ValueError(f"unknown twin quant {quant!r}; choose from: {', '.join(QUANTS)}")
    text, mmproj = twin_paths(preset, quant)
    f16_text, _ = twin_paths(preset, "f16")
    if text.is_file() and mmproj.is_file():
        return text, mmproj
    text.parent.mkdir(parents=True, exist_ok=True)
    text_spec, mmproj_spec = _specs(preset)
    if not mmproj.is_file():
        _write_atomic(mmproj, mmproj_spec)
    if not f16_text.is_file():
        _write_atomic(f16_text, text_spec)
    if not text.is_file():
        quantize(f16_text, text, quant)
    return text, mmproj


# --- pinned output -------------------------------------------------------------------------------


def stop_token_ids(model_path: Path) -> list[int]:
    """End-of-generation ids of a GGUF: its eos, eot and every control token (end-of-turn markers)."""
    from gguf import GGUFReader

    fields = GGUFReader(model_path).fields
    ids = {
        int(fields[key].contents())
        for key in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id")
        if key in fields
    }
    types = fields["tokenizer.ggml.token_type"].contents()
    control = int(tm.TokenType.CONTROL)
    ids.update(i for i, kind in enumerate(types) if int(kind) == control)
    return sorted(ids)


_pin_cache: dict[Path, dict[str, Any]] = {}


def pin_output_kwargs(model_path: Path) -> dict[str, Any]:
    """`create_chat_completion` keyword arguments that make every call generate exactly
    PINNED_TOKENS tokens: end-of-turn and the other control tokens blocked, greedy sampling."""
    path = Path(model_path).resolve()
    if path not in _pin_cache:
        _pin_cache[path] = {
            "max_tokens": PINNED_TOKENS,
            "logit_bias": {i: -1e9 for i in stop_token_ids(path)},
            "temperature": 0.0,
        }
    return dict(_pin_cache[path])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=(*PRESETS, "all"), default="all")
    parser.add_argument("--quant", choices=tuple(QUANTS), default="f16")
    args = parser.parse_args(argv)
    for preset in PRESETS if args.preset == "all" else (args.preset,):
        text, mmproj = ensure_twin(preset, args.quant)
        print(f"{preset} {args.quant}: {text} {mmproj}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
