"""`alttext models quantize`: llama.cpp's in-process quantizer on the tiny random-weight text model,
and the quantized model in use (no mocks)."""

from __future__ import annotations

from pathlib import Path

import pytest
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
