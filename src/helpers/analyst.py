"""The analyst's page beside the report (`reports/<cycle>/analyst.html`): what the office works through before the
report goes out, kept out of the leaders' report. The units still missing or late (to chase by phone), and every
data-quality finding down to its file, sheet, row and column.

Formats finished frames only (`submissions`, `findings` of one cycle, and the year's `files` for the last ledger a
unit sent)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .formats import LEDGER_KIND_LABELS
from .plan import Plan
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


def write_analyst_page(run) -> Path:
    """Write `reports/<cycle>/analyst.html` from the cycle's `submissions` and `findings`; the year's `files`
    tables say which ledger each unit sent last."""
    submissions = run.catalog.read(run.cycle, "submissions")
    findings = run.catalog.read(run.cycle, "findings")
    year_files = run.catalog.load_year("files", run.cycle, columns=["unit_id", "file"])
    html = analyst_page(run.plan, run.cycle, submissions, findings, year_files)
    return run.catalog.save_text(html, run.folders.cycle_reports(run.cycle) / ANALYST_PAGE)


def analyst_link(findings: pd.DataFrame | None) -> str:
    """The leaders' report's pointer to the page: how many findings it holds, no row-level detail."""
    n = 0 if findings is None else len(findings)
    return (f'<p>以上为数据质量问题的分类汇总；逐条明细（文件、工作表、行、列，共 {n} 条）和需催报单位名单见同一文件夹中的'
            f"分析人员工作页 {esc(ANALYST_PAGE)}（仅供内部核对，不随报告外发）。</p>")


# ---------------------------------------------------------------------------------------------------------------
# What `taizhang run` says at the end


def terminal_summary(run) -> list[str]:
    """Lines for the terminal after a run: what was read (files, unreadable ones with their senders), what needs
    the analyst's attention, and where each output went."""
    from .notices import BULLETIN_NAME, NOTICES_DIR

    cat = run.catalog
    files, subs = cat.read(run.cycle, "files"), cat.read(run.cycle, "submissions")
    findings, status = cat.read(run.cycle, "findings"), cat.read(run.cycle, "task_status")
    lines = []
    if files is not None:
        unread = files[~files["used"].astype(bool) | files["kinds"].isna() | (files["kinds"].fillna("") == "")]
        lines.append(f"读取：本期 {len(files)} 个文件，{len(files) - len(unread)} 个识别为台账")
        for row in unread.head(10).itertuples():
            sender = row.unit if isinstance(row.unit, str) and row.unit else "单位未识别"
            lines.append(f"  无法读取或未识别：{row.file}（{sender}）")
        if len(unread) > 10:
            lines.append(f"  另有 {len(unread) - 10} 个，见 {ANALYST_PAGE}")
    attention = []
    if subs is not None and len(subs):
        received = subs["received"].astype(bool)
        late = int((received & (subs["on_time"] == False)).sum())  # noqa: E712
        if (~received).sum():
            attention.append(f"未报送 {int((~received).sum())} 份")
        if late:
            attention.append(f"迟报 {late} 份")
    if status is not None and len(status):
        red = int((status["light"] == "red").sum())
        if red:
            attention.append(f"红灯 {red} 项")
    if findings is not None and len(findings):
        errors = int((findings["severity"] == "error").sum())
        warnings = int((findings["severity"] == "warning").sum())
        if errors or warnings:
            attention.append(f"数据问题：错误 {errors} 条、警告 {warnings} 条")
    lines.append("需要注意：" + ("；".join(attention) + f"（明细见 {ANALYST_PAGE}）" if attention else "无"))
    base = run.folders.cycle_reports(run.cycle)
    outputs = [("报告（领导阅）", base / "report.html"), ("分析人员工作页", base / ANALYST_PAGE),
               ("汇总表（报上级）", base / "consolidated.xlsx"), ("单位反馈页", base / "units"),
               ("三色督办单", base / NOTICES_DIR), ("情况通报草稿", base / BULLETIN_NAME)]
    lines.append("输出：")
    for label, path in outputs:
        if path.is_dir():
            lines.append(f"  {label}：{path}/（{sum(1 for p in path.iterdir() if p.is_file())} 个文件）")
        elif path.is_file():
            lines.append(f"  {label}：{path}")
    nxt = sorted(p for p in run.folders.reports.glob("*/templates") if p.parent.name > run.cycle)
    if nxt:
        lines.append(f"  下期填报模板：{nxt[0]}/（{sum(1 for _ in nxt[0].iterdir())} 个文件）")
    return lines
