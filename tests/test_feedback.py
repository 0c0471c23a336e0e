"""The consolidated lists (official layout, merged 工作要求, progress gathered per unit, light as cell colour,
formula-injection safety) and the per-unit feedback pages (escaping, masking, content, improvement points)."""

from __future__ import annotations

import datetime as dt
import re
import zipfile

import openpyxl
import pandas as pd
import pytest

from helpers.pipeline import outputs
from helpers.present import feedback
from helpers.present import templates
from helpers.core import findings as fd
from helpers.pipeline import run as pipeline_run
from helpers.pipeline import stages
from helpers.reconcile import lights as reconcile
from helpers.core.identifiers import make_resident_id
from tests.conftest import write_progress_workbook

T1 = "建立市县小微企业及个体工商户无贷户名单，推送银行业机构。"
T2 = "鼓励设立首贷中心及首贷户服务站点，推动首贷户数量持续增加。"
CYCLE = "2022-06-25"
HOSTILE = ['=HYPERLINK("http://x","点我")', "+1+1", "-2", "@SUM(A1)"]
PERSON = make_resident_id("140202", dt.date(1985, 3, 12), 17)
HEADER = ["序号", "工作要求", "主要任务", "完成时限", "细化举措", "年度目标和效果", "双周进展情况", "状态"]


def progress(*rows):
    cols = ["unit_id", "list", "task_no", "status", "progress", "actions", "goal", "file", "row"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols).astype({"task_no": "Int64", "row": "Int64"})


@pytest.fixture
def tiny_tables(tiny_plan):
    """One cycle of the tiny plan: 市金融办 reports everything, 工行 one task with a hostile text, 农商行 nothing."""
    prog = progress(
        ("finance_office", "全面清单", 1, "正常推进", "已推送名单 120 户", "建立推送机制", "推送 300 户", "a.xlsx", 5),
        ("finance_office", "全面清单", 2, "已完成", "已设立首贷服务站 3 个", None, None, "a.xlsx", 6),
        ("finance_office", "重点清单", 1, "正常推进", "方案已印发", None, None, "a.xlsx", 5),
        ("icbc", "全面清单", 1, "正常推进", HOSTILE[0], HOSTILE[3], HOSTILE[2], "b.xlsx", 5),
        ("icbc", "全面清单", 2, "滞后", HOSTILE[1], None, None, "b.xlsx", 6),
        ("finance_bureau", "全面清单", 3, "正常推进", f"已对接客户（证件 {PERSON}）", None, None, "c.xlsx", 5),
    )
    status = reconcile.task_status(tiny_plan, prog, dt.date(2022, 6, 25))
    return prog, status


def cells(ws, row) -> list:
    return [c.value for c in ws[row]]


# ---------------------------------------------------------------------------------------------------------------
# Consolidated lists


