"""`--backend openai`: generation through an OpenAI-compatible server.

Two kinds of server, both on 127.0.0.1 and both spoken to over real HTTP:
* llama-cpp-python's own server (`python -m llama_cpp.server`) running the tiny random-weight
  moondream pair: the whole `alttext fix --backend openai` path, concurrency, a server killed
  mid-run. Its answers are gibberish, so the assertions are about guarantees, not words.
* a scripted stdlib server (tests/openai_servers.FakeOpenAI) for what a real server will not do
  on demand: garbage, 404 model, 429 then 200, slow answers, dropped connections, no vision,
  context overflow, an API key refused. No model runs there and nothing is mocked in our code.
"""

from __future__ import annotations

import base64
import email.utils
import io
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import alttext
from openai_servers import (
    FakeOpenAI,
    ForwardProxy,
    LlamaServer,
    Reply,
    Seen,
    completion,
    free_port,
    llama_server_available,
    tls_pair,
)
from PIL import Image

from alttext_tools.engines.openai import OpenAIEngine, ServerModel, ServerModelError, ServerSettings, check_base_url
from alttext_tools.engines.transport import retry_after_seconds, shown_proxy
from alttext_tools.errors import GenerationError
from alttext_tools.generate.provider import ModelProvider
from alttext_tools.images.errors import ImageDecodeError
from alttext_tools.models.slots import Slots
from alttext_tools.scan.dispatch import scan_file

needs_server = pytest.mark.skipif(
    not llama_server_available(), reason="needs llama-cpp-python[server] (fastapi, uvicorn, ...)"
)

SPEC = ServerModel("fake-vision")
SYSTEM, USER = "You write alt text.", "Describe the image."
SCHEMA = {
    "type": "object",
    "properties": {"alt": {"type": "string"}, "decorative": {"type": "boolean"}},
    "required": ["alt", "decorative"],
}
KEY = "sk-test-0123456789-secret"


def png(index: int, size: tuple[int, int] = (48, 36)) -> bytes:
    """A distinct plain RGB PNG per index."""
    buf = io.BytesIO()
    Image.new("RGB", size, ((37 * index) % 256, (91 * index + 40) % 256, (53 * index + 90) % 256)).save(buf, "PNG")
    return buf.getvalue()


RED = png(1)


def make_engine(
    url: str, *, sleeps: list[float] | None = None, environ: dict[str, str] | None = None, **settings: object
) -> OpenAIEngine:
    options: dict[str, object] = {"base_url": url, "retries": 2, "timeout": 10.0}
    options.update(settings)
    record = sleeps if sleeps is not None else []
    return OpenAIEngine(ServerSettings(**options), environ=environ or {}, sleep=record.append)  # type: ignore[arg-type]


def always(reply: Reply):  # type: ignore[no-untyped-def]
    return lambda seen, n: reply


def one_line(text: str) -> bool:
    return "\n" not in text and "\r" not in text


# --- the request and the answer ------------------------------------------------------------------


def test_request_carries_model_image_and_json_schema() -> None:
    with FakeOpenAI(always(Reply(body=completion())), models=["fake-vision"]) as fake:
        result = make_engine(fake.base_url).generate(SPEC, RED, SYSTEM, USER, SCHEMA)
    [chat] = fake.chats
    assert chat.path == "/v1/chat/completions"
    body = chat.body
    assert body["model"] == "fake-vision" and body["stream"] is False and body["temperature"] == 0.0
    assert body["messages"][0] == {"role": "system", "content": SYSTEM}
    image_part, text_part = body["messages"][1]["content"]
    assert image_part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(RED).decode()
    assert text_part == {"type": "text", "text": USER}
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "alt_text", "strict": False, "schema": {**SCHEMA, "additionalProperties": False}},
    }
    assert result.json_mode and json.loads(result.text)["alt"] == "A red square on white"
    assert result.model_id == "openai:fake-vision:mtmd" and result.tokens == 8 and result.load_s == 0.0
    assert "Authorization" not in chat.headers  # no key in the environment: none sent


