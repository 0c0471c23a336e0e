"""Next cycle's templates: layout read back with openpyxl (title, 填报单位/填报日期 cells, header, merged 工作要求,
locked plan columns, drop-downs, freeze panes, print setup), pre-filled previous progress, and every template kind
filled in with openpyxl and read back through the real reader with no findings."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from helpers.pipeline import outputs
from helpers.indicators import guarantee
from helpers.ingest import ledgers
from helpers.indicators import lending_clean
from helpers.pipeline import run as pipeline_run
from helpers.pipeline import stages
from helpers.ingest import sources
from helpers.pipeline import outputs
from helpers.present import templates
from helpers.ingest.formats import FIXED_FORMATS, STATUSES
from helpers.core.identifiers import make_resident_id, make_uscc
from helpers.ingest.tables import header_key
from tests.conftest import write_progress_workbook

T1 = "建立市县小微企业及个体工商户无贷户名单，推送银行业机构。"
T2 = "鼓励设立首贷中心及首贷户服务站点，推动首贷户数量持续增加。"
T3 = "参照省级办法制定大同市相关办法。"
CYCLE = "2022-06-25"
NEXT = "2022-07-10"


# ---------------------------------------------------------------------------------------------------------------
# Helpers: a processed tiny cycle, reading and filling templates as a unit would


@pytest.fixture
def tiny_run(tmp_path: Path, tiny_plan_path: Path) -> pipeline_run.Run:
    """The tiny plan's 2022-06-25 cycle, ingested and reconciled: 市金融办 and 工行 sent, the others did not."""
    raw = tmp_path / "raw" / CYCLE
    raw.mkdir(parents=True)
    write_progress_workbook(raw / "金融办.xlsx", unit_text="市金融办", report_date="2022-06-24", sheets={
        "全面清单": [[1, "开展首贷户拓展专项行动", T1, None, "建立名单推送机制", "推送 300 户", "已推送名单 120 户", "正常推进"],
                     [2, None, T2, None, None, None, "=HYPERLINK(\"http://x\",\"点我\")", "滞后"]],
        "重点清单": [[1, "开展首贷户拓展专项行动", T1, "4月末前形成工作方案", None, None, "方案已印发", "正常推进"]],
    })
    write_progress_workbook(raw / "工行.xlsx", unit_text="工行大同分行", report_date="2022-06-24", sheets={
        "全面清单": [[1, "开展首贷户拓展专项行动", T1, None, None, None, "对接名单内客户 35 户", "正常推进"]],
    })
    run = pipeline_run.open_run(CYCLE, tiny_plan_path, tmp_path / "raw", tmp_path / "processed", tmp_path / "reports")
    stages.ingest(run)
    stages.reconcile_cycle(run)
    return run


def meta_value(ws, label: str):
    """The cell right of a 填报单位：/填报日期：/联系人： label (which may span merged cells) above the header."""
    from openpyxl.cell.cell import MergedCell

    for row in ws.iter_rows(min_row=1, max_row=templates.HEADER_ROW - 1):
        for cell in row:
            if cell.value == label:
                col = cell.column + 1
                while isinstance(ws.cell(cell.row, col), MergedCell):
                    col += 1
                return ws.cell(cell.row, col)
    raise AssertionError(f"no {label} in {ws.title}")


def headers(ws) -> list:
    return [c.value for c in ws[templates.HEADER_ROW] if c.value is not None]


def validations(ws) -> dict[str, str]:
    """sqref → formula1 of every list validation of a sheet."""
    return {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}


