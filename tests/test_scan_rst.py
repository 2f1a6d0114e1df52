"""The reStructuredText and MyST scanners: fixture cases, what docutils / myst-parser render, the walker."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO
from test_architecture import loaded_in_repo  # tests/ is on sys.path
from test_scan_markdown import BASE, Case, image_dict, read_cases

from alttext_tools.check.rules import evaluate_all
from alttext_tools.scan.dispatch import kind_of, scan_text
from alttext_tools.scan.walk import Walker

pytest.importorskip("myst_parser")

CASES = [(case, "rst") for case in read_cases(REPO / "fixtures" / "rst" / "images.txt")] + [
    (case, "myst") for case in read_cases(REPO / "fixtures" / "myst" / "images.txt")
]


@pytest.mark.parametrize(("case", "kind"), CASES, ids=[f"{kind}-{case.id}" for case, kind in CASES])
def test_fixture_case(case: Case, kind: str) -> None:
    images = scan_text(case.text, case.path, kind)  # type: ignore[arg-type]
    got = [
        image_dict(case.text, image, tuple(k for k in row if k not in BASE))
        for image, row in zip(images, case.expected)
    ]
    assert len(images) == len(case.expected), [image_dict(case.text, i) for i in images]
    assert got == case.expected


def rendered_alts(text: str, kind: str) -> list[str | None]:
    """The alt of every image node docutils (reST) or myst-parser (MyST) makes, in document order."""
    from docutils import nodes
    from docutils.core import publish_doctree

    settings = {"report_level": 5, "halt_level": 5, "file_insertion_enabled": False}
    if kind == "rst":
        doctree = publish_doctree(text, settings_overrides=settings)
    else:
        from myst_parser.docutils_ import Parser

        settings["myst_enable_extensions"] = ["colon_fence"]
        doctree = publish_doctree(text, parser=Parser(), settings_overrides=settings)
    return [node.get("alt") for node in doctree.findall(nodes.image)]


@pytest.mark.parametrize(("case", "kind"), CASES, ids=[f"{kind}-{case.id}" for case, kind in CASES])
def test_alt_is_what_the_renderer_reads(case: Case, kind: str) -> None:
    """Every image's alt, in document order, is the alt docutils / myst-parser put on its image node."""
    if case.id in ("substitution-no-alt", "unknown-directive"):
        pytest.skip("docutils renders a copy per substitution use, and nothing for an unknown directive")
    images = scan_text(case.text, case.path, kind)  # type: ignore[arg-type]
    assert [image.alt for image in images if not image.in_html_block] == rendered_alts(case.text, kind)


def test_findings_for_directives() -> None:
    text = (
        ".. image:: a.png\n\n.. image:: b.png\n   :alt:\n\n.. image:: c.png\n   :alt: image\n\n.. |x| image:: d.png\n"
    )
    findings = evaluate_all(scan_text(text, "p.rst", "rst"))
    assert [(f.image.line, f.rule) for f in findings] == [(1, "missing-alt"), (6, "placeholder-alt")]
    assert ":alt:" in findings[0].message


def test_walker_takes_rst_and_txt_only_where_conf_py_says(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text(".. image:: a.png\n")
    (tmp_path / "plain" / "page.rst").write_text(".. image:: a.png\n")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "conf.py").write_text(
        "extensions = []\nsource_suffix = {'.rst': 'restructuredtext', '.txt': 'restructuredtext'}\n"
    )
    (docs / "sub").mkdir()
    (docs / "sub" / "page.txt").write_text(".. image:: a.png\n")
    found = sorted(p.relative_to(tmp_path).as_posix() for p, _ in Walker(tmp_path).files([tmp_path]))
    assert found == ["docs/sub/page.txt", "plain/page.rst"]
    assert kind_of(docs / "sub" / "page.txt") == "rst"
    assert kind_of(tmp_path / "plain" / "notes.txt") is None


def test_conf_py_is_read_never_run(tmp_path: Path) -> None:
    (tmp_path / "conf.py").write_text("raise SystemExit('ran')\nsource_suffix = ['.rst', '.txt']\n")
    (tmp_path / "a.txt").write_text("x\n")
    assert kind_of(tmp_path / "a.txt") == "rst"


def test_markdown_check_loads_no_docutils_myst_or_sphinx() -> None:
    loaded = loaded_in_repo(
        "from alttext_tools.cli.main import main\ntry:\n    main(['check', 'fixtures/mkdocs-site/docs'])\n"
        "except SystemExit:\n    pass"
    )
    assert loaded.isdisjoint({"docutils", "myst_parser", "sphinx"})


def test_rst_check_through_the_cli(tmp_path: Path) -> None:
    loaded = loaded_in_repo(
        "from alttext_tools.cli.main import main\ntry:\n    main(['check', 'fixtures/sphinx-site/animals.rst'])\n"
        "except SystemExit:\n    pass"
    )
    assert "docutils" in loaded and loaded.isdisjoint({"myst_parser", "sphinx"})


def test_myst_without_myst_parser_is_one_line_for_that_file(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```{image} a.png\n```\n")
    code = (
        "import sys; sys.modules['myst_parser'] = None\n"
        "from pathlib import Path\nimport alttext_tools.scan.dispatch as d\n"
        "d.kind_of = lambda path: 'myst'\n"
        f"print(d.scan_file(Path({str(page)!r}), 'page.md').error)"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "needs myst-parser" in out and "alttext-tools[sphinx]" in out
