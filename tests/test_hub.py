"""Model presets, pulling from a (fake) Hub, offline resolution and the `models` CLI.

Nothing here touches the internet: files are served by tests/hub_server.FakeHub on 127.0.0.1,
subprocesses get HF_ENDPOINT before huggingface_hub is imported, and in-process tests run with a
guard that fails any connection or DNS lookup that is not loopback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hub_server import FakeHub, free_port
from huggingface_hub import constants as hf_constants

from alttext_tools.cli.models import models
from alttext_tools.models.hub import (
    ModelDownloadError,
    ModelError,
    ModelNotAvailableError,
    list_models,
    pinned_revision,
    pull,
    resolve_local,
)
from alttext_tools.models.lock import LOCK_FILE, LockedModel, LockFileError, is_commit, read_lock, render_lock
from alttext_tools.models.presets import PRESETS, Preset, UnknownPresetError, get_preset
from alttext_tools.models.slots import ModelPathError, spec_from_paths
from alttext_tools.models.spec import HANDLERS, ModelSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = "from alttext_tools.cli.models import models; models()"
MOONDREAM = get_preset("moondream2")
QUANTIZED = get_preset("moondream2-q4_k_m")  # the fast slot's default: MOONDREAM's files, quantized by pull
MiB = 1024 * 1024


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process code may only talk to 127.0.0.1 (the fake hub); anything else fails the test."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo
    loopback = {"127.0.0.1", "::1", "localhost"}

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in loopback:
            raise AssertionError(f"test tried to connect to {address!r}")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in loopback and host is not None:
            raise AssertionError(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HF_HOME for in-process calls (hub.py reads the env at call time)."""
    for var in list(os.environ):
        if var.startswith(("HF_", "HUGGINGFACE_")) or var in ("TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME"):
            monkeypatch.delenv(var)
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    # huggingface_hub froze these at import time, before this test could set the env:
    # - telemetry: build_hf_headers would GET {constants.ENDPOINT}/api/agent-harnesses, and that
    #   ENDPOINT is the real Hub's unless HF_ENDPOINT was set before import;
    # - token path: never send a developer's real token, even to 127.0.0.1.
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    return home


def _serve_preset(hub: FakeHub, preset: Preset, text: bytes, mmproj: bytes) -> tuple[bytes, bytes]:
    hub.add_file(preset.repo_id, preset.text_file, text)
    hub.add_file(preset.repo_id, preset.mmproj_file, mmproj)
    return text, mmproj


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    """A running fake hub serving small dummy files under moondream2's real repo id and names."""
    with FakeHub(tmp_path / "served") as server:
        _serve_preset(server, MOONDREAM, b"GGUF-text-" + os.urandom(200_000), b"GGUF-mmproj-" + os.urandom(50_000))
        yield server


def _served(hub: FakeHub, preset: Preset, filename: str) -> bytes:
    return (hub.root / preset.repo_id / filename).read_bytes()