def fill_task_template(path: Path, out: Path, *, status: str = "正常推进", date=dt.datetime(2022, 7, 8)) -> Path:
    """Fill a task template as a unit would: date, contact, and for each task row progress, actions and a
    status from the drop-down."""
    wb = openpyxl.load_workbook(path)
    for ws in wb:
        meta_value(ws, "填报日期：").value = date
        meta_value(ws, "联系人：").value = "张三"
        meta_value(ws, "联系电话：").value = "0352-1234567"
        cols = {v: i for i, v in enumerate(headers(ws), start=1)}
        if ws.title == "指标":    # the targets the unit reports: a figure each (test_reported_targets reads them)
            for row in range(templates.FIRST_DATA_ROW, ws.max_row + 1):
                if ws.cell(row, 1).value and not str(ws.cell(row, 1).value).startswith("注"):
                    done = "已完成" in str(ws.cell(row, cols["计量单位"]).value)
                    ws.cell(row, cols["本期数值"]).value = "已完成" if done else "1"
            continue
        progress_col = next(i for h, i in cols.items() if "进展" in h and h != "进展状态")
        for row in range(templates.FIRST_DATA_ROW, ws.max_row + 1):
            no = ws.cell(row, 1).value
            if not isinstance(no, int):
                continue
            ws.cell(row, progress_col).value = f"{NEXT} 本期推进第 {no} 项：召开推进会 1 次"
            ws.cell(row, cols["进展状态"]).value = status
            for header in ("细化举措", "年度目标和效果"):
                if header in cols:
                    ws.cell(row, cols[header]).value = f"第 {no} 项{header}"
    wb.save(out)
    return out


USCC_A = make_uscc("91140200MA0K1A2B3")
USCC_B = make_uscc("92140211MA0L2C3D4")
PERSON = make_resident_id("140202", dt.date(1985, 3, 12), 17)
SAMPLE_ROWS = {
    # role → value, per sheet; every cell of every column is filled
    "主要指标": [{"total_loans": 1200000, "credit_loans": 180000, "credit_households": 3200, "sme_loans": 260000,
                "sme_households": 5100, "sme_loans_last_year": 200000, "sme_loans_year_start": 230000,
                "first_loan_households_reported": 410, "renewal_balance": 15000, "sme_long_term_loans": 42000,
                "transfer_pricing_bp": 55, "credit_loans_year_start": 160000, "total_loans_year_start": 1100000}],
    "贷款明细": [
        {"borrower": "大同市示例商贸有限公司", "borrower_id": USCC_A, "borrower_type": "小微企业", "county": "平城区",
         "loan_date": dt.datetime(2022, 7, 1), "maturity_date": dt.datetime(2023, 6, 30), "amount": 300,
         "credit_line": 500, "guarantee_method": "信用", "is_first_loan": "是", "is_renewal": "否",
         "interest_rate": 4.35},
        {"borrower": "李四", "borrower_id": PERSON, "borrower_type": "个体工商户", "county": "云冈区",
         "loan_date": dt.datetime(2022, 7, 5), "maturity_date": dt.datetime(2023, 7, 4), "amount": 50,
         "credit_line": 50, "guarantee_method": "保证", "is_first_loan": "否", "is_renewal": "否",
         "interest_rate": 4.8},
    ],
    "首贷申请": [{"applicant": "大同市示例商贸有限公司", "applicant_id": USCC_A, "applied_on": dt.datetime(2022, 6, 27),
                "replied_on": dt.datetime(2022, 6, 30), "result": "授信"}],
    "无贷户名单": [
        {"name": "大同市示例餐饮有限公司", "entity_id": USCC_B, "entity_type": "小微企业", "county": "平城区",
         "industry": "住宿和餐饮业", "need": 80, "pushed_to": "工行大同分行"},
        {"name": "王五", "entity_id": PERSON, "entity_type": "个体工商户", "county": "平城区", "industry": "零售业",
         "need": 20, "pushed_to": "大同农商银行"},
    ],
    "机构概况": [{"registered_capital": 50000, "net_assets": 52000, "in_force_balance": 180000, "in_force_count": 620,
                "new_this_year": 60000, "compensated_this_year": 300, "released_this_year": 40000}],
    "担保明细": [{"guaranteed": "大同市示例商贸有限公司", "guaranteed_id": USCC_A, "guaranteed_type": "小微企业",
                "amount": 300, "fee_rate": 1.0, "partner_bank": "工行大同分行", "start_date": dt.datetime(2022, 7, 1),
                "end_date": dt.datetime(2023, 6, 30), "risk_share": 20}],
}


