"""Describe once, translate: an image on pages in several languages is described from its pixels
once, in its primary language, and translated into the others by text-only calls. The tiny
random-weight models run through the real handlers (and a fake OpenAI-compatible server through
the real client), so the assertions are about calls, cache keys and provenance, never words."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from openai_servers import FakeOpenAI, Reply, Seen, completion
from test_generate import MAX_LENGTH, ROUTER, SETTINGS, provider_for, tiny_slots
from test_openai_backend import make_engine

from alttext_tools.cache.file import REVIEWED, Entry
from alttext_tools.cache.providers import GenerationCacheAdapter
from alttext_tools.cache.store import AltCache
from alttext_tools.cli.options import model_overrides
from alttext_tools.config import Config, ConfigError, apply_overrides, load_config
from alttext_tools.core import Context, ImageRef, image_role
from alttext_tools.engines.base import Engine, Generation
from alttext_tools.engines.llama import LocalEngine
from alttext_tools.engines.openai import ServerModel
from alttext_tools.generate.provider import ModelProvider
from alttext_tools.generate.translate import (
    TRANSLATE_VERSION,
    CallPlan,
    plan_calls,
    primary_language,
    translation_prompt,
    translation_version,
)
from alttext_tools.models.slots import Slots
from alttext_tools.models.spec import VisionModel
from alttext_tools.scan.dispatch import scan_file

LANGUAGES = ("en", "es", "fr")


class CountingEngine:
    """An Engine that passes every call to a real one and notes its kind: "vision" (an image
    described) or "text" (a text-only request), with the model id."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.calls: list[tuple[str, str]] = []

    @property
    def concurrency(self) -> int:
        return self.engine.concurrency

    @property
    def image_max_tokens(self) -> int | None:
        return self.engine.image_max_tokens

    @property
    def load_counts(self) -> Mapping[str, int]:
        return self.engine.load_counts

    @property
    def loaded_models(self) -> list[str]:
        return self.engine.loaded_models

    def prepare(self, model: VisionModel) -> None:
        self.engine.prepare(model)

    def generate(
        self,
        model: VisionModel,
        image_png: bytes,
        system: str,
        user: str,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Generation:
        self.calls.append(("vision", model.model_id))
        return self.engine.generate(model, image_png, system, user, json_schema, max_tokens)

    def complete_text(self, model: VisionModel, system: str, user: str) -> Generation:
        self.calls.append(("text", model.model_id))
        return self.engine.complete_text(model, system, user)

    def close(self) -> None:
        self.engine.close()

    def count(self, kind: str) -> int:
        return sum(1 for call, _ in self.calls if call == kind)


def build_multilingual(root: Path) -> list[ImageRef]:
    """docs/{en,es,fr}/index.md each show the same photo and table; docs/en/only.md one more
    image, in English only. Languages come from the folder names. The tiny models' words are
    random: these images are ones they answer usably (another image, or another prompt version, can
    give a degenerate answer, which describes that language from the image and changes the counts)."""
    docs = root / "docs"
    (docs / "img").mkdir(parents=True)
    shutil.copy(ROUTER / "photo" / "gen_landscape_01.png", docs / "img" / "photo.png")
    shutil.copy(ROUTER / "text" / "gen_code_00.png", docs / "img" / "table.png")
    shutil.copy(ROUTER / "photo" / "gen_landscape_02.png", docs / "img" / "only.png")
    titles = {"en": "Settings", "es": "Ajustes", "fr": "Réglages"}
    images: list[ImageRef] = []
    for lang in LANGUAGES:
        (docs / lang).mkdir()
        page = docs / lang / "index.md"
        page.write_text(
            f"# {titles[lang]}\n\nThe team: ![](../img/photo.png)\n\nThe table: ![](../img/table.png)\n",
            encoding="utf-8",
        )
        images += scan_file(page, f"docs/{lang}/index.md").images
    (docs / "en" / "only.md").write_text("# Only\n\nHere: ![](../img/only.png)\n", encoding="utf-8")
    images += scan_file(docs / "en" / "only.md", "docs/en/only.md").images
    assert len(images) == 7
    return images


@pytest.fixture()
def pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[ImageRef]]:
    monkeypatch.chdir(tmp_path)
    return tmp_path, build_multilingual(tmp_path)


