"""The analyst's page beside the report (`reports/<cycle>/analyst.html`): what the office works through before the
report goes out, kept out of the leaders' report. The units still missing or late (to chase by phone), and every
data-quality finding down to its file, sheet, row and column.

Formats finished frames only (`submissions`, `findings` of one cycle, and the year's `files` for the last ledger a
unit sent)."""

from __future__ import annotations

import pandas as pd

from ..ingest.formats import LEDGER_KIND_LABELS
from ..plan.model import Plan
from .report import esc, findings_summary, findings_table, page, table

ANALYST_PAGE = "analyst.html"


def chase_table(submissions: pd.DataFrame, year_files: pd.DataFrame | None = None) -> str:
    """The ledgers still missing or sent late, one row each: unit, ledger, what is wrong, and the last ledger the
    unit sent this year (its file and 填报日期), to tell it by phone what is expected."""
    received = submissions["received"].astype(bool)
    missing = submissions[~received].assign(what="未报送")
    late = submissions[received & (submissions["on_time"] == False)]  # noqa: E712 (nullable boolean)
    late = late.assign(what="迟报（填报日期 " + late["report_date"].astype(str) + "）")
    frame = pd.concat([missing, late], ignore_index=True)
    if not len(frame):
        return '<p class="muted">所有应报台账均已按时收到。</p>'
    last: dict[str, str] = {}
    if year_files is not None and len(year_files) and {"unit_id", "file", "cycle"} <= set(year_files.columns):
        sent = year_files[year_files["unit_id"].notna()].sort_values("cycle", kind="stable")
        for row in sent.itertuples():
            last[row.unit_id] = f"{row.cycle}：{row.file}"
    frame = frame.assign(kind_label=frame["kind"].map(LEDGER_KIND_LABELS),
                         last=[last.get(u, "本年度未收到") for u in frame["unit_id"]])
    return table(frame, {"unit": "单位", "kind_label": "台账", "what": "情况", "last": "最近一次报送（周期：文件）"})


def analyst_page(plan: Plan, cycle: str, submissions: pd.DataFrame, findings: pd.DataFrame | None,
                 year_files: pd.DataFrame | None = None) -> str:
    body = [
        f"<h1>{esc(plan.title)}</h1>",
        f'<p class="sub">分析人员工作页 · 报送日 {esc(cycle)} · 仅供内部核对，不随报告外发</p>',
        "<h2>一、需催报的单位</h2>", chase_table(submissions, year_files),
        "<h2>二、数据质量问题汇总</h2>", findings_summary(findings),
        "<h2>三、数据质量问题明细</h2>", findings_table(findings),
    ]
    return page("".join(body), f"{plan.title} {cycle} 分析人员工作页")


def analyst_link(findings: pd.DataFrame | None) -> str:
    """The leaders' report's pointer to the page: how many findings it holds, no row-level detail."""
    n = 0 if findings is None else len(findings)
    return (f'<p>以上为数据质量问题的分类汇总；逐条明细（文件、工作表、行、列，共 {n} 条）和需催报单位名单见同一文件夹中的'
            f"分析人员工作页 {esc(ANALYST_PAGE)}（仅供内部核对，不随报告外发）。</p>")
