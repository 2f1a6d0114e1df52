"""The `mkdocs` dialect against the real thing: fixture sites built with `mkdocs build`.

Every page of every site under fixtures/mkdocs-sites/ is built once; each `<img>` in a built page's
content is taken with its alt and judged by the same rules (on the HTML), and the scanner's view of
the page's source must hold the same images: the same count, alt values and verdicts. Images are
compared as a multiset of (src, alt, rules), since footnotes render at the end of a page.

One difference is by design and mapped: `![](x.png)` renders `alt=""`, which HTML reads as
decorative, while the source says nothing either way, so the scanner reports it (`empty-alt`).
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alttext_tools.check.rules import RuleSettings, evaluate_all
from alttext_tools.core import ImageRef, Syntax
from alttext_tools.scan.dialects import MKDOCS, DialectResolver
from alttext_tools.scan.html import scan_html
from alttext_tools.scan.markdown import scan_markdown
from alttext_tools.scan.sources import read_source
from tests.test_scan_markdown import CASES, Case

SITES = REPO / "fixtures" / "mkdocs-sites"
# Where each theme puts the page's own content.
CONTENT = ("article.md-content__inner", "div[role=main]")

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("material") is None or importlib.util.find_spec("pymdownx") is None,
    reason="mkdocs-material and pymdown-extensions are in the test extras: pip install -e '.[test]'",
)

Seen = tuple[str | None, str | None, frozenset[str]]  # (src, alt, rule ids)


def pages() -> list[tuple[str, str]]:
    return [
        (site.name, page.relative_to(site / "docs").as_posix())
        for site in sorted(SITES.iterdir())
        for page in sorted((site / "docs").rglob("*.md"))
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each site copied and built once (sources stay as they are in fixtures/)."""
    out: dict[str, Path] = {}
    for site in sorted(SITES.iterdir()):
        root = tmp_path_factory.mktemp("sites") / site.name
        shutil.copytree(site, root)
        proc = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "-q", "-f", "mkdocs.yml", "-d", "site"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out[site.name] = root
    return out


def verdict(images: list[ImageRef]) -> dict[int, frozenset[str]]:
    """Rule ids that fire for each image (by index), as `alttext check` judges them."""
    rules: dict[int, set[str]] = {i: set() for i in range(len(images))}
    index = {id(image): i for i, image in enumerate(images)}
    for finding in evaluate_all(images, RuleSettings()):
        rules[index[id(finding.image)]].add(finding.rule)
    return {i: frozenset(r) for i, r in rules.items()}


def rendered(html_file: Path) -> Counter[Seen]:
    """Every <img> in the built page's content, as the HTML scanner and the rules see it."""
    soup = BeautifulSoup(html_file.read_text(encoding="utf-8"), "html.parser")
    content = next(found for selector in CONTENT if (found := soup.select_one(selector)) is not None)
    images = [image for image in scan_html(str(content), html_file.name) if image.syntax is Syntax.HTML_IMG]
    rules = verdict(images)
    assert len(images) == len(content.find_all("img"))
    return Counter((image.src, image.alt, rules[i]) for i, image in enumerate(images))


def scanned(source: Path, display: str) -> Counter[Seen]:
    """The scanner's images of the page source, as their rendering would read: a Markdown image
    with an empty label and no decorative marker renders alt="" (decorative in HTML)."""
    dialect = DialectResolver()(source)
    assert dialect.name == "mkdocs", f"{display}: read as {dialect.name}, not as its mkdocs.yml says"
    images = [
        image
        for image in scan_markdown(read_source(source).text, display, dialect)
        if image.is_markdown_syntax or image.syntax is Syntax.HTML_IMG
    ]
    rules = verdict(images)
    seen: Counter[Seen] = Counter()
    for i, image in enumerate(images):
        expected = rules[i]
        if image.is_markdown_syntax and image.alt == "" and not image.decorative_marker:
            assert "empty-alt" in expected or image.ignored
            expected = expected - {"empty-alt"}
        seen[(image.src, image.alt, expected)] += 1
    return seen