def test_response_format_falls_back_to_llama_cpp_form_then_plain_text() -> None:
    def script(seen: Seen, n: int) -> Reply:
        form = (seen.body.get("response_format") or {}).get("type")
        if form == "json_schema":
            return Reply(400, {"error": {"message": "response_format type json_schema is not supported"}})
        if form == "json_object":
            return Reply(
                500,
                {
                    "error": {
                        "message": "1 validation error: ('body', 'response_format', 'schema')"
                        " extra inputs are not permitted"
                    }
                },
            )
        return Reply(body=completion("A red square"))

    with FakeOpenAI(script) as fake:
        engine = make_engine(fake.base_url)
        first = engine.generate(SPEC, RED, SYSTEM, USER, SCHEMA)
        assert [(c.body.get("response_format") or {}).get("type") for c in fake.chats] == [
            "json_schema",
            "json_object",
            None,
        ]
        second = engine.generate(SPEC, RED, SYSTEM, USER, SCHEMA)
    assert not first.json_mode and first.text == "A red square" and not second.json_mode
    assert fake.chat_requests == 4  # the form that works is remembered: one request for the second image


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html><body>502 Bad Gateway</body></html>", "not JSON"),
        ({"object": "list", "data": []}, "not a chat completion (no choices)"),
        ({"choices": []}, "no choices"),
        ({"choices": [{"message": {"content": 42}}]}, "content is a int"),
        ([1, 2, 3], "a JSON list"),
    ],
)
def test_garbage_answers_are_one_line_errors_about_the_image(body: object, expected: str) -> None:
    with FakeOpenAI(always(Reply(body=body))) as fake, pytest.raises(GenerationError) as caught:
        make_engine(fake.base_url).generate(SPEC, RED, SYSTEM, USER)
    message = str(caught.value)
    assert expected in message and fake.base_url in message and one_line(message)
    assert fake.chat_requests == 1  # an answer, however bad, is not retried


def test_model_missing_from_the_servers_model_list() -> None:
    with FakeOpenAI(always(Reply(body=completion())), models=["llava:latest", "qwen2.5vl:3b"]) as fake:
        engine = make_engine(fake.base_url)
        with pytest.raises(ServerModelError) as caught:
            engine.generate(SPEC, RED, SYSTEM, USER)
        assert engine.generate(ServerModel("llava"), RED, SYSTEM, USER).text  # Ollama's implicit :latest
    assert (
        str(caught.value)
        == f"model 'fake-vision' not found on the server at {fake.base_url} (it serves: llava:latest, qwen2.5vl:3b)"
    )
    assert fake.chat_requests == 1  # only the llava request reached the chat endpoint


def test_model_not_found_answer_from_the_chat_endpoint() -> None:
    ollama = Reply(
        404, {"error": {"message": 'model "fake-vision" not found, try pulling it first', "type": "api_error"}}
    )
    # no /models endpoint: the chat answer says it
    with FakeOpenAI(always(ollama)) as fake, pytest.raises(ServerModelError) as caught:
        make_engine(fake.base_url).generate(SPEC, RED, SYSTEM, USER, SCHEMA)
    assert "model 'fake-vision' not found on the server" in str(caught.value) and "try pulling it first" in str(
        caught.value
    )
    assert fake.chat_requests == 1


def test_wrong_base_url_says_so() -> None:
    with FakeOpenAI(always(Reply(404, {"detail": "Not Found"}))) as fake, pytest.raises(ServerModelError) as caught:
        make_engine(fake.base_url).generate(SPEC, RED, SYSTEM, USER)
    assert "is --base-url the API root (often ending in /v1)?" in str(caught.value)


def test_429_then_200_is_retried_with_retry_after() -> None:
    def script(seen: Seen, n: int) -> Reply:
        if n < 2:
            return Reply(429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "0"})
        return Reply(body=completion())

    sleeps: list[float] = []
    with FakeOpenAI(script) as fake:
        result = make_engine(fake.base_url, sleeps=sleeps).generate(SPEC, RED, SYSTEM, USER)
    assert result.text and fake.chat_requests == 3
    assert sleeps == [0.0, 0.0]  # the server's Retry-After, not our own schedule


def test_5xx_retries_are_bounded_with_exponential_backoff() -> None:
    sleeps: list[float] = []
    with (
        FakeOpenAI(always(Reply(503, {"error": {"message": "server overloaded"}}))) as fake,
        pytest.raises(GenerationError) as caught,
    ):
        make_engine(fake.base_url, sleeps=sleeps, retries=3).generate(SPEC, RED, SYSTEM, USER)
    assert fake.chat_requests == 4
    assert str(caught.value) == f"the server at {fake.base_url} answered HTTP 503: server overloaded (after 4 attempts)"
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):  # 0.5, 1, 2 s, each with +-50 % jitter
        assert 0.25 * 2**attempt <= delay <= 0.75 * 2**attempt


