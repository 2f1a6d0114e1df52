"""The Sphinx extension through the real `sphinx-build` (subprocesses), on fixtures/sphinx-site."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from alttext_tools.cache.store import AltCache
from alttext_tools.images.resolve import content_hash

pytest.importorskip("sphinx")
pytest.importorskip("myst_parser")

SITE = REPO / "fixtures" / "sphinx-site"
ALTTEXT = [sys.executable, "-m", "alttext_tools"]


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    return root


def build(site: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q", *args, ".", str(site.parent / "out")],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stdout + proc.stderr


def images(html: str) -> list[str]:
    return re.findall(r"<img [^>]*>", html)


def test_warnings_name_the_source_line_and_fail_w_in_parallel(site: Path) -> None:
    code, log = build(site, "-W", "-j", "2")
    assert code != 0
    warnings = sorted(re.findall(r"([\w.]+):(\d+): WARNING: (missing-alt): ", log))
    assert warnings == [("animals.rst", "6", "missing-alt"), ("charts.md", "5", "missing-alt")], log
    assert "[alttext.missing-alt]" in log


def test_fails_on_missing_alt_then_passes_once_fix_from_wrote_it(site: Path) -> None:
    # reST only: the MyST page goes (Markdown dialects are chosen elsewhere).
    (site / "charts.md").unlink()
    (site / "index.rst").write_text((site / "index.rst").read_text().replace("   charts\n", ""))
    code, log = build(site, "-W")
    assert code != 0 and re.search(r"animals\.rst:6: WARNING: missing-alt", log), log

    check = subprocess.run(
        [*ALTTEXT, "check", "--format", "json", "animals.rst"], cwd=site, capture_output=True, text=True
    )
    entries = json.loads(check.stdout)
    [missing] = [e for e in entries if e["rule"] == "missing-alt"]
    assert (missing["path"], missing["line"], missing["syntax"]) == ("animals.rst", 6, "rst-image")
    missing["new_alt"] = 'A red fox at dusk, "ears up" | *wary*'
    (site / "decisions.json").write_text(json.dumps([missing]))
    before = (site / "animals.rst").read_bytes()
    fix = subprocess.run([*ALTTEXT, "fix", "--from", "decisions.json"], cwd=site, capture_output=True, text=True)
    assert fix.returncode == 0, fix.stderr
    after = (site / "animals.rst").read_bytes()
    # The only difference: one new line, the :alt: option, indented like the other options.
    assert after == before.replace(
        b"   :class: photo\n", b'   :class: photo\n   :alt: A red fox at dusk, "ears up" | *wary*\n'
    )

    code, log = build(site, "-W")
    assert code == 0, log
    page = (site.parent / "out" / "animals.html").read_text(encoding="utf-8")
    assert 'alt="A red fox at dusk, &quot;ears up&quot; | *wary*"' in page
    again = subprocess.run([*ALTTEXT, "fix", "--from", "decisions.json"], cwd=site, capture_output=True, text=True)
    assert again.returncode == 0 and (site / "animals.rst").read_bytes() == after  # nothing more to do


def test_fill_sets_alt_from_the_cache_without_touching_sources(site: Path) -> None:
    conf = site / "conf.py"
    conf.write_text(conf.read_text().replace('alttext_mode = "check"', 'alttext_mode = "fill"'))
    with AltCache.open(site / ".alttext-cache.jsonl") as cache:
        cache.put_human(
            content_hash((site / "img/fox.png").read_bytes()), None, "informative", alt="A red fox on the lawn"
        )
        cache.put_human(
            content_hash((site / "img/chart.png").read_bytes()), None, "informative", alt="Bar chart of visits"
        )
    sources = {p.name: p.read_bytes() for p in site.glob("*.*")}
    code, log = build(site, "-W", "-j", "2")
    assert code == 0, log
    animals = images((site.parent / "out" / "animals.html").read_text(encoding="utf-8"))
    charts = images((site.parent / "out" / "charts.html").read_text(encoding="utf-8"))
    assert 'alt="A red fox on the lawn"' in animals[0]
    assert 'alt="Bar chart of visits"' in charts[0]
    assert {p.name: p.read_bytes() for p in site.glob("*.*")} == sources


def test_short_extension_name_and_bad_mode(site: Path) -> None:
    conf = site / "conf.py"
    conf.write_text(
        conf.read_text()
        .replace('"alttext_tools.sphinx"', '"alttext_tools.integrations.sphinx"')
        .replace('"check"', '"loud"')
    )
    code, log = build(site)
    assert code != 0 and "alttext_mode must be one of check, fill" in log


def test_documented_conf_is_the_tested_one() -> None:
    """The `conf.py` snippet in README.md and docs/integrations.md is what the fixture project builds with."""
    pattern = r"<!-- snippet: sphinx-conf -->\s*```python\n(.*?)```"
    readme = re.search(pattern, (REPO / "README.md").read_text(encoding="utf-8"), re.S)
    docs = re.search(pattern, (REPO / "docs" / "integrations.md").read_text(encoding="utf-8"), re.S)
    assert readme and docs and readme.group(1) == docs.group(1)
    conf = (SITE / "conf.py").read_text(encoding="utf-8").splitlines()
    assert all(line in conf for line in readme.group(1).splitlines())
