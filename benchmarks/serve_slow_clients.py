"""`alttext serve` under slow uploads: a normal client's latency with 0 and with 16 clients that drip
their bodies (one byte per --interval seconds), on 127.0.0.1.

    python benchmarks/serve_slow_clients.py [--requests 20] [--drippers 16] [--interval 1.0]

The server runs as `python -m alttext_tools.serve --backend openai` against a scripted
OpenAI-compatible server (tests/openai_servers.FakeOpenAI) that answers at once, so what is timed
is the HTTP path of `serve` itself: gate, body read, parse, the call through the engine, the
answer. Each normal request is a multipart upload of a small PNG, one after another. The drippers
announce a 100 kB body and send one byte per interval; `--upload-timeout` is longer than the run,
so they hold an upload slot the whole time (the server allows 64 at once) and none of the queue.
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

from http_helpers import Dripper, request_bytes
from openai_servers import FakeOpenAI, Reply, completion


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def upload(url: str, image: bytes) -> tuple[int, float]:
    boundary = "bench-boundary-1f2e"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{url}/v1/alt", data=body, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    return status, (time.perf_counter() - started) * 1000


def measure(url: str, count: int) -> tuple[list[int], list[float]]:
    image = png()
    statuses, latencies = [], []
    for _ in range(count):
        status, ms = upload(url, image)
        statuses.append(status)
        latencies.append(ms)
    return statuses, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--drippers", type=int, default=16)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    reply = Reply(body=completion('{"alt": "A blue rectangle", "decorative": false}'))
    with FakeOpenAI(lambda seen, n: reply, models=["vision"]) as fake, tempfile.TemporaryDirectory() as tmp:
        backend = ["--backend", "openai", "--base-url", fake.base_url, "--model", "vision"]
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alttext_tools.serve",
                "--port",
                "0",
                "--quiet",
                "--upload-timeout",
                "600",
                *backend,
            ],
            cwd=tmp,
            stdout=subprocess.PIPE,
            text=True,
            env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        )
        try:
            assert process.stdout is not None
            match = re.search(r"http://127\.0\.0\.1:(\d+)", process.stdout.readline())
            if match is None:
                print("serve did not start", file=sys.stderr)
                return 1
            threading.Thread(target=process.stdout.read, daemon=True).start()
            url, port = match.group(0), int(match.group(1))
            measure(url, 3)  # warm-up
            rows = [("0 drippers", *measure(url, args.requests))]
            head = request_bytes(
                "POST", "/v1/alt", port, {"Content-Type": "application/json", "Content-Length": "100000"}
            )
            drippers = [
                Dripper(port, head, interval=args.interval, max_bytes=10_000).start() for _ in range(args.drippers)
            ]
            deadline = time.monotonic() + 30
            while not all(d.sent for d in drippers) and time.monotonic() < deadline:
                time.sleep(0.05)
            rows.append((f"{args.drippers} drippers", *measure(url, args.requests)))
            dripping = sum(1 for d in drippers if d.status is None)
            for dripper in drippers:
                dripper.stop.set()
        finally:
            process.terminate()
            process.wait(timeout=20)
    print(
        f"alttext serve (--backend openai, scripted server answering at once), {args.requests} sequential "
        f"multipart uploads per row; drippers send 1 byte per {args.interval:g} s (timings noisy on a shared machine)"
    )
    print(f"{'while':>12}  {'ok':>5}  {'p50 ms':>8}  {'max ms':>8}")
    for label, statuses, latencies in rows:
        ok = sum(1 for s in statuses if s == 200)
        print(f"{label:>12}  {ok:>2}/{len(statuses):<2}  {statistics.median(latencies):>8.1f}  {max(latencies):>8.1f}")
    print(f"drippers still sending at the end: {dripping}/{args.drippers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