def run(
    root: Path,
    images: Sequence[ImageRef],
    models: dict[str, Path],
    cache: AltCache | None,
    engine: LocalEngine,
    **options: object,
) -> tuple[ModelProvider, CountingEngine]:
    """One provider run over `images`. The router is forced to the fast slot, which then also
    translates: the tiny Qwen's answers are all degenerate, which would send every translation
    back to the image (the server test below shows the text slot translating)."""
    counting = CountingEngine(engine)
    adapter = GenerationCacheAdapter(cache, MAX_LENGTH) if cache is not None else None
    options = {"router_mode": "fast", **options}
    provider = provider_for(root, tiny_slots(models), cache=adapter, engine=counting, **options)
    provider.decide(images)
    return provider, counting


def translations(cache: AltCache) -> list[Entry]:
    return [e for e in cache.entries() if e.translated_from is not None]


@pytest.fixture(scope="module")
def engine() -> Any:
    with LocalEngine(SETTINGS) as shared:  # one load of each tiny model for the whole module
        yield shared


# --- the plan ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("occurrences", "translate", "expected"),
    [
        # one image on pages in three languages, twice each: three distinct pairs
        ([("a", "informative", lang) for lang in ("en", "es", "fr") * 2], True, CallPlan(6, 3, 1, 2)),
        ([("a", "informative", lang) for lang in ("en", "es", "fr") * 2], False, CallPlan(6, 3, 3, 0)),
        # an image in one language only: described, nothing to translate
        ([("b", "informative", "es"), ("b", "informative", "es")], True, CallPlan(2, 1, 1, 0)),
        # a page without a language is described from the image; the role splits an image
        (
            [("c", "informative", "en"), ("c", "informative", "de"), ("c", "informative", None)],
            True,
            CallPlan(3, 3, 2, 1),
        ),
        ([("d", "informative", "en"), ("d", "functional:/x", "de")], True, CallPlan(2, 2, 2, 0)),
        # language tags compare case-insensitively
        ([("e", "informative", "pt-BR"), ("e", "informative", "pt-br")], True, CallPlan(2, 1, 1, 0)),
    ],
)
def test_plan_counts_calls(occurrences: list[tuple[str, str, str | None]], translate: bool, expected: CallPlan) -> None:
    assert plan_calls(occurrences, translate=translate, preferred="en") == expected


@pytest.mark.parametrize(
    ("languages", "preferred", "reviewed", "expected"),
    [
        (["es", "en", "fr"], "en", None, "en"),  # the site's default, where the image appears in it
        (["es", "fr"], "en", None, "es"),  # else the first language it appears in
        (["es", "en"], "en", "fr", "fr"),  # the first language a person reviewed wins
        (["", "es"], None, None, "es"),
        ([], "en", None, None),
    ],
)
def test_primary_language(languages: list[str], preferred: str | None, reviewed: str | None, expected: str) -> None:
    assert primary_language(languages, preferred, reviewed) == expected


# --- the pipeline, in process -------------------------------------------------------------------------