@pytest.mark.parametrize(("site", "page"), pages(), ids=[f"{s}/{p}" for s, p in pages()])
def test_rendered_images_are_the_scanned_images(built: dict[str, Path], site: str, page: str) -> None:
    root = built[site]
    html_file = root / "site" / Path(page).with_suffix(".html")
    want = rendered(html_file)
    got = scanned(root / "docs" / page, f"docs/{page}")
    missing, extra = want - got, got - want
    assert (sorted(missing.elements(), key=str), sorted(extra.elements(), key=str)) == ([], []), (
        f"{site}/{page}: rendered but not scanned (left), scanned but not rendered (right)"
    )
    assert sum(want.values()) > 0


# --------------------------------------------------------------------------- the fixture table


def _dialect_cases() -> list[Case]:
    return [case for case in CASES if case.dialect.python_markdown]


@pytest.mark.parametrize("case", _dialect_cases(), ids=str)
def test_fixture_cases_render_as_scanned(case: Case) -> None:
    """The `mkdocs` cases of fixtures/markdown/ against Python-Markdown itself, with the same
    extensions: every image it renders is one the scanner reports, with the same alt."""
    import markdown

    page = markdown.markdown(case.text, extensions=sorted(case.dialect.extensions))
    want = Counter((img.get("src"), img.get("alt")) for img in BeautifulSoup(page, "html.parser").find_all("img"))
    got = Counter(
        (image.src, image.alt)
        for image in scan_markdown(case.text, case.path, case.dialect)
        if image.is_markdown_syntax or image.syntax is Syntax.HTML_IMG
    )
    assert got == want


# --------------------------------------------------------------------------- fix and the plugin

# Images of the material site that sit in blocks CommonMark reads as code or raw text, one of
# each kind (src as written in the page).
IN_BLOCKS = {
    "img/dashboard.png": "admonition",
    "img/tue.png": "table in an open details block",
    "../img/win-installer.png": "tab in a tab",
    "../img/credentials.png": "details in a tab in a list item",
    "../img/IMG_2041.png": "md_in_html figure in a list item",
    "../img/single-restore.png": "admonition in a CRLF file",
    "../img/splash-1.png": "tab in a CRLF file",
    "../img/footnote-empty.png": "footnote continuation in a CRLF file",
    "../img/cozy.png": "table cell",
    "../img/nested-item.png": "nested list item",
    "../img/accent-dark.png": "attr_list alt in an admonition",
}


def _alttext(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alttext_tools", *args], cwd=cwd, capture_output=True, text=True, env=env
    )


def _new_alt(src: str) -> str:
    """A reviewed alt with what Markdown and Python-Markdown must escape or keep."""
    return f'{IN_BLOCKS[src]}: "quoted" [brackets] *stars* back\\slash é'


@pytest.fixture
def material(tmp_path: Path) -> Path:
    root = tmp_path / "material"
    shutil.copytree(SITES / "material", root)
    return root


