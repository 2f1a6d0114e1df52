"""A small fake Hugging Face Hub for tests: serves `/{repo_id}/resolve/{revision}/{filename}`.

Files live under `root/{repo_id}/{filename}` (repo_id keeps its slash, so it is two folders).
It answers what huggingface_hub's `hf_hub_download` needs (see file_download.get_hf_file_metadata
and http_get): HEAD and GET with `X-Repo-Commit`, `ETag`/`X-Linked-Etag` (sha256 of the content, as
for LFS files), `X-Linked-Size`/`Content-Length`, and `Range: bytes=N-` -> 206 for resumed downloads.
Errors carry the `X-Error-Code` header the real Hub sends (RepoNotFound, EntryNotFound,
RevisionNotFound) so huggingface_hub raises its specific exceptions.

`push(repo_id, filename, data)` makes a new commit and moves `main` to it, as an upstream update
does; the earlier commits stay served by their hash (what a pinned revision asks for).

Every request is recorded (method, path, headers) so tests can assert "no network call".
Faults can be injected: `cut_next_get(filename, after)` sends the headers and `after` bytes of the
body, then drops the connection, like a network failure mid-download; `fail_next_get(filename,
status)` answers a GET with an HTTP error instead of the file.

Usage:
    with FakeHub(tmp_path / "hub") as hub:
        hub.add_file("org/repo", "model.gguf", b"...")
        env["HF_ENDPOINT"] = hub.endpoint
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_RANGE = re.compile(r"^bytes=(?P<start>\d+)-(?P<end>\d*)$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]

    @property
    def range(self) -> str | None:
        return self.headers.get("range")


@dataclass
class _Fault:
    remaining: int  # how many more GETs of the file get this fault
    after: int | None = None  # drop the connection after this many body bytes
    status: int | None = None  # or answer with this HTTP error status


@dataclass
class FakeHub:
    """Threaded HTTP server on 127.0.0.1, random free port. Start/stop it, or use `with`."""

    root: Path
    requests: list[Request] = field(default_factory=list)
    _faults: dict[str, _Fault] = field(default_factory=dict)
    _heads: dict[str, str] = field(default_factory=dict)  # repo_id -> the commit main is at, once pushed
    _pushed: dict[tuple[str, str], Path] = field(default_factory=dict)  # (repo_id, commit) -> its files
    _conns: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    port: int = 0

    # -- content -------------------------------------------------------------------------------

    def add_file(self, repo_id: str, filename: str, data: bytes) -> Path:
        path = self.root / repo_id / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    @staticmethod
    def commit_hash(repo_id: str) -> str:
        """A stable fake 40-hex commit per repo: its first commit, what `main` is until a push."""
        return hashlib.sha1(repo_id.encode()).hexdigest()

    def head(self, repo_id: str) -> str:
        """The commit `main` is at."""
        return self._heads.get(repo_id, self.commit_hash(repo_id))

    def files_at(self, repo_id: str, commit: str) -> Path | None:
        """The folder of the repo's files at `commit`; None for a commit the repo does not have."""
        if commit == self.commit_hash(repo_id):
            return self.root / repo_id
        return self._pushed.get((repo_id, commit))

    def push(self, repo_id: str, filename: str, data: bytes) -> str:
        """A new commit: the repo's files at `main` with `filename` set to `data`; `main` moves to it."""
        with self._lock:
            before = self.files_at(repo_id, self.head(repo_id))
            assert before is not None
            commit = hashlib.sha1(f"{repo_id}#{len(self._pushed) + 1}".encode()).hexdigest()
            folder = self.root.with_name(f"{self.root.name}-commits") / commit / repo_id
            shutil.copytree(before, folder)
            (folder / filename).write_bytes(data)
            self._pushed[(repo_id, commit)] = folder
            self._heads[repo_id] = commit
        return commit

    @staticmethod
    def etag(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def cut_next_get(self, filename: str, after: int, times: int = 1) -> None:
        """Drop the connection after `after` body bytes on the next `times` GETs of `filename`."""
        with self._lock:
            self._faults[filename] = _Fault(remaining=times, after=after)

    def fail_next_get(self, filename: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` GETs of `filename` with HTTP `status` (HEAD still succeeds)."""
        with self._lock:
            self._faults[filename] = _Fault(remaining=times, status=status)

    # -- request log ---------------------------------------------------------------------------

    def resolve_requests(self, method: str | None = None) -> list[Request]:
        """Requests for files (HEAD/GET .../resolve/...), ignoring huggingface_hub's side calls."""
        with self._lock:
            return [r for r in self.requests if "/resolve/" in r.path and (method is None or r.method == method)]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake_hub = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port: later connections are refused (the "offline" case)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Also drop keep-alive connections, or a pooled client connection would still be served.
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def free_port() -> int:
    """A port nothing listens on (bound then released), for "server unreachable" tests."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler(BaseHTTPRequestHandler):
    fake_hub: FakeHub
    protocol_version = "HTTP/1.1"  # keep-alive, like the real Hub; every response sets Content-Length

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def setup(self) -> None:
        super().setup()
        with self.fake_hub._lock:
            self.fake_hub._conns.add(self.connection)

    def finish(self) -> None:
        with self.fake_hub._lock:
            self.fake_hub._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:  # the client or a cut already closed the socket
            pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        hub = self.fake_hub
        path = unquote(urlsplit(self.path).path)
        with hub._lock:
            hub.requests.append(Request(self.command, path, {k.lower(): v for k, v in self.headers.items()}))

        match = _RESOLVE.match(path)
        if match is None:
            # e.g. huggingface_hub's telemetry GET /api/agent-harnesses: not a Hub we emulate.
            self._error(404, "NotFound", body=body)
            return
        repo_id, revision, filename = match["repo"], match["rev"], match["file"]
        if not (hub.root / repo_id).is_dir():
            self._error(404, "RepoNotFound", body=body)
            return
        commit = hub.head(repo_id) if revision == "main" else revision
        repo_dir = hub.files_at(repo_id, commit)
        if repo_dir is None:
            self._error(404, "RevisionNotFound", body=body, commit=None)
            return
        file_path = repo_dir / filename
        if not file_path.is_file():
            self._error(404, "EntryNotFound", body=body, commit=commit)
            return

        data = file_path.read_bytes()
        size = len(data)
        start, end, status = 0, size - 1, 200
        range_header = self.headers.get("Range")
        if range_header and (m := _RANGE.match(range_header.strip())):
            start = int(m["start"])
            end = min(int(m["end"]), size - 1) if m["end"] else size - 1
            if start >= size:
                self._error(416, "RangeNotSatisfiable", body=body, commit=commit)
                return
            status = 206
        chunk = data[start : end + 1]
        etag = hub.etag(data)

        fault: _Fault | None = None
        if body:
            with hub._lock:
                pending = hub._faults.get(filename)
                if pending is not None and pending.remaining > 0:
                    pending.remaining -= 1
                    fault = pending
        if fault is not None and fault.status is not None:
            self._error(fault.status, "InjectedFault", body=body, commit=commit)
            return

        self.send_response(status)
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{etag}"')
        self.send_header("X-Linked-Etag", f'"{etag}"')
        self.send_header("X-Linked-Size", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        # huggingface_hub takes the progress-bar label from this (its regex wants the trailing ';').
        self.send_header("Content-Disposition", f'attachment; filename="{Path(filename).name}";')
        self.send_header("Content-Length", str(len(chunk)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body:
            return

        if fault is None or fault.after is None:
            self.wfile.write(chunk)
            return
        # Simulated network failure: part of the body, then the socket is shut down: the client
        # sees a short read against Content-Length.
        self.wfile.write(chunk[: fault.after])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _error(self, status: int, code: str, *, body: bool, commit: str | None = None) -> None:
        payload = f'{{"error": "{code}"}}'.encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        if commit is not None:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)
