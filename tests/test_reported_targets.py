"""Targets units report themselves (issue 18): where each target's value comes from in both plan files, the 指标
sheet of the task template filled in and read back by the same ingest, workbooks written by xlsxwriter and
LibreOffice, the status of reported targets computed by hand, every target of both plans in the indicators table
after a demo run, and the report's and the consolidated workbook's target section."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from taizhang_demo import generator
from helpers.present import feedback
from helpers.ingest import ledgers
from helpers.pipeline import run as pipeline_run
from helpers.pipeline import stages
from helpers.present import report_targets
from helpers.indicators import reported_targets as rt
from helpers.ingest import sources
from helpers.present import templates
from helpers.plan.model import load_plan

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "targets"
DATONG = ROOT / "data" / "plan" / "datong-2022.yaml"
SHANXI = ROOT / "data" / "plan" / "shanxi-sme.yaml"


@pytest.fixture(scope="module")
def datong():
    return load_plan(DATONG)


@pytest.fixture(scope="module")
def shanxi():
    return load_plan(SHANXI)


def _read(path: Path, plan) -> ledgers.WorkbookLedger:
    return ledgers.read_ledger(sources.read_workbook(path, root=path.parent), plan)


def _reports(rows: list[tuple]) -> pd.DataFrame:
    """A year of cleaned reports by hand: (cycle, unit_id, target_id, value)."""
    return pd.DataFrame([{"target_id": t, "unit_id": u, "value": v, "note": None, "file": f"{u}.xlsx",
                          "sheet": "指标", "row": 5, "cycle": c} for c, u, t, v in rows])


# ---------------------------------------------------------------------------------------------------------------
# The plan files


def test_every_target_of_both_plans_says_where_its_value_comes_from(datong, shanxi):
    for plan in (datong, shanxi):
        for target in plan.targets:
            source = target["source"]
            assert source["kind"] in ("derived", "reported"), target["id"]
            if source["kind"] == "reported":
                assert source["reported_by"] and all(plan.unit(u) for u in source["reported_by"])
    reported = {t["id"] for t in datong.reported_targets()}
    assert {"credit_guarantee_fund_province", "first_loan_center", "four_lists_published",
            "compensation_measures_issued"} <= reported
    assert {t["id"]: t["due"] for t in datong.targets}["first_loan_center"] == dt.date(2022, 9, 30)
    assert {t["id"] for t in shanxi.reported_targets()} == {t["id"] for t in shanxi.targets}
    assert len({t["id"]: t for t in shanxi.targets}["sme_risk_fund_city"]["source"]["reported_by"]) == 11


def test_a_reported_target_without_reporter_or_with_a_bad_value_kind_is_refused(tmp_path):
    text = DATONG.read_text(encoding="utf-8").replace(
        "source: {reported_by: [pbc_datong], value: done}", "source: {reported_by: [no_such_unit], value: often}")
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(Exception) as caught:
        load_plan(path)
    assert "no_such_unit" in str(caught.value) and "source.value" in str(caught.value)


# ---------------------------------------------------------------------------------------------------------------
# The 指标 sheet: template round trip


def test_template_target_sheet_round_trip(datong, tmp_path):
    previous = _reports([("2022-06-10", "finance_bureau", "credit_guarantee_fund_province", 250000.0)])
    wb = templates.build_task_template(datong, "finance_bureau", "2022-06-25", previous_targets=previous)
    ws = wb["指标"]
    header = [ws.cell(templates.HEADER_ROW, c).value for c in range(1, 7)]
    assert header == ["目标代码", "目标", "计量单位", "到期日", "本期数值", "说明"]
    rows = {ws.cell(r, 1).value: r for r in range(templates.FIRST_DATA_ROW, templates.FIRST_DATA_ROW + 2)}
    assert set(rows) == {"credit_guarantee_fund_province", "compensation_measures_issued"}
    fund, rule = rows["credit_guarantee_fund_province"], rows["compensation_measures_issued"]
    assert ws.protection.sheet
    assert ws.cell(fund, 1).protection.locked and ws.cell(fund, 4).protection.locked
    assert not ws.cell(fund, 5).protection.locked and not ws.cell(fund, 6).protection.locked
    assert ws.cell(fund, 5).value == 250000                     # last figure of a 累计 target pre-filled
    assert ws.cell(rule, 4).value == "2022-04-30"
    lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert lists and f"E{rule}" in str(lists[0].sqref) and "已完成" in lists[0].formula1

    ws.cell(fund, 5).value = "30.5亿元"       # as a unit types it
    ws.cell(rule, 5).value = "已完成"
    meta = [c for row in ws.iter_rows(min_row=2, max_row=3) for c in row if c.value == "填报日期："][0]
    ws.cell(meta.row, meta.column + 1).value = dt.date(2022, 6, 24)
    path = tmp_path / "财政局.xlsx"
    wb.save(path)

    ledger = _read(path, datong)
    assert ledger.unit_id == "finance_bureau" and ledger.kinds == ("task",)
    assert not [f for f in ledger.findings if f.severity == "error"]
    cleaned, found = rt.clean_reported(ledger.tables["reported_targets"], datong)
    assert found == []
    values = dict(zip(cleaned["target_id"], cleaned["value"]))
    assert values == {"credit_guarantee_fund_province": 305000.0, "compensation_measures_issued": 1.0}


@pytest.mark.parametrize("name", ["taiyuan_xlsxwriter.xlsx", "taiyuan_libreoffice.xls"])
def test_target_sheet_written_by_third_party_writers(shanxi, name):
    ledger = _read(FIXTURES / name, shanxi)
    assert ledger.unit_id == "taiyuan_gov"
    cleaned, found = rt.clean_reported(ledger.tables["reported_targets"], shanxi)
    values = dict(zip(cleaned["target_id"], cleaned["value"]))
    assert values == {"sme_risk_fund_city": 1200.0, "coordination_meetings_city": 2.0}
    by_code = {f.code: f for f in found}
    assert set(by_code) == {"bad_value", "target_not_reporter"}
    bad = by_code["bad_value"]
    assert (bad.sheet, bad.row, bad.column) == ("指标", 6, "本期数值") and "若干" in bad.message
    wrong = by_code["target_not_reporter"]
    assert wrong.row == 7 and "山西省财政厅" in wrong.message and "未计入" in wrong.message


@pytest.mark.parametrize("raw, unit, expected", [
    ("2,000万元", "万元", 2000.0), ("0.2亿元", "万元", 2000.0), ("20000000元", "万元", 2000.0), (1500, "万元", 1500.0),
    ("１２００", "万元", 1200.0), ("85%", "比例", 0.85), (0.85, "比例", 0.85), ("85", "比例", 0.85),
    ("3次", "次/季度", 3.0), (None, "万元", None),
])
def test_reported_values_parse_with_the_ingest_tolerance(raw, unit, expected):
    target = {"id": "x", "unit": unit, "source": {"kind": "reported", "reported_by": ("u",), "value": "level"}}
    assert rt.parse_reported_value(raw, target) == expected


def test_done_values():
    target = {"id": "x", "unit": "是否完成", "source": {"kind": "reported", "reported_by": ("u",), "value": "done"}}
    assert [rt.parse_reported_value(v, target) for v in ("已完成", "未完成", "是", 0)] == [1.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        rt.parse_reported_value("差不多", target)


# ---------------------------------------------------------------------------------------------------------------
# Status computed by hand


def _head(rows: list[dict], target_id: str) -> dict:
    (row,) = [r for r in rows if r["target_id"] == target_id and r["scope"] == "target"]
    return row


def test_status_of_a_thing_to_get_done_before_and_after_its_due_date(datong):
    reports = _reports([("2022-06-10", "pbc_datong", "four_lists_published", 0.0),
                        ("2022-07-10", "pbc_datong", "four_lists_published", 0.0),
                        ("2022-06-10", "finance_bureau", "compensation_measures_issued", 1.0)])
    before, _ = rt.target_rows(datong, dt.date(2022, 6, 10), reports)
    four = _head(before, "four_lists_published")
    assert four["value"] == 0.0 and four["status"] is None and "未到期" in four["basis"]   # due 2022-06-30
    assert _head(before, "compensation_measures_issued")["status"] == "green"
    after, found = rt.target_rows(datong, dt.date(2022, 7, 10), reports)
    # not done after 2022-06-30: short of 1 by all of it → red (the derived targets' rule)
    assert _head(after, "four_lists_published")["status"] == "red"
    # nothing reported this cycle: 未报送, and a finding names the unit
    missing = _head(after, "compensation_measures_issued")
    assert pd.isna(missing["value"]) and missing["status"] is None and "未报送" in missing["basis"]
    assert any(f.code == "target_not_reported" and f.unit == "大同市财政局" for f in found)


def test_reported_targets_follow_the_plans_before_due_rule_and_bands(shanxi):
    """One rule for every target: a reported figure before its due date follows the plan's ``targets_before_due``
    (here 时序进度) and its light bands, as the derived targets do."""
    reports = _reports([("2022-07-10", "sx_finance_dept", "sme_risk_fund_province", 1400.0)])
    path_plan = dataclasses.replace(shanxi, meta={**shanxi.meta, "targets_before_due": "path"})
    rows, _ = rt.target_rows(path_plan, dt.date(2022, 7, 10), reports)
    fund = _head(rows, "sme_risk_fund_province")
    # from 1000万 (the plan's baseline) on 2022-01-01 to 2000万 on 2022-12-31: 190 of 364 days gone, so
    # 1000 + 1000 × 190/364 = 1521.98 due by now; 1400 is 8.0% short: yellow
    assert fund["status"] == "yellow" and "按时序进度" in fund["basis"] and "1,521.98 万元" in fund["basis"]
    path_plan = dataclasses.replace(path_plan, meta={**path_plan.meta, "light_bands": {"relative": [0.05, 0.30]}})
    rows, _ = rt.target_rows(path_plan, dt.date(2022, 7, 10), reports)
    assert _head(rows, "sme_risk_fund_province")["status"] == "orange"


def test_status_of_a_cumulative_fund_and_a_value_that_goes_down(shanxi):
    reports = _reports([("2022-05-10", "sx_finance_dept", "sme_risk_fund_province", 1500.0),
                        ("2022-05-25", "sx_finance_dept", "sme_risk_fund_province", 1400.0)])
    rows, found = rt.target_rows(shanxi, dt.date(2022, 5, 25), reports)
    fund = _head(rows, "sme_risk_fund_province")
    # 1400 of 2000 is 30% short (orange by the rule) but the target is due 2022-12-31: not yet due
    assert fund["value"] == 1400.0 and fund["target"] == 2000.0 and fund["status"] is None
    assert rt.status_for(1400.0, 2000.0) == "orange"
    (down,) = [f for f in found if f.code == "target_cumulative_decreased"]
    assert "1,400.00 万元" in down.message and "1,500.00 万元" in down.message and down.column == "本期数值"
    met, _ = rt.target_rows(shanxi, dt.date(2022, 5, 25), _reports(
        [("2022-05-25", "sx_finance_dept", "sme_risk_fund_province", 2000.0)]))
    assert _head(met, "sme_risk_fund_province")["status"] == "green"


def test_quarterly_meetings_are_counted_from_what_units_report_per_cycle(shanxi):
    reports = _reports([("2022-03-25", "taiyuan_gov", "coordination_meetings_city", 1.0),
                        ("2022-04-10", "taiyuan_gov", "coordination_meetings_city", 1.0),
                        ("2022-05-25", "taiyuan_gov", "coordination_meetings_city", 1.0),
                        ("2022-06-25", "datong_gov", "coordination_meetings_city", 0.0),
                        ("2022-07-10", "taiyuan_gov", "coordination_meetings_city", 0.0)])
    rows, _ = rt.target_rows(shanxi, dt.date(2022, 6, 25), reports)
    units = {r["scope_id"]: r for r in rows if r["target_id"] == "coordination_meetings_city" and r["scope"] == "unit"}
    assert units["太原市人民政府"]["value"] == 2.0 and units["太原市人民政府"]["status"] == "green"   # Q2: 04-10, 05-25
    assert units["太原市人民政府"]["due"] == "2022-06-30"
    # 大同 held none this quarter, and the quarter is not over: not yet due
    assert units["大同市人民政府"]["value"] == 0.0 and units["大同市人民政府"]["status"] is None
    assert pd.isna(units["朔州市人民政府"]["value"]) and "未报送" in units["朔州市人民政府"]["basis"]
    summary = _head(rows, "coordination_meetings_city")
    # 1 of 11 cities met it, 9 did not report: short of 11 by 91% → red
    assert (summary["value"], summary["target"], summary["status"]) == (1.0, 11.0, "red")
    assert "朔州市人民政府" in summary["basis"]
    q3, _ = rt.target_rows(shanxi, dt.date(2022, 7, 10), reports)
    taiyuan = [r for r in q3 if r["scope_id"] == "太原市人民政府" and r["target_id"] == "coordination_meetings_city"][0]
    assert taiyuan["value"] == 0.0 and taiyuan["status"] is None and taiyuan["due"] == "2022-09-30"


# ---------------------------------------------------------------------------------------------------------------
# Every target after a demo run, in the report and the consolidated workbook


@pytest.mark.parametrize("plan_path", [DATONG, SHANXI], ids=["datong", "shanxi"])
def test_every_target_is_in_the_indicators_table_after_a_demo_run(plan_path, tmp_path, monkeypatch):
    monkeypatch.setenv("TAIZHANG_WORKERS", "1")
    plan = load_plan(plan_path)
    cycles = ["2022-06-10", "2022-06-25"]
    generator.write_demo(plan, tmp_path / "raw", cycles=cycles)
    run = pipeline_run.open_run("2022-06-25", plan_path, tmp_path / "raw", tmp_path / "processed", tmp_path / "reports")
    stages.ingest(run)
    stages.reconcile_cycle(run)
    indicators = stages.indicators_cycle(run)
    heads = indicators[indicators["scope"] == "target"]
    assert list(heads["target_id"]) == [t["id"] for t in plan.targets]
    reported = heads[heads["target_id"].isin([t["id"] for t in plan.reported_targets()])]
    assert reported["value"].notna().all()          # the demo fills every 指标 sheet
    assert heads["due"].notna().sum() >= len(plan.targets) - 1

    frame = report_targets.targets_frame(plan, indicators)
    assert len(frame) == len(plan.targets)
    html = report_targets.targets_html(plan, indicators)
    assert "<script" not in html and html.count("<tr>") >= len(plan.targets) + 1
    wb = feedback.build_consolidated(plan, run.catalog.read(run.cycle, "task_status"),
                                     run.catalog.read(run.cycle, "progress"), run.cycle, indicators)
    ws = wb["目标完成情况"]
    texts = [ws.cell(r, 2).value for r in range(templates.HEADER_ROW + 1, ws.max_row + 1)]
    assert texts == [t.get("text") for t in plan.targets]


def test_a_target_nobody_reported_shows_as_not_reported(datong):
    indicators, _ = rt.with_targets(datong, dt.date(2022, 6, 25), pd.DataFrame(), None)
    frame = report_targets.targets_frame(datong, indicators)
    assert len(frame) == len(datong.targets)
    assert set(frame["light_text"]) == {"未报送"} and set(frame["shown"]) == {"未报送"}
    html = report_targets.targets_html(datong, indicators)
    assert html.count("未报送") >= len(datong.targets)
    assert "四张清单" in html


def test_a_units_feedback_page_shows_the_targets_it_reports(datong):
    """The unit sees its own figures: each target it reports, this cycle's value, target, due date and light; a
    target it left blank says 未报送 and where to fill it in. A unit reporting no target gets no such section."""
    from helpers.present import feedback

    reports = _reports([("2022-06-10", "pbc_datong", "four_lists_published", 0.0)])
    rows, _ = rt.target_rows(datong, dt.date(2022, 6, 10), reports)
    indicators = pd.DataFrame(rows)
    html = feedback.unit_page(datong, "pbc_datong", "2022-06-10", None, None, None, indicators)
    assert "三、本单位报送的量化目标" in html and "四、缺报事项" in html and "六、下期请改进" in html
    section = html[html.index("本单位报送的量化目标"):html.index("四、缺报事项")]
    assert "融资服务“四张清单”" in section and "未完成" in section and "2022-06-30" in section and "未到期" in section
    assert "（2022-06-30 到期），尚未完成" in section and "尚差" not in section
    others = [t for t in datong.reported_targets("pbc_datong") if t["id"] != "four_lists_published"]
    assert all(t["text"][:10] in section for t in others) and section.count("未报送") >= len(others)
    plain = feedback.unit_page(datong, "icbc_datong", "2022-06-10", None, None, None, indicators)
    assert "量化目标" not in plain and "三、缺报事项" in plain
