"""LocalEngine with real llama.cpp inference on the tiny random-weight models (no mocks)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiny_models as tm  # the fixture is called tiny_models
from PIL import Image, ImageDraw

from alttext_tools.engines.base import EngineSettings, Generation
from alttext_tools.engines.llama import LocalEngine, llama_accepts_grammar
from alttext_tools.errors import AltTextError, GenerationError, ModelFileError
from alttext_tools.images.errors import ImageDecodeError
from alttext_tools.models import gguf_check
from alttext_tools.models.spec import ModelSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
# One thread: tiny matmuls gain nothing from two, and llama.cpp's spinning threads collapse
# (seconds per call) when the cores are shared with other test processes.
SETTINGS = EngineSettings(n_threads=1, n_ctx=1024, max_tokens=24)
SYSTEM = "You write alt text for images."
USER = "Describe this image in one sentence."
SCHEMA = {
    "type": "object",
    "properties": {"alt": {"type": "string", "maxLength": 40}, "decorative": {"type": "boolean"}},
    "required": ["alt", "decorative"],
}
HANDLER_FILES = {
    "moondream": ("moondream_text", "moondream_mmproj"),
    "llava": ("moondream_text", "moondream_mmproj"),
    "mtmd": ("moondream_text", "moondream_mmproj"),
    "qwen2.5-vl": ("qwen_text", "qwen_mmproj"),
}


def make_png(kind: str) -> bytes:
    image = Image.new("RGB", (64, 48), (210, 40, 30) if kind == "red" else (20, 40, 200))
    if kind == "stripes":
        draw = ImageDraw.Draw(image)
        for x in range(0, 64, 8):
            draw.rectangle([x, 0, x + 3, 47], fill=(255, 255, 255))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


RED = make_png("red")
STRIPES = make_png("stripes")


def spec_for(models: dict[str, Path], handler: str, name: str = "tiny") -> ModelSpec:
    text, mmproj = HANDLER_FILES[handler]
    return ModelSpec(name, models[text], models[mmproj], handler)


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalEngine]:
    with LocalEngine(SETTINGS) as shared:
        yield shared


# --- happy path ----------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", list(HANDLER_FILES))
def test_every_handler_generates(engine: LocalEngine, tiny_models: dict[str, Path], handler: str) -> None:
    spec = spec_for(tiny_models, handler)
    result = engine.generate(spec, RED, SYSTEM, USER)
    assert isinstance(result, Generation)
    assert result.text and result.text.isascii() and result.text.isprintable()
    assert (result.model_id, result.handler, result.json_mode) == (spec.model_id, handler, False)
    assert 0 < result.tokens <= SETTINGS.max_tokens
    assert result.encode_s is not None and result.encode_s > 0
    assert result.generate_s > 0 and result.total_s >= result.encode_s + result.generate_s
    assert result.finish_reason in ("stop", "length")


@pytest.mark.parametrize("handler", list(HANDLER_FILES))
def test_deterministic_and_image_dependent(engine: LocalEngine, tiny_models: dict[str, Path], handler: str) -> None:
    spec = spec_for(tiny_models, handler)
    first = engine.generate(spec, RED, SYSTEM, USER).text
    assert engine.generate(spec, STRIPES, SYSTEM, USER).text != first
    assert engine.generate(spec, RED, SYSTEM, USER).text == first


def test_model_loads_once_for_many_images(tiny_models: dict[str, Path]) -> None:
    spec = spec_for(tiny_models, "moondream")
    with LocalEngine(SETTINGS) as fresh:
        results = [fresh.generate(spec, image, SYSTEM, USER) for image in (RED, STRIPES) * 3]
        assert fresh.load_counts == {spec.model_id: 1}
        assert results[0].load_s > 0
        assert all(r.load_s == 0.0 for r in results[1:])
        assert fresh.load(spec) == 0.0


def test_close_is_idempotent_and_final(tiny_models: dict[str, Path]) -> None:
    spec = spec_for(tiny_models, "qwen2.5-vl")
    fresh = LocalEngine(SETTINGS)
    fresh.generate(spec, RED, SYSTEM, USER)
    loaded = fresh._loaded[spec.model_id]
    assert fresh.loaded_models == [spec.model_id]
    fresh.close()
    fresh.close()
    assert fresh.loaded_models == []
    assert loaded.chat_handler.mtmd_ctx is None  # the vision context was freed with the model
    with pytest.raises(RuntimeError, match="closed"):
        fresh.generate(spec, RED, SYSTEM, USER)


def test_image_max_tokens_caps_dynamic_resolution(tiny_models: dict[str, Path]) -> None:
    spec = spec_for(tiny_models, "qwen2.5-vl")
    big = Image.new("RGB", (320, 240), (20, 40, 200))  # 1200 image tokens uncapped
    ImageDraw.Draw(big).ellipse([40, 30, 280, 210], fill=(250, 220, 30))
    buf = io.BytesIO()
    big.save(buf, "PNG")

    def texts(cap: int | None) -> tuple[str, str]:
        settings = EngineSettings(n_threads=1, n_ctx=2048, max_tokens=16, image_max_tokens=cap)
        with LocalEngine(settings) as fresh:
            return fresh.generate(spec, buf.getvalue(), SYSTEM, USER).text, fresh.generate(spec, RED, SYSTEM, USER).text

    capped, uncapped = texts(64), texts(None)
    assert capped[0] != uncapped[0]  # the big image was downscaled to fit 64 tokens
    assert capped[1] == uncapped[1]  # the 48-token image was not


# --- JSON mode -----------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", ["moondream", "qwen2.5-vl"])
def test_json_schema_mode_returns_valid_json(tiny_models: dict[str, Path], handler: str) -> None:
    with LocalEngine(EngineSettings(n_threads=1, n_ctx=1024, max_tokens=120)) as fresh:
        result = fresh.generate(spec_for(tiny_models, handler), RED, SYSTEM, "Answer in JSON.", SCHEMA)
    assert result.json_mode
    data = json.loads(result.text)
    assert isinstance(data["alt"], str) and len(data["alt"]) <= 40
    assert isinstance(data["decorative"], bool)


def test_unsupported_schema_falls_back_to_plain_text(engine: LocalEngine, tiny_models: dict[str, Path]) -> None:
    spec = spec_for(tiny_models, "moondream")
    result = engine.generate(spec, RED, SYSTEM, USER, {"type": "no-such-type"})
    assert not result.json_mode
    assert result.text == engine.generate(spec, RED, SYSTEM, USER).text


def test_grammar_check_uses_llama_cpp_parser(engine: LocalEngine, tiny_models: dict[str, Path]) -> None:
    spec = spec_for(tiny_models, "moondream")
    engine.load(spec)
    llm = engine._loaded[spec.model_id].llm
    assert llama_accepts_grammar(llm, 'root ::= "{" [a-z]* "}"')
    assert not llama_accepts_grammar(llm, "root ::= (")
    assert not llama_accepts_grammar(llm, "root ::= undefined-rule")


# --- per-image errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("handler", ["moondream", "qwen2.5-vl", "mtmd"])
def test_undecodable_image_then_next_image_works(
    engine: LocalEngine, tiny_models: dict[str, Path], handler: str
) -> None:
    spec = spec_for(tiny_models, handler)
    expected = engine.generate(spec, RED, SYSTEM, USER).text
    for bad in (b"definitely not an image", RED[: len(RED) // 3], b""):
        with pytest.raises(ImageDecodeError) as info:
            engine.generate(spec, bad, SYSTEM, USER)
        assert "\n" not in str(info.value) and spec.model_id in str(info.value)
    assert engine.generate(spec, RED, SYSTEM, USER).text == expected


def test_runaway_partial_utf8_is_capped(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    trap = ModelSpec(
        "trap", tm.build_utf8_trap_text(tmp_path / "trap.gguf"), tiny_models["moondream_mmproj"], "moondream"
    )
    good = spec_for(tiny_models, "moondream")
    with LocalEngine(SETTINGS) as fresh:
        with pytest.raises(GenerationError, match="incomplete UTF-8"):
            fresh.generate(trap, RED, SYSTEM, USER)
        assert fresh.generate(good, RED, SYSTEM, USER).text
        with pytest.raises(GenerationError, match="incomplete UTF-8"):
            fresh.generate(trap, RED, SYSTEM, USER)  # same loaded model, still usable
        assert fresh.load_counts[trap.model_id] == 1


def test_context_overflow_is_a_generation_error(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    trap = ModelSpec(
        "trap", tm.build_utf8_trap_text(tmp_path / "trap.gguf"), tiny_models["moondream_mmproj"], "moondream"
    )
    # max_tokens beyond n_ctx: the runaway hits the context end before the cap does.
    with LocalEngine(EngineSettings(n_threads=1, n_ctx=128, max_tokens=500)) as fresh:
        with pytest.raises(GenerationError, match="n_ctx 128"):
            fresh.generate(trap, RED, SYSTEM, USER)
        assert fresh.generate(spec_for(tiny_models, "moondream"), RED, SYSTEM, USER).text


@pytest.mark.parametrize("handler", ["moondream", "qwen2.5-vl"])
def test_prompt_longer_than_context(tiny_models: dict[str, Path], handler: str) -> None:
    spec = spec_for(tiny_models, handler)
    with LocalEngine(EngineSettings(n_threads=1, n_ctx=32, max_tokens=8)) as fresh:
        for _ in range(2):  # and the model stays usable for the next image
            with pytest.raises(GenerationError, match="do not fit the context"):
                fresh.generate(spec, RED, SYSTEM, USER)


# --- model file errors ---------------------------------------------------------------------------


def _truncated(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size * 2 // 3])
    return dst


def _wrong_magic(src: Path, dst: Path) -> Path:
    dst.write_bytes(b"GGUX" + src.read_bytes()[4:])
    return dst


@pytest.mark.parametrize(
    ("case", "slot", "expected"),
    [
        ("truncated text", "text", "truncated"),
        ("truncated mmproj", "mmproj", "truncated"),
        ("wrong magic", "text", "not a GGUF file"),
        ("missing file", "mmproj", "file not found"),
        ("missing mm.0.bias", "mmproj", "missing tensor mm.0.bias"),
        ("missing vision key", "mmproj", "missing metadata key clip.vision.image_size"),
        ("missing text key", "text", "missing metadata key phi2.block_count"),
        ("missing text tensor", "text", "missing tensors for layer blk.1"),
        ("swapped files", "text", "not a text model"),
    ],
)
def test_broken_model_files(
    engine: LocalEngine, tiny_models: dict[str, Path], tmp_path: Path, case: str, slot: str, expected: str
) -> None:
    text, mmproj = tiny_models["moondream_text"], tiny_models["moondream_mmproj"]
    broken = tmp_path / f"{case.replace(' ', '-')}.gguf"
    if case == "truncated text":
        text = _truncated(text, broken)
    elif case == "truncated mmproj":
        mmproj = _truncated(mmproj, broken)
    elif case == "wrong magic":
        text = _wrong_magic(text, broken)
    elif case == "missing file":
        mmproj = broken
    elif case == "missing mm.0.bias":
        mmproj = tm.build_variant("moondream_mmproj", broken, drop_tensors=["mm.0.bias"])
    elif case == "missing vision key":
        mmproj = tm.build_variant("moondream_mmproj", broken, drop_keys=["clip.vision.image_size"])
    elif case == "missing text key":
        text = tm.build_variant("moondream_text", broken, drop_keys=["phi2.block_count"])
    elif case == "missing text tensor":
        names = [n for n in tm.tensor_names("moondream_text") if n.startswith("blk.1.")]
        text = tm.build_variant("moondream_text", broken, drop_tensors=names)
    elif case == "swapped files":
        text, mmproj = mmproj, text
    spec = ModelSpec(case.replace(" ", "-"), text, mmproj, "moondream")
    with pytest.raises(ModelFileError) as info:
        engine.generate(spec, RED, SYSTEM, USER)
    message = str(info.value)
    assert isinstance(info.value, AltTextError)
    assert "\n" not in message and expected in message
    assert str(text if slot == "text" else mmproj) in message
    assert spec.model_id not in engine.load_counts  # llama.cpp never saw the file


@pytest.mark.parametrize(
    ("handler", "files", "expected"),
    [
        ("qwen2.5-vl", ("moondream_text", "moondream_mmproj"), "does not fit projector type 'mlp'"),
        ("moondream", ("qwen_text", "qwen_mmproj"), "does not fit projector type 'qwen2.5vl_merger'"),
        ("qwen2.5-vl", ("moondream_text", "qwen_mmproj"), "cannot take qwen2.5vl_merger images"),
    ],
)
def test_handler_must_fit_projector(
    engine: LocalEngine, tiny_models: dict[str, Path], handler: str, files: tuple[str, str], expected: str
) -> None:
    spec = ModelSpec("mismatch", tiny_models[files[0]], tiny_models[files[1]], handler)
    with pytest.raises(ModelFileError, match=expected):
        engine.generate(spec, RED, SYSTEM, USER)


def test_missing_tensor_never_reaches_llama_cpp(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """Without the check this mmproj SEGFAULTs the interpreter, so the proof runs in a child process."""
    broken = tm.build_variant("qwen_mmproj", tmp_path / "no-bias.gguf", drop_tensors=["v.blk.0.attn_q.bias"])
    code = (
        "import sys; from pathlib import Path\n"
        "from alttext_tools.engines.base import EngineSettings\n"
        "from alttext_tools.engines.llama import LocalEngine\n"
        "from alttext_tools.errors import ModelFileError\n"
        "from alttext_tools.models.spec import ModelSpec\n"
        "spec = ModelSpec('x', Path(sys.argv[1]), Path(sys.argv[2]), 'qwen2.5-vl')\n"
        "with LocalEngine(EngineSettings(n_threads=1, n_ctx=512)) as engine:\n"
        "    try:\n"
        "        engine.load(spec)\n"
        "    except ModelFileError as err:\n"
        "        print('ModelFileError:', err)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code, str(tiny_models["qwen_text"]), str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"ModelFileError: {broken}: missing tensor v.blk.0.attn_q.bias" in result.stdout


@pytest.mark.parametrize("key", ["qwen_text", "qwen_mmproj"])
def test_any_truncation_is_a_model_file_error(tiny_models: dict[str, Path], tmp_path: Path, key: str) -> None:
    data = tiny_models[key].read_bytes()
    cut = tmp_path / "cut.gguf"
    for size in [0, 3, 4, 10, 23, 24, 40, 100, 1000, 5000, *range(10_000, len(data), len(data) // 23)]:
        cut.write_bytes(data[:size])
        with pytest.raises(ModelFileError, match=re.escape(str(cut))):
            gguf_check.read_header(cut)


def test_validation_is_cached_per_file_version(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(tiny_models["moondream_mmproj"], copy)
    first = gguf_check.check_mmproj(copy)
    assert gguf_check.check_mmproj(copy) is first
    tm.build_variant("moondream_mmproj", copy, drop_tensors=["mm.2.bias"])
    os.utime(copy, ns=(0, 1))  # a different mtime even on coarse-timestamp filesystems
    with pytest.raises(ModelFileError, match=r"mm\.2\.bias"):
        gguf_check.check_mmproj(copy)


# --- logging -------------------------------------------------------------------------------------


def test_llama_cpp_and_mtmd_are_silent(tiny_models: dict[str, Path], capfd: pytest.CaptureFixture[str]) -> None:
    with LocalEngine(SETTINGS) as fresh:
        for handler in ("moondream", "qwen2.5-vl", "mtmd"):
            fresh.generate(spec_for(tiny_models, handler, name="quiet"), RED, SYSTEM, USER)
        with pytest.raises(ImageDecodeError):
            fresh.generate(spec_for(tiny_models, "moondream", name="quiet"), b"junk", SYSTEM, USER)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