def test_consolidated_layout(tiny_plan, tiny_tables, tmp_path):
    prog, status = tiny_tables
    wb = feedback.build_consolidated(tiny_plan, status, prog, CYCLE)
    path = tmp_path / "consolidated.xlsx"
    wb.save(path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["全面清单", "重点清单"]
    ws = wb["全面清单"]
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert "A1:H1" in merged and ws["A1"].value == "小型测试计划全面清单"
    assert "报送日期：2022-06-25" in ws["A2"].value
    # legend: one coloured cell per light
    legend = {c.value: c.fill.fgColor.rgb for c in ws[3] if c.value and "：" in str(c.value)}
    assert legend["红：逾期或未报送"] == feedback.LIGHT_FILLS["red"] and len(legend) == 5
    assert cells(ws, 4) == HEADER
    # one row per task; 工作要求 merged over tasks 1–2 of the same group
    assert [ws.cell(r, 1).value for r in (5, 6, 7)] == ["1", "2", "3"]
    assert "B5:B6" in merged and ws["B5"].value == "开展首贷户拓展专项行动" and ws["B7"].value == "完善担保"
    assert ws["C5"].value == T1 and ws["C6"].value == T2
    # progress gathered per unit, lead first, labelled with the short name; a unit that sent nothing says so
    lines = ws["G5"].value.split("\n")
    assert lines == ["【市金融办】已推送名单 120 户", f"【工行大同分行】{HOSTILE[0]}", "【大同农商银行】本期未报送"]
    assert ws["E5"].value.split("\n") == ["【市金融办】建立推送机制", f"【工行大同分行】{HOSTILE[3]}"]
    # the row's worst light as the fill of the progress cell; in 状态 each light and reason once, with its units
    assert ws["G5"].fill.fgColor.rgb == feedback.LIGHT_FILLS["red"]   # 农商行 sent nothing: red
    assert ws["H5"].value.split("\n")[0].startswith("市金融办、工行大同分行：黄（节点 2022-06-30")
    assert ws["H5"].value.split("\n")[1] == "大同农商银行：红（本期未报送该任务的进展）"
    # units' texts smaller than the plan's; the progress column the widest
    assert ws["G5"].font.sz < ws["C5"].font.sz and ws["G5"].alignment.wrap_text
    width = {c: ws.column_dimensions[c].width for c in "ABCDEFGH"}
    assert max(width, key=width.get) == "G" and 150 <= sum(width.values()) <= 170
    assert ws.row_dimensions[5].height > 30          # tall enough for three wrapped lines
    # print and view setup
    assert ws.freeze_panes == "A5" and ws.print_title_rows == "$4:$4"
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
    assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
    key = wb["重点清单"]
    assert key["D5"].value == "4月末前形成工作方案；6月末前完成推送。"
    assert key["G6"].value == "【市财政局】本期未报送" and key["G6"].fill.fgColor.rgb == feedback.LIGHT_FILLS["red"]


def test_consolidated_text_is_never_a_formula(tiny_plan, tmp_path):
    prog = progress(
        ("finance_office", "全面清单", 1, "正常推进", HOSTILE[0], HOSTILE[0], HOSTILE[0], "a.xlsx", 5),
        ("finance_office", "全面清单", 2, "正常推进", HOSTILE[1], HOSTILE[2], HOSTILE[3], "a.xlsx", 6),
        ("finance_bureau", "全面清单", 3, "正常推进", HOSTILE[0], "@x", "-1", "c.xlsx", 5),
    )
    status = reconcile.task_status(tiny_plan, prog, dt.date(2022, 6, 25))
    path = tmp_path / "c.xlsx"
    feedback.build_consolidated(tiny_plan, status, prog, CYCLE).save(path)
    ws = openpyxl.load_workbook(path, data_only=False)["全面清单"]
    assert ws["G7"].value == f"【市财政局】{HOSTILE[0]}"
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
    with zipfile.ZipFile(path) as zf:
        xml = "".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("xl/worksheets/sheet"))
    assert "<f>" not in xml and "<f " not in xml
    # the bare values, as a cell holding exactly one unit's text would be written
    wb = openpyxl.Workbook()
    for i, text in enumerate(HOSTILE, start=1):
        templates.write_text(wb.active.cell(i, 1), text)
    wb.save(tmp_path / "bare.xlsx")
    back = openpyxl.load_workbook(tmp_path / "bare.xlsx", data_only=False).active
    for i, text in enumerate(HOSTILE, start=1):
        cell = back.cell(i, 1)
        assert (cell.value, cell.data_type) == (text, "s")
        assert cell.quotePrefix


def test_consolidated_masks_resident_ids(tiny_plan, tiny_tables, tmp_path):
    prog, status = tiny_tables
    path = tmp_path / "c.xlsx"
    feedback.build_consolidated(tiny_plan, status, prog, CYCLE).save(path)
    ws = openpyxl.load_workbook(path)["全面清单"]
    assert PERSON not in ws["G7"].value and f"{PERSON[:6]}********{PERSON[-4:]}" in ws["G7"].value


def test_a_list_with_few_columns(tmp_path):
    """A plan whose list has only 序号, 主要任务 and 进展: the consolidated sheet keeps its header in row 4 and puts
    the colour legend after the table."""
    from helpers.plan.model import load_plan
    from tests.conftest import TINY_PLAN

    text = re.sub(r"columns: \{[^}]*\}", "columns: {no: 序号, text: 主要任务, progress: 进展}", TINY_PLAN)
    path = tmp_path / "narrow.yaml"
    path.write_text(text, encoding="utf-8")
    plan = load_plan(path)
    status = reconcile.task_status(plan, progress(("finance_office", "全面清单", 1, None, "已推送", None, None, "a", 5)),
                                   dt.date(2022, 6, 25))
    ws = feedback.build_consolidated(plan, status, None, CYCLE)["全面清单"]
    assert cells(ws, 4) == ["序号", "主要任务", "进展", "状态"]
    assert ws["A3"].value == "颜色说明见表末" and [ws.cell(r, 1).value for r in range(5, 8)] == ["1", "2", "3"]
    legend = [ws.cell(r, 1).value for r in range(9, 15)]
    assert legend == ["颜色说明", "红", "橙", "黄", "绿", "灰"] and ws["A10"].fill.fgColor.rgb == feedback.LIGHT_FILLS["red"]


