"""OpenAI-compatible servers for tests and benchmarks, on 127.0.0.1 only.

* `LlamaServer`: llama-cpp-python's own server (`python -m llama_cpp.server`, needs the
  `llama-cpp-python[server]` extra) running a real model -- the tiny random-weight pair in tests.
* `FakeOpenAI`: a scripted stdlib server for the failures a real server will not produce on
  demand (garbage, 404, 429, slow answers, dropped connections). It only ever answers; it runs
  no model, and the code under test talks to it over real HTTP.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def llama_server_available() -> bool:
    try:
        import fastapi  # noqa: F401
        import llama_cpp.server.app  # noqa: F401
        import sse_starlette  # noqa: F401
        import starlette_context  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return True


class LlamaServer:
    """`python -m llama_cpp.server` with one vision model on a free 127.0.0.1 port.

    Use as a context manager; `lines` collects its output (uvicorn's access log included), and
    `on_line` callbacks see each line as it arrives (to act on the first completed request).
    """

    def __init__(
        self,
        text: Path,
        mmproj: Path,
        *,
        chat_format: str = "moondream",
        alias: str = "tiny-moondream",
        threads: int = 1,
        n_ctx: int = 2048,
        startup_timeout: float = 90.0,
    ) -> None:
        self.port = free_port()
        self.alias = alias
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(text),
            "--clip_model_path",
            str(mmproj),
            "--chat_format",
            chat_format,
            "--model_alias",
            alias,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_threads",
            str(threads),
            "--n_threads_batch",
            str(threads),
            "--n_ctx",
            str(n_ctx),
            "--verbose",
            "false",
        ]
        self.startup_timeout = startup_timeout
        self.lines: list[str] = []
        self.on_line: list[Callable[[str], None]] = []
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self._reader = threading.Thread(target=self.read_rows, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with {self.process.returncode}: {' | '.join(self.lines[-10:])}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"llama_cpp.server did not answer within {self.startup_timeout} s: {' | '.join(self.lines[-10:])}"
        )

    def read_rows(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            for callback in list(self.on_line):
                callback(line)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)


# --- scripted fake -------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    drop: bool = False  # close the connection without any answer
    drip: float = 0.0  # send the answer's first `drip_bytes` bytes one at a time, this many seconds apart
    drip_bytes: int = 40


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None


def completion(
    text: str = '{"alt": "A red square on white", "decorative": false}', model: str = "fake"
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18},
    }


class FakeOpenAI:
    """A ThreadingHTTPServer whose answers come from `script(seen, n) -> Reply` (n: the 0-based
    number of chat requests so far); GET /v1/models lists `models` (None: 404)."""

    def __init__(self, script: Callable[[Seen, int], Reply], *, models: list[str] | None = None) -> None:
        self.script = script
        self.models = models
        self.seen: list[Seen] = []
        self.chat_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, reply: Reply) -> None:
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = reply.body
                data = (
                    body
                    if isinstance(body, bytes)
                    else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
                )
                buffer = io.BytesIO()
                if reply.drip:
                    self.wfile = buffer  # the whole answer, then sent byte by byte
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                if reply.drip:
                    self._drip(buffer.getvalue(), reply)

            def _drip(self, answer: bytes, reply: Reply) -> None:
                self.close_connection = True
                try:
                    for index in range(min(reply.drip_bytes, len(answer))):
                        self.connection.sendall(answer[index : index + 1])
                        time.sleep(reply.drip)
                    self.connection.sendall(answer[reply.drip_bytes :])
                except OSError:  # the client gave up
                    pass

            def do_GET(self) -> None:
                fake.seen.append(Seen("GET", self.path, dict(self.headers), None))
                if self.path.endswith("/models") and fake.models is not None:
                    self._answer(
                        Reply(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in fake.models]})
                    )
                else:
                    self._answer(Reply(404, {"detail": "Not Found"}))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = None
                seen = Seen("POST", self.path, dict(self.headers), parsed)
                with fake._lock:
                    fake.seen.append(seen)
                    number = fake.chat_requests
                    fake.chat_requests += 1
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    reply = fake.script(seen, number)
                    if reply.delay:
                        time.sleep(reply.delay)
                finally:
                    # Counted out before the answer goes: once the client has it, it may send the
                    # next request before this thread runs again (a serial client seemed to overlap).
                    with fake._lock:
                        fake.in_flight -= 1
                self._answer(reply)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def chats(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]