def fill_data_template(path: Path, out: Path, *, date=dt.datetime(2022, 7, 8)) -> Path:
    """Fill a data template: the sample rows under the header, matched to columns by their header text."""
    formats = {f.name: f for f in FIXED_FORMATS}
    wb = openpyxl.load_workbook(path)
    for ws in wb:
        meta_value(ws, "填报日期：").value = date
        meta_value(ws, "联系人：").value = "张三"
        fmt = formats[ws.title]
        role_of = {header_key(c.headers[0]): c.role for c in fmt.columns}
        cols = {role_of[header_key(h)]: i for i, h in enumerate(headers(ws), start=1)}
        for offset, sample in enumerate(SAMPLE_ROWS[ws.title]):
            row = templates.first_entry_row(fmt) + offset
            for role, value in sample.items():
                ws.cell(row, cols[role]).value = value
    wb.save(out)
    return out


def read(path: Path, plan) -> ledgers.WorkbookLedger:
    return ledgers.read_ledger(sources.read_workbook(path, root=path.parent), plan)


# ---------------------------------------------------------------------------------------------------------------
# Layout


def test_task_template_layout(tiny_run, tmp_path):
    paths = outputs.write_templates(tiny_run)
    folder = tmp_path / "reports" / NEXT / "templates"
    assert all(p.parent == folder and p.is_file() for p in paths)
    assert [p.name for p in paths] == [
        "大同市人民政府金融工作办公室-任务进展台账-2022-07-10.xlsx", "大同市财政局-任务进展台账-2022-07-10.xlsx",
        "中国工商银行大同分行-任务进展台账-2022-07-10.xlsx", "山西大同农村商业银行-任务进展台账-2022-07-10.xlsx",
    ]
    wb = openpyxl.load_workbook(folder / "大同市人民政府金融工作办公室-任务进展台账-2022-07-10.xlsx")
    assert wb.sheetnames == ["全面清单", "重点清单"]
    ws = wb["全面清单"]
    # title merged over the whole width; 填报单位 pre-filled and locked; 填报日期 and 联系人 open
    assert "A1:H1" in {str(r) for r in ws.merged_cells.ranges}
    assert ws["A1"].value == "小型测试计划全面清单"
    unit_cell, date_cell = meta_value(ws, "填报单位："), meta_value(ws, "填报日期：")
    assert unit_cell.value == "大同市人民政府金融工作办公室" and unit_cell.protection.locked
    assert date_cell.value is None and not date_cell.protection.locked
    assert not meta_value(ws, "联系人：").protection.locked
    # official header, the unit's rows only (市金融办 leads tasks 1 and 2, not 3)
    assert headers(ws) == ["序号", "工作要求", "主要任务", "完成时限", "细化举措", "年度目标和效果", "双周进展情况", "进展状态"]
    assert [ws.cell(r, 1).value for r in (5, 6)] == [1, 2] and ws.cell(7, 3).value is None
    assert [ws.cell(r, 3).value for r in (5, 6)] == [T1, T2]
    # 工作要求 merged over the consecutive tasks of one group
    assert "B5:B6" in {str(r) for r in ws.merged_cells.ranges} and ws["B5"].value == "开展首贷户拓展专项行动"
    # plan columns locked, unit columns open; sheet protected without a password
    assert ws.protection.sheet and not ws.protection.password
    for col in "ABCD":
        assert ws[f"{col}5"].protection.locked, col
    for col in "EFGH":
        assert not ws[f"{col}5"].protection.locked, col
    # 进展状态 drop-down over the task rows
    assert validations(ws) == {"H5:H6": '"' + ",".join(STATUSES) + '"'}
    # freeze below the header; A4 landscape, fit to width, header repeated on every page
    assert ws.freeze_panes == "A5"
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$4:$4"
    assert ws.page_margins.left < 0.75 and ws.print_options.horizontalCentered
    assert all(ws[f"{c}5"].alignment.wrap_text for c in "CEG")
    assert ws.column_dimensions["C"].width >= 30 and ws.column_dimensions["G"].width >= 40
    # the note row below the table is what the reader skips
    assert str(ws.cell(8, 1).value).startswith("注：")


