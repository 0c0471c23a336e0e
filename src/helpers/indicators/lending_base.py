"""What the lending cleaning and the year engine share: the indicator list, the plan's
units and banks looked up, rows as records.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..core.identifiers import check_id, mask_id, mask_name
from ..core.values import cell_date as _date, cell_float as _num, cell_missing as _missing
from ..ingest.tables import SheetFormat
from ..plan.model import BANK_CATEGORIES, Plan, Unit, name_key


SCOPES = ("city", "category", "county", "bank")
RENEWAL_NOT_FIRST = "renewal"
EARLIER_CYCLE = "earlier_cycle"
EARLIER_DATE = "earlier_date"        # an earlier-dated loan of the same cycle, at any bank
OUT_OF_SCOPE = "out_of_scope"        # a borrower outside the plan's household scope (lending_scope)
DEFAULT_WORKDAYS = 5
BANK_PLAN_ITEMS = {
    "inclusive_sme_loan_balance_increase": "普惠型小微企业贷款余额较年初增量",
    "first_loan_households": "首贷户数",
}
_SCOPE_ORDER = {s: i for i, s in enumerate(SCOPES)}
_AMOUNT_ROLES = (
    "total_loans", "credit_loans", "sme_loans", "sme_loans_last_year", "sme_loans_year_start", "renewal_balance",
    "sme_long_term_loans", "credit_loans_year_start", "total_loans_year_start",
)
_COUNT_ROLES = ("credit_households", "sme_households", "first_loan_households_reported")
_BASELINE_ROLES = {
    "sme_loans_last_year": "同比增速",
    "sme_loans_year_start": "信贷计划完成率",
    "credit_loans_year_start": "年初信用贷款占比",
    "total_loans_year_start": "年初信用贷款占比",
}


# ---------------------------------------------------------------------------------------------------------------
# Small private helpers




def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def _text(value: Any) -> str | None:
    if _missing(value):
        return None
    text = str(value).strip()
    return text or None


def _flag(value: Any) -> bool:
    """True only for a real 是 (True); None, NaN and 否 are False."""
    if _missing(value):
        return False
    if isinstance(value, str):
        return value.strip() in ("是", "True", "true", "1")
    try:
        return bool(value)
    except (TypeError, ValueError):
        return False



def _cycle_text(value: Any) -> str | None:
    day = _date(value)
    return day.isoformat() if day else None


def _header(fmt: SheetFormat, role: str) -> str:
    for col in fmt.columns:
        if col.role == role:
            return col.title
    return role


def _place(record: Mapping[str, Any], fmt: SheetFormat | None = None, role: str | None = None,
           unit: str | None = None) -> dict[str, Any]:
    return {
        "file": _text(record.get("file")),
        "sheet": _text(record.get("sheet")),
        "row": _int(record.get("row")),
        "column": _header(fmt, role) if fmt is not None and role else None,
        "unit": unit,
    }


def _ensure(frame: pd.DataFrame | None, columns: Iterable[str]) -> pd.DataFrame:
    """A copy of `frame` (or an empty frame) with every column in `columns` present (missing ones all null)."""
    frame = pd.DataFrame() if frame is None else frame.copy(deep=False)   # copy-on-write: a cheap, safe copy
    for col in columns:
        if col not in frame.columns:
            frame[col] = pd.Series([None] * len(frame), index=frame.index, dtype="object")
    return frame


def _amount(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f} 万元"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


def _count(value: float | None, unit: str = "户") -> str:
    return "—" if value is None else f"{int(value):,} {unit}"


def identity_key(identifier: Any, name: Any) -> str | None:
    """Who a row is about: the normalised 证件号码, or ``名称:`` plus the normalised name when it is missing."""
    ident = _text(identifier)
    if ident:
        return ident.upper()
    name = _text(name)
    if name:
        return "名称:" + name_key(name)
    return None


def _who(name: Any, identifier: Any) -> str:
    """A borrower as a finding may show it: an enterprise by name and code; a person only by a masked ID."""
    ident = _text(identifier)
    name = _text(name)
    if ident:
        check = check_id(ident)
        if check.kind == "uscc" and check.valid:
            return f"「{name}」（{ident}）" if name else ident
        return f"证件号码 {mask_id(ident)}"
    return f"「{mask_name(name)}」" if name else "（无名称、无证件号码）"


def _county_label(unit: Unit) -> str:
    return unit.county or re.sub(r"(人民政府|政府)$", "", unit.name)


def _county_index(plan: Plan) -> dict[str, Unit]:
    index: dict[str, Unit] = {}
    for unit in plan.units_of(kind="county"):
        for text in (*unit.names, unit.county, _county_label(unit)):
            if text:
                index.setdefault(name_key(text), unit)
    return index


def _find_county(plan: Plan, text: Any, index: dict[str, Unit] | None = None) -> Unit | None:
    """The county unit a 所属县区 text names: exactly, else the longest county name inside the text."""
    text = _text(text)
    if not text:
        return None
    index = _county_index(plan) if index is None else index
    key = name_key(text)
    if key in index:
        return index[key]
    hits = [(len(k), u) for k, u in index.items() if len(k) >= 2 and k in key]
    return max(hits, key=lambda h: h[0])[1] if hits else None


def _plan_unit(plan: Plan, unit_id: Any) -> Unit | None:
    unit_id = _text(unit_id)
    if not unit_id:
        return None
    try:
        return plan.unit(unit_id)
    except KeyError:
        return None


def _bank_unit(plan: Plan, unit_id: Any) -> Unit | None:
    unit = _plan_unit(plan, unit_id)
    return unit if unit is not None and unit.kind == "bank" else None


def _category_rank(category: Any) -> int:
    return BANK_CATEGORIES.index(category) if category in BANK_CATEGORIES else len(BANK_CATEGORIES)


def _per_value(series: pd.Series, fn) -> list:
    """`[fn(v) for v in series]`, with `fn` called once per distinct value (values are told apart by type as well,
    so 1 and True, or 1 and 1.0, never share a result). `fn` must give the same result for every missing value."""
    if series.dtype != object:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        table = [fn(u) for u in uniques.tolist()]
        if (codes < 0).any():
            table.append(fn(series[codes < 0].iloc[0]))   # code -1, the last entry
        lookup = np.empty(max(len(table), 1), dtype=object)
        for i, result in enumerate(table):                 # one by one: a tuple result stays one object
            lookup[i] = result
        return lookup[codes].tolist()
    memo: dict = {}
    out = []
    append = out.append
    for v in series.tolist():
        key = v if type(v) is str else (type(v), v)
        try:
            append(memo[key])
        except KeyError:
            result = memo[key] = fn(v)
            append(result)
        except TypeError:            # an unhashable cell
            append(fn(v))
    return out


def _flags(series: pd.Series) -> pd.Series:
    """`series.map(_flag)` as a bool Series, `_flag` called once per distinct value."""
    return pd.Series(_per_value(series, _flag), index=series.index, dtype="bool")


def _id_key(value: Any) -> str | None:
    text = _text(value)
    return text.upper() if text else None


def _keys(ids: pd.Series, names: pd.Series) -> list:
    """`identity_key` of every row: the normalised 证件号码, else ``名称:`` and the normalised name."""
    by_id = _per_value(ids, _id_key)
    if all(k is not None for k in by_id):
        return by_id
    by_name = _per_value(names, lambda v: identity_key(None, v))
    return [k if k is not None else n for k, n in zip(by_id, by_name)]


def _as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """`frame.to_dict("records")`, column by column (much faster on Arrow-backed text columns)."""
    columns = list(frame.columns)
    return [dict(zip(columns, values)) for values in zip(*(frame[c].tolist() for c in columns))]


def _records(frame: pd.DataFrame, positions) -> list[dict[str, Any]]:
    """The rows at `positions` as `to_dict("records")` gives them (for findings about a few rows)."""
    return frame.iloc[list(positions)].to_dict("records") if len(positions) else []
