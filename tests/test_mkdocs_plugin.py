"""The MkDocs plugin, through real `mkdocs build` runs (and `--strict`) on fixtures/mkdocs-site.

The plugin configurations come from the snippets in docs/integrations.md, so the documentation
shows what was built here. Each build is a subprocess (~0.5 s).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, snippet

SITE = REPO / "fixtures" / "mkdocs-site"
ALTTEXT = [sys.executable, "-m", "alttext_tools"]

needs_mkdocs = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed (it is in the test extras: pip install -e '.[test]')",
)
needs_material = pytest.mark.skipif(
    importlib.util.find_spec("material") is None,
    reason="mkdocs-material is not installed (it is in the test extras: pip install -e '.[test]')",
)

# The findings the fixture's guide.md holds, as `alttext check` prints them (lines count the front matter).
GUIDE_ERRORS = ["docs/guide.md:9:1: missing-alt", "docs/guide.md:11:1: empty-alt"]
GUIDE_WARNINGS = ["docs/guide.md:13:1: placeholder-alt"]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    return root


def configure(site: Path, plugins: list[Any], **extra: Any) -> None:
    """Write the site's mkdocs.yml: the fixture's own settings with these plugins (and `extra`)."""
    config = yaml.safe_load((SITE / "mkdocs.yml").read_text(encoding="utf-8"))
    config["plugins"] = plugins
    config.update(extra)
    (site / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def with_options(plugins: list[Any], **options: Any) -> list[Any]:
    """The plugin list with the alttext entry's options updated."""
    result = []
    for entry in plugins:
        if entry == "alttext" or (isinstance(entry, dict) and "alttext" in entry):
            current = dict(entry["alttext"] or {}) if isinstance(entry, dict) else {}
            entry = {"alttext": {**current, **options}}
        result.append(entry)
    return result