def test_each_image_is_described_once_and_translated_into_the_other_languages(
    pages: tuple[Path, list[ImageRef]], tiny_models: dict[str, Path], engine: LocalEngine
) -> None:
    root, images = pages
    with AltCache.open(root / ".alttext-cache.jsonl") as cache:
        provider, counting = run(root, images, tiny_models, cache, engine)
    decided = {r.where: r for r in provider.records}
    assert len(decided) == 7 and all(r.status != "failed" for r in decided.values()), provider.problems
    # Three distinct images: three vision calls; photo and table are translated into es and fr.
    assert counting.count("vision") == 3 and counting.count("text") == 4
    text_model = tiny_slots(tiny_models).available["fast"].model_id  # the forced slot translates
    assert {model for kind, model in counting.calls if kind == "text"} == {text_model}
    summary = provider.summary()
    assert summary["generated"] == 3 and summary["translated"] == 4
    assert {r.language for r in decided.values() if r.status == "translated"} == {"es", "fr"}

    # Each translation is cached with its provenance: the key of the English entry it came from.
    reloaded = AltCache.open(root / ".alttext-cache.jsonl")
    english = {e.sha256: e for e in reloaded.entries() if e.language == "en" and e.translated_from is None}
    done = translations(reloaded)
    assert len(done) == 4
    for entry in done:
        assert entry.translated_from == english[entry.sha256].key
        assert entry.model_id == text_model and entry.prompt_version.startswith(TRANSLATE_VERSION + "/")
        assert entry.language in ("es", "fr") and entry.state == "generated"
    record = next(r for r in decided.values() if r.status == "translated")
    assert record.translated_from in {e.key for e in english.values()}
    # The cache file names the provenance only on translated lines.
    lines = (root / ".alttext-cache.jsonl").read_text(encoding="utf-8").splitlines()[1:]
    assert sum('"translated_from"' in line for line in lines) == 4

    # A second run is answered from the cache: no call at all.
    with AltCache.open(root / ".alttext-cache.jsonl") as cache:
        provider, counting = run(root, images, tiny_models, cache, engine)
    assert counting.calls == [] and provider.summary()["from_cache"] == 7


def test_translate_false_describes_every_language_from_the_image(
    pages: tuple[Path, list[ImageRef]], tiny_models: dict[str, Path], engine: LocalEngine
) -> None:
    root, images = pages
    with AltCache.open(root / ".alttext-cache.jsonl") as cache:
        provider, counting = run(root, images, tiny_models, cache, engine, translate=False)
        assert translations(cache) == []
    assert counting.count("vision") == 7 and counting.count("text") == 0
    assert provider.summary()["translated"] == 0


def test_a_person_editing_the_primary_alt_regenerates_its_unreviewed_translations(
    pages: tuple[Path, list[ImageRef]], tiny_models: dict[str, Path], engine: LocalEngine
) -> None:
    root, images = pages
    path = root / ".alttext-cache.jsonl"
    with AltCache.open(path) as cache:
        run(root, images, tiny_models, cache, engine)
    photo = next(i for i in images if i.path == "docs/en/index.md" and i.src == "../img/photo.png")
    with AltCache.open(path) as cache:
        sha = hashlib.sha256((root / "docs" / "img" / "photo.png").read_bytes()).hexdigest()
        source = [e for e in cache.for_image(sha) if e.language == "en"]
        assert len(source) == 1
        cache.edit(source[0], "The team on the summit")
        old = {e.language: e for e in translations(cache) if e.sha256 == sha}
        # A person accepts the Spanish translation as it is: it is never written again.
        cache.set_review(old["es"], REVIEWED)

    with AltCache.open(path) as cache:
        provider, counting = run(root, images, tiny_models, cache, engine)
        # Only the French translation of the edited alt is written again; nothing is described.
        assert counting.calls == [("text", tiny_slots(tiny_models).available["fast"].model_id)]
        now = [e for e in translations(cache) if e.sha256 == sha]
        spanish = [e for e in now if e.language == "es"]
        assert len(spanish) == 1 and spanish[0].state == REVIEWED and spanish[0].alt == old["es"].alt  # untouched
        fresh = [e for e in now if e.language == "fr" and e.key != old["fr"].key]
        assert len(fresh) == 1 and fresh[0].translated_from == source[0].key
    by_where = {r.where: r for r in provider.records}
    assert by_where[f"docs/en/index.md:{photo.line}:{photo.column}"].alt == "The team on the summit"
    assert image_role(photo) == "informative"


def test_a_reviewed_language_is_the_primary_one(
    pages: tuple[Path, list[ImageRef]], tiny_models: dict[str, Path], engine: LocalEngine
) -> None:
    """The first language a person reviewed is described from the image; English is translated."""
    root, images = pages
    path = root / ".alttext-cache.jsonl"
    fr_photo = next(i for i in images if i.path == "docs/fr/index.md" and i.src == "../img/photo.png")
    with AltCache.open(path) as cache:
        run(root, [fr_photo], tiny_models, cache, engine)  # French only: described from the image
        (entry,) = cache.entries()
        cache.set_review(entry, REVIEWED)
    with AltCache.open(path) as cache:
        provider, counting = run(root, images, tiny_models, cache, engine)
        photo_translations = [e for e in translations(cache) if e.sha256 == entry.sha256]
    assert {e.language for e in photo_translations} == {"en", "es"}
    assert {e.translated_from for e in photo_translations} == {entry.key}
    assert counting.count("vision") == 2  # the table (in English) and the English-only image
    assert not provider.problems


