"""Targets and status, shared by the lending and guarantee indicators: the plan's target
for a scope, and the light an indicator's value gets against it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

from ..core.cycles import elapsed_share
from ..core.values import cell_date as _date, cell_float as _num
from ..plan.model import Plan
from .lending_base import _amount, _share
from .target_rules import judge


INDICATOR_COLUMNS = [
    "indicator", "scope", "scope_id", "value", "target", "status", "basis", "numerator", "denominator", "unit",
    "cycle",
]
CITY = "全市"


@dataclass(frozen=True)
class IndicatorSpec:
    label: str      # Chinese name for tables and charts
    unit: str       # display unit: 比例 / 户 / 万元 / BP / 笔


INDICATORS: dict[str, IndicatorSpec] = {
    "credit_loan_share": IndicatorSpec("信用贷款占比", "比例"),
    "credit_loan_households": IndicatorSpec("获得信用贷款户数（当年累计）", "户"),
    "first_loan_households": IndicatorSpec("首贷户数（当年累计，按贷款明细认定）", "户"),
    "first_loan_households_reported": IndicatorSpec("首贷户数（银行报送）", "户"),
    "noloan_conversion_rate": IndicatorSpec("无贷户名单转化率", "比例"),
    "inclusive_sme_loan_growth": IndicatorSpec("普惠型小微企业贷款同比增速", "比例"),
    "inclusive_sme_loans_granted": IndicatorSpec("普惠型小微企业贷款当年发放额（按贷款明细）", "万元"),
    # the working days are the plan's (reply_workdays): the label names none, the basis and the chart title do
    "reply_within_5_workdays_rate": IndicatorSpec("无贷户授信申请按时回复率", "比例"),
    "transfer_pricing_discount_bp": IndicatorSpec("小微企业内部转移定价优惠", "BP"),
    "renewal_without_repayment": IndicatorSpec("无还本续贷余额", "万元"),
    "plan_completion_rate": IndicatorSpec("信贷计划完成率", "比例"),
}


# ---------------------------------------------------------------------------------------------------------------
# Targets and status


def _scope_rank(target: Mapping[str, Any], row: Mapping[str, Any]) -> int | None:
    """How specifically a target's scope names this row (higher wins); None when it does not apply."""
    if target.get("plan_indicators") and row.get("_item") and row["_item"] not in target["plan_indicators"]:
        return None
    scope = target.get("scope")
    if scope is None or scope == "city" or scope == CITY:
        return 2 if row["scope"] == "city" else None
    if isinstance(scope, str):
        return None
    if not isinstance(scope, Mapping):
        return None
    if "unit" in scope:
        return 5 if row["scope"] == "bank" and row["_bank_id"] == scope["unit"] else None
    if "county" in scope:
        return 5 if row["scope"] == "county" and row["scope_id"] == scope["county"] else None
    kind = scope.get("kind")
    if kind not in (None, "bank", "county"):
        return None
    if kind == "county":
        return 2 if row["scope"] == "county" else None
    if "category" in scope:
        if row["scope"] == "category" and row["scope_id"] == scope["category"]:
            return 4
        if row["scope"] == "bank" and row["_category"] == scope["category"] and scope.get("per_unit", True):
            return 3
        return None
    if kind == "bank":
        if row["scope"] == "bank":
            return 2
        if row["scope"] in ("category", "city"):
            return 1
    return None


def _scope_text(scope: Any) -> str:
    if scope is None or scope == "city":
        return CITY
    if isinstance(scope, Mapping):
        return str(scope.get("category") or scope.get("county") or scope.get("unit") or scope.get("kind"))
    return str(scope)


