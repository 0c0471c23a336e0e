"""Units that no longer exist: a plan says who took over (`replaced_by`), and the successor reports in its place.

The Shanxi responsibility table predates the 2018 reforms: 省国税局 and 省地税局 merged into 国家税务总局山西省税务局,
省中小企业局's duties went to 省工业和信息化厅, 山西民航机场集团 became part of 山西航空产业集团, and 各资产管理公司
means the AMCs' branches in the province. These tests read a ledger the successor filled in (written by the
suite's own template, saved by openpyxl) through ingest and reconcile, as a cycle does."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from helpers.ingest import ledgers
from helpers.reconcile import lights as reconcile
from helpers.ingest import sources
from helpers.plan.model import PlanError, load_plan
from helpers.present.templates import build_task_template

CYCLE = dt.date(2022, 4, 10)
TAX_TASK = 10          # （八）之三: 税务部门要积极落实税收优惠政策 — lead 省国税局、省地税局 in the table


def test_replaced_units_hand_their_tasks_to_the_successor(shanxi):
    tax_task = shanxi.task("责任分工表", TAX_TASK)
    assert tax_task.lead == ("sx_tax",)
    assert shanxi.task("责任分工表", 7).units == ("sx_industry_it", "taiyuan_railway", "taiyuan_customs",
                                                 "sx_aviation_group")
    assert shanxi.task("责任分工表", 15).units == ("huarong_sx", "greatwall_sx", "orient_sx", "cinda_sx")
    gone = {"sx_state_tax", "sx_local_tax", "sx_sme_bureau", "sx_airport_group", "amcs"}
    assert gone.isdisjoint(shanxi.responsibilities["unit_id"])
    assert gone.isdisjoint(u.id for u in shanxi.expected_units("task"))
    assert {u.id for u in shanxi.predecessors_of("sx_tax")} == {"sx_state_tax", "sx_local_tax"}
    assert shanxi.current_units("amcs") == ("huarong_sx", "greatwall_sx", "orient_sx", "cinda_sx")
    # a ledger still headed with an old name is the successor's; a name with several successors stays itself
    assert shanxi.find_unit("省地税局").id == "sx_tax"
    assert shanxi.find_unit("省中小企业局").id == "sx_industry_it"
    assert shanxi.find_unit_in("山西民航机场集团2022年4月台账").id == "sx_aviation_group"
    assert shanxi.find_unit("各资产管理公司").id == "amcs"


def _ledger(shanxi, unit_id: str, folder: Path, name: str, header_name: str | None = None) -> Path:
    wb = build_task_template(shanxi, unit_id, CYCLE.isoformat())
    ws = wb["责任分工表"]
    header = next(r for r in range(1, 12) if ws.cell(r, 1).value == "序号")
    cols = {ws.cell(header, c).value: c for c in range(1, ws.max_column + 1)}
    for r in range(header + 1, ws.max_row + 1):
        if isinstance(ws.cell(r, 1).value, int):
            ws.cell(r, cols["进展情况"]).value = "已召开专题会议，逐项落实税费优惠政策，办理退税。"
            ws.cell(r, cols["进展状态"]).value = "正常推进"
    if header_name:      # the unit filled in last year's template, still headed with the old name
        unit_name = shanxi.unit(unit_id).name
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and unit_name in cell.value:
                    cell.value = cell.value.replace(unit_name, header_name)
    path = folder / name
    wb.save(path)
    return path


@pytest.mark.parametrize("header_name", [None, "山西省地方税务局"])
def test_successor_ledger_covers_the_predecessors_tasks(shanxi, tmp_path: Path, header_name):
    path = _ledger(shanxi, "sx_tax", tmp_path, "税务局台账.xlsx", header_name)
    read = ledgers.read_ledger(sources.read_workbook(path, root=tmp_path), shanxi)
    assert read.unit_id == "sx_tax"
    combined = ledgers.combine([read], shanxi, CYCLE)
    status = reconcile.task_status(shanxi, combined.tables["progress"], CYCLE)
    tax_rows = status[(status["list"] == "责任分工表") & (status["task_no"] == TAX_TASK)]
    assert list(tax_rows["unit_id"]) == ["sx_tax"]
    assert tax_rows.iloc[0]["light"] == "grey"           # the table has no 完成时限: reported, ongoing
    assert not set(status["unit_id"]) & {"sx_state_tax", "sx_local_tax"}
    subs = reconcile.submissions(shanxi, combined.files, combined.tables, CYCLE)
    assert subs.set_index("unit_id").loc["sx_tax", "received"]
    assert not set(subs["unit_id"]) & {"sx_state_tax", "sx_local_tax", "amcs", "sx_sme_bureau"}
    missing = [f for f in reconcile.submission_findings(shanxi, subs, combined.files) if "国税" in f.message
               or "地税" in f.message]
    assert not missing


def _plan(tmp_path: Path, units: str, lead: str = "[old]") -> Path:
    units_block = textwrap.indent(textwrap.dedent(units).strip(), "  ")
    path = tmp_path / "p.yaml"
    path.write_text(
        "plan: {id: p, title: 测试, year: 2022}\nunits:\n" + units_block + "\n"
        "lists:\n  - name: 清单\n    columns: {no: 序号, text: 主要任务, progress: 进展}\n"
        f"    tasks:\n      - {{no: 1, text: 任务, lead: {lead}}}\n",
        encoding="utf-8",
    )
    return path


def test_replacement_chain_is_followed(tmp_path: Path):
    plan = load_plan(_plan(tmp_path, """
        - {id: old, name: 甲局, kind: government, replaced_by: [mid], replaced_on: '2018'}
        - {id: mid, name: 乙局, kind: government, replaced_by: new}
        - {id: new, name: 丙厅, kind: government}
        """))
    assert plan.task("清单", 1).lead == ("new",)
    assert plan.find_unit("甲局").id == "new"
    assert plan.unit("old").replaced_on == "2018"
    assert [u.id for u in plan.active_units] == ["new"]


def test_bad_replacements_are_reported_with_their_place(tmp_path: Path):
    with pytest.raises(PlanError) as err:
        load_plan(_plan(tmp_path, """
            - {id: old, name: 甲局, kind: government, replaced_by: [nowhere]}
            - {id: a, name: 乙局, kind: government, replaced_by: [b]}
            - {id: b, name: 丙局, kind: government, replaced_by: [a]}
            - {id: c, name: 丁局, kind: government, replaced_by: [c]}
            - {id: d, name: 戊局, kind: government}
            """, lead="[d]"))
    problems = dict(err.value.problems)
    assert "未知单位「nowhere」" in problems["units[0].replaced_by[0]"]
    assert "成环" in problems["units[1].replaced_by"]
    assert "成环" in problems["units[2].replaced_by"]
    assert "自身" in problems["units[3].replaced_by[0]"]
