"""Which dialect a Markdown file is read in: `dialect = ...`, mkdocs.yml (read safely), Sphinx."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from alttext_tools.config import ConfigError, load_config
from alttext_tools.scan.dialects import COMMONMARK, MKDOCS, MYST, DialectResolver, mkdocs_dialect
from alttext_tools.scan.dispatch import scan_text
from alttext_tools.scan.mkdocs_config import MkDocsConfigError, extension_names, read_site

SITES = REPO / "fixtures" / "mkdocs-sites"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A repository with a MkDocs site in it (docs/), a README beside it."""
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    write(
        root / "mkdocs.yml",
        "site_name: P\nmarkdown_extensions:\n  - admonition\n"
        "  - pymdownx.tabbed:\n      alternate_style: true\n  - markdown.extensions.footnotes\n",
    )
    write(root / "docs" / "guide" / "page.md", "# Page\n")
    write(root / "README.md", "# Readme\n")
    return root


# --------------------------------------------------------------------------- resolution


def test_pages_under_docs_dir_are_read_as_mkdocs(project: Path) -> None:
    resolve = DialectResolver()
    assert resolve(project / "docs" / "guide" / "page.md") == mkdocs_dialect(
        {"admonition", "pymdownx.tabbed", "footnotes"}
    )
    assert resolve(project / "README.md") == COMMONMARK  # next to mkdocs.yml, not one of its pages


def test_docs_dir_setting_is_followed(project: Path) -> None:
    write(project / "mkdocs.yml", "site_name: P\ndocs_dir: site-src\n")
    write(project / "site-src" / "index.md", "")
    resolve = DialectResolver()
    assert resolve(project / "site-src" / "index.md").name == "mkdocs"
    assert resolve(project / "docs" / "guide" / "page.md") == COMMONMARK


def test_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    write(tmp_path / "mkdocs.yml", "site_name: outer\ndocs_dir: .\n")
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    page = write(tmp_path / "repo" / "docs" / "page.md", "")
    assert DialectResolver()(page) == COMMONMARK


def test_sphinx_projects_that_load_myst_are_read_as_myst(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / "docs" / "conf.py", 'extensions = ["sphinx.ext.autodoc", "myst_parser"]\n')
    write(tmp_path / "other" / "conf.py", 'extensions = ["sphinx.ext.autodoc"]\n')
    resolve = DialectResolver()
    assert resolve(write(tmp_path / "docs" / "usage" / "page.md", "")) == MYST
    assert resolve(write(tmp_path / "other" / "page.md", "")) == COMMONMARK


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("commonmark", COMMONMARK), ("myst", MYST), ("mkdocs", None)],
)
def test_a_setting_other_than_auto_decides(project: Path, setting: str, expected: object) -> None:
    resolve = DialectResolver(setting)
    page = project / "docs" / "guide" / "page.md"
    if expected is None:  # mkdocs: the site's own extensions where a mkdocs.yml governs the file
        assert resolve(page).extensions == {"admonition", "pymdownx.tabbed", "footnotes"}
        assert resolve(project / "README.md") == MKDOCS  # elsewhere mkdocs-material's usual set
    else:
        assert resolve(page) == expected


def test_the_setting_is_validated(tmp_path: Path) -> None:
    write(tmp_path / ".alttext.toml", 'dialect = "gfm"\n')
    with pytest.raises(ConfigError, match=r"dialect must be one of auto, commonmark, mkdocs, myst, not 'gfm'"):
        load_config(tmp_path)
    write(tmp_path / ".alttext.toml", 'dialect = "mkdocs"\n')
    assert load_config(tmp_path).dialect == "mkdocs"


# --------------------------------------------------------------------------- mkdocs.yml


@pytest.mark.parametrize(
    "value",
    [
        ["admonition", "attr_list"],
        [{"admonition": None}, {"markdown.extensions.attr_list": {}}],
        {"admonition": None, "attr_list": None},
    ],
    ids=["names", "one-key-mappings", "mapping"],
)
def test_extension_list_forms(value: object) -> None:
    assert extension_names(value) == {"admonition", "attr_list"}


def test_extra_stands_for_its_extensions() -> None:
    assert {"footnotes", "md_in_html", "attr_list", "tables"} <= extension_names(["extra"])


