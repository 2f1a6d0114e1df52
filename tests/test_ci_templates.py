"""The GitHub Action and the GitLab CI template, executed for real on a temp docs tree.

Neither CI service can run here, so each file is parsed and its shell steps are run the way the
service runs them: GitHub composite `run:` steps with `bash --noprofile --norc -eo pipefail`, inputs
through `${{ }}` expressions, step outputs through $GITHUB_OUTPUT; GitLab's `script:` lines as one
`bash -eo pipefail` script with the job's variables. `uses:` steps (setup-python, cache,
upload-sarif) are not run: their inputs are checked instead (upload-sarif: the SARIF file exists and
is valid). `python -m pip install` is intercepted (recorded, not run): the installed `alttext` is used.
The documented workflow and GitLab snippets are read from docs/integrations.md and run too.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import REPO, snippet

ACTION_DIR = REPO / "integrations" / "github-action"
GITLAB_TEMPLATE = REPO / "integrations" / "gitlab" / "alttext.gitlab-ci.yml"
SARIF_MIN_SCHEMA = json.loads((Path(__file__).parent / "sarif_min.schema.json").read_text(encoding="utf-8"))
BIN = Path(sys.executable).parent

GUIDE = '# Garden\n\n<img src="img/fox.png">\n'  # missing-alt (error) at 3:1
INDEX = "# Home\n\n![screenshot](img/home.png)\n"  # placeholder-alt (warning) at 3:1


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "guide.md").write_text(GUIDE, encoding="utf-8")
    (root / "docs" / "index.md").write_text(INDEX, encoding="utf-8")
    (root / ".git").mkdir()  # the project root, as in a checkout
    return root


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """PATH with a `python` that records `-m pip install ARGS` (one line per run) instead of
    installing, and runs anything else with this interpreter; then the installed `alttext`."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    script = fake / "python"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "install" ]; then\n'
        '  shift 3; echo "$*" >> "$FAKE_PIP_RECORD"; exit 0\n'
        "fi\n"
        f'exec "{sys.executable}" "$@"\n'
    )
    script.chmod(0o755)
    alttext = fake / "alttext"  # records each run's arguments, then runs the installed CLI
    alttext.write_text(f'#!/bin/sh\necho "$*" >> "$FAKE_ALTTEXT_RECORD"\nexec "{BIN / "alttext"}" "$@"\n')
    alttext.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ALTTEXT_", "CI_")) and k != "NO_COLOR"}
    env.update(
        PATH=os.pathsep.join([str(fake), str(BIN), env.get("PATH", "")]),
        FAKE_PIP_RECORD=str(tmp_path / "pip.log"),
        FAKE_ALTTEXT_RECORD=str(tmp_path / "alttext.log"),
    )
    return env


def alttext_runs(env: dict[str, str]) -> list[str]:
    """The arguments of each `alttext` the scripts ran."""
    log = Path(env["FAKE_ALTTEXT_RECORD"])
    return log.read_text().splitlines() if log.exists() else []


def pip_installs(env: dict[str, str]) -> list[str]:
    log = Path(env["FAKE_PIP_RECORD"])
    return log.read_text().splitlines() if log.exists() else []


# ------------------------------------------------------------------------- GitHub composite action


def _expression(expr: str, context: dict[str, Any]) -> Any:
    """A GitHub expression with the parts this action uses: contexts, 'strings', ==, !=, &&, ||, !."""
    python = []
    for token in re.findall(r"'(?:[^']|'')*'|==|!=|&&|\|\||!|\(|\)|[A-Za-z_][\w.-]*|\S", expr):
        if token.startswith("'"):
            python.append(repr(token[1:-1].replace("''", "'")))
        elif token in ("==", "!=", "(", ")"):
            python.append(token)
        elif token in ("&&", "||", "!"):
            python.append({"&&": "and", "||": "or", "!": "not"}[token])
        elif token in ("true", "false"):
            python.append(str(token == "true"))
        elif re.fullmatch(r"[A-Za-z_][\w.-]*", token):
            value: Any = context
            for part in token.split("."):
                value = value.get(part, "") if isinstance(value, dict) else ""
            python.append(repr(value))
        else:
            raise AssertionError(f"unsupported expression token {token!r} in {expr!r}")
    return eval(" ".join(python), {"__builtins__": {}}, {})


def _substitute(value: Any, context: dict[str, Any]) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(_expression(m.group(1), context)), str(value))


@dataclass
class ActionRun:
    exit_code: int
    log: str
    outputs: dict[str, str]
    used: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (uses, with) of the steps taken