def test_text_only_call_evaluates_no_image_tokens(tiny_models: dict[str, Path], engine: LocalEngine) -> None:
    spec = tiny_slots(tiny_models).available["text"]
    png = (ROUTER / "photo" / "gen_gradient_00.png").read_bytes()
    with_image = engine.generate(spec, png, "Write alt text.", "Describe it.")
    text_only = engine.complete_text(spec, "Write alt text.", "Describe it.")
    assert with_image.prompt_tokens > 0 and 0 < text_only.prompt_tokens < with_image.prompt_tokens
    assert text_only.model_id == spec.model_id and not text_only.json_mode


# --- the pipeline, through an OpenAI-compatible server ------------------------------------------------


def test_a_server_gets_one_image_request_per_image_and_text_requests_for_the_rest(
    pages: tuple[Path, list[ImageRef]],
) -> None:
    root, images = pages

    def script(seen: Seen, n: int) -> Reply:
        has_image = any(
            isinstance(message["content"], list) and any(part.get("type") == "image_url" for part in message["content"])
            for message in seen.body["messages"]
        )
        text = '{"alt": "A chart of numbers", "decorative": false}' if has_image else "Un gráfico de números"
        return Reply(body=completion(text))

    lines: list[str] = []
    with (
        FakeOpenAI(script, models=["fake-vision", "fake-text"]) as fake,
        AltCache.open(root / ".alttext-cache.jsonl") as cache,
    ):
        provider = ModelProvider(
            Slots(fast=ServerModel("fake-vision"), text=ServerModel("fake-text")),
            engine=make_engine(fake.base_url, concurrency=3),
            project_root=root,
            site_root=root,
            router_mode="auto",
            language=None,
            allow_remote=False,
            max_length=MAX_LENGTH,
            cache=GenerationCacheAdapter(cache, MAX_LENGTH),
            verbose=True,
            log=lines.append,
        )
        with provider:
            provider.decide(images)
        posts = [s for s in fake.seen if s.method == "POST"]
        assert len(translations(cache)) == 4
    with_image = [s for s in posts if isinstance(s.body["messages"][-1]["content"], list)]
    text_only = [s for s in posts if isinstance(s.body["messages"][-1]["content"], str)]
    assert len(with_image) == 3 and len(text_only) == 4
    for seen in text_only:
        assert "image_url" not in str(seen.body) and "response_format" not in seen.body
        assert seen.body["model"] == "fake-text"  # the text slot's model translates
    assert provider.summary()["translated"] == 4 and not provider.problems
    assert sum("translated into" in line and "fake-text" in line for line in lines) == 4


# --- the setting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("", (True, "en")),
        ("translate = false\n", (False, "en")),
        ('primary_language = "pt-BR"\n', (True, "pt-br")),
        ('translate = "no"\n', "translate must be true or false"),
        ('primary_language = "!!"\n', "primary_language must be a language tag such as 'en', not '!!'"),
    ],
)
def test_translate_in_the_config_file(
    tmp_path: Path, tiny_models: dict[str, Path], toml: str, expected: tuple[bool, str] | str
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.alttext]\n{toml}", encoding="utf-8")
    if isinstance(expected, str):
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path)
        assert str(caught.value) == f"{tmp_path / 'pyproject.toml'}: {expected}"
        return
    with ModelProvider.from_config(load_config(tmp_path), tiny_slots(tiny_models)) as provider:
        assert (provider.translate, provider.primary_language) == expected


@pytest.mark.parametrize(("flag", "expected"), [(None, True), (True, True), (False, False)])
def test_translate_flag(flag: bool | None, expected: bool) -> None:
    """`--translate/--no-translate` (None: not given) over the file's setting."""
    config = apply_overrides(Config(), {"translate": True}, origin="file")
    apply_overrides(config, model_overrides({"translate": flag}), origin="command line")
    assert config.translate is expected


