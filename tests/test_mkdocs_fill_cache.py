"""MkDocs `fill` from the alt-text cache, and with the local models (tiny, real inference)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from alttext_tools.cache.store import AltCache
from alttext_tools.images.resolve import content_hash

pytest.importorskip("mkdocs")

SITE = REPO / "fixtures" / "mkdocs-site"


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    (root / "mkdocs.yml").write_text(
        (SITE / "mkdocs.yml").read_text(encoding="utf-8").replace("  - alttext\n", "  - alttext:\n      mode: fill\n"),
        encoding="utf-8",
    )
    return root


def build(site: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-f", "mkdocs.yml", "-d", str(site.parent / "out")],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return proc.returncode, proc.stdout + proc.stderr


def digest(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_fill_from_the_cache_without_a_model(site: Path) -> None:
    fox = content_hash((site / "docs/img/fox.png").read_bytes())
    with AltCache.open(site / ".alttext-cache.jsonl") as cache:
        cache.put_human(fox, None, "informative", alt='A red fox on a "wet" lawn')
    before = digest(site / "docs")
    code, log = build(site)
    assert code == 0, log
    page = (site.parent / "out" / "guide.html").read_text(encoding="utf-8")
    assert page.count('alt="A red fox on a &quot;wet&quot; lawn"') == 2  # the HTML <img> and ![](img/fox.png)
    assert digest(site / "docs") == before  # sources never written
    assert "from the alt-text cache" in log


def test_fill_with_models_loads_once_and_keeps_answers(site: Path, tiny_models: dict[str, Path]) -> None:
    (site / ".alttext.toml").write_text(
        f'fast_model = "{tiny_models["moondream_text"]}"\nfast_mmproj = "{tiny_models["moondream_mmproj"]}"\n'
        f'fast_handler = "moondream"\ntext_model = "{tiny_models["qwen_text"]}"\n'
        f'text_mmproj = "{tiny_models["qwen_mmproj"]}"\ntext_handler = "qwen2.5-vl"\n',
        encoding="utf-8",
    )
    mkdocs_yml = site / "mkdocs.yml"
    mkdocs_yml.write_text(
        mkdocs_yml.read_text(encoding="utf-8").replace("mode: fill\n", "mode: fill\n      model: true\n"),
        encoding="utf-8",
    )
    before = digest(site / "docs")
    code, log = build(site)
    assert code in (0, 1), log
    assert digest(site / "docs") == before
    entries = AltCache.open(site / ".alttext-cache.jsonl").entries()
    assert entries and all(e.state == "generated" for e in entries)
    first = (site.parent / "out" / "guide.html").read_text(encoding="utf-8")
    # The second build takes every answer from the cache: same page, no new entries.
    code, log = build(site)
    assert (site.parent / "out" / "guide.html").read_text(encoding="utf-8") == first
    assert len(AltCache.open(site / ".alttext-cache.jsonl").entries()) == len(entries)


def test_model_provider_is_kept_across_rebuilds(site: Path, tiny_models: dict[str, Path]) -> None:
    """`mkdocs serve` keeps the plugin instance; its models must survive a rebuild."""
    from mkdocs.config import load_config

    from alttext_tools.integrations.mkdocs import AltTextPlugin

    (site / ".alttext.toml").write_text(
        f'fast_model = "{tiny_models["moondream_text"]}"\n'
        f'fast_mmproj = "{tiny_models["moondream_mmproj"]}"\n'
        'fast_handler = "moondream"\n',
        encoding="utf-8",
    )
    plugin = AltTextPlugin()
    errors, _ = plugin.load_config({"mode": "fill", "model": True})
    assert not errors
    config: Any = load_config(str(site / "mkdocs.yml"))
    plugin.on_config(config)
    first = plugin.provider
    plugin.on_config(config)  # a rebuild
    assert plugin.provider is first
    plugin.on_shutdown()
    assert plugin.provider is None


def test_fill_with_a_server_backend(site: Path) -> None:
    """`backend = "openai"` in the project config is honoured by the plugin as by `alttext fix`."""
    from openai_servers import FakeOpenAI, Reply, completion

    with FakeOpenAI(lambda seen, n: Reply(body=completion()), models=["fake"]) as server:
        (site / ".alttext.toml").write_text(
            f'backend = "openai"\nbase_url = "{server.base_url}"\nfast_model = "fake"\ntext_model = "fake"\n',
            encoding="utf-8",
        )
        mkdocs_yml = site / "mkdocs.yml"
        mkdocs_yml.write_text(
            mkdocs_yml.read_text(encoding="utf-8").replace("mode: fill\n", "mode: fill\n      model: true\n"),
            encoding="utf-8",
        )
        code, log = build(site)
    assert code in (0, 1), log
    assert server.chats, log  # the server wrote the alt text, not a local model
    assert 'alt="A red square on white"' in (site.parent / "out" / "guide.html").read_text(encoding="utf-8")