def test_slow_server_times_out_without_retrying() -> None:
    with FakeOpenAI(always(Reply(body=completion(), delay=3.0))) as fake:
        started = time.monotonic()
        with pytest.raises(GenerationError) as caught:
            make_engine(fake.base_url, timeout=0.4).generate(SPEC, RED, SYSTEM, USER)
        elapsed = time.monotonic() - started
    assert f"no answer from {fake.base_url} within 0.4 s (--timeout)" in str(caught.value)
    assert fake.chat_requests == 1 and elapsed < 2.5


def test_connection_refused_says_no_server_and_later_images_fail_fast() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    sleeps: list[float] = []
    engine = make_engine(url, sleeps=sleeps, retries=2)
    with pytest.raises(GenerationError) as caught:
        engine.generate(SPEC, RED, SYSTEM, USER)
    assert str(caught.value) == f"no server at {url}: is it running? (connection refused) (after 3 attempts)"
    assert len(sleeps) == 2
    with pytest.raises(GenerationError) as again:
        engine.generate(SPEC, png(2), SYSTEM, USER)
    assert str(again.value) == f"no server at {url}: is it running? (connection refused)"
    assert len(sleeps) == 2  # one quick attempt while the server stays away


def test_dropped_connection_is_retried_and_recovers() -> None:
    def script(seen: Seen, n: int) -> Reply:
        return Reply(drop=True) if n == 0 else Reply(body=completion())

    with FakeOpenAI(script) as fake:
        result = make_engine(fake.base_url).generate(SPEC, RED, SYSTEM, USER)
    assert result.text and fake.chat_requests == 2


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            500,
            "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj",
        ),  # llama.cpp
        (400, "fake-vision is not a multimodal model"),  # vLLM
        (400, "Invalid content type. image_url is only supported by certain models."),  # OpenAI
    ],
)
def test_model_without_vision(status: int, message: str) -> None:
    with (
        FakeOpenAI(always(Reply(status, {"error": {"message": message, "code": status}}))) as fake,
        pytest.raises(ServerModelError) as caught,
    ):
        make_engine(fake.base_url).generate(SPEC, RED, SYSTEM, USER, SCHEMA)
    assert str(caught.value).startswith(f"model 'fake-vision' at {fake.base_url} does not take images (")
    assert fake.chat_requests == 1


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "the request exceeds the available context size, try increasing it"),  # llama.cpp server
        (500, "could not broadcast input array from shape (27,) into shape (24,)"),  # llama-cpp-python server, n_ctx 40
        (400, "This model's maximum context length is 4096 tokens. However, your messages resulted in 5000 tokens."),
    ],
)
def test_context_too_small(status: int, message: str) -> None:
    with (
        FakeOpenAI(always(Reply(status, {"error": {"message": message}}))) as fake,
        pytest.raises(GenerationError) as caught,
    ):
        make_engine(fake.base_url).generate(SPEC, RED, SYSTEM, USER, SCHEMA)
    assert not isinstance(caught.value, ServerModelError)  # about this image: a smaller one may fit
    assert "do not fit the model's context" in str(caught.value) and "larger context" in str(caught.value)
    assert fake.chat_requests == 1


def test_api_key_is_sent_as_bearer_and_never_shown() -> None:
    def script(seen: Seen, n: int) -> Reply:
        echoed = seen.headers.get("Authorization", "")
        return Reply(401, {"error": {"message": f"Incorrect API key provided: {echoed}"}})

    with FakeOpenAI(script) as fake:
        engine = make_engine(fake.base_url, environ={"MY_SERVER_KEY": KEY}, api_key_env="MY_SERVER_KEY")
        with pytest.raises(ServerModelError) as caught:
            engine.generate(SPEC, RED, SYSTEM, USER)
    assert fake.chats[0].headers["Authorization"] == f"Bearer {KEY}"
    message = str(caught.value)
    assert KEY not in message and KEY not in repr(engine) and "***" in message
    assert "refused the request (HTTP 401" in message and "check the key in $MY_SERVER_KEY" in message


