"""`alttext check` end to end: exit codes, formats, config, excludes and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, invoke

from alttext_tools.cli.main import cli

SITE = FIXTURES / "site"


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    dest = tmp_path / "site"
    shutil.copytree(SITE, dest)
    return dest


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


# (case id, files, extra args, expected exit code, expected "path:line:col rule" lines)
CASES = [
    ("clean", {"a.md": "![A red bicycle](b.png)\n"}, [], 0, []),
    ("missing-alt-html", {"a.html": '<p><img src="b.png"></p>\n'}, [], 1, ["a.html:1:4 missing-alt"]),
    ("empty-md", {"a.md": "text\n\n![](b.png)\n"}, [], 1, ["a.md:3:1 empty-alt"]),
    ("warning-not-failing-by-default", {"a.md": "![image](b.png)\n"}, [], 0, ["a.md:1:1 placeholder-alt"]),
    (
        "warning-fails-with-fail-on-warning",
        {"a.md": "![image](b.png)\n"},
        ["--fail-on", "warning"],
        1,
        ["a.md:1:1 placeholder-alt"],
    ),
    ("never-fails", {"a.html": '<img src="b.png">'}, ["--fail-on", "never"], 0, ["a.html:1:1 missing-alt"]),
    ("disable-rule", {"a.md": "![image](b.png)\n"}, ["--disable", "placeholder-alt"], 0, []),
    ("max-length", {"a.md": "![" + "word " * 10 + "](b.png)\n"}, ["--max-length", "20"], 0, ["a.md:1:1 alt-too-long"]),
    ("decorative-marker", {"a.md": '![](b.png){ alt="" }\n'}, [], 0, []),
    ("ignore-comment", {"a.html": '<!-- alttext-ignore -->\n<img src="b.png">\n'}, [], 0, []),
    ("ignore-file", {"a.md": "<!-- alttext-ignore-file -->\n![](b.png)\n"}, [], 0, []),
    ("code-is-not-an-image", {"a.md": "```\n![](b.png)\n```\n\n`![](c.png)`\n"}, [], 0, []),
    (
        "exclude-glob",
        {"a.md": "![](b.png)\n", "vendor/x.md": "![](b.png)\n"},
        ["--exclude", "vendor/"],
        1,
        ["a.md:1:1 empty-alt"],
    ),
    ("gitignore", {".gitignore": "build/\n", "a.md": "ok\n", "build/x.html": '<img src="a">'}, [], 0, []),
    (
        "no-gitignore",
        {".gitignore": "build/\n", "a.md": "ok\n", "build/x.html": '<img src="a">'},
        ["--no-gitignore"],
        1,
        ["build/x.html:1:1 missing-alt"],
    ),
    (
        "binary-named-md",
        {"a.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00", "b.md": "![](x.png)\n"},
        [],
        3,
        ["b.md:1:1 empty-alt"],
    ),
    ("latin1", {"a.md": "Café ![](x.png)\n".encode("latin-1")}, [], 1, ["a.md:1:6 empty-alt"]),
    ("crlf", {"a.html": '<p>\r\n  <img src="b.png">\r\n</p>\r\n'}, [], 1, ["a.html:2:3 missing-alt"]),
    ("bom", {"a.html": '\ufeff<img src="b.png">'}, [], 1, ["a.html:1:1 missing-alt"]),
    ("non-doc-files-skipped", {"a.txt": "![](x.png)", "b.py": "'<img>'"}, [], 0, []),
]


@pytest.mark.parametrize(("files", "args", "code", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check_table(
    tmp_path: Path, files: dict[str, str | bytes], args: list[str], code: int, expected: list[str]
) -> None:
    write(tmp_path, files)
    exit_code, out, _ = invoke(cli, ["check", "--format", "json", *args], tmp_path)
    entries = json.loads(out)
    got = [f"{e['path']}:{e['line']}:{e['column']} {e['rule']}" for e in entries if e["rule"] != "file-error"]
    assert got == expected
    assert exit_code == code


def test_text_format_lines_and_summary(site: Path) -> None:
    code, out, err = invoke(cli, ["check", "--no-color"], site)
    assert code == 1
    lines = out.splitlines()
    assert 'index.html:14:5: missing-alt image has no alt text (add alt="..." or alt="" if decorative)' in lines
    assert all(line.count(":") >= 3 for line in lines)
    assert "Found 8 problems (4 errors, 4 warnings) in 3 files; 11 images checked in 3 files." in err
    assert "\x1b[" not in out


def test_color_forced(site: Path) -> None:
    _, out, _ = invoke(cli, ["check", "--color"], site)
    assert "\x1b[" in out


def test_sarif_and_output_file(site: Path) -> None:
    code, out, _ = invoke(cli, ["check", "--format", "sarif", "--output", "report/alttext.sarif"], site)
    assert code == 1 and out == ""
    log = json.loads((site / "report" / "alttext.sarif").read_text())
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    assert len(results) == 8
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"index.html", "docs/guide.md", "docs/es/guia.md"}


def test_github_format(site: Path) -> None:
    _, out, _ = invoke(cli, ["check", "--format", "github"], site)
    assert "::error file=index.html,line=14,col=5," in out
    assert "::warning file=docs/guide.md,line=13,col=1," in out


def test_json_fields(site: Path) -> None:
    _, out, _ = invoke(cli, ["check", "--format", "json"], site)
    entry = next(e for e in json.loads(out) if e["rule"] == "filename-alt" and e["path"] == "index.html")
    assert {"path", "line", "column", "rule", "severity", "message", "src", "alt"} <= entry.keys()
    assert entry["src"] == "img/logo.png" and entry["alt"] == "logo.png" and entry["severity"] == "warning"


@pytest.mark.parametrize(
    ("config_name", "content", "args", "code"),
    [
        ("pyproject.toml", '[tool.alttext]\nfail_on = "warning"\n', [], 1),
        (".alttext.toml", 'fail-on = "warning"\n', [], 1),
        (".alttext.toml", 'fail_on = "warning"\n', ["--fail-on", "error"], 0),  # CLI overrides config
        (".alttext.toml", 'disable = ["placeholder-alt"]\nfail_on = "warning"\n', [], 0),
        (".alttext.toml", 'exclude = ["*.md"]\nfail_on = "warning"\n', [], 0),
        (".alttext.toml", '[severity]\nplaceholder-alt = "error"\n', [], 1),
        (".alttext.toml", 'placeholders = ["bike"]\n', ["--fail-on", "warning", "--disable", "placeholder-alt"], 0),
        (".alttext.toml", "unknown_key = 1\n", [], 2),
        (".alttext.toml", 'fail_on = "sometimes"\n', [], 2),
        (".alttext.toml", 'disable = ["no-such-rule"]\n', [], 2),
        (".alttext.toml", 'max_length = "long"\n', [], 2),
        (".alttext.toml", "not = [valid toml\n", [], 2),
    ],
)
def test_config(tmp_path: Path, config_name: str, content: str, args: list[str], code: int) -> None:
    write(tmp_path, {config_name: content, "a.md": "![image](b.png)\n"})
    exit_code, _, err = invoke(cli, ["check", *args], tmp_path)
    assert exit_code == code, err
    if code == 2:
        assert config_name in err and "Traceback" not in err


def test_config_found_from_subfolder(tmp_path: Path) -> None:
    write(tmp_path, {".alttext.toml": 'exclude = ["drafts/"]\n', "docs/drafts/a.md": "![](x)\n", "docs/b.md": "ok\n"})
    code, _, _ = invoke(cli, ["check", "docs"], tmp_path)
    assert code == 0


def test_usage_errors(tmp_path: Path) -> None:
    assert invoke(cli, ["check", "nope/"], tmp_path)[0] == 2
    assert invoke(cli, ["check", "--format", "xml"], tmp_path)[0] == 2
    assert invoke(cli, ["frobnicate"], tmp_path)[0] == 2


def test_bad_files_do_not_stop_the_run(tmp_path: Path) -> None:
    write(tmp_path, {"a.md": b"\x00\x01binary", "b.html": '<img src="x.png">', "c.md": "![](y.png)\n"})
    (tmp_path / "dangling.md").symlink_to(tmp_path / "missing-target.md")
    code, out, err = invoke(cli, ["check", "a.md", "b.html", "c.md", "dangling.md"], tmp_path)
    assert code == 3
    assert "a.md: error: binary file" in out
    assert "dangling.md: error: file not found" in out
    assert "b.html:1:1: missing-alt" in out and "c.md:1:1: empty-alt" in out
    assert "Traceback" not in out + err


def test_huge_file_is_refused_cleanly(tmp_path: Path) -> None:
    (tmp_path / "big.md").write_bytes(b"a" * (21 * 1024 * 1024))
    code, out, _ = invoke(cli, ["check", "big.md"], tmp_path)
    assert code == 3 and "big.md: error: file too large" in out


def test_many_files_in_parallel_match_serial(tmp_path: Path) -> None:
    files = {f"d{i % 7}/p{i}.md": f"# Page {i}\n\n![](img{i}.png)\n\n![Fine alt {i}](ok.png)\n" for i in range(120)}
    write(tmp_path, files)
    _, serial, _ = invoke(cli, ["check", "--format", "json", "-j", "1"], tmp_path)
    _, parallel, _ = invoke(cli, ["check", "--format", "json", "-j", "2"], tmp_path)
    assert json.loads(serial) == json.loads(parallel)
    assert len(json.loads(serial)) == 120


def test_console_script_and_module_entry_points(site: Path) -> None:
    """The real entry points, in a subprocess: exit codes survive, and check stays light."""
    for argv in ([sys.executable, "-m", "alttext_tools"], [str(Path(sys.executable).with_name("alttext"))]):
        proc = subprocess.run([*argv, "check", "--format", "json"], cwd=site, capture_output=True, text=True)
        assert proc.returncode == 1, proc.stderr
        assert len(json.loads(proc.stdout)) == 8
    probe = (
        "import sys; from alttext_tools.cli.main import main; code = main(['check', 'index.html']); "
        "print(sorted(m for m in ('llama_cpp', 'PIL', 'huggingface_hub', 'numpy') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=site, capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