def run_action(workspace: Path, env: dict[str, str], inputs: dict[str, Any], action_ref: str = "v0.1.0") -> ActionRun:
    action = yaml.safe_load((ACTION_DIR / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    unknown = set(inputs) - set(action["inputs"])
    assert not unknown, f"the action has no input {unknown}"
    given = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in inputs.items()}
    context: dict[str, Any] = {
        "inputs": {name: given.get(name, str(spec.get("default", ""))) for name, spec in action["inputs"].items()},
        "github": {"action_path": str(ACTION_DIR), "action_ref": action_ref, "workspace": str(workspace)},
        "runner": {"os": "Linux", "temp": str(workspace.parent)},
        "steps": {},
    }
    run = ActionRun(0, "", {})
    for index, step in enumerate(action["runs"]["steps"]):
        condition = step.get("if")
        if condition is not None:
            condition = re.sub(r"^\$\{\{(.*)\}\}$", r"\1", str(condition).strip())
            if not _expression(condition, context):
                continue
        if "uses" in step:
            run.used.append((step["uses"], {k: _substitute(v, context) for k, v in step.get("with", {}).items()}))
            continue
        assert step["shell"] == "bash"
        output_file = workspace.parent / f"github_output_{index}"
        output_file.write_text("")
        step_env = {
            **env,
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_ACTION_PATH": str(ACTION_DIR),
            "GITHUB_WORKSPACE": str(workspace),
        }
        step_env.update({k: _substitute(v, context) for k, v in step.get("env", {}).items()})
        assert "${{" not in step["run"], "pass inputs to scripts through env:, never inline"
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workspace,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        run.log += proc.stdout + proc.stderr
        outputs = dict(line.split("=", 1) for line in output_file.read_text().splitlines() if line)
        if "id" in step:
            context["steps"][step["id"]] = {
                "outputs": outputs,
                "outcome": "success" if proc.returncode == 0 else "failure",
            }
        if proc.returncode != 0:  # a failed step ends a composite action
            run.exit_code = proc.returncode
            break
    run.outputs = {name: _substitute(spec["value"], context) for name, spec in action.get("outputs", {}).items()}
    return run


def annotations(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith(("::error ", "::warning "))]


def assert_sarif(path: Path, expected_rules: list[str]) -> None:
    log = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(SARIF_MIN_SCHEMA).validate(log)
    results = log["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results) == sorted(expected_rules)


def uploads(run: ActionRun) -> list[dict[str, str]]:
    return [with_ for uses, with_ in run.used if uses.startswith("github/codeql-action/upload-sarif@")]


def test_action_defaults_sarif_annotations_and_exit_code(workspace: Path, shell_env: dict[str, str]) -> None:
    run = run_action(workspace, shell_env, {})
    assert run.exit_code == 1, run.log
    assert run.outputs == {"exit-code": "1", "sarif-file": "alttext.sarif"}
    # Installed from the action's own checkout (../.. of the action folder is the repository root).
    (spec,) = pip_installs(shell_env)
    assert Path(spec.split()[-1]).resolve() == REPO
    assert [uses.split("@")[0] for uses, _ in run.used] == [
        "actions/setup-python",
        "actions/cache",
        "github/codeql-action/upload-sarif",
    ]
    assert uploads(run) == [{"sarif_file": "alttext.sarif", "category": "alttext"}]
    assert ("github/codeql-action/upload-sarif@v4", uploads(run)[0]) in run.used
    assert_sarif(workspace / "alttext.sarif", ["missing-alt", "placeholder-alt"])
    # The check ran once: the annotations and the SARIF file come from the same run.
    assert alttext_runs(shell_env) == ["check . --fail-on error --format github --report sarif:alttext.sarif"]
    # The annotations are the CLI's own `--format github` lines.
    cli = subprocess.run(
        [str(BIN / "alttext"), "check", ".", "--format", "github", "--quiet"],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    assert annotations(run.log) == cli.stdout.splitlines()
    assert annotations(run.log)[0].startswith(
        "::error file=docs/guide.md,line=3,col=1,title=alttext missing-alt::image has no alt text"
    )
    assert annotations(run.log)[1].startswith(
        "::warning file=docs/index.md,line=3,col=1,title=alttext placeholder-alt::"
    )


def test_documented_workflow(workspace: Path, shell_env: dict[str, str]) -> None:
    workflow = snippet("github-workflow")
    assert workflow["permissions"]["security-events"] == "write"
    steps = workflow["jobs"]["alttext"]["steps"]
    (step,) = [
        s for s in steps if str(s.get("uses", "")).split("@")[0].endswith("/alttext-tools/integrations/github-action")
    ]
    run = run_action(workspace, shell_env, step.get("with", {}), action_ref=step["uses"].split("@")[1])
    assert run.exit_code == 1, run.log
    assert len(annotations(run.log)) == 2 and len(uploads(run)) == 1
    assert_sarif(workspace / "alttext.sarif", ["missing-alt", "placeholder-alt"])


@pytest.mark.parametrize(
    ("inputs", "exit_code", "sarif_rules"),
    [
        ({"fail-on": "never"}, 0, ["missing-alt", "placeholder-alt"]),
        ({"fail-on": "warning", "config": "ci/alttext.toml"}, 1, ["placeholder-alt"]),  # config disables missing-alt
        ({"fail-on": "error", "config": "ci/alttext.toml"}, 0, ["placeholder-alt"]),
        ({"paths": "docs/guide.md\n  docs/index.md"}, 1, ["missing-alt", "placeholder-alt"]),
        ({"paths": "docs/index.md"}, 0, ["placeholder-alt"]),
    ],
    ids=["never", "config-warning", "config-error", "newline-paths", "one-path"],
)
def test_action_inputs(
    workspace: Path, shell_env: dict[str, str], inputs: dict[str, str], exit_code: int, sarif_rules: list[str]
) -> None:
    (workspace / "ci").mkdir()
    (workspace / "ci" / "alttext.toml").write_text('disable = ["missing-alt"]\n', encoding="utf-8")
    run = run_action(workspace, shell_env, inputs)
    assert run.exit_code == exit_code, run.log
    assert run.outputs["exit-code"] == str(exit_code)
    assert_sarif(workspace / "alttext.sarif", sarif_rules)
    assert len(annotations(run.log)) == len(sarif_rules)


def test_action_version_and_no_upload(workspace: Path, shell_env: dict[str, str]) -> None:
    run = run_action(workspace, shell_env, {"version": "alttext-tools==0.1.0", "upload-sarif": False})
    assert run.exit_code == 1, run.log
    assert pip_installs(shell_env) == ["--disable-pip-version-check alttext-tools==0.1.0"]
    assert uploads(run) == []


def test_action_usage_error_keeps_the_cli_exit_code(workspace: Path, shell_env: dict[str, str]) -> None:
    run = run_action(workspace, shell_env, {"paths": "no-such-folder"})
    assert run.exit_code == 2, run.log
    assert run.outputs == {"exit-code": "2", "sarif-file": ""}
    assert uploads(run) == []  # nothing to upload
    assert "no such file or directory: no-such-folder" in run.log


# ------------------------------------------------------------------------------- GitLab CI


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """GitLab's merge of a job defined again after `include:` (hashes merge, other values replace)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        merged[key] = (
            _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


@dataclass
class JobRun:
    exit_code: int
    log: str
    job: dict[str, Any]


def run_gitlab_job(
    workspace: Path, env: dict[str, str], pipeline: dict[str, Any] | None = None, **variables: str
) -> JobRun:
    """Run the template's job (or the pipeline's, after resolving its include of the template)."""
    template = yaml.safe_load(GITLAB_TEMPLATE.read_text(encoding="utf-8"))
    jobs = template
    if pipeline is not None:
        (include,) = pipeline["include"]
        assert include["remote"].endswith("/integrations/gitlab/alttext.gitlab-ci.yml"), include
        jobs = _deep_merge(template, {k: v for k, v in pipeline.items() if k != "include"})
    job = jobs["alttext-check"]
    job_env = {**env, "CI_PROJECT_DIR": str(workspace), "CI": "true", "GITLAB_CI": "true"}
    for name, value in {**job.get("variables", {}), **variables}.items():
        job_env[name] = re.sub(r"\$\{?(\w+)\}?", lambda m: job_env.get(m.group(1), ""), str(value))
    script = "\n".join([*job.get("before_script", []), *job["script"]])
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=workspace,
        env=job_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return JobRun(proc.returncode, proc.stdout + proc.stderr, job)


def code_quality(workspace: Path) -> list[dict[str, Any]]:
    issues = json.loads((workspace / "gl-code-quality-report.json").read_text(encoding="utf-8"))
    assert isinstance(issues, list)
    for issue in issues:  # what GitLab requires of each Code Quality entry
        assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert isinstance(issue["location"]["path"], str) and issue["location"]["lines"]["begin"] >= 1
    assert len({issue["fingerprint"] for issue in issues}) == len(issues)
    return issues


def summary(issues: list[dict[str, Any]]) -> list[tuple[str, int, str, str]]:
    return [(i["location"]["path"], i["location"]["lines"]["begin"], i["check_name"], i["severity"]) for i in issues]


def test_gitlab_template_defaults(workspace: Path, shell_env: dict[str, str]) -> None:
    # pip's cache lives in the project (GitLab caches only project paths): never checked.
    (workspace / ".cache" / "pip").mkdir(parents=True)
    (workspace / ".cache" / "pip" / "stray.md").write_text(GUIDE, encoding="utf-8")
    run = run_gitlab_job(workspace, shell_env)
    assert run.exit_code == 1, run.log
    assert pip_installs(shell_env) == ["--disable-pip-version-check alttext-tools"]
    assert summary(code_quality(workspace)) == [
        ("docs/guide.md", 3, "alttext/missing-alt", "major"),
        ("docs/index.md", 3, "alttext/placeholder-alt", "minor"),
    ]
    # The job log has the CLI's own text report; the artifacts named by the job exist.
    assert 'docs/guide.md:3:1: missing-alt image has no alt text (add alt="..." or alt="" if decorative)' in run.log
    assert "Found 2 problems (1 error, 1 warning) in 2 files" in run.log
    assert run.job["artifacts"]["reports"]["codequality"] == "gl-code-quality-report.json"
    for path in run.job["artifacts"]["paths"]:
        assert (workspace / path).is_file()
    assert run.job["artifacts"]["when"] == "always"
    # One run of the check gives the log, both reports and the exit code; no inline script.
    assert [args.split(" --exclude")[0] for args in alttext_runs(shell_env)] == ["check ."]
    assert "python - <<" not in GITLAB_TEMPLATE.read_text(encoding="utf-8")


def test_gitlab_fingerprints_survive_moved_images(workspace: Path, shell_env: dict[str, str]) -> None:
    run_gitlab_job(workspace, shell_env)
    before = {i["check_name"]: i["fingerprint"] for i in code_quality(workspace)}
    (workspace / "docs" / "guide.md").write_text("Intro.\n\n" + GUIDE, encoding="utf-8")
    run_gitlab_job(workspace, shell_env)
    after = code_quality(workspace)
    assert after[0]["location"]["lines"]["begin"] == 5
    assert {i["check_name"]: i["fingerprint"] for i in after} == before


@pytest.mark.parametrize(("fail_on", "exit_code"), [("never", 0), ("warning", 1)])
def test_gitlab_fail_level(workspace: Path, shell_env: dict[str, str], fail_on: str, exit_code: int) -> None:
    (workspace / "docs" / "guide.md").unlink()
    run = run_gitlab_job(workspace, shell_env, ALTTEXT_FAIL_ON=fail_on)
    assert run.exit_code == exit_code, run.log
    assert summary(code_quality(workspace)) == [("docs/index.md", 3, "alttext/placeholder-alt", "minor")]


def test_gitlab_unreadable_file(workspace: Path, shell_env: dict[str, str]) -> None:
    (workspace / "docs" / "broken.md").write_bytes(b"\x00\x01binary")
    run = run_gitlab_job(workspace, shell_env, ALTTEXT_ARGS="--disable missing-alt --disable placeholder-alt")
    assert run.exit_code == 3, run.log
    assert summary(code_quality(workspace)) == [("docs/broken.md", 1, "alttext/file-error", "critical")]


def test_documented_gitlab_include(workspace: Path, shell_env: dict[str, str]) -> None:
    (workspace / "README.md").write_text(GUIDE, encoding="utf-8")  # outside ALTTEXT_PATHS: not checked
    pipeline = snippet("gitlab-ci")
    run = run_gitlab_job(workspace, shell_env, pipeline)
    assert run.exit_code == 1, run.log
    assert pip_installs(shell_env) == ["--disable-pip-version-check alttext-tools==0.1.0"]
    assert [path for path, *_ in summary(code_quality(workspace))] == ["docs/guide.md", "docs/index.md"]
    assert run.job["stage"] == "test" and run.job["variables"]["PIP_CACHE_DIR"]  # template values kept


# ------------------------------------------------------------------------------- README


def test_readme_snippets_are_the_tested_ones() -> None:
    """Every integration appears in the README with a snippet identical to the tested one."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = dict(re.findall(r"<!-- snippet: ([\w-]+) -->\s*```yaml\n(.*?)```", readme, re.S))
    missing = {"pre-commit-config", "mkdocs-check", "github-workflow", "gitlab-ci"} - set(found)
    assert not missing, (
        f"README.md lacks the integration snippets {sorted(missing)} (copy them from docs/integrations.md)"
    )
    for name, text in found.items():
        assert yaml.safe_load(text) == snippet(name), f"README.md snippet {name!r} differs from docs/integrations.md"
