"""Targets units report themselves, and one headline row per target of the plan.

A target whose plan entry says `source: {reported_by: [...], value: ...}` (docs/plan-format.md) is reported in the
指标 sheet of the reporter's task ledger; `clean_reported` types those rows (text numbers, 亿元/万元/元,
percentages, 已完成/未完成) and checks who sent them, `target_rows` turns the year's reports into indicator rows
with value, target, due date, status and basis. Every target of the plan, derived ones included, also gets one
headline row (scope ``target``, scope_id = the target id): what the report's target section and the consolidated
workbook list, so that a target nobody reported shows as 未报送 instead of being absent.

Status follows the one rule of every target (`target_rules.judge`, light bands and before-due rule from the plan):
a reported target not met before its due date (or the end of its counting period) is shown as not yet due, or
judged against its time-proportional path, rather than missed (DOMAIN.md §4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..core import findings as fd
from .targets import CITY, INDICATOR_COLUMNS
from .target_rules import judge as judge_target, light_bands, status_for
from ..plan.model import Plan
from ..core.values import ValueProblem, amount_factor, clean_text, parse_number, text_key

__all__ = ["REPORTED_COLUMNS", "TARGET_COLUMNS", "clean_reported", "parse_reported_value", "period_end",
           "judge", "target_rows", "headline_rows"]

REPORTED_COLUMNS = ["target_id", "unit_id", "value", "note", "file", "sheet", "row"]
TARGET_COLUMNS = [*INDICATOR_COLUMNS, "target_id", "due"]   # the indicators table with its targets named
TARGET_SCOPE = "target"     # the one headline row of each target
UNIT_SCOPE = "unit"         # one row per reporting unit of a target several units report
DONE_WORDS = {"已完成": 1.0, "完成": 1.0, "已建成": 1.0, "已出台": 1.0, "已印发": 1.0, "已公示": 1.0, "是": 1.0,
              "未完成": 0.0, "推进中": 0.0, "正常推进": 0.0, "未启动": 0.0, "否": 0.0, "滞后": 0.0}
NOT_YET_DUE = "未到期"
NOT_REPORTED = "未报送"
MEASURE_UNITS = {"比例": "%（可填 85% 或 0.85）", "是否完成": "已完成/未完成"}


def measure_unit_text(target: Mapping[str, Any]) -> str:
    """The 计量单位 shown to the reporter (how to fill 本期数值)."""
    unit = str(target.get("unit") or "")
    return MEASURE_UNITS.get(unit, unit)


# ---------------------------------------------------------------------------------------------------------------
# Reading the 指标 sheet


def parse_reported_value(raw: Any, target: Mapping[str, Any]) -> float | None:
    """A 本期数值 cell as a number in the target's unit, or None when blank; raises ValueProblem.

    万元 targets take "2000", "2,000万元", "0.2亿元", "20000000元"; 比例 targets "85%", "0.85" or "85" (a bare number
    above 1 is read as percent); 是否完成 targets 已完成/未完成 (and 是/否, 1/0); counts and others plain numbers."""
    text = clean_text(raw)
    if text is None:
        return None
    kind = target["source"]["value"]
    if kind == "done" or target.get("unit") == "是否完成":
        word = text_key(text)
        if word in DONE_WORDS:
            return DONE_WORDS[word]
        number = parse_number(text)
        if number not in (0.0, 1.0):
            raise ValueProblem(f"应填“已完成”或“未完成”，实为「{text}」")
        return number
    unit = str(target.get("unit") or "")
    if unit == "万元":
        factor = amount_factor(text)
        stripped = text
        for word in ("亿元", "万元", "千元", "元", "亿", "万"):
            stripped = stripped.replace(word, "")
        if "亿" in text and "亿元" not in text:
            factor = 10000.0
        elif "万" in text and "万元" not in text:
            factor = 1.0
        number = parse_number(stripped)
        return None if number is None else number * factor
    if unit == "比例":
        number = parse_number(text)
        if number is None:
            return None
        return number if "%" in text or "％" in text or number <= 1 else number / 100
    for word in (unit, "次", "项", "个"):
        if word and text.endswith(word):
            text = text[: -len(word)]
    return parse_number(text)


def _find_target(plan: Plan, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reported target a row names: by 目标代码, else by its text."""
    reported = plan.reported_targets()
    code = clean_text(record.get("target_id"))
    for target in reported:
        if code and code.strip() == target["id"]:
            return target
    key = text_key(record.get("text"))
    return next((t for t in reported if key and text_key(t.get("text")) == key), None)


