"""The first-run speed levers in LocalEngine, on the tiny random-weight models through the real
handlers (no mocks): prompt prefix reuse, per-request answer budgets, the llama.cpp settings."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from PIL import Image
from test_engine import HANDLER_FILES, RED, SETTINGS, STRIPES, SYSTEM, USER, spec_for

from alttext_tools.config import Config, apply_overrides
from alttext_tools.engines.base import EngineSettings, Generation, engine_settings
from alttext_tools.engines.llama import LocalEngine, common_prefix
from alttext_tools.generate.prompts import JSON_ANSWER_TOKENS, PLAIN_ANSWER_TOKENS, answer_token_budget
from alttext_tools.generate.provider import PHOTO_IMAGE_TOKENS, ModelProvider
from alttext_tools.images.errors import ImageDecodeError
from alttext_tools.models.slots import Slots, spec_from_paths
from alttext_tools.models.spec import ModelSpec, VisionModel
from alttext_tools.scan.dispatch import scan_file

FRESH = replace(SETTINGS, prefix_cache=False)
REUSING = replace(SETTINGS, prefix_cache=True)


def answers(settings: EngineSettings, spec: ModelSpec, requests: list[tuple[bytes, str]]) -> list[Generation]:
    with LocalEngine(settings) as engine:
        return [engine.generate(spec, image, system, USER) for image, system in requests]


def reused_tokens(engine: LocalEngine, spec: ModelSpec) -> int:
    reuse = engine._loaded[spec.model_id].reuse
    assert reuse is not None
    return reuse.reused


@pytest.mark.parametrize("handler", list(HANDLER_FILES))
def test_prefix_reuse_gives_the_tokens_of_a_fresh_evaluation(tiny_models: dict[str, Path], handler: str) -> None:
    """The second image of a run, with the first one's prompt text still in the KV cache, gets
    exactly the answer a fresh engine gives it (same seed, greedy)."""
    spec = spec_for(tiny_models, handler)
    fresh = answers(FRESH, spec, [(STRIPES, SYSTEM)])[0]
    _, second = answers(REUSING, spec, [(RED, SYSTEM), (STRIPES, SYSTEM)])
    assert (second.text, second.tokens, second.finish_reason) == (fresh.text, fresh.tokens, fresh.finish_reason)


def test_qwen_reuses_the_system_prompt_and_only_that(tiny_models: dict[str, Path]) -> None:
    """Qwen2.5-VL's template puts the system message before the image: the second request
    evaluates none of it again; a changed system message is evaluated from where it differs, and
    still answers as a fresh evaluation does."""
    spec = spec_for(tiny_models, "qwen2.5-vl")
    other_system = SYSTEM + " Be brief."
    with LocalEngine(REUSING) as engine:
        engine.generate(spec, RED, SYSTEM, USER)
        assert reused_tokens(engine, spec) == 0  # nothing cached yet
        engine.generate(spec, STRIPES, SYSTEM, USER)
        whole = reused_tokens(engine, spec)
        assert whole > 0
        changed = engine.generate(spec, RED, other_system, USER)
        assert 0 < reused_tokens(engine, spec) <= whole
    fresh = answers(FRESH, spec, [(RED, other_system)])[0]
    assert (changed.text, changed.tokens) == (fresh.text, fresh.tokens)


def test_moondream_puts_the_image_first_so_nothing_is_reused(tiny_models: dict[str, Path]) -> None:
    spec = spec_for(tiny_models, "moondream")
    with LocalEngine(REUSING) as engine:
        first = engine.generate(spec, RED, SYSTEM, USER)
        engine.generate(spec, STRIPES, SYSTEM, USER)
        assert reused_tokens(engine, spec) <= 1  # at most a BOS token before the image
        again = engine.generate(spec, RED, SYSTEM, USER)
    assert (again.text, again.tokens) == (first.text, first.tokens)


def test_a_failed_request_leaves_no_stale_prefix(tiny_models: dict[str, Path]) -> None:
    """An image llama.cpp cannot decode fails before anything is evaluated; the next request
    answers as a fresh one."""
    spec = spec_for(tiny_models, "qwen2.5-vl")
    with LocalEngine(REUSING) as engine:
        engine.generate(spec, RED, SYSTEM, USER)
        with pytest.raises(ImageDecodeError):
            engine.generate(spec, b"not an image", SYSTEM, USER)
        after = engine.generate(spec, STRIPES, SYSTEM, USER)
    fresh = answers(FRESH, spec, [(STRIPES, SYSTEM)])[0]
    assert (after.text, after.tokens) == (fresh.text, fresh.tokens)


@pytest.mark.parametrize(("prefix", "tokens", "expected"), [([], [1, 2], 0), ([1, 2, 3], [1, 2, 4], 2), ([1], [1], 1)])
def test_common_prefix(prefix: list[int], tokens: list[int], expected: int) -> None:
    assert common_prefix(prefix, tokens) == expected


def test_a_request_asks_for_fewer_answer_tokens(tiny_models: dict[str, Path]) -> None:
    """`max_tokens` per request bounds the answer below the settings' cap, never above it."""
    spec = spec_for(tiny_models, "moondream")
    with LocalEngine(replace(SETTINGS, max_tokens=24)) as engine:
        short = engine.generate(spec, RED, SYSTEM, USER, max_tokens=5)
        capped = engine.generate(spec, RED, SYSTEM, USER, max_tokens=500)
    assert short.tokens <= 5
    assert capped.tokens <= 24
    if short.finish_reason == "length":
        assert short.tokens == 5


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, {"n_batch": 512, "n_ubatch": 512, "flash_attn": True, "use_mmap": True, "prefix_cache": True}),
        ({"batch_size": 256}, {"n_batch": 256, "n_ubatch": 256}),
        ({"batch_size": 1024, "ubatch_size": 1024}, {"n_batch": 1024, "n_ubatch": 1024}),
        ({"flash_attn": False, "mmap": False, "prefix_cache": False}, {"flash_attn": False, "use_mmap": False}),
    ],
)
def test_batch_flash_attention_and_mmap_settings(values: dict[str, object], expected: dict[str, object]) -> None:
    settings = engine_settings(apply_overrides(Config(), values, origin="test"))
    assert {name: getattr(settings, name) for name in expected} == expected


