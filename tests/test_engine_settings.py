"""llama.cpp's settings (`n_ctx`, `image_max_tokens`, `threads`, `gpu_layers`) in `[tool.alttext]`,
on the command line and in the MkDocs plugin, down to the Llama object the engine loads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

from alttext_tools.config import Config, ConfigError, apply_overrides, load_config
from alttext_tools.engines.base import EngineSettings, engine_settings
from alttext_tools.engines.llama import LocalEngine, gpu_offload_note
from alttext_tools.models.spec import ModelSpec

DEFAULTS = EngineSettings()


def gpu_build() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("", {}),
        ("n_ctx = 2048\n", {"n_ctx": 2048}),
        ("image_max_tokens = 256\n", {"image_max_tokens": 256}),
        ("threads = 3\n", {"n_threads": 3}),
        ('gpu_layers = "all"\n', {"n_gpu_layers": -1}),
        ('gpu_layers = "None"\n', {"n_gpu_layers": 0}),
        ("gpu_layers = 12\n", {"n_gpu_layers": 12}),
        ('gpu_layers = "12"\n', {"n_gpu_layers": 12}),
        ('gpu_layers = "many"\n', "gpu_layers must be all, none or a number of layers, not 'many'"),
        ("gpu_layers = -2\n", "gpu_layers must be all, none or a number of layers, not -2"),
        ("gpu_layers = true\n", "gpu_layers must be all, none or a number of layers, not True"),
        ("n_ctx = 0\n", "n_ctx must be at least 1"),
        ('n_ctx = "big"\n', "n_ctx must be an integer"),
        ("threads = 1.5\n", "threads must be an integer"),
    ],
)
def test_settings_in_the_config_file(tmp_path: Path, toml: str, expected: dict[str, int] | str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.alttext]\n{toml}", encoding="utf-8")
    if isinstance(expected, str):
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path)
        assert str(caught.value) == f"{tmp_path / 'pyproject.toml'}: {expected}"
        return
    settings = engine_settings(load_config(tmp_path))
    for name in ("n_ctx", "image_max_tokens", "n_threads", "n_gpu_layers"):
        assert getattr(settings, name) == expected.get(name, getattr(DEFAULTS, name))


def test_command_line_wins_over_the_file() -> None:
    config = apply_overrides(Config(), {"threads": 2, "gpu_layers": 8}, origin="file")
    apply_overrides(config, {"gpu_layers": "none"}, origin="command line")  # click passes the flag as text
    settings = engine_settings(config, threads=5)
    assert (settings.n_threads, settings.n_gpu_layers) == (5, 0)


def test_the_settings_reach_llama_cpp(tiny_models: dict[str, Path]) -> None:
    config = apply_overrides(Config(), {"n_ctx": 768, "threads": 1, "gpu_layers": "none"}, origin="test")
    spec = ModelSpec("tiny", tiny_models["moondream_text"], tiny_models["moondream_mmproj"], "moondream")
    with LocalEngine(engine_settings(config)) as engine:
        engine.load(spec)
        llm = engine._loaded[spec.model_id].llm
        assert llm.n_ctx() == 768
        assert (llm.n_threads, llm.model_params.n_gpu_layers) == (1, 0)


@pytest.mark.parametrize("layers", [None, 0, -1, 20])
def test_gpu_note_only_when_layers_are_asked_for_on_a_cpu_build(layers: int | None) -> None:
    note = gpu_offload_note(layers)
    if not layers or gpu_build():
        assert note is None
    else:
        assert note is not None and "\n" not in note
        assert note.startswith("gpu_layers: this llama-cpp-python has no GPU backend, so the models run on the CPU")
        assert 'CMAKE_ARGS="-DGGML_CUDA=on"' in note


def test_gpu_layers_flag_through_the_cli(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    site = tmp_path / "site"
    shutil.copytree(FIXTURES / "site", site)
    args = ["--model", str(tiny_models["moondream_text"]), "--mmproj", str(tiny_models["moondream_mmproj"])]
    args += ["--handler", "moondream", "--threads", "1", "--check", "index.html"]
    runs = {}
    for layers in ("all", "none", "lots"):
        runs[layers] = subprocess.run(
            [sys.executable, "-m", "alttext_tools", "fix", *args, "--gpu-layers", layers],
            cwd=site,
            capture_output=True,
            text=True,
        )
    notes = [line for line in runs["all"].stderr.splitlines() if "no GPU backend" in line]
    assert len(notes) == (0 if gpu_build() else 1)
    assert "no GPU backend" not in runs["none"].stderr
    assert runs["all"].returncode in (1, 3) and runs["none"].returncode in (1, 3)  # --check: something to write
    assert runs["lots"].returncode == 2
    assert "gpu_layers must be all, none or a number of layers, not 'lots'" in runs["lots"].stderr


def test_mkdocs_plugin_options(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    """The plugin takes the four settings, logs as `alttext`, and names a bad value."""
    pytest.importorskip("mkdocs")
    site = tmp_path / "site"
    shutil.copytree(FIXTURES / "mkdocs-site", site)
    (site / ".alttext.toml").write_text(
        f'fast_model = "{tiny_models["moondream_text"]}"\nfast_mmproj = "{tiny_models["moondream_mmproj"]}"\n'
        'fast_handler = "moondream"\nrouter = "fast"\n',
        encoding="utf-8",
    )
    original = (FIXTURES / "mkdocs-site" / "mkdocs.yml").read_text(encoding="utf-8")
    logs = {}
    for name, options in {
        "good": "n_ctx: 1024\n      image_max_tokens: 256\n      threads: 1\n      gpu_layers: all\n",
        "bad": "gpu_layers: lots\n",
    }.items():
        plugin = f"  - alttext:\n      mode: fill\n      model: true\n      {options}"
        (site / "mkdocs.yml").write_text(original.replace("  - alttext\n", plugin), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "-d", str(tmp_path / name)],
            cwd=site,
            capture_output=True,
            text=True,
            timeout=180,
        )
        logs[name] = (proc.returncode, proc.stdout + proc.stderr)
    code, log = logs["good"]
    assert code == 0, log
    assert "alttext_tools:" not in log
    assert ("WARNING -  alttext: gpu_layers: this llama-cpp-python has no GPU backend" in log) != gpu_build()
    assert "INFO    -  alttext: filled alt text for" in log
    code, log = logs["bad"]
    assert code == 1 and "gpu_layers must be all, none or a number of layers, not 'lots'" in log


def test_sphinx_extension_options(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    """The Sphinx extension takes the four settings as `alttext_*` values and names a bad one."""
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    site = tmp_path / "site"
    shutil.copytree(FIXTURES / "sphinx-site", site)
    (site / ".alttext.toml").write_text(
        f'fast_model = "{tiny_models["moondream_text"]}"\nfast_mmproj = "{tiny_models["moondream_mmproj"]}"\n'
        'fast_handler = "moondream"\nrouter = "fast"\n',
        encoding="utf-8",
    )
    original = (FIXTURES / "sphinx-site" / "conf.py").read_text(encoding="utf-8")
    logs = {}
    for name, options in {
        "good": 'alttext_model = True\nalttext_n_ctx = 1024\nalttext_threads = 1\nalttext_gpu_layers = "all"\n',
        "bad": 'alttext_model = True\nalttext_gpu_layers = "lots"\n',
    }.items():
        conf = original.replace('alttext_mode = "check"', 'alttext_mode = "fill"') + options
        (site / "conf.py").write_text(conf, encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "sphinx", "-b", "html", "-q", ".", str(tmp_path / name)],
            cwd=site,
            capture_output=True,
            text=True,
            timeout=300,
        )
        logs[name] = (proc.returncode, proc.stdout + proc.stderr)
    code, log = logs["good"]
    assert code == 0, log
    assert ("alttext: gpu_layers: this llama-cpp-python has no GPU backend" in log) != gpu_build()
    code, log = logs["bad"]
    assert code != 0 and "gpu_layers must be all, none or a number of layers, not 'lots'" in log
