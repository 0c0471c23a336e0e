"""The one rule that turns a figure and its target into a status light (indicators stage), shared by the lending,
guarantee and reported targets.

Light bands: met → ``green``; short by less than the first band → ``yellow``; up to the second band → ``orange``;
more → ``red``. Bands are relative to the target (default 10% and 30%), or, for targets against 时序进度
(``points``), in percentage points of a fraction (default 10 and 30 points). A plan may set its own in
``plan.light_bands: {relative: [0.10, 0.30], points: [10, 30]}``. With a target of 0 any shortfall is red.

Targets before their due date: a target with a fixed threshold to reach (``>=``/``>``) whose ``due`` is later than
the cycle is not red for being short today. What it is judged against is the target's ``before_due``, else the
plan's ``plan.targets_before_due``, else ``pending``:

- ``pending``: no light; the basis says 未到期, the due date and the gap still to close.
- ``path``: judged against the time-proportional path (时序进度) from ``start_value`` (default 0) on ``from``
  (default 1 January of the plan year) to the threshold on ``due``.
- ``now``: judged against the full threshold at every cycle, for rates that must hold at any date (a 同比
  growth rate, a pricing discount, a reply rate).

Caps (``<=``/``<``) and relative targets (above a baseline, another scope or the previous cycle) always hold at
every cycle and are judged now, as are targets whose threshold already is 时序进度 (``threshold_rule:
elapsed_share``).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Callable, Mapping

from ..plan.model import BEFORE_DUE_MODES

DEFAULT_BEFORE_DUE = "pending"
DEFAULT_BANDS = {"relative": (0.10, 0.30), "points": (10.0, 30.0)}
STATUSES = ("red", "orange", "yellow", "green")
_TO_REACH = (">=", ">")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def light_bands(plan: Any = None) -> dict[str, tuple[float, float]]:
    """The plan's light bands (``plan.light_bands``), each missing part from `DEFAULT_BANDS`."""
    meta = getattr(plan, "meta", None) or {}
    given = meta.get("light_bands") or {}
    return {kind: tuple(float(b) for b in given.get(kind, default)) for kind, default in DEFAULT_BANDS.items()}


def status_for(value: float | None, target: float | None, comparator: str = ">=", points: bool = False,
               bands: Mapping[str, tuple[float, float]] | None = None) -> str | None:
    """The status light of `value` against `target` (see the module docstring). `points`: measure the shortfall
    in percentage points of a fraction (时序进度) rather than relative to the target."""
    if value is None or target is None or _missing(value) or _missing(target) or comparator == "info":
        return None
    bands = bands or DEFAULT_BANDS
    if comparator in ("<=", "<"):
        met = value < target if comparator == "<" else value <= target
        gap = value - target
    else:
        strict = comparator in (">", "above_baseline", "above_scope", "rising")
        met = value > target if strict else value >= target
        gap = target - value
    if met:
        return "green"
    gap = max(gap, 0.0)
    if points:
        short = gap * 100
        low, high = bands["points"]
    else:
        if target == 0:
            return "red" if gap > 0 else "yellow"
        short = gap / abs(target)
        low, high = bands["relative"]
    short = round(short, 9)   # 0.30 − 0.27 is 0.0299999…: exactly 10% short must be orange
    if short < low:
        return "yellow"
    if short <= high:
        return "orange"
    return "red"


def before_due_mode(plan: Any, target: Mapping[str, Any]) -> str:
    """`target`'s ``before_due``, else the plan's ``targets_before_due``, else `DEFAULT_BEFORE_DUE`."""
    meta = getattr(plan, "meta", None) or {}
    mode = target.get("before_due") or meta.get("targets_before_due") or DEFAULT_BEFORE_DUE
    return mode if mode in BEFORE_DUE_MODES else DEFAULT_BEFORE_DUE


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _start_value(target: Mapping[str, Any]) -> float:
    """Where a target's 时序进度 path starts: its ``start_value``, else a numeric ``baseline`` (扩大 from 1000万
    to 2000万 starts at 1000万), else 0."""
    for key in ("start_value", "baseline"):
        value = target.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not _missing(value):
            return float(value)
    return 0.0


def judge(plan: Any, target: Mapping[str, Any], value: float | None, threshold: float | None, cycle: dt.date,
          *, comparator: str | None = None, points: bool = False, due: dt.date | None = None,
          fmt: Callable[[float], str] = lambda v: f"{v:g}") -> tuple[str | None, float | None, str]:
    """(status, the threshold judged against, a Chinese note for the basis, empty when there is nothing to add)
    of `value` against `threshold` of `target` on `cycle`, with the due-date rule of the module docstring.
    `due`: the date the threshold is due by when it is not the target's own ``due`` (the end of a quarter for a
    figure reported per quarter)."""
    comparator = comparator or target.get("comparator") or ">="
    bands = light_bands(plan)
    due = due or _as_date(target.get("due"))
    already_a_path = target.get("threshold_rule") == "elapsed_share"
    if (threshold is None or _missing(threshold) or comparator not in _TO_REACH or due is None or cycle >= due
            or already_a_path):
        return status_for(value, threshold, comparator, points=points, bands=bands), threshold, ""
    mode = before_due_mode(plan, target)
    if mode == "now":
        return status_for(value, threshold, comparator, points=points, bands=bands), threshold, ""
    if mode == "path":
        start = _as_date(target.get("from")) or dt.date(int(getattr(plan, "year", cycle.year)), 1, 1)
        start_value = _start_value(target)
        total = (due - start).days
        share = min(max((cycle - start).days / total, 0.0), 1.0) if total > 0 else 1.0
        path = start_value + (float(threshold) - start_value) * share
        note = (f"未到期（{due.isoformat()} 到期，目标 {fmt(float(threshold))}），"
                f"按时序进度 {share:.1%} 应达 {fmt(path)}")
        return status_for(value, path, comparator, points=points, bands=bands), path, note
    if value is None or _missing(value):
        return None, threshold, f"未到期（{due.isoformat()} 到期）"
    met = value > threshold if comparator == ">" else value >= threshold
    if met:
        return "green", threshold, f"已提前达到（{due.isoformat()} 到期）"
    short = "尚未完成" if target.get("unit") == "是否完成" else f"尚差 {fmt(float(threshold) - float(value))}"
    return None, threshold, f"未到期（{due.isoformat()} 到期），{short}"
