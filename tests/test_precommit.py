"""The pre-commit hooks, through the real `pre-commit` and real `git commit`s in a temp repository.

The `.pre-commit-config.yaml` is the snippet from docs/integrations.md, pointing at a git copy of
this checkout (`repo:` + `rev:`), so pre-commit clones it and reads our `.pre-commit-hooks.yaml`
exactly as it would from GitHub. One thing is changed: each hook gets `language: system`, so the
hook runs the `alttext` already installed here instead of pre-commit building a virtualenv.
`test_check_hook_installs_the_light_core_only` lets pre-commit build the check hook's own
virtualenv, offline from a folder of wheels (`ALTTEXT_TEST_WHEELHOUSE`, made by `.ci/run`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DOCS_INTEGRATIONS, REPO, snippet

BIN = Path(sys.executable).parent  # where the `alttext` console script is installed

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pre_commit") is None,
    reason="pre-commit is not installed (it is in the test extras: pip install -e '.[test]')",
)

MISSING = '# Garden\n\n<img src="img/fox.png">\n'
FIXED = '# Garden\n\n<img src="img/fox.png" alt="A red fox on the lawn">\n'


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A git repository holding this checkout's hook manifest and package, committed: (path, rev)."""
    root = tmp_path_factory.mktemp("alttext-tools")
    for name in (".pre-commit-hooks.yaml", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, root / name)
    shutil.copytree(REPO / "alttext_tools", root / "alttext_tools", ignore=shutil.ignore_patterns("__pycache__"))
    env = git_env(tmp_path_factory.mktemp("git-home"))
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "hooks"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    return root, rev


def git_env(home: Path, **extra: str) -> dict[str, str]:
    """Isolated from the user's git and pre-commit settings; `alttext` on PATH."""
    gitconfig = home / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SKIP", "NO_COLOR", "PRE_COMMIT_COLOR") and not k.startswith("GIT_")
    }
    env.update(
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        PRE_COMMIT_HOME=str(home / "pre-commit"),
        PRE_COMMIT_COLOR="never",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        **extra,
    )
    return env


def config_from_docs(hook_repo: tuple[Path, str], *, system: bool = True, **args: list[str]) -> dict[str, Any]:
    """The documented config (+ the pre-commit.ci block) pointing at `hook_repo`; `args` add
    arguments to a hook by id (underscores for dashes)."""
    config = snippet("pre-commit-config")
    config.update(snippet("pre-commit-ci"))
    (entry,) = config["repos"]
    entry["repo"], entry["rev"] = str(hook_repo[0]), hook_repo[1]
    for hook in entry["hooks"]:
        if system:
            hook["language"] = "system"
            hook.pop("additional_dependencies", None)  # a system hook installs nothing
        hook["args"] = [*hook.get("args", []), *args.get(hook["id"].replace("-", "_"), [])]
    return config


