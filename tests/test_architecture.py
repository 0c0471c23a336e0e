"""The helpers' architecture (docs/architecture.md), checked on the source: one direction of imports between the
stage subpackages (imports inside functions and under TYPE_CHECKING count too), no import circle, only `ingest`
reads raw files, only `pipeline` (and `cli` above it) writes, and every processed table named in the code is
declared in the catalogue."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from helpers.pipeline import catalog
from helpers.pipeline.paths import Folders

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "helpers"
# the stages in data-flow order: a module imports only from its own stage and those before it; `cli` (and the
# notebooks) may import anything
STAGES = ("core", "plan", "ingest", "reconcile", "indicators", "present", "pipeline", "cli")
RAW_READERS = {"python_calamine", "xlrd", "olefile", "zipfile", "csv", "charset_normalizer", "chardet"}
WRITE_CALLS = {"write_text", "write_bytes", "to_parquet", "to_excel", "to_csv", "save", "mkdir", "unlink",
               "rmtree", "touch", "save_workbook", "save_text", "write_json", "write_findings"}
OS_WRITE_CALLS = {"replace", "rename", "remove", "makedirs", "rmdir"}   # as os.<name>


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def helpers_imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """The helpers modules (or packages) `path` imports, wherever the statement is: module level, in a
    function, under TYPE_CHECKING."""
    module = module_name(path, package)
    modules = {module_name(p, package) for p in package.rglob("*.py")}
    current = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == package.name}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = current.split(".")[: len(current.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == package.name:
                target = node.module
            else:
                continue
            submodules = {f"{target}.{a.name}" for a in node.names} & modules
            found |= submodules
            if len(submodules) < len(node.names):    # names of the module or package itself
                found.add(target)
    return found


def stage_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "cli"              # the package's own __init__
    return parts[1] if parts[1] in STAGES else "cli"


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = {module_name(p, package): p for p in package.rglob("*.py")}
    return {name: {m for m in helpers_imports(path, package) if m in modules and m != name}
            for name, path in modules.items()}


def stage_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if STAGES.index(stage_of(target)) > STAGES.index(stage_of(module)) and target != "helpers":
                out.append(f"{module} imports {target}")
    return out


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + "."):
                continue     # a package importing its own submodules (the pipeline facade)
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


def test_stages_are_subpackages():
    assert sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()) == sorted(STAGES[:-1])
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "cli.py"]


def test_imports_go_one_way():
    assert stage_violations(import_graph()) == []


def test_no_import_circle():
    circle = find_circle(import_graph())
    assert circle is None, " → ".join(circle)


def test_the_checks_see_what_they_must(tmp_path: Path):
    """Imports inside functions and under TYPE_CHECKING count; a circle and a backward import are found."""
    package = tmp_path / "helpers"
    for folder in ("core", "present", "pipeline"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "core" / "values.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..present import report\n")
    (package / "present" / "report.py").write_text("def f():\n    from ..pipeline.run import x\n")
    (package / "pipeline" / "run.py").write_text("from ..core import values\nfrom ..present.report import f\n")
    graph = import_graph(package)
    assert graph["helpers.present.report"] == {"helpers.pipeline.run"}
    assert stage_violations(graph) == ["helpers.core.values imports helpers.present.report",
                                       "helpers.present.report imports helpers.pipeline.run"]
    assert find_circle(graph) is not None
    assert find_circle({"a": {"b"}, "b": set()}) is None


def _modules_outside(*stages: str):
    for path in sorted(PACKAGE.rglob("*.py")):
        if stage_of(module_name(path)) not in stages:
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_only_ingest_reads_raw_files():
    """The libraries that read workbooks and archives are imported in `ingest` only, and the raw folder is named
    only there and in `pipeline`, which hands its file paths to `ingest` (and in `cli`, which prints it)."""
    for path, tree in _modules_outside("ingest"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & RAW_READERS, (path, node.lineno)
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in RAW_READERS, (path, node.lineno)
    for path, tree in _modules_outside("ingest", "pipeline", "cli"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr not in {"raw", "cycle_raw"}, (path, node.lineno)


def test_only_pipeline_writes():
    """Outside `pipeline` (and `cli`), nothing writes a file: `present` builds pages, workbooks and charts in
    memory and `pipeline` saves them."""
    for path, tree in _modules_outside("pipeline", "cli"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute):
                    assert func.attr not in WRITE_CALLS, (str(path.relative_to(REPO)), node.lineno, func.attr)
                    if isinstance(func.value, ast.Name) and func.value.id in {"os", "shutil"}:
                        assert func.attr not in OS_WRITE_CALLS, (str(path.relative_to(REPO)), node.lineno, func.attr)
                if isinstance(func, ast.Name) and func.id == "open" and len(node.args) > 1:
                    mode = node.args[1]
                    assert isinstance(mode, ast.Constant) and set(str(mode.value)) <= {"r", "b", "t"}, (path, node.lineno)


def test_notebooks_import_only_pipeline_and_present():
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("helpers"):
                modules = [f"{node.module}.{a.name}" for a in node.names]
                assert all(m.split(".")[1] in ("pipeline", "present") for m in modules), (notebook.name, modules)


def test_no_module_is_too_long():
    """About 900 lines at most, so that a module is read as a whole."""
    long = {str(p.relative_to(REPO)): n for p in sorted((REPO / "src").rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 950}
    assert long == {}


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