def test_task_template_prefills_previous_progress_milestones_and_lights(tiny_run, tmp_path):
    outputs.write_templates(tiny_run)
    folder = tmp_path / "reports" / NEXT / "templates"
    ws = openpyxl.load_workbook(folder / "大同市人民政府金融工作办公室-任务进展台账-2022-07-10.xlsx")["全面清单"]
    assert ws["E5"].value == "建立名单推送机制" and ws["F5"].value == "推送 300 户"
    assert ws["G5"].value == "已推送名单 120 户" and ws["H5"].value == "正常推进"
    assert ws["H6"].value == "滞后"
    # 全面清单 1 shares the milestones of its 重点清单 twin
    assert "同重点清单第 1 项" in ws["D5"].value and "节点：2022-04-30\n2022-06-30" in ws["D5"].value
    # last cycle's light and reason as a comment on the progress cell
    assert ws["G5"].comment is not None and "上期状态灯" in ws["G5"].comment.text
    key = openpyxl.load_workbook(folder / "大同市人民政府金融工作办公室-任务进展台账-2022-07-10.xlsx")["重点清单"]
    assert key["D5"].value.startswith("4月末前形成工作方案；6月末前完成推送。") and "节点：2022-04-30" in key["D5"].value
    assert key["G5"].value == "方案已印发"
    # 市财政局 sent nothing: its template has the plan text and nothing pre-filled
    fb = openpyxl.load_workbook(folder / "大同市财政局-任务进展台账-2022-07-10.xlsx")
    assert [ws.title for ws in fb] == ["全面清单", "重点清单"]
    assert fb["全面清单"]["C5"].value == T3 and fb["全面清单"]["G5"].value is None
    assert fb["重点清单"]["D5"].value == "年内持续推进。"


def test_prefilled_text_never_becomes_a_formula(tiny_plan, tmp_path):
    previous = pd.DataFrame([
        {"unit_id": "finance_office", "list": "全面清单", "task_no": 1, "actions": "@SUM(A1)", "goal": "-2",
         "progress": '=HYPERLINK("http://x","点我")', "status": "正常推进"},
        {"unit_id": "finance_office", "list": "全面清单", "task_no": 2, "actions": None, "goal": None,
         "progress": "+1+1", "status": None},
    ])
    wb = templates.build_task_template(tiny_plan, "finance_office", NEXT, previous)
    path = tmp_path / "t.xlsx"
    wb.save(path)
    ws = openpyxl.load_workbook(path, data_only=False)["全面清单"]
    for ref, text in {"G5": '=HYPERLINK("http://x","点我")', "E5": "@SUM(A1)", "F5": "-2", "G6": "+1+1"}.items():
        assert ws[ref].value == text and ws[ref].data_type == "s", ref
    led = read(path, tiny_plan)
    assert list(led.tables["progress"]["progress"])[:2] == ['=HYPERLINK("http://x","点我")', "+1+1"]


