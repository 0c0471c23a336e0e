"""Issue #6: the suite against what a finance office's inbox really holds, for every ledger kind.

Part 1, the corpus: one case per broken or hostile input. Each builds its file(s) in a cycle folder under tmp_path
beside a normal ledger, runs the real stages (ingest, then reconcile or indicators where they matter) and asserts
the finding it must yield: its code, and its place (file, sheet, row, column) as the report shows it in Chinese.
Every case also checks that the normal ledger still came through, that nothing was written into the raw folder
and that no unexpected exception was swallowed into a `read_failed` finding.

Part 2, one end-to-end hostile run (`taizhang run` as a subprocess): injection payloads and individuals' personal
data typed into every place a unit types text, mixed with broken files; every file under reports/ is scanned.

Speed is for the benchmarks: no test here times anything.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from helpers.core import findings as fd
from helpers.pipeline import run as pipeline_run
from helpers.pipeline import stages as pipeline_stages
from helpers.pipeline.catalog import Catalog
from helpers.pipeline.paths import Folders
from helpers.plan.model import Plan
from tests import hostile_corpus as hc
from tests.conftest import REPO, html_structure_problems

PLAN_PATH = REPO / "data/plan/datong-2022.yaml"
CYCLE = hc.CYCLE
NORMAL = "市金融办台账.xlsx"          # the normal ledger beside every hostile input
R = hc.FIRST_ROW                      # Excel row of the first data row of every ledger the corpus writes


# ---------------------------------------------------------------------------------------------------------------
# Running one cycle through the real stages


@dataclass
class Outcome:
    run: pipeline_run.Run
    findings: pd.DataFrame
    files: pd.DataFrame

    def table(self, name: str) -> pd.DataFrame:
        frame = self.run.catalog.read(CYCLE, name)
        return frame if frame is not None else pd.DataFrame()

    def progress_of(self, file: str) -> pd.DataFrame:
        progress = self.table("progress")
        return progress[progress["file"] == file]

    def used(self, file: str) -> bool:
        rows = self.files[self.files["file"] == file]
        return len(rows) == 1 and bool(rows["used"].iloc[0])


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry below `folder` (files, folders, hidden ones too) → content hash ("dir" for folders)."""
    out = {}
    for here, dirs, files in os.walk(folder):
        for d in dirs:
            out[(Path(here) / d).relative_to(folder).as_posix()] = "dir"
        for f in files:
            p = Path(here) / f
            out[p.relative_to(folder).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_cycle(tmp_path: Path, plan: Plan, build: Callable[[Path, Plan], Any], stages: tuple[str, ...]) -> Outcome:
    raw = tmp_path / "raw"
    folder = raw / CYCLE
    folder.mkdir(parents=True)
    hc.task_ledger(folder / NORMAL, plan, "finance_office")
    build(folder, plan)
    before = snapshot(raw)
    folders = Folders.of(raw, tmp_path / "processed", tmp_path / "reports")
    # the stages exactly as the notebooks call them; the plan is loaded once per session, not once per case
    run = pipeline_run.Run(plan, folders, CYCLE, Catalog(folders, plan.report_days))
    pipeline_stages.ingest(run)
    if "reconcile" in stages:
        pipeline_stages.reconcile_cycle(run)
    if "indicators" in stages:
        pipeline_stages.indicators_cycle(run)
    assert snapshot(raw) == before, "the raw folder changed"
    return Outcome(run, run.catalog.read(CYCLE, "findings"), run.catalog.read(CYCLE, "files"))


# ---------------------------------------------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path, Plan], Any]
    code: str | None                      # the finding it must yield; None: read without any finding on the file
    file: str | None = None               # the file the finding (or the clean read) is about
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    message: tuple[str, ...] = ()         # Chinese text the message must hold
    severity: str | None = None
    stages: tuple[str, ...] = ()            # stages after ingest: "reconcile", "indicators"
    check: Callable[[Outcome], None] | None = None
    quiet: bool = False                   # the file must not be named by any finding nor listed as read
    xfail: str | None = None              # a defect outside this helper's files, reported to the main session


def _task(name: str, unit_id: str, **kw):
    return lambda folder, plan: hc.task_ledger(folder / name, plan, unit_id, **kw)


def _lending(name: str = "工行信贷台账.xlsx", unit: str = "工行大同分行", **kw):
    return lambda folder, plan: hc.lending_ledger(folder / name, unit, **kw)


def _noloan(name: str = "平城区无贷户名单.xlsx", unit: str = "平城区", **kw):
    return lambda folder, plan: hc.noloan_ledger(folder / name, unit, **kw)


def _guarantee(name: str = "财信担保台账.xlsx", unit: str = "市财信担保公司", **kw):
    return lambda folder, plan: hc.guarantee_ledger(folder / name, unit, **kw)


def _edit(sheet: str, **cells: Any):
    """An `edit` callback setting cells (A1 references) of one sheet; "=…" becomes a formula without a cache."""
    def edit(wb):
        for ref, value in cells.items():
            wb[sheet][ref] = value
    return edit


def _read_cleanly(file: str, unit_id: str, lists: tuple[str, ...] = ("全面清单", "重点清单"), progress: str | None = None):
    """The file was read, recognised as `unit_id`'s task ledger and used, with a progress row for each task the
    corpus wrote (the unit's first three of each list), every one matched to its plan task."""
    def check(out: Outcome) -> None:
        assert out.used(file), out.files
        assert out.files.set_index("file").loc[file, "unit_id"] == unit_id
        got = out.progress_of(file)
        rows = sum(len(hc.task_rows(out.run.plan, unit_id, name)) for name in lists)
        assert len(got) == rows and got["task_no"].notna().all()
        if progress:
            assert got["progress"].str.startswith(progress).all(), list(got["progress"])
    return check


def _loans_kept(n: int, column: str | None = None):
    """The lending ledger was used and its 贷款明细 rows kept (a bad cell becomes a missing value, the row stays);
    the indicators were computed all the same."""
    def check(out: Outcome) -> None:
        assert out.used("工行信贷台账.xlsx")
        loans = out.table("loans_raw")
        assert len(loans) == n
        if column is not None:
            assert loans[column].isna().sum() == 1
        assert len(out.table("indicators")), "indicators were computed"
    return check


def _two_versions(folder: Path, plan: Plan) -> None:
    # the later 填报日期 wins although its file name sorts first
    hc.task_ledger(folder / "a市市场监管局台账.xlsx", plan, "market_regulation", report_date="2022年6月24日",
                   progress="新版第{no}项")
    hc.task_ledger(folder / "b市市场监管局台账.xlsx", plan, "market_regulation", report_date="2022-06-20",
                   progress="旧版第{no}项")


def _duplicate_check(out: Outcome) -> None:
    used = out.files.set_index("file")["used"]
    assert bool(used["a市市场监管局台账.xlsx"]) and not bool(used["b市市场监管局台账.xlsx"])
    progress = out.table("progress")
    mine = progress[progress["unit_id"] == "market_regulation"]
    assert len(mine) and mine["progress"].str.startswith("新版").all()


def _lock_files(folder: Path, plan: Plan) -> None:
    # Excel's owner file (~$ + the name, 162 bytes) and WPS's (.~ + the name), both beside the real ledger
    (folder / ("~$" + NORMAL)).write_bytes(b"\x0b" + "市金融办".encode("utf-16-le") + b"\0" * 153)
    (folder / (".~" + NORMAL)).write_bytes(b"\0" * 64)


def _csv(name: str, unit_id: str, encoding: str):
    return lambda folder, plan: hc.task_csv(folder / name, plan, unit_id, encoding)


def _gbk_file_name(folder: Path, plan: Plan) -> None:
    """A ledger whose file name is GBK bytes, as an archive made on Windows leaves it when unzipped on Linux."""
    hc.task_ledger(folder / "gbk.xlsx", plan, "tax_datong")
    try:
        os.rename(os.fsencode(folder / "gbk.xlsx"), os.fsencode(folder) + b"/" + "市税务局台账.xlsx".encode("gbk"))
    except OSError:
        pytest.skip("this file system accepts UTF-8 file names only")


def _empty_workbook(folder: Path, plan: Plan) -> None:
    Workbook().save(folder / "空白台账.xlsx")


def _no_second_finding(file: str):
    def check(out: Outcome) -> None:
        about = out.findings[out.findings["file"] == file]
        assert list(about["code"]) == ["empty_workbook"], list(about["code"])
    return check


def _huge(folder: Path, plan: Plan) -> None:
    normal = hc.rows_of(hc.TASK_HEADER, hc.task_rows(plan, "agriculture_datong", "全面清单"))
    hc.huge_sheet_workbook(folder / "市农业农村局台账.xlsx", normal, "全面清单", "市农业农村局",
                           cells=5_000_001)


def _hidden_rows_check(out: Outcome) -> None:
    got = out.progress_of("市人社局台账.xlsx")
    assert R + 1 in set(got[got["list"] == "重点清单"]["row"])         # the hidden row was read


def _bad_cell_kept(file: str, column: str):
    def check(out: Outcome) -> None:
        got = out.progress_of(file)
        got = got[got["list"] == "全面清单"]
        assert len(got) == 3 and got[column].isna().sum() == 1
    return check


RID = hc.RESIDENT_A
WRONG_CHECK = RID[:17] + ("0" if RID[17] != "0" else "1")

CASES = [
    # ----- files that are not what they claim
    Case("xlsx_that_is_text", lambda f, p: (f / "台账.xlsx").write_text("这不是表格\n", encoding="utf-8"),
         "not_a_workbook", "台账.xlsx", message=("不是有效的 Excel 工作簿",), severity="error"),
    Case("zero_bytes", lambda f, p: (f / "空文件.xlsx").write_bytes(b""), "empty_file", "空文件.xlsx",
         message=("文件为空",), severity="error"),
    Case("empty_workbook", _empty_workbook, "empty_workbook", "空白台账.xlsx", message=("没有任何数据",),
         check=_no_second_finding("空白台账.xlsx")),
    Case("html_saved_as_xls", lambda f, p: (f / "导出.xls").write_text("<html><body><table><tr><td>机构名称</td></tr>"
                                                                     "</table></body></html>", encoding="utf-8"),
         "workbook_not_recognised", "导出.xls", message=("无法识别台账类型",)),
    Case("encrypted_workbook", lambda f, p: hc.encrypted_workbook(f / "加密台账.xlsx"), "encrypted", "加密台账.xlsx",
         message=("已加密", "取消密码"), severity="error"),
    Case("archive", lambda f, p: (f / "台账.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18), "archive_not_read",
         "台账.zip", message=("压缩包未解压",)),
    Case("old_xls", lambda f, p: hc.task_xls(f / "市交通局台账.xls", p, "transport_datong"), None, "市交通局台账.xls",
         check=_read_cleanly("市交通局台账.xls", "transport_datong", ("全面清单",), "XLS 报送")),
    Case("csv_gbk", _csv("市工信局全面清单.csv", "industry_it", "gbk"), None, "市工信局全面清单.csv",
         check=_read_cleanly("市工信局全面清单.csv", "industry_it", ("全面清单",), "CSV 报送")),
    Case("csv_utf8_bom", _csv("市国资委全面清单.csv", "sasac_datong", "utf-8-sig"), None, "市国资委全面清单.csv",
         check=_read_cleanly("市国资委全面清单.csv", "sasac_datong", ("全面清单",), "CSV 报送")),
    Case("csv_utf8", _csv("市科技局全面清单.csv", "science_tech", "utf-8"), None, "市科技局全面清单.csv",
         check=_read_cleanly("市科技局全面清单.csv", "science_tech", ("全面清单",), "CSV 报送")),
    Case("xlsm", lambda f, p: hc.as_xlsm(hc.task_ledger(f / "市发改委台账.xlsm", p, "ndrc_datong")), None,
         "市发改委台账.xlsm", check=_read_cleanly("市发改委台账.xlsm", "ndrc_datong")),
    Case("lock_files", _lock_files, None, None, quiet=True),
    Case("file_name_in_gbk", _gbk_file_name, None, "市税务局台账.xlsx", check=_read_cleanly("市税务局台账.xlsx", "tax_datong")),
    Case("file_name_with_a_line_break", _task("市人社局\n台账.xlsx", "hrss_datong"), None, "市人社局\n台账.xlsx",
         check=_read_cleanly("市人社局\n台账.xlsx", "hrss_datong")),
    Case("sub_folder", _task("市税务局/6月报送/台账(1).xlsx", "tax_datong"), None, "市税务局/6月报送/台账(1).xlsx",
         check=_read_cleanly("市税务局/6月报送/台账(1).xlsx", "tax_datong")),
    Case("two_versions_of_one_ledger", _two_versions, "duplicate_ledger", "a市市场监管局台账.xlsx",
         message=("a市市场监管局台账.xlsx", "b市市场监管局台账.xlsx", "2022-06-24", "2022-06-20", "采用后者"),
         check=_duplicate_check, stages=("reconcile",)),
    # ----- workbooks that exhaust naive readers
    Case("stray_cell_xfd1048576_task", _task("市行政审批局台账.xlsx", "admin_approval",
                                             edit=lambda wb: wb["全面清单"].cell(1048576, 16384, "x")),
         "cell_out_of_range", "市行政审批局台账.xlsx", "全面清单", 1048576, "XFD", ("第 1048576 行 XFD 列", "已忽略"),
         check=_read_cleanly("市行政审批局台账.xlsx", "admin_approval")),
    Case("stray_cell_xfd1048576_loans", _lending(edit=lambda wb: wb["贷款明细"].cell(1048576, 16384, "孤立")),
         "cell_out_of_range", "工行信贷台账.xlsx", "贷款明细", 1048576, "XFD", ("孤立单元格",),
         stages=("indicators",), check=_loans_kept(2)),
    Case("sheet_with_five_million_cells", _huge, "sheet_too_large", "市农业农村局台账.xlsx", "附表",
         message=("5,000,000", "未读取"), severity="error",
         check=_read_cleanly("市农业农村局台账.xlsx", "agriculture_datong", ("全面清单",))),

    # ----- task ledger: enumerations, formulas, error cells, hidden parts, units and dates
    Case("status_unknown", _task("市税务局台账.xlsx", "tax_datong", status="差不多"), "bad_value", "市税务局台账.xlsx",
         "全面清单", R, "进展状态", ("无法识别的取值「差不多」", "已完成、正常推进、滞后、未启动"), stages=("reconcile",)),
    Case("formula_without_cached_value", _task("市税务局台账.xlsx", "tax_datong",
                                               edit=_edit("全面清单", G4='=CONCAT("已","推进")')),
         "formula_no_cache", "市税务局台账.xlsx", "全面清单", R, "G", ("公式没有缓存结果", "CONCAT"), stages=("reconcile",)),
    Case("error_cell_ref", _task("市税务局台账.xlsx", "tax_datong", edit=_edit("全面清单", H5="#REF!")), "bad_value",
         "市税务局台账.xlsx", "全面清单", R + 1, "进展状态", ("错误值「#REF!」",),
         check=_bad_cell_kept("市税务局台账.xlsx", "status"), stages=("reconcile",)),
    Case("error_cell_div0", _task("市税务局台账.xlsx", "tax_datong", edit=_edit("重点清单", G6="#DIV/0!")),
         "bad_value", "市税务局台账.xlsx", "重点清单", R + 2, "双周进展情况", ("错误值「#DIV/0!」",), stages=("reconcile",)),
    Case("hidden_sheet", _task("市人社局台账.xlsx", "hrss_datong", hidden_sheets=("全面清单",)), "hidden_sheet",
         "市人社局台账.xlsx", "全面清单", message=("隐藏", "已照常读取"), severity="info",
         check=_read_cleanly("市人社局台账.xlsx", "hrss_datong"), stages=("reconcile",)),
    Case("hidden_rows", _task("市人社局台账.xlsx", "hrss_datong", hidden_rows={"重点清单": [R + 1]}), "hidden_rows",
         "市人社局台账.xlsx", "重点清单", R + 1, message=(f"第 {R + 1} 行", "已照常读取"), severity="info",
         check=_hidden_rows_check, stages=("reconcile",)),
    Case("unit_matches_no_alias", _task("某某小额贷款公司台账.xlsx", "hrss_datong", unit_text="某某小额贷款公司"),
         "unit_unknown", "某某小额贷款公司台账.xlsx", message=("某某小额贷款公司", "都不匹配"), severity="error", stages=("reconcile",)),
    Case("unit_nowhere_names_the_file", _task("新建 Microsoft Excel 工作表.xlsx", "hrss_datong", unit_text=""),
         "unit_unknown", "新建 Microsoft Excel 工作表.xlsx", message=("新建 Microsoft Excel 工作表",), stages=("reconcile",)),
    Case("report_date_is_a_word", _task("市人社局台账.xlsx", "hrss_datong", report_date="明天"), "bad_report_date",
         "市人社局台账.xlsx", row=2, message=("填报日期无法识别", "明天"), stages=("reconcile",)),
    # ----- 信贷数据台账: 主要指标
    Case("number_double_dot", _lending(summary=[hc.summary_row("工行大同分行", total_loans="12..5")]), "bad_value",
         "工行信贷台账.xlsx", "主要指标", R, "各项贷款余额", ("无法识别的数字「12..5」",), stages=("indicators",),
         check=_loans_kept(2)),
    Case("number_bad_grouping", _lending(summary=[hc.summary_row("工行大同分行", credit_loans="1,2,3")]), "bad_value",
         "工行信贷台账.xlsx", "主要指标", R, "信用贷款余额", ("无法识别的数字「1,2,3」",), stages=("indicators",)),
    Case("number_is_text", _lending(summary=[hc.summary_row("工行大同分行", sme_loans="abc")]), "bad_value",
         "工行信贷台账.xlsx", "主要指标", R, "普惠型小微企业贷款余额", ("无法识别的数字「abc」",), stages=("indicators",)),
    Case("number_error_cell", _lending(summary=[hc.summary_row("工行大同分行", sme_households="#DIV/0!")]),
         "bad_value", "工行信贷台账.xlsx", "主要指标", R, "普惠型小微企业贷款户数", ("错误值「#DIV/0!」",),
         stages=("indicators",)),
    Case("count_not_whole", _lending(summary=[hc.summary_row("工行大同分行", credit_households=1.5)]), "bad_value",
         "工行信贷台账.xlsx", "主要指标", R, "信用贷款户数", ("应为整数",), stages=("indicators",)),
    Case("bank_matches_no_alias", _lending(summary=[hc.summary_row("工行大同分行"), hc.summary_row("某某村镇银行")]),
         "bank_unknown", "工行信贷台账.xlsx", "主要指标", R + 1, "机构名称", ("某某村镇银行", "都不匹配"),
         stages=("indicators",)),
    # ----- 贷款明细
    Case("date_impossible", _lending(loans=[hc.loan_row(loan_date="2022-13-45")]), "bad_value", "工行信贷台账.xlsx",
         "贷款明细", R, "发放日期", ("2022-13-45", "日历上不存在"), stages=("indicators",),
         check=_loans_kept(1, "loan_date")),
    Case("date_two_digit_year", _lending(loans=[hc.loan_row(loan_date="22.6.15")]), "bad_value", "工行信贷台账.xlsx",
         "贷款明细", R, "发放日期", ("22.6.15", "年份只有两位"), stages=("indicators",)),
    Case("date_is_a_word", _lending(loans=[hc.loan_row(), hc.loan_row(maturity_date="明天")]), "bad_value",
         "工行信贷台账.xlsx", "贷款明细", R + 1, "到期日期", ("无法识别的日期「明天」",), stages=("indicators",)),
    Case("amount_error_cell", _lending(loans=[hc.loan_row(amount="#DIV/0!")]), "bad_value", "工行信贷台账.xlsx",
         "贷款明细", R, "发放金额", ("错误值「#DIV/0!」",), stages=("indicators",), check=_loans_kept(1, "amount")),
    Case("id_wrong_check_character", _lending(loans=[hc.loan_row("某个体户", WRONG_CHECK, borrower_type="个体工商户")]),
         "bad_identifier", "工行信贷台账.xlsx", "贷款明细", R, "证件号码", ("身份证号码校验位错误",),
         stages=("indicators",)),
    Case("id_seventeen_characters", _lending(loans=[hc.loan_row("某企业", hc.USCC_C[:17])]), "bad_identifier",
         "工行信贷台账.xlsx", "贷款明细", R, "证件号码", ("应为 18 位，实为 17 位",), stages=("indicators",)),
    Case("id_letter_o_for_zero", _lending(loans=[hc.loan_row("某个体户", RID[:10] + "O" + RID[11:])]),
         "bad_identifier", "工行信贷台账.xlsx", "贷款明细", R, "证件号码", ("不允许的字符「O」",), stages=("indicators",)),
    Case("id_stored_as_float", _lending(loans=[hc.loan_row("某个体户", float(RID[:17] + "1"))]), "bad_identifier",
         "工行信贷台账.xlsx", "贷款明细", R, "证件号码", ("数字格式", "设为文本格式"), stages=("indicators",)),
    Case("guarantee_method_unknown", _lending(loans=[hc.loan_row(guarantee_method="担保公司")]), "bad_value",
         "工行信贷台账.xlsx", "贷款明细", R, "担保方式", ("无法识别的取值「担保公司」", "信用、保证、抵押、质押、组合"),
         stages=("indicators",), check=_loans_kept(1, "guarantee_method")),
    Case("borrower_type_unknown", _lending(loans=[hc.loan_row(borrower_type="大型企业")]), "bad_value",
         "工行信贷台账.xlsx", "贷款明细", R, "借款人类型", ("无法识别的取值「大型企业」",), stages=("indicators",)),
    Case("flag_unknown", _lending(loans=[hc.loan_row(is_first_loan="也许")]), "bad_value", "工行信贷台账.xlsx",
         "贷款明细", R, "是否首贷户", ("应填 是 或 否",), stages=("indicators",)),
    # ----- 首贷申请
    Case("application_date_impossible", _lending(applications=[hc.application_row(applied_on="2022-02-30")]),
         "bad_value", "工行信贷台账.xlsx", "首贷申请", R, "申请日期", ("2022-02-30",), stages=("indicators",)),
    Case("application_result_unknown", _lending(applications=[hc.application_row(result="差不多")]), "bad_value",
         "工行信贷台账.xlsx", "首贷申请", R, "结果", ("无法识别的取值「差不多」", "授信、拒绝、办理中"),
         stages=("indicators",)),
    # ----- 无贷户名单
    Case("noloan_type_unknown", _noloan(rows=[hc.noloan_row(entity_type="大型企业")]), "bad_value",
         "平城区无贷户名单.xlsx", "无贷户名单", R, "类型", ("大型企业", "小微企业、个体工商户"), stages=("indicators",)),
    Case("noloan_need_not_a_number", _noloan(rows=[hc.noloan_row(need="12..5")]), "bad_value", "平城区无贷户名单.xlsx",
         "无贷户名单", R, "融资需求（万元）", ("12..5",), stages=("indicators",)),
    Case("noloan_id_seventeen_characters", _noloan(rows=[hc.noloan_row("某个体户", RID[:17], entity_type="个体工商户")]),
         "bad_identifier", "平城区无贷户名单.xlsx", "无贷户名单", R, "证件号码", ("实为 17 位",), stages=("indicators",)),
    # ----- 担保业务台账
    Case("guarantee_capital_bad_grouping", _guarantee(summary=[hc.institution_row(registered_capital="1,2,3")]),
         "bad_value", "财信担保台账.xlsx", "机构概况", R, "注册资本", ("1,2,3",), stages=("indicators",)),
    Case("guarantee_amount_error_cell", _guarantee(detail=[hc.guarantee_row(amount="#DIV/0!")]), "bad_value",
         "财信担保台账.xlsx", "担保明细", R, "担保金额", ("错误值「#DIV/0!」",), stages=("indicators",)),
    Case("guarantee_date_two_digit_year", _guarantee(detail=[hc.guarantee_row(start_date="22.6.15")]), "bad_value",
         "财信担保台账.xlsx", "担保明细", R, "起始日期", ("年份只有两位",), stages=("indicators",)),
    Case("guarantee_type_unknown", _guarantee(detail=[hc.guarantee_row(guaranteed_type="大型企业")]), "bad_value",
         "财信担保台账.xlsx", "担保明细", R, "类型", ("三农、战略性新兴产业",), stages=("indicators",)),
    Case("guarantee_id_wrong_check_character", _guarantee(detail=[hc.guarantee_row("某个体户", WRONG_CHECK)]),
         "bad_identifier", "财信担保台账.xlsx", "担保明细", R, "证件号码", ("校验位错误",), stages=("indicators",)),
    Case("guarantee_institution_matches_no_alias",
         _guarantee("某某融资担保公司台账.xlsx", "市财信担保公司", summary=[hc.institution_row("某某融资担保有限公司")]),
         "guarantee_institution_unknown", "某某融资担保公司台账.xlsx", "机构概况", R, "机构名称",
         ("某某融资担保有限公司",), stages=("indicators",)),
]


def test_corpus_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)]
                                                 if c.xfail else []) for c in CASES])
