"""The analyst's page beside the report (`reports/<cycle>/analyst.html`): what the office works through before the
report goes out, kept out of the leaders' report. The units still missing or late (to chase by phone), and every
data-quality finding down to its file, sheet, row and column.

Formats finished frames only (`submissions`, `findings` of one cycle, and the year's `files` for the last ledger a
unit sent and the 联系人 and 电话 its ledgers give: a phone is a personal identifier, shown here and nowhere else)."""

from __future__ import annotations

import re

import pandas as pd

from ..ingest.formats import LEDGER_KIND_LABELS
from ..plan.model import Plan
from .report import esc, findings_summary, findings_table, page, table

ANALYST_PAGE = "analyst.html"
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def chase_table(submissions: pd.DataFrame, year_files: pd.DataFrame | None = None) -> str:
    """The ledgers still missing or sent late, one row each: unit, ledger, what is wrong, the last ledger the unit
    sent this year (its cycle and file) and the 联系人 and 电话 of its latest ledger that gives them (this cycle's,
    or an earlier one's when it sent nothing now), to call it before the report goes out."""
    received = submissions["received"].astype(bool)
    missing = submissions[~received].assign(what="未报送")
    late = submissions[received & (submissions["on_time"] == False)]  # noqa: E712 (nullable boolean)
    late = late.assign(what="迟报（填报日期 " + late["report_date"].astype(str) + "）")
    frame = pd.concat([missing, late], ignore_index=True)
    if not len(frame):
        return '<p class="muted">所有应报台账均已按时收到。</p>'
    last, contact, phone = latest_contacts(year_files)
    frame = frame.assign(kind_label=frame["kind"].map(LEDGER_KIND_LABELS),
                         last=[last.get(u, "本年度未收到") for u in frame["unit_id"]],
                         contact=[_whole(esc(contact[u])) if u in contact else "—" for u in frame["unit_id"]],
                         phone=[_call(phone[u]) if u in phone else "—" for u in frame["unit_id"]])
    return table(frame, {"unit": "单位", "kind_label": "台账", "what": "情况", "last": "最近一次报送（周期：文件）",
                         "contact": "联系人", "phone": "电话"}, html_columns=["contact", "phone"])


def _whole(html: str) -> str:
    """Kept on one line: a name or a number broken over lines on a phone is misread."""
    return f'<span style="white-space:nowrap">{html}</span>'


def _call(phone: str) -> str:
    """The number as a link that dials it from the analyst's phone (digits only in the link)."""
    digits = re.sub(r"[^0-9+]", "", phone.translate(_FULL_WIDTH_DIGITS))
    shown = _whole(esc(phone))
    return f'<a href="tel:{digits}">{shown}</a>' if len(digits) >= 5 else shown


def latest_contacts(year_files: pd.DataFrame | None) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """unit_id → its last file this year (「周期：文件」), and → the 联系人 and → the 电话 of its latest file that
    gives one (files of a cycle in the order of their 填报日期)."""
    last: dict[str, str] = {}
    contact: dict[str, str] = {}
    phone: dict[str, str] = {}
    if year_files is None or not len(year_files) or not {"unit_id", "file", "cycle"} <= set(year_files.columns):
        return last, contact, phone
    sent = year_files[year_files["unit_id"].notna()]
    order = ["cycle", "report_date"] if "report_date" in sent.columns else ["cycle"]
    sent = sent.sort_values(order, kind="stable", na_position="first")
    for row in sent.to_dict("records"):
        unit = row["unit_id"]
        last[unit] = f"{row['cycle']}：{row['file']}"
        for column, found in (("contact", contact), ("phone", phone)):
            value = row.get(column)
            if isinstance(value, str) and value.strip():
                found[unit] = value.strip()
    return last, contact, phone


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
