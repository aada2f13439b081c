"""The house rules: no import cycle inside pvshare, every package installed, the daemon lean.

The import graph is read from the source (``ast``), counting every ``import`` and
``from ... import`` that names a ``pvshare`` module, at module level or inside functions: a
cycle through a function-level import still ties two modules together.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "pvshare"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")
            if "data" not in p.relative_to(PKG).parts[:1] or p.parent.name == "data"}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The pvshare module an imported name lives in (``pvshare.a.b.func`` -> ``pvshare.a.b``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            for t in targets:
                if t.split(".")[0] != "pvshare":
                    continue
                dep = _resolve(t, modules)
                # a package's __init__ is imported by its submodules: not an edge to itself
                if dep and dep != mod and not mod.startswith(dep + "."):
                    graph[mod].add(dep)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_pvshare():
    graph = import_graph()
    assert len(graph) > 50 and graph["pvshare.live.daemon"]   # the graph was really read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_package_is_installed():
    """pyproject lists the packages by hand (the simulators install under another name)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    on_disk = {_module_name(p.parent / "__init__.py") for p in PKG.rglob("__init__.py")}
    assert on_disk - listed == set(), "add these packages to pyproject.toml"
    assert "pvshare_simulators" in listed and "simulators" not in listed


def test_no_top_level_package_outside_the_project():
    import pvshare_simulators
    assert Path(pvshare_simulators.__file__).parent == ROOT / "simulators"


@pytest.mark.parametrize("module", ["pvshare.live.daemon", "pvshare.cli"])
def test_daemon_does_not_load_the_heavy_parts(module):
    """The daemon (and the CLI's start) never import pandas, pvlib, matplotlib or weasyprint."""
    code = (f"import sys, {module}; heavy = [m for m in ('pandas', 'pvlib', 'matplotlib', "
            "'weasyprint', 'scipy', 'pyarrow') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
