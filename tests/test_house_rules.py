"""The house's shape, checked: xpnn's modules import one another without a cycle (imports
placed inside functions and under ``TYPE_CHECKING`` included), and no class outside
``xpnn/book/`` is longer than 250 lines, no function longer than 60 (docstrings included).

These read the source (``ast``), not the running modules, so a lazy import is counted like
any other. docs/development.md has the map these rules keep true.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xpnn"
MAX_CLASS_LINES = 250
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The xpnn modules ``name`` imports, anywhere in its source. ``from pkg import mod``
    counts as importing ``pkg.mod`` when that is a module, else ``pkg``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(name, path.name == "__init__.py", node)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    # a package's __init__ is imported before any of its submodules: that is Python's
    # doing, not an import the submodule makes, so it is not an edge here
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def test_xpnn_imports_itself_without_a_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("xpnn.ops", "xpnn.backends"),
        ("xpnn.backends", "xpnn.layers"),
        ("xpnn.layers", "xpnn.network"),
        ("xpnn.network", "xpnn.training"),
    ],
)
def test_imports_point_down_the_layers_of_the_house(lower, upper):
    """A module of a lower floor never imports one of a higher floor."""
    graph = import_graph()
    wrong = sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        if a == lower or a.startswith(lower + ".")
        for b in targets
        if b == upper or b.startswith(upper + ".")
    )
    assert wrong == []


def long_definitions() -> list[str]:
    found = []
    for name, path in modules().items():
        if name.startswith("xpnn.book"):
            continue  # the book's quirks, served as the book wrote them
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                limit = MAX_CLASS_LINES
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                limit = MAX_FUNCTION_LINES
            else:
                continue
            assert node.end_lineno is not None
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                found.append(f"{name}.{node.name}: {lines} lines (limit {limit})")
    return found


def test_no_class_or_function_outside_the_book_is_too_long():
    assert long_definitions() == []
