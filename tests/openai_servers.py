"""OpenAI-compatible servers for tests and benchmarks, on 127.0.0.1 only.

* `LlamaServer`: llama-cpp-python's own server (`python -m llama_cpp.server`, needs the
  `llama-cpp-python[server]` extra) running a real model -- the tiny random-weight pair in tests.
* `FakeOpenAI`: a scripted stdlib server for the failures a real server will not produce on
  demand (garbage, 404, 429, slow answers, dropped connections). It only ever answers; it runs
  no model, and the code under test talks to it over real HTTP (or HTTPS, with `tls_pair`).
* `ForwardProxy`: an HTTP proxy (absolute-form requests and CONNECT tunnels) that records what
  went through it.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
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
    client_port: int = 0  # the client's side of the connection: one port for requests kept alive


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

    def __init__(
        self,
        script: Callable[[Seen, int], Reply],
        *,
        models: list[str] | None = None,
        tls: tuple[Path, Path] | None = None,  # (certificate, key): serve HTTPS
    ) -> None:
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
                fake.seen.append(Seen("GET", self.path, dict(self.headers), None, self.client_address[1]))
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
                seen = Seen("POST", self.path, dict(self.headers), parsed, self.client_address[1])
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
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/v1"
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


def tls_pair(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl), for `FakeOpenAI(tls=...)`;
    a client trusts it through SSL_CERT_FILE."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [*request, "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


class ForwardProxy:
    """A forwarding HTTP proxy on 127.0.0.1: absolute-form requests (`POST http://host/path`) are
    sent on with http.client, CONNECT opens a tunnel (HTTPS through the proxy). `used` records
    each request line ("POST http://...", "CONNECT host:port"); `url` goes in HTTP(S)_PROXY."""

    def __init__(self) -> None:
        self.used: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                proxy.used.append(f"{self.command} {self.path}")
                target = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
                upstream = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=60)
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    upstream.request(self.command, path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

            def do_CONNECT(self) -> None:
                proxy.used.append(f"CONNECT {self.path}")
                host, _, port = self.path.rpartition(":")
                upstream = socket.create_connection((host, int(port)), timeout=60)
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                ends = [self.connection, upstream]
                try:
                    while True:
                        readable, _, _ = select.select(ends, [], [], 60)
                        if not readable:
                            return
                        for end in readable:
                            data = end.recv(65536)
                            if not data:
                                return
                            (upstream if end is self.connection else self.connection).sendall(data)
                except OSError:
                    return
                finally:
                    upstream.close()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
