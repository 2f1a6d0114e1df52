"""An install without the `local` extra (llama-cpp-python, gguf, huggingface_hub), for real.

Every command runs in a subprocess whose `sitecustomize` hides those three packages: importing
them raises ModuleNotFoundError and `importlib.util.find_spec` answers None, as on an install
without them. What needs the extra must stop before any work with one line naming the install
(exit 2); what does not (check, fix --from, fix --backend openai, review without regenerate, the
MkDocs plugin's check and cache fill) must still work.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO
from openai_servers import FakeOpenAI, Reply, completion

FOX = REPO / "fixtures" / "mkdocs-site" / "docs" / "img" / "fox.png"
EXTRA = "alttext-tools[local]"

SITECUSTOMIZE = textwrap.dedent(
    '''
    """Hide an extra's packages from this interpreter."""
    import importlib.abc
    import importlib.util
    import sys

    HIDDEN = HIDDEN_MODULES


    def _hidden(name):
        return name.partition(".")[0] in HIDDEN


    class _Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if _hidden(name):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, _Hide())
    _find_spec = importlib.util.find_spec


    def find_spec(name, package=None):
        return None if _hidden(name) else _find_spec(name, package)


    importlib.util.find_spec = find_spec
    '''
)


def hiding(folder: Path, hidden: tuple[str, ...]) -> dict[str, str]:
    """The environment of an interpreter without the modules `hidden` (this checkout first on the path)."""
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE.replace("HIDDEN_MODULES", repr(hidden)), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment["PYTHONPATH"] = os.pathsep.join([str(folder), str(REPO)])
    return environment


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of an interpreter without the `local` extra."""
    return hiding(tmp_path_factory.mktemp("no-local-extra"), ("llama_cpp", "gguf", "huggingface_hub"))


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A docs folder with one image that needs alt text, and a project config."""
    root = tmp_path / "project"
    (root / "docs" / "img").mkdir(parents=True)
    shutil.copy(FOX, root / "docs" / "img" / "fox.png")
    (root / "docs" / "index.md").write_text("# Garden\n\n![](img/fox.png)\n", encoding="utf-8")
    (root / ".alttext.toml").write_text("max_length = 150\n", encoding="utf-8")
    return root


def run(env: dict[str, str], cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def alttext(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(env, cwd, "-m", "alttext_tools", *args)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_needs_the_extra(proc: subprocess.CompletedProcess[str]) -> None:
    """Exit 2 and exactly one line on stderr, naming the `pip install`; no traceback."""
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"pip install '{EXTRA}'" in lines[0]
    assert proc.stdout == ""


def test_the_extra_is_hidden_in_the_subprocess(env: dict[str, str], tmp_path: Path) -> None:
    probe = (
        "import importlib.util, alttext_tools\n"
        "print(alttext_tools.__file__)\n"
        "print([importlib.util.find_spec(n) for n in ('llama_cpp', 'gguf', 'huggingface_hub')])\n"
        "import llama_cpp\n"
    )
    proc = run(env, tmp_path, "-c", probe)
    assert proc.returncode == 1 and "ModuleNotFoundError: No module named 'llama_cpp'" in proc.stderr
    where, specs = proc.stdout.splitlines()
    assert Path(where).is_relative_to(REPO)
    assert specs == "[None, None, None]"


# ------------------------------------------------------------------------------ commands that need it


@pytest.mark.parametrize(
    "args",
    [
        [],  # the default presets
        ["--model", "moondream2"],
        ["--model", "model.gguf", "--mmproj", "mmproj.gguf"],
        ["--backend", "local", "--check"],
        ["--diff"],
    ],
    ids=["default", "preset", "paths", "check", "diff"],
)
def test_fix_with_in_process_models_stops_before_any_work(env: dict[str, str], project: Path, args: list[str]) -> None:
    before = snapshot(project)
    proc = alttext(env, project, "fix", "docs", *args)
    assert_needs_the_extra(proc)
    assert "alttext fix" in proc.stderr
    assert snapshot(project) == before  # no file written, no cache created


def test_describe_with_in_process_models_stops_before_any_work(env: dict[str, str], project: Path) -> None:
    before = snapshot(project)
    proc = alttext(env, project, "describe", "docs/img", "--format", "csv")
    assert_needs_the_extra(proc)
    assert "alttext describe" in proc.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize(
    "args", [["pull", "moondream2"], ["list"], ["path", "moondream2"]], ids=["pull", "list", "path"]
)
def test_models_commands_need_the_extra(env: dict[str, str], tmp_path: Path, args: list[str]) -> None:
    proc = alttext(env, tmp_path, "models", *args)
    assert_needs_the_extra(proc)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("module", ["alttext_tools", "alttext_tools.serve"])
def test_serve_needs_the_extra(env: dict[str, str], project: Path, module: str) -> None:
    before = snapshot(project)
    args = ["serve"] if module == "alttext_tools" else []
    proc = run(env, project, "-m", module, *args, "--port", "0")
    assert_needs_the_extra(proc)
    assert snapshot(project) == before


@pytest.mark.parametrize("backend", [[], ["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"]])
def test_serve_needs_the_serve_extra(tmp_path: Path, project: Path, backend: list[str]) -> None:
    """Without FastAPI, uvicorn and python-multipart, `serve` stops with one line naming the extra,
    whatever the backend; every other command goes on without them."""
    env = hiding(tmp_path, ("fastapi", "uvicorn", "python_multipart", "starlette"))
    before = snapshot(project)
    proc = run(env, project, "-m", "alttext_tools", "serve", "--port", "0", *backend)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert "pip install 'alttext-tools[serve]'" in line and "fastapi" in line
    assert proc.stdout == "" and snapshot(project) == before
    assert alttext(env, project, "check", "docs").returncode == 1  # the image without alt text


def test_review_starts_without_regenerate_and_says_so_once(env: dict[str, str], project: Path) -> None:
    before = snapshot(project)
    proc = subprocess.Popen(
        [sys.executable, "-m", "alttext_tools", "review", "docs", "--no-browser", "--port", "0"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else url
        base, token = url.split("/?token=")
        request = urllib.request.Request(f"{base}/api/items", headers={"X-Alttext-Token": token})
        with urllib.request.urlopen(request, timeout=30) as response:
            page = json.loads(response.read())
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert page["counts"]["total"] == 1
    assert page["regenerate"]["available"] is False
    assert EXTRA in page["regenerate"]["reason"]
    notes = [line for line in stderr.splitlines() if EXTRA in line]
    assert len(notes) == 1 and notes[0].startswith("review: regenerate is off: "), stderr
    assert "Traceback" not in stderr
    assert snapshot(project) == before


# ------------------------------------------------------------------------------ commands that do not


def test_check_works(env: dict[str, str], project: Path) -> None:
    proc = alttext(env, project, "check", "docs")
    assert proc.returncode == 1, proc.stderr  # the image has no alt
    assert "docs/index.md:3:1: empty-alt" in proc.stdout


def test_fix_from_a_decisions_file_works(env: dict[str, str], project: Path) -> None:
    report = alttext(env, project, "check", "docs", "--format", "json")
    findings = json.loads(report.stdout)
    for finding in findings:
        finding["new_alt"] = "A red fox on the lawn"
    (project / "decisions.json").write_text(json.dumps(findings), encoding="utf-8")
    proc = alttext(env, project, "fix", "--from", "decisions.json")
    assert proc.returncode == 0, proc.stderr
    assert "![A red fox on the lawn](img/fox.png)" in (project / "docs" / "index.md").read_text(encoding="utf-8")


def test_fix_with_a_server_works(env: dict[str, str], project: Path) -> None:
    with FakeOpenAI(lambda seen, n: Reply(body=completion()), models=["fake"]) as server:
        proc = alttext(
            env, project, "fix", "docs", "--backend", "openai", "--base-url", server.base_url, "--model", "fake"
        )
    assert proc.returncode == 0, proc.stderr
    assert server.chats
    assert "![A red square on white](img/fox.png)" in (project / "docs" / "index.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ the MkDocs plugin

mkdocs_installed = pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed")


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(REPO / "fixtures" / "mkdocs-site", root)
    return root


def configure(site: Path, plugin: str) -> None:
    config = site / "mkdocs.yml"
    config.write_text(config.read_text(encoding="utf-8").replace("  - alttext\n", plugin), encoding="utf-8")


def mkdocs_build(env: dict[str, str], site: Path) -> subprocess.CompletedProcess[str]:
    return run(env, site, "-m", "mkdocs", "build", "-f", "mkdocs.yml", "-d", str(site.parent / "out"), timeout=180)


@mkdocs_installed
def test_mkdocs_fill_with_models_is_a_plugin_error_naming_the_extra(env: dict[str, str], site: Path) -> None:
    configure(site, "  - alttext:\n      mode: fill\n      model: true\n")
    before = snapshot(site)
    proc = mkdocs_build(env, site)
    assert proc.returncode != 0
    log = proc.stdout + proc.stderr
    assert f"pip install '{EXTRA}'" in log and "Traceback" not in log, log
    assert snapshot(site) == before


@mkdocs_installed
@pytest.mark.parametrize("plugin", ["  - alttext\n", "  - alttext:\n      mode: fill\n"], ids=["check", "cache-fill"])
def test_mkdocs_check_and_cache_fill_need_nothing(env: dict[str, str], site: Path, plugin: str) -> None:
    configure(site, plugin)
    proc = mkdocs_build(env, site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site.parent / "out" / "guide.html").exists()