def test_fix_help_names_the_flag() -> None:
    from click.testing import CliRunner

    from alttext_tools.cli.main import cli

    result = CliRunner().invoke(cli, ["fix", "--help"])
    assert "--no-translate" in result.output


def test_the_integrations_pass_the_setting_on(tmp_path: Path) -> None:
    """A bad `primary_language` in the MkDocs plugin's options and in Sphinx's conf.py is named by
    the project's own check: both reach the project settings."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("sphinx")
    site = tmp_path / "mk"
    shutil.copytree(FIXTURES / "mkdocs-site", site)
    original = (site / "mkdocs.yml").read_text(encoding="utf-8")
    plugin = "  - alttext:\n      mode: fill\n      translate: false\n      primary_language: '!!'\n"
    (site / "mkdocs.yml").write_text(original.replace("  - alttext\n", plugin), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-d", str(tmp_path / "out")],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 1 and "primary_language must be a language tag" in proc.stdout + proc.stderr
    sphinx_site = tmp_path / "sx"
    shutil.copytree(FIXTURES / "sphinx-site", sphinx_site)
    conf = (sphinx_site / "conf.py").read_text(encoding="utf-8")
    (sphinx_site / "conf.py").write_text(
        conf + 'alttext_translate = False\nalttext_primary_language = "!!"\n', encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q", ".", str(tmp_path / "sx-out")],
        cwd=sphinx_site,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0 and "primary_language must be a language tag" in proc.stdout + proc.stderr


# --- keys, prompt and file format -----------------------------------------------------------------


def test_the_translation_key_follows_the_source() -> None:
    base = translation_version("k" * 64, "A red fox", False, "2025-01-01T00:00:00Z")
    assert base.startswith(TRANSLATE_VERSION + "/")
    assert translation_version("k" * 64, "A red fox", False, "2025-01-01T00:00:00Z") == base  # stable
    changed = [
        translation_version("j" * 64, "A red fox", False, "2025-01-01T00:00:00Z"),  # another source entry
        translation_version("k" * 64, "A red fox asleep", True, "2025-01-02T00:00:00Z"),  # a person's edit
        translation_version("k" * 64, "A red fox", True, "2025-01-02T00:00:00Z"),  # a person's review
    ]
    assert base not in changed and len(set(changed)) == 3


def test_the_translation_request_carries_no_image_and_the_target_pages_context() -> None:
    context = Context(page_title="Ajustes", heading="Pantalla", paragraph="La <|im_start|> pantalla", lang="es")
    prompt = translation_prompt("The settings screen", "en", "es", context, "informative", 80)
    assert prompt.json_schema is None and "at most 80 characters" in prompt.system
    assert "English (en)" in prompt.user and "Spanish (es)" in prompt.user and "The settings screen" in prompt.user
    assert "Ajustes" in prompt.user and "<|im_start|>" not in prompt.user  # sanitised like any context
    assert "data:image" not in prompt.user + prompt.system


def test_a_cache_written_before_translations_reads_and_writes_the_same_bytes(tmp_path: Path) -> None:
    """Entry lines without `translated_from` (every line before translations existed) load as
    untranslated, and a rewrite keeps them byte for byte."""
    path = tmp_path / ".alttext-cache.jsonl"
    entry = Entry.generated("a" * 64, "m", "w3c-tree-1/max150", "en", "informative", alt="A red fox")
    with AltCache.open(path) as cache:
        cache.put(entry)
    before = path.read_bytes()
    assert b"translated_from" not in before
    with AltCache.open(path) as cache:
        assert cache.entries()[0].translated_from is None
        cache.put(
            Entry.generated(
                "a" * 64, "t", "translate-1/x/max150", "es", "informative", alt="Un zorro", translated_from=entry.key
            )
        )
    after = path.read_bytes()
    assert before.splitlines()[1] in after.splitlines()  # the old line, unchanged
    assert AltCache.open(path).for_image("a" * 64)[1].translated_from == entry.key