def test_hostile_input_yields_its_finding(case: Case, tmp_path: Path, datong: Plan):
    out = run_cycle(tmp_path, datong, case.build, case.stages)
    findings = out.findings

    # the cycle still ran: the normal ledger was read and used, every stage wrote its tables
    assert out.used(NORMAL)
    assert len(out.progress_of(NORMAL)) == 6
    assert "read_failed" not in set(findings["code"]), "an unexpected exception was swallowed"
    assert not findings["message"].str.contains("Traceback|Error:", regex=True).any()

    if case.quiet:                               # lock files: skipped without a word
        lock = r"(?:^|/)(?:~\$|\.~)"
        assert not out.files["file"].str.contains(lock).any()
        assert not findings["file"].fillna("").str.contains(lock).any()
        assert not findings["message"].str.contains("~$", regex=False).any()
        assert len(findings[findings["file"].notna() & (findings["file"] != NORMAL)]) == 0
    elif case.code is None:
        about = findings[(findings["file"] == case.file) & findings["severity"].isin(["error", "warning"])]
        assert not len(about), about[["code", "message"]].to_string()
    else:
        hits = findings[(findings["code"] == case.code) & (findings["file"] == case.file)]
        for column in ("sheet", "row", "column"):
            wanted = getattr(case, column)
            if wanted is not None:
                hits = hits[hits[column] == wanted]
        assert len(hits), (f"no {case.code} at {case.file} {case.sheet} {case.row} {case.column}:\n"
                           + findings[findings["file"] == case.file][["code", "sheet", "row", "column", "message"]]
                           .to_string())
        finding = fd.Finding(**{k: (None if pd.isna(v) else v) for k, v in hits.iloc[0][fd.FINDING_COLUMNS].items()})
        if case.severity:
            assert finding.severity == case.severity
        for text in case.message:
            assert text in finding.message, finding.message
        assert re.search(r"[\u4e00-\u9fff]", finding.message), "messages are in Chinese"
        # where the finding is, as the report's appendix shows it: file › 工作表 › 第 n 行 › 列
        place = fd.place_text(finding)
        expected = [case.file]
        if case.sheet:
            expected.append(f"工作表「{case.sheet}」")
        if case.row:
            expected.append(f"第 {case.row} 行")
        if case.column:
            expected.append(f"「{case.column}」列")
        assert place == " › ".join(expected)
    if case.check is not None:
        case.check(out)


