"""The helpers' structure: no import circle between modules (imports inside functions count too), and every
processed table or fingerprint a module names is declared in the catalogue."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import catalog
from helpers.paths import Folders

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "helpers"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The helpers modules `path` imports, wherever the import statement is (module level or in a function)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "helpers"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = ".".join(base[: len(base) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            elif (node.module or "").split(".")[0] == "helpers":
                target = node.module
            else:
                continue
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}   # `from . import pipeline` names a module
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle():
    circle = _circle(import_graph())
    assert circle is None, " → ".join(circle)


def test_the_circle_check_finds_a_circle():
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b"}, "b": set()}) is None


def test_imports_inside_functions_count():
    graph = import_graph()
    assert "helpers.demo" in graph["helpers.cli"]          # `from .demo import write_demo` inside a function


def _catalog_names() -> list[tuple[str, str, str]]:
    """(module, method, name) for every catalog call whose dataset name is written as a string in the helpers."""
    methods = {"read", "write", "exists", "path", "read_json", "write_json"}
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if owner_name in {"cat", "catalog"} and node.func.attr in methods | {"load_year"}:
                args = node.args[:1] if node.func.attr == "load_year" else node.args[1:2]
                for arg in args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.append((path.name, node.func.attr, arg.value))
    return found


def test_every_dataset_name_in_the_code_is_catalogued():
    names = _catalog_names()
    assert len(names) > 30   # the scan does find the stages' calls
    for module, method, name in names:
        declared = catalog.FINGERPRINTS if method.endswith("_json") else catalog.TABLES
        assert name in declared, (module, method, name)


def test_an_undeclared_dataset_is_refused(tmp_path: Path):
    cat = catalog.Catalog(Folders(tmp_path / "raw", tmp_path / "processed", tmp_path / "reports"))
    assert cat.path("2022-06-25", "task_status").name == "task_status.parquet"
    with pytest.raises(KeyError, match="tasks_status"):
        cat.path("2022-06-25", "tasks_status")
    with pytest.raises(KeyError, match="templatez"):
        cat.read_json("2022-06-25", "templatez")
