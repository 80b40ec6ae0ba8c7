"""The package's modules import each other without a cycle."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "bluetick"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import that can run, at top level or inside a function; not those under `if TYPE_CHECKING`."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and is_type_checking(node.test):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))
    return found


def imported_modules(importer: str, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The package's modules whose code `node` needs loaded. A package being loaded is not counted for
    its own submodules (Python loads it first), unless a name is taken from it."""
    ancestors = {importer.rsplit(".", i)[0] for i in range(1, importer.count(".") + 1)}
    if isinstance(node, ast.Import):
        return {m for alias in node.names for m in with_parents(alias.name) if m in known and m not in ancestors}
    package = importer if is_package(importer) else importer.rpartition(".")[0]
    base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
    assert base is not None
    needed = {m for m in with_parents(base) if m in known and m not in ancestors}
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        needed.add(submodule if submodule in known else base)
    return needed & known - {importer}


def is_package(module: str) -> bool:
    return (SRC / module.replace(".", "/") / "__init__.py").exists()


def with_parents(module: str) -> list[str]:
    """`a.b.c` and the packages Python loads before it: `a`, `a.b`."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def import_graph() -> dict[str, set[str]]:
    paths = sorted((SRC / PACKAGE).rglob("*.py"))
    known = {module_name(path) for path in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        importer = module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        graph[importer] = set().union(*(imported_modules(importer, n, known) for n in runtime_imports(tree)))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as the list of modules along it, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for target in sorted(graph[module]):
            cycle = visit(target, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_no_module_depends_on_itself_through_others():
    """Imports inside functions count too: deferring one side of a cycle hides it from Python at load
    time, but the two modules still depend on each other. Imports under `if TYPE_CHECKING` do not run."""
    graph = import_graph()
    assert "bluetick.app" in graph and "bluetick.store.postgres" in graph
    assert find_cycle(graph) is None


def test_the_cycle_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
