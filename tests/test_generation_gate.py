"""Model answers the tool must not write: degenerate answers, and alt text that breaks our own rules
in its own context. Through `alttext fix --backend openai` and the scripted server
(tests/openai_servers.FakeOpenAI), which returns crafted answers over real HTTP; then `alttext
check` on the result."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO
from openai_servers import FakeOpenAI, Reply, Seen, completion
from PIL import Image

from alttext_tools.check.rules import ALT_TEXT_RULES

HINT = "An earlier answer was rejected"


def alttext(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "alttext_tools", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120
    )


def png(index: int) -> bytes:
    """A distinct plain RGB PNG per index: sent to the server as it is, so the script can tell
    the images apart (and the router calls it a photo)."""
    buf = io.BytesIO()
    Image.new("RGB", (48, 36), ((37 * index) % 256, (91 * index + 40) % 256, (53 * index + 90) % 256)).save(buf, "PNG")
    return buf.getvalue()


def project(root: Path, page: str, images: int) -> Path:
    (root / "docs").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for index in range(images):
        (root / "docs" / f"i{index}.png").write_bytes(png(index))
    (root / "docs" / "index.html").write_text(page, encoding="utf-8")
    return root


Answers = dict[int, list[str]]  # image index -> the answers to give, in order (the last one repeats)


def scripted(root: Path, answers: Answers, by_model: dict[str, Answers] | None = None) -> Callable[[Seen, int], Reply]:
    """Answer each request from `answers` (or `by_model[model]`) by the image it carries."""
    index_of = {base64.b64encode(path.read_bytes()).decode(): int(path.stem[1:]) for path in root.glob("docs/i*.png")}
    asked: dict[tuple[str, int], int] = {}

    def script(seen: Seen, n: int) -> Reply:
        model = seen.body["model"]
        url = seen.body["messages"][-1]["content"][0]["image_url"]["url"]
        index = index_of[url.split(",", 1)[1]]
        replies = (by_model or {}).get(model, answers)[index]
        count = asked.get((model, index), 0)
        asked[(model, index)] = count + 1
        alt = replies[min(count, len(replies) - 1)]
        return Reply(body=completion(json.dumps({"alt": alt, "decorative": False})))

    return script


def prompts_for(fake: FakeOpenAI, root: Path, index: int) -> list[str]:
    data = base64.b64encode((root / "docs" / f"i{index}.png").read_bytes()).decode()
    return [
        chat.body["messages"][-1]["content"][1]["text"]
        for chat in fake.chats
        if chat.body["messages"][-1]["content"][0]["image_url"]["url"].endswith(data)
    ]


def fix(
    root: Path, fake: FakeOpenAI, *models: str, cache: bool = False
) -> tuple[subprocess.CompletedProcess[str], dict]:
    args = ["fix", "--backend", "openai", "--base-url", fake.base_url, "--retries", "0", "--format", "json"]
    args += list(models) or ["--model", "vlm"]
    proc = alttext(*args, *([] if cache else ["--no-cache"]), "docs", cwd=root)
    return proc, json.loads(proc.stdout)


def records(report: dict) -> dict[str, dict]:
    return {record["src"]: record for record in report["images"]}


def alt_findings(root: Path) -> list[dict]:
    """What `alttext check` says about the words of alt text in the tree."""
    proc = alttext("check", "--format", "json", "--fail-on", "never", "docs", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return [finding for finding in json.loads(proc.stdout) if finding["rule"] in ALT_TEXT_RULES]


# --- the rules gate ---------------------------------------------------------------------------------

GATE_PAGE = """<!doctype html>
<html lang="en"><head><title>Harbour</title></head><body>
<p><img src="i0.png"><br>Sunset over the bay</p>
<p>Our files: <img src="i1.png"></p>
<p>Kites: <img src="i2.png"></p>
<p><a href="/pricing"><img src="i3.png"> Pricing</a></p>
<p>The team: <img src="i4.png"></p>
<figure><img src="i5.png"><figcaption>Quarterly revenue by region</figcaption></figure>
</body></html>
"""
GATE_ANSWERS: Answers = {
    0: ["Sunset over the bay", "Fishing boats moored in a calm harbour at dusk"],  # the paragraph, then fine
    1: ["IMG_2041.jpg", "harbour-at-dusk.png"],  # a file name, twice
    2: ["Image of a red kite over the dunes"],  # a redundant prefix: stripped, no second request
    3: ["Pricing", "Plans and prices"],  # the link text, then fine
    4: ["photo", "image"],  # placeholders, twice
    5: ["Quarterly revenue by region"],  # the caption, every time
}


def test_alt_text_that_breaks_a_rule_is_asked_again_once_then_failed(tmp_path: Path) -> None:
    root = project(tmp_path / "site", GATE_PAGE, 6)
    with FakeOpenAI(scripted(root, GATE_ANSWERS), models=["vlm"]) as fake:
        proc, report = fix(root, fake)
        asked = {index: prompts_for(fake, root, index) for index in GATE_ANSWERS}
    assert proc.returncode == 3, proc.stderr  # some images got no alt text
    got = records(report)

    # Asked again with the rule's message as a hint, and the second answer written.
    assert [HINT in prompt for prompt in asked[0]] == [False, True]
    assert "alt-duplicates-text" in asked[0][1] and "Sunset over the bay" in asked[0][1]
    assert got["i0.png"]["status"] == "generated"
    assert got["i0.png"]["alt"] == "Fishing boats moored in a calm harbour at dusk"
    assert [HINT in prompt for prompt in asked[3]] == [False, True] and "link text" in asked[3][1]
    assert got["i3.png"]["alt"] == "Plans and prices"
    # "Image of" is stripped, not asked about.
    assert len(asked[2]) == 1 and got["i2.png"]["alt"] == "A red kite over the dunes"
    # Two answers that break a rule: a failed record naming the rule, nothing written.
    for index, rule in ((1, "filename-alt"), (4, "placeholder-alt"), (5, "alt-duplicates-text")):
        record = got[f"i{index}.png"]
        assert len(asked[index]) == 2, index
        assert record["status"] == "failed" and f"rule {rule}" in record["error"], record
    problems = report["problems"]
    assert len(problems) == 3 and all("\n" not in p and "cannot generate alt" in p for p in problems)

    page = (root / "docs" / "index.html").read_text(encoding="utf-8")
    assert 'alt="Fishing boats moored in a calm harbour at dusk"' in page
    assert 'alt="A red kite over the dunes"' in page and 'alt="Plans and prices"' in page
    for never in (
        "IMG_2041",
        "DSC_0042",
        'alt="photo"',
        'alt="image"',
        'alt="Quarterly',
        'alt="Sunset',
        'alt="Pricing"',
    ):
        assert never not in page
    # `alttext check` reports nothing about the alt text fix wrote (the failed images still need one).
    assert alt_findings(root) == []


def test_a_rule_turned_off_is_not_asked_about(tmp_path: Path) -> None:
    root = project(tmp_path / "off", GATE_PAGE.split("<p>Our files")[0] + "</body></html>\n", 1)
    with FakeOpenAI(scripted(root, {0: ["Sunset over the bay", "Boats"]}), models=["vlm"]) as fake:
        args = ["fix", "--backend", "openai", "--base-url", fake.base_url, "--model", "vlm", "--no-cache"]
        proc = alttext(*args, "--disable", "alt-duplicates-text", "docs", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert fake.chat_requests == 1
    assert 'alt="Sunset over the bay"' in (root / "docs" / "index.html").read_text(encoding="utf-8")


def test_check_never_reports_what_fix_wrote_in_markdown(tmp_path: Path) -> None:
    root = tmp_path / "md"
    (root / "docs").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for index in range(3):
        (root / "docs" / f"i{index}.png").write_bytes(png(index))
    (root / "docs" / "index.md").write_text(
        "# Harbour\n\n![](i0.png)\nSunset over the bay\n\n[![](i1.png) Docs](https://example.com)\n\n"
        "| Chart | Notes |\n|---|---|\n| ![](i2.png) Revenue | up |\n",
        encoding="utf-8",
    )
    answers: Answers = {
        0: ["Sunset over the bay", "Boats in the harbour"],
        1: ["Docs", "Read the manual"],
        2: ["Revenue"],
    }
    with FakeOpenAI(scripted(root, answers), models=["vlm"]) as fake:
        proc, report = fix(root, fake)
    got = records(report)
    assert got["i0.png"]["alt"] == "Boats in the harbour" and got["i1.png"]["alt"] == "Read the manual"
    assert got["i2.png"]["status"] == "failed" and "alt-duplicates-text" in got["i2.png"]["error"]
    assert proc.returncode == 3
    assert alt_findings(root) == []


def test_a_shared_alt_is_judged_in_each_occurrence_context(tmp_path: Path) -> None:
    page = GATE_PAGE.split("<p>Our files")[0] + '<p>Boats at dusk <img src="i0.png"></p>\n</body></html>\n'
    root = project(tmp_path / "dup", page, 1)
    with FakeOpenAI(scripted(root, {0: ["Sunset over the bay", "Boats at dusk"]}), models=["vlm"]) as fake:
        proc, report = fix(root, fake)
    first, second = report["images"]
    assert first["status"] == "generated" and first["alt"] == "Boats at dusk"
    assert second["status"] == "failed" and "alt-duplicates-text" in second["error"]
    assert second["error"].startswith(f"the alt text written for the same image at {first['path']}:")
    assert fake.chat_requests == 2 and proc.returncode == 3
    assert alt_findings(root) == []


def test_a_cached_alt_that_repeats_this_page_is_asked_for_again(tmp_path: Path) -> None:
    root = project(tmp_path / "cached", '<p>First <img src="i0.png"></p>\n', 1)
    with FakeOpenAI(scripted(root, {0: ["Boats at dusk", "Gulls over the harbour wall"]}), models=["vlm"]) as fake:
        proc, _ = fix(root, fake, cache=True)
        assert proc.returncode == 0, proc.stderr
        (root / "docs" / "other.html").write_text('<p>Boats at dusk <img src="i0.png"></p>\n', encoding="utf-8")
        proc, report = fix(root, fake, cache=True)
        assert fake.chat_requests == 2
        [hinted] = [chat for chat in fake.chats[1:]]
    assert HINT in hinted.body["messages"][-1]["content"][1]["text"]
    [record] = report["images"]
    assert record["status"] == "generated" and record["alt"] == "Gulls over the harbour wall"
    assert alt_findings(root) == []
    cache = (root / ".alttext-cache.jsonl").read_text(encoding="utf-8")
    assert "Boats at dusk" in cache and "Gulls" not in cache  # the page-specific answer replaces no entry


# --- degenerate answers -----------------------------------------------------------------------------

DEGENERATE = {
    "one character": "V" * 112,
    "noise": "dL00060Cz'0+,0{rCZ0^vrh!F]d0C{0^+,rCZ0dL",
    "phrase loop": "a cat on a mat " * 8,
    "word loop": "harbour " * 12,
}


@pytest.mark.parametrize("answer", list(DEGENERATE.values()), ids=list(DEGENERATE))
def test_a_degenerate_answer_goes_to_the_other_slot(tmp_path: Path, answer: str) -> None:
    root = project(tmp_path / "slots", '<p>Harbour: <img src="i0.png"></p>\n', 1)
    by_model = {"fast-vlm": {0: [answer]}, "text-vlm": {0: ["Fishing boats in a calm harbour"]}}
    with FakeOpenAI(scripted(root, {}, by_model), models=["fast-vlm", "text-vlm"]) as fake:
        proc, report = fix(root, fake, "--fast-model", "fast-vlm", "--text-model", "text-vlm")
    assert [chat.body["model"] for chat in fake.chats] == ["fast-vlm", "text-vlm"]  # a photo: fast first
    [record] = report["images"]
    assert record["status"] == "generated" and record["route"] == "text"
    assert proc.returncode == 0, proc.stderr
    assert 'alt="Fishing boats in a calm harbour"' in (root / "docs" / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("answer", list(DEGENERATE.values()), ids=list(DEGENERATE))
def test_a_degenerate_answer_is_never_written(tmp_path: Path, answer: str) -> None:
    root = project(tmp_path / "one", '<p>Harbour: <img src="i0.png"></p>\n', 1)
    before = (root / "docs" / "index.html").read_bytes()
    with FakeOpenAI(scripted(root, {0: [answer]}), models=["vlm"]) as fake:
        proc, report = fix(root, fake)
    [record] = report["images"]
    assert record["status"] == "failed" and "degenerate answer" in record["error"]
    assert fake.chat_requests == 1  # both slots have this one model: not asked again, not with a hint
    assert proc.returncode == 3
    assert (root / "docs" / "index.html").read_bytes() == before