def test_check_and_fix_reach_images_in_blocks_byte_exactly(material: Path) -> None:
    """`alttext check` reads the pages in the mkdocs dialect (found from mkdocs.yml) and reports
    the images in blocks; `fix --from` writes their alt byte-exactly; the built site shows it."""
    before = {p: p.read_bytes() for p in (material / "docs").rglob("*.md")}
    proc = _alttext("check", "docs", "--format", "json", cwd=material)
    entries = [entry for entry in json.loads(proc.stdout) if entry["src"] in IN_BLOCKS]
    assert {entry["src"] for entry in entries} == set(IN_BLOCKS), proc.stderr
    for entry in entries:
        entry["new_alt"] = _new_alt(entry["src"])
    (material / "decisions.json").write_text(json.dumps(entries), encoding="utf-8")

    proc = _alttext("fix", "--from", "decisions.json", cwd=material)
    assert proc.returncode == 0, proc.stderr
    resolve = DialectResolver()
    for path, old in before.items():
        new = path.read_bytes()
        old_text, new_text = old.decode(), new.decode()
        dialect = resolve(path)
        old_images = scan_markdown(old_text, path.name, dialect)
        new_images = scan_markdown(new_text, path.name, dialect)
        assert len(old_images) == len(new_images)
        # Rebuild the new file from the old one by replacing alt spans only: nothing else moved.
        rebuilt, at = [], 0
        for was, now in zip(old_images, new_images):
            assert (was.src, was.line) == (now.src, now.line)
            if was.src in IN_BLOCKS and was.is_markdown_syntax:
                assert now.alt == _new_alt(was.src), f"{path.name}:{was.line}"
                assert was.alt_span is not None and now.alt_span is not None
                rebuilt += [old_text[at : was.alt_span.start], new_text[now.alt_span.start : now.alt_span.end]]
                at = was.alt_span.end
            else:
                assert now.alt == was.alt
        assert "".join([*rebuilt, old_text[at:]]) == new_text
        if "crlf" in path.name:
            assert new.count(b"\n") == new.count(b"\r\n") == old.count(b"\r\n")
    again = _alttext("fix", "--from", "decisions.json", "--check", cwd=material)
    assert again.returncode == 0, again.stderr

    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-q", "-d", "site"], cwd=material, check=True, capture_output=True
    )
    shown = Counter()
    for page in (material / "site").rglob("*.html"):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        shown.update((img.get("src"), img.get("alt")) for img in soup.find_all("img") if img.get("src") in IN_BLOCKS)
    assert shown == Counter((src, _new_alt(src)) for src in IN_BLOCKS)


def _with_plugin(site: Path, **options: object) -> None:
    config = (site / "mkdocs.yml").read_text(encoding="utf-8")
    plugin = json.dumps({"alttext": {"fail_on": "error", **options}})
    (site / "mkdocs.yml").write_text(f"{config}\nplugins:\n  - search\n  - {plugin}\n", encoding="utf-8")


def test_plugin_check_reports_images_in_blocks(material: Path, plugin_env: dict[str, str]) -> None:
    """The MkDocs plugin reads pages with the site's extensions: the same errors as `alttext check`."""
    _with_plugin(material)
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-d", "site"],
        cwd=material,
        env=plugin_env,
        capture_output=True,
        text=True,
    )
    warnings = re.findall(r"^WARNING\s+-\s+alttext: (\S+:\d+:\d+): (\S+)", proc.stderr, re.M)
    assert ("docs/index.md:17:5", "empty-alt") in warnings  # in `!!! tip`
    assert ("docs/guide/install.md:18:9", "empty-alt") in warnings  # in a tab in a tab
    assert ("docs/guide/install.md:43:13", "empty-alt") in warnings  # details in a tab in a list item
    assert ("docs/reference/crlf-notes.md:23:5", "empty-alt") in warnings  # footnote, CRLF
    cli = json.loads(_alttext("check", "docs", "--format", "json", cwd=material).stdout)
    errors = [(f"{e['path']}:{e['line']}:{e['column']}", e["rule"]) for e in cli if e["severity"] == "error"]
    assert sorted(warnings) == sorted(errors)


def test_plugin_fill_reaches_images_in_blocks(material: Path, plugin_env: dict[str, str]) -> None:
    proc = _alttext("check", "docs", "--format", "json", cwd=material)
    entries = [entry for entry in json.loads(proc.stdout) if entry["src"] in IN_BLOCKS]
    for entry in entries:
        entry["new_alt"] = _new_alt(entry["src"])
    (material / "decisions.json").write_text(json.dumps(entries), encoding="utf-8")
    before = {p: p.read_bytes() for p in (material / "docs").rglob("*") if p.is_file()}
    _with_plugin(material, mode="fill", decisions="decisions.json")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-d", "site"],
        cwd=material,
        env=plugin_env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"filled alt text for {len(IN_BLOCKS)} images" in proc.stderr
    assert {p: p.read_bytes() for p in (material / "docs").rglob("*") if p.is_file()} == before  # sources untouched
    shown = Counter()
    for page in (material / "site").rglob("*.html"):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        shown.update((img.get("src"), img.get("alt")) for img in soup.find_all("img") if img.get("src") in IN_BLOCKS)
    assert shown == Counter((src, _new_alt(src)) for src in IN_BLOCKS)


# --------------------------------------------------------------------------- generated pages