def test_consolidated_for_the_shanxi_plan(shanxi):
    status = reconcile.task_status(shanxi, progress(), dt.date(2022, 6, 25))
    wb = feedback.build_consolidated(shanxi, status, None, CYCLE)
    ws = wb["责任分工表"]
    assert cells(ws, 4) == ["序号", "工作事项", "工作内容", "牵头单位", "责任单位", "进展情况", "状态"]
    first = shanxi.lists[0].tasks[0]
    assert ws["A5"].value == first.display_no and ws["C5"].value == first.text
    assert ws["D5"].value == "、".join(shanxi.unit_name(u) for u in first.lead)
    # units with the same text share its line: 【省金融办、省国资委、…】本期未报送
    labels = [feedback.unit_label(shanxi, u) for u in first.responsible]
    assert ws["F5"].value == f"【{'、'.join(labels)}】本期未报送"
    assert ws.max_row == 4 + len(shanxi.lists[0].tasks)
    # （八）之一 … 之三 share one 工作事项: merged
    groups = [t.group for t in shanxi.lists[0].tasks]
    runs = sum(1 for i, g in enumerate(groups) if i and g == groups[i - 1] and (i < 2 or groups[i - 2] != g))
    merged_b = [r for r in ws.merged_cells.ranges if r.min_col == 2 and r.min_row >= 5]
    assert len(merged_b) == runs >= 1


def test_consolidated_task_with_many_units_continues_on_further_rows(datong, tmp_path):
    """A task of every bank (各银行机构) with long progress texts does not fit one Excel row (409 pt at most): it
    continues on further rows, each repeating the task's 序号 and text (marked 续), so a continuation printed at the
    top of a page says which task it continues; each unit's progress and status on one row."""
    task = datong.task("全面清单", 1)
    long = "本期新增信用贷款 118 笔、8,221 万元，信用贷款余额 5.93 亿元，较年初增长 28.9%，下一步将继续加大工作力度。" * 2
    prog = progress(*[(u, "全面清单", 1, "正常推进", f"{long}{i}", None, None, f"{u}.xlsx", 5)
                      for i, u in enumerate(task.responsible)])
    status = reconcile.task_status(datong, prog, dt.date(2022, 6, 25))
    path = tmp_path / "c.xlsx"
    feedback.build_consolidated(datong, status, prog, CYCLE).save(path)
    ws = openpyxl.load_workbook(path)["全面清单"]
    last = 5
    while ws.cell(last + 1, 1).value == ws["A5"].value:
        last += 1
    rows = range(5, last + 1)
    assert len(rows) > 1 and ws.cell(rows[-1] + 1, 1).value == "2"
    assert all(ws.row_dimensions[r].height <= 409 for r in rows)
    assert not any(r.min_col in (1, 3, 4) and r.min_row == 5 for r in ws.merged_cells.ranges)
    assert ws["C5"].value == task.text
    assert all(ws.cell(r, 3).value == f"（续）{task.text}" for r in rows[1:])
    labels = [line.split("】")[0][1:] for r in rows for line in ws.cell(r, 7).value.split("\n")]
    assert labels == [feedback.unit_label(datong, u) for u in task.responsible]
    for r in rows:
        progress_units = [line.split("】")[0][1:] for line in ws.cell(r, 7).value.split("\n")]
        status_units = [u for line in ws.cell(r, 8).value.split("\n") for u in line.split("：")[0].split("、")]
        assert sorted(progress_units) == sorted(status_units)
        assert ws.cell(r, 7).fill.fgColor.rgb == feedback.LIGHT_FILLS[
            feedback.worst_light(status[(status["list"] == "全面清单") & (status["task_no"] == 1)]["light"])]


# ---------------------------------------------------------------------------------------------------------------
# Unit pages


def _submissions(*rows):
    cols = ["unit", "unit_id", "kind", "received", "on_time", "report_date", "files"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols).astype(
        {"received": "bool", "on_time": "boolean"})


