"""Raw HTTP on 127.0.0.1 for the servers' security tests: exact bytes in, every response out, and
clients that send a body one byte at a time (bounded loops only)."""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


def exchange(port: int, data: bytes, *, timeout: float = 30.0) -> list[int]:
    """Send `data` as it is, read until the server closes (or `timeout`), and return the status of
    every response it sent: more than one means part of a body was taken for another request."""
    received = b""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        while time.monotonic() < deadline:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return [int(code) for code in _STATUS_LINE.findall(received)]


def request_bytes(method: str, path: str, port: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    """One request's bytes; Host is 127.0.0.1:port unless `headers` names another."""
    headers = {"Host": f"127.0.0.1:{port}", **headers}
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body: bytes) -> bytes:
    return f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


@dataclass
class Dripper:
    """A client that sends a request's headers, then its body one byte every `interval` seconds,
    at most `max_bytes` of it; `status` is what the server answered (None: nothing)."""

    port: int
    head: bytes
    interval: float
    max_bytes: int
    status: int | None = None
    sent: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> Dripper:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(self.head)
                sock.settimeout(self.interval)
                for _ in range(self.max_bytes):
                    if self.stop.is_set():
                        return
                    try:
                        answer = sock.recv(4096)
                    except TimeoutError:
                        answer = None
                    if answer is not None:  # the server answered (or closed): stop dripping
                        match = _STATUS_LINE.search(answer)
                        self.status = int(match.group(1)) if match else None
                        return
                    sock.sendall(b"x")
                    self.sent += 1
        except OSError:
            return

    def join(self, timeout: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout)
