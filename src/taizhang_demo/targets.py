"""Demo figures for the targets units report themselves (the 指标 sheet of a demo task ledger).

Deterministic: every figure follows from the plan, the unit, the target and the report date alone (a seeded
random generator per unit and target), so the same cycle gives the same sheet whichever other cycles are built.
Plausible: funds and coverage grow over the year from their baseline towards the target and never go down;
meetings and campaigns happen on a day of their quarter or year and are reported in the cycle that holds that day;
a thing to get done is done around its due date, some units a little late; the figures are written the ways units
write them (plain numbers, 万元, 亿元, percentages, 已完成/未完成).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Any, Mapping

from helpers.core.cycles import previous_cycle
from helpers.ingest.formats import TARGET_SHEET
from helpers.plan.model import Plan, Unit
from helpers.indicators.reported_targets import measure_unit_text

__all__ = ["target_rows", "TARGET_WIDTHS"]

TARGET_WIDTHS = {1: 24, 2: 46, 3: 14, 4: 12, 5: 16, 6: 24}


def _rng(*parts: Any) -> random.Random:
    seed = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def _year_share(day: dt.date) -> float:
    return (day - dt.date(day.year, 1, 1)).days / 365


def _amount_text(value: float, style: int) -> Any:
    if style == 0:
        return round(value, 2)
    if style == 1:
        return f"{value:,.0f}万元"
    return f"{value / 10000:g}亿元"


def _events(plan: Plan, unit: Unit, target: Mapping[str, Any], cycle: dt.date) -> int:
    """How many meetings (or campaigns) of a per-cycle target the unit held since the previous report date."""
    before = previous_cycle(cycle, plan.report_days)
    count = 0
    for year in {before.year, cycle.year}:
        periods = [(dt.date(year, m, 1), 3) for m in (1, 4, 7, 10)] if target.get("period") == "quarter" \
            else [(dt.date(year, 1, 1), 12)]
        for start, months in periods:
            rng = _rng("target-event", plan.id, unit.id, target["id"], start)
            if rng.random() < 0.12:      # this period it was not held at all
                continue
            end_month = start.month + months
            end = dt.date(year + (end_month > 12), (end_month - 1) % 12 + 1, 1)
            day = start + dt.timedelta(days=rng.randrange((end - start).days))
            count += before < day <= cycle
    return count


def _value(plan: Plan, unit: Unit, target: Mapping[str, Any], cycle: dt.date) -> Any:
    rng = _rng("target-value", plan.id, unit.id, target["id"])
    kind = target["source"]["value"]
    unit_of_measure = str(target.get("unit") or "")
    threshold = float(target.get("threshold") or 0)
    if kind == "per_cycle":
        count = _events(plan, unit, target, cycle)
        return rng.choice((count, f"{count}次", count))
    if kind == "done":
        due = target.get("due") or dt.date(cycle.year, 12, 31)
        done_on = due + dt.timedelta(days=rng.randrange(-75, 30))
        return "已完成" if cycle >= done_on else "未完成"
    if kind == "level":
        return rng.choice((threshold, threshold, max(threshold - 1, 0))) if threshold else rng.randrange(1, 4)
    # cumulative: from the baseline (or part of the target) towards the target, faster for some units
    pace = 0.8 + 0.5 * rng.random()
    if unit_of_measure == "比例":
        share = min(1.0, 0.4 + 0.6 * pace * _year_share(cycle))
        return rng.choice((f"{share * 100:.0f}%", round(share, 2)))
    start = float(target.get("baseline") or threshold * (0.25 + 0.3 * rng.random()))
    value = min(threshold * 1.1, start + (threshold - start) * pace * _year_share(cycle) * 1.6)
    step = 100.0 if threshold >= 10000 else 10.0
    return _amount_text(max(start, value // step * step), rng.randrange(3))


def target_rows(plan: Plan, unit: Unit, cycle: dt.date) -> list[list[Any]] | None:
    """The rows of the unit's 指标 sheet for `cycle` (title, header, one row per target it reports, with its
    figure and a short note), or None when it reports no target."""
    targets = plan.reported_targets(unit.id)
    if not targets:
        return None
    rows: list[list[Any]] = [[f"{plan.title}目标报送表"], [c.headers[0] for c in TARGET_SHEET.columns]]
    for target in targets:
        due = target.get("due")
        value = _value(plan, unit, target, cycle)
        note = _rng("target-note", unit.id, target["id"], cycle).choice(
            (None, None, "数据截至报送日", "已报送相关文件", "按季统计"))
        rows.append([target["id"], target.get("text"), measure_unit_text(target),
                     due.isoformat() if due else "—", value, note])
    return rows