def test_unit_page_escapes_masks_and_advises(tiny_plan, tmp_path):
    prog = progress(
        ("icbc", "全面清单", 1, "正常推进", "<script>alert(1)</script>", None, None, "工行<b>.xlsx", 5),
        ("icbc", "全面清单", 2, "正常推进", f"已走访 {PERSON} 等客户", None, None, "工行<b>.xlsx", 6),
    )
    previous = progress(("icbc", "全面清单", 2, "正常推进", f"已走访 {PERSON} 等客户", None, None, "x.xlsx", 6))
    status = reconcile.task_status(tiny_plan, prog, dt.date(2022, 6, 25), previous_progress=previous)
    subs = _submissions(("中国工商银行大同分行", "icbc", "task", True, False, dt.date(2022, 6, 27), "工行<b>.xlsx"))
    found = fd.to_frame([
        fd.warning("bad_identifier", f"身份证号码校验位错误：{PERSON[:17]}0", file="工行<b>.xlsx", sheet="贷款明细", row=7,
                   column="证件号码", unit="中国工商银行大同分行"),
        fd.warning("task_text_edited", "序号 1 的任务内容与计划不一致（相似度 80%），已按序号对应", file="工行<b>.xlsx",
                   sheet="全面清单", row=5, column="主要任务", unit="中国工商银行大同分行"),
        fd.warning("formula_no_cache", "公式没有缓存结果（=1+1），按空值读取", file="工行<b>.xlsx", sheet="全面清单", row=6),
        fd.warning("bad_value", "别的单位的问题", file="other.xlsx", unit="大同市财政局"),
    ])
    html = feedback.unit_page(tiny_plan, "icbc", CYCLE, subs, status, found)
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>" not in html and "工行&lt;b&gt;.xlsx" in html
    assert PERSON not in html and PERSON[:17] not in html and f"{PERSON[:6]}********{PERSON[-4:]}" in html
    for heading in ("本期报送情况", "任务进展和状态灯", "缺报事项", "台账数据问题", "下期请改进"):
        assert heading in html
    assert "2022-06-27" in html and "迟报" in html
    # the task it left out, the copied one, the finding about its file that names no unit, not others' findings
    assert "重点清单第 1 项没有填报" in html
    assert "请补报重点清单第 1 项的进展" in html
    assert "请勿直接复制上期进展：全面清单第 2 项" in html
    assert "请按时报送" in html
    assert "请修正「贷款明细」第 7 行的证件号码" in html
    assert "请使用计划中的任务原文" in html
    assert "请不要在台账中使用公式" in html
    assert "别的单位的问题" not in html
    # lights and reasons
    # it sent a ledger, so the task it left out is not "未报送"
    assert 'class="light light-red"' in html and "已报送台账，但台账中没有该任务的进展" in html
    assert "本期未报送该任务的进展" not in html


def test_findings_by_unit_picks_what_unit_findings_picks(tiny_plan):
    """`write_unit_pages` indexes the findings once (`FindingsByUnit`); each unit must get the rows `unit_findings`
    gives it, in the same order with the same index: those naming it under any of its names, those naming no unit
    about a file it sent (two files in one submission), not another unit's nor those about nobody's file."""
    subs = _submissions(("中国工商银行大同分行", "icbc", "task", True, True, dt.date(2022, 6, 24), "b.xlsx；b2.xlsx"),
                        ("大同市财政局", "finance_bureau", "task", True, True, dt.date(2022, 6, 24), "c.xlsx"),
                        ("大同市金融办", "finance_office", "task", False, None, None, None))
    found = fd.to_frame([
        fd.warning("bad_value", "工行一", file="b.xlsx", sheet="全面清单", row=5, unit="中国工商银行大同分行"),
        fd.warning("formula_no_cache", "无单位，工行的文件", file="b2.xlsx", sheet="全面清单", row=6),
        fd.warning("bad_value", "财政局", file="c.xlsx", unit="大同市财政局"),
        fd.warning("workbook_not_recognised", "无单位，谁的文件都不是", file="x.xlsx"),
        fd.warning("bad_value", "工行的简称", file="b.xlsx", row=9, unit=tiny_plan.unit("icbc").names[-1]),
        fd.warning("formula_no_cache", "无单位无文件"),
        fd.warning("bad_value", "无单位，财政局的文件", file="c.xlsx", row=2),
    ]).set_axis(range(10, 17))
    index = feedback.FindingsByUnit(found, subs)
    for unit in tiny_plan.units:
        expected = feedback.unit_findings(found, unit, subs)
        pd.testing.assert_frame_equal(index.of(unit), expected)
    assert set(index.of(tiny_plan.unit("icbc"))["message"]) == {"工行一", "无单位，工行的文件", "工行的简称"}
    assert set(index.of(tiny_plan.unit("finance_bureau"))["message"]) == {"财政局", "无单位，财政局的文件"}
    assert len(feedback.FindingsByUnit(found.iloc[0:0], subs).of(tiny_plan.unit("icbc"))) == 0