def test_tags_are_read_and_nothing_is_imported_or_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "imported"
    write(tmp_path / "lib" / "alttext_evil_probe.py", f"open({str(marker)!r}, 'w').close()\nboom = print\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    config = write(
        tmp_path / "mkdocs.yml",
        "site_name: !ENV [SITE_NAME, 'Docs']\n"
        "site_url: !ENV SITE_URL\n"
        "extra_css: [!relative $config_dir/extra.css]\n"
        "hooks: !!python/object/apply:alttext_evil_probe.boom [x]\n"
        "markdown_extensions:\n"
        "  - pymdownx.emoji:\n"
        "      emoji_index: !!python/name:alttext_evil_probe.boom\n"
        "      emoji_generator: !!python/object/new:alttext_evil_probe.boom {}\n"
        "  - admonition\n",
    )
    site = read_site(config)
    assert site.extensions == {"pymdownx.emoji", "admonition"}
    assert not marker.exists()
    assert "alttext_evil_probe" not in sys.modules


def test_inherit_is_followed(tmp_path: Path) -> None:
    write(tmp_path / "base" / "common.yml", "markdown_extensions:\n  - admonition\n  - footnotes\ndocs_dir: ignored\n")
    child = write(tmp_path / "site" / "mkdocs.yml", "INHERIT: ../base/common.yml\ndocs_dir: pages\n")
    site = read_site(child)
    assert site.extensions == {"admonition", "footnotes"}
    assert site.docs_dir == (tmp_path / "site" / "pages").resolve()
    write(child, "INHERIT: ../base/common.yml\nmarkdown_extensions: [attr_list]\n")
    assert read_site(child).extensions == {"attr_list"}  # the child's list replaces the parent's


def test_inherit_loop_is_an_error(tmp_path: Path) -> None:
    config = write(tmp_path / "mkdocs.yml", "INHERIT: mkdocs.yml\n")
    with pytest.raises(MkDocsConfigError, match="INHERIT nested more than"):
        read_site(config)


def test_broken_mkdocs_yml_warns_once_and_reads_commonmark(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / "mkdocs.yml", "site_name: Broken\nmarkdown_extensions: [admonition\nnav: x\n")
    warnings: list[str] = []
    resolve = DialectResolver(warn=warnings.append)
    pages = [write(tmp_path / "docs" / f"p{i}" / "page.md", "") for i in range(3)]
    assert [resolve(page) for page in pages] == [COMMONMARK] * 3
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{tmp_path / 'mkdocs.yml'}:3: warning: invalid YAML")
    assert warnings[0].endswith("; Markdown under it is read as CommonMark")


def test_broken_mkdocs_yml_in_a_check_run(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(SITES / "material", site)
    (site / ".git").mkdir()
    (site / "mkdocs.yml").write_text("site_name: [unclosed\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "alttext_tools", "check", "docs", "--format", "json"],
        cwd=site,
        capture_output=True,
        text=True,
    )
    lines = [line for line in proc.stderr.splitlines() if "warning:" in line]
    assert len(lines) == 1 and lines[0].startswith("mkdocs.yml:2: warning: invalid YAML: "), proc.stderr
    assert lines[0].endswith("; Markdown under it is read as CommonMark")
    assert proc.returncode == 1  # the findings CommonMark still sees; the warning alone changes nothing
    srcs = {entry["src"] for entry in json.loads(proc.stdout)}
    assert "img/dashboard.png" not in srcs  # in an admonition: indented code for CommonMark


# --------------------------------------------------------------------------- the run


def check_srcs(site: Path) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "alttext_tools", "check", "docs", "--format", "json"],
        cwd=site,
        capture_output=True,
        text=True,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return {entry["src"] for entry in json.loads(proc.stdout)}


def test_check_follows_mkdocs_yml_unless_told_otherwise(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(SITES / "material", site)
    (site / ".git").mkdir()
    assert {"img/dashboard.png", "../img/win-installer.png", "../img/footnote-empty.png"} <= check_srcs(site)
    write(site / ".alttext.toml", 'dialect = "commonmark"\n')
    assert {"img/dashboard.png", "../img/win-installer.png", "../img/footnote-empty.png"}.isdisjoint(check_srcs(site))


# --------------------------------------------------------------------------- myst


def test_myst_pages_go_to_the_myst_reader() -> None:
    """A `{image}` directive is an image only for MyST; CommonMark reads it as a code fence."""
    page = "```{image} img/fox.png\n:alt: A fox\n```\n"
    assert [(i.src, i.alt) for i in scan_text(page, "docs/page.md", "markdown", MYST)] == [("img/fox.png", "A fox")]
    assert scan_text(page, "docs/page.md", "markdown", COMMONMARK) == []


def test_auto_reads_sphinx_myst_pages_in_a_check_run(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / "docs" / "conf.py", 'extensions = ["myst_parser"]\n')
    write(tmp_path / "docs" / "page.md", "# Page\n\n```{image} fox.png\n```\n")
    proc = subprocess.run(
        [sys.executable, "-m", "alttext_tools", "check", "docs", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert [(e["path"], e["line"], e["rule"]) for e in json.loads(proc.stdout)] == [("docs/page.md", 3, "missing-alt")]