def test_data_template_layout(datong, tmp_path):
    bank = datong.find_unit("工行大同分行")
    wb = templates.build_data_template(datong, bank, "lending", NEXT)
    assert wb.sheetnames == ["主要指标", "贷款明细", "首贷申请"]
    summary, loans = wb["主要指标"], wb["贷款明细"]
    assert [h.replace("\n", "") for h in headers(summary)[:2]] == ["机构名称", "各项贷款余额（万元）"]
    assert summary.cell(templates.FIRST_DATA_ROW, 1).value == bank.name
    assert [header_key(h) for h in headers(loans)] == [header_key(c.headers[0]) for c in FIXED_FORMATS[1].columns]
    # the note under the header, then the rows: open and typed as whole columns (a unit pastes hundreds of
    # loans), header and meta labels locked; identifiers typed as text; drop-downs for the choice columns
    first = templates.FIRST_DATA_ROW + 1
    assert str(loans.cell(templates.FIRST_DATA_ROW, 1).value).startswith("注：")
    assert loans.protection.sheet and loans["A4"].protection.locked and loans["A2"].protection.locked
    assert not loans[f"A{first}"].protection.locked and not loans[f"L{first + templates.DETAIL_ROWS - 1}"].protection.locked
    assert templates.OPEN_ROWS >= 5000
    for letter in "ABCDEFGHIJKL":
        dim = loans.column_dimensions[letter]
        assert not dim.protection.locked, letter
    assert loans.column_dimensions["B"].number_format == "@" and loans.column_dimensions["E"].number_format == "yyyy-mm-dd"
    assert loans[f"B{first}"].number_format == "@" and loans[f"E{first}"].number_format == "yyyy-mm-dd"
    dvs = validations(loans)
    last = first + templates.OPEN_ROWS - 1
    assert dvs[f"C{first}:C{last}"] == '"小微企业,个体工商户,小微企业主,农户,其他"'
    assert dvs[f"I{first}:I{last}"] == '"信用,保证,抵押,质押,组合"'
    assert dvs[f"J{first}:J{last}"] == dvs[f"K{first}:K{last}"] == '"是,否"'
    assert loans.freeze_panes == "A5" and loans.print_title_rows == "$4:$4"
    # no header breaks inside its brackets; no title saying the same thing twice
    for cell in loans[templates.HEADER_ROW]:
        if cell.value and "（" in cell.value:
            assert all(line.count("（") == line.count("）") for line in cell.value.split("\n")), cell.value
    noloan = templates.build_data_template(datong, datong.find_unit("平城区人民政府"), "noloan", NEXT)
    assert noloan.worksheets[0]["A1"].value == "无贷户名单"
    assert loans.page_setup.orientation == "landscape" and int(loans.page_setup.paperSize) == 9
    assert not loans.protection.insertRows  # units may insert rows in detail sheets


def test_datong_templates_by_kind(datong):
    specs = templates.template_specs(datong, NEXT)
    kinds_of: dict[str, set[str]] = {}
    for spec in specs:
        kinds_of.setdefault(spec.unit.id, set()).add(spec.kind)
    bank, county = datong.find_unit("工行大同分行"), datong.find_unit("平城区人民政府")
    guarantor = datong.units_of(kind="guarantee")[0]
    assert "lending" in kinds_of[bank.id]
    assert "noloan" in kinds_of[county.id] and "lending" not in kinds_of[county.id]
    assert "guarantee" in kinds_of[guarantor.id]
    assert {u.id for u in datong.expected_units("lending")} == {s.unit.id for s in specs if s.kind == "lending"}
    names = {s.file_name for s in specs}
    assert f"{bank.name}-信贷数据台账-{NEXT}.xlsx" in names
    assert f"{county.name}-无贷户名单-{NEXT}.xlsx" in names
    assert f"{guarantor.name}-担保业务台账-{NEXT}.xlsx" in names
    assert len(names) == len(specs)
    book = templates.build_template(datong, guarantor, "guarantee", NEXT)
    assert book.sheetnames == ["机构概况", "担保明细"]
    assert templates.build_template(datong, county, "noloan", NEXT).sheetnames == ["无贷户名单"]


def test_file_names_are_safe():
    assert templates.safe_file_name('a/b\\c:d*e?f"g<h>i|j') == "a_b_c_d_e_f_g_h_i_j"
    assert templates.safe_file_name("  ") == "未命名"


# ---------------------------------------------------------------------------------------------------------------
# Round trips through the reader


def _round_trip(plan, spec, tmp_path: Path) -> ledgers.WorkbookLedger:
    blank = tmp_path / "blank" / spec.file_name
    blank.parent.mkdir(exist_ok=True)
    templates.build_template(plan, spec.unit, spec.kind, NEXT).save(blank)
    filled = tmp_path / "raw" / NEXT / spec.file_name
    filled.parent.mkdir(parents=True, exist_ok=True)
    if spec.kind == "task":
        fill_task_template(blank, filled)
    else:
        fill_data_template(blank, filled)
    return read(filled, plan)