def test_unit_page_asks_to_fill_an_empty_row(tiny_plan):
    prog = progress(("icbc", "全面清单", 1, None, None, None, None, "b.xlsx", 5),
                    ("icbc", "全面清单", 2, "正常推进", "已走访", None, None, "b.xlsx", 6),
                    ("icbc", "重点清单", 1, "正常推进", "已推送", None, None, "b.xlsx", 5))
    status = reconcile.task_status(tiny_plan, prog, dt.date(2022, 6, 25))
    subs = _submissions(("中国工商银行大同分行", "icbc", "task", True, True, dt.date(2022, 6, 24), "b.xlsx"))
    asks = feedback.improvements(tiny_plan, tiny_plan.unit("icbc"), CYCLE, subs, status, None)
    assert asks == ["请填写全面清单第 1 项的进展情况和进展状态（本期只填了任务、未填进展）。"]
    html = feedback.unit_page(tiny_plan, "icbc", CYCLE, subs, status, None)
    assert "请填写全面清单第 1 项的进展情况和进展状态" in html and "按时" in html


def test_unit_page_for_a_unit_that_sent_nothing(tiny_plan):
    status = reconcile.task_status(tiny_plan, progress(), dt.date(2022, 6, 25))
    subs = _submissions(("大同市财政局", "finance_bureau", "task", False, None, None, ""))
    html = feedback.unit_page(tiny_plan, tiny_plan.unit("finance_bureau"), CYCLE, subs, status, None)
    assert "未收到任务进展台账" in html and "请按时报送任务进展台账" in html
    assert "请补报" not in html          # the whole ledger is missing: one point, not one per task
    assert html.count('class="light light-red"') >= 2


def test_unit_page_lists_lead_tasks_first(datong):
    status = reconcile.task_status(datong, progress(), dt.date(2022, 6, 25))
    unit = datong.find_unit("市财政局")
    html = feedback.unit_page(datong, unit, CYCLE, None, status, None)
    rows = re.findall(r"<tr><td><span[^>]*>[^<]*</span></td><td>(牵头|责任)</td>", html)
    assert rows and rows == sorted(rows, key=lambda r: r != "牵头") and "牵头" in rows and "责任" in rows


# ---------------------------------------------------------------------------------------------------------------
# Whole run: files under reports/<cycle>/ and the report's links


def test_write_consolidated_unit_pages_and_links(tmp_path, tiny_plan_path):
    raw = tmp_path / "raw" / CYCLE
    raw.mkdir(parents=True)
    write_progress_workbook(raw / "金融办.xlsx", unit_text="市金融办", report_date="2022-06-24", sheets={
        "全面清单": [[1, "开展首贷户拓展专项行动", T1, None, None, None, "<script>alert(1)</script>", "正常推进"]]})
    run = pipeline_run.open_run(CYCLE, tiny_plan_path, tmp_path / "raw", tmp_path / "processed", tmp_path / "reports")
    stages.ingest(run)
    stages.reconcile_cycle(run)
    path = outputs.write_consolidated(run)
    assert path == tmp_path / "reports" / CYCLE / "consolidated.xlsx" and path.is_file()
    pages = outputs.write_unit_pages(run)
    assert [p.name for p in pages] == ["大同市人民政府金融工作办公室.html", "大同市财政局.html", "中国工商银行大同分行.html",
                                       "山西大同农村商业银行.html"]
    page = pages[0].read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;" in page and 'src="' not in page and "http" not in page
    index = feedback.unit_page_index(run.plan)
    assert index[0] == ("大同市人民政府金融工作办公室", "units/大同市人民政府金融工作办公室.html")
    assert all((tmp_path / "reports" / CYCLE / rel).is_file() for _, rel in index)
    html = outputs.links_html(run)
    assert 'href="consolidated.xlsx"' in html
    assert html.count('href="units/') == 4 and "href=\"http" not in html and "href=\"/" not in html
    # rerun replaces the folder as a whole: a stale page does not survive
    (tmp_path / "reports" / CYCLE / "units" / "旧单位.html").write_text("x", encoding="utf-8")
    outputs.write_unit_pages(run)
    assert not (tmp_path / "reports" / CYCLE / "units" / "旧单位.html").exists()


def test_writers_refuse_an_unreconciled_cycle(tmp_path, tiny_plan_path):
    (tmp_path / "raw" / CYCLE).mkdir(parents=True)
    run = pipeline_run.open_run(CYCLE, tiny_plan_path, tmp_path / "raw", tmp_path / "processed", tmp_path / "reports")
    with pytest.raises(pipeline_run.RunError, match="02_reconcile"):
        outputs.write_consolidated(run)
    with pytest.raises(pipeline_run.RunError, match="02_reconcile"):
        outputs.write_unit_pages(run)
    assert "尚未生成" in outputs.links_html(run)
