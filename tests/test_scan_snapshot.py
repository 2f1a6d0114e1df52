"""Pins what the scanners report on every fixture file and on real built documentation pages.

`fixtures/scan-snapshot.json` holds every field of every `ImageRef` (position, alt, name, context...)
found in each file. It was written by the scanner that used BeautifulSoup's tree, before the
streaming HTML scanner replaced it; the rules judge an `ImageRef` alone, so the same images give
the same findings. After an intended change in what a scanner reports, rewrite it with

    python tests/test_scan_snapshot.py --update
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from pathlib import Path

import pytest

from alttext_tools.scan.dispatch import kind_of, scan_file

REPO = Path(__file__).resolve().parent.parent
SNAPSHOT = REPO / "fixtures" / "scan-snapshot.json"
# The byte-level rewrite cases hold legacy encodings on purpose; fixtures/bad holds files that fail.
FILES = sorted(
    path.relative_to(REPO).as_posix()
    for path in (REPO / "fixtures").rglob("*")
    if path.is_file() and kind_of(path) is not None
)


def plain(value: object) -> object:
    """A dataclass tree as JSON values: enums by value, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def scanned(path: str) -> dict[str, object]:
    result = scan_file(REPO / path, path)
    return {"error": plain(result.error), "images": plain(result.images)}


@pytest.fixture(scope="module")
def snapshot() -> dict[str, object]:
    data: dict[str, object] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return data


def test_snapshot_covers_every_fixture(snapshot: dict[str, object]) -> None:
    assert sorted(snapshot) == FILES
    assert any(path.startswith("fixtures/corpus-html/") for path in FILES)


@pytest.mark.parametrize("path", FILES)
def test_scan_matches_snapshot(path: str, snapshot: dict[str, object]) -> None:
    assert scanned(path) == snapshot[path]


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit(__doc__)
    SNAPSHOT.write_text(
        json.dumps({path: scanned(path) for path in FILES}, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {SNAPSHOT.relative_to(REPO)}: {len(FILES)} files")