def clean_reported(raw: pd.DataFrame | None, plan: Plan) -> tuple[pd.DataFrame, list[fd.Finding]]:
    """The 指标 rows of one cycle (`reported_targets_raw`: target_id, text, value, note, file, sheet, row,
    unit_id) typed: `REPORTED_COLUMNS`, one row per unit and target, value in the target's unit (None when left
    blank). Rows naming no target of the plan, sent by a unit that is not the target's reporter, or whose value
    does not parse become findings and are not counted."""
    out: list[fd.Finding] = []
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], dict] = {}
    records = [] if raw is None or not len(raw) else raw.to_dict("records")
    for record in records:
        place = {"file": record.get("file"), "sheet": record.get("sheet"), "row": record.get("row")}
        unit_id = record.get("unit_id")
        unit = plan.unit_name(unit_id) if isinstance(unit_id, str) else None
        target = _find_target(plan, record)
        if target is None:
            named = clean_text(record.get("target_id")) or clean_text(record.get("text")) or "（空）"
            out.append(fd.warning("target_unknown", f"指标表中的「{named}」不是计划中由单位报送的目标，未计入",
                                  column="目标代码", unit=unit, **place))
            continue
        if unit_id not in target["source"]["reported_by"]:
            reporters = "、".join(plan.unit_name(u) for u in target["source"]["reported_by"][:3])
            out.append(fd.warning("target_not_reporter",
                                  f"「{unit or '未识别单位'}」填报了目标「{target['id']}」，该目标由{reporters}"
                                  f"{'等' if len(target['source']['reported_by']) > 3 else ''}报送，未计入",
                                  column="目标代码", unit=unit, **place))
            continue
        try:
            value = parse_reported_value(record.get("value"), target)
        except ValueProblem as problem:
            out.append(fd.error("bad_value", f"目标「{target['id']}」的本期数值无法识别：{problem}",
                                column="本期数值", unit=unit, **place))
            continue
        key = (unit_id, target["id"])
        if key in seen:
            out.append(fd.warning("target_duplicate", f"目标「{target['id']}」填报了两行，采用后一行（第 "
                                  f"{record.get('row')} 行）", column="目标代码", unit=unit, **place))
        seen[key] = {"target_id": target["id"], "unit_id": unit_id, "value": value,
                     "note": clean_text(record.get("note")), **place}
    rows = list(seen.values())
    frame = pd.DataFrame(rows, columns=REPORTED_COLUMNS)
    return frame.astype({"value": "float64"}), out


# ---------------------------------------------------------------------------------------------------------------
# Status


