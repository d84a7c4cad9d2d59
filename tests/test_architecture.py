"""The import graph: no module cycles (lazy imports included), and dependencies that point one way.

Every module of the installed namespace is parsed (not imported), so an import inside a
function counts as much as one at the top. The core (atlas.*) may not import the scaffolds
(atlas.agents) or grading (atlas.harness); only the composition root (atlas.cli, atlas.app)
wires them together. Scaffolds and grading may import the core, never each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# the folders of the one installable namespace (pyproject's package-dir mapping)
FOLDERS = {"atlas": ROOT / "atlas", "atlas.agents": ROOT / "agents", "atlas.harness": ROOT / "harness"}
COMPOSITION_ROOT = {"atlas.cli", "atlas.app"}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            if "sample_tasks" in path.parts or "templates" in path.parts:
                continue
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The namespace's modules that `name` imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in known and t != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return result


def layer(module: str) -> str:
    if module in COMPOSITION_ROOT:
        return "root"
    for name in ("atlas.agents", "atlas.harness"):
        if module == name or module.startswith(name + "."):
            return name
    return "core"


def test_the_walk_sees_lazy_imports_and_every_folder():
    edges = graph()
    assert {"atlas.runner", "atlas.agents.bash.agent", "atlas.harness.report"} <= set(edges)
    # atlas.app imports the harness inside a function: the walk must see it
    assert any(layer(t) == "atlas.harness" for t in edges["atlas.app"])


def test_cycle_detection_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, "import cycles (lazy imports count): " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("source,forbidden", [
    ("core", {"atlas.agents", "atlas.harness", "root"}),
    ("atlas.agents", {"atlas.harness", "root"}),
    ("atlas.harness", {"atlas.agents", "root"}),
])
def test_dependencies_point_one_way(source, forbidden):
    bad = sorted(f"{m} -> {t}" for m, targets in graph().items() if layer(m) == source
                 for t in targets if layer(t) in forbidden)
    assert not bad, f"{source} may not import {sorted(forbidden)}: " + ", ".join(bad)
