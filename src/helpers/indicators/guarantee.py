"""The guarantee ledger (担保业务台账, DOMAIN.md §3.4 and §4): clean what ingest read, reconcile 机构概况 against
担保明细, and compute the guarantee indicators for `indicators.parquet`.

Input, per cycle, as ingest writes them (`ledgers.read_ledger`, formats `GUARANTEE_SUMMARY` and `GUARANTEES`):

- `guarantee_summary_raw`: institution, registered_capital, net_assets, in_force_balance, in_force_count,
  new_this_year, compensated_this_year, released_this_year (amounts in 万元) + file, sheet, row, unit_id,
  report_date (and `cycle` when several cycles were concatenated);
- `guarantees_raw`: guaranteed, guaranteed_id (+ _kind, _valid), guaranteed_type (canonical), amount (万元),
  fee_rate and risk_share (fractions), partner_bank, start_date, end_date (datetime.date) + the same place columns.

Definitions the module relies on (and that the plan file cannot express):

- A guarantee is **in force** on the cycle date d when 起始日期 ≤ d ≤ 到期日期 (both ends inclusive).
- **Liability** (担保责任余额) = 担保金额 × (1 − 分险比例); a blank 分险比例 counts as 0 (no risk shared).
- A detail row belongs to the institution that **sent the workbook** (`unit_id`, when that unit is a guarantee
  institution), else to the only institution named in the same file's 机构概况, else to none (finding).
- **City-level institutions** (市级政府性融资担保机构) are the plan's units of kind `guarantee` with no `county`.
  City-scope capital, risk compensation and fee-subsidy figures sum the city-level institutions only (the plan's
  measures 13–14 concern 市级 institutions and 市级财政); city-scope leverage, in-force balance and compensation rate
  sum every institution (ratios of sums, never averages of ratios).
- Impossible values (negative amounts, 分险比例 outside [0, 1], 到期日期 before 起始日期, 净资产 ≤ 0, 担保费率
  above 10%) become findings and are set aside: the value is blanked in the cleaned frame (a 分险比例 outside [0, 1]
  counts as 0, an impossible date pair makes the guarantee not in force), the row is kept.

Every public function is pure: no file I/O, inputs are never modified.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from ..core import findings as fd
from ..ingest.formats import GUARANTEE_SUMMARY, GUARANTEES
from .targets import INDICATOR_COLUMNS
from .target_rules import judge
from ..plan.model import Plan, Unit
from ..core.values import cell_date as _date, cell_float as _num, cell_missing as _missing, clean_text

HISTORY_COLUMNS = ["cycle", "scope", "scope_id", "leverage", "leverage_cap", "in_force_balance"]

SUMMARY_ROLES = [c.role for c in GUARANTEE_SUMMARY.columns]
DETAIL_ROLES = [c.role for c in GUARANTEES.columns]
PLACE_COLUMNS = ["file", "sheet", "row", "unit_id", "report_date"]
# `institution` (a format role) is overwritten with the official name; the typed text stays in `institution_raw`
SUMMARY_COLUMNS = [*PLACE_COLUMNS, *SUMMARY_ROLES, "institution_raw", "institution_id", "city_level", "duplicate"]
DETAIL_COLUMNS = [*PLACE_COLUMNS, *DETAIL_ROLES, "guaranteed_id_kind", "guaranteed_id_valid", "institution_id",
                  "institution", "risk_share_used", "in_force", "liability"]

BALANCE_TOLERANCE = 0.005          # 在保余额 vs 担保明细, when the plan sets no tolerances.guarantee_balance
MAX_FEE_RATE = 0.10                # a fee rate above 10% a year is a typing error, not a price
MIN_PLAUSIBLE_FEE_RATE = 0.001     # below 0.1% a year: most likely a fraction typed under a （%） header (0.012)
MIN_PLAUSIBLE_RISK_SHARE = 0.01    # a risk share below 1%: most likely 0.2 meant as 20% under a （%） header
# DOMAIN.md §4: the business 风险补偿 and 担保费率补差 concern; used when a plan target lists no eligible_types.
DEFAULT_ELIGIBLE_TYPES = ("小微企业", "个体工商户", "三农", "战略性新兴产业")

_SUMMARY_TITLES = {c.role: c.title for c in GUARANTEE_SUMMARY.columns}
_DETAIL_TITLES = {c.role: c.title for c in GUARANTEES.columns}
_SUMMARY_SHEET = GUARANTEE_SUMMARY.name
_DETAIL_SHEET = GUARANTEES.name


# ---------------------------------------------------------------------------------------------------------------
# Private helpers





def _money(value: float) -> str:
    return f"{value:,.2f}"


def _pct(value: float) -> str:
    return f"{value * 100:g}%"


def _permille(value: float) -> str:
    return f"{value * 1000:g}‰"


def _int_or_none(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def _this_cycle(frame: pd.DataFrame | None, cycle: dt.date) -> pd.DataFrame:
    """The rows of `frame` that belong to `cycle` when a `cycle` column holds several cycles; a copy."""
    if frame is None:
        return pd.DataFrame()
    if "cycle" in frame.columns and frame["cycle"].notna().any():
        return frame[frame["cycle"].astype(str) == cycle.isoformat()].copy()
    return frame.copy()


def _with_columns(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """`frame` with every column in `columns` present (missing ones filled with None)."""
    missing = {c: None for c in columns if c not in frame.columns}
    return frame.assign(**missing) if missing else frame


def _place(record: Mapping[str, Any], sheet: str) -> dict[str, Any]:
    row = record.get("row")
    return {
        "file": None if _missing(record.get("file")) else str(record.get("file")),
        "sheet": None if _missing(record.get("sheet")) else str(record.get("sheet")) or sheet,
        "row": None if _missing(row) else int(row),
    }


def is_city_level(unit: Unit | None) -> bool:
    """A city-level (市级) guarantee institution: a plan unit of kind guarantee that belongs to no county."""
    return unit is not None and unit.kind == "guarantee" and not unit.county


def _resolve_institution(plan: Plan, text: str | None) -> tuple[Unit | None, Unit | None]:
    """(guarantee unit, other unit) that 机构名称 `text` denotes: exact name/alias first, then a contained name."""
    if not text:
        return None, None
    unit = plan.find_unit(text) or plan.find_unit_in(text)
    if unit is None:
        return None, None
    return (unit, None) if unit.kind == "guarantee" else (None, unit)


def _guarantee_unit(plan: Plan, unit_id: Any) -> Unit | None:
    if _missing(unit_id):
        return None
    try:
        unit = plan.unit(str(unit_id))
    except KeyError:
        return None
    return unit if unit.kind == "guarantee" else None


# ---------------------------------------------------------------------------------------------------------------
# Cleaning


def clean_guarantees(
    summary_raw: pd.DataFrame | None,
    detail_raw: pd.DataFrame | None,
    plan: Plan,
    cycle: dt.date,
) -> tuple[pd.DataFrame, pd.DataFrame, list[fd.Finding]]:
    """Clean one cycle's 机构概况 and 担保明细.

    Needs the columns ingest writes (module docstring); a role column the sheet lacked may be absent. When a
    `cycle` column holds several cycles, only the rows of `cycle` are used.

    Returns `(summary, detail, findings)`:
    - `summary` (`SUMMARY_COLUMNS`): the raw columns, plus `institution_raw` (机构名称 as typed), `institution_id`
      (plan unit id of kind guarantee, or None), `institution` (official name, or the typed name when unknown),
      `city_level` (bool) and `duplicate` (a later row for an institution already listed; left out of figures);
    - `detail` (`DETAIL_COLUMNS`): the raw columns, plus `institution_id`, `institution`, `risk_share_used`
      (分险比例 with blank/impossible → 0), `in_force` (bool, start ≤ cycle ≤ end) and `liability` (万元).
    Impossible values are blanked (see module docstring); each becomes a finding naming file, sheet, row and the
    Chinese column header. An unknown 机构名称 is a warning and the row is kept.
    """
    findings: list[fd.Finding] = []
    summary = _clean_summary(_this_cycle(summary_raw, cycle), plan, findings)
    detail = _clean_detail(_this_cycle(detail_raw, cycle), summary, plan, cycle, findings)
    return summary, detail, findings


def _clean_summary(raw: pd.DataFrame, plan: Plan, out: list[fd.Finding]) -> pd.DataFrame:
    frame = _with_columns(raw, [*PLACE_COLUMNS, *SUMMARY_ROLES])
    records = []
    seen: dict[str, dict[str, Any]] = {}
    for record in frame.to_dict("records"):
        place = _place(record, _SUMMARY_SHEET)
        typed = clean_text(record.get("institution"))
        unit, other = _resolve_institution(plan, typed)
        if unit is None and typed is None:
            unit = _guarantee_unit(plan, record.get("unit_id"))   # blank 机构名称: the sender
        name = unit.name if unit else typed
        if unit is None and typed is not None:
            if other is not None:
                message = (f"机构名称「{typed}」在计划中是「{other.name}」，不是融资担保机构；该行已保留，"
                           "但不计入担保机构的指标")
            else:
                message = (f"机构名称「{typed}」不是计划中的融资担保机构（名称或别名）；该行已保留，"
                           "请核对名称，或在计划文件中为该机构补充别名")
            out.append(fd.warning("guarantee_institution_unknown", message, column=_SUMMARY_TITLES["institution"],
                                  unit=typed, **place))
        clean = dict(record)
        for role in ("registered_capital", "in_force_balance", "in_force_count", "new_this_year",
                     "compensated_this_year", "released_this_year"):
            value = _num(record.get(role))
            if value is not None and value < 0:
                shown = f"{int(value)} 户" if role == "in_force_count" else f"{_money(value)} 万元"
                out.append(fd.warning("impossible_value", f"{_SUMMARY_TITLES[role]}为 {shown}，不能为负数，已按未填处理",
                                      column=_SUMMARY_TITLES[role], unit=name, **place))
                clean[role] = None
        net = _num(record.get("net_assets"))
        if net is not None and net <= 0:
            out.append(fd.warning("impossible_value",
                                  f"净资产为 {_money(net)} 万元，应大于 0，已按未填处理（放大倍数无法计算）",
                                  column=_SUMMARY_TITLES["net_assets"], unit=name, **place))
            clean["net_assets"] = None
        key = unit.id if unit else (f"name:{typed}" if typed else None)
        duplicate = key is not None and key in seen
        if duplicate:
            first = seen[key]
            out.append(fd.warning(
                "guarantee_institution_duplicate",
                f"机构概况中「{name}」出现不止一次（另见 {first.get('file')} 第 {_int_or_none(first.get('row'))} 行），"
                "只采用第一行",
                column=_SUMMARY_TITLES["institution"], unit=name, **place))
        elif key is not None:
            seen[key] = record
        clean.update(
            institution_raw=typed,
            institution_id=unit.id if unit else None,
            institution=name,
            city_level=is_city_level(unit),
            duplicate=duplicate,
        )
        records.append(clean)
    result = pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)
    return result.astype({"city_level": "bool", "duplicate": "bool"})


def _clean_detail(raw: pd.DataFrame, summary: pd.DataFrame, plan: Plan, cycle: dt.date,
                  out: list[fd.Finding]) -> pd.DataFrame:
    frame = _with_columns(raw, [*PLACE_COLUMNS, *DETAIL_ROLES, "guaranteed_id_kind", "guaranteed_id_valid"])
    single_by_file: dict[str, tuple[str | None, str | None]] = {}
    for file, rows in summary[~summary["duplicate"]].groupby("file", dropna=True):
        if len(rows) == 1:
            single_by_file[str(file)] = (rows["institution_id"].iloc[0], rows["institution"].iloc[0])
    unassigned: dict[str, int] = {}
    records = []
    for record in frame.to_dict("records"):
        place = _place(record, _DETAIL_SHEET)
        unit = _guarantee_unit(plan, record.get("unit_id"))
        if unit is not None:
            inst_id, inst = unit.id, unit.name
        else:
            inst_id, inst = single_by_file.get(str(record.get("file")), (None, None))
            if inst is None:
                unassigned[str(record.get("file"))] = unassigned.get(str(record.get("file")), 0) + 1
        clean = dict(record)
        amount = _num(record.get("amount"))
        if amount is not None and amount < 0:
            out.append(fd.warning("impossible_value", f"担保金额为 {_money(amount)} 万元，不能为负数，已按未填处理",
                                  column=_DETAIL_TITLES["amount"], unit=inst, **place))
            amount = None
        share = _num(record.get("risk_share"))
        share_used = share
        if share is None:
            out.append(fd.info("risk_share_missing", "分险比例为空，按 0（未分险）计算担保责任余额",
                               column=_DETAIL_TITLES["risk_share"], unit=inst, **place))
            share_used = 0.0
        elif 0 < share < MIN_PLAUSIBLE_RISK_SHARE:
            out.append(fd.warning("rate_ambiguous",
                                  f"分险比例为 {_pct(share)}，低得不合常理，可能是把 {_pct(share * 100)} 写成了 "
                                  f"{share * 100:g}（表头为%）；无法确定，按 0（未分险）计算担保责任余额，请核实",
                                  column=_DETAIL_TITLES["risk_share"], unit=inst, **place))
            clean["risk_share"] = None
            share_used = 0.0
        elif not 0 <= share <= 1:
            out.append(fd.warning("impossible_value",
                                  f"分险比例为 {_pct(share)}，应在 0%–100% 之间，按 0（未分险）计算担保责任余额",
                                  column=_DETAIL_TITLES["risk_share"], unit=inst, **place))
            clean["risk_share"] = None
            share_used = 0.0
        fee = _num(record.get("fee_rate"))
        if fee is not None and not 0 <= fee <= MAX_FEE_RATE:
            out.append(fd.warning("impossible_value",
                                  f"担保费率为 {_pct(fee)}，不在 0%–{_pct(MAX_FEE_RATE)} 之间，已按未填处理",
                                  column=_DETAIL_TITLES["fee_rate"], unit=inst, **place))
            clean["fee_rate"] = None
        elif fee is not None and 0 < fee < MIN_PLAUSIBLE_FEE_RATE:
            out.append(fd.warning("rate_ambiguous",
                                  f"担保费率为 {_pct(fee)}，低得不合常理，可能是把 {_pct(fee * 100)} 写成了 {fee * 100:g}"
                                  f"（表头为%）；无法确定，已按未填处理（不计入担保费率补差），请核实",
                                  column=_DETAIL_TITLES["fee_rate"], unit=inst, **place))
            clean["fee_rate"] = None
        start, end = _date(record.get("start_date")), _date(record.get("end_date"))
        dates_ok = start is not None and end is not None
        if dates_ok and end < start:
            out.append(fd.warning("impossible_value",
                                  f"到期日期 {end.isoformat()} 早于起始日期 {start.isoformat()}，该笔不计入在保业务",
                                  column=_DETAIL_TITLES["end_date"], unit=inst, **place))
            dates_ok = False
        in_force = bool(dates_ok and start <= cycle <= end)
        clean.update(
            amount=amount,
            start_date=start,
            end_date=end,
            institution_id=inst_id,
            institution=inst,
            risk_share_used=share_used,
            in_force=in_force,
            liability=None if amount is None else amount * (1 - share_used),
        )
        records.append(clean)
    for file, count in unassigned.items():
        out.append(fd.warning("guarantee_detail_unassigned",
                              f"担保明细 {count} 行无法确定所属担保机构（填报单位不是计划中的担保机构，且同一文件的"
                              "机构概况不止一家或没有），这些行只计入全市合计",
                              file=file, sheet=_DETAIL_SHEET))
    result = pd.DataFrame.from_records(records, columns=DETAIL_COLUMNS)
    return result.astype({"in_force": "bool", "amount": "float64", "liability": "float64",
                          "risk_share_used": "float64"})


# ---------------------------------------------------------------------------------------------------------------
# Reconciling 机构概况 against 担保明细


def _in_force_ids(rows: pd.DataFrame) -> int:
    """Distinct guaranteed parties among in-force rows: by 证件号码, by 被担保人 where the id is blank."""
    keys = set()
    for gid, name in zip(rows["guaranteed_id"], rows["guaranteed"]):
        if not _missing(gid):
            keys.add(("id", str(gid)))
        elif not _missing(name):
            keys.add(("name", str(name)))
    return len(keys)


def balance_tolerance(plan: Plan) -> float:
    """The relative difference allowed between 机构概况's 在保余额 and the 担保明细 sum: the plan's
    ``plan.tolerances.guarantee_balance``, else `BALANCE_TOLERANCE` (0.5%)."""
    value = ((plan.meta.get("tolerances") or {}).get("guarantee_balance"))
    return float(value) if isinstance(value, (int, float)) and 0 <= value < 1 else BALANCE_TOLERANCE


def reconcile_guarantees(
    summary: pd.DataFrame,
    detail: pd.DataFrame,
    cycle: dt.date,
    *,
    tolerance: float = BALANCE_TOLERANCE,
) -> list[fd.Finding]:
    """Compare each institution's 机构概况 with its 担保明细 (frames from `clean_guarantees`).

    Needs summary `institution`, `in_force_balance`, `in_force_count`, `duplicate`, place columns; detail
    `institution`, `amount`, `guaranteed_id`, `guaranteed`, `start_date`, `end_date` (`in_force` is recomputed
    for `cycle` when absent). 在保余额 may differ from Σ in-force 担保金额 by `tolerance` of the 机构概况 figure;
    在保户数 must equal the distinct in-force guaranteed parties. Also flags an institution present in only one
    of the two sheets.
    """
    out: list[fd.Finding] = []
    detail = detail.copy()
    if "in_force" not in detail.columns:
        detail["in_force"] = [
            _date(s) is not None and _date(e) is not None and _date(s) <= cycle <= _date(e)
            for s, e in zip(detail["start_date"], detail["end_date"])
        ]
    summary = summary[~summary["duplicate"].astype(bool)] if "duplicate" in summary.columns else summary
    detail_names = set(detail["institution"].dropna().astype(str))
    summary_names = set(summary["institution"].dropna().astype(str))
    label = f"截至 {cycle.isoformat()}"
    for record in summary.to_dict("records"):
        name = record.get("institution")
        if _missing(name):
            continue
        place = {**_place(record, _SUMMARY_SHEET), "unit": str(name)}
        balance = _num(record.get("in_force_balance"))
        count = _int_or_none(record.get("in_force_count"))
        if str(name) not in detail_names:
            if (balance or 0) > 0 or (count or 0) > 0:
                shown = f"在保余额 {_money(balance)} 万元" if balance is not None else f"在保户数 {count} 户"
                out.append(fd.warning("guarantee_detail_missing",
                                      f"机构概况{shown}，但没有该机构的担保明细，无法核对",
                                      column=_SUMMARY_TITLES["in_force_balance"], **place))
            continue
        mine = detail[(detail["institution"].astype(str) == str(name)) & detail["in_force"].astype(bool)]
        detail_balance = float(mine["amount"].sum(skipna=True)) if len(mine) else 0.0
        detail_count = _in_force_ids(mine)
        if balance is not None:
            diff = balance - detail_balance
            if abs(diff) > tolerance * abs(balance) + 1e-9:
                out.append(fd.warning(
                    "guarantee_balance_mismatch",
                    f"机构概况在保余额 {_money(balance)} 万元，担保明细在保合计 {_money(detail_balance)} 万元，"
                    f"相差 {_money(abs(diff))} 万元（{label}，允许误差 {_pct(tolerance)}）",
                    column=_SUMMARY_TITLES["in_force_balance"], **place))
        if count is not None and count != detail_count:
            out.append(fd.warning(
                "guarantee_count_mismatch",
                f"机构概况在保户数 {count} 户，担保明细在保 {detail_count} 户，相差 {abs(count - detail_count)} 户"
                f"（{label}）",
                column=_SUMMARY_TITLES["in_force_count"], **place))
    for name in sorted(detail_names - summary_names):
        files = sorted(set(detail.loc[detail["institution"].astype(str) == name, "file"].dropna().astype(str)))
        out.append(fd.warning("guarantee_summary_missing",
                              f"有「{name}」的担保明细，但机构概况中没有该机构，无法核对在保余额和户数",
                              file="；".join(files) or None, sheet=_DETAIL_SHEET, unit=name))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Targets


def _scope_selects(scope: Any, unit: Unit | None) -> bool:
    """Whether a target's scope selects an institution (`unit` None: an institution the plan does not know, taken
    as a guarantee institution with no other attribute)."""
    if not isinstance(scope, Mapping):
        return False
    for key, wanted in scope.items():
        if key == "unit":
            if unit is None or unit.id != wanted:
                return False
        elif key == "kind":
            if (unit.kind if unit else "guarantee") != wanted:
                return False
        elif getattr(unit, key, None) != wanted:
            return False
    return True


def _scope_covers_city(scope: Any, plan: Plan) -> bool:
    """Whether a target applies to the city row: scope city/absent, a kind selector, or a city-level unit."""
    if scope in (None, "city"):
        return True
    if isinstance(scope, Mapping):
        if "unit" in scope:
            try:
                return is_city_level(plan.unit(str(scope["unit"])))
            except KeyError:
                return False
        return set(scope) <= {"kind"} and scope.get("kind") in (None, "guarantee")
    return False


def _target(plan: Plan, indicator: str, unit: Unit | None, *, city: bool) -> dict[str, Any] | None:
    for target in plan.targets_for(indicator):
        scope = target.get("scope")
        if (city and _scope_covers_city(scope, plan)) or (not city and _scope_selects(scope, unit)):
            return target
    return None


def _start(target: Mapping[str, Any]) -> dt.date | None:
    return target.get("from") or target.get("due")


def _rate_target(plan: Plan, cycle: dt.date) -> dict[str, Any] | None:
    """The risk-compensation target in force on `cycle`: the one with the latest start (`from`, else `due`) on or
    before the cycle; before any start, the earliest one (the plan year's standard)."""
    targets = [t for t in plan.targets_for("risk_compensation_due") if t.get("rate") is not None]
    if not targets:
        return None
    dated = sorted(targets, key=lambda t: _start(t) or dt.date.min)
    started = [t for t in dated if (_start(t) or dt.date.min) <= cycle]
    return started[-1] if started else dated[0]


def _cap(target: Mapping[str, Any] | None, unit: Unit | None) -> float | None:
    """The legal leverage cap for an institution: `cap_focus` when the unit's focus is the target's
    `cap_focus_label` (or any focus when no label is given), else `cap`."""
    if target is None or target.get("cap") is None:
        return None
    focus = unit.focus if unit else None
    label = target.get("cap_focus_label")
    if focus and target.get("cap_focus") is not None and (label is None or focus == label):
        return float(target["cap_focus"])
    return float(target["cap"])


# ---------------------------------------------------------------------------------------------------------------
# Indicators


_COMPARATOR_WORDS = {">=": "不低于", ">": "高于", "<=": "不高于", "<": "低于"}


def _row(indicator: str, scope: str, scope_id: str, value: float | None, *, unit: str, cycle: dt.date,
         basis: str, numerator: float | None = None, denominator: float | None = None,
         target: float | None = None, status: str | None = None) -> dict[str, Any]:
    return {
        "indicator": indicator, "scope": scope, "scope_id": scope_id, "value": value, "target": target,
        "status": status, "basis": basis, "numerator": numerator, "denominator": denominator, "unit": unit,
        "cycle": cycle.isoformat(),
    }


def _eligible_mask(detail: pd.DataFrame, types: Iterable[str]) -> pd.Series:
    return detail["in_force"].astype(bool) & detail["guaranteed_type"].isin(list(types)) & detail["amount"].notna()


def party_amounts(detail: pd.DataFrame) -> pd.Series:
    """Per guarantee, the in-force 担保金额 of its guaranteed party (单户) at the same institution: a party is its
    证件号码 (the typed name when there is none). What the 1000万元 单户 limit of 担保费率补差 applies to."""
    party = detail["guaranteed_id"].where(detail["guaranteed_id"].notna() & (detail["guaranteed_id"] != ""),
                                          "名称:" + detail["guaranteed"].astype(str))
    live = detail["amount"].where(detail["in_force"].astype(bool), 0.0).fillna(0.0)
    keys = [detail["institution"].astype(str), party.astype(str)]
    return live.groupby(keys, dropna=False, sort=False).transform("sum")


def _fee_mask(detail: pd.DataFrame, target: Mapping[str, Any]) -> pd.Series:
    max_amount, max_fee = float(target["max_amount"]), float(target["max_fee_rate"])
    amount, fee = party_amounts(detail), pd.to_numeric(detail["fee_rate"], errors="coerce")
    under_amount = amount <= max_amount if target.get("max_amount_inclusive", True) else amount < max_amount
    under_fee = fee <= max_fee if target.get("max_fee_rate_inclusive", False) else fee < max_fee
    types = target.get("eligible_types") or DEFAULT_ELIGIBLE_TYPES
    return (_eligible_mask(detail, types) & under_amount & under_fee).fillna(False).astype(bool)


def _fee_rule_text(target: Mapping[str, Any]) -> str:
    le = "≤" if target.get("max_amount_inclusive", True) else "<"
    lt = "≤" if target.get("max_fee_rate_inclusive", False) else "<"
    return (f"单户（同一被担保人按证件号码合计在保担保金额）{le} {_money(float(target['max_amount']))} 万元"
            f"且担保费率 {lt} {_pct(float(target['max_fee_rate']))}")


def guarantee_indicators(plan: Plan, cycle: dt.date, summary: pd.DataFrame, detail: pd.DataFrame) -> pd.DataFrame:
    """The guarantee indicators of one cycle, one row per indicator × scope (`INDICATOR_COLUMNS`, the columns of the
    lending indicators table), from frames cleaned by `clean_guarantees`.

    Indicators (unit): guarantee_capital (万元), guarantee_leverage (倍), guarantee_in_force_balance (万元, for the
    chart), risk_compensation_due (万元), fee_subsidy_eligible (万元) and fee_subsidy_eligible_count (笔),
    compensation_rate (比例). Scope `institution` (scope_id = official name, or the typed name of an institution the
    plan does not know) and `city` (scope_id = plan.meta["city"] or 全市; see the module docstring for which
    institutions each city figure sums). Targets come from plan.targets_for(<indicator>) and are null when the plan
    sets none; status is green/yellow/orange/red for capital (`target_rules.judge`: met → green, short by < 10% →
    yellow, 10–30% → orange, more → red; before its due date no light but 未到期 and the gap), red for leverage above its legal cap
    (the cap is the target, shown as context; rising is the plan's direction), null otherwise.
    """
    city_name = str(plan.meta.get("city") or "全市")
    summary = summary[~summary["duplicate"].astype(bool)] if len(summary) else summary
    detail = detail if len(detail) else _with_columns(pd.DataFrame(), DETAIL_COLUMNS)
    detail = detail.assign(in_force=detail["in_force"].astype(bool))
    names = list(dict.fromkeys([*summary["institution"].dropna().astype(str),
                                *detail["institution"].dropna().astype(str)]))
    units = {n: _unit_by_name(plan, n) for n in names}
    rows: list[dict[str, Any]] = []
    rows += _capital_rows(plan, cycle, summary, units, city_name)
    rows += _leverage_rows(plan, cycle, summary, detail, units, city_name)
    rows += _balance_rows(cycle, detail, names, city_name)
    rows += _risk_rows(plan, cycle, detail, units, city_name)
    rows += _fee_rows(plan, cycle, detail, units, city_name)
    rows += _compensation_rows(cycle, summary, city_name)
    frame = pd.DataFrame(rows, columns=INDICATOR_COLUMNS)
    return frame.astype({"value": "float64", "target": "float64", "numerator": "float64", "denominator": "float64"})


def _unit_by_name(plan: Plan, name: str) -> Unit | None:
    unit = plan.find_unit(name)
    return unit if unit is not None and unit.kind == "guarantee" else None


def _city_level_names(units: Mapping[str, Unit | None]) -> list[str]:
    return [n for n, u in units.items() if is_city_level(u)]


def _capital_rows(plan: Plan, cycle: dt.date, summary: pd.DataFrame, units: Mapping[str, Unit | None],
                  city: str) -> list[dict[str, Any]]:
    rows = []

    def judged(target: Mapping[str, Any] | None, value: float | None) -> tuple[float | None, str | None, str]:
        """(target, status, basis tail) of a capital against its target, not red before the target's due date."""
        if target is None or target.get("threshold") is None:
            return None, None, ""
        due = target.get("due")
        comparator = target.get("comparator") or ">="
        word = _COMPARATOR_WORDS.get(comparator, comparator)
        threshold = float(target["threshold"])
        status, _, note = judge(plan, target, value, threshold, cycle, comparator=comparator,
                                fmt=lambda v: f"{_money(v)} 万元")
        text = f"；目标：{f'{due.isoformat()} 前' if due else ''}{word} {_money(threshold)} 万元"
        return threshold, status, text + (f"；{note}" if note else "")

    capitals = {}
    for record in summary.to_dict("records"):
        name = record.get("institution")
        if _missing(name):
            continue
        value = _num(record.get("registered_capital"))
        capitals[str(name)] = value
        threshold, status, text = judged(_target(plan, "guarantee_capital", units.get(str(name)), city=False), value)
        rows.append(_row("guarantee_capital", "institution", str(name), value, unit="万元", cycle=cycle,
                         basis=f"机构概况注册资本{text}", numerator=value, target=threshold, status=status))
    city_names = [n for n in _city_level_names(units) if n in capitals]
    values = [capitals[n] for n in city_names if capitals[n] is not None]
    value = sum(values) if values else None
    threshold, status, text = judged(_target(plan, "guarantee_capital", None, city=True), value)
    listed = "、".join(city_names) or "无"
    rows.append(_row("guarantee_capital", "city", city, value, unit="万元", cycle=cycle,
                     basis=f"市级政府性融资担保机构注册资本合计（{listed}）{text}", numerator=value,
                     target=threshold, status=status))
    return rows


def _leverage_rows(plan: Plan, cycle: dt.date, summary: pd.DataFrame, detail: pd.DataFrame,
                   units: Mapping[str, Unit | None], city: str) -> list[dict[str, Any]]:
    rows = []
    caps: list[float | None] = []
    total_liability, total_net, counted = 0.0, 0.0, []
    for record in summary.to_dict("records"):
        name = record.get("institution")
        if _missing(name):
            continue
        name = str(name)
        unit = units.get(name)
        has_detail = bool((detail["institution"].astype(str) == name).any())
        mine = detail[(detail["institution"].astype(str) == name) & detail["in_force"]]
        liability = float(mine["liability"].sum(skipna=True)) if has_detail else None
        net = _num(record.get("net_assets"))
        cap = _cap(_target(plan, "guarantee_leverage", unit, city=False), unit)
        caps.append(cap)
        value = liability / net if net and liability is not None else None
        status = "red" if value is not None and cap is not None and value > cap else None
        cap_text = f"；法定上限 {cap:g} 倍" if cap is not None else ""
        net_text = _money(net) if net else "—（未填或不可能）"
        liability_text = _money(liability) if liability is not None else "—（没有担保明细）"
        rows.append(_row("guarantee_leverage", "institution", name, value, unit="倍", cycle=cycle,
                         basis=f"在保担保责任余额 {liability_text} 万元 ÷ 净资产 {net_text} 万元{cap_text}",
                         numerator=liability, denominator=net, target=cap, status=status))
        if net and liability is not None:
            total_liability += liability
            total_net += net
            counted.append(name)
    value = total_liability / total_net if total_net else None
    shared = {c for c in caps if c is not None}
    cap = shared.pop() if len(shared) == 1 and None not in caps else None
    status = "red" if value is not None and cap is not None and value > cap else None
    rows.append(_row("guarantee_leverage", "city", city, value, unit="倍", cycle=cycle,
                     basis=(f"各机构在保担保责任余额合计 {_money(total_liability)} 万元 ÷ 净资产合计 "
                            f"{_money(total_net)} 万元（{'、'.join(counted) or '无可用净资产'}）"),
                     numerator=total_liability if counted else None, denominator=total_net or None,
                     target=cap, status=status))
    return rows


def _balance_rows(cycle: dt.date, detail: pd.DataFrame, names: list[str], city: str) -> list[dict[str, Any]]:
    rows = []
    in_force = detail[detail["in_force"]]
    for name in names:
        mine = in_force[in_force["institution"].astype(str) == name]
        if not (detail["institution"].astype(str) == name).any():
            continue   # no 担保明细 from this institution: nothing to sum (reconcile reports it)
        value = float(mine["amount"].sum(skipna=True))
        rows.append(_row("guarantee_in_force_balance", "institution", name, value, unit="万元", cycle=cycle,
                         basis=f"担保明细在保担保金额合计（{len(mine)} 笔）", numerator=value))
    if len(detail):
        value = float(in_force["amount"].sum(skipna=True))
        rows.append(_row("guarantee_in_force_balance", "city", city, value, unit="万元", cycle=cycle,
                         basis=f"各机构担保明细在保担保金额合计（{len(in_force)} 笔）", numerator=value))
    return rows


def _detail_names(detail: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(detail["institution"].dropna().astype(str)))


def _risk_rows(plan: Plan, cycle: dt.date, detail: pd.DataFrame, units: Mapping[str, Unit | None],
               city: str) -> list[dict[str, Any]]:
    if not len(detail):
        return []
    rate_target = _rate_target(plan, cycle)
    rate = float(rate_target["rate"]) if rate_target else None
    types = (rate_target or {}).get("eligible_types") or DEFAULT_ELIGIBLE_TYPES
    eligible = detail[_eligible_mask(detail, types)]
    type_text = "、".join(types)
    rows = []

    def build(scope: str, scope_id: str, frame: pd.DataFrame, note: str) -> dict[str, Any]:
        balance = float(frame["amount"].sum(skipna=True))
        if rate is None:
            return _row("risk_compensation_due", scope, scope_id, None, unit="万元", cycle=cycle,
                        basis=f"符合条件（{type_text}）在保余额 {_money(balance)} 万元；计划未设定风险补偿标准{note}",
                        numerator=balance)
        return _row("risk_compensation_due", scope, scope_id, balance * rate, unit="万元", cycle=cycle,
                    basis=f"符合条件（{type_text}）在保余额 {_money(balance)} 万元 × {_permille(rate)}{note}",
                    numerator=balance)

    for name in _detail_names(detail):
        unit = units.get(name)
        in_scope = rate_target is None or _scope_selects(rate_target.get("scope"), unit) \
            or (is_city_level(unit) and _scope_covers_city(rate_target.get("scope"), plan))
        note = "" if in_scope else "（该机构不在计划风险补偿范围内，仅供参考）"
        rows.append(build("institution", name, eligible[eligible["institution"].astype(str) == name], note))
    city_names = _city_level_names(units)
    rows.append(build("city", city, eligible[eligible["institution"].astype(str).isin(city_names)],
                      f"（市级机构：{'、'.join(city_names) or '无'}）"))
    return rows


def _fee_rows(plan: Plan, cycle: dt.date, detail: pd.DataFrame, units: Mapping[str, Unit | None],
              city: str) -> list[dict[str, Any]]:
    if not len(detail):
        return []
    targets = [t for t in plan.targets_for("fee_subsidy_eligible")
               if t.get("max_amount") is not None and t.get("max_fee_rate") is not None]
    target = targets[0] if targets else None
    rows = []

    def build(scope: str, scope_id: str, frame: pd.DataFrame, note: str) -> list[dict[str, Any]]:
        if target is None:
            basis = f"计划未设定担保费率补差条件（单笔金额上限、费率上限），无法计算{note}"
            return [_row("fee_subsidy_eligible", scope, scope_id, None, unit="万元", cycle=cycle, basis=basis),
                    _row("fee_subsidy_eligible_count", scope, scope_id, None, unit="笔", cycle=cycle, basis=basis)]
        chosen = frame[_fee_mask(frame, target)]
        types = "、".join(target.get("eligible_types") or DEFAULT_ELIGIBLE_TYPES)
        rule = f"在保、{types}、{_fee_rule_text(target)}"
        amount = float(chosen["amount"].sum(skipna=True))
        return [
            _row("fee_subsidy_eligible", scope, scope_id, amount, unit="万元", cycle=cycle,
                 basis=f"符合担保费率补差条件的在保担保金额（{rule}）{note}", numerator=amount),
            _row("fee_subsidy_eligible_count", scope, scope_id, float(len(chosen)), unit="笔", cycle=cycle,
                 basis=f"符合担保费率补差条件的在保担保笔数（{rule}）{note}", numerator=float(len(chosen))),
        ]

    for name in _detail_names(detail):
        unit = units.get(name)
        in_scope = target is None or _scope_selects(target.get("scope"), unit) \
            or (is_city_level(unit) and _scope_covers_city(target.get("scope"), plan))
        note = "" if in_scope else "（该机构不在计划补差范围内，仅供参考）"
        rows += build("institution", name, detail[detail["institution"].astype(str) == name], note)
    city_names = _city_level_names(units)
    rows += build("city", city, detail[detail["institution"].astype(str).isin(city_names)],
                  f"（市级机构：{'、'.join(city_names) or '无'}）")
    return rows


def _compensation_rows(cycle: dt.date, summary: pd.DataFrame, city: str) -> list[dict[str, Any]]:
    rows = []
    total_comp, total_released, counted = 0.0, 0.0, []
    for record in summary.to_dict("records"):
        name = record.get("institution")
        if _missing(name):
            continue
        comp, released = _num(record.get("compensated_this_year")), _num(record.get("released_this_year"))
        value = comp / released if comp is not None and released else None
        if comp is not None and released:
            basis = f"本年代偿金额 {_money(comp)} 万元 ÷ 本年解除担保金额 {_money(released)} 万元"
            total_comp += comp
            total_released += released
            counted.append(str(name))
        elif released == 0:
            basis = "本年解除担保金额为 0，代偿率无法计算"
        else:
            basis = "本年代偿金额或本年解除担保金额未填，代偿率无法计算"
        rows.append(_row("compensation_rate", "institution", str(name), value, unit="比例", cycle=cycle,
                         basis=basis, numerator=comp, denominator=released))
    if len(summary):
        value = total_comp / total_released if total_released else None
        rows.append(_row("compensation_rate", "city", city, value, unit="比例", cycle=cycle,
                         basis=(f"本年代偿金额合计 {_money(total_comp)} 万元 ÷ 本年解除担保金额合计 "
                                f"{_money(total_released)} 万元（{'、'.join(counted) or '无可用数据'}）"),
                         numerator=total_comp if counted else None, denominator=total_released or None))
    return rows


# ---------------------------------------------------------------------------------------------------------------
# History for the chart


def guarantee_history(indicators_year: pd.DataFrame) -> pd.DataFrame:
    """Leverage and in-force balance over the year's cycles, for a chart (no plotting here).

    Needs the indicator table of several cycles (`INDICATOR_COLUMNS`, `cycle` as str; other indicators are
    ignored). Returns one row per cycle × scope × scope_id (`HISTORY_COLUMNS`): `leverage` (倍), `leverage_cap`
    (the legal cap, the leverage row's target) and `in_force_balance` (万元), sorted by cycle, city rows first.
    """
    wanted = indicators_year[indicators_year["indicator"].isin(["guarantee_leverage", "guarantee_in_force_balance"])]
    if not len(wanted):
        return pd.DataFrame(columns=HISTORY_COLUMNS).astype(
            {"leverage": "float64", "leverage_cap": "float64", "in_force_balance": "float64"})
    keys = ["cycle", "scope", "scope_id"]
    leverage = wanted[wanted["indicator"] == "guarantee_leverage"][[*keys, "value", "target"]].rename(
        columns={"value": "leverage", "target": "leverage_cap"})
    balance = wanted[wanted["indicator"] == "guarantee_in_force_balance"][[*keys, "value"]].rename(
        columns={"value": "in_force_balance"})
    merged = leverage.merge(balance, on=keys, how="outer")
    merged = merged.assign(cycle=merged["cycle"].astype(str),
                           _order=(merged["scope"] != "city").astype(int))
    merged = merged.sort_values(["cycle", "_order", "scope_id"], kind="stable").drop(columns="_order")
    return merged[HISTORY_COLUMNS].reset_index(drop=True).astype(
        {"leverage": "float64", "leverage_cap": "float64", "in_force_balance": "float64"})