def _page(rng: random.Random) -> str:
    """A page built from the blocks MkDocs sites use, nested up to three deep, blocks separated by
    blank lines as such pages are written; sometimes with CRLF newlines or tabs for indentation."""
    count = iter(range(1, 10_000))

    def image() -> str:
        alt = rng.choice(["", "A fox", "a *b* `c`", "two words", "IMG_1.png"])
        return f"![{alt}](i{next(count)}.png)" + rng.choice(["", "", '{ alt="Set" }'])

    def block(pad: str, depth: int) -> list[str]:
        kinds = ["text", "text", "heading", "code"]
        if depth < 3:
            kinds += ["admonition", "details", "tab", "list", "ordered", "fence", "footnote", "raw", "md_html"]
            kinds += ["quote", "reference", "table", "inline_html"]
        kind = rng.choice(kinds)
        n = next(count)
        if kind == "text":
            return [pad + rng.choice(["Some text", image(), f"text {image()} more"]) for _ in range(rng.randint(1, 3))]
        if kind == "heading":
            return [f"{pad}## Heading {image()}"]
        if kind == "code":
            return [f"{pad}    {image()}"]
        if kind == "fence":
            return [pad + "```", pad + image(), pad + "```"]
        if kind in ("admonition", "details", "tab"):
            opener = {
                "admonition": "!!! note",
                "details": rng.choice(["??? tip", '???+ warning "T"']),
                "tab": '=== "A"',
            }
            return [pad + opener[kind], *body(pad + "    ", depth + 1)]
        if kind in ("list", "ordered"):
            lines: list[str] = []
            for i in range(rng.randint(1, 3)):
                lines.append(pad + ("- " if kind == "list" else f"{i + 1}. ") + rng.choice(["item", image()]))
                if rng.random() < 0.6:
                    lines += ["", *body(pad + "    ", depth + 1)]
                lines.append("")
            return lines
        if kind == "footnote":
            return [f"{pad}[^{n}]: {image()}", *([f"{pad}    {image()}"] if rng.random() < 0.5 else [])]
        if kind == "raw":
            return [pad + "<div>", pad + image(), pad + "</div>"]
        if kind == "md_html":
            opening, closing = rng.choice([("<div markdown>", "</div>"), ('<figure markdown="span">', "</figure>")])
            return [pad + opening, "", f"{pad}  {image()}", "", pad + closing]
        if kind == "quote":
            return rng.choice([[f"{pad}> {image()}"], [f"{pad}> !!! note", f"{pad}>     {image()}"]])
        if kind == "reference":
            return [f"{pad}![ref {n}][r{n}]", "", f"{pad}[r{n}]: ref{n}.png"]
        if kind == "table":
            return [pad + "| a | b |", pad + "|---|---|", f"{pad}| {image()} | x |"]
        return [f'{pad}text <img src="h{n}.png" alt="H"> and {image()}']

    def body(pad: str, depth: int) -> list[str]:
        lines: list[str] = []
        for i in range(rng.randint(1, 3)):
            lines += [""] * bool(i) + block(pad, depth)
        return lines

    text = "\n".join(body("", 0)) + "\n"
    if rng.random() < 0.3:
        text = text.replace("\n", "\r\n")
    if rng.random() < 0.2:
        text = text.replace("    ", "\t")
    return text


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.randoms(use_true_random=False))
def test_generated_pages_render_as_scanned(rng: random.Random) -> None:
    """Pages generated from nested admonitions, details, tabs, lists, footnotes, raw and
    md_in_html blocks: Python-Markdown (with mkdocs-material's usual extensions) renders exactly
    the images the scanner reports, with the same alt."""
    import markdown

    text = _page(rng)
    page = markdown.markdown(text, extensions=sorted(MKDOCS.extensions))
    want = Counter((img.get("src"), img.get("alt")) for img in BeautifulSoup(page, "html.parser").find_all("img"))
    got = Counter(
        (image.src, image.alt)
        for image in scan_markdown(text, "docs/page.md", MKDOCS)
        if image.is_markdown_syntax or image.syntax is Syntax.HTML_IMG
    )
    assert got == want, text