def build(site: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    out = site.parent / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-f", "mkdocs.yml", "-d", str(out), *args],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


def plugin_lines(log: str, level: str) -> list[str]:
    """The plugin's messages at `level` (WARNING or INFO), without MkDocs's prefix."""
    return re.findall(rf"^{level}\s+-\s+alttext: (.*)$", log, re.M)


def findings(lines: list[str]) -> list[str]:
    """`path:line:col: rule` of each finding line."""
    return [m.group(1) for line in lines if (m := re.match(r"(\S+:\d+:\d+: [a-z-]+) ", line))]


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------------------- check


@needs_mkdocs
def test_check_logs_each_finding_at_its_source_line(site: Path, plugin_env: dict[str, str]) -> None:
    configure(site, snippet("mkdocs-check")["plugins"])
    code, log = build(site, plugin_env)
    assert code == 0, log
    warnings, infos = plugin_lines(log, "WARNING"), plugin_lines(log, "INFO")
    assert findings(warnings) == GUIDE_ERRORS
    assert findings(infos) == GUIDE_WARNINGS
    # The very lines `alttext check` prints: same rules, positions and messages.
    cli = subprocess.run(
        [*ALTTEXT, "check", "docs", "--fail-on", "never", "--quiet"], cwd=site, capture_output=True, text=True
    )
    assert cli.returncode == 0, cli.stderr
    logged = [line for line in [*warnings, *infos] if re.match(r"\S+:\d+:\d+: ", line)]
    assert sorted(logged) == sorted(cli.stdout.splitlines())
    assert "3 problems (2 errors, 1 warning) in 1 page; 7 images checked in 2 pages." in infos
    # The site is built as usual, image and all.
    assert '<img src="img/fox.png" width="320">' in (site.parent / "out" / "guide.html").read_text(encoding="utf-8")


@needs_mkdocs
def test_strict_build_fails_on_findings(site: Path, plugin_env: dict[str, str]) -> None:
    configure(site, snippet("mkdocs-check")["plugins"])
    code, log = build(site, plugin_env, "--strict")
    assert code == 1, log
    assert "Aborted with 2 warnings in strict mode!" in log
    assert findings(plugin_lines(log, "WARNING")) == GUIDE_ERRORS


@needs_mkdocs
@pytest.mark.parametrize(
    ("fail_on", "strict_code", "warned"),
    [("never", 0, []), ("warning", 1, sorted(GUIDE_ERRORS + GUIDE_WARNINGS)), ("error", 1, sorted(GUIDE_ERRORS))],
)
def test_fail_on_decides_what_is_a_warning(
    site: Path, plugin_env: dict[str, str], fail_on: str, strict_code: int, warned: list[str]
) -> None:
    configure(site, with_options(snippet("mkdocs-check")["plugins"], fail_on=fail_on))
    code, log = build(site, plugin_env, "--strict")
    assert code == strict_code, log
    assert sorted(findings(plugin_lines(log, "WARNING"))) == warned
    logged = findings(plugin_lines(log, "WARNING")) + findings(plugin_lines(log, "INFO"))
    assert sorted(logged) == sorted(GUIDE_ERRORS + GUIDE_WARNINGS)


@needs_mkdocs
def test_project_config_and_ignore_markers_apply(site: Path, plugin_env: dict[str, str]) -> None:
    (site / ".alttext.toml").write_text(
        'disable = ["empty-alt"]\n\n[severity]\nplaceholder-alt = "error"\n', encoding="utf-8"
    )
    configure(site, snippet("mkdocs-check")["plugins"])
    code, log = build(site, plugin_env)
    assert code == 0, log
    # empty-alt disabled, placeholder-alt raised to an error; the ignored image (line 19) and the
    # decorative one (line 15) are never reported.
    assert findings(plugin_lines(log, "WARNING")) == [
        "docs/guide.md:9:1: missing-alt",
        "docs/guide.md:13:1: placeholder-alt",
    ]


@needs_mkdocs
@pytest.mark.parametrize("options", [{"exclude": ["guide.md"]}, {"enabled": False}], ids=["exclude", "disabled"])
def test_excluded_or_disabled_pages_are_not_checked(
    site: Path, plugin_env: dict[str, str], options: dict[str, Any]
) -> None:
    configure(site, with_options(snippet("mkdocs-check")["plugins"], **options))
    code, log = build(site, plugin_env, "--strict")
    assert code == 0, log
    assert not findings(plugin_lines(log, "WARNING") + plugin_lines(log, "INFO"))


@needs_mkdocs
def test_invalid_exclude_pattern_is_skipped_with_a_warning(site: Path, plugin_env: dict[str, str]) -> None:
    configure(site, with_options(snippet("mkdocs-check")["plugins"], exclude=["!", "guide.md"]))
    code, log = build(site, plugin_env)
    assert code == 0, log
    assert "Traceback" not in log
    assert "alttext: invalid exclude pattern '!' skipped" in plugin_lines(log, "WARNING")
    assert not [line for line in findings(plugin_lines(log, "WARNING")) if "guide.md" in line]


@needs_mkdocs
def test_line_numbers_survive_crlf_sources(site: Path, plugin_env: dict[str, str]) -> None:
    guide = site / "docs" / "guide.md"
    guide.write_bytes(guide.read_bytes().replace(b"\n", b"\r\n"))
    configure(site, snippet("mkdocs-check")["plugins"])
    code, log = build(site, plugin_env)
    assert code == 0, log
    assert findings(plugin_lines(log, "WARNING")) == GUIDE_ERRORS


@needs_mkdocs
@needs_material
def test_material_theme(site: Path, plugin_env: dict[str, str]) -> None:
    configure(site, snippet("mkdocs-check")["plugins"], theme={"name": "material"})
    code, log = build(site, plugin_env, "--strict")
    assert code == 1, log
    assert findings(plugin_lines(log, "WARNING")) == GUIDE_ERRORS
    code, log = build(site, plugin_env)
    assert code == 0, log
    page = (site.parent / "out" / "guide.html").read_text(encoding="utf-8")
    assert "md-content" in page and 'src="img/fox.png"' in page  # a Material page, images in place


# ---------------------------------------------------------------------------------------- fill


def write_decisions(site: Path, answers: dict[str, str], name: str = "alttext-decisions.json") -> list[dict[str, Any]]:
    """`alttext check --format json` from the site folder, with `new_alt` filled in by rule."""
    proc = subprocess.run(
        [*ALTTEXT, "check", "docs", "--format", "json", "--quiet"], cwd=site, capture_output=True, text=True
    )
    entries = json.loads(proc.stdout)
    for entry in entries:
        if entry["rule"] in answers:
            entry["new_alt"] = answers[entry["rule"]]
    (site / name).write_text(json.dumps(entries, indent=2), encoding="utf-8")
    return entries


@needs_mkdocs
def test_fill_puts_alt_in_the_built_html_and_leaves_sources_alone(site: Path, plugin_env: dict[str, str]) -> None:
    plugins = snippet("mkdocs-fill")["plugins"]
    assert plugins[0]["alttext"]["decisions"] == "alttext-decisions.json"
    write_decisions(site, {"missing-alt": "A red fox crossing the lawn", "empty-alt": 'Fox tracks in fresh "snow"'})
    before = tree_digest(site / "docs")
    configure(site, plugins)
    code, log = build(site, plugin_env, "--strict")
    assert code == 0, log
    assert tree_digest(site / "docs") == before
    page = (site.parent / "out" / "guide.html").read_text(encoding="utf-8")
    assert '<img src="img/fox.png" width="320" alt="A red fox crossing the lawn">' in page
    assert '<img alt="Fox tracks in fresh &quot;snow&quot;" src="img/fox.png" />' in page
    assert '<img alt="A fox asleep under a hedge" src="img/fox.png" />' in page  # untouched
    assert "filled alt text for 2 images in 1 page from alttext-decisions.json (sources unchanged)" in plugin_lines(
        log, "INFO"
    )
    # Only what is left is reported: the placeholder, below the fail level.
    assert findings(plugin_lines(log, "WARNING")) == []
    assert findings(plugin_lines(log, "INFO")) == GUIDE_WARNINGS


@needs_mkdocs
def test_fill_reports_what_it_could_not_fill(site: Path, plugin_env: dict[str, str]) -> None:
    entries = write_decisions(site, {"missing-alt": "A red fox crossing the lawn"})
    stale = {**entries[0], "line": 40, "new_alt": "Nothing here any more"}
    (site / "alttext-decisions.json").write_text(json.dumps([*entries, stale]), encoding="utf-8")
    configure(site, snippet("mkdocs-fill")["plugins"])
    code, log = build(site, plugin_env, "--strict")
    assert code == 1, log
    warnings = plugin_lines(log, "WARNING")
    assert findings(warnings) == ["docs/guide.md:11:1: empty-alt"]  # no decision for it
    assert any("(docs/guide.md:40:1): no image at this position any more" in w for w in warnings), warnings


@needs_mkdocs
def test_fill_without_a_source_of_alt_text_is_a_clear_error(site: Path, plugin_env: dict[str, str]) -> None:
    (site / ".alttext.toml").write_text('cache = ""\n', encoding="utf-8")  # no decisions file, no cache
    configure(site, [{"alttext": {"mode": "fill"}}])
    code, log = build(site, plugin_env)
    assert code == 1
    assert "alttext: mode 'fill' needs `decisions: FILE` or the alt-text cache" in log


@needs_mkdocs
def test_invalid_option_is_reported_by_mkdocs(site: Path, plugin_env: dict[str, str]) -> None:
    configure(site, [{"alttext": {"fail_on": "sometimes"}}])
    code, log = build(site, plugin_env)
    assert code == 1
    assert "fail_on" in log and "sometimes" in log


# --------------------------------------------------------------------------------- in process


@needs_mkdocs
def test_provider_is_closed_on_shutdown_and_the_instance_kept_across_rebuilds() -> None:
    from alttext_tools.integrations.mkdocs import AltTextPlugin

    class Closing:
        closed = False

        def decide(self, images: Any) -> dict[Any, Any]:
            return {}

        def close(self) -> None:
            self.closed = True

    # MkDocs keeps a plugin instance across `mkdocs serve` rebuilds when it defines on_startup.
    assert "on_startup" in vars(AltTextPlugin) and "on_shutdown" in vars(AltTextPlugin)
    plugin = AltTextPlugin()
    models = Closing()
    plugin.provider = plugin._models = models  # what a `fill` build with `model: true` keeps
    plugin.on_shutdown()
    assert models.closed and plugin._models is None and plugin.provider is None


def test_entry_point_is_declared() -> None:
    """mkdocs finds plugins by entry point; pyproject.toml must declare `alttext`."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    plugins = project.get("entry-points", {}).get("mkdocs.plugins", {})
    assert plugins.get("alttext") == "alttext_tools.integrations.mkdocs:AltTextPlugin", (
        'pyproject.toml needs [project.entry-points."mkdocs.plugins"] '
        'alttext = "alttext_tools.integrations.mkdocs:AltTextPlugin"'
    )
