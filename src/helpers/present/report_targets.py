"""Presenting every target of the plan for leaders: one line per target (what the plan promises, the figure this
cycle, the target, the due date, the light and how the figure was obtained), in the report and as a sheet of the
consolidated workbook. Formats the finished `indicators` table only (its headline rows, scope ``target``, written
by `reported_targets.with_targets`); a target without a figure shows 未报送.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from ..plan.model import Plan
from ..reconcile.lights import LIGHT_LABELS
from .report import esc, light_chip, table
from .report_indicators import fmt_value
from ..indicators.reported_targets import NOT_REPORTED, NOT_YET_DUE, TARGET_SCOPE, UNIT_SCOPE
from .merged_cells import merge
from .templates import (BODY_FONT, BORDER, HEADER_ROW, TITLE_FONT, WRAP_CENTRE, WRAP_TOP, fit_row_height,
                        setup_print, write_header_row, write_text)

__all__ = ["targets_frame", "targets_html", "add_targets_sheet"]

SOURCE_LABELS = {"derived": "台账计算", "reported": "单位报送"}
# the light beside the target: on a phone the table scrolls sideways, and the light is what a leader looks for
COLUMNS = {"no": "序号", "text": "目标", "light_text": "状态", "shown": "本期数值", "target_shown": "目标值", "due": "到期日",
           "source": "来源", "basis": "依据"}
WIDTHS = {"no": 6, "text": 44, "source": 16, "shown": 16, "target_shown": 16, "due": 12, "light_text": 10, "basis": 54}
LIGHT_FILLS = {"red": "FFFFC7CE", "orange": "FFFCD5B4", "yellow": "FFFFEB9C", "green": "FFC6EFCE"}


def _shown(value: Any, unit: Any) -> str:
    if value is None or pd.isna(value):
        return NOT_REPORTED
    if unit == "是否完成":
        return "已完成" if value >= 1 else "未完成"
    if unit in ("个单位", "家"):
        return f"{value:g} {'个' if unit == '个单位' else '家'}达到"
    if isinstance(unit, str) and (unit.startswith("次") or unit == "项"):
        return f"{value:g} {unit}"
    return fmt_value(value, unit)


def _light_text(status: Any, basis: Any, value: Any) -> str:
    if isinstance(status, str) and status in LIGHT_LABELS:
        return LIGHT_LABELS[status]
    if value is None or pd.isna(value):
        return NOT_REPORTED
    if NOT_YET_DUE in str(basis or ""):
        return NOT_YET_DUE
    return "仅监测"


def targets_frame(plan: Plan, indicators: pd.DataFrame | None) -> pd.DataFrame:
    """One row per target of the plan, in plan order: no, id, text, source (台账计算 / the reporting units),
    shown, target_shown, due, status, light_text, basis."""
    rows = indicators if indicators is not None and "target_id" in indicators.columns else pd.DataFrame(
        columns=["target_id", "scope", "value", "target", "unit", "status", "basis", "due"])
    heads = {r["target_id"]: r for r in rows[rows["scope"] == TARGET_SCOPE].to_dict("records")}
    out = []
    for no, target in enumerate(plan.targets, start=1):
        row = heads.get(target["id"], {})
        source = target["source"]
        who = SOURCE_LABELS["derived"] if source["kind"] == "derived" else "、".join(
            dict.fromkeys(plan.unit_name(u) for u in source["reported_by"][:2])) + (
            f"等 {len(source['reported_by'])} 个单位" if len(source["reported_by"]) > 2 else "") + "报送"
        value, unit = row.get("value"), row.get("unit")
        due = row.get("due") or (target["due"].isoformat() if target.get("due") else None)
        out.append({
            "no": no, "id": target["id"], "text": target.get("text"), "source": who,
            "shown": _shown(value, unit),
            "target_shown": "—" if row.get("target") is None or pd.isna(row.get("target")) else
            (f"{row['target']:g} {'个' if unit == '个单位' else '家'}" if unit in ("个单位", "家")
             else _shown(row["target"], unit)),
            "due": due or "—", "status": row.get("status") if isinstance(row.get("status"), str) else None,
            "light_text": _light_text(row.get("status"), row.get("basis"), value),
            "basis": row.get("basis") or f"{NOT_REPORTED}：本期没有该目标的数据",
        })
    return pd.DataFrame(out, columns=["no", "id", "text", "source", "shown", "target_shown", "due", "status",
                                      "light_text", "basis"])


def unit_targets_html(plan: Plan, indicators: pd.DataFrame | None, unit_id: str) -> str | None:
    """The targets `unit_id` reports itself, with this cycle's figure, target, due date, light and basis (its own
    row of a target several units report, else the target's row); None when it reports none."""
    mine = plan.reported_targets(unit_id)
    if not mine:
        return None
    rows = indicators if indicators is not None and "target_id" in indicators.columns else pd.DataFrame(
        columns=["target_id", "scope", "scope_id", "value", "target", "unit", "status", "basis", "due"])
    name = plan.unit_name(unit_id)
    out = []
    for target in mine:
        found = rows[(rows["target_id"] == target["id"]) & (
            (rows["scope"] == TARGET_SCOPE) if len(target["source"]["reported_by"]) == 1
            else (rows["scope"] == UNIT_SCOPE) & (rows["scope_id"] == name))]
        row = found.iloc[-1].to_dict() if len(found) else {}
        value, unit = row.get("value"), row.get("unit") or target.get("unit")
        threshold = target.get("threshold")
        out.append({
            "text": target.get("text"), "shown": _shown(value, unit),
            "target_shown": "—" if threshold is None else _shown(float(threshold), target.get("unit")),
            "due": row.get("due") or (str(target["due"])[:10] if target.get("due") else "—"),
            "status": row.get("status") if isinstance(row.get("status"), str) else None,
            "light_text": _light_text(row.get("status"), row.get("basis"), value),
            "basis": row.get("basis") or f"{NOT_REPORTED}：本期没有该目标的数值，请在任务进展台账的「指标」表填写",
        })
    frame = pd.DataFrame(out)
    frame = frame.assign(light_text=[light_chip(s, t) if isinstance(s, str) else esc(t)
                                     for s, t in zip(frame["status"], frame["light_text"])])
    return table(frame, {"text": "目标", "shown": "本期数值", "target_shown": "目标值", "due": "到期日",
                         "light_text": "状态", "basis": "依据"}, html_columns=["light_text"],
                 numeric=["shown", "target_shown"])