def test_every_datong_template_kind_round_trips_without_findings(datong, tmp_path):
    wanted = {"task": ["人行大同中支", "工行大同分行", "平城区人民政府"], "lending": ["工行大同分行", "大同农商银行"],
              "noloan": ["平城区人民政府"], "guarantee": [datong.units_of(kind="guarantee")[0].name]}
    wanted_ids = {(kind, datong.find_unit(name).id) for kind, names in wanted.items() for name in names}
    specs = [s for s in templates.template_specs(datong, NEXT) if (s.kind, s.unit.id) in wanted_ids]
    assert {s.kind for s in specs} == {"task", "lending", "noloan", "guarantee"} and len(specs) == len(wanted_ids)
    for spec in specs:
        led = _round_trip(datong, spec, tmp_path)
        assert led.findings == (), (spec.file_name, led.findings)
        assert led.unit_id == spec.unit.id and led.unit_source == "填报单位"
        assert led.kinds == (spec.kind,)
        assert led.report_date == dt.date(2022, 7, 8)
        if spec.kind == "task":
            progress = led.tables["progress"]
            mine = datong.responsibilities[datong.responsibilities["unit_id"] == spec.unit.id]
            assert len(progress) == len(mine)
            assert set(progress["match"]) == {"exact"} and set(progress["status"]) == {"正常推进"}
            assert progress["progress"].str.startswith(f"{NEXT} 本期推进").all()
        if spec.kind == "lending":
            summary, loans, apps = led.tables["bank_summary"], led.tables["loans"], led.tables["applications"]
            assert list(summary["bank"]) == [spec.unit.name] and summary["total_loans"].iloc[0] == 1200000
            assert list(loans["borrower_id"]) == [USCC_A, PERSON] and loans["borrower_id_valid"].all()
            assert list(loans["interest_rate"]) == pytest.approx([0.0435, 0.048])
            assert list(loans["is_first_loan"]) == [True, False] and list(loans["loan_date"]) == [
                dt.date(2022, 7, 1), dt.date(2022, 7, 5)]
            clean, found = lending_clean.clean_bank_summary(summary.assign(unit_id=spec.unit.id), datong)
            assert found == [] and list(clean["bank_id"]) == [spec.unit.id]
            _, found = lending_clean.clean_loans(loans, datong, dt.date(2022, 7, 10), dt.date(2022, 6, 25))
            assert found == []
            assert list(apps["result"]) == ["授信"]
        if spec.kind == "noloan":
            frame = led.tables["noloan_list"]
            assert list(frame["entity_type"]) == ["小微企业", "个体工商户"] and list(frame["need"]) == [80, 20]
            _, found = lending_clean.clean_noloan(frame, datong)
            assert found == []
        if spec.kind == "guarantee":
            summary, detail = led.tables["guarantee_summary"], led.tables["guarantees"]
            assert list(summary["institution"]) == [spec.unit.name]
            assert list(detail["risk_share"]) == pytest.approx([0.2]) and list(detail["fee_rate"]) == pytest.approx([0.01])
            _, _, found = guarantee.clean_guarantees(summary.assign(cycle=NEXT), detail.assign(cycle=NEXT), datong,
                                                     dt.date(2022, 7, 10))
            assert [f for f in found if f.severity != "info"] == []


def test_shanxi_task_template_round_trips(shanxi, tmp_path):
    spec = next(s for s in templates.template_specs(shanxi, NEXT) if s.kind == "task")
    wb = templates.build_task_template(shanxi, spec.unit, NEXT)
    ws = wb["责任分工表"]
    assert headers(ws) == ["序号", "工作事项", "工作内容", "牵头单位", "责任单位", "进展情况", "进展状态"]
    # 牵头单位 / 责任单位 are plan columns: locked, filled with names
    assert ws["D5"].protection.locked and ws["D5"].value == spec.unit.name
    assert not ws["F5"].protection.locked and not ws["G5"].protection.locked
    assert validations(ws)  # 进展状态 drop-down
    led = _round_trip(shanxi, spec, tmp_path)
    assert led.findings == ()
    assert set(led.tables["progress"]["match"]) == {"exact"}


