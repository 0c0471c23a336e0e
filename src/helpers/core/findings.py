"""Findings: every problem met while reading and reconciling, in Chinese, with its place.

A finding never stops a cycle. Stages return findings beside their frames; the pipeline collects them into
`findings.parquet` (columns `FINDING_COLUMNS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

if TYPE_CHECKING:
    import pandas as pd

SEVERITIES = ("error", "warning", "info")
SEVERITY_LABELS = {"error": "错误", "warning": "警告", "info": "提示"}
FINDING_COLUMNS = ["severity", "code", "file", "sheet", "row", "column", "unit", "message"]

# What each finding code is about, as the report and the notebooks name it (every code the helpers use has one; a
# test keeps them in step).
CODE_LABELS = {
    # files
    "archive_not_read": "压缩包未解压",
    "cycle_folder_missing": "本期文件夹不存在",
    "empty_file": "空文件",
    "encrypted": "工作簿已加密",
    "extension_mismatch": "扩展名与内容不符",
    "file_too_large": "文件过大",
    "file_unreadable": "文件无法打开",
    "not_a_ledger": "非台账文件",
    "not_a_workbook": "不是工作簿",
    "read_failed": "文件读取失败",
    "text_as_xls": "实为文本的 .xls 文件",
    "unsupported_format": "不支持的文件格式",
    "xls_unreadable": "旧版 .xls 无法读取",
    "csv_encoding": "CSV 编码无法识别",
    "csv_malformed": "CSV 格式有误",
    # workbooks and sheets
    "empty_workbook": "空工作簿",
    "workbook_not_recognised": "无法识别台账类型",
    "workbook_too_large": "工作簿过大",
    "too_many_sheets": "工作表过多",
    "sheet_not_recognised": "无法识别的工作表",
    "sheet_too_large": "工作表过大",
    "sheet_unreadable": "工作表无法读取",
    "not_a_worksheet": "非数据工作表",
    "hidden_sheet": "隐藏的工作表",
    "hidden_rows": "隐藏的行",
    "hidden_columns": "隐藏的列",
    "bad_cell_reference": "单元格位置无效",
    "cell_out_of_range": "超出读取范围的单元格",
    "formula_no_cache": "公式没有计算结果",
    "total_row_skipped": "合计/小计行",
    "missing_column": "缺少必填列",
    "missing_value": "必填项为空",
    "bad_value": "无法识别的取值",
    "bad_identifier": "证件号码有误",
    # who sent what, and when
    "unit_unknown": "无法确定填报单位",
    "unit_alias_unknown": "填报单位名称不规范",
    "bad_report_date": "填报日期无法识别",
    "report_date_unknown": "未填填报日期",
    "ledger_missing": "未报送台账",
    "ledger_late": "迟报",
    "ledger_unexpected": "计划未要求的台账",
    "duplicate_ledger": "重复报送",
    # task progress
    "task_text_edited": "任务内容被改写",
    "task_no_mismatch": "序号与任务不符",
    "task_unmatched": "无法对应计划任务",
    "task_matched_by_evidence": "按工作要求等对应任务",
    "manual_mapping": "人工对应",
    "report_date_year_inferred": "填报日期未写年份",
    "column_repeated": "同名列多列",
    "cycle_sparse": "本期台账过少",
    "xml_unsafe": "XML 含实体或 DTD",
    "task_not_responsible": "非责任单位填报",
    # reported targets (指标 sheet)
    "target_unknown": "无法对应计划目标",
    "target_not_reporter": "非报送单位填报目标",
    "target_duplicate": "目标重复填报",
    "target_cumulative_decreased": "累计值下降",
    "target_not_reported": "目标未报送",
    # lending ledgers
    "bank_name_blank": "机构名称为空",
    "bank_unknown": "无法识别的银行",
    "bank_plan_unsupported": "暂不支持的银行计划指标",
    "summary_not_a_bank": "主要指标中的非银行机构",
    "summary_other_bank": "代报其他银行的主要指标",
    "loans_sender_not_bank": "贷款明细无法归属银行",
    "applications_sender_not_bank": "首贷申请无法归属银行",
    "negative_value": "指标为负数",
    "part_above_total": "分项大于总额",
    "baseline_missing": "缺少基期数据",
    "county_unknown": "无法识别的县区",
    "duplicate_loan": "重复的贷款",
    "loan_amount_not_positive": "发放金额不为正",
    "loan_outside_cycle": "发放日期不在本期",
    "maturity_before_loan": "到期日早于发放日",
    "renewal_claimed_first_loan": "续贷报为首贷",
    "first_loan_had_earlier_loan": "首贷户此前已有贷款",
    "first_loan_claimed_twice": "首贷户被多家银行填报",
    "first_loan_count_differs": "首贷户数与明细不符",
    "sme_households_below_detail": "普惠户数少于明细",
    "date_after_report": "日期晚于报送日",
    "reply_before_application": "回复早于申请",
    "decision_without_reply_date": "有办理结果但无回复日期",
    "calendar_unavailable": "工作日历未覆盖",
    "noloan_listed_twice": "无贷户重复列入",
    "noloan_county_mismatch": "无贷户县区与报送单位不符",
    "noloan_county_unknown": "无法确定无贷户所属县区",
    # guarantees
    "guarantee_institution_unknown": "无法识别的担保机构",
    "guarantee_institution_duplicate": "担保机构重复",
    "guarantee_summary_missing": "缺少担保机构概况",
    "guarantee_detail_missing": "缺少担保明细",
    "guarantee_detail_unassigned": "担保明细无法归属机构",
    "guarantee_balance_mismatch": "在保余额与明细不符",
    "guarantee_count_mismatch": "在保户数与明细不符",
    "impossible_value": "取值不合理",
    "rate_ambiguous": "比例含义不明",
    "risk_share_missing": "分险比例为空",
}


def code_label(code: str) -> str:
    """The Chinese name of a finding code (an unknown code, from tables written by another version, as 其他问题)."""
    return CODE_LABELS.get(code, "其他问题")


@dataclass(frozen=True)
class Finding:
    """One problem. `row` is the 1-based row in the sheet as Excel shows it; `file` is relative to the raw folder."""

    severity: str
    code: str
    message: str
    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")


def error(code: str, message: str, **place) -> Finding:
    return Finding("error", code, message, **place)


def warning(code: str, message: str, **place) -> Finding:
    return Finding("warning", code, message, **place)


def info(code: str, message: str, **place) -> Finding:
    return Finding("info", code, message, **place)


def to_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """Findings as a frame with `FINDING_COLUMNS`, sorted for a stable, readable order."""
    import pandas as pd   # here, not above: checking a run's arguments needs no pandas (`runs`)

    # attribute by attribute: dataclasses.asdict deep-copies each finding, which costs more than the frame
    rows = [(f.severity, f.code, f.file, f.sheet, f.row, f.column, f.unit, f.message) for f in findings]
    frame = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    frame = frame.astype({"row": "Int64"})
    for col in ("severity", "code", "file", "sheet", "column", "unit", "message"):
        frame[col] = frame[col].astype("string")
    order = frame["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    return (
        frame.assign(_order=order)
        .sort_values(["_order", "file", "sheet", "row", "code", "message"], na_position="last", kind="stable")
        .drop(columns="_order")
        .drop_duplicates()
        .reset_index(drop=True)
    )


def place_text(finding: Finding) -> str:
    """'文件 › 工作表 › 第 5 行 › 列' for messages shown to people."""
    parts = []
    if finding.file:
        parts.append(finding.file)
    if finding.sheet:
        parts.append(f"工作表「{finding.sheet}」")
    if finding.row is not None:
        parts.append(f"第 {finding.row} 行")
    if finding.column:
        parts.append(f"「{finding.column}」列")
    return " › ".join(parts)


def record_place_text(record: Mapping[str, Any], file_text: Callable[[str], str] = str) -> str:
    """'文件 「工作表」 第 5 行 「列」列' for a row of `findings.parquet` shown in a table (blank parts left out);
    `file_text` shows the file name (the unit pages mask identifiers in it)."""
    parts = []
    if not _blank(record.get("file")):
        parts.append(file_text(str(record["file"])))
    if not _blank(record.get("sheet")):
        parts.append(f"「{record['sheet']}」")
    if not _blank(record.get("row")):
        parts.append(f"第 {int(record['row'])} 行")
    if not _blank(record.get("column")):
        parts.append(f"「{record['column']}」列")
    return " ".join(parts)


def _blank(value: Any) -> bool:
    """None, NaN, pandas' NA or text of only spaces (what a row read back from Parquet holds for no value)."""
    if value is None or (isinstance(value, float) and value != value):
        return True
    if isinstance(value, str):
        return not value.strip()
    from pandas import isna

    try:
        return bool(isna(value))
    except (TypeError, ValueError):
        return False
