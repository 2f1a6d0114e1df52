"""`alttext describe`: a folder of images with no pages around them, through the real CLI.

The example site's images (fixtures/site/img) go through a scripted OpenAI-compatible server (exact
answers, request counts) and through the tiny models in process (the real llama.cpp path).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES
from openai_servers import FakeOpenAI, Reply, Seen, completion

from alttext_tools.cli.describe import COLUMNS, Row, image_files, render

IMAGES = sorted(p.name for p in (FIXTURES / "site" / "img").iterdir())


def alttext(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "alttext_tools", *args], cwd=cwd, capture_output=True)


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    """A project holding a copy of the example site's images (tmp_path/site/img)."""
    root = tmp_path / "site"
    shutil.copytree(FIXTURES / "site" / "img", root / "img")
    (root / ".alttext.toml").write_text("", encoding="utf-8")
    return root


def server_args(fake: FakeOpenAI) -> list[str]:
    return ["--backend", "openai", "--base-url", fake.base_url, "--model", "fake-vision", "--retries", "0"]


def answer(seen: Seen, n: int) -> Reply:
    return Reply(body=completion('{"alt": "A small test picture, \\"quoted\\", with a comma", "decorative": false}'))


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_csv_has_a_header_and_one_row_per_distinct_image(library: Path) -> None:
    (library / "img" / "zz-copy-of-logo.png").write_bytes((library / "img" / "logo.png").read_bytes())
    (library / "img" / "notes.txt").write_text("not an image", encoding="utf-8")
    with FakeOpenAI(answer, models=["fake-vision"]) as fake:
        proc = alttext("describe", "img", "--format", "csv", *server_args(fake), cwd=library)
        assert proc.returncode == 0, proc.stderr
        assert fake.chat_requests == len(IMAGES)  # the copy is not described again
    assert proc.stdout.splitlines()[0] == b"path,sha256,alt,decorative,model,route,language,error"
    rows = csv_rows(proc.stdout)
    assert [row["path"] for row in rows] == [f"img/{name}" for name in IMAGES]
    for row in rows:
        assert row["sha256"] == hashlib.sha256((library / row["path"]).read_bytes()).hexdigest()
        assert row["alt"] == 'A small test picture, "quoted", with a comma'  # quoted by the csv module
        assert (row["decorative"], row["error"], row["language"]) == ("false", "", "")
        assert row["model"].startswith("openai:fake-vision") and row["route"] in ("fast", "text")
    assert b"1 duplicate skipped" in proc.stderr


def test_a_truncated_image_is_an_error_row_and_the_exit_code_says_so(library: Path) -> None:
    (library / "img" / "truncated.jpg").write_bytes((library / "img" / "mountains.jpg").read_bytes()[:1000])
    with FakeOpenAI(answer, models=["fake-vision"]) as fake:
        proc = alttext("describe", "img", "--format", "csv", *server_args(fake), cwd=library)
    assert proc.returncode == 3, proc.stderr
    rows = {row["path"]: row for row in csv_rows(proc.stdout)}
    assert len(rows) == len(IMAGES) + 1  # the run went on past the bad image
    bad = rows["img/truncated.jpg"]
    assert bad["alt"] == "" and "truncated" in bad["error"]
    assert all(row["alt"] and not row["error"] for path, row in rows.items() if path != "img/truncated.jpg")
    [line] = [line for line in proc.stderr.decode().splitlines() if "error:" in line]
    assert line.startswith("img/truncated.jpg: error: ")


def test_a_second_run_is_answered_from_the_cache(library: Path) -> None:
    with FakeOpenAI(answer, models=["fake-vision"]) as fake:
        first = alttext("describe", "img", "--format", "jsonl", *server_args(fake), cwd=library)
        requests = fake.chat_requests
        second = alttext("describe", "img", "--format", "jsonl", *server_args(fake), cwd=library)
        assert fake.chat_requests == requests == len(IMAGES)
    assert first.returncode == second.returncode == 0

    def answers(out: bytes) -> list[tuple[object, ...]]:  # the route is not kept: one model serves both slots
        return [(r["path"], r["sha256"], r["alt"], r["model"]) for r in map(json.loads, out.splitlines())]

    assert answers(first.stdout) == answers(second.stdout)
    assert (library / ".alttext-cache.jsonl").is_file()


def test_language_output_file_and_bom(library: Path) -> None:
    with FakeOpenAI(answer, models=["fake-vision"]) as fake:
        proc = alttext(
            "describe", "img/logo.png", "--lang", "de", "-o", "out/alt.csv", "--bom", *server_args(fake), cwd=library
        )
        [chat] = fake.chats
    assert proc.returncode == 0 and proc.stdout == b""
    data = (library / "out" / "alt.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfpath,")
    [row] = csv_rows(data[3:])
    assert row["language"] == "de"
    assert "German" in json.dumps(chat.body)  # the prompt asks for the language


def test_in_process_tiny_models(library: Path, tiny_models: dict[str, Path]) -> None:
    args = [
        "--fast-model",
        str(tiny_models["moondream_text"]),
        "--fast-mmproj",
        str(tiny_models["moondream_mmproj"]),
        "--fast-handler",
        "moondream",
        "--text-model",
        str(tiny_models["qwen_text"]),
        "--text-mmproj",
        str(tiny_models["qwen_mmproj"]),
        "--text-handler",
        "qwen2.5-vl",
        "--threads",
        "1",
    ]
    proc = alttext("describe", "img", "--format", "json", *args, cwd=library)
    assert proc.returncode in (0, 3), proc.stderr  # 3: a random-weight answer may be refused
    assert b"Traceback" not in proc.stderr
    rows = json.loads(proc.stdout)
    assert [row["path"] for row in rows] == [f"img/{name}" for name in IMAGES]
    for row in rows:
        assert list(row) == list(COLUMNS)
        assert (row["alt"] is not None or row["decorative"]) != (row["error"] is not None)
        assert row["route"] in ("fast", "text") and row["model"]


CSV = (
    'path,sha256,alt,decorative,model,route,language,error\r\na.png,ab,"Line, ""quoted""",false,m,fast,fr,\r\n'
    "b.gif,,,false,,,,bad image\r\n"
)
JSONL = (
    '{"path": "a.png", "sha256": "ab", "alt": "Line, \\"quoted\\"", "decorative": false, "model": "m",'
    ' "route": "fast", "language": "fr", "error": null}\n'
    '{"path": "b.gif", "sha256": null, "alt": null, "decorative": false, "model": null, "route": null,'
    ' "language": null, "error": "bad image"}\n'
)


@pytest.mark.parametrize(
    ("fmt", "bom", "expected"),
    [("csv", False, CSV), ("csv", True, "\ufeff" + CSV), ("jsonl", False, JSONL), ("jsonl", True, "\ufeff" + JSONL)],
)
def test_render(fmt: str, bom: bool, expected: str) -> None:
    rows = [Row("a.png", "ab", 'Line, "quoted"', False, "m", "fast", "fr"), Row("b.gif", error="bad image")]
    assert render(rows, fmt, bom=bom) == expected.encode("utf-8")
    assert json.loads(render(rows, "json")) == [json.loads(line) for line in render(rows, "jsonl").splitlines()]


def test_image_files_walks_folders_for_images_only(tmp_path: Path) -> None:
    for name in ("b.PNG", "a.jpg", "notes.md", "sub/c.webp", ".git/d.png", "node_modules/e.gif"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [path.relative_to(tmp_path).as_posix() for path, _ in image_files([tmp_path, tmp_path / "a.jpg"])]
    assert found == ["a.jpg", "b.PNG", "sub/c.webp"]
