"""The package's layers: every import, function-level ones included, points down, and no module
imports itself back through others.

Layers, lowest first (a module may import its own layer's folder and anything below):

    core < storage < corpus, embedding, training, registry < trackers < activation < results
         < workspace < the package root (workbench/__init__.py: ``from workbench import Workspace``)
         < widgets, demo < pretrained, serve < cli

Folders that share a layer must not import each other. The applications on top are not one
layer: the pre-trained build runs the demo generator, and the command line starts the demo job
and the servers, so they come in that order. Imports under ``if TYPE_CHECKING:`` never run and
are left out.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"

# Each entry is one layer; a tuple holds folders of one layer, which must not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("core",),
    ("storage",),
    ("corpus", "embedding", "training", "registry"),
    ("trackers",),
    ("activation",),
    ("results",),
    ("workspace",),
    ("__init__",),
    ("widgets", "demo"),
    ("pretrained", "serve"),
    ("cli",),
]
RANK = {folder: i for i, layer in enumerate(LAYERS) for folder in layer}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its body."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def resolve(name: str) -> None:
        # "from workbench.a import b" names module a.b or an attribute of a: take the longest module.
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name.startswith("workbench"):
            found.add(name)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                resolve(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                resolve(f"{base}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    found.discard(module)
    return found


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = _modules()
    return {m: _imported(m, p, known) for m, p in known.items()}


def test_every_folder_has_a_layer(graph):
    assert {_folder(m) for m in graph} <= set(RANK), "add the new folder to LAYERS"


def test_no_module_imports_a_higher_layer_or_a_sibling_folder(graph):
    wrong = []
    for module, imports in sorted(graph.items()):
        mine = _folder(module)
        for other in sorted(imports):
            theirs = _folder(other)
            if theirs != mine and RANK[theirs] >= RANK[mine]:
                wrong.append(f"{module} -> {other}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycle(graph):
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
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
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_walk_sees_function_level_imports_and_skips_type_checking(tmp_path):
    """The check itself: an import inside a function counts, one under TYPE_CHECKING does not."""
    path = tmp_path / "m.py"
    path.write_text("from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    from workbench.cli import app\n"
                    "def f():\n    from workbench.workspace import Workspace\n")
    known = {"workbench.workspace": path, "workbench.cli.app": path, "workbench.core.m": path}
    assert _imported("workbench.core.m", path, known) == {"workbench.workspace"}
