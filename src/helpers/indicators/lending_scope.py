"""Which loans of the 贷款明细 count in which figure: the plan's 口径 (scope) of 普惠型小微企业贷款 and of the
household counts (首贷户数, 获得信用贷款户数).

The regulators' definition (银保监办发〔2019〕48号 and the PBOC's 普惠小微 statistics): 普惠型小微企业贷款 are loans
to 小微企业, 个体工商户 and 小微企业主 with 单户授信总额 ≤ 1000万元; the plan's 首贷户 and 信用贷款户 are 小微企业 and
个体工商户 (DOMAIN.md §4, the plan's 无贷户名单 of 小微企业及个体工商户). A plan states both under
``plan.lending_scope`` (docs/plan-format.md); `DEFAULT_SCOPES` is that definition, for a plan that does not.

A loan whose 借款人类型 or 单户授信总额 is blank cannot be placed: it is counted (a bank whose ledger has no such
column is not made to look empty) and the figure's basis says how many were counted so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..core.values import cell_float as _num, cell_missing as _missing
from ..plan.model import Plan
from .lending_base import _per_value

INCLUSIVE_SME = "inclusive_sme"
HOUSEHOLDS = "households"
DEFAULT_SCOPES: dict[str, dict[str, Any]] = {
    INCLUSIVE_SME: {"borrower_types": ["小微企业", "个体工商户", "小微企业主"], "credit_line_max": 1000},
    HOUSEHOLDS: {"borrower_types": ["小微企业", "个体工商户"], "credit_line_max": 1000},
}

# what `LoanScope.classify` says of a loan
IN_SCOPE, OTHER_TYPE, LINE_ABOVE, UNPLACED = 0, 1, 2, 3


@dataclass(frozen=True)
class LoanScope:
    """Borrower types and the largest 单户授信总额 (万元; None: no limit) a loan must have to count."""

    borrower_types: tuple[str, ...]
    credit_line_max: float | None

    def describe(self) -> str:
        """The scope in the words of a basis: 「借款人类型为小微企业、个体工商户，单户授信总额不超过1000万元」."""
        text = f"借款人类型为{'、'.join(self.borrower_types)}"
        if self.credit_line_max is not None:
            text += f"，单户授信总额不超过{self.credit_line_max:g}万元"
        return text

    def classify(self, loans: pd.DataFrame) -> np.ndarray:
        """Per loan: `IN_SCOPE`, `OTHER_TYPE` (a type outside the scope), `LINE_ABOVE` (单户授信总额 above the
        limit) or `UNPLACED` (type or line blank, so counted). Columns `borrower_type`, `credit_line` (optional)."""
        n = len(loans)
        types = loans["borrower_type"] if "borrower_type" in loans.columns else pd.Series([None] * n, dtype="object")
        # per distinct value: 1 a type of the scope, 0 another type, -1 blank
        kind = np.array(_per_value(types, lambda t: -1 if _missing(t) or not str(t).strip()
                                   else int(str(t).strip() in self.borrower_types)), dtype=np.int8)
        typed, other = kind >= 0, kind == 0
        lines = (pd.Series(_per_value(loans["credit_line"], lambda v: _num(v)), dtype="float64")
                 if "credit_line" in loans.columns else pd.Series(np.nan, index=range(n), dtype="float64"))
        line_known = lines.notna().to_numpy(dtype=bool)
        above = line_known & (lines.to_numpy(dtype=float) > self.credit_line_max + 1e-9) \
            if self.credit_line_max is not None else np.zeros(n, dtype=bool)
        codes = np.full(n, IN_SCOPE, dtype=np.int8)
        limited = self.credit_line_max is not None
        codes[~typed | (limited & ~line_known)] = UNPLACED
        codes[above] = LINE_ABOVE
        codes[other] = OTHER_TYPE
        return codes


def scopes(plan: Plan) -> dict[str, LoanScope]:
    """The plan's scopes (``plan.lending_scope``), each part it leaves out from `DEFAULT_SCOPES`."""
    given = (getattr(plan, "meta", None) or {}).get("lending_scope") or {}
    out = {}
    for name, default in DEFAULT_SCOPES.items():
        spec: Mapping[str, Any] = {**default, **(given.get(name) or {})}
        limit = spec.get("credit_line_max")
        out[name] = LoanScope(tuple(spec["borrower_types"]), None if limit is None else float(limit))
    return out


def left_out_text(other: float, above: float, unplaced: float, left_amount: float | None = None,
                  what: str = "笔贷款") -> str:
    """What a basis says of the loans a scope left out (`other`: a type outside it, `above`: 单户授信总额 above its
    limit, with `left_amount` 万元 between them) and of those counted without being placeable (`unplaced`):
    「另有 3 笔贷款、1,200.00 万元不属于口径，未计入（单户授信总额超过上限 1 笔、借款人类型不符 2 笔）；未填借款人类型
    或单户授信总额的 4 笔贷款按口径内计入」; '' when every loan was in."""
    other, above, unplaced = int(other), int(above), int(unplaced)
    parts = []
    if other or above:
        reasons = "、".join(p for p in (f"单户授信总额超过上限 {above:,} 笔" if above else "",
                                        f"借款人类型不符 {other:,} 笔" if other else "") if p)
        amount = f"、{left_amount:,.2f} 万元" if left_amount is not None else ""
        parts.append(f"另有 {other + above:,} {what}{amount}不属于口径，未计入（{reasons}）")
    if unplaced:
        parts.append(f"未填借款人类型或单户授信总额的 {unplaced:,} {what}按口径内计入")
    return "；".join(parts)