def period_end(day: dt.date, period: str | None) -> dt.date | None:
    """Last day of the quarter or year holding `day`."""
    if period == "quarter":
        month = (day.month - 1) // 3 * 3 + 3
        return (dt.date(day.year, month, 1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    if period == "year":
        return dt.date(day.year, 12, 31)
    return None


def judge(plan: Plan, value: float | None, target: Mapping[str, Any], threshold: float | None, cycle: dt.date,
          due: dt.date | None) -> tuple[str | None, str]:
    """Status of a reported figure and a Chinese note on it (empty when there is nothing to add): the one rule of
    every target (`target_rules.judge`: light bands and the before-due rule from the plan), judged against `due`
    (the target's due date, or the end of the period a per-period figure is summed over)."""
    unit = str(target.get("unit") or "")
    status, _, note = judge_target(plan, target, value, threshold, cycle, due=due, fmt=lambda v: _fmt(v, unit))
    return status, note


# ---------------------------------------------------------------------------------------------------------------
# Indicator rows


def _fmt(value: float | None, unit: str) -> str:
    if value is None or pd.isna(value):
        return "—"
    if unit == "比例":
        return f"{value * 100:.1f}%"
    if unit == "是否完成":
        return "已完成" if value >= 1 else "未完成"
    if unit == "万元":
        return f"{value:,.2f} 万元"
    return f"{value:g} {unit}".strip()


def _target_text(target: Mapping[str, Any], due: dt.date | None) -> str:
    threshold = target.get("threshold")
    unit = str(target.get("unit") or "")
    if target.get("comparator") == "info" or threshold is None:
        return "目标：仅作监测" + (f"（参考 {_fmt(float(threshold), unit)}）" if threshold is not None else "")
    words = {">=": "不低于", ">": "高于", "<=": "不高于", "<": "低于"}
    word = words.get(str(target.get("comparator") or ">="), "达到")
    if unit == "是否完成":
        return f"目标：{due.isoformat()} 前完成" if due else "目标：完成"
    per = {"quarter": "每季度", "year": "每年"}.get(str(target.get("period")), "")
    return f"目标：{per}{word} {_fmt(float(threshold), unit)}" + (f"（{due.isoformat()} 前）" if due and not per else "")


def _unit_value(target: Mapping[str, Any], reports: pd.DataFrame, unit_id: str, cycle: dt.date
                ) -> tuple[float | None, str, list[fd.Finding], dt.date | None]:
    """One reporter's figure for `cycle` from the year's reports (`reports`: `REPORTED_COLUMNS` + cycle), a basis
    line, findings (a 累计 value that went down) and the due date it is judged against."""
    kind = target["source"]["value"]
    mine = reports[(reports["target_id"] == target["id"]) & (reports["unit_id"] == unit_id)]
    now = mine[mine["cycle"] == cycle.isoformat()]
    due = target.get("due")
    if kind == "per_cycle":
        start = _period_start(cycle, target.get("period"))
        counted = mine[(mine["cycle"] >= start.isoformat()) & mine["value"].notna()]
        end = period_end(cycle, target.get("period"))
        if not len(counted) and not len(now):
            return None, NOT_REPORTED, [], end
        value = float(counted["value"].sum())
        cycles = len(counted)
        label = {"quarter": "本季度", "year": "本年"}.get(str(target.get("period")), "本期")
        return value, f"{label}（{start.isoformat()} 起）{cycles} 期报送合计", [], end
    if not len(now) or now["value"].isna().all():
        return None, NOT_REPORTED, [], due
    row = now.iloc[-1]
    value = float(row["value"])
    out: list[fd.Finding] = []
    basis = f"本期报送（{row['file']}）"
    if kind in ("cumulative", "done"):
        before = mine[(mine["cycle"] < cycle.isoformat()) & mine["value"].notna()]
        if len(before):
            last = before.sort_values("cycle").iloc[-1]
            if value < float(last["value"]) - 1e-9:
                unit = str(target.get("unit") or "")
                out.append(fd.warning(
                    "target_cumulative_decreased",
                    f"目标「{target['id']}」为累计数，本期 {_fmt(value, unit)} 低于 {last['cycle']} 报送的 "
                    f"{_fmt(float(last['value']), unit)}，请核实",
                    file=row["file"], sheet=row["sheet"], row=row["row"], column="本期数值"))
    return value, basis, out, due


def _period_start(cycle: dt.date, period: Any) -> dt.date:
    if period == "quarter":
        return dt.date(cycle.year, (cycle.month - 1) // 3 * 3 + 1, 1)
    return dt.date(cycle.year, 1, 1)


def _row(target: Mapping[str, Any], scope: str, scope_id: str, value: float | None, threshold: float | None,
         status: str | None, basis: str, unit: str, cycle: dt.date, due: dt.date | None, **extra: Any) -> dict:
    return {"indicator": target["indicator"], "scope": scope, "scope_id": scope_id, "value": value,
            "target": threshold, "status": status, "basis": basis, "numerator": extra.get("numerator"),
            "denominator": extra.get("denominator"), "unit": unit, "cycle": cycle.isoformat(),
            "target_id": target["id"], "due": due.isoformat() if due else None}


def target_rows(plan: Plan, cycle: dt.date, reports_year: pd.DataFrame | None
                ) -> tuple[list[dict[str, Any]], list[fd.Finding]]:
    """Rows (`TARGET_COLUMNS`) of every reported target for `cycle`, from the cleaned reports of the year so far
    (`clean_reported` frames with a `cycle` column; later cycles ignored): one headline row per target (scope
    ``target``) and, for a target several units report, one row per unit (scope ``unit``). A unit with nothing
    reported shows 未报送 (value null) and a finding names it."""
    reports = reports_year if reports_year is not None and len(reports_year) else pd.DataFrame(
        columns=[*REPORTED_COLUMNS, "cycle"])
    reports = reports[reports["cycle"].astype(str) <= cycle.isoformat()]
    rows: list[dict[str, Any]] = []
    out: list[fd.Finding] = []
    for target in plan.reported_targets():
        unit = str(target.get("unit") or "")
        reporters = target["source"]["reported_by"]
        threshold = None if target.get("threshold") is None or target.get("comparator") == "info" \
            else float(target["threshold"])
        per_unit = []
        for unit_id in reporters:
            value, basis, found, due = _unit_value(target, reports, unit_id, cycle)
            out += found
            status, word = judge(plan, value, target, threshold, cycle, due) if value is not None else (None, "")
            per_unit.append((unit_id, value, basis, status, word, due))
            if value is None:
                out.append(fd.info("target_not_reported", f"「{plan.unit_name(unit_id)}」本期未报送目标"
                                   f"「{target['id']}」（{target.get('text', '')[:30]}）的数值",
                                   unit=plan.unit_name(unit_id)))
        goal = _target_text(target, target.get("due"))
        if len(reporters) == 1:
            unit_id, value, basis, status, word, due = per_unit[0]
            who = plan.unit_name(unit_id)
            text = f"{who}{basis}；{goal}" + (f"；{word}" if word else "")
            rows.append(_row(target, TARGET_SCOPE, target["id"], value, threshold, status, text, unit, cycle, due))
            continue
        for unit_id, value, basis, status, word, due in per_unit:
            text = f"{basis}；{goal}" + (f"；{word}" if word else "")
            rows.append(_row(target, UNIT_SCOPE, plan.unit_name(unit_id), value, threshold, status, text, unit,
                             cycle, due))
        rows.append(_summary_row(plan, target, per_unit, threshold, goal, cycle))
    return rows, out


def _summary_row(plan: Plan, target: Mapping[str, Any], per_unit: list[tuple], threshold: float | None,
                 goal: str, cycle: dt.date) -> dict[str, Any]:
    """A target every one of several units must meet: how many meet it (value) out of how many (target)."""
    total = len(per_unit)
    reported = [p for p in per_unit if p[1] is not None]
    missing = [plan.unit_name(p[0]) for p in per_unit if p[1] is None]
    met = [p for p in reported if p[3] == "green"]
    not_due = [p for p in reported if p[3] != "green" and p[4].startswith(NOT_YET_DUE)]
    dues = [p[5] for p in per_unit if p[5] is not None]
    due = min(dues) if dues else None
    if threshold is None:
        value, status = float(len(reported)), None
        text = f"{total} 个报送单位中 {len(reported)} 个已报送；{goal}"
    else:
        value = float(len(met))
        # every unit short of the target is not yet due: nothing missed so far
        all_due_later = not missing and len(met) + len(not_due) == total
        status = None if all_due_later and len(met) < total else status_for(value, float(total), ">=", bands=light_bands(plan))
        text = (f"{total} 个报送单位中 {len(met)} 个达到目标（{goal[3:]}）"
                + (f"，{len(not_due)} 个未到期" if not_due else "")
                + (f"；未报送：{'、'.join(missing)}" if missing else ""))
    if not reported:
        value, status = None, None
        text = f"{NOT_REPORTED}：{total} 个报送单位均未报送；{goal}"
    return {**_row(target, TARGET_SCOPE, target["id"], value, float(total) if threshold is not None else None,
                   status, text, "个单位", cycle, due), "numerator": value, "denominator": float(total)}


# ---------------------------------------------------------------------------------------------------------------
# Headline rows of derived targets


def _headline_match(target: Mapping[str, Any], frame: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """The rows of a derived target's indicator at the target's own level: the city figure for a city,
    province or every-bank target, the category's for a category, the unit's for one unit."""
    rows = frame[frame["indicator"] == target["indicator"]]
    scope = target.get("scope")
    if isinstance(scope, Mapping):
        if "category" in scope:
            return rows[(rows["scope"] == "category") & (rows["scope_id"] == scope["category"])]
        if "county" in scope:
            return rows[(rows["scope"] == "county") & (rows["scope_id"] == scope["county"])]
        if "unit" in scope:
            name = plan.unit_name(scope["unit"])
            own = rows[rows["scope"].isin(["bank", "institution"]) & (rows["scope_id"] == name)]
            return own if len(own) else rows[rows["scope"] == "city"]
    return rows[rows["scope"] == "city"]


def _members_summary(plan: Plan, target: Mapping[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """A target every bank (or institution) must meet and no city figure: how many of them meet it."""
    rows = frame[(frame["indicator"] == target["indicator"]) & frame["scope"].isin(["bank", "institution"])
                 & frame["status"].notna()]
    if not len(rows):
        return rows
    met, total = int((rows["status"] == "green").sum()), len(rows)
    short = "、".join(rows.loc[rows["status"] != "green", "scope_id"].astype(str).head(5))
    return pd.DataFrame([{
        "indicator": target["indicator"], "scope": "city", "scope_id": CITY, "value": float(met),
        "target": float(total), "unit": "家",
        "status": status_for(float(met), float(total), ">=", bands=light_bands(plan)),
        "numerator": float(met), "denominator": float(total),
        "basis": f"{total} 家中 {met} 家达到目标" + (f"；未达到：{short}{'等' if total - met > 5 else ''}" if short else ""),
    }])


def headline_rows(plan: Plan, cycle: dt.date, indicators: pd.DataFrame) -> list[dict[str, Any]]:
    """One headline row (scope ``target``) per derived target: its indicator's row at the target's level, or a
    未报送 row when the ledgers it needs did not come (or the indicator cannot be computed this cycle)."""
    frame = indicators if len(indicators) else pd.DataFrame(columns=INDICATOR_COLUMNS)
    rows = []
    for target in plan.targets:
        if target["source"]["kind"] != "derived":
            continue
        due = target.get("due")
        found = _headline_match(target, frame, plan)
        if not len(found):
            found = _members_summary(plan, target, frame)
        if len(found):
            record = found.iloc[0].to_dict()
            rows.append({**record, "scope": TARGET_SCOPE, "scope_id": target["id"], "target_id": target["id"],
                         "due": due.isoformat() if due else None, "cycle": cycle.isoformat(),
                         "basis": f"{record.get('scope_id') or CITY}：{record.get('basis') or ''}"})
        else:
            rows.append(_row(target, TARGET_SCOPE, target["id"], None, None, None,
                             f"{NOT_REPORTED}：本期无可计算该指标的台账数据", str(target.get("unit") or ""), cycle, due))
    return rows


def with_targets(plan: Plan, cycle: dt.date, indicators: pd.DataFrame, reports_year: pd.DataFrame | None
                 ) -> tuple[pd.DataFrame, list[fd.Finding]]:
    """The cycle's indicators (`INDICATOR_COLUMNS`) with the reported targets' rows and every target's headline
    row added: `TARGET_COLUMNS`, derived rows first in their order, then the targets in plan order."""
    reported, out = target_rows(plan, cycle, reports_year)
    headlines = {r["target_id"]: r for r in headline_rows(plan, cycle, indicators)}
    headlines.update({r["target_id"]: r for r in reported if r["scope"] == TARGET_SCOPE})
    per_unit = [r for r in reported if r["scope"] != TARGET_SCOPE]
    ordered = [headlines[t["id"]] for t in plan.targets if t["id"] in headlines]
    extra = pd.DataFrame([*ordered, *per_unit], columns=TARGET_COLUMNS)
    base = indicators.reindex(columns=TARGET_COLUMNS) if len(indicators) else pd.DataFrame(columns=TARGET_COLUMNS)
    frame = pd.concat([f for f in (base, extra) if len(f)], ignore_index=True) if len(base) or len(extra) \
        else pd.DataFrame(columns=TARGET_COLUMNS)
    for col in ("value", "target", "numerator", "denominator"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in ("status", "target_id", "due"):
        frame[col] = frame[col].astype("object").where(frame[col].notna(), None)
    return frame, out