def test_a_list_with_few_columns_round_trips(tmp_path):
    """Nothing is tied to the Datong columns: a list of only 序号, 主要任务 and 进展 gives a three-column template
    (no drop-down, as the plan has no status column) that reads back with no findings."""
    from helpers.plan.model import load_plan
    from tests.conftest import TINY_PLAN

    text = re.sub(r"columns: \{[^}]*\}", "columns: {no: 序号, text: 主要任务, progress: 进展}", TINY_PLAN)
    path = tmp_path / "narrow.yaml"
    path.write_text(text, encoding="utf-8")
    plan = load_plan(path)
    wb = templates.build_task_template(plan, "finance_office", NEXT)
    ws = wb["全面清单"]
    assert headers(ws) == ["序号", "主要任务", "进展"] and not validations(ws)
    assert ws["B5"].protection.locked and not ws["C5"].protection.locked
    blank = tmp_path / "blank.xlsx"
    wb.save(blank)
    filled = openpyxl.load_workbook(blank)
    for sheet in filled:
        meta_value(sheet, "填报日期：").value = dt.datetime(2022, 7, 8)
        for row in range(templates.FIRST_DATA_ROW, sheet.max_row + 1):
            if isinstance(sheet.cell(row, 1).value, int):
                sheet.cell(row, 3).value = "已推进"
    filled.save(tmp_path / "filled.xlsx")
    led = read(tmp_path / "filled.xlsx", plan)
    assert led.findings == () and led.unit_id == "finance_office" and len(led.tables["progress"]) == 3


def test_filled_templates_ingest_with_no_findings_and_every_ledger_received(tiny_run, tmp_path):
    """The whole loop: write next cycle's templates, fill every one, drop them into data/raw/<NEXT>/, ingest and
    reconcile: no finding at all, every ledger received on time, nothing copied."""
    paths = outputs.write_templates(tiny_run)
    raw = tmp_path / "raw" / NEXT
    raw.mkdir()
    for path in paths:
        fill_task_template(path, raw / path.name)
    run = pipeline_run.open_run(NEXT, tiny_run.plan.path, tmp_path / "raw", tmp_path / "processed", tmp_path / "reports")
    stages.ingest(run)
    subs, status = stages.reconcile_cycle(run)
    findings = run.catalog.read(NEXT, "findings")
    assert len(findings) == 0, findings[["code", "message"]].to_string()
    assert subs["received"].all() and subs["on_time"].all()
    assert not status["copied"].any()
    assert status["file"].notna().all()


def test_open_for_next(tiny_run, tmp_path, tiny_plan_path):
    args = (tiny_plan_path, tmp_path / "raw", tmp_path / "processed", tmp_path / "reports")
    run, nxt = outputs.open_for_next(None, *args)
    assert (run.cycle, nxt, run.note) == (CYCLE, NEXT, None)
    run, nxt = outputs.open_for_next(NEXT, *args)
    assert (run.cycle, nxt) == (CYCLE, NEXT)
    # the year's first templates: the cycle before has no ledgers; templates are written without previous progress
    run, nxt = outputs.open_for_next("2022-04-10", *args)
    assert (run.cycle, nxt) == ("2022-03-25", "2022-04-10") and "未预填" in run.note
    paths = outputs.write_templates(run, nxt)
    assert len(paths) == 4 and all(p.parent.parent.name == "2022-04-10" for p in paths)
    with pytest.raises(pipeline_run.RunError, match="不是报送日"):
        outputs.open_for_next("2022-07-11", *args)


def test_links_name_next_cycle_templates_without_linking_into_its_folder(tiny_run):
    """The report is sent on its own: next cycle's templates are named with their folder, not linked."""
    outputs.write_templates(tiny_run)
    html = outputs.links_html(tiny_run)
    assert "../2022-07-10" not in html and "href" not in html
    assert "下期（2022-07-10）填报模板 4 个（任务进展台账 4 个），位于报告目录的 2022-07-10/templates/ 文件夹" in html


# ---------------------------------------------------------------------------------------------------------------
# Speed helpers that must not change what is written