def targets_html(plan: Plan, indicators: pd.DataFrame | None) -> str:
    """The report's target section: counts by light, the table of every target, and the units' own figures of
    targets several units report."""
    frame = targets_frame(plan, indicators)
    if not len(frame):
        return '<p class="muted">计划未设量化目标。</p>'
    counts = frame["light_text"].value_counts()
    summary = "、".join(f"{esc(k)} {v} 项" for k, v in counts.items())
    shown = frame.assign(light_text=[light_chip(s, t) if isinstance(s, str) else esc(t)
                                     for s, t in zip(frame["status"], frame["light_text"])])
    parts = [f"<p>计划共 {len(frame)} 项量化目标：{summary}。</p>",
             table(shown, COLUMNS, html_columns=["light_text"], numeric=["shown", "target_shown"])]
    if indicators is not None and "target_id" in indicators.columns:
        units = indicators[indicators["scope"] == UNIT_SCOPE]
        for target_id, group in units.groupby("target_id", sort=False):
            text = next((t.get("text") for t in plan.targets if t["id"] == target_id), target_id)
            detail = group.assign(
                shown=[_shown(v, u) for v, u in zip(group["value"], group["unit"])],
                light_text=[light_chip(s) if isinstance(s, str) else esc(_light_text(s, b, v))
                            for s, b, v in zip(group["status"], group["basis"], group["value"])])
            parts += [f"<h4>{esc(str(text).rstrip('。'))}：各单位报送</h4>",
                      table(detail, {"scope_id": "单位", "shown": "本期数值", "light_text": "状态", "basis": "依据"},
                            html_columns=["light_text"], numeric=["shown"])]
    return "".join(parts)


def add_targets_sheet(wb: Workbook, plan: Plan, indicators: pd.DataFrame | None, cycle: str) -> None:
    """A 目标完成情况 sheet after the lists: the same rows as the report's target section, the light as the
    状态 cell's colour."""
    frame = targets_frame(plan, indicators)
    if not len(frame):
        return
    ws = wb.create_sheet("目标完成情况")
    roles = list(COLUMNS)
    for col, role in enumerate(roles, start=1):
        ws.column_dimensions[get_column_letter(col)].width = WIDTHS[role]
    title = write_text(ws.cell(1, 1), f"{plan.title}量化目标完成情况")
    title.font, title.alignment = TITLE_FONT, WRAP_CENTRE
    merge(ws, 1, 1, 1, len(roles))
    ws.row_dimensions[1].height = 36
    write_text(ws.cell(2, 1), f"报告期：{cycle}；“未报送”表示本期没有该目标的数据，“未到期”表示尚未达到但未到到期日。"
               ).font = Font(name=BODY_FONT.name, size=9.5)
    merge(ws, 2, 1, 2, len(roles))
    write_header_row(ws, HEADER_ROW, list(COLUMNS.values()))
    widths = {col: WIDTHS[role] for col, role in enumerate(roles, start=1)}
    for row, record in enumerate(frame.to_dict("records"), start=HEADER_ROW + 1):
        for col, role in enumerate(roles, start=1):
            cell = write_text(ws.cell(row, col), record[role])
            cell.font, cell.border = BODY_FONT, BORDER
            cell.alignment = WRAP_TOP if role in ("text", "basis", "source") else WRAP_CENTRE
            if role == "light_text" and record["status"] in LIGHT_FILLS:
                cell.fill = PatternFill("solid", fgColor=LIGHT_FILLS[record["status"]])
        fit_row_height(ws, row, widths)
    ws.freeze_panes = ws.cell(HEADER_ROW + 1, 1).coordinate
    setup_print(ws, HEADER_ROW, title=f"目标完成情况（{cycle}）")
