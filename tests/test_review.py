"""`alttext review`, for real: the CLI starts the server, headless Chromium (Debian's, driven by
Playwright) accepts, edits, marks decorative and regenerates (with the tiny real models), then
Apply rewrites the sources; the cache file and the sources are checked byte for byte. Also: the
token, the 127.0.0.1-only socket, the image endpoint's path safety, axe-core on the page, and
1,000 images paginated.

Needs /usr/bin/chromium (`.ci/system-deps` installs it) and the `playwright` and
`axe-playwright-python` packages (the test extras; the latter ships axe-core's axe.min.js).
Locally the browser tests skip when one is missing; under CI they fail instead.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from http_helpers import chunked, exchange, request_bytes

from alttext_tools.cache.file import Entry
from alttext_tools.cache.store import AltCache
from alttext_tools.images.resolve import content_hash
from alttext_tools.scan.dispatch import scan_file

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CACHE_FILE = ".alttext-cache.jsonl"
EDIT_HTML = "He said \"hi\" <script>alert(1)</script> & 'more'"
EDIT_MD = 'A blue square <b>"bold"</b> [x]'


def _unavailable(what: str) -> None:
    """Skip on a developer's machine; fail in CI, which must run these tests."""
    if os.environ.get("CI"):
        pytest.fail(
            f"{what}; CI must run the review-page browser tests (.ci/system-deps installs Chromium, "
            "the test extras install playwright and axe-playwright-python)"
        )
    pytest.skip(what)


