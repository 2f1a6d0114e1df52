"""`check --require-reviewed` support: which images show model text that no person reviewed."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

from alttext_tools.cache.file import Entry
from alttext_tools.cache.store import AltCache
from alttext_tools.check.unreviewed import RULE_ID, UNREVIEWED_RULE, ImageHasher, unreviewed, unreviewed_findings
from alttext_tools.core import ImageRef, Severity
from alttext_tools.images.resolve import content_hash
from alttext_tools.scan.dispatch import scan_file

PHOTOS = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "router" / "photo").glob("*.png"))
T0 = "2025-01-01T00:00:00Z"


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    (tmp_path / "img").mkdir()
    for name, photo in zip(["fox.png", "owl.png"], PHOTOS):
        shutil.copy(photo, tmp_path / "img" / name)
    return tmp_path


def images(site: Path, text: str, name: str = "page.md") -> list[ImageRef]:
    page = site / name
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text, encoding="utf-8")
    return scan_file(page).images


def generated(cache: AltCache, digest: str, alt: str, *, model: str = "moondream2", decorative: bool = False) -> Entry:
    return cache.put(
        Entry.generated(digest, model, "p1", "en", "informative", alt=alt, decorative=decorative, handler="moondream")
    )


def fox(site: Path) -> str:
    return content_hash((site / "img" / "fox.png").read_bytes())


def test_model_text_never_reviewed_is_reported(site: Path) -> None:
    cache = AltCache.open(site / "c.jsonl")
    entry = generated(cache, fox(site), "A red fox asleep in the snow")
    refs = images(site, "![A red fox asleep in the snow](img/fox.png)\n\n![A fox a person described](img/fox.png)\n")
    found = unreviewed(refs, cache, ImageHasher(site))
    assert found == [(refs[0], entry)]


def test_reviewed_or_edited_text_is_not_reported(site: Path) -> None:
    cache = AltCache.open(site / "c.jsonl")
    entry = generated(cache, fox(site), "A red fox asleep in the snow")
    refs = images(site, "![A red fox asleep in the snow](img/fox.png)\n")
    cache.set_review(entry)
    assert unreviewed(refs, cache, ImageHasher(site)) == []
    cache.edit(entry, "A red fox curled up asleep in deep snow")
    edited = images(site, "![A red fox curled up asleep in deep snow](img/fox.png)\n")
    assert unreviewed(edited, cache, ImageHasher(site)) == []


def test_approval_by_another_model_entry_with_the_same_text_counts(site: Path) -> None:
    cache = AltCache.open(site / "c.jsonl")
    generated(cache, fox(site), "A fox")
    qwen = generated(cache, fox(site), "A fox", model="qwen2.5-vl-3b")
    cache.set_review(qwen)
    assert unreviewed(images(site, "![A fox](img/fox.png)\n"), cache, ImageHasher(site)) == []


def test_the_same_text_on_other_pixels_is_not_the_models(site: Path) -> None:
    cache = AltCache.open(site / "c.jsonl")
    generated(cache, fox(site), "A bird")
    assert unreviewed(images(site, "![A bird](img/owl.png)\n"), cache, ImageHasher(site)) == []


def test_decorative_decisions_and_whitespace(site: Path) -> None:
    cache = AltCache.open(site / "c.jsonl")
    generated(cache, fox(site), "", decorative=True)
    owl = content_hash((site / "img" / "owl.png").read_bytes())
    generated(cache, owl, "An owl on a branch")
    refs = images(
        site, '<img src="img/fox.png" alt=""><img src="img/owl.png" alt="An owl\n  on a branch">', "page.html"
    )
    found = unreviewed(refs, cache, ImageHasher(site))
    assert [image.src for image, _ in found] == ["img/fox.png", "img/owl.png"]


def test_unreadable_images_are_skipped_and_only_candidates_are_hashed(site: Path) -> None:
    cache = AltCache.open(site / "c.jsonl")
    generated(cache, fox(site), "A fox")
    refs = images(
        site,
        "![A fox](img/missing.png)\n\n![A fox](https://example.com/fox.png)\n\n![Other](img/fox.png)\n\n![](img/fox.png)\n",
    )
    asked: list[str | None] = []
    hasher = ImageHasher(site)

    def counting(image: ImageRef) -> str | None:
        asked.append(image.src)
        return hasher(image)

    assert unreviewed(refs, cache, counting) == []
    assert asked == ["img/missing.png", "https://example.com/fox.png"]


def test_findings_for_the_check_report(site: Path) -> None:
    cache = AltCache.open(site / "c.jsonl")
    generated(cache, fox(site), "A red fox asleep in the snow")
    refs = images(site, "![A red fox asleep in the snow](img/fox.png)\n")
    [finding] = unreviewed_findings(refs, cache, ImageHasher(site))
    assert finding.rule == RULE_ID == "unreviewed-alt" and finding.severity is Severity.ERROR
    assert finding.image is refs[0]
    assert finding.message == (
        '"A red fox asleep in the snow" was written by moondream2 and never reviewed; '
        "accept or edit it with `alttext review`"
    )
    assert UNREVIEWED_RULE.id == RULE_ID and not UNREVIEWED_RULE.fixable
    [warning] = unreviewed_findings(refs, cache, ImageHasher(site), Severity.WARNING)
    assert warning.severity is Severity.WARNING


def test_hasher_is_content_addressed_and_reads_each_file_once(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (site / "img" / "fox.png").read_bytes()
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    refs = [
        *images(site, "![a](img/fox.png)\n", "page.md"),
        *images(site, "![b](../../img/fox.png)\n", "deep/er/page.md"),
        *images(site, f'<img src="/img/fox.png" alt="c"><img src="{uri}" alt="d">', "root.html"),
    ]
    hasher = ImageHasher(site)
    reads: list[object] = []
    import alttext_tools.images.reader as images_module

    original = images_module.read_image_bytes
    monkeypatch.setattr(
        images_module, "read_image_bytes", lambda source, **kw: reads.append(source) or original(source, **kw)
    )
    assert {hasher(image) for image in refs} == {content_hash(data)}
    assert len(reads) == 2  # the file once (three references), the data: URI once
    assert hasher(images(site, "![x](img/nope.png)\n", "x.md")[0]) is None
    assert hasher(images(site, '<img src="https://example.com/a.png" alt="r">', "r.html")[0]) is None