def test_empty_image_and_bad_base_urls() -> None:
    with pytest.raises(ImageDecodeError):
        make_engine("http://127.0.0.1:9/v1").generate(SPEC, b"", SYSTEM, USER)
    assert check_base_url("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080/v1"
    for bad in ("127.0.0.1:8080", "ftp://host/v1", "http://host/v1?x=1", "http://host:99999/v1"):
        with pytest.raises(ValueError):
            check_base_url(bad)


# --- the pipeline with concurrency (scripted server) ---------------------------------------------


def _docs(root: Path, count: int, duplicates: tuple[int, ...] = ()) -> list[Path]:
    (root / "docs" / "img").mkdir(parents=True)
    files = []
    for index in range(count):
        path = root / "docs" / "img" / f"p{index}.png"
        path.write_bytes(png(index + 10))
        files.append(path)
    lines = ["# Gallery", ""] + [f"Picture {i}: ![](img/p{i}.png)\n" for i in range(count)]
    lines += [f"Again {i}: ![](img/p{i}.png)\n" for i in duplicates]
    (root / "docs" / "index.md").write_text("\n".join(lines), encoding="utf-8")
    return files


def _by_image(files: list[Path], *, failing: int | None = None, delay: float = 0.0):  # type: ignore[no-untyped-def]
    """Answers that depend on the image sent (so any order gives the same results)."""
    uris = {base64.b64encode(path.read_bytes()).decode(): index for index, path in enumerate(files)}

    def script(seen: Seen, n: int) -> Reply:
        url = seen.body["messages"][-1]["content"][0]["image_url"]["url"]
        index = uris[url.split(",", 1)[1]]
        if index == failing:
            return Reply(body="<html>gateway error</html>", delay=delay)
        return Reply(
            body=completion(json.dumps({"alt": f"Gallery picture number {index}", "decorative": False})), delay=delay
        )

    return script


def _run(root: Path, url: str, concurrency: int, log: list[str] | None = None) -> ModelProvider:
    images = scan_file(root / "docs" / "index.md", "docs/index.md").images
    engine = make_engine(url, concurrency=concurrency)
    provider = ModelProvider(
        Slots(fast=SPEC),
        engine=engine,
        project_root=root,
        site_root=root,  # type: ignore[arg-type]
        router_mode="auto",
        language=None,
        allow_remote=False,
        max_length=80,
        log=(log.append if log is not None else lambda line: None),
        verbose=log is not None,
    )
    with provider:
        provider.decide(images)
    return provider


def test_concurrent_requests_keep_order_dedupe_and_per_image_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    files = _docs(tmp_path, 8, duplicates=(0, 3, 5))
    log: list[str] = []
    with FakeOpenAI(_by_image(files, failing=3, delay=0.15)) as fake:
        parallel = _run(tmp_path, fake.base_url, concurrency=4, log=log)
    assert fake.max_in_flight == 4  # never more than --concurrency, and it was used
    assert fake.chat_requests == 8  # duplicates were not sent
    with FakeOpenAI(_by_image(files, failing=3)) as fake:
        serial = _run(tmp_path, fake.base_url, concurrency=1)
    assert fake.max_in_flight == 1

    def view(provider: ModelProvider) -> list[tuple[object, ...]]:
        return [
            (r.line, r.status, r.alt, r.duplicate_of, re.sub(r"127\.0\.0\.1:\d+", "HOST", r.error or ""))
            for r in provider.records
        ]

    assert view(parallel) == view(serial)  # same records, same order as a serial run
    assert [r.line for r in parallel.records] == sorted(r.line for r in parallel.records)
    summary = parallel.summary()
    assert (summary["images"], summary["generated"], summary["deduplicated"], summary["failed"]) == (11, 7, 2, 2)
    assert summary["model_loads"] == {}
    failed = [r for r in parallel.records if r.status == "failed"]
    assert "not JSON" in failed[0].error and failed[1].error.endswith(f"(same image as {failed[0].where})")
    assert len(parallel.problems) == 2 and all(one_line(p) for p in parallel.problems)
    assert [r.alt for r in parallel.records if r.status == "generated"] == [
        f"Gallery picture number {i}" for i in (0, 1, 2, 4, 5, 6, 7)
    ]
    # Verbose lines come from the main thread, one whole line per image that got alt text.
    assert len(log) == 9 and all(one_line(line) and line.startswith("docs/index.md:") for line in log)
    assert sum("same image as" in line for line in log) == 2


def test_a_model_the_server_lacks_stops_that_slot_not_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _docs(tmp_path, 5)
    with FakeOpenAI(always(Reply(body=completion())), models=["something-else"]) as fake:
        provider = _run(tmp_path, fake.base_url, concurrency=2)
    assert fake.chat_requests == 0
    assert provider.summary()["failed"] == 5
    assert len(provider.warnings) == 1 and "not found on the server" in provider.warnings[0]
    assert all("no usable model" in r.error for r in provider.records)


# --- a real server: llama-cpp-python's, with the tiny moondream pair --------------------------------


def site(root: Path, count: int, *, duplicate: bool = True, missing: bool = True) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    img = root / "docs" / "img"
    img.mkdir(parents=True)
    lines = ["# Photos", ""]
    for index in range(count):
        (img / f"p{index}.png").write_bytes(png(index + 100, (40 + index, 30)))
        lines.append(f"Photo {index}: ![](img/p{index}.png)\n")
    if duplicate:
        lines.append("The first one again: ![](img/p0.png)\n")
    if missing:
        lines.append("Lost: ![](img/missing.png)\n")
    (root / "docs" / "index.md").write_text("\n".join(lines), encoding="utf-8")
    return root


def server_args(server: LlamaServer, *extra: str) -> list[str]:
    return [
        "fix",
        "--backend",
        "openai",
        "--base-url",
        server.base_url,
        "--model",
        server.alias,
        "--handler",
        "moondream",
        "--no-cache",
        "--format",
        "json",
        *extra,
        "docs",
    ]


@pytest.fixture(scope="module")
def llama(tiny_models: dict[str, Path]) -> Iterator[LlamaServer]:
    if not llama_server_available():
        pytest.skip("needs llama-cpp-python[server]")
    with LlamaServer(tiny_models["moondream_text"], tiny_models["moondream_mmproj"]) as server:
        yield server


@needs_server
def test_fix_through_llama_cpp_server_at_concurrency_1_and_2(llama: LlamaServer, tmp_path: Path) -> None:
    reports = {}
    for concurrency in ("1", "2"):
        root = site(tmp_path / f"c{concurrency}", 5)
        proc = alttext(*server_args(llama, "--concurrency", concurrency), cwd=root)
        assert proc.returncode == 3, proc.stderr  # 3: the missing image; everything else fixed
        report = json.loads(proc.stdout)
        reports[concurrency] = report
        summary = report["summary"]
        assert (summary["images"], summary["generated"], summary["deduplicated"], summary["failed"]) == (7, 5, 1, 1)
        assert summary["model_loads"] == {}  # nothing loaded in this process
        [problem] = report["problems"]
        assert "img/missing.png" in problem and one_line(problem)
        text = (root / "docs" / "index.md").read_text(encoding="utf-8")
        written = {(i.line, i.column): i.alt for i in scan_file(root / "docs" / "index.md", "docs/index.md").images}
        for record in report["images"]:
            assert record["model_id"] in (None, "openai:tiny-moondream:moondream")
            if record["status"] in ("generated", "deduplicated"):
                assert record["json_mode"] is True  # llama-cpp-python's json_object + schema form
                expected = "" if record["decorative"] else record["alt"]
                assert written[(record["line"], record["column"])] == expected
                assert one_line(expected) and len(expected) <= 150
        assert "![](img/missing.png)" in text

    # Greedy decoding on the same server: concurrency changes the timing, not the answers.
    def alts(report: dict) -> list[tuple[object, ...]]:  # type: ignore[type-arg]
        return [(r["line"], r["status"], r["alt"], r["decorative"]) for r in report["images"]]

    assert alts(reports["1"]) == alts(reports["2"])


@needs_server
def test_server_killed_mid_run_reports_failed_images_and_keeps_the_rest(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    root = site(tmp_path / "killed", 12, duplicate=False, missing=False)
    with LlamaServer(tiny_models["moondream_text"], tiny_models["moondream_mmproj"]) as server:
        killed = threading.Event()
        completions: list[str] = []

        def after_the_first_answer_arrived(line: str) -> None:
            # uvicorn logs a request when its answer starts, so the first answer may still be on
            # its way; with one request in flight, the second answer means the first one arrived.
            if "POST /v1/chat/completions" in line and '" 200' in line:
                completions.append(line)
                if len(completions) == 2 and not killed.is_set():
                    killed.set()
                    threading.Thread(target=server.kill, daemon=True).start()

        server.on_line.append(after_the_first_answer_arrived)
        started = time.monotonic()
        proc = alttext(*server_args(server, "--concurrency", "1", "--retries", "1"), cwd=root)
        elapsed = time.monotonic() - started
    assert killed.is_set()
    assert proc.returncode == 3, proc.stderr
    report = json.loads(proc.stdout)
    summary = report["summary"]
    assert summary["generated"] >= 1, proc.stderr  # the first image's answer was in before the kill
    assert summary["generated"] + summary["failed"] == 12
    failures = [r for r in report["images"] if r["status"] == "failed"]
    lost = [
        r
        for r in failures
        if r["error"].startswith(
            (
                f"no server at {server.base_url}: is it running?",
                f"the server at {server.base_url} dropped the connection",
            )
        )
    ]
    assert len(lost) >= 12 - 2  # every image after the second one; the second may have made it
    assert len(report["problems"]) == len(failures) and all(one_line(p) for p in report["problems"])
    written = {i.line: i.alt for i in scan_file(root / "docs" / "index.md", "docs/index.md").images}
    for record in report["images"]:  # the images done before the kill are in the file
        if record["status"] == "generated":
            assert written[record["line"]] == ("" if record["decorative"] else record["alt"])
        else:
            assert written[record["line"]] == ""
    assert elapsed < 60  # one backoff, then one quick attempt per remaining image


@needs_server
def test_real_server_errors_are_one_line(tiny_models: dict[str, Path]) -> None:
    """llama-cpp-python's own answers: a model it does not serve, and a context too small for the
    image (n_ctx 40). (Without a projector it answers from the text alone: there is no "no vision"
    error to meet there; the fake server plays the servers that send one.)"""
    with LlamaServer(tiny_models["moondream_text"], tiny_models["moondream_mmproj"], n_ctx=40) as server:
        engine = make_engine(server.base_url, retries=0, timeout=60)
        with pytest.raises(ServerModelError) as unknown:
            engine.generate(ServerModel("nope", "moondream"), RED, SYSTEM, USER, SCHEMA)
        with pytest.raises(GenerationError) as small:
            engine.generate(ServerModel(server.alias, "moondream"), RED, SYSTEM, USER, SCHEMA)
    assert (
        str(unknown.value) == f"model 'nope' not found on the server at {server.base_url} (it serves: {server.alias})"
    )
    assert str(small.value).startswith(
        f"{server.alias}: the image and prompt do not fit the model's context at {server.base_url} ("
    )
    assert not isinstance(small.value, ServerModelError) and one_line(str(small.value))


def test_cli_sends_the_key_and_never_prints_it(tmp_path: Path) -> None:
    root = site(tmp_path / "keyed", 2, duplicate=False, missing=False)

    def script(seen: Seen, n: int) -> Reply:
        return Reply(401, {"error": {"message": f"invalid key {seen.headers.get('Authorization')}"}})

    with FakeOpenAI(script, models=["vision"]) as fake:
        env = {**os.environ, "CMS_VISION_KEY": KEY}
        proc = alttext(
            "fix",
            "--backend",
            "openai",
            "--base-url",
            fake.base_url,
            "--model",
            "vision",
            "--api-key-env",
            "CMS_VISION_KEY",
            "--concurrency",
            "1",
            "--no-cache",
            "--format",
            "json",
            "docs",
            cwd=root,
            env=env,
        )
    assert proc.returncode == 3, proc.stderr
    assert KEY not in proc.stdout and KEY not in proc.stderr
    assert all(s.headers.get("Authorization") == f"Bearer {KEY}" for s in fake.seen)
    assert fake.chat_requests == 1  # the refusal marks the model unusable: the second image is not sent
    assert "refused the request (HTTP 401" in proc.stderr


def test_cli_setup_errors_are_one_line_usage_errors(tmp_path: Path) -> None:
    root = site(tmp_path / "setup", 1, duplicate=False, missing=False)
    no_url = alttext("fix", "--backend", "openai", "--model", "vision", "docs", cwd=root)
    assert no_url.returncode == 2 and "--backend openai needs --base-url URL" in no_url.stderr
    no_model = alttext("fix", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "docs", cwd=root)
    assert no_model.returncode == 2 and "--backend openai needs --model NAME" in no_model.stderr
    bad_url = alttext("fix", "--backend", "openai", "--base-url", "localhost:8080", "--model", "m", "docs", cwd=root)
    assert bad_url.returncode == 2 and "expected http(s)://HOST[:PORT]/v1" in bad_url.stderr
    refused = alttext(
        "fix",
        "--backend",
        "openai",
        "--base-url",
        f"http://127.0.0.1:{free_port()}/v1",
        "--model",
        "m",
        "--retries",
        "0",
        "docs",
        cwd=root,
    )
    assert refused.returncode == 3 and "is it running? (connection refused)" in refused.stderr


def test_backend_settings_from_the_config_file(tmp_path: Path) -> None:
    root = site(tmp_path / "configured", 2, duplicate=False, missing=False)
    with FakeOpenAI(always(Reply(body=completion())), models=["org/vision-model"]) as fake:
        (root / ".alttext.toml").write_text(
            f'backend = "openai"\nbase_url = "{fake.base_url}"\nconcurrency = 2\ntimeout = 30\nretries = 0\n',
            encoding="utf-8",
        )
        proc = alttext("fix", "--model", "org/vision-model", "--no-cache", "--format", "json", "docs", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert {chat.body["model"] for chat in fake.chats} == {"org/vision-model"}  # a model id, not made a path
    assert json.loads(proc.stdout)["summary"]["generated"] == 2
    (root / ".alttext.toml").write_text('backend = "remote"\n', encoding="utf-8")
    bad = alttext("fix", "docs", cwd=root)
    assert bad.returncode == 2 and "backend must be one of local, openai" in bad.stderr


@pytest.mark.parametrize("dripped", ["answer", "headers"])
def test_timeout_is_a_deadline_for_the_whole_request(tmp_path: Path, dripped: str) -> None:
    """A server that sends a byte every 0.5 s never lets a 2 s read timeout expire; `--timeout 2`
    still ends the request at 2 s, and `fix` goes on (exit 3: the image could not be done)."""
    drip_bytes = 40 if dripped == "answer" else 10  # 20 s of dripping; within the status line and headers, or not
    reply = Reply(body=completion(), drip=0.5, drip_bytes=drip_bytes)
    root = site(tmp_path / "site", 1, duplicate=False, missing=False)
    with FakeOpenAI(always(reply), models=["vision"]) as fake:
        started = time.monotonic()
        proc = alttext(
            "fix",
            "--backend",
            "openai",
            "--base-url",
            fake.base_url,
            "--model",
            "vision",
            "--timeout",
            "2",
            "--retries",
            "0",
            "--no-cache",
            "docs",
            cwd=root,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    assert proc.returncode == 3, proc.stderr
    assert f"no answer from {fake.base_url} within 2 s (--timeout)" in proc.stderr
    assert fake.chat_requests == 1 and elapsed < 10, elapsed


# --- the HTTP client: proxies, keep-alive, Retry-After ------------------------------------------

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def without_proxies(**variables: str) -> dict[str, str]:
    """os.environ without any proxy setting (either case), plus `variables`."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    return {**env, **variables}


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_fix_goes_through_the_proxy_the_environment_sets(tmp_path: Path, scheme: str) -> None:
    """HTTP_PROXY for an http:// server (the proxy forwards the request), HTTPS_PROXY for an
    https:// one (a CONNECT tunnel, TLS to the server inside it)."""
    root = site(tmp_path / "site", 2, duplicate=False, missing=False)
    tls = tls_pair(tmp_path) if scheme == "https" else None
    with FakeOpenAI(always(Reply(body=completion())), models=["vision"], tls=tls) as fake, ForwardProxy() as proxy:
        if tls is None:
            env = without_proxies(HTTP_PROXY=proxy.url)
        else:
            env = without_proxies(HTTPS_PROXY=proxy.url, SSL_CERT_FILE=str(tls[0]))
        args = ["--base-url", fake.base_url, "--model", "vision", "--concurrency", "1", "--no-cache"]
        proc = alttext("fix", "--backend", "openai", *args, "--format", "json", "docs", cwd=root, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"]["generated"] == 2
    assert fake.chat_requests == 2
    if tls is None:
        assert proxy.used.count(f"POST {fake.base_url}/chat/completions") == 2
        assert f"GET {fake.base_url}/models" in proxy.used
    else:
        assert proxy.used == [f"CONNECT 127.0.0.1:{fake.port}"]  # one tunnel, kept alive for every request


def test_no_proxy_reaches_the_server_directly(tmp_path: Path) -> None:
    root = site(tmp_path / "site", 1, duplicate=False, missing=False)
    with FakeOpenAI(always(Reply(body=completion())), models=["vision"]) as fake, ForwardProxy() as proxy:
        env = without_proxies(HTTP_PROXY=proxy.url, NO_PROXY="localhost,127.0.0.1")
        proc = alttext(
            "fix", "--backend", "openai", "--base-url", fake.base_url, "--model", "vision", "--no-cache", "docs",
            cwd=root, env=env,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert fake.chat_requests == 1 and proxy.used == []


def test_a_proxy_that_is_not_running_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*PROXY_VARIABLES, *(v.upper() for v in PROXY_VARIABLES)]:
        monkeypatch.delenv(name, raising=False)
    proxy = f"http://user:secret@127.0.0.1:{free_port()}"
    monkeypatch.setenv("HTTP_PROXY", proxy)
    url = "http://127.0.0.1:9/v1"
    with pytest.raises(GenerationError) as caught:
        make_engine(url, retries=0).generate(SPEC, RED, SYSTEM, USER)
    assert str(caught.value) == (
        f"no server at {url} (through the proxy {shown_proxy(proxy)}): is it running? (connection refused)"
    )
    assert "secret" not in str(caught.value)


def test_requests_share_one_kept_alive_connection() -> None:
    with (
        FakeOpenAI(always(Reply(body=completion())), models=["fake-vision"]) as fake,
        make_engine(fake.base_url) as engine,
    ):
        for index in range(3):
            engine.generate(SPEC, png(index), SYSTEM, USER, SCHEMA)
    assert [s.method for s in fake.seen] == ["GET", "POST", "POST", "POST"]
    assert len({s.client_port for s in fake.seen}) == 1


def test_retry_after_as_an_http_date_is_honoured() -> None:
    def script(seen: Seen, n: int) -> Reply:
        if n == 0:
            when = datetime.now(timezone.utc) + timedelta(seconds=3)
            return Reply(
                503,
                {"error": {"message": "busy"}},
                headers={"Retry-After": email.utils.format_datetime(when, usegmt=True)},
            )
        return Reply(body=completion())

    sleeps: list[float] = []
    with FakeOpenAI(script) as fake:
        make_engine(fake.base_url, sleeps=sleeps).generate(SPEC, RED, SYSTEM, USER)
    [delay] = sleeps
    assert 1.5 < delay <= 3.0  # whole seconds in the date: between 2 and 3 s ahead, less the time to read it


NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),  # IMF-fixdate
        ("Sunday, 01-Mar-26 12:01:00 GMT", 60.0),  # obsolete RFC 850 form
        ("Sun Mar  1 12:00:10 2026", 10.0),  # obsolete asctime form (UTC)
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_forms(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, NOW) == seconds


def test_proxy_credentials_never_shown() -> None:
    assert shown_proxy("http://user:pw@proxy.example:3128/") == "http://proxy.example:3128"
    assert shown_proxy("proxy.example:8080") == "http://proxy.example:8080"


def test_a_proxy_that_cannot_be_used_is_a_one_line_setup_error(tmp_path: Path) -> None:
    root = site(tmp_path / "site", 1, duplicate=False, missing=False)
    env = without_proxies(ALL_PROXY="ftp://user:secret@127.0.0.1:1")
    args = ["--base-url", "http://127.0.0.1:9/v1", "--model", "vision", "docs"]
    proc = alttext("fix", "--backend", "openai", *args, cwd=root, env=env)
    assert proc.returncode == 2, proc.stderr
    [error] = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
    assert "the proxy ftp://127.0.0.1:1 set in the environment cannot be used: Unknown scheme for proxy URL" in error
    assert "secret" not in proc.stderr and "Traceback" not in proc.stderr
