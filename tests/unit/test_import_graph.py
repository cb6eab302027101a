"""The import graph holds the lines the architecture draws.

* A service imports another service only through its ``client`` module (the
  only module another service may import) or through an entry of
  ``tests/import_allowlist.txt``, each with the reason it is allowed.
* Shared packages (``common``, ``rings``, ``diskimage``) import no service. The
  ``strata`` command's subcommands (``common.commands``) sit above the services
  they drive, so they follow the services' rule: clients only.
* No package has an import circle among its own modules, lazy (function-level)
  imports included: a circle that only works because one side imports late is
  still a circle. Imports under ``if TYPE_CHECKING:`` only name a type for the
  checker (how a module split out of a class names that class) and run never,
  so they count for the service lines but not for circles.

The graph is read from the source with ``ast``, nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWLIST = ROOT / "tests" / "import_allowlist.txt"

SERVICES = frozenset({
    "identity", "objectstore", "proxy", "imagestore", "blockstore", "compute", "network",
    "ec2", "dashboard",
})
SHARED = frozenset({"common", "rings", "diskimage"})
PACKAGES = SERVICES | SHARED


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of every package."""
    out: dict[str, Path] = {}
    for pkg in sorted(PACKAGES):
        base = ROOT / pkg
        if not base.is_dir():
            continue
        for path in base.rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The longest known module that ``name`` is or lies in."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """The import statements inside ``if TYPE_CHECKING:`` blocks."""
    out: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                out.update(n for n in ast.walk(inner)
                           if isinstance(n, ast.Import | ast.ImportFrom))
    return out


def _imports(module: str, path: Path) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, runs) for every import in ``path``, lazy ones included;
    ``runs`` is False for imports made only for the type checker."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = _type_checking_only(tree)
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        runs = node not in typing_only
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name)
                if target:
                    yield target, node.lineno, runs
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_pkg:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            for alias in node.names:
                target = _resolve(f"{name}.{alias.name}") or _resolve(name)
                if target:
                    yield target, node.lineno, runs


GRAPH: dict[str, set[str]] = {}  # every import
RUNTIME: dict[str, set[str]] = {}  # the imports that run
LINES: dict[tuple[str, str], int] = {}
for _mod, _path in MODULES.items():
    GRAPH[_mod] = set()
    RUNTIME[_mod] = set()
    for _target, _line, _runs in _imports(_mod, _path):
        if _target != _mod:
            GRAPH[_mod].add(_target)
            if _runs:
                RUNTIME[_mod].add(_target)
            LINES.setdefault((_mod, _target), _line)


def _allowlist() -> set[tuple[str, str]]:
    """(importing package, imported module) pairs allowed beyond the rules."""
    allowed = set()
    for raw in ALLOWLIST.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            left, _, right = line.partition("->")
            allowed.add((left.strip(), right.strip()))
    return allowed


CLI = "common.commands"


def _package(module: str) -> str:
    return module.split(".", 1)[0]


def _layer(module: str) -> str:
    """The package, or ``cli`` for the strata command's subcommands."""
    return "cli" if module == CLI or module.startswith(CLI + ".") else _package(module)


def test_services_meet_only_through_clients() -> None:
    allowed = _allowlist()
    used: set[tuple[str, str]] = set()
    crossings = []
    for mod, targets in sorted(GRAPH.items()):
        pkg = _layer(mod)
        above = pkg in SERVICES or pkg == "cli"
        for target in sorted(targets):
            tpkg = _package(target)
            if tpkg == pkg:
                continue
            if pkg in SHARED and tpkg in SHARED:
                continue
            if above and tpkg in SHARED:
                continue
            if above and target == f"{tpkg}.client":
                continue
            if (pkg, target) in allowed:
                used.add((pkg, target))
                continue
            crossings.append(f"{MODULES[mod].relative_to(ROOT)}:{LINES[(mod, target)]}: "
                             f"{mod} imports {target}")
    assert not crossings, (
        "imports that cross a service's line (use the service's client module, or add "
        "a reasoned entry to tests/import_allowlist.txt):\n" + "\n".join(crossings))
    stale = sorted(allowed - used)
    assert not stale, f"allow-list entries no import needs any more: {stale}"


def _cycles(nodes: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(RUNTIME.get(v, set()) & nodes):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def _is_parent_import(mod: str, target: str) -> bool:
    """A package's ``__init__`` naming its own submodules is not a circle of logic."""
    return target.startswith(mod + ".") or mod.startswith(target + ".")


def test_no_import_circle_inside_a_package() -> None:
    found = []
    for pkg in sorted(PACKAGES):
        nodes = {m for m in GRAPH if _package(m) == pkg}
        saved = {m: set(RUNTIME[m]) for m in nodes}
        for m in nodes:  # drop package <-> own submodule edges before looking
            RUNTIME[m] = {t for t in RUNTIME[m] if not _is_parent_import(m, t)}
        try:
            found.extend(_cycles(nodes))
        finally:
            RUNTIME.update(saved)
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_graph_is_read() -> None:
    """The reader sees real imports (a broken parser would pass the checks above)."""
    assert "common.http" in GRAPH["identity.api.base"]
    assert any(t.startswith("identity") for t in GRAPH["proxy.auth"])