def test_reading_the_corpus_twice_gives_identical_tables(tmp_path: Path, datong: Plan, monkeypatch):
    """Rerunning a cycle with the same inputs, a hostile one included, gives byte-identical processed tables,
    whichever workbooks the first run happened to keep in its cache (here every other one, as a loaded machine
    would: two files showing the same name, one named in GBK, were once given each other's cached reading)."""
    from helpers.pipeline import stages

    clock = {"calls": 0}
    real = stages.time.perf_counter

    def uneven_clock() -> float:
        clock["calls"] += 1
        return real() + (1.0 if clock["calls"] % 4 == 0 else 0.0)

    monkeypatch.setenv("TAIZHANG_WORKERS", "1")
    monkeypatch.setattr(stages.time, "perf_counter", uneven_clock)
    def build(folder: Path, plan: Plan) -> None:
        for case in CASES:                      # cases writing the same file name: the last one stays
            if case.id != "sheet_with_five_million_cells" and not case.xfail:
                case.build(folder, plan)
    out = run_cycle(tmp_path, datong, build, ("reconcile", "indicators"))
    processed = tmp_path / "processed" / CYCLE
    first = {p.name: p.read_bytes() for p in processed.glob("*.parquet")}
    for name in ("ingest.json", "indicators.json"):
        (processed / name).unlink()                     # force every stage to run again
    pipeline_stages.ingest(out.run)
    pipeline_stages.reconcile_cycle(out.run)
    pipeline_stages.indicators_cycle(out.run)
    assert {p.name: p.read_bytes() for p in processed.glob("*.parquet")} == first


