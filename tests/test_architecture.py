"""The shape of the package: no import cycles, no private names across modules, a light core."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "alttext_tools"
HEAVY = ("llama_cpp", "gguf")
PIXELS = ("numpy", "PIL")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))}


def imported(tree: ast.Module, modules: set[str]) -> list[tuple[str, list[str]]]:
    """(module, names) for every import of a package module, at any depth (lazy imports count)."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in modules:
                submodules = [a.name for a in node.names if f"{node.module}.{a.name}" in modules]
                for name in submodules:
                    found.append((f"{node.module}.{name}", []))
                names = [a.name for a in node.names if a.name not in submodules]
                if names:
                    found.append((node.module, names))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names if a.name in modules)
    return found


def import_graph() -> dict[str, set[str]]:
    trees = package_modules()
    modules = set(trees)
    graph: dict[str, set[str]] = {}
    for name, tree in trees.items():
        edges = {target for target, _ in imported(tree, modules) if target != name}
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        graph[name] = edges | {t.rsplit(".", k)[0] for t in edges for k in range(1, t.count("."))} - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle() -> None:
    assert find_cycle(import_graph()) is None


def test_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_private_name_imported_from_another_module() -> None:
    trees = package_modules()
    offences = [
        f"{name} imports {target}.{n}"
        for name, tree in trees.items()
        for target, names in imported(tree, set(trees))
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert offences == []


def test_cache_layer_does_not_import_generation() -> None:
    graph = import_graph()
    assert {
        (m, t)
        for m, targets in graph.items()
        if m.startswith("alttext_tools.cache")
        for t in targets
        if t.startswith(("alttext_tools.generate", "alttext_tools.engines"))
    } == set()


def loaded_after(code: str) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_every_module_imports_without_llama_cpp_or_gguf(tmp_path: Path) -> None:
    names = sorted(package_modules())
    # The Wagtail app's modules need a configured Django: the test site's settings (tests/wagtail_site).
    django = (
        f"import os, sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        f"os.environ['ALTTEXT_WAGTAIL_TEST_DIR'] = {str(tmp_path)!r}\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'wagtail_site.settings'\nimport django\ndjango.setup()\n"
    )
    code = django + "import importlib\n" + "".join(f"importlib.import_module({n!r})\n" for n in names)
    assert loaded_after(code).isdisjoint(HEAVY)


CHECK = (
    "from alttext_tools.cli.main import main\ntry:\n    main(['check', 'fixtures/site'])\nexcept SystemExit:\n    pass"
)
MKDOCS_CHECK = (
    "import tempfile\nfrom mkdocs.commands.build import build\nfrom mkdocs.config import load_config\n"
    "build(load_config('fixtures/mkdocs-site/mkdocs.yml', site_dir=tempfile.mkdtemp()))"
)


def loaded_in_repo(code: str) -> set[str]:
    return loaded_after(f"import os\nos.chdir({str(PACKAGE.parent)!r})\n{code}")


@pytest.mark.parametrize(
    "code",
    [CHECK, MKDOCS_CHECK, "from alttext_tools.engines.openai import OpenAIEngine"],
    ids=["check", "mkdocs-plugin-check", "openai-backend"],
)
def test_light_paths_do_not_load_heavy_modules(code: str) -> None:
    assert loaded_in_repo(code).isdisjoint(HEAVY)


@pytest.mark.parametrize("code", [CHECK, MKDOCS_CHECK], ids=["check", "mkdocs-plugin-check"])
def test_check_paths_load_no_pixels(code: str) -> None:
    assert loaded_in_repo(code).isdisjoint(PIXELS)


@pytest.mark.parametrize(
    "code", [CHECK, "from alttext_tools.engines.openai import OpenAIEngine"], ids=["check", "openai-import"]
)
def test_httpx_is_imported_only_when_a_server_is_used(code: str) -> None:
    assert "httpx" not in loaded_in_repo(code)
