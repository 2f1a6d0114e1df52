"""What a new user meets: one-line messages that name what they typed, and exit codes from one table."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import REPO
from openai_servers import free_port

from alttext_tools.cli.main import cli
from alttext_tools.report.outcome import ExitCode
from alttext_tools.scan.walk import Walker

PAGE = '<p><img src="a.png"></p>\n'


def alttext(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "alttext_tools", *args], cwd=cwd, capture_output=True, text=True, env=environ
    )


def lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# --- --help ----------------------------------------------------------------------------------------


def _commands(command: click.Command, ctx: click.Context) -> list[tuple[str, click.Command]]:
    found = [(ctx.command_path, command)]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            found += _commands(sub, click.Context(sub, parent=ctx, info_name=name))
    return found


def test_every_option_of_every_command_has_help_text() -> None:
    commands = _commands(cli, click.Context(cli, info_name="alttext"))
    assert {"alttext fix", "alttext review", "alttext serve", "alttext models pull"} <= {path for path, _ in commands}
    silent = [
        f"{path} {param.opts[0]}"
        for path, command in commands
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not (param.help or "").strip()
    ]
    assert silent == []


# --- model flags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "config", "named", "not_named"),
    [
        (["--model", "x.gguf"], "", ["--model ", "--mmproj PATH"], ["--fast", "--text"]),
        (["--fast-model", "x.gguf"], "", ["--fast-model ", "--fast-mmproj PATH"], ["--model", "--mmproj"]),
        (["--mmproj", "mm.gguf"], "", ["--mmproj is set", "--model PATH"], ["--fast", "--text"]),
        (["--model", "moondream2", "--handler", "llava"], "", ["drop --handler"], ["--fast", "--text"]),
        ([], 'text_model = "x.gguf"\n', ["text_model 'x.gguf' in ", ".alttext.toml", "text_mmproj"], ["--"]),
    ],
    ids=["model", "fast-model", "mmproj-alone", "preset-handler", "config-file"],
)
def test_model_errors_name_the_options_the_user_gave(
    tmp_path: Path, args: list[str], config: str, named: list[str], not_named: list[str]
) -> None:
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / ".alttext.toml").write_text(config, encoding="utf-8")
    proc = alttext("fix", ".", *args, "--no-cache", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    [line] = lines(proc.stderr)
    for phrase in named:
        assert phrase in line
    for phrase in not_named:
        assert phrase not in line


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--model", "moondream_text", "--mmproj", "qwen_mmproj"], "--model"),
        (["--model", "moondream_text", "--mmproj", "qwen_mmproj", "--handler", "moondream"], "--model"),
        (["--text-model", "qwen_text", "--text-mmproj", "moondream_mmproj", "--text-handler", "qwen2.5-vl"], "--text"),
    ],
    ids=["moondream-text-qwen-projector", "moondream-handler", "qwen-text-moondream-projector"],
)
def test_mismatched_model_pair_is_a_configuration_error(
    tmp_path: Path, tiny_models: dict[str, Path], args: list[str], flag: str
) -> None:
    (tmp_path / "index.html").write_text(PAGE * 3, encoding="utf-8")
    (tmp_path / "a.png").write_bytes(_png())
    resolved = [str(tiny_models[arg]) if arg in tiny_models else arg for arg in args]
    proc = alttext("fix", ".", *resolved, "--no-cache", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    [line] = lines(proc.stderr)  # one line, before any image: no per-image error
    assert line.startswith(f"Error: {flag}") and ("cannot take" in line or "does not fit" in line), line
    assert (tmp_path / "index.html").read_text(encoding="utf-8") == PAGE * 3


def _png() -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


# --- exit codes ------------------------------------------------------------------------------------


def _readme_exit_codes() -> dict[int, str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text[text.index("**Exit codes**") :]
    return {int(code): commands for code, commands in re.findall(r"^\| `(\d+)` \|.*\| (.+) \|$", table, re.M)}


def test_readme_exit_code_table_covers_every_code_and_command() -> None:
    table = _readme_exit_codes()
    assert set(table) == {int(code) for code in ExitCode}
    every = [path.removeprefix("alttext ") for path, _ in _commands(cli, click.Context(cli, info_name="alttext"))]
    for code, commands in table.items():
        if commands != "all":
            named = re.findall(r"`([^`]+)`", commands)
            assert named and all(name.split(" --")[0] in every for name in named), (code, commands)


def test_models_pull_without_network_exits_with_a_code_from_the_table(tmp_path: Path) -> None:
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}", "HF_HUB_OFFLINE": "0"}
    proc = alttext("models", "pull", "moondream2", "--no-progress", cwd=tmp_path, env=env)
    assert proc.returncode == ExitCode.FILE_ERRORS
    assert "models pull" in _readme_exit_codes()[proc.returncode]
    assert [line for line in lines(proc.stderr) if line.startswith("Error:")] and "Traceback" not in proc.stderr


# --- ignore patterns and config files --------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["!", "\\", "a\\", "[z-a]"])
def test_invalid_gitignore_pattern_is_skipped_with_one_warning(tmp_path: Path, pattern: str) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text(f"drafts/\n{pattern}\n", encoding="utf-8")
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "drafts").mkdir()
    (tmp_path / "drafts" / "wip.html").write_text(PAGE, encoding="utf-8")
    proc = alttext("check", ".", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr  # the findings of index.html: the run went on
    assert "Traceback" not in proc.stderr
    [warning] = [line for line in lines(proc.stderr) if line.startswith("warning:")]
    assert warning == f"warning: .gitignore:2: invalid ignore pattern {pattern!r} skipped"
    assert "drafts" not in proc.stdout  # the valid patterns still apply


def test_invalid_exclude_pattern_is_skipped_with_one_warning(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")
    proc = alttext("check", ".", "--exclude", "!", "--exclude", "nothing/", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert [line for line in lines(proc.stderr) if line.startswith("warning:")] == [
        "warning: invalid exclude pattern '!' skipped"
    ]


def test_walker_reads_each_gitignore_once(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("!\n", encoding="utf-8")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.md").write_text("![](x.png)\n", encoding="utf-8")
    walker = Walker(tmp_path)
    assert len(list(walker.files([tmp_path / "a", tmp_path / "b"]))) == 2
    assert len(walker.warnings) == 1


@pytest.mark.parametrize(
    ("name", "content", "phrase"),
    [
        (".alttext.toml", "x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        (".alttext.toml", "x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n", "nested too deeply"),
        ("pyproject.toml", '# settings live in [tool.alttext]\ntool = "x"\n', "`tool` must be a table"),
    ],
    ids=["nested-arrays", "nested-tables", "tool-not-a-table"],
)
def test_bad_config_file_is_one_line_exit_2(tmp_path: Path, name: str, content: str, phrase: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")
    proc = alttext("check", ".", cwd=tmp_path)
    assert proc.returncode == 2
    assert lines(proc.stderr) == [f"Error: {tmp_path / name}: {lines(proc.stderr)[0].split(': ', 2)[2]}"]
    assert phrase in proc.stderr and "Traceback" not in proc.stderr


# --- files that are not sources --------------------------------------------------------------------


def test_check_a_text_file_says_plainly_what_it_is_not(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("just notes\n", encoding="utf-8")
    proc = alttext("check", "notes.txt", cwd=tmp_path)
    assert proc.returncode == ExitCode.FILE_ERRORS
    assert proc.stdout.startswith("notes.txt: error: not an HTML, Markdown or reST file, so it was not checked")
    assert "No problems found" not in proc.stderr
    assert lines(proc.stderr) == ["Nothing checked: 1 file could not be checked."]


def test_ctrl_c_exits_130_not_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import alttext_tools.check.run

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(alttext_tools.check.run, "check_files", interrupted)
    result = CliRunner().invoke(cli, ["check", "."])
    assert result.exit_code == ExitCode.INTERRUPTED == 130
    assert "interrupted" in result.stderr and "Aborted" not in result.output
