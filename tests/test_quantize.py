"""`alttext models quantize`: llama.cpp's in-process quantizer on the tiny random-weight text model,
and the quantized model in use (no mocks)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tiny_models as tm
from conftest import invoke
from test_engine import RED, SETTINGS, SYSTEM, USER

from alttext_tools.cli.models import models
from alttext_tools.engines.llama import LocalEngine
from alttext_tools.errors import ModelFileError
from alttext_tools.models.gguf_check import read_header
from alttext_tools.models.quantize import QUANT_TYPES, quantize
from alttext_tools.models.spec import ModelSpec


@pytest.mark.parametrize("quant_type", ["Q8_0", "Q4_K_M"])
def test_a_quantized_model_has_the_type_and_describes_images(
    tiny_models: dict[str, Path], tmp_path: Path, quant_type: str
) -> None:
    target = tmp_path / f"tiny-{quant_type}.gguf"
    quantize(tiny_models["moondream_text"], target, quant_type, threads=1)
    assert read_header(target).metadata["general.file_type"] == QUANT_TYPES[quant_type]
    assert not list(tmp_path.glob(".*.part"))
    spec = ModelSpec("tiny-q", target, tiny_models["moondream_mmproj"], "moondream")
    with LocalEngine(SETTINGS) as engine:
        assert engine.generate(spec, RED, SYSTEM, USER).text


# Wide enough for llama.cpp's AMX kernels (and its other repacked CPU layouts) to take the
# quantized matrices; still a few MB.
AMX_SIZED = tm.TextShape(n_embd=256, n_layer=1, n_head=4, n_head_kv=4, n_ff=1024, n_ctx_train=512)

DESCRIBE_IN_A_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from alttext_tools.engines.base import EngineSettings
    from alttext_tools.engines.llama import LocalEngine
    from alttext_tools.models.spec import ModelSpec

    text, mmproj, image = map(Path, sys.argv[1:4])
    spec = ModelSpec("amx-sized", text, mmproj, "moondream")
    with LocalEngine(EngineSettings(n_threads=1, n_ctx=1024, max_tokens=4)) as engine:
        print("described", engine.generate(spec, image.read_bytes(), "Alt text.", "Describe.").tokens)
    """
)


@pytest.mark.parametrize("quant_type", ["Q8_0", "Q4_K_M"])
def test_a_quantized_model_llama_cpp_repacks_describes_images(tmp_path: Path, quant_type: str) -> None:
    """On CPUs with AMX, llama.cpp 0.3.36's AMX matmul crashes the process on the first quantized
    layer of this size (docs/engines.md, "AMX"): the engine loads quantized models without llama.cpp's
    extra CPU buffers there. In a child process, so that a crash fails this test only."""
    text = tm.write_gguf(tmp_path / "text.gguf", tm.phi2_text(tm.Weights(tm.SEED), None, AMX_SIZED))
    mmproj = tm.write_gguf(
        tmp_path / "mmproj.gguf", tm.mlp_mmproj(tm.Weights(tm.SEED + 1), tm.VisionShape(), AMX_SIZED.n_embd, "amx")
    )
    quantized = tmp_path / f"text-{quant_type}.gguf"
    quantize(text, quantized, quant_type, threads=1)
    image = tmp_path / "red.png"
    image.write_bytes(RED)
    done = subprocess.run(
        [sys.executable, "-c", DESCRIBE_IN_A_CHILD, str(quantized), str(mmproj), str(image)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("described ")


def test_the_command_prints_the_new_file(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    code, out, err = invoke(
        models,
        ["quantize", str(tiny_models["moondream_text"]), "small.gguf", "--type", "q8_0", "--threads", "1"],
        tmp_path,
    )
    assert code == 0, err
    assert out.strip() == "small.gguf"
    assert "to Q8_0" in err and "done in" in err
    assert (tmp_path / "small.gguf").is_file()


def test_bad_sources_fail_in_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model at all, just some bytes")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        quantize(bogus, tmp_path / "out.gguf", "Q8_0")
    code, _, err = invoke(models, ["quantize", str(bogus), "out.gguf"], tmp_path)
    assert code == 3
    assert [line for line in err.splitlines() if line.startswith("Error:")] == [
        f"Error: {bogus}: not a GGUF file (starts with b'not ', expected b'GGUF')"
    ]
    assert not (tmp_path / "out.gguf").exists()
    with pytest.raises(ValueError, match="unknown quantization type 'Q3'"):
        quantize(bogus, tmp_path / "out.gguf", "Q3")


def test_the_source_is_never_replaced(tiny_models: dict[str, Path]) -> None:
    source = tiny_models["moondream_text"]
    with pytest.raises(ModelFileError, match="must not replace its source"):
        quantize(source, source, "Q8_0")