def test_the_batch_settings_reach_llama_cpp(tiny_models: dict[str, Path]) -> None:
    config = apply_overrides(Config(), {"batch_size": 256, "ubatch_size": 128, "mmap": False}, origin="test")
    spec = spec_for(tiny_models, "moondream")
    with LocalEngine(replace(engine_settings(config), n_threads=1, n_ctx=1024)) as engine:
        engine.load(spec)
        llm = engine._loaded[spec.model_id].llm
        assert (llm.n_batch, llm.context_params.n_ubatch, llm.model_params.load_mode) == (256, 128, 0)  # LOAD_MODE_NONE
        assert engine.generate(spec, RED, SYSTEM, USER).text


# --- the provider's side: answer budgets and image tokens per route ------------------------------


class RecordingEngine(LocalEngine):
    """A real LocalEngine that notes the size of each image it gets and the answer budget asked."""

    def __init__(self, settings: EngineSettings) -> None:
        super().__init__(settings)
        self.calls: list[tuple[tuple[int, int], int | None]] = []

    def generate(
        self,
        model: VisionModel,
        image_png: bytes,
        system: str,
        user: str,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Generation:
        self.calls.append((Image.open(io.BytesIO(image_png)).size, max_tokens))
        return super().generate(model, image_png, system, user, json_schema, max_tokens)


def test_photos_get_fewer_image_tokens_than_text_and_answers_a_bounded_budget(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both images go to Qwen2.5-VL (the only model): the photo is sized for PHOTO_IMAGE_TOKENS,
    the screenshot for image_max_tokens; each request asks for the alt's token budget."""
    monkeypatch.chdir(tmp_path)
    for name, source in (("photo", "photo/gen_landscape_02.png"), ("table", "text/gen_table_00.png")):
        Image.open(FIXTURES / "router" / source).convert("RGB").resize((1600, 1200)).save(tmp_path / f"{name}.png")
    (tmp_path / "page.md").write_text("# Page\n\nA: ![](photo.png)\n\nB: ![](table.png)\n", encoding="utf-8")
    images = scan_file(tmp_path / "page.md", "page.md").images
    slots = Slots(fast=None, text=spec_from_paths(tiny_models["qwen_text"], tiny_models["qwen_mmproj"], "qwen2.5-vl"))
    engine = RecordingEngine(replace(SETTINGS, image_max_tokens=1024, max_tokens=200))
    with ModelProvider(
        slots,
        project_root=tmp_path,
        site_root=tmp_path,
        router_mode="auto",
        language=None,
        allow_remote=False,
        max_length=60,
        engine=engine,
    ) as provider:
        provider.decide(images)
        kinds = [record.kind for record in provider.records]
    assert kinds == ["photo", "text"]
    (photo_size, photo_budget), (text_size, text_budget) = engine.calls[0], engine.calls[-1]
    assert photo_size[0] * photo_size[1] <= PHOTO_IMAGE_TOKENS * 28 * 28
    assert PHOTO_IMAGE_TOKENS * 28 * 28 < text_size[0] * text_size[1] <= 1024 * 28 * 28
    assert photo_budget == text_budget == answer_token_budget(60, None) < 200


@pytest.mark.parametrize(
    ("max_length", "lang", "json_output", "expected"),
    [
        (150, None, True, 75 + JSON_ANSWER_TOKENS),
        (150, "de-AT", True, 75 + JSON_ANSWER_TOKENS),
        (150, "en", False, 75 + PLAIN_ANSWER_TOKENS),
        (150, "ja", True, 150 + JSON_ANSWER_TOKENS),  # a token per character, at worst
        (100, "ru", False, 100 + PLAIN_ANSWER_TOKENS),
    ],
)
def test_answer_token_budget(max_length: int, lang: str | None, json_output: bool, expected: int) -> None:
    assert answer_token_budget(max_length, lang, json_output=json_output) == expected


def test_decoding_ahead_changes_no_answer(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next image is read, decoded and routed on a helper thread while the model works; the
    answers are those of a run without it, and an image the run already answered (a duplicate)
    or cannot read is left to the main path."""
    monkeypatch.chdir(tmp_path)
    sources = ("photo/gen_landscape_02.png", "text/gen_table_00.png", "photo/gen_blobs_00.png")
    for index, source in enumerate(sources):
        Image.open(FIXTURES / "router" / source).convert("RGB").save(tmp_path / f"img{index}.png")
    (tmp_path / "page.md").write_text(
        "# Page\n\n![](img0.png)\n\n![](img1.png)\n\n![](img0.png)\n\n![](missing.png)\n\n![](img2.png)\n",
        encoding="utf-8",
    )
    images = scan_file(tmp_path / "page.md", "page.md").images

    def run(decode_ahead: bool) -> tuple[list[tuple[str | None, str | None, str]], int]:
        with ModelProvider(
            Slots(fast=spec_for(tiny_models, "moondream"), text=spec_for(tiny_models, "qwen2.5-vl")),
            project_root=tmp_path,
            site_root=tmp_path,
            router_mode="auto",
            language=None,
            allow_remote=False,
            max_length=60,
            engine_settings=SETTINGS,
            decode_ahead=decode_ahead,
        ) as provider:
            provider.decide(images)
            return [(r.alt, r.kind, r.status) for r in provider.records], provider.decoded_ahead

    ahead, used = run(True)
    plain, unused = run(False)
    assert ahead == plain
    assert [status for _, _, status in ahead][2:4] == ["deduplicated", "failed"]
    assert [kind for _, kind, _ in ahead] == ["photo", "text", "photo", None, "photo"]
    # img2 only: decoding ahead starts once a model is in use (img1 is chosen while img0 loads it), and
    # img0's duplicate is settled without decoding.
    assert (used, unused) == (1, 0)
