"""The committed notebooks are exactly what `tools/make_notebooks.py` writes (edit the tool, then `make notebooks`),
and they stay thin: no outputs, no process management."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tools import make_notebooks

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(make_notebooks.NOTEBOOK_CELLS))
def test_committed_notebook_is_what_the_tool_writes(name: str):
    committed = (REPO / "notebooks" / name).read_text(encoding="utf-8")
    assert committed == make_notebooks.notebook_text(name), f"notebooks/{name} 与 tools/make_notebooks.py 不一致，请运行 make notebooks"


def test_every_committed_notebook_comes_from_the_tool():
    assert {p.name for p in (REPO / "notebooks").glob("*.ipynb")} == set(make_notebooks.NOTEBOOK_CELLS)


@pytest.mark.parametrize("name", sorted(make_notebooks.NOTEBOOK_CELLS))
def test_notebooks_are_committed_without_outputs(name: str):
    nb = nbformat.read(str(REPO / "notebooks" / name), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (name, cell.id)


def test_report_sections_are_markdown_headings_and_processes_stay_in_helpers():
    nb = nbformat.read(str(REPO / "notebooks" / "04_report.ipynb"), as_version=4)
    headings = [line for cell in nb.cells if cell.cell_type == "markdown" for line in cell.source.splitlines()
                if line.startswith("## ")]
    assert [h.split("、")[0] for h in headings if "、" in h][:7] == ["## 一", "## 二", "## 三", "## 四", "## 五", "## 六", "## 七"]
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "<h2>" not in code
    for word in ("stop_workers", "start_workers", ".wait()", "prune()", "multiprocessing", "ProcessPool"):
        assert word not in code, word
