"""`alttext serve`: real HTTP requests to a real server process running the tiny models.

The server runs as `python -m alttext_tools.serve --port 0` on 127.0.0.1 with an empty working
directory and an empty TMPDIR, which must still be empty at the end (no image ever touches the
disk). The model writes gibberish: assertions are about the API's guarantees. The API is also
checked against its own OpenAPI document, by jsonschema here and by schemathesis (bounded).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from http_helpers import Dripper, chunked, exchange, request_bytes
from openai_servers import FakeOpenAI, Reply, completion
from PIL import Image
from pydantic import BaseModel

from alttext_tools.serve.command import serve
from alttext_tools.serve.protocol import HEAD_SECONDS
from alttext_tools.serve.schema import AltForm, AltRequest, AltResult, Context, Error, Health, parse_multipart
from alttext_tools.serve.service import binding_problem

TOKEN = "a-long-enough-test-token-42"


def png(index: int, size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, ((53 * index) % 256, 120, (29 * index) % 256)).save(buf, "PNG")
    return buf.getvalue()


# --- the server process ----------------------------------------------------------------------------


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    cwd: Path
    tmpdir: Path
    log: Path


def start_serve(tmp: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    cwd, tmpdir, logs = tmp / "cwd", tmp / "tmpdir", tmp / "logs"
    for folder in (cwd, tmpdir, logs):
        folder.mkdir(parents=True)
    log = logs / "serve.log"
    environment = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONUNBUFFERED": "1"}
    environment.pop("ALTTEXT_SERVE_TOKEN", None)
    environment.update(env or {})
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "alttext_tools.serve", "--port", "0", *args],
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert process.stdout is not None
    line = process.stdout.readline()  # the URL line, once the model is loaded
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    if match is None:
        process.kill()
        raise AssertionError(f"serve did not start: {line!r} {log.read_text()}")
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return Served(match.group(0), process, cwd, tmpdir, log)


def stop_serve(served: Served) -> None:
    served.process.terminate()  # SIGTERM: graceful shutdown
    try:
        assert served.process.wait(timeout=15) == 0
    finally:
        if served.process.poll() is None:
            served.process.kill()


def model_args(tiny_models: dict[str, Path]) -> list[str]:
    return [
        "--model",
        str(tiny_models["moondream_text"]),
        "--mmproj",
        str(tiny_models["moondream_mmproj"]),
        "--handler",
        "moondream",
        "--threads",
        "1",
    ]


@pytest.fixture(scope="module")
def server(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_serve(
        tmp_path_factory.mktemp("serve"),
        *model_args(tiny_models),
        "--max-bytes",
        "300000",
        "--max-pixels",
        "1000000",
        "--queue",
        "8",
    )
    try:
        yield served
    finally:
        stop_serve(served)


# --- HTTP helpers --------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def call(url: str, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw, status, got = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as err:
        raw, status, got = err.read(), err.code, dict(err.headers)
    return Answer(status, {k.lower(): v for k, v in got.items()}, json.loads(raw) if raw else None)


def multipart(fields: dict[str, str], files: dict[str, bytes]) -> tuple[bytes, str]:
    boundary = "----alttext-test-boundary-7f3a"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, data in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="upload.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post_multipart(
    url: str, fields: dict[str, str], files: dict[str, bytes], headers: dict[str, str] | None = None
) -> Answer:
    body, content_type = multipart(fields, files)
    return call(f"{url}/v1/alt", "POST", body, {"Content-Type": content_type, **(headers or {})})


def post_json(url: str, document: Any, headers: dict[str, str] | None = None) -> Answer:
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    return call(f"{url}/v1/alt", "POST", data, {"Content-Type": "application/json", **(headers or {})})


def schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of an answer model, resolvable on its own."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **model.model_json_schema(mode="serialization")}


def assert_conforms(answer: Answer, model: type[BaseModel]) -> None:
    jsonschema.validate(answer.body, schema(model))
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store" and answer.headers["x-content-type-options"] == "nosniff"


def assert_error(answer: Answer, status: int, code: str) -> str:
    assert answer.status == status, answer.body
    assert_conforms(answer, Error)
    assert answer.body["error"] == code
    message: str = answer.body["message"]
    assert message and "\n" not in message
    return message


# --- requests ------------------------------------------------------------------------------------


def test_multipart_upload_with_context_returns_alt(server: Served) -> None:
    fields = {
        "page_title": "Team trip",
        "text": "We walked to the lake.",
        "language": "es",
        "link_target": "https://example.com/trip",
    }
    answer = post_multipart(server.url, fields, {"image": png(1)})
    assert answer.status == 200, answer.body
    assert_conforms(answer, AltResult)
    body = answer.body
    assert body["alt"] and "\n" not in body["alt"] and len(body["alt"]) <= 150
    assert body["decorative"] is False  # inside a link: never decorative
    assert (
        body["model"].startswith("tiny-moondream-text:moondream")
        and body["route"] == "fast"
        and body["source"] == "model"
    )
    timing = body["timing_ms"]
    assert timing["load"] is None  # loaded at startup, not by this request
    assert timing["total"] >= timing["generate"] > 0


def test_json_upload_returns_alt(server: Served) -> None:
    document = {"image_base64": base64.b64encode(png(2)).decode(), "context": {"page_title": "Settings", "text": None}}
    answer = post_json(server.url, document)
    assert answer.status == 200, answer.body
    assert_conforms(answer, AltResult)
    as_data_uri = post_json(
        server.url,
        {
            "image_base64": "data:image/png;base64," + base64.b64encode(png(2)).decode(),
            "context": {"page_title": "Settings"},
        },
    )
    assert as_data_uri.status == 200
    assert as_data_uri.body["alt"] == answer.body["alt"]  # same image and context, greedy decoding
    if answer.body["decorative"]:
        assert answer.body["alt"] == ""


def test_svg_with_a_title_needs_no_model(server: Served) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><title>ACME logo</title><rect width="4" height="4"/></svg>'
    answer = post_multipart(server.url, {}, {"image": svg})
    assert answer.status == 200 and answer.body["alt"] == "ACME logo"
    assert answer.body["source"] == "svg-title" and answer.body["model"] is None
    assert_conforms(answer, AltResult)
    bare = post_multipart(server.url, {}, {"image": b'<svg xmlns="http://www.w3.org/2000/svg"/>'})
    assert "SVG without <title> or <desc>" in assert_error(bare, 422, "generation_failed")


def test_healthz_and_openapi(server: Served) -> None:
    health = call(f"{server.url}/healthz")
    assert health.status == 200
    assert_conforms(health, Health)
    assert health.body["backend"] == "local" and health.body["status"] == "ok"
    [(model_id, loads)] = health.body["model_loads"].items()
    assert loads == 1 and health.body["models"] == {"fast": model_id, "text": model_id}
    document = call(f"{server.url}/openapi.json")
    assert document.status == 200
    assert document.body["openapi"] == "3.1.0" and set(document.body["paths"]) == {
        "/v1/alt",
        "/healthz",
        "/openapi.json",
    }
    # Generated by FastAPI from the routes and the pydantic models, not written by hand.
    schemas = document.body["components"]["schemas"]
    ref = "#/components/schemas/{model}"
    for model in (AltResult, Error, Health, AltRequest, AltForm, Context):
        generated = model.model_json_schema(
            ref_template=ref, mode="serialization" if model in (AltResult,) else "validation"
        )
        generated.pop("$defs", None)
        assert schemas[model.__name__] == generated, model.__name__
    alt = document.body["paths"]["/v1/alt"]["post"]
    assert set(alt["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert {"400", "401", "403", "408", "413", "415", "422", "503"} <= set(alt["responses"])


def test_limits_and_malformed_requests(server: Served) -> None:
    url = server.url
    too_big = post_multipart(url, {}, {"image": b"\0" * 400_000})  # over --max-bytes 300000 + overhead
    assert "300000" in assert_error(too_big, 413, "payload_too_large")
    many_pixels = post_multipart(url, {}, {"image": png(3, (1200, 1000))})  # small file, 1.2 Mpx > 1 Mpx
    assert "exceeds the limit of 1000000" in assert_error(many_pixels, 413, "payload_too_large")
    assert_error(post_multipart(url, {}, {"image": b"this is not an image at all"}), 415, "unsupported_media_type")
    assert_error(call(f"{url}/v1/alt", "POST", b"x", {"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    assert_error(call(f"{url}/v1/alt", "POST", png(4), {"Content-Type": "image/png"}), 415, "unsupported_media_type")
    assert "not valid JSON" in assert_error(post_json(url, b"{not json"), 400, "bad_request")
    assert "missing field image_base64" in assert_error(post_json(url, {"context": {}}), 400, "bad_request")
    assert "not valid base64" in assert_error(post_json(url, {"image_base64": "@@@@"}), 400, "bad_request")
    assert "context.text must be a string" in assert_error(
        post_json(url, {"image_base64": "AAAA", "context": {"text": 5}}), 400, "bad_request"
    )
    assert "missing multipart field image" in assert_error(
        post_multipart(url, {"page_title": "x"}, {}), 400, "bad_request"
    )
    assert_error(post_json(url, {"image_base64": ""}), 400, "bad_request")  # empty image
    deep = b'{"image_base64": "AAAA", "context": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert "nested deeper than" in assert_error(post_json(url, deep), 400, "bad_request")  # not a RecursionError
    assert_error(call(f"{url}/v2/alt", "POST", b"{}", {"Content-Type": "application/json"}), 404, "not_found")
    wrong_method = call(f"{url}/v1/alt", "GET")
    assert_error(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "POST"
    assert call(f"{url}/healthz", "DELETE").headers["allow"] == "GET, HEAD"
    # Neither Content-Length nor a chunked body: 411, before reading.
    port = int(url.rsplit(":", 1)[1])
    unframed = request_bytes("POST", "/v1/alt", port, {"Content-Type": "application/json", "Connection": "close"})
    assert exchange(port, unframed) == [411]
    # A chunked body is read as one body (h11), within the same limit, never as the next request.
    head = request_bytes(
        "POST",
        "/v1/alt",
        port,
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked", "Connection": "close"},
    )
    assert exchange(port, head + chunked(b'{"image_base64": "AAAA"}')) == [415]  # read whole: 3 bytes, no image
    smuggled = request_bytes("GET", "/healthz", port, {})
    assert exchange(port, head + chunked(b'{"a": 1}' + smuggled)) == [400]
    assert exchange(port, head + chunked(b"[" + b" " * 600_000 + b"]")) == [413]  # over the body limit as it arrives


def test_oversized_upload_is_refused_before_the_body_is_sent(server: Served) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/v1/alt")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(50 * 1024 * 1024))
    conn.putheader("Expect", "100-continue")
    conn.endheaders()  # no body follows: the answer must come anyway
    response = conn.getresponse()
    assert response.status == 413 and json.loads(response.read())["error"] == "payload_too_large"
    conn.close()


def test_concurrent_requests_queue_safely_on_one_model_load(server: Served) -> None:
    before = call(f"{server.url}/healthz").body
    results: list[Answer] = []

    def worker(index: int) -> None:
        if index % 2:
            results.append(post_multipart(server.url, {"page_title": f"Page {index}"}, {"image": png(10 + index)}))
        else:
            results.append(post_json(server.url, {"image_base64": base64.b64encode(png(10 + index)).decode()}))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [r.status for r in results] == [200] * 6, [r.body for r in results]
    for result in results:
        assert_conforms(result, AltResult)
    assert max(r.body["timing_ms"]["queue"] for r in results) > 0  # they did wait for the one model
    after = call(f"{server.url}/healthz").body
    assert after["model_loads"] == before["model_loads"] and list(after["model_loads"].values()) == [1]
    assert after["requests"]["ok"] == before["requests"]["ok"] + 6 and after["queue"]["in_flight"] == 0


def test_api_conforms_to_its_openapi_document(server: Served) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import positive_data_acceptance

    loaded = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in loaded.get_all_operations()]
    # (schemathesis leaves out the operation that serves the document it loaded)
    assert {("POST", "/v1/alt"), ("GET", "/healthz")} <= {(op.method.upper(), op.path) for op in operations}
    for operation in operations:
        examples = 12 if operation.path == "/v1/alt" else 3

        # positive_data_acceptance is left out on purpose: a schema cannot say "bytes that decode
        # as an image", so schema-valid random bytes are rightly refused (400/415). Every other
        # check runs: no 5xx, documented status codes, content types, headers, response schemas.
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        check()


def test_zz_nothing_was_written_to_disk(server: Served) -> None:
    """Runs last in this module (pytest keeps file order): every request above is done."""
    assert list(server.cwd.iterdir()) == []
    assert list(server.tmpdir.iterdir()) == []


# --- tokens, binding, queue ------------------------------------------------------------------------


def test_token_protects_the_alt_endpoint(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    served = start_serve(tmp_path, *model_args(tiny_models), env={"ALTTEXT_SERVE_TOKEN": TOKEN})
    try:
        image = {"image": png(5)}
        missing = post_multipart(served.url, {}, image)
        assert_error(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert_error(
            post_multipart(served.url, {}, image, {"Authorization": "Bearer wrong-token"}), 401, "unauthorized"
        )
        assert post_multipart(served.url, {}, image, {"Authorization": f"Bearer {TOKEN}"}).status == 200
        assert call(f"{served.url}/healthz").status == 200  # health checks need no token
    finally:
        stop_serve(served)
    assert TOKEN not in served.log.read_text()


def test_binding_beyond_loopback_needs_the_flag_and_a_token() -> None:
    runner = CliRunner()
    refused = runner.invoke(serve, ["--host", "0.0.0.0"], env={"ALTTEXT_SERVE_TOKEN": ""})
    assert refused.exit_code == 2 and "--allow-remote-clients" in refused.output
    no_token = runner.invoke(serve, ["--host", "0.0.0.0", "--allow-remote-clients"], env={"ALTTEXT_SERVE_TOKEN": ""})
    assert no_token.exit_code == 2 and "needs a token" in no_token.output
    short = runner.invoke(serve, ["--host", "0.0.0.0", "--allow-remote-clients", "--token", "short"])
    assert short.exit_code == 2 and "too short" in short.output
    assert binding_problem("127.0.0.1", False, None) is None and binding_problem("::1", False, None) is None
    assert binding_problem("localhost", False, None) is None
    assert binding_problem("192.168.1.10", True, TOKEN) is None  # allowed (not bound in this test)
    assert binding_problem("example.org", False, None) is not None


def test_full_queue_answers_503_through_the_openai_backend(tmp_path: Path) -> None:
    reply = Reply(body=completion('{"alt": "A slow but fine answer", "decorative": false}'), delay=1.5)
    with FakeOpenAI(lambda seen, n: reply, models=["vision"]) as fake:
        served = start_serve(
            tmp_path, "--backend", "openai", "--base-url", fake.base_url, "--model", "vision", "--queue", "1"
        )
        try:
            first: list[Answer] = []
            thread = threading.Thread(target=lambda: first.append(post_multipart(served.url, {}, {"image": png(6)})))
            thread.start()
            deadline = time.monotonic() + 10
            while fake.in_flight == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            busy = post_multipart(served.url, {}, {"image": png(7)})
            thread.join(timeout=30)
        finally:
            stop_serve(served)
    assert_error(busy, 503, "busy")
    assert busy.headers["retry-after"] == "1"
    assert first[0].status == 200 and first[0].body["alt"] == "A slow but fine answer"
    assert first[0].body["model"] == "openai:vision:mtmd"


# --- who may call, and how slowly ------------------------------------------------------------------


def _fake_model() -> FakeOpenAI:
    reply = Reply(body=completion('{"alt": "A fine answer", "decorative": false}'))
    return FakeOpenAI(lambda seen, n: reply, models=["vision"])


def _serve_openai(tmp_path: Path, fake: FakeOpenAI, *args: str) -> Served:
    return start_serve(tmp_path, "--backend", "openai", "--base-url", fake.base_url, "--model", "vision", *args)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "attacker.example:{port}", "Origin": "http://evil.example"}, 403),  # a page using DNS rebinding
        ({"Host": "attacker.example:{port}"}, 403),
        ({"Host": "attacker.example"}, 403),
        ({"Host": "127.0.0.1:1"}, 403),
        ({"Host": ""}, 403),
        ({"Origin": "http://evil.example"}, 403),  # a form POST from another site
        ({"Origin": "null"}, 403),
        ({"Origin": "http://127.0.0.1:1"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({}, 200),  # curl, a CMS hook
        ({"Host": "localhost:{port}"}, 200),
        ({"Host": "[::1]:{port}"}, 200),
        ({"Host": "LOCALHOST:{port}", "Origin": "http://localhost:{port}"}, 200),
        ({"Origin": "http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),
    ],
)
def test_host_and_origin(openai_served: tuple[Served, FakeOpenAI], headers: dict[str, str], status: int) -> None:
    served, fake = openai_served
    port = int(served.url.rsplit(":", 1)[1])
    sent = {name: value.format(port=port) for name, value in headers.items()}
    body, content_type = multipart({}, {"image": png(8)})
    before = fake.chat_requests
    alt = request_bytes(
        "POST",
        "/v1/alt",
        port,
        {**sent, "Content-Type": content_type, "Content-Length": str(len(body)), "Connection": "close"},
        body,
    )
    assert exchange(port, alt) == [status]
    assert fake.chat_requests == before + (status == 200)  # a refused request never reaches the model
    health = request_bytes("GET", "/healthz", port, {**sent, "Connection": "close"})
    assert exchange(port, health) == [status]
    expect = request_bytes(
        "POST",
        "/v1/alt",
        port,
        {**sent, "Content-Type": content_type, "Content-Length": str(len(body)), "Expect": "100-continue"},
    )
    waited = 1 if status == 200 else 10  # an accepted upload waits for its body: stop listening soon
    assert exchange(port, expect, timeout=waited) == ([100] if status == 200 else [status])  # refused before the body


@pytest.fixture(scope="module")
def openai_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, FakeOpenAI]]:
    with _fake_model() as fake:
        served = _serve_openai(tmp_path_factory.mktemp("serve-openai"), fake)
        try:
            yield served, fake
        finally:
            stop_serve(served)


def test_a_request_head_that_never_ends_is_cut_off(openai_served: tuple[Served, FakeOpenAI]) -> None:
    """uvicorn has no deadline for a request's line and headers; serve's protocol adds one."""
    served, _ = openai_served
    port = int(served.url.rsplit(":", 1)[1])
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=HEAD_SECONDS + 10) as sock:
        sock.sendall(b"POST /v1/alt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")  # and nothing more
        assert sock.recv(1024) == b""  # closed by the server, without an answer
    assert HEAD_SECONDS - 1 < time.monotonic() - started < HEAD_SECONDS + 5
    assert post_multipart(served.url, {}, {"image": png(12)}).status == 200


def test_slow_uploads_do_not_starve_the_queue(tmp_path: Path) -> None:
    """Sixteen clients that drip their bodies hold no place in the model queue, lose their
    connection at the upload deadline, and never keep another client waiting."""
    with _fake_model() as fake:
        served = _serve_openai(tmp_path, fake, "--upload-timeout", "4", "--max-uploads", "17")
        try:
            port = int(served.url.rsplit(":", 1)[1])
            head = request_bytes(
                "POST", "/v1/alt", port, {"Content-Type": "application/json", "Content-Length": "100000"}
            )
            started = time.monotonic()
            drippers = [Dripper(port, head, interval=0.5, max_bytes=60).start() for _ in range(16)]
            for _ in range(100):  # every dripper is sending its body
                if all(d.sent for d in drippers):
                    break
                time.sleep(0.05)
            assert all(d.sent for d in drippers)
            normal = post_multipart(served.url, {}, {"image": png(9)})
            assert normal.status == 200 and normal.body["alt"] == "A fine answer", normal.body
            health = call(f"{served.url}/healthz").body
            assert health["queue"]["in_flight"] == 0  # the drippers are not in the queue
            # The 17th body being read at once is the last one allowed: the next upload is turned away.
            extra = Dripper(port, head, interval=0.5, max_bytes=60).start()
            for _ in range(100):
                if extra.sent:
                    break
                time.sleep(0.05)
            busy = post_multipart(served.url, {}, {"image": png(10)})
            assert_error(busy, 503, "busy")
            for dripper in [*drippers, extra]:
                dripper.join(timeout=20)
            elapsed = time.monotonic() - started
            assert [d.status for d in drippers] == [408] * 16 and extra.status == 408
            assert elapsed < 15  # the deadline, not the 30 s idle timeout, ended them
            assert max(d.sent for d in drippers) < 20
            assert post_multipart(served.url, {}, {"image": png(11)}).status == 200
        finally:
            stop_serve(served)


def test_multipart_parts_stay_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """A part over 1 MB, which Starlette's own form parser (and python-multipart's defaults) would
    spool to a temporary file, is parsed in memory: no temporary file is ever opened."""
    opened: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        opened.append("temporary file")
        raise AssertionError("a temporary file was opened")

    for name in ("NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    image = os.urandom(3 * 1024 * 1024)
    body, content_type = multipart({"page_title": "Large", "language": "de"}, {"image": image})
    data, context = parse_multipart(content_type, body, len(body))
    assert data == image and context == {"page_title": "Large", "text": None, "language": "de", "link_target": None}
    assert opened == []
