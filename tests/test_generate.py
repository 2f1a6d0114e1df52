"""The generation pipeline end to end on a small docs tree, with the tiny random-weight models.

Nothing here mocks llama.cpp: every "generated" alt comes from a real model through the real
chat handlers. The tiny models write gibberish, so the assertions are about what the pipeline
guarantees (one load per model, deduplication, routing, one-line alt within the limit, per-image
errors that never stop the run, JSON and plain-text paths), never about words.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tiny_models as tm
from conftest import fake_hub_cache
from PIL import Image

from alttext_tools.cache.key import CachedAlt, GenerationKey, cache_key, generation_key_for
from alttext_tools.config import Config
from alttext_tools.core import Decision, ImageKey, ImageRef, image_key
from alttext_tools.engines.base import EngineSettings
from alttext_tools.generate.progress import Progress
from alttext_tools.generate.prompts import PROMPT_VERSION
from alttext_tools.generate.provider import ModelProvider
from alttext_tools.generate.records import ImageRecord
from alttext_tools.models.slots import ModelPathError, NoModelError, Slots, resolve_slots, spec_from_paths
from alttext_tools.models.spec import ModelSpec
from alttext_tools.scan.dispatch import scan_file

REPO_ROOT = Path(__file__).resolve().parents[1]
ROUTER = REPO_ROOT / "fixtures" / "router"
# One thread (the test box is a busy 2-core machine); a small image budget keeps Qwen quick.
SETTINGS = EngineSettings(n_threads=1, max_tokens=48, image_max_tokens=256)
MAX_LENGTH = 60

INDEX = """\
---
title: Example docs
---

# Welcome

Our team on a trip: ![](img/photo.png)

The settings table: ![](img/table.png)