# ------------------------------------------------------------------------------------------------
# The server, started as the user would
# ------------------------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    port: int
    token: str
    proc: subprocess.Popen[str]
    stderr: Path

    def api(
        self,
        path: str,
        *,
        method: str = "GET",
        body: Any = None,
        token: str | None = "header",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        """(status, JSON or text) of one request; token="header" sends the right token; `raw` is a
        body sent as it is."""
        sent = dict(headers or {})
        if token == "header":
            sent["X-Alttext-Token"] = self.token
        elif token is not None:
            sent["X-Alttext-Token"] = token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw, kind = response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            status, raw, kind = err.code, err.read(), err.headers.get("Content-Type", "")
        return status, json.loads(raw) if kind.startswith("application/json") else raw

    def raw_get(self, path: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """A GET with the path sent exactly as given (no client-side normalisation)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host or f"127.0.0.1:{self.port}")
            conn.endheaders()
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


def start_server(
    site: Path, *args: str, timeout: float = 60.0, browser: bool = False, env: dict[str, str] | None = None
) -> Server:
    stderr = site.parent / f"review-stderr-{time.monotonic_ns()}.txt"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "alttext_tools", "review", *([] if browser else ["--no-browser"]), *args],
            cwd=site,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        first = lines.get(timeout=timeout)
    except queue.Empty:
        proc.kill()
        raise AssertionError(f"alttext review printed no URL in {timeout} s: {stderr.read_text()}") from None
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{32,})\n", first)
    assert match, (first, stderr.read_text())
    return Server(first.strip(), int(match.group(1)), match.group(2), proc, stderr)


def stop(server: Server) -> int | None:
    """SIGTERM, as `kill` would; the exit status (None if it had to be killed)."""
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            return server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
            return None
    return server.proc.returncode


def model_args(tiny: dict[str, Path]) -> list[str]:
    return [
        "--fast-model",
        str(tiny["moondream_text"]),
        "--fast-mmproj",
        str(tiny["moondream_mmproj"]),
        "--fast-handler",
        "moondream",
        "--text-model",
        str(tiny["qwen_text"]),
        "--text-mmproj",
        str(tiny["qwen_mmproj"]),
        "--text-handler",
        "qwen2.5-vl",
        "--threads",
        "1",
    ]


def write_png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format="PNG")


def cache_rows(site: Path) -> list[dict[str, Any]]:
    lines = (site / CACHE_FILE).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[1:]]


def sha(path: Path) -> str:
    return content_hash(path.read_bytes())


# ------------------------------------------------------------------------------------------------
# The browser
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (Debian package chromium; .ci/system-deps installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def axe_source() -> str:
    try:
        import axe_playwright_python
    except ImportError:
        _unavailable("the axe-playwright-python package (which ships axe-core) is not installed")
    script = Path(axe_playwright_python.__file__).with_name("axe.min.js")
    if not script.is_file():
        _unavailable(f"axe-core's script is not at {script}")
    return script.read_text(encoding="utf-8")


def new_page(browser: Any) -> Any:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.js_errors = errors
    return page


def axe_violations(page: Any, axe_source: str) -> list[str]:
    """axe-core's violations on the page as it is now, one line each (empty: none)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source)  # CDP evaluation: the page's CSP does not apply to it
    found = page.evaluate("""async () => {
        const results = await axe.run(document, { resultTypes: ['violations'] });
        return results.violations.map(v => `${v.id} (${v.impact}): ${v.help} -- ` +
            v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
    }""")
    return list(found)


def item(page: Any, where: str) -> Any:
    """The article of one image, by its heading text ("docs/guide.md, line 13")."""
    return page.locator("article.item").filter(has=page.get_by_text(where, exact=True))


def focused_item_heading(page: Any) -> str:
    return str(
        page.evaluate(
            "() => { const a = document.activeElement.closest('article.item'); "
            "return a ? a.querySelector('h3 span').textContent : ''; }"
        )
    )


# ------------------------------------------------------------------------------------------------
# The whole flow
# ------------------------------------------------------------------------------------------------


@pytest.fixture()
def reviewed_site(tmp_path: Path, tiny_models: dict[str, Path]) -> Path:
    """The example site after `alttext fix` with the tiny models; then guide.md put back as it
    was (its images need alt again and have proposals in the cache), and a new page with a new
    image no model has seen."""
    site = tmp_path / "site"
    shutil.copytree(FIXTURES / "site", site)
    proc = subprocess.run(
        [sys.executable, "-m", "alttext_tools", "fix", *model_args(tiny_models)],
        cwd=site,
        capture_output=True,
        text=True,
    )
    assert proc.returncode in (0, 3), proc.stderr
    shutil.copy(FIXTURES / "site" / "docs" / "guide.md", site / "docs" / "guide.md")
    write_png(site / "img" / "new.png", (30, 90, 200))
    (site / "docs" / "new.md").write_text("# New page\n\n![](../img/new.png)\n", encoding="utf-8")
    return site


def test_review_accept_edit_decorative_regenerate_apply(
    reviewed_site: Path, tiny_models: dict[str, Path], browser: Any, axe_source: str
) -> None:
    from playwright.sync_api import expect

    site = reviewed_site
    before_cache = {(r["sha256"], r["language"], r["role"], r["model_id"]): r for r in cache_rows(site)}
    spanish_before = (site / "docs" / "es" / "guia.md").read_bytes()
    server = start_server(site, *model_args(tiny_models))
    try:
        page = new_page(browser)
        page.goto(server.url)
        status = page.locator("#status")
        expect(page.locator("article.item")).to_have_count(9)
        expect(page.locator("#summary")).to_contain_text("9 images listed, 9 to review")
        assert page.locator("html").get_attribute("lang") == "en"
        assert axe_violations(page, axe_source) == []

        # Each item shows the image, where it is, its context, the proposal and who wrote it.
        chart = item(page, "docs/guide.md, line 13")
        expect(chart.locator("img")).to_have_attribute("loading", "lazy")
        expect(chart.locator("dl")).to_contain_text("Page titleUser guide")  # context
        expect(chart.locator("dl")).to_contain_text("looks like a file name")  # why it is listed
        expect(chart).to_contain_text("characters")
        # The text model's random answer for the chart may be a loop, which goes to the fast model.
        expect(chart).to_contain_text(re.compile(r"written by tiny-(qwen-text \(text|moondream-text \(fast) model\)"))
        assert chart.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")

        # Keyboard: j moves through the list; a accepts (then the next item gets the focus).
        for _ in range(3):
            page.keyboard.press("j")
        assert focused_item_heading(page) == "docs/guide.md, line 13"
        page.keyboard.press("a")
        expect(status).to_contain_text("Accepted: docs/guide.md line 13")
        expect(chart.locator(".badge").first).to_have_text("accepted")

        # d marks the now-current item (the team photo) decorative.
        assert focused_item_heading(page) == "docs/guide.md, line 17"
        page.keyboard.press("d")
        expect(status).to_contain_text("Marked decorative: docs/guide.md line 17")

        # The new image has no proposal: a opens the editor; Enter saves what was typed.
        assert focused_item_heading(page) == "docs/new.md, line 3"
        page.keyboard.press("a")
        field = page.locator("#items textarea")
        expect(field).to_be_focused()
        field.press_sequentially(EDIT_MD)  # "a", "d", "e", "r" in the text must not act as shortcuts
        page.keyboard.press("Enter")
        expect(status).to_contain_text("Saved: docs/new.md line 3")

        # Edit by mouse in the HTML page, with quotes and a script tag.
        settings = item(page, "index.html, line 21")
        settings.get_by_role("button", name="Edit").click()
        field = settings.locator("textarea")
        expect(field).to_be_focused()
        field.fill(EDIT_HTML)
        field.press("Enter")
        expect(status).to_contain_text("Saved: index.html line 21")
        expect(settings.locator(".alt-text")).to_have_text(EDIT_HTML)  # shown as text, not markup
        assert page.evaluate("() => window.__xss === undefined && !document.querySelector('#items script')")

        # The edit field open: axe-core still finds nothing; typing shortcuts does nothing; Escape closes.
        screenshot_item = item(page, "docs/guide.md, line 9")
        screenshot_item.get_by_role("button", name="Edit").click()
        expect(screenshot_item.locator("textarea")).to_be_focused()
        assert axe_violations(page, axe_source) == []
        screenshot_item.locator("textarea").press_sequentially("jkad")
        screenshot_item.locator("textarea").press("Escape")
        expect(screenshot_item.locator("textarea")).to_have_count(0)
        expect(screenshot_item.locator(".badge").first).to_have_text("not reviewed")

        # Regenerate with the other model: the Spanish page's qwen text -> moondream, for real.
        spanish = item(page, "docs/es/guia.md, line 5")
        spanish.get_by_role("button", name="Regenerate with the other model").click()
        expect(status).to_contain_text("Regenerated with tiny-moondream-text (fast model)", timeout=120_000)
        expect(spanish).to_contain_text("written by tiny-moondream-text (fast model)")

        # Help: ? opens it, Escape closes it.
        page.locator("body").press("?")
        expect(page.locator("#help")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#help")).to_be_hidden()

        # Apply: the reviewed and edited images are written; the page shows the diff.
        page.get_by_role("button", name="Apply reviewed alt text").click()
        expect(status).to_contain_text("Wrote 4 images in 3 files")
        diff = page.locator("#diff")
        expect(diff).to_be_visible()
        diff_text = diff.inner_text()
        expect(page.locator("#result-heading")).to_be_focused()
        assert page.js_errors == []
    finally:
        stop(server)

    # The cache: every decision is in the file.
    rows = cache_rows(site)
    by_key = {(r["sha256"], r["language"], r["role"], r["model_id"]): r for r in rows}
    qwen = "tiny-qwen-text:qwen2.5-vl:tiny-qwen-text.gguf"
    moondream = "tiny-moondream-text:moondream:tiny-moondream-text.gguf"
    img = site / "img"
    # Written by the text model, or by the fast one when the text model's answer was a loop.
    [chart_key] = [key for key in by_key if key[:3] == (sha(img / "chart.png"), None, "informative")]
    chart_row = by_key[chart_key]
    assert chart_row["state"] == "reviewed"
    assert chart_row["alt"] == before_cache[chart_key]["alt"]
    photo_row = by_key[(sha(img / "mountains.jpg"), None, "informative", moondream)]
    assert (photo_row["state"], photo_row["decorative"], photo_row["alt"], photo_row["written_by"]) == (
        "edited",
        True,
        "",
        "human",
    )
    new_row = by_key[(sha(img / "new.png"), None, "informative", "human")]
    assert (new_row["state"], new_row["alt"], new_row["written_by"]) == ("edited", EDIT_MD, "human")
    html_row = by_key[(sha(img / "settings-screenshot.png"), "en", "informative", qwen)]
    assert (html_row["state"], html_row["alt"], html_row["written_by"]) == ("edited", EDIT_HTML, "human")
    regenerated = by_key[(sha(img / "settings-screenshot.png"), "es", "informative", moondream)]
    assert regenerated["state"] == "generated" and regenerated["handler"] == "moondream"
    assert by_key[(sha(img / "settings-screenshot.png"), "es", "informative", qwen)]["state"] == "generated"
    assert (
        by_key[(sha(img / "settings-screenshot.png"), None, "informative", qwen)]["state"] == "generated"
    )  # only looked at

    # The sources: exactly the decided alt, escaped for its syntax; nothing else changed.
    html = (site / "index.html").read_text(encoding="utf-8")
    assert "      ALT=\"He said &quot;hi&quot; &lt;script&gt;alert(1)&lt;/script&gt; &amp; 'more'\">" in html
    assert (site / "docs" / "new.md").read_text(encoding="utf-8") == (
        '# New page\n\n![A blue square &lt;b>"bold"&lt;/b> \\[x\\]](../img/new.png)\n'
    )
    guide = (site / "docs" / "guide.md").read_text(encoding="utf-8")
    assert "A photo from the team trip: ![][trip]<!-- alttext: decorative -->\n" in guide
    assert "![](../img/settings-screenshot.png)\n" in guide  # not decided: untouched
    scanned = {
        (image.path, image.line): image
        for name in ("index.html", "docs/guide.md", "docs/new.md")
        for image in scan_file(site / name, name).images
    }
    assert scanned[("docs/guide.md", 13)].alt == chart_row["alt"]
    assert scanned[("docs/guide.md", 17)].decorative
    assert scanned[("docs/new.md", 3)].alt == EDIT_MD
    assert scanned[("index.html", 21)].alt == EDIT_HTML
    assert (site / "docs" / "es" / "guia.md").read_bytes() == spanish_before  # regenerated, not accepted: not written

    # The diff shown is the change made, file by file.
    assert "+++ b/index.html" in diff_text and "+++ b/docs/guide.md" in diff_text and "+++ b/docs/new.md" in diff_text
    assert "+A photo from the team trip: ![][trip]<!-- alttext: decorative -->" in diff_text
    assert (
        "-![](../img/new.png)" in diff_text
        and '+![A blue square &lt;b>"bold"&lt;/b> \\[x\\]](../img/new.png)' in diff_text
    )
    assert "+      ALT=\"He said &quot;hi&quot; &lt;script&gt;alert(1)&lt;/script&gt; &amp; 'more'\">" in diff_text


# ------------------------------------------------------------------------------------------------
# Security: token, interface, Host header, image paths
# ------------------------------------------------------------------------------------------------


@pytest.fixture()
def small_site(tmp_path: Path) -> Path:
    """A project with one image inside it, one outside it, and a symlink pointing out."""
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    write_png(site / "img" / "inside.png", (200, 40, 40))
    write_png(tmp_path / "outside" / "secret.png", (1, 2, 3))
    (tmp_path / "outside" / "secret.txt").write_text("TOP-SECRET\n", encoding="utf-8")
    (site / "img" / "link.png").symlink_to(tmp_path / "outside" / "secret.png")
    (site / "docs" / "page.md").write_text(
        "# Page\n\n![](../img/inside.png)\n\n![](../../outside/secret.png)\n\n![](../img/link.png)\n\n"
        "[![](../img/inside.png)](https://example.org/)\n",
        encoding="utf-8",
    )
    (site / ".alttext.toml").write_text("", encoding="utf-8")  # the project root
    return site


def test_token_interface_and_host(small_site: Path) -> None:
    server = start_server(small_site, "--no-model")
    try:
        port = server.port
        # The token: nothing without it, or with a wrong one; POST only with the header.
        assert server.raw_get("/")[0] == 403
        assert server.raw_get("/?token=wrong")[0] == 403
        status, headers, body = server.raw_get(f"/?token={server.token}")
        assert status == 200 and b'<html lang="en">' in body
        assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["Referrer-Policy"] == "no-referrer"
        assert server.api("/api/items", token=None)[0] == 403
        assert server.api("/api/items", token="x" * 43)[0] == 403
        assert server.api(f"/api/items?token={server.token}", token=None)[0] == 200  # GET may use the query
        assert server.api(f"/api/apply?token={server.token}", method="POST", body={}, token=None)[0] == 403
        assert server.api("/api/apply", method="POST", body={}, token=None)[0] == 403
        status, listed = server.api("/api/items")
        assert status == 200 and listed["counts"]["total"] == 4
        first = listed["items"][0]["id"]
        assert server.api(f"/api/items/{first}/accept", method="POST", body={}, token=None)[0] == 403
        assert (
            server.api(f"/api/items/{first}/accept", method="POST", body="{}", headers={"Content-Type": "text/plain"})[
                0
            ]
            == 415
        )

        # DNS rebinding: the right token under a foreign Host name is refused.
        assert server.raw_get(f"/api/items?token={server.token}", host=f"evil.example:{port}")[0] == 403

        # Bound to 127.0.0.1 only: the listening socket, and a refused connection elsewhere.
        listening = _listening_addresses(port)
        assert listening == {("127.0.0.1", port)}, listening
        for address in _other_local_addresses():
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=2).close()

        # --no-model: regenerate says why it cannot run; the rest works.
        status, answer = server.api(f"/api/items/{first}/regenerate", method="POST", body={})
        assert status == 409 and "regenerate is off" in answer["error"] and "--no-model" in answer["error"]
        status, answer = server.api(f"/api/items/{first}/edit", method="POST", body={"alt": "   "})
        assert status == 400 and "empty" in answer["error"]
        linked = next(i for i in listed["items"] if i["context"]["in_link"])
        status, answer = server.api(f"/api/items/{linked['id']}/decorative", method="POST", body={})
        assert status == 409 and "only content of a link" in answer["error"]
        status, answer = server.api("/api/apply", method="POST", body={})
        assert status == 200 and answer["message"].startswith("Nothing to apply")
    finally:
        code = stop(server)
    assert code == 0 and "stopped" in server.stderr.read_text()  # SIGTERM stops it cleanly


def test_cross_site_requests_and_unframed_bodies_are_refused(small_site: Path) -> None:
    server = start_server(small_site, "--no-model")
    try:
        port, token = server.port, {"X-Alttext-Token": server.token}
        status, listed = server.api("/api/items")
        assert status == 200
        edit = f"/api/items/{listed['items'][0]['id']}/edit"
        # Another site's page: refused even with the right token (Origin or Sec-Fetch-Site).
        assert server.api("/api/apply", method="POST", body={}, headers={"Origin": "http://evil.example"})[0] == 403
        assert server.api("/api/apply", method="POST", body={}, headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
        assert server.api("/api/items", headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
        same = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
        assert server.api("/api/items", headers=same)[0] == 200
        assert server.raw_get(f"/api/items?token={server.token}", host=f"[::1]:{port}")[0] == 200
        # Nested 50,000 deep: a 400, not a RecursionError (and the server goes on).
        status, answer = server.api(edit, method="POST", raw=b"[" * 50_000)
        assert status == 400 and "nested deeper than" in answer["error"]
        status, answer = server.api(edit, method="POST", raw=b'{"alt": ' + b"[" * 5000 + b"]" * 5000 + b"}")
        assert status == 400
        # A chunked body is refused and never read as the next request.
        smuggled = request_bytes("GET", f"/api/items?token={server.token}", port, {})
        body = chunked(smuggled)
        head = {**token, "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        assert exchange(port, request_bytes("POST", "/api/apply", port, head, body), timeout=10) == [411]
        # Nor is the body of a request refused unread (no token, a GET, a PUT).
        framed = {"Content-Type": "application/json", "Content-Length": str(len(smuggled))}
        assert exchange(port, request_bytes("POST", "/api/apply", port, framed, smuggled), timeout=10) == [403]
        get = request_bytes("GET", f"/api/items?token={server.token}", port, framed, smuggled)
        assert exchange(port, get, timeout=10) == [200]
        assert exchange(port, request_bytes("PUT", "/api/apply", port, framed, smuggled), timeout=10) == [405]
        assert server.api("/api/items")[0] == 200
    finally:
        code = stop(server)
    assert code == 0
    assert "Traceback" not in server.stderr.read_text()


def test_port_option_opens_the_browser_and_reports_errors(small_site: Path, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "fake_browser.py"  # $BROWSER: the command webbrowser.open runs
    fake_browser.write_text(
        "import pathlib, sys\npathlib.Path(sys.argv[1]).write_text(sys.argv[2])\n", encoding="utf-8"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "BROWSER": f"{sys.executable} {fake_browser} {opened} %s"}
    server = start_server(small_site, "--no-model", "--port", str(port), browser=True, env=env)
    try:
        assert server.port == port
        deadline = time.monotonic() + 20
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened.read_text(encoding="utf-8") == server.url
        taken = subprocess.run(
            [sys.executable, "-m", "alttext_tools", "review", "--no-browser", "--no-model", "--port", str(port)],
            cwd=small_site,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert taken.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr, taken.stderr
    finally:
        stop(server)
    (small_site / ".alttext.toml").write_text('cache = ""\n', encoding="utf-8")
    off = subprocess.run(
        [sys.executable, "-m", "alttext_tools", "review", "--no-browser", "--no-model"],
        cwd=small_site,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert off.returncode == 2 and "turns it off" in off.stderr, off.stderr


def _listening_addresses(port: int) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket on `port`, from /proc/net/tcp and tcp6."""
    found = set()
    for name in ("tcp", "tcp6"):
        table = Path("/proc/net") / name
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, hex_port = local.rsplit(":", 1)
            if state != "0A" or int(hex_port, 16) != port:
                continue
            if len(address) == 8:
                found.add((socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]), port))
            else:
                raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8))
                found.add((socket.inet_ntop(socket.AF_INET6, raw), port))
    if not found:
        pytest.skip("/proc/net/tcp is not readable here")
    return found


def _other_local_addresses() -> list[str]:
    """This machine's addresses other than 127.0.0.1 (127.0.1.1 from /etc/hosts counts)."""
    addresses = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addresses.add(str(info[4][0]))
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: only picks the outgoing interface
            addresses.add(probe.getsockname()[0])
        except OSError:
            pass
    addresses.add("127.0.0.2")
    return sorted(a for a in addresses if a not in ("127.0.0.1", "0.0.0.0"))


def test_image_endpoint_serves_only_listed_files_inside_the_project(small_site: Path) -> None:
    server = start_server(small_site, "--no-model")
    try:
        _, listed = server.api("/api/items")
        by_src = {i["src"]: i for i in listed["items"]}
        inside = by_src["../img/inside.png"]
        status, headers, body = server.raw_get(f"{inside['image_url']}?token={server.token}")
        assert status == 200 and headers["Content-Type"] == "image/png"
        assert body == (small_site / "img" / "inside.png").read_bytes()
        assert "sandbox" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
        assert server.raw_get(inside["image_url"])[0] == 403  # the token is needed for images too

        # A src outside the root, or a symlink pointing out: listed (they need alt) but never served.
        secret = (small_site.parent / "outside" / "secret.png").read_bytes()
        for src in ("../../outside/secret.png", "../img/link.png"):
            refused = by_src[src]
            assert refused["image_url"] is None and "outside the project root" in refused["image_error"]
            assert refused["can_decide"] is False
            status, body = server.api(f"/api/items/{refused['id']}/accept", method="POST", body={})
            assert status == 409 and "outside the project root" in body["error"]
            status, _, body = server.raw_get(f"/api/image/{refused['id']}?token={server.token}")
            assert status == 404 and secret not in body

        # Traversal in the URL itself: nothing but listed item numbers is ever looked up.
        for path in (
            "/api/image/../../outside/secret.txt",
            "/api/image/..%2f..%2foutside%2fsecret.txt",
            "/api/image/%2e%2e/%2e%2e/outside/secret.txt",
            f"/api/image/{small_site.parent}/outside/secret.txt",
            "/api/image/1/../../../outside/secret.txt",
            "/api/image/999999",
            "/api/image/-1",
            "/api/image/1x",
            "/app.js/../../outside/secret.txt",
            "/../outside/secret.txt",
            "/%2e%2e/outside/secret.txt",
            "//etc/passwd",
            "/api/image/%00",
        ):
            status, _, body = server.raw_get(f"{path}{'&' if '?' in path else '?'}token={server.token}")
            assert status in (403, 404), (path, status)
            assert b"TOP-SECRET" not in body and secret not in body and b"root:" not in body, path
    finally:
        stop(server)


# ------------------------------------------------------------------------------------------------
# Thousands of images
# ------------------------------------------------------------------------------------------------


def test_a_thousand_images_paginate_fast(tmp_path: Path, browser: Any, axe_source: str) -> None:
    from playwright.sync_api import expect

    site = tmp_path / "big"
    (site / "docs").mkdir(parents=True)
    (site / ".alttext.toml").write_text("", encoding="utf-8")
    colors = [(i * 12 % 256, i * 37 % 256, i * 71 % 256) for i in range(20)]
    for n, color in enumerate(colors):
        write_png(site / "img" / f"i{n}.png", color, (16, 16))
    with AltCache.open(site / CACHE_FILE) as cache:  # proposals for half of the images
        for n in range(0, 20, 2):
            cache.put(
                Entry.generated(
                    sha(site / "img" / f"i{n}.png"),
                    "some-model:moondream:x.gguf",
                    "w3c-tree-1/max150",
                    None,
                    "informative",
                    alt=f"Swatch number {n}",
                    handler="moondream",
                )
            )
    for f in range(20):
        lines = [f"# Page {f}", ""] + [f"![](../img/i{(f + k) % 20}.png)\n" for k in range(50)]
        (site / "docs" / f"p{f:02}.md").write_text("\n".join(lines), encoding="utf-8")

    started = time.perf_counter()
    server = start_server(site, "--no-model")
    startup = time.perf_counter() - started
    try:
        assert startup < 20, startup
        timings = []
        for offset in (0, 500, 950):
            t0 = time.perf_counter()
            status, listed = server.api(f"/api/items?offset={offset}&limit=50")
            timings.append(time.perf_counter() - t0)
            assert status == 200 and listed["matching"] == 1000 and len(listed["items"]) == 50
            assert listed["items"][0]["page"] == f"docs/p{offset // 50:02}.md"
        assert max(timings) < 0.5, timings
        assert server.api("/api/items?limit=100000")[1]["limit"] == 200  # pages are capped

        page = new_page(browser)
        page.goto(server.url)
        expect(page.locator("article.item")).to_have_count(50)
        expect(page.locator(".page-info").first).to_have_text("Images 1–50 of 1,000, page 1 of 20")
        assert page.locator("article.item img").evaluate_all("imgs => imgs.every(i => i.loading === 'lazy')")
        # ] goes to the next page; j past the last image of a page too.
        page.locator("body").press("]")
        expect(page.locator(".page-info").first).to_have_text("Images 51–100 of 1,000, page 2 of 20")
        assert focused_item_heading(page) == "docs/p01.md, line 3"
        page.locator("article.item").last.focus()
        t0 = time.perf_counter()
        page.keyboard.press("j")
        expect(page.locator(".page-info").first).to_have_text("Images 101–150 of 1,000, page 3 of 20")
        assert time.perf_counter() - t0 < 3
        assert focused_item_heading(page) == "docs/p02.md, line 3"
        page.keyboard.press("k")
        expect(page.locator(".page-info").first).to_have_text("Images 51–100 of 1,000, page 2 of 20")
        assert focused_item_heading(page) == "docs/p01.md, line 101"
        # A decision on one use of an image is shared by the other uses of those bytes.
        page.keyboard.press("a")
        expect(page.locator("#status")).to_contain_text("other uses of this image")
        assert axe_violations(page, axe_source) == []
        assert page.js_errors == []
    finally:
        stop(server)


def test_the_page_imports_llama_cpp_only_on_the_first_regenerate(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    """Starting `alttext review` must not pay for llama.cpp (~0.2 s) when nobody regenerates;
    the first regenerate loads the model, later ones reuse it."""
    shutil.copy(FIXTURES / "router" / "photo" / "gen_gradient_00.png", tmp_path / "photo.png")
    (tmp_path / "index.md").write_text("# Home\n\n![](photo.png)\n", encoding="utf-8")
    probe = f"""
import sys
from pathlib import Path
from alttext_tools.config import Config
from alttext_tools.review.session import Regenerator
from alttext_tools.scan.dispatch import scan_file
root = Path({str(tmp_path)!r})
config = Config(root=root, fast_model={str(tiny_models["moondream_text"])!r},
                fast_mmproj={str(tiny_models["moondream_mmproj"])!r},
                fast_handler="moondream", text_model={str(tiny_models["moondream_text"])!r},
                text_mmproj={str(tiny_models["moondream_mmproj"])!r}, text_handler="moondream")
regenerator = Regenerator.for_config(config, 1, lambda line: None)
print("llama_cpp" in sys.modules)
[image] = scan_file(root / "index.md", "index.md").images
for mode in ("fast", "fast"):
    regenerator.run(image, mode)
print("llama_cpp" in sys.modules, regenerator.models.engine.load_counts)
regenerator.close()
"""
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    before, after = proc.stdout.splitlines()
    assert before == "False"
    assert after.startswith("True {") and after.endswith(": 1}")