def _find_value(rows: list[dict[str, Any]], indicator: str, scope: Any, item: str | None = None) -> dict | None:
    for row in rows:
        if row["indicator"] != indicator or row["_item"] != item:
            continue
        if (scope is None or scope == "city") and row["scope"] == "city":
            return row
        if isinstance(scope, Mapping):
            if "category" in scope and row["scope"] == "category" and row["scope_id"] == scope["category"]:
                return row
            if "unit" in scope and row["scope"] == "bank" and row["_bank_id"] == scope["unit"]:
                return row
            if "county" in scope and row["scope"] == "county" and row["scope_id"] == scope["county"]:
                return row
    return None


def _unit_format(unit: str):
    return _share if unit == "比例" else (_amount if unit == "万元" else (lambda v: "—" if v is None else f"{v:g} {unit}"))


def _target_of(target: Mapping[str, Any], row: dict[str, Any], rows: list[dict[str, Any]], cycle: dt.date,
               previous: dict[tuple, dict[str, Any]] | None, previous_cycle: str | None) -> tuple[float | None, str]:
    """The target value for a row and a Chinese line saying what it is."""
    comparator = target.get("comparator", ">=")
    qualifier = target.get("qualifier") or ""
    fmt = _unit_format(row["unit"])
    words = {">=": "不低于", ">": "高于", "<=": "不高于", "<": "低于"}
    if comparator in words:
        if target.get("threshold_rule") == "elapsed_share":
            value = elapsed_share(cycle)
            return value, f"目标：{qualifier}{words[comparator]}时序进度 {_share(value)}（截至 {cycle}）"
        value = _num(target.get("threshold"))
        return value, (f"目标：{qualifier}{words[comparator]} {fmt(value)}" if value is not None else "目标：未设阈值")
    if comparator == "above_baseline":
        if target.get("baseline") == "previous_cycle":
            prev = (previous or {}).get(_row_key(row))
            value = prev["value"] if prev else None
            return value, f"目标：高于上期（{previous_cycle}）{fmt(value)}" if value is not None else "目标：上期无数据"
        value = row.get("_baseline")
        return value, (f"目标：高于{row['_baseline_text']}" if value is not None else "目标：高于年初，但缺少年初数据")
    if comparator == "above_scope":
        other = _find_value(rows, row["indicator"], target.get("compare_to"), row["_item"])
        value = other["value"] if other else None
        name = _scope_text(target.get("compare_to"))
        return value, (f"目标：{qualifier}高于{name} {fmt(value)}" if value is not None else f"目标：高于{name}，但其无数据")
    if comparator == "rising":
        prev = (previous or {}).get(_row_key(row))
        value = prev["value"] if prev else None
        return value, (f"目标：高于上期（{previous_cycle}）{fmt(value)}" if value is not None
                       else "目标：持续增加（本年无上期数据可比）")
    return None, ""


def _row_key(row: Mapping[str, Any]) -> tuple:
    return row["indicator"], row["scope"], row["scope_id"], row["_item"]


def _apply_targets(plan: Plan, rows: list[dict[str, Any]], cycle: dt.date,
                   previous: dict[tuple, dict[str, Any]] | None, previous_cycle: str | None) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        candidates = []
        for position, target in enumerate(plan.targets_for(row["indicator"])):
            start = _date(target.get("from"))
            if start and cycle < start:
                continue
            rank = _scope_rank(target, row)
            if rank is not None:
                candidates.append((-rank, position, target))
        value, status, note = None, None, ""
        if candidates:
            target = min(candidates, key=lambda c: c[:2])[2]
            comparator = target.get("comparator", ">=")
            if comparator != "info":
                value, note = _target_of(target, row, rows, cycle, previous, previous_cycle)
                points = target.get("threshold_rule") == "elapsed_share" or row["indicator"] == "plan_completion_rate"
                status, value, due_note = judge(plan, target, row["value"], value, cycle, comparator=comparator,
                                                points=points, fmt=_unit_format(row["unit"]))
                note = "；".join(part for part in (note, due_note) if part)
        basis = row["basis"] if not note else f"{row['basis']}；{note}"
        out.append({**row, "target": value, "status": status, "basis": basis})
    return out