[![](img/photo.png)](https://example.com/home)

Logo: ![](img/titled.svg)

Badge: ![](img/bare.svg)

Secret: ![](../../secret.png)

Missing: ![](img/missing.png)

Broken: ![](img/corrupt.png)

Remote: ![](https://example.com/remote.png)

Mountains at dusk: ![](img/photo.jpg)
"""
TITLED_SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><title>ACME logo</title><rect width="4" height="4"/></svg>'
BARE_SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="4"/></svg>'


@dataclass
class Site:
    root: Path  # project root; the tests run with this as the cwd, like the CLI
    images: list[ImageRef]

    def image(self, page: str, src: str, *, linked: bool = False) -> ImageRef:
        matches = [i for i in self.images if i.path == page and i.src == src and i.context.in_link == linked]
        assert len(matches) == 1, (page, src, matches)
        return matches[0]


def build_site(root: Path) -> Site:
    docs = root / "docs"
    (docs / "img").mkdir(parents=True)
    (docs / "es").mkdir()
    shutil.copy(ROUTER / "photo" / "gen_gradient_00.png", docs / "img" / "photo.png")
    shutil.copy(ROUTER / "text" / "gen_table_00.png", docs / "img" / "table.png")
    shutil.copy(ROUTER / "text" / "gen_ui_01.png", docs / "img" / "ui.png")
    Image.open(ROUTER / "photo" / "gen_landscape_02.png").convert("RGB").save(
        docs / "img" / "photo.jpg", "JPEG", quality=85
    )
    (docs / "img" / "titled.svg").write_bytes(TITLED_SVG)
    (docs / "img" / "bare.svg").write_bytes(BARE_SVG)
    (docs / "img" / "corrupt.png").write_bytes((ROUTER / "photo" / "gen_blobs_00.png").read_bytes()[:300])
    (root.parent / "secret.png").write_bytes((ROUTER / "photo" / "gen_blobs_01.png").read_bytes())
    (docs / "index.md").write_text(INDEX, encoding="utf-8")
    (docs / "a.md").write_text("# Page A\n\nSame picture: ![](img/photo.png)\n", encoding="utf-8")
    (docs / "b.md").write_text("# Page B\n\nAgain: ![](img/photo.png)\n", encoding="utf-8")
    (docs / "es" / "guia.md").write_text("# Guía\n\nLa pantalla de ajustes: ![](../img/ui.png)\n", encoding="utf-8")
    images: list[ImageRef] = []
    for page in ("docs/index.md", "docs/a.md", "docs/b.md", "docs/es/guia.md"):
        images += scan_file(root / page, page).images
    return Site(root, images)


def tiny_slots(models: dict[str, Path], *, fast: bool = True, text: bool = True) -> Slots:
    return Slots(
        fast=spec_from_paths(models["moondream_text"], models["moondream_mmproj"], "moondream") if fast else None,
        text=spec_from_paths(models["qwen_text"], models["qwen_mmproj"], "qwen2.5-vl") if text else None,
    )


def provider_for(root: Path, slots: Slots, **kwargs: object) -> ModelProvider:
    options: dict[str, object] = {
        "project_root": root,
        "site_root": root,
        "router_mode": "auto",
        "language": None,
        "allow_remote": False,
        "max_length": MAX_LENGTH,
        "engine_settings": SETTINGS,
    }
    options.update(kwargs)
    return ModelProvider(slots, **options)  # type: ignore[arg-type]


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    return build_site(root)


@dataclass
class Run:
    site: Site
    provider: ModelProvider
    decisions: dict[ImageKey, Decision]
    log: list[str]

    def record(self, page: str, src: str) -> ImageRecord:
        image = self.site.image(page, src)
        [record] = [
            r for r in self.provider.records if (r.path, r.line, r.column) == (image.path, image.line, image.column)
        ]
        return record

    def decision(self, page: str, src: str) -> Decision | None:
        return self.decisions.get(image_key(self.site.image(page, src)))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_models: dict[str, Path]) -> Iterator[Run]:
    """The whole docs tree through both slots, once for the module."""
    root = tmp_path_factory.mktemp("site") / "project"
    root.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        site = build_site(root)
        log: list[str] = []
        provider = provider_for(root, tiny_slots(tiny_models), log=log.append, verbose=True)
        with provider:
            decisions = provider.decide(site.images)
            yield Run(site, provider, decisions, log)


# --- the full run --------------------------------------------------------------------------------


def test_each_model_loads_once_for_the_whole_run(run: Run) -> None:
    counts = run.provider.engine.load_counts
    assert sorted(counts.values()) == [1, 1]
    assert run.provider.summary()["model_loads"] == counts
    assert run.provider.engine.loaded_models  # still loaded until close()


def test_same_image_on_three_pages_is_generated_once(run: Run) -> None:
    first = run.record("docs/index.md", "img/photo.png")
    assert first.status == "generated"
    for page in ("docs/a.md", "docs/b.md"):
        record = run.record(page, "img/photo.png")
        assert record.status == "deduplicated"
        assert record.duplicate_of == first.where
        assert record.model_id == first.model_id and record.route == first.route
        assert run.decision(page, "img/photo.png") == run.decision("docs/index.md", "img/photo.png")
    assert run.provider.summary()["deduplicated"] == 2


def test_the_same_image_inside_a_link_is_a_separate_functional_generation(run: Run) -> None:
    linked = [r for r in run.provider.records if r.role == "functional:https://example.com/home"]
    assert len(linked) == 1
    assert linked[0].status == "generated" and linked[0].duplicate_of is None
    decision = run.decisions[(linked[0].path, linked[0].line, linked[0].column)]
    assert not decision.decorative and decision.alt  # a link image is never decorative


def test_routing_text_like_to_text_slot_and_photos_to_fast(run: Run) -> None:
    table = run.record("docs/index.md", "img/table.png")
    assert (table.kind, table.route) == ("text", "text") and table.score is not None and table.score >= 0.5
    assert "qwen" in (table.model_id or "")
    for src in ("img/photo.png", "img/photo.jpg"):
        photo = run.record("docs/index.md", src)
        assert (photo.kind, photo.route) == ("photo", "fast") and photo.score is not None and photo.score < 0.5
        assert "moondream" in (photo.model_id or "")
    assert run.record("docs/es/guia.md", "../img/ui.png").route == "text"


def test_svg_title_is_used_without_a_model(run: Run) -> None:
    record = run.record("docs/index.md", "img/titled.svg")
    assert record.status == "svg-title" and record.model_id is None
    assert run.decision("docs/index.md", "img/titled.svg") == Decision.text("ACME logo")


def test_errors_are_per_image_one_line_and_name_file_and_line(run: Run) -> None:
    expected = {
        "img/bare.svg": "SVG without <title> or <desc>",
        "../../secret.png": "outside the project root",
        "img/missing.png": "no such file",
        "img/corrupt.png": "truncated or corrupt",
        "https://example.com/remote.png": "remote fetching is off",
    }
    problems = run.provider.problems
    assert len(problems) == len(expected)
    for src, phrase in expected.items():
        image = run.site.image("docs/index.md", src)
        record = run.record("docs/index.md", src)
        assert record.status == "failed" and phrase in (record.error or "")
        prefix = f"docs/index.md:{image.line}:{image.column}: cannot generate alt for {src}: "
        [line] = [p for p in problems if p.startswith(prefix)]
        assert phrase in line and "\n" not in line
        assert image_key(image) not in run.decisions
    # The run went on after the failures: the last image of the page was still generated.
    assert run.record("docs/index.md", "img/photo.jpg").status == "generated"


def test_no_image_outside_the_project_was_read(run: Run) -> None:
    record = run.record("docs/index.md", "../../secret.png")
    assert record.kind is None and record.model_id is None


def test_summary_and_records_agree(run: Run) -> None:
    summary = run.provider.summary()
    records = run.provider.records
    assert summary["images"] == len(records) == len(run.site.images) == 13
    assert summary["generated"] == 5 and summary["svg_title"] == 1 and summary["failed"] == 5
    assert summary["from_cache"] == 0
    assert (
        summary["generated"]
        + summary["from_cache"]
        + summary["deduplicated"]
        + summary["svg_title"]
        + summary["failed"]
        == summary["images"]
    )
    assert summary["failed"] == len(run.provider.problems)
    assert len(run.decisions) == summary["images"] - summary["failed"]
    assert summary["routes"]["fast"] + summary["routes"]["text"] == summary["generated"] + summary["deduplicated"]
    assert summary["seconds"] > 0
    json.dumps(summary)
    json.dumps([r.to_dict() for r in records])
    for record in records:
        if record.status == "generated":
            assert record.encode_ms is not None and record.generate_ms is not None and record.decode_ms is not None


def test_every_alt_is_one_line_within_the_limit(run: Run) -> None:
    for decision in run.decisions.values():
        if decision.decorative:
            assert decision.alt == ""
            continue
        assert 0 < len(decision.alt) <= MAX_LENGTH
        assert decision.alt == " ".join(decision.alt.split())
        assert all(ch.isprintable() for ch in decision.alt)


def test_json_mode_was_used(run: Run) -> None:
    generated = [r for r in run.provider.records if r.status == "generated"]
    assert generated and all(r.json_mode for r in generated)


def test_language_from_the_page(run: Run) -> None:
    assert run.record("docs/es/guia.md", "../img/ui.png").language == "es"
    assert run.record("docs/index.md", "img/table.png").language is None


def test_verbose_lines_show_route_model_and_timings(run: Run) -> None:
    table = run.record("docs/index.md", "img/table.png")
    [line] = [entry for entry in run.log if entry.startswith(f"{table.where}:")]
    assert "route text (text, score" in line and table.model_id in line
    assert "decode" in line and "encode" in line and "generate" in line
    assert any("same image as docs/index.md" in entry for entry in run.log)


# --- routing modes and slots ---------------------------------------------------------------------


def _routes(provider: ModelProvider) -> dict[str, str | None]:
    return {Path(r.src or "").name: r.route for r in provider.records}


@pytest.mark.parametrize("mode", ["fast", "text"])
def test_forced_router_mode(site: Site, tiny_models: dict[str, Path], mode: str) -> None:
    images = [site.image("docs/index.md", "img/table.png"), site.image("docs/index.md", "img/photo.jpg")]
    slots = tiny_slots(tiny_models)
    with provider_for(site.root, slots, router_mode=mode) as provider:
        provider.decide(images)
        assert _routes(provider) == {"table.png": mode, "photo.jpg": mode}
        assert list(provider.engine.load_counts) == [slots.available[mode].model_id]
        assert provider.summary()["generated"] == 2


@pytest.mark.parametrize("only", ["fast", "text"])
def test_only_one_slot_takes_everything(site: Site, tiny_models: dict[str, Path], only: str) -> None:
    images = [site.image("docs/index.md", "img/table.png"), site.image("docs/index.md", "img/photo.jpg")]
    slots = tiny_slots(tiny_models, fast=only == "fast", text=only == "text")
    with provider_for(site.root, slots, router_mode="auto") as provider:
        provider.decide(images)
        assert _routes(provider) == {"table.png": only, "photo.jpg": only}
        assert provider.engine.load_counts == {slots.available[only].model_id: 1}


def test_forced_mode_without_that_model_warns_once(site: Site, tiny_models: dict[str, Path]) -> None:
    images = [site.image("docs/index.md", "img/table.png"), site.image("docs/index.md", "img/photo.jpg")]
    with provider_for(site.root, tiny_slots(tiny_models, text=False), router_mode="text") as provider:
        provider.decide(images)
        assert set(_routes(provider).values()) == {"fast"}
        assert len([w for w in provider.warnings if "--router text" in w]) == 1


# --- JSON and plain text -------------------------------------------------------------------------


@pytest.mark.parametrize("json_output", [True, False])
def test_json_and_plain_paths_give_clean_alt(site: Site, tiny_models: dict[str, Path], json_output: bool) -> None:
    images = [site.image("docs/index.md", "img/table.png"), site.image("docs/index.md", "img/photo.jpg")]
    with provider_for(site.root, tiny_slots(tiny_models), json_output=json_output, max_length=24) as provider:
        decisions = provider.decide(images)
        for record in provider.records:
            assert record.json_mode is json_output
            if record.status == "failed":  # gibberish may be cleaned to nothing: a reason, not a write
                assert record.error and "\n" not in record.error
            else:
                assert record.status == "generated"
        for decision in decisions.values():
            assert decision.decorative or (0 < len(decision.alt) <= 24 and "\n" not in decision.alt)
        assert decisions  # at least one usable answer per mode on these two images


def test_json_mode_is_deterministic_across_providers(site: Site, tiny_models: dict[str, Path]) -> None:
    images = [site.image("docs/index.md", "img/table.png")]
    results = []
    for _ in range(2):
        with provider_for(site.root, tiny_slots(tiny_models)) as provider:
            results.append(provider.decide(images))
    assert results[0] == results[1]


# --- broken and missing models -------------------------------------------------------------------


def test_corrupt_fast_model_falls_back_to_the_text_model(
    site: Site, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    broken = tm.build_variant("moondream_mmproj", tmp_path / "broken-mmproj.gguf", drop_tensors=["mm.0.bias"])
    slots = Slots(
        fast=spec_from_paths(tiny_models["moondream_text"], broken, "moondream"), text=tiny_slots(tiny_models).text
    )
    photos = [
        site.image("docs/index.md", "img/photo.jpg"),
        site.image("docs/a.md", "img/photo.png"),
        site.image("docs/index.md", "img/table.png"),
    ]
    with provider_for(site.root, slots) as provider:
        decisions = provider.decide(photos)
        assert not provider.problems and len(decisions) == 3
        assert _routes(provider) == {"photo.jpg": "text", "photo.png": "text", "table.png": "text"}
        [warning] = provider.warnings
        assert "unusable" in warning and "broken-mmproj.gguf" in warning and "mm.0.bias" in warning
        assert provider.engine.load_counts == {slots.text.model_id: 1}  # type: ignore[union-attr]


def test_every_model_broken_fails_each_image_without_stopping(
    site: Site, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    bad_fast = tm.build_variant("moondream_mmproj", tmp_path / "bad-fast.gguf", drop_tensors=["mm.2.weight"])
    bad_text = tm.build_variant("qwen_mmproj", tmp_path / "bad-text.gguf", drop_tensors=["v.patch_embd.weight.1"])
    slots = Slots(
        fast=spec_from_paths(tiny_models["moondream_text"], bad_fast, "moondream"),
        text=spec_from_paths(tiny_models["qwen_text"], bad_text, "qwen2.5-vl"),
    )
    images = [i for i in site.images if i.path == "docs/index.md"]
    with provider_for(site.root, slots) as provider:
        decisions = provider.decide(images)
        assert provider.engine.load_counts == {}
        summary = provider.summary()
        assert summary["svg_title"] == 1 and summary["failed"] == len(images) - 1
        assert set(decisions) == {image_key(site.image("docs/index.md", "img/titled.svg"))}
        assert len(provider.warnings) == 2  # one per broken model, not one per image
        unusable = [p for p in provider.problems if "no usable model" in p]
        assert len(unusable) == 4  # photo, table, link photo, photo.jpg
        for line in unusable:
            assert line.startswith("docs/index.md:") and "\n" not in line and "bad-" in line


def test_model_file_deleted_after_resolution(site: Site, tiny_models: dict[str, Path], tmp_path: Path) -> None:
    text = shutil.copy(tiny_models["qwen_text"], tmp_path / "qwen.gguf")
    mmproj = shutil.copy(tiny_models["qwen_mmproj"], tmp_path / "qwen-mmproj.gguf")
    slots = Slots(text=spec_from_paths(Path(text), Path(mmproj), "qwen2.5-vl"))
    os.unlink(mmproj)
    with provider_for(site.root, slots) as provider:
        provider.decide([site.image("docs/index.md", "img/table.png"), site.image("docs/index.md", "img/photo.jpg")])
        assert provider.summary()["failed"] == 2
        assert all("file not found" in p and "qwen-mmproj.gguf" in p for p in provider.problems)


# --- slots from config ---------------------------------------------------------------------------


def test_no_model_error_names_what_is_missing_and_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "hf-cache"
    empty.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(empty))
    with pytest.raises(NoModelError) as info:
        resolve_slots(Config(root=tmp_path))
    message = str(info.value)
    assert message.startswith(
        "no model available: moondream2-q4_k_m is not downloaded"
        " (run `alttext models pull moondream2-q4_k_m` when online)"
    )
    assert "qwen2.5-vl-3b is not downloaded (run `alttext models pull qwen2.5-vl-3b` when online)" in message
    assert "--model PATH --mmproj PATH" in message and str(empty) in message
    assert "\n" not in message


def test_presets_resolve_from_the_local_cache_and_a_missing_one_is_reported(
    site: Site, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    cache = tmp_path / "hub"
    fake_hub_cache(cache, "moondream2-q4_k_m", tiny_models["moondream_text"], tiny_models["moondream_mmproj"])
    slots = resolve_slots(Config(root=site.root), cache_dir=cache)
    assert slots.fast is not None and slots.fast.name == "moondream2-q4_k_m" and slots.fast.handler == "moondream"
    assert slots.text is None and "qwen2.5-vl-3b is not downloaded" in slots.reasons["text"]
    log: list[str] = []
    with provider_for(site.root, slots, log=log.append) as provider:
        provider.decide([site.image("docs/index.md", "img/table.png")])
        assert _routes(provider) == {"table.png": "fast"}
        assert any("text images use moondream2-q4_k_m instead" in w for w in provider.warnings)
        assert any(line.startswith("warning: ") for line in log)


def test_local_files_per_slot(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    config = Config(
        root=tmp_path,
        fast_model=str(tiny_models["moondream_text"]),
        fast_mmproj=str(tiny_models["moondream_mmproj"]),
        fast_handler="moondream",
        text_model=str(tiny_models["qwen_text"]),
        text_mmproj=str(tiny_models["qwen_mmproj"]),
        text_handler="qwen2.5-vl",
    )
    slots = resolve_slots(config, cache_dir=tmp_path / "empty")
    assert slots.fast == spec_from_paths(tiny_models["moondream_text"], tiny_models["moondream_mmproj"], "moondream")
    assert slots.text is not None and slots.text.handler == "qwen2.5-vl" and not slots.reasons


def test_relative_model_paths_are_taken_from_the_project_root(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    shutil.copy(tiny_models["moondream_text"], tmp_path / "m.gguf")
    shutil.copy(tiny_models["moondream_mmproj"], tmp_path / "mm.gguf")
    config = Config(root=tmp_path, fast_model="m.gguf", fast_mmproj="mm.gguf", fast_handler="llava")
    slots = resolve_slots(config, cache_dir=tmp_path / "empty")
    assert slots.fast is not None and slots.fast.text_path == tmp_path / "m.gguf" and slots.fast.handler == "llava"
    assert slots.text is None  # qwen2.5-vl-3b not in the (empty) cache


@pytest.mark.parametrize(
    ("fields", "phrase"),
    [
        (
            {"fast_model": "/nowhere/model.gguf", "fast_mmproj": "/nowhere/mmproj.gguf"},
            "model file not found: /nowhere/model.gguf",
        ),
        ({"fast_model": "/nowhere/model.gguf"}, "needs --fast-mmproj PATH"),
        ({"text_mmproj": "/x/mmproj.gguf"}, "pass --text-model PATH"),
        ({"fast_model": "moondream3"}, "unknown model preset 'moondream3'"),
        ({"fast_model": "moondream2", "fast_mmproj": "/x.gguf"}, "brings its own mmproj"),
        ({"text_model": "qwen2.5-vl-7b", "text_handler": "llava"}, "uses the qwen2.5-vl handler"),
    ],
)
def test_explicit_model_errors_are_not_silent_fallbacks(tmp_path: Path, fields: dict[str, str], phrase: str) -> None:
    with pytest.raises(ModelPathError) as info:
        resolve_slots(Config(root=tmp_path, **fields), cache_dir=tmp_path)  # type: ignore[arg-type]
    assert phrase in str(info.value) and "\n" not in str(info.value)


# --- cache hook, progress, odds and ends -----------------------------------------------------------


class DictCache:
    """A GenerationCache the way the cache issue's adapter would use it: keyed by the parts."""

    def __init__(self) -> None:
        self.data: dict[GenerationKey, CachedAlt] = {}

    def get(self, key: GenerationKey) -> CachedAlt | None:
        return self.data.get(key)

    def put(self, key: GenerationKey, value: CachedAlt) -> None:
        self.data[key] = value

    def source(self, image_sha256: str, language: str | None, role: str) -> CachedAlt | None:
        return None  # no entry keys here: translations carry no provenance

    def reviewed_language(self, image_sha256: str, role: str) -> str | None:
        return None  # no person reviews this cache


def test_cache_hook_skips_generation_and_model_loading(site: Site, tiny_models: dict[str, Path]) -> None:
    images = [
        site.image("docs/index.md", "img/table.png"),
        site.image("docs/index.md", "img/photo.jpg"),
        site.image("docs/a.md", "img/photo.png"),
        site.image("docs/index.md", "img/photo.png", linked=True),
    ]
    cache = DictCache()
    with provider_for(site.root, tiny_slots(tiny_models), cache=cache) as first:
        first_decisions = first.decide(images)
        generated = first.summary()["generated"]
    assert len(cache.data) == generated == len(first_decisions) == 4
    key = next(k for k in cache.data if k.role.startswith("functional:"))
    assert key.role == "functional:https://example.com/home" and key.prompt_version == PROMPT_VERSION
    assert key.language is None and len(key.image_sha256) == 64 and "qwen" not in key.model_id
    with provider_for(site.root, tiny_slots(tiny_models), cache=cache) as second:
        assert second.decide(images) == first_decisions
        summary = second.summary()
        assert summary["from_cache"] == 4 and summary["generated"] == 0
        assert second.engine.load_counts == {}


def test_cache_hit_from_a_person_is_used_as_is(site: Site, tiny_models: dict[str, Path]) -> None:
    class HumanCache(DictCache):
        def get(self, key: GenerationKey) -> CachedAlt | None:
            return CachedAlt("Quarterly results table", False, "human", "human")

    image = site.image("docs/index.md", "img/table.png")
    with provider_for(site.root, tiny_slots(tiny_models), cache=HumanCache()) as provider:
        assert provider.decide([image]) == {image_key(image): Decision.text("Quarterly results table")}
        assert provider.records[0].model_id == "human" and provider.records[0].status == "cached"


def test_generation_key_covers_every_input() -> None:
    def key(
        sha: str = "a" * 64, model: str = "m", lang: str | None = "es", role: str = "informative", pv: str = "1"
    ) -> str:
        return generation_key_for(sha, model, lang, role, pv).digest

    base = key()
    assert base == cache_key("a" * 64, "m", "1", "es", "informative") and len(base) == 64
    assert key(lang="ES") == base and key(sha="A" * 64) == base
    for changed in (key(sha="b" * 64), key(model="n"), key(lang=None), key(role="functional:/"), key(pv="2")):
        assert changed != base
    # Length-prefixed parts: moving text from one part to the next changes the key.
    assert key(model="m:x", lang="es") != key(model="m", lang="x:es")


def test_language_override_beats_the_page(site: Site, tiny_models: dict[str, Path]) -> None:
    with provider_for(site.root, tiny_slots(tiny_models, text=False), language="fr") as provider:
        provider.decide([site.image("docs/es/guia.md", "../img/ui.png")])
        assert provider.records[0].language == "fr"


def test_progress_only_on_a_terminal(
    site: Site, tiny_models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with provider_for(site.root, tiny_slots(tiny_models), progress=True) as provider:
        provider.decide([site.image("docs/index.md", "img/titled.svg")])
    assert capsys.readouterr().err == ""  # stderr is not a TTY under pytest
    stream = io.StringIO()
    bar = Progress(4, stream)
    bar.done, bar.model = 2, "moondream2"
    bar.draw()
    bar.clear()
    out = stream.getvalue()
    assert "2/4" in out and "moondream2" in out and "s/image" in out and "\n" not in out


def test_empty_input_and_image_without_src(site: Site, tiny_models: dict[str, Path]) -> None:
    import dataclasses

    with provider_for(site.root, tiny_slots(tiny_models)) as provider:
        assert provider.decide([]) == {}
        image = dataclasses.replace(site.image("docs/index.md", "img/table.png"), src=None)
        assert provider.decide([image]) == {}
        [problem] = provider.problems
        assert "(no src)" in problem and "no src" in problem
        assert provider.engine.load_counts == {}


def test_closed_provider_frees_the_models(site: Site, tiny_models: dict[str, Path]) -> None:
    provider = provider_for(site.root, tiny_slots(tiny_models))
    provider.decide([site.image("docs/index.md", "img/table.png")])
    assert provider.engine.loaded_models
    provider.close()
    assert provider.engine.loaded_models == []


def test_invalid_arguments(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    with pytest.raises(ValueError):
        provider_for(tmp_path, tiny_slots(tiny_models), router_mode="smart")
    with pytest.raises(NoModelError):
        provider_for(tmp_path, Slots())


def test_model_spec_type_of_slots(tiny_models: dict[str, Path]) -> None:
    slots = tiny_slots(tiny_models)
    assert isinstance(slots.fast, ModelSpec) and set(slots.available) == {"fast", "text"}


# --- per-run memos: each image file resolved, read and hashed once -----------------------------------


def test_an_image_on_many_pages_is_read_once_per_run(
    site: Site, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import alttext_tools.images.reader as reader

    reads: list[str] = []
    real = reader.read_image_bytes
    monkeypatch.setattr(
        reader, "read_image_bytes", lambda source, **kw: (reads.append(str(source.path)), real(source, **kw))[1]
    )
    photo = [i for i in site.images if i.src == "img/photo.png"]
    assert len(photo) == 4  # index (plain and linked), a.md, b.md
    cache = DictCache()
    with provider_for(site.root, tiny_slots(tiny_models), cache=cache) as provider:
        decisions = provider.decide(photo)
    assert len(decisions) == 4 and provider.summary()["generated"] == 2  # informative + functional
    # Bytes are not kept between images: the second role reads them again to generate.
    assert reads == [str(site.root / "docs" / "img" / "photo.png")] * 2
    reads.clear()
    with provider_for(site.root, tiny_slots(tiny_models), cache=cache) as provider:
        assert provider.decide(photo) == decisions
        assert provider.summary()["from_cache"] == 2
    assert reads == [str(site.root / "docs" / "img" / "photo.png")]  # a cached run: hashed once, that is all


def test_a_relative_src_resolves_against_each_pages_own_folder(site: Site, tiny_models: dict[str, Path]) -> None:
    """Regression guard for the resolve memo: the same relative src on pages in two folders is two images."""
    (site.root / "docs" / "es" / "img").mkdir()
    shutil.copy(site.root / "docs" / "img" / "table.png", site.root / "docs" / "es" / "img" / "photo.png")
    (site.root / "docs" / "es" / "foto.md").write_text("# Foto\n\nOtra: ![](img/photo.png)\n", encoding="utf-8")
    here = scan_file(site.root / "docs" / "es" / "foto.md", "docs/es/foto.md").images
    images = [site.image("docs/a.md", "img/photo.png"), *here]
    with provider_for(site.root, tiny_slots(tiny_models), cache=DictCache()) as provider:
        provider.decide(images)
        records = provider.records
    # A photo, then a table: neither a duplicate of the other (the tiny models' words are not judged).
    assert [r.route for r in records] == ["fast", "text"] and records[1].duplicate_of is None


def test_an_image_changed_during_the_run_is_hashed_again(site: Site, tiny_models: dict[str, Path]) -> None:
    a, b = site.image("docs/a.md", "img/photo.png"), site.image("docs/b.md", "img/photo.png")
    cache = DictCache()
    with provider_for(site.root, tiny_slots(tiny_models), cache=cache) as provider:
        provider.decide([a])
        shutil.copy(site.root / "docs" / "img" / "table.png", site.root / "docs" / "img" / "photo.png")
        provider.decide([b])
        _, second = provider.records
    assert second.status == "generated" and second.duplicate_of is None  # new bytes, new image
    assert len({key.image_sha256 for key in cache.data}) == 2


def test_one_svg_without_a_title_is_parsed_once_per_run(
    site: Site, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import alttext_tools.generate.provider as generate

    calls: list[int] = []
    real = generate.svg_text_alternative
    monkeypatch.setattr(
        generate, "svg_text_alternative", lambda data, **kw: (calls.append(len(data)), real(data, **kw))[1]
    )
    (site.root / "docs" / "es" / "logo.md").write_text("# Logo\n\nInsignia: ![](../img/bare.svg)\n", encoding="utf-8")
    images = [
        site.image("docs/index.md", "img/bare.svg"),
        *scan_file(site.root / "docs" / "es" / "logo.md", "docs/es/logo.md").images,
    ]
    with provider_for(site.root, tiny_slots(tiny_models)) as provider:
        assert provider.decide(images) == {}
        assert [r.status for r in provider.records] == ["failed", "failed"]
        assert all("SVG without <title>" in (r.error or "") for r in provider.records)
    assert calls == [len(BARE_SVG)]  # the Spanish page (another language) reused the first answer
