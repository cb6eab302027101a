"""The S3 front's modules import one another in one direction: no circle, none hidden
in a function, and the shared helpers import no handler module."""

from __future__ import annotations

import ast
from pathlib import Path

import proxy.s3

PACKAGE = "proxy.s3"
ROOT = Path(proxy.s3.__file__).parent
MODULES = sorted(p.stem for p in ROOT.glob("*.py") if p.stem != "__init__")
# What the handler modules build on: none of these imports a handler module.
LEAVES = {"auth", "body", "checksums", "conditions", "errors", "operation", "request",
          "shared", "sigv2", "xmlutil"}


def _imports(module: str) -> dict[str, int]:
    """The package's modules ``module`` imports, each with the nesting depth of its
    shallowest import statement (0: at the top of the module)."""
    tree = ast.parse((ROOT / f"{module}.py").read_text())
    found: dict[str, int] = {}

    def note(name: str, depth: int) -> None:
        if name in MODULES:
            found[name] = min(depth, found.get(name, depth))

    def visit(node: ast.AST, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            inner = depth + isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                               ast.ClassDef))
            if isinstance(child, ast.ImportFrom) and child.module:
                if child.module == PACKAGE:
                    for alias in child.names:
                        note(alias.name, depth)
                elif child.module.startswith(PACKAGE + "."):
                    note(child.module.split(".")[2], depth)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith(PACKAGE + "."):
                        note(alias.name.split(".")[2], depth)
            visit(child, inner)

    visit(tree, 0)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _circle() -> list[str] | None:
    """One import circle among the modules, if there is any."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                return [*path[path.index(n):], n]
            if n not in state:
                found = walk(n)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return None

    for m in MODULES:
        if m not in state:
            found = walk(m)
            if found:
                return found
    return None


def test_the_graph_is_read() -> None:
    assert {"dispatch", "operation", "routing", "shared"} <= set(MODULES)
    assert "operation" in GRAPH["dispatch"] or "routing" in GRAPH["dispatch"]
    assert GRAPH["front"]["dispatch"] == 0


def test_no_import_circle() -> None:
    assert _circle() is None, " -> ".join(_circle() or [])


def test_no_import_hidden_in_a_function() -> None:
    lazy = {(m, n) for m, deps in GRAPH.items() for n, depth in deps.items() if depth}
    assert lazy == set()


def test_the_shared_modules_import_no_handler_module() -> None:
    for m in LEAVES:
        assert set(GRAPH[m]) <= LEAVES, (m, set(GRAPH[m]) - LEAVES)