def test_merge_writes_exactly_what_openpyxl_merge_cells_writes():
    """`merged_cells.merge` works out the styles a merge gives once per kind of cell; the saved sheets must be byte
    for byte those of openpyxl's own `merge_cells` (same cells, styles and style lists), for ranges whose start cell
    has borders (an outline switched off), protection or neither, a start cell not created yet, an end cell with
    borders of its own, blocks with inner cells, and ranges of a kind seen before in other shapes."""
    import io
    import zipfile

    from openpyxl.styles import Border, Font, Protection, Side

    from helpers.present.merged_cells import merge as ours

    def build(merge) -> tuple[bytes, list]:
        wb = openpyxl.Workbook()
        ws = wb.active
        thick, thin = Side(style="medium", color="FF000000"), Side(style="thin", color="FF808080")
        for row, rows, cols in ((1, 2, 3), (4, 2, 3), (7, 1, 5), (9, 4, 4), (14, 3, 1)):   # one start style
            ws.cell(row, 1, "标题").font = Font(bold=True)
            ws.cell(row, 1).border = Border(left=thick, top=thick, bottom=thick, outline=False)
            ws.cell(row + rows - 1, cols).border = Border(right=thick, bottom=thin)   # moves to the start cell
            merge(ws, row, 1, row + rows - 1, cols)
        for row in (20, 22):
            ws.cell(row, 2).protection = Protection(locked=False)
            merge(ws, row, 2, row, 5)
        merge(ws, 24, 1, 26, 1)                                 # start cell not created before
        merge(ws, 28, 2, 31, 4)
        for row in (33, 36):                                    # borders all round, inner cells
            ws.cell(row, 1).border = Border(left=thin, right=thin, top=thin, bottom=thin)
            merge(ws, row, 1, row + 2, 3 + row % 2)
        buffer = io.BytesIO()
        wb.save(buffer)
        styles = [(c.coordinate, *(getattr(getattr(c.border, s), "style", None) for s in ("left", "right", "top", "bottom")),
                   c.protection.locked, c.font.b) for r in ws.iter_rows() for c in r]
        with zipfile.ZipFile(buffer) as z:
            return z.read("xl/worksheets/sheet1.xml") + z.read("xl/styles.xml"), styles

    def openpyxl_merge(ws, r0, c0, r1, c1):
        ws.merge_cells(start_row=r0, start_column=c0, end_row=r1, end_column=c1)

    theirs, their_styles = build(openpyxl_merge)
    mine, my_styles = build(ours)
    assert my_styles == their_styles
    assert mine == theirs
    assert b'<mergeCell ref="A9:D12"/>' in mine and b'<mergeCell ref="A24:A26"/>' in mine


def test_text_lines_counts_a_text_the_same_however_its_arguments_are_typed():
    """`text_lines` is remembered per (text, width, size): an int width and its float, a number and its text, give
    the count they gave before it was remembered."""
    assert templates.text_lines("8,221万元 " * 10, 18) == templates.text_lines("8,221万元 " * 10, 18.0) > 1
    assert templates.text_lines(12345, 3) == templates.text_lines("12345", 3.0) == 3
    assert templates.text_lines("一\n二", 40, 10.5) == 2


def test_a_data_template_made_from_another_units_is_the_one_built_for_it(datong):
    """`write_templates` makes each unit's data template from the last one of its kind (`like=`): after saving
    another bank's, the sheets must be byte for byte those built afresh for this bank, name cells, page headers and
    title included, and nothing of the other bank left anywhere."""
    import io
    import zipfile

    def parts(wb) -> dict[str, bytes]:
        buffer = io.BytesIO()
        wb.save(buffer)
        with zipfile.ZipFile(buffer) as z:
            return {n: re.sub(rb"<dcterms:(created|modified)[^<]*</dcterms:\w+>", b"", z.read(n)) for n in z.namelist()}

    banks = [u for u in datong.expected_units("lending")][:2]
    assert len(banks) == 2
    for kind, units in (("lending", banks), ("noloan", list(datong.expected_units("noloan"))[:2])):
        first = templates.build_data_template(datong, units[0], kind, NEXT)
        parts(first)                                                     # saved, as write_templates does
        made = templates.build_data_template(datong, units[1], kind, NEXT, like=first)
        assert made is first
        fresh = templates.build_data_template(datong, units[1], kind, NEXT)
        ours, theirs = parts(made), parts(fresh)
        assert ours == theirs
        assert units[0].name.encode() not in b"".join(ours.values())
        assert units[1].name.encode() in b"".join(ours.values())
    # a workbook of another kind or cycle is not reused
    other = templates.build_data_template(datong, banks[0], "lending", "2022-07-25", like=first)
    assert other is not first