class DocsRepo:
    """A docs repository with the hooks installed; `commit()` runs them through git."""

    def __init__(self, root: Path, config: dict[str, Any], env: dict[str, str]) -> None:
        self.root, self.env = root, env
        root.mkdir()
        self.git("init", "-q")
        self.write(".pre-commit-config.yaml", yaml.safe_dump(config, sort_keys=False))
        proc = subprocess.run(
            [sys.executable, "-m", "pre_commit", "install"], cwd=root, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def write(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def git(self, *args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=self.root, env=self.env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    def commit(self, *paths: str) -> tuple[int, str]:
        self.git("add", *paths)
        proc = subprocess.run(
            ["git", "commit", "-m", "docs"], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=120
        )
        output = proc.stdout + proc.stderr
        assert "[WARNING]" not in output and "[ERROR]" not in output, output
        return proc.returncode, output

    def commits(self) -> int:
        proc = subprocess.run(
            ["git", "rev-list", "--count", "HEAD"], cwd=self.root, env=self.env, capture_output=True, text=True
        )
        return int(proc.stdout) if proc.returncode == 0 else 0


def test_manifest_is_valid_for_pre_commit() -> None:
    from pre_commit.clientlib import load_manifest

    hooks = {hook["id"]: hook for hook in load_manifest(REPO / ".pre-commit-hooks.yaml")}
    assert set(hooks) == {"alttext-check", "alttext-fix"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["types_or"] == ["html", "markdown", "rst"]
        assert hook["pass_filenames"] and hook["args"] == []
    assert hooks["alttext-check"]["entry"] == "alttext check" and not hooks["alttext-check"]["require_serial"]
    assert hooks["alttext-fix"]["entry"] == "alttext fix" and hooks["alttext-fix"]["require_serial"]


def test_check_hook_blocks_a_commit_until_the_alt_is_written(hook_repo: tuple[Path, str], tmp_path: Path) -> None:
    config = config_from_docs(hook_repo)
    # As on pre-commit.ci: the hooks in `ci: skip` are skipped (pre-commit.ci passes them as SKIP).
    env = git_env(tmp_path, SKIP=",".join(config["ci"]["skip"]))
    repo = DocsRepo(tmp_path / "docs-repo", config, env)
    repo.write("README.md", "# Garden notes\n")
    code, out = repo.commit(".pre-commit-config.yaml", "README.md")
    assert code == 0, out
    assert re.search(r"alttext check \(image alt text\)\.+Passed", out), out
    assert re.search(r"alttext fix \(write missing alt text\)\.+Skipped", out), out

    repo.write("docs/guide.md", MISSING)
    repo.write("notes.txt", '<img src="not-a-doc.png">\n')  # not HTML/Markdown: never passed to the hook
    code, out = repo.commit("docs/guide.md", "notes.txt")
    assert code == 1, out
    assert re.search(r"alttext check \(image alt text\)\.+Failed", out), out
    assert "- exit code: 1" in out
    assert 'docs/guide.md:3:1: missing-alt image has no alt text (add alt="..." or alt="" if decorative)' in out
    assert "notes.txt" not in out
    assert repo.commits() == 1

    repo.write("docs/guide.md", FIXED)
    code, out = repo.commit("docs/guide.md", "notes.txt")
    assert code == 0, out
    assert repo.commits() == 2


def test_fix_hook_modifies_files_and_the_second_commit_passes(hook_repo: tuple[Path, str], tmp_path: Path) -> None:
    # No model in the tests: the fixer applies reviewed decisions (`alttext fix --from`), which
    # exercises the same hook (entry, file filter, serial run, writing) without generating.
    config = config_from_docs(hook_repo, alttext_fix=["--from", "decisions.json"])
    env = git_env(tmp_path)
    repo = DocsRepo(tmp_path / "docs-repo", config, env)
    code, out = repo.commit(".pre-commit-config.yaml")
    assert code == 0, out

    repo.write("docs/guide.md", MISSING)
    check = subprocess.run(
        [str(BIN / "alttext"), "check", "docs", "--format", "json", "--quiet"],
        cwd=repo.root,
        env=env,
        capture_output=True,
        text=True,
    )
    entries = json.loads(check.stdout)
    assert [(e["path"], e["line"], e["rule"]) for e in entries] == [("docs/guide.md", 3, "missing-alt")]
    entries[0]["new_alt"] = "A red fox on the lawn"
    repo.write("decisions.json", json.dumps(entries))

    code, out = repo.commit("docs/guide.md")
    assert code == 1, out
    assert re.search(r"alttext fix \(write missing alt text\)\.+Failed", out), out
    assert "- files were modified by this hook" in out
    assert "fixed docs/guide.md (1 image)" in out
    # Fixers run first: the check then sees the fixed file.
    assert re.search(r"alttext check \(image alt text\)\.+Passed", out), out
    assert (repo.root / "docs/guide.md").read_text(encoding="utf-8") == FIXED
    assert repo.commits() == 1

    code, out = repo.commit("docs/guide.md")
    assert code == 0, out
    assert re.search(r"alttext fix \(write missing alt text\)\.+Passed", out), out
    assert repo.git("show", "HEAD:docs/guide.md") == FIXED


def test_documented_model_presets_exist() -> None:
    from alttext_tools.models.presets import PRESETS

    text = DOCS_INTEGRATIONS.read_text(encoding="utf-8")
    pulls = re.findall(r"alttext models pull ([^\n`]+)", text)
    assert pulls, "docs/integrations.md should say how to pull the models"
    for line in pulls:
        for name in line.split():
            assert name in PRESETS, f"docs/integrations.md pulls unknown preset {name!r}"


WHEELHOUSE = os.environ.get("ALTTEXT_TEST_WHEELHOUSE", "")


@pytest.mark.skipif(
    not WHEELHOUSE and os.environ.get("ALTTEXT_TEST_PRECOMMIT_INSTALL") != "1",
    reason="builds the hook's virtualenv: set ALTTEXT_TEST_WHEELHOUSE to a folder of wheels (.ci/run makes one) "
    "or ALTTEXT_TEST_PRECOMMIT_INSTALL=1 to install from PyPI",
)
def test_check_hook_installs_the_light_core_only(hook_repo: tuple[Path, str], tmp_path: Path) -> None:
    config = config_from_docs(hook_repo, system=False)
    (entry,) = config["repos"]
    entry["hooks"] = [hook for hook in entry["hooks"] if hook["id"] == "alttext-check"]
    env = git_env(tmp_path)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != BIN)  # the hook's own alttext
    if WHEELHOUSE:
        env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=WHEELHOUSE)
    repo = DocsRepo(tmp_path / "docs-repo", config, env)
    repo.write("docs/guide.md", MISSING)
    repo.git("add", "-A")
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "alttext-check", "--files", "docs/guide.md"],
        cwd=repo.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "docs/guide.md:3:1: missing-alt" in proc.stdout
    (python,) = Path(env["PRE_COMMIT_HOME"]).glob("repo*/py_env-*/bin/python")
    probe = (
        "import importlib.util, sys\n"
        "from alttext_tools.cli.main import main\n"
        "try:\n    main(['check', 'docs'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('llama_cpp', 'gguf') if importlib.util.find_spec(m)))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'PIL', 'llama_cpp', 'gguf'}))\n"
    )
    out = subprocess.run([str(python), "-c", probe], cwd=repo.root, capture_output=True, text=True, check=False)
    installed, imported = out.stdout.splitlines()[-2:]
    assert installed == "[]", "the check hook's environment has a model engine"
    assert imported == "[]", "the check path imported pixels or a model engine"