def test_gbk_file_name_is_read_and_shown_decoded(tmp_path: Path, datong: Plan):
    """The reading side of `file_name_in_gbk`, without the pipeline: the name is decoded for findings and tables,
    and the unit is recognised from it when the workbook has no 填报单位."""
    from helpers.ingest import ledgers
    from helpers.ingest import sources

    hc.task_ledger(tmp_path / "x.xlsx", datong, "tax_datong", unit_text="")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "y.xlsx").write_text("不是表格", encoding="utf-8")
    try:
        os.rename(os.fsencode(tmp_path / "x.xlsx"), os.fsencode(tmp_path) + b"/" + "市税务局台账.xlsx".encode("gbk"))
        os.rename(os.fsencode(tmp_path / "sub"), os.fsencode(tmp_path) + b"/" + "子目录".encode("gbk"))
    except OSError:
        pytest.skip("this file system accepts UTF-8 file names only")
    paths, _ = sources.list_cycle_files(tmp_path)
    books = [sources.read_workbook(p, root=tmp_path) for p in paths]
    assert [b.name for b in books] == ["子目录/y.xlsx", "市税务局台账.xlsx"]
    assert books[0].findings[0].file == "子目录/y.xlsx"
    led = ledgers.read_ledger(books[1], datong)
    assert (led.unit_id, led.unit_source) == ("tax_datong", "文件名")
    fd.to_frame(led.findings).to_parquet(tmp_path.parent / "findings.parquet")   # storable