def run_cli(
    tmp_path: Path, *args: str, endpoint: str | None = None, **env_vars: str
) -> subprocess.CompletedProcess[str]:
    """`models ...` in a fresh interpreter: the env is set before huggingface_hub is imported. It
    runs in `tmp_path`, which is then the project whose lock file `models pull` writes."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "HUGGINGFACE_", "TQDM_")) and k not in ("TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME")
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["HF_HOME"] = str(tmp_path / "hf-home")
    # Default to a dead loopback port: a forgotten endpoint must fail, never reach the real Hub.
    env["HF_ENDPOINT"] = endpoint or f"http://127.0.0.1:{free_port()}"
    env.update(env_vars)
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def _snapshot(tmp_path: Path, preset: Preset, filename: str, cache: Path | None = None) -> Path:
    cache = cache or tmp_path / "hf-home" / "hub"
    folder = cache / f"models--{preset.repo_id.replace('/', '--')}" / "snapshots" / FakeHub.commit_hash(preset.repo_id)
    return folder / filename


# -- presets --------------------------------------------------------------------------------------


def test_presets_are_complete_and_consistent() -> None:
    assert list(PRESETS) == ["moondream2", "moondream2-q4_k_m", "qwen2.5-vl-3b", "qwen2.5-vl-3b-q8_0", "qwen2.5-vl-7b"]
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert preset.handler in HANDLERS
        assert preset.slot in ("fast", "text")
        assert preset.revision == "main" or is_commit(preset.revision)  # a branch, or a commit read from the Hub
        assert preset.repo_id.startswith("ggml-org/") and preset.repo_id.endswith("-GGUF")
        assert preset.text_file.endswith(".gguf") and "mmproj" not in preset.text_file
        assert preset.mmproj_file.endswith(".gguf") and "mmproj" in preset.mmproj_file
        assert preset.download_size > 1_000_000_000
        assert preset.description and "\n" not in preset.description
    assert get_preset("moondream2").handler == "moondream"
    assert get_preset("moondream2").slot == "fast"
    assert {get_preset("qwen2.5-vl-3b").handler, get_preset("qwen2.5-vl-7b").handler} == {"qwen2.5-vl"}
    assert "Q4_K_M" in get_preset("qwen2.5-vl-3b").text_file and "f16" in get_preset("qwen2.5-vl-3b").mmproj_file
    assert "Q8_0" in get_preset("qwen2.5-vl-3b-q8_0").text_file
    quantized = get_preset("moondream2-q4_k_m")
    assert quantized.quantize == "Q4_K_M" and quantized.files == MOONDREAM.files and MOONDREAM.quantize is None


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(UnknownPresetError) as info:
        get_preset("llava-13b")
    message = str(info.value)
    assert "llava-13b" in message
    assert all(name in message for name in PRESETS)
    assert "\n" not in message


# -- pull -----------------------------------------------------------------------------------------


def test_pull_cli_downloads_into_cache_with_progress(tmp_path: Path, hub: FakeHub) -> None:
    # TQDM_POSITION=-1 is huggingface_hub's switch to draw bars even when stderr is not a TTY.
    result = run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint, TQDM_POSITION="-1")
    assert result.returncode == 0, result.stderr
    text = _snapshot(tmp_path, MOONDREAM, MOONDREAM.text_file)
    mmproj = _snapshot(tmp_path, MOONDREAM, MOONDREAM.mmproj_file)
    assert result.stdout.splitlines() == [str(text), str(mmproj)]  # data only on stdout
    assert text.read_bytes() == _served(hub, MOONDREAM, MOONDREAM.text_file)
    assert mmproj.read_bytes() == _served(hub, MOONDREAM, MOONDREAM.mmproj_file)
    assert f"{MOONDREAM.text_file}: downloading" in result.stderr
    assert "100%" in result.stderr and MOONDREAM.text_file in result.stderr  # huggingface_hub's tqdm bar
    assert "moondream2: ready" in result.stderr
    assert len(hub.resolve_requests("GET")) == 2
    # Everything the subprocess asked for (telemetry included) came to the fake hub, nowhere else.
    assert all(r.path.startswith(("/ggml-org/", "/api/")) for r in hub.requests)


def test_second_pull_hits_cache(tmp_path: Path, hub: FakeHub) -> None:
    assert run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint).returncode == 0
    hub.clear_log()
    again = run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint)
    assert again.returncode == 0, again.stderr
    assert hub.resolve_requests("GET") == []  # only HEADs to check for updates
    assert again.stderr.count(": up to date") == 2


def test_pull_honours_hf_hub_cache(tmp_path: Path, hub: FakeHub) -> None:
    cache = tmp_path / "elsewhere"
    result = run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint, HF_HUB_CACHE=str(cache))
    assert result.returncode == 0, result.stderr
    assert _snapshot(tmp_path, MOONDREAM, MOONDREAM.text_file, cache=cache).is_file()
    assert not (tmp_path / "hf-home" / "hub" / f"models--{MOONDREAM.repo_id.replace('/', '--')}").exists()


def test_pull_in_process_returns_spec_and_resolve_local_needs_no_server(
    hf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeHub(tmp_path / "served") as server:
        text, mmproj = _serve_preset(server, MOONDREAM, b"t" * 300_000, b"m" * 30_000)
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)  # read at call time by hub.py
        messages: list[str] = []
        spec = pull("moondream2", progress=False, log=messages.append)
        served_requests = len(server.requests)
    assert spec == ModelSpec(
        name="moondream2",
        text_path=_snapshot(tmp_path, MOONDREAM, MOONDREAM.text_file),
        mmproj_path=_snapshot(tmp_path, MOONDREAM, MOONDREAM.mmproj_file),
        handler="moondream",
    )
    assert spec.text_path.read_bytes() == text and spec.mmproj_path.read_bytes() == mmproj
    assert any("downloading" in m for m in messages)

    # Server stopped (port closed): resolve_local reads the cache and makes no request at all.
    assert resolve_local("moondream2") == spec
    assert len(server.requests) == served_requests


def test_path_and_list_make_no_request_even_with_hub_up(tmp_path: Path, hub: FakeHub) -> None:
    # Not even huggingface_hub's user-agent registry GET, which hf_hub_download(local_files_only=
    # True) would make: the generation-time path must be filesystem-only.
    assert run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint).returncode == 0
    hub.clear_log()
    found = run_cli(tmp_path, "path", "moondream2", endpoint=hub.endpoint)
    assert found.returncode == 0, found.stderr
    assert run_cli(tmp_path, "list", endpoint=hub.endpoint).returncode == 0
    assert hub.requests == []


def test_resolve_local_offline_mode_cli(tmp_path: Path, hub: FakeHub) -> None:
    assert run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint).returncode == 0
    hub.stop()
    hub.clear_log()
    result = run_cli(tmp_path, "path", "moondream2", endpoint=hub.endpoint, HF_HUB_OFFLINE="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        str(_snapshot(tmp_path, MOONDREAM, MOONDREAM.text_file)),
        str(_snapshot(tmp_path, MOONDREAM, MOONDREAM.mmproj_file)),
    ]
    assert hub.requests == []


def test_interrupted_download_resumes_with_range_request(tmp_path: Path, hub: FakeHub) -> None:
    # huggingface_hub writes in 10 MiB chunks and resumes from the last whole chunk written, so
    # the file must be larger than one chunk and the cut must come after the first one.
    big = os.urandom(12 * MiB)
    hub.add_file(MOONDREAM.repo_id, MOONDREAM.text_file, big)
    hub.cut_next_get(MOONDREAM.text_file, after=11 * MiB)
    result = run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint)
    assert result.returncode == 0, result.stderr
    assert _snapshot(tmp_path, MOONDREAM, MOONDREAM.text_file).read_bytes() == big

    gets = [r for r in hub.resolve_requests("GET") if r.path.endswith(MOONDREAM.text_file)]
    assert len(gets) == 2
    assert gets[0].range is None
    assert gets[1].range is not None and gets[1].range.startswith("bytes=")
    resumed_from = int(gets[1].range.removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_from <= 11 * MiB  # it did not start over
    blobs = _snapshot(tmp_path, MOONDREAM, "x").parent.parent.parent / "blobs"
    assert not list(blobs.glob("*.incomplete"))


def test_failed_pull_is_one_line_and_next_pull_completes(tmp_path: Path, hub: FakeHub) -> None:
    hub.fail_next_get(MOONDREAM.mmproj_file, status=500)
    failed = run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint)
    assert failed.returncode == 3  # README's exit codes: a file could not be downloaded
    assert _error_lines(failed.stderr) == [
        f"Error: downloading {MOONDREAM.mmproj_file} from {hub.endpoint} failed: HTTP 500"
    ]
    assert "Traceback" not in failed.stderr
    blobs = _snapshot(tmp_path, MOONDREAM, "x").parent.parent.parent / "blobs"
    assert not list(blobs.glob("*.incomplete"))  # nothing half-written is left behind

    # Half a preset is "partial", and `path` names exactly the missing file.
    listed = run_cli(tmp_path, "list", "--format", "json")
    assert json.loads(listed.stdout)["models"][0]["state"] == "partial"
    missing = run_cli(tmp_path, "path", "moondream2")
    assert missing.returncode == 3
    assert MOONDREAM.mmproj_file in missing.stderr and MOONDREAM.text_file not in missing.stderr

    retried = run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint)
    assert retried.returncode == 0, retried.stderr
    assert _snapshot(tmp_path, MOONDREAM, MOONDREAM.mmproj_file).read_bytes() == _served(
        hub, MOONDREAM, MOONDREAM.mmproj_file
    )


def test_pull_unreachable_without_cache_is_one_line_exit_3(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = run_cli(tmp_path, "pull", "moondream2", endpoint=endpoint)
    assert result.returncode == 3  # in README's exit-code table: a file could not be downloaded
    assert _error_lines(result.stderr) == [
        (
            f"Error: cannot reach {endpoint} (offline?): pull moondream2 when online, "
            "or pass --fast-model PATH --fast-mmproj PATH"
        )
    ]
    assert "Traceback" not in result.stderr and "Retrying" not in result.stderr
    assert result.stdout == ""


def test_pull_unreachable_in_process_raises_download_error(hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ModelDownloadError, match=r"^cannot reach http://127\.0\.0\.1:\d+ \(offline\?\)"):
        pull("qwen2.5-vl-3b", progress=False)


def test_pull_with_cache_but_hub_unreachable_keeps_cached_copy(tmp_path: Path, hub: FakeHub) -> None:
    assert run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint).returncode == 0
    hub.stop()
    result = run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint)
    assert result.returncode == 0, result.stderr
    assert "keeping the cached copy" in result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_pull_offline_mode(tmp_path: Path, hub: FakeHub) -> None:
    nothing = run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint, HF_HUB_OFFLINE="1")
    assert nothing.returncode == 3
    assert _error_lines(nothing.stderr) == [
        (
            f"Error: offline mode is on (HF_HUB_OFFLINE) and {MOONDREAM.text_file} is not cached: "
            "unset it to pull moondream2, or pass --fast-model PATH --fast-mmproj PATH"
        )
    ]
    assert hub.requests == []

    assert run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint).returncode == 0
    hub.clear_log()
    cached = run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint, HF_HUB_OFFLINE="1")
    assert cached.returncode == 0, cached.stderr
    assert hub.requests == []


def test_pull_missing_file_or_repo_upstream(hf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    qwen = get_preset("qwen2.5-vl-3b")
    with FakeHub(tmp_path / "served") as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        with pytest.raises(ModelDownloadError, match=f"^repository {qwen.repo_id} not found on "):
            pull("qwen2.5-vl-3b", progress=False)
        server.add_file(qwen.repo_id, qwen.text_file, b"text")  # the mmproj was "renamed upstream"
        with pytest.raises(
            ModelDownloadError,
            match=f"^{qwen.mmproj_file} not found in {qwen.repo_id}@{FakeHub.commit_hash(qwen.repo_id)}",
        ):
            pull("qwen2.5-vl-3b", progress=False)


# -- resolve_local without files ------------------------------------------------------------------


def test_resolve_local_not_downloaded(hf_home: Path) -> None:
    with pytest.raises(ModelNotAvailableError) as info:
        resolve_local("moondream2")
    message = str(info.value)
    assert "\n" not in message
    assert MOONDREAM.text_file in message and MOONDREAM.mmproj_file in message
    assert "run `alttext models pull moondream2` when online" in message
    assert message.endswith("or pass --fast-model PATH --fast-mmproj PATH")
    with pytest.raises(ModelNotAvailableError) as text_info:
        resolve_local("qwen2.5-vl-7b")
    text_slot = str(text_info.value)
    assert text_slot.endswith("or pass --text-model PATH --text-mmproj PATH")


# -- models list / path ---------------------------------------------------------------------------


def test_models_list_json_and_table(hf_home: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    before = json.loads(runner.invoke(models, ["list", "--format", "json"]).stdout)
    assert before["cache_dir"] == str(hf_home / "hub")
    assert [m["preset"] for m in before["models"]] == list(PRESETS)
    assert not any(m["cached"] for m in before["models"])

    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    spec = pull("moondream2", progress=False)
    hub.clear_log()

    result = runner.invoke(models, ["list", "--format", "json"])
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)["models"][0]
    size = len(_served(hub, MOONDREAM, MOONDREAM.text_file)) + len(_served(hub, MOONDREAM, MOONDREAM.mmproj_file))
    assert entry == {
        "preset": "moondream2",
        "repo_id": MOONDREAM.repo_id,
        "revision": "main",
        "pinned_by": None,  # an in-process pull without a lock file pins nothing
        "slot": "fast",
        "handler": "moondream",
        "description": MOONDREAM.description,
        "cached": True,
        "state": "cached",
        "text_path": str(spec.text_path),
        "mmproj_path": str(spec.mmproj_path),
        "size_on_disk": size,
        "download_size": MOONDREAM.download_size,
    }

    table = runner.invoke(models, ["list"])
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["PRESET", "SLOT", "HANDLER", "STATUS", "ON", "DISK", "DOWNLOAD", "REVISION", "REPO"]
    assert lines[1].split()[:4] == ["moondream2", "fast", "moondream", "cached"]
    # The same download, not yet quantized: the quantized preset needs a pull (no download).
    assert lines[2].split()[:4] == ["moondream2-q4_k_m", "fast", "moondream", "partial"]
    assert lines[3].split()[:4] == ["qwen2.5-vl-3b", "text", "qwen2.5-vl", "missing"]
    assert "cache:" in table.stderr and "cache:" not in table.stdout

    statuses = list_models()
    assert [s.cached for s in statuses] == [True, False, False, False, False]
    assert statuses[0].size_on_disk == size
    assert hub.requests == []  # list is filesystem-only


def test_models_path_cached_and_uncached(hf_home: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    missing = runner.invoke(models, ["path", "moondream2"])
    assert missing.exit_code == 3
    assert missing.stdout == ""
    assert missing.stderr.splitlines() == _error_lines(missing.stderr)  # exactly one line, the error
    assert len(missing.stderr.splitlines()) == 1
    assert missing.stderr.startswith("Error: model moondream2 is not downloaded (")

    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    spec = pull("moondream2", progress=False)
    found = runner.invoke(models, ["path", "moondream2"])
    assert found.exit_code == 0
    assert found.stdout.splitlines() == [str(spec.text_path), str(spec.mmproj_path)]


@pytest.mark.parametrize("args", [["path", "gpt-4o"], ["pull", "moondream2", "gpt-4o"]])
def test_unknown_preset_is_usage_error(args: list[str], hf_home: Path) -> None:
    result = CliRunner().invoke(models, args)
    assert result.exit_code == 2
    assert f"unknown model preset 'gpt-4o'; choose from: {', '.join(PRESETS)}" in result.stderr


def test_unknown_preset_subprocess_exit_2_before_any_request(tmp_path: Path, hub: FakeHub) -> None:
    result = run_cli(tmp_path, "pull", "moondream2", "nope", endpoint=hub.endpoint)
    assert result.returncode == 2
    assert (
        "choose from: moondream2, moondream2-q4_k_m, qwen2.5-vl-3b, qwen2.5-vl-3b-q8_0, qwen2.5-vl-7b" in result.stderr
    )
    assert hub.requests == []


# -- spec_from_paths ------------------------------------------------------------------------------


def test_spec_from_paths(tmp_path: Path) -> None:
    model = tmp_path / "my-model-Q4_K_M.gguf"
    mmproj = tmp_path / "mmproj-my-model-f16.gguf"
    model.write_bytes(b"GGUF")
    mmproj.write_bytes(b"GGUF")
    spec = spec_from_paths(model, mmproj, "llava")
    assert spec == ModelSpec(name="my-model-Q4_K_M", text_path=model, mmproj_path=mmproj, handler="llava")

    with pytest.raises(ModelPathError, match=r"^model file not found: .*nope\.gguf$"):
        spec_from_paths(tmp_path / "nope.gguf", mmproj, "llava")
    with pytest.raises(ModelPathError, match=r"^mmproj file not found: .*gone\.gguf$"):
        spec_from_paths(model, tmp_path / "gone.gguf", "llava")
    with pytest.raises(ModelPathError, match=r"^mmproj path is not a file: "):
        spec_from_paths(model, tmp_path, "llava")
    with pytest.raises(ModelPathError, match=r"^model and mmproj are the same file"):
        spec_from_paths(model, model, "llava")
    with pytest.raises(ModelPathError, match=r"^unknown handler 'blip'; expected one of moondream, "):
        spec_from_paths(model, mmproj, "blip")


def test_spec_from_paths_relative_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    (tmp_path / "b.gguf").write_bytes(b"GGUF")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    spec = spec_from_paths(Path("a.gguf"), Path("~/b.gguf"), "mtmd")
    assert spec.text_path == tmp_path / "a.gguf" and spec.mmproj_path == tmp_path / "b.gguf"


# -- revisions: the lock file ---------------------------------------------------------------------


def test_first_pull_locks_the_commit_and_later_pulls_and_runs_keep_it(
    hf_home: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    lock = tmp_path / "project" / LOCK_FILE
    lock.parent.mkdir()
    first_commit = FakeHub.commit_hash(MOONDREAM.repo_id)
    first = pull("moondream2", progress=False, lock=lock)
    assert read_lock(lock) == {"moondream2": LockedModel(MOONDREAM.repo_id, first_commit)}
    # The branch is asked for once; the second file comes from the commit the first resolved to.
    assert [r.path.split("/resolve/")[1] for r in hub.resolve_requests("GET")] == [
        f"main/{MOONDREAM.text_file}",
        f"{first_commit}/{MOONDREAM.mmproj_file}",
    ]
    old_text = first.text_path.read_bytes()

    new_text = b"GGUF-text-v2-" + os.urandom(1000)
    second_commit = hub.push(MOONDREAM.repo_id, MOONDREAM.text_file, new_text)  # upstream moves main
    hub.clear_log()
    again = pull("moondream2", progress=False, lock=lock)
    assert again.text_path.read_bytes() == old_text
    assert all(f"/resolve/{first_commit}/" in r.path for r in hub.resolve_requests())
    assert read_lock(lock)["moondream2"].revision == first_commit

    unlocked = pull("moondream2", progress=False)  # another project, no lock: the branch as it is now
    assert unlocked.text_path.read_bytes() == new_text
    hub.clear_log()
    assert resolve_local("moondream2", lock=lock).text_path.read_bytes() == old_text  # runs use the lock
    assert resolve_local("moondream2").text_path.read_bytes() == new_text
    assert hub.requests == []

    updated = pull("moondream2", progress=False, lock=lock, update=True)
    assert updated.text_path.read_bytes() == new_text
    assert read_lock(lock)["moondream2"] == LockedModel(MOONDREAM.repo_id, second_commit)


def test_locked_commit_not_in_the_cache_is_not_downloaded(hf_home: Path, tmp_path: Path) -> None:
    lock = tmp_path / LOCK_FILE
    lock.write_text(render_lock({"moondream2": LockedModel(MOONDREAM.repo_id, "c" * 40)}), encoding="utf-8")
    with pytest.raises(ModelNotAvailableError) as caught:
        resolve_local("moondream2", lock=lock)
    assert str(caught.value).startswith(f"model moondream2 at {'c' * 40} (pinned by {lock}) is not downloaded")


def test_a_commit_in_the_preset_wins_over_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / LOCK_FILE
    lock.write_text(render_lock({"moondream2": LockedModel(MOONDREAM.repo_id, "c" * 40)}), encoding="utf-8")
    assert pinned_revision(MOONDREAM, lock) == ("c" * 40, "lock")
    assert pinned_revision(MOONDREAM, None) == ("main", None)
    assert pinned_revision(MOONDREAM, tmp_path / "absent.lock") == ("main", None)
    pinned = Preset(**{**MOONDREAM.__dict__, "revision": "a" * 40})
    assert pinned_revision(pinned, lock) == ("a" * 40, "preset")
    moved = Preset(**{**MOONDREAM.__dict__, "repo_id": "ggml-org/other-GGUF"})
    assert pinned_revision(moved, lock) == ("main", None)  # the lock's entry is for another repository


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("{", "Expecting property name"),
        ('{"version": 2, "models": {}}', "expected an object with version 1"),
        ('{"version": 1}', 'no "models" object'),
        ('{"version": 1, "models": {"moondream2": {"revision": "' + "a" * 40 + '"}}}', "moondream2: no repo_id"),
        ('{"version": 1, "models": {"moondream2": {"repo_id": "x/y", "revision": "main"}}}', "not a 40-hex commit"),
    ],
)
def test_a_damaged_lock_file_is_one_line_naming_it(tmp_path: Path, text: str, detail: str) -> None:
    lock = tmp_path / LOCK_FILE
    lock.write_text(text, encoding="utf-8")
    with pytest.raises(LockFileError) as caught:
        read_lock(lock)
    message = str(caught.value)
    assert message.startswith(f"{lock}: not a models lock file (") and detail in message and "\n" not in message
    with pytest.raises(LockFileError, match="not a models lock file"):
        list_models(cache_dir=tmp_path / "hub", lock=lock)


def test_pull_cli_writes_the_lock_and_list_shows_the_revision(tmp_path: Path, hub: FakeHub) -> None:
    commit = FakeHub.commit_hash(MOONDREAM.repo_id)
    before = run_cli(tmp_path, "list")
    assert before.returncode == 0, before.stderr
    assert "main (not pinned)" in before.stdout.splitlines()[1]

    unlocked = run_cli(tmp_path, "pull", "moondream2", "--no-lock", endpoint=hub.endpoint)
    assert unlocked.returncode == 0, unlocked.stderr
    assert not (tmp_path / LOCK_FILE).exists()

    pulled = run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint)
    assert pulled.returncode == 0, pulled.stderr
    assert f"moondream2: locked at {commit} in {tmp_path / LOCK_FILE}" in pulled.stderr
    assert json.loads((tmp_path / LOCK_FILE).read_text(encoding="utf-8")) == {
        "version": 1,
        "models": {"moondream2": {"repo_id": MOONDREAM.repo_id, "revision": commit}},
    }
    again = run_cli(tmp_path, "pull", "moondream2", endpoint=hub.endpoint)
    assert again.returncode == 0 and "locked at" not in again.stderr  # already locked: the file is unchanged

    table = run_cli(tmp_path, "list")
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert f"{commit[:12]} (lock)" in rows["moondream2"] and "cached" in rows["moondream2"]
    assert "main (not pinned)" in rows["qwen2.5-vl-3b"]
    listing = json.loads(run_cli(tmp_path, "list", "--format", "json").stdout)
    assert listing["lock_file"] == str(tmp_path / LOCK_FILE)
    entry = listing["models"][0]
    assert (entry["preset"], entry["revision"], entry["pinned_by"], entry["cached"]) == (
        "moondream2",
        commit,
        "lock",
        True,
    )

    (tmp_path / LOCK_FILE).write_text("not json", encoding="utf-8")
    damaged = run_cli(tmp_path, "list")
    assert damaged.returncode == 2
    assert _error_lines(damaged.stderr) == [
        f"Error: {tmp_path / LOCK_FILE}: not a models lock file (Expecting value: line 1 column 1 (char 0));"
        " fix it, or delete it and run `alttext models pull` again"
    ]


def test_runs_resolve_presets_at_the_project_lock(
    hf_home: Path, hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_models: dict[str, Path]
) -> None:
    """`fix` (models.slots) reads the lock file at the config's root: a preset pulled at another
    commit is "not downloaded" for this project, and named with the commit it pins."""
    from alttext_tools.config import Config
    from alttext_tools.models.slots import resolve_slots

    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    project = tmp_path / "project"
    project.mkdir()
    qwen = get_preset("qwen2.5-vl-3b")
    # Runs check the pair they load: serve the tiny real GGUF files under the presets' names.
    _serve_preset(
        hub, MOONDREAM, tiny_models["moondream_text"].read_bytes(), tiny_models["moondream_mmproj"].read_bytes()
    )
    _serve_preset(hub, qwen, tiny_models["qwen_text"].read_bytes(), tiny_models["qwen_mmproj"].read_bytes())
    pull("qwen2.5-vl-3b", progress=False)  # the text slot, not locked: so the run has a model
    pulled = pull(QUANTIZED.name, progress=False, lock=project / LOCK_FILE)  # the fast slot's default
    assert resolve_slots(Config(root=project)).fast == pulled
    (project / LOCK_FILE).write_text(render_lock({QUANTIZED.name: LockedModel(MOONDREAM.repo_id, "c" * 40)}))
    slots = resolve_slots(Config(root=project))
    assert slots.fast is None
    assert f"{QUANTIZED.name} at {'c' * 40} (pinned by {project / LOCK_FILE})" in slots.reasons["fast"]


def test_fix_with_a_damaged_lock_file_is_a_one_line_configuration_error(tmp_path: Path) -> None:
    from conftest import alttext

    project = tmp_path / "project"
    (project / "docs" / "img").mkdir(parents=True)
    (project / ".alttext.toml").write_text("", encoding="utf-8")
    (project / "docs" / "img" / "chart.png").write_bytes((REPO_ROOT / "fixtures/site/img/chart.png").read_bytes())
    (project / "docs" / "index.md").write_text("# Charts\n\n![](img/chart.png)\n", encoding="utf-8")
    (project / LOCK_FILE).write_text("{", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    proc = alttext("fix", "docs", cwd=project, env={**env, "HF_HOME": str(tmp_path / "hf-home")})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"Error: {project / LOCK_FILE}: not a models lock file (Expecting property name enclosed in double quotes:"
        " line 1 column 2 (char 1)); fix it, or delete it and run `alttext models pull` again"
    ]


# -- presets quantized by pull --------------------------------------------------------------------


def test_pull_quantizes_once_and_runs_use_the_quantized_file(
    hf_home: Path, tmp_path: Path, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alttext_tools.models.gguf_check import read_header
    from alttext_tools.models.hub import quantized_text_path
    from alttext_tools.models.quantize import QUANT_TYPES

    with FakeHub(tmp_path / "served") as server:
        _serve_preset(
            server, QUANTIZED, tiny_models["moondream_text"].read_bytes(), tiny_models["moondream_mmproj"].read_bytes()
        )
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        with pytest.raises(ModelNotAvailableError, match="is not downloaded"):
            resolve_local(QUANTIZED.name)
        log: list[str] = []
        spec = pull(QUANTIZED.name, progress=False, log=log.append)
        downloaded = _snapshot(tmp_path, QUANTIZED, QUANTIZED.text_file)
        assert spec.text_path == quantized_text_path(QUANTIZED, downloaded, hf_home / "hub")
        assert read_header(spec.text_path).metadata["general.file_type"] == QUANT_TYPES["Q4_K_M"]
        assert spec.mmproj_path == _snapshot(tmp_path, QUANTIZED, QUANTIZED.mmproj_file)
        assert downloaded.read_bytes() == tiny_models["moondream_text"].read_bytes()  # the download is kept as is
        assert sum("quantizing" in line for line in log) == 1
        assert resolve_local(QUANTIZED.name) == spec
        written = spec.text_path.stat().st_mtime_ns
        log.clear()
        assert pull(QUANTIZED.name, progress=False, log=log.append) == spec
        assert spec.text_path.stat().st_mtime_ns == written and not any("quantizing" in line for line in log)
        # The f16 preset shares the download and uses it as it is.
        assert resolve_local("moondream2").text_path == downloaded
        spec.text_path.unlink()  # downloaded by an older version, or the quantized file deleted
        with pytest.raises(ModelNotAvailableError) as info:
            resolve_local(QUANTIZED.name)
        assert str(info.value) == (
            f"model {QUANTIZED.name}: {QUANTIZED.text_file} is downloaded but not yet quantized to Q4_K_M:"
            f" run `alttext models pull {QUANTIZED.name}` (it quantizes the file once, no download)"
        )
        assert [m.state for m in list_models() if m.preset == QUANTIZED.name] == ["partial"]


def test_a_download_that_cannot_be_quantized_is_one_line(
    hf_home: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    _serve_preset(hub, QUANTIZED, b"GGUF-text-" + os.urandom(2_000), b"GGUF-mmproj-" + os.urandom(2_000))
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    with pytest.raises(ModelError) as info:
        pull(QUANTIZED.name, progress=False)
    assert str(info.value).startswith(f"model {QUANTIZED.name}: ") and "\n" not in str(info.value)
    assert not list((hf_home / "hub").rglob("*.Q4_K_M.gguf*"))
