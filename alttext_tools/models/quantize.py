"""Quantize a text GGUF in process with llama.cpp's own quantizer (`llama_model_quantize`), the
code behind `llama-quantize`: `alttext models quantize`. The trade-off of each type: docs/models.md."""

from __future__ import annotations

import os
import time
from pathlib import Path

from alttext_tools.errors import ModelFileError
from alttext_tools.models.gguf_check import check_text_model

# The types offered, as llama.cpp names them, and their `llama_ftype` values (llama.h). Sizes and
# quality from llama.cpp's tools/quantize/README.md: Q8_0 is nearly lossless, Q4_K_M the usual
# balance of size and quality.
QUANT_TYPES: dict[str, int] = {
    "Q4_0": 2,
    "Q8_0": 7,
    "Q4_K_M": 15,
    "Q5_K_M": 17,
    "Q6_K": 18,
}


def quantize(source: Path, target: Path, quant_type: str, threads: int = 0) -> float:
    """Write `source` (a text GGUF) quantized to `quant_type` as `target`; seconds spent.

    The file appears under its name only when complete (written beside it, then renamed).
    Raises ValueError for an unknown type, ModelFileError when llama.cpp cannot read `source`
    or write `target`."""
    ftype = QUANT_TYPES.get(quant_type.upper())
    if ftype is None:
        raise ValueError(f"unknown quantization type {quant_type!r}; choose from: {', '.join(QUANT_TYPES)}")
    check_text_model(source)
    if target.resolve() == source.resolve():
        raise ModelFileError(target, "the quantized model must not replace its source")
    import llama_cpp

    from alttext_tools.engines.llama import native_detail, silence_native_logs

    silence_native_logs()
    partial = target.with_name(f".{target.name}.part")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    started = time.perf_counter()
    try:
        code = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params)
        if code != 0:
            raise ModelFileError(source, f"llama.cpp could not quantize the model to {quant_type}{native_detail()}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return time.perf_counter() - started