# ---------------------------------------------------------------------------------------------------------------
# Output hygiene helpers also checked in isolation (quick, no notebooks)


def test_report_tables_escape_payloads_and_mask_resident_ids():
    from helpers.present import report

    rid = hc.PEOPLE["张伟明"]
    frame = pd.DataFrame({"a": [*hc.PAYLOADS, f"为个体户办理（{rid}）", f"{rid[:6]}{rid[8:]}", hc.USCC_A]})
    out = report.table(frame, {"a": "列"})
    assert "<script" not in out and "<img" not in out and 'href="javascript' not in out
    assert rid not in out and f"{rid[:6]}********{rid[-4:]}" in out
    assert f"{rid[:6]}{rid[8:]}" not in out                    # a first-generation (15-digit) ID too
    assert hc.USCC_A in out                                     # organisations' codes are public
    assert html.escape(hc.PAYLOADS[0]) in out


def test_chart_labels_are_never_mathtext():
    """A "$" in a label (a bank or county name) is drawn as a dollar sign; broken mathtext does not stop the report."""
    from helpers.present import report_indicators

    frame = pd.DataFrame({"indicator": ["credit_loan_share"] * 2, "scope": ["bank"] * 2,
                          "scope_id": ["$\\notacommand{$", "$\\alpha$银行"], "value": [0.1, 0.2],
                          "status": ["red", None]})
    fig = report_indicators.bars_chart(frame, "credit_loan_share", "bank", "标题 $x$", percent=True)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["$\\notacommand{$", "$\\alpha$银行"]
    import matplotlib.pyplot as plt

    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------------
# Part 2: one end-to-end hostile run


def taizhang(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "helpers.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


@dataclass
class HostileRun:
    root: Path
    result: subprocess.CompletedProcess
    raw_before: dict[str, str]
    raw_after: dict[str, str]
    planted: dict

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def files(self) -> list[Path]:
        return sorted(p for p in self.reports.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, datong) -> HostileRun:
    root = tmp_path_factory.mktemp("hostile")
    planted = hc.hostile_raw(root / "raw", datong)
    before = snapshot(root / "raw")
    result = taizhang("run", "--plan", str(PLAN_PATH), "--raw", "raw", "--processed", "processed", "--reports",
                      "reports", cwd=root)
    return HostileRun(root, result, before, snapshot(root / "raw"), planted)


class _Tags(HTMLParser):
    """Start tags with their attributes, and the text as a browser shows it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser


def html_parts(path: Path) -> list[tuple[str, str]]:
    """(where, HTML) of everything a browser or Jupyter renders as HTML: pages, and the HTML and Markdown of
    executed notebooks (their text/plain outputs are shown as text and are not HTML)."""
    if path.suffix == ".html":
        return [("page", path.read_text(encoding="utf-8"))]
    if path.suffix != ".ipynb":
        return []
    nb = json.loads(path.read_text(encoding="utf-8"))
    parts = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            parts.append((f"cell {i} markdown", "".join(cell["source"])))
        for output in cell.get("outputs", []):
            for mime in ("text/html", "text/markdown", "image/svg+xml"):
                if mime in output.get("data", {}):
                    data = output["data"][mime]
                    parts.append((f"cell {i} {mime}", "".join(data) if isinstance(data, list) else data))
    return parts


def all_text(path: Path) -> str:
    """Every character a file holds, decoded: text files as they are, notebooks as their JSON strings, workbooks as
    the XML of every part with entities resolved (Word documents alike)."""
    if path.suffix == ".ipynb":
        strings: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, str):
                strings.append(node)
            elif isinstance(node, dict):
                for k, v in node.items():
                    strings.append(k)
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(json.loads(path.read_text(encoding="utf-8")))
        return "\n".join(strings)
    if path.suffix in (".xlsx", ".docx"):         # the 督办单 and the 情况通报 are zipped XML too
        with zipfile.ZipFile(path) as z:
            return "\n".join(html.unescape(z.read(n).decode("utf-8", "replace")) for n in z.namelist())
    return path.read_bytes().decode("utf-8", "replace")


@pytest.mark.slow
def test_hostile_run_exits_zero_without_traceback(hostile_run: HostileRun):
    result = hostile_run.result
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr
    assert (hostile_run.reports / CYCLE / "report.html").is_file()


@pytest.mark.slow
def test_hostile_run_never_writes_into_the_raw_folder(hostile_run: HostileRun):
    assert hostile_run.raw_after == hostile_run.raw_before


@pytest.mark.slow
def test_hostile_run_findings_name_the_broken_files(hostile_run: HostileRun):
    findings = pd.read_parquet(hostile_run.root / "processed" / CYCLE / "findings.parquet")
    got = set(zip(findings["code"], findings["file"].fillna("")))
    for code, file in [("not_a_workbook", "台账.xlsx"), ("encrypted", "加密台账.xlsx"), ("empty_workbook", "空白.xlsx"),
                       ("cell_out_of_range", "市市场监管局/6月/台账.xlsx"), ("duplicate_ledger", "市市场监管局/6月/台账.xlsx"),
                       ("unit_unknown", "{{7*7}}$\\alpha$某某小额贷款公司.xlsx"), ("bank_unknown", "工行大同分行信贷台账.xlsx")]:
        assert (code, file) in got, (code, file)
    assert "read_failed" not in set(findings["code"])
    assert not findings["file"].fillna("").str.startswith("~$").any()
    files = pd.read_parquet(hostile_run.root / "processed" / CYCLE / "files.parquet").set_index("file")
    for name in ("市交通局.xls", "市国资委全面清单.csv", "<img src=x onerror=alert(1)>市税务局.xlsx",
                 "<script>alert(1)市人社局.xlsx"):
        assert bool(files.loc[name, "used"]), name


@pytest.mark.slow
def test_hostile_run_html_is_inert(hostile_run: HostileRun):
    """No script, no event handler, no javascript: link, no foreign image, no Markdown or template rendering in
    anything rendered as HTML; and the payloads did reach the report, as text."""
    checked = 0
    for path in hostile_run.files():
        for where, text in html_parts(path):
            checked += 1
            at = f"{path.relative_to(hostile_run.reports)} {where}"
            assert "<script" not in text.lower(), at
            parsed = parse_html(text)
            for tag, attrs in parsed.tags:
                assert tag not in ("script", "iframe", "object", "embed", "base", "form"), (at, tag)
                for name, value in attrs.items():
                    assert not name.lower().startswith("on"), (at, tag, name)
                    if name.lower() in ("href", "src", "action", "formaction", "xlink:href"):
                        assert not (value or "").strip().lower().startswith(("javascript:", "vbscript:")), (at, value)
                if tag == "img":
                    assert (attrs.get("src") or "").startswith("data:image/"), (at, attrs)
            assert "<strong>bold</strong>" not in text and "<em>" not in text, at       # no Markdown rendering
            if where == "page":
                assert html_structure_problems(text) == [], at      # no element left open by what a unit typed
    assert checked > 40
    # the report and the analyst's page beside it (which holds the findings row by row)
    shown = "".join("".join(parse_html((hostile_run.reports / CYCLE / name).read_text(encoding="utf-8")).text)
                    for name in ("report.html", "analyst.html"))
    for payload in hc.PAYLOADS:                  # shown literally: {{7*7}} not evaluated, $\alpha$ not typeset
        assert payload in shown, f"{payload!r} did not reach the report as text"


@pytest.mark.slow
def test_hostile_run_workbooks_hold_payloads_as_text(hostile_run: HostileRun):
    workbooks = [p for p in hostile_run.files() if p.suffix == ".xlsx"]
    assert any(p.name == "consolidated.xlsx" for p in workbooks) and len(workbooks) > 50
    found = 0
    for path in workbooks:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    xml = html.unescape(z.read(name).decode("utf-8"))
                    for formula in re.findall(r"<(?:\w+:)?f(?:\s[^>]*)?>(.*?)</(?:\w+:)?f>", xml, re.S):
                        assert not any(p in formula for p in hc.PAYLOADS), (path.name, formula)
        if not any(p in all_text(path) for p in hc.PAYLOADS):
            continue
        wb = load_workbook(path)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str) and any(p in cell.value for p in hc.PAYLOADS):
                        found += 1
                        assert cell.data_type == "s", (path.name, ws.title, cell.coordinate)
                        if cell.value.lstrip().startswith(("=", "+", "-", "@")):
                            assert cell.quotePrefix, (path.name, ws.title, cell.coordinate)
    assert found >= len(hc.PAYLOADS)                    # the payloads reached the workbooks


@pytest.mark.slow
def test_hostile_run_shows_no_personal_data(hostile_run: HostileRun):
    """No planted resident ID whole and no planted individual's name whole, in any file under reports/."""
    people = hostile_run.planted["people"]
    for path in hostile_run.files():
        text = all_text(path)
        for name, rid in people.items():
            assert rid not in text, (str(path.relative_to(hostile_run.reports)), name)
            assert name not in text, (str(path.relative_to(hostile_run.reports)), name)
    analyst = (hostile_run.reports / CYCLE / "analyst.html").read_text(encoding="utf-8")
    rid = people["王建国"]
    assert f"{rid[:6]}********{rid[-4:]}" in analyst              # the finding about him is there, masked


@pytest.mark.slow
def test_hostile_run_masks_resident_ids_typed_into_free_text(hostile_run: HostileRun):
    """A resident ID a unit typed into a progress text (or a file name) is masked in every output too."""
    rid = hostile_run.planted["free_text_id"]
    leaks = [str(p.relative_to(hostile_run.reports)) for p in hostile_run.files() if rid in all_text(p)]
    assert not leaks, leaks
