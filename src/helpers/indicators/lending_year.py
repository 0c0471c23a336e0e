"""The year's loans and no-loan lists indexed once, so that the year-to-date figures of many cycles take one pass
over them (`lending.year_figures`): who was first seen where and when, each first-loan claim judged once, and the
plan's 口径 (`lending_scope`) applied to every loan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from ..core.values import cell_date as _date, cell_float as _num, cell_missing as _missing
from ..plan.model import Plan
from . import lending_scope
from .lending_scope import IN_SCOPE, LINE_ABOVE, OTHER_TYPE, UNPLACED
from .lending_base import EARLIER_CYCLE, EARLIER_DATE, OUT_OF_SCOPE, RENEWAL_NOT_FIRST, _as_records, _cycle_text, _ensure, _flags, _int, \
    _per_value, _text


def _upto(frame: pd.DataFrame | None, cycle: dt.date, columns: Iterable[str], only: bool = False) -> pd.DataFrame:
    """Rows of the cycles of `cycle`'s year up to `cycle`; `cycle` as ISO text. A frame without a `cycle`
    column is taken as the current cycle's. `only`: keep just `columns` and `cycle` (less to filter)."""
    frame = _ensure(frame, columns)
    if only:
        frame = frame[[c for c in dict.fromkeys([*columns, "cycle"]) if c in frame.columns]]
    current = cycle.isoformat()
    if "cycle" not in frame.columns:
        return frame.assign(cycle=current)
    listed = _per_value(frame["cycle"], _cycle_text)
    texts = pd.Series(listed, index=frame.index, dtype="object")
    kept = {c: c is not None and c <= current and c[:4] == current[:4] for c in set(listed)}
    keep = pd.Series([kept[c] for c in listed], index=frame.index, dtype="bool")
    if keep.all():      # the usual case (the year so far): no rows to drop, nothing to copy
        return frame.assign(cycle=texts).reset_index(drop=True)
    return frame.assign(cycle=texts)[keep].reset_index(drop=True)


_LOAN_COLUMNS = ["bank_id", "bank", "category", "borrower", "borrower_id", "borrower_key", "borrower_type",
                 "loan_date", "maturity_date", "amount", "credit_line", "guarantee_method", "is_first_loan", "is_renewal", "first_claim",
                 "county_unit_id", "county_name", "file", "sheet", "row"]
_APPLICATION_COLUMNS = ["bank_id", "bank", "category", "applicant", "applicant_id", "applicant_key", "applied_on",
                        "replied_on", "result", "file", "sheet", "row"]
# The columns `lending_indicators` reads of each year table (a caller may leave the others out).
INPUT_COLUMNS = {"loans": _LOAN_COLUMNS, "applications": _APPLICATION_COLUMNS,
                 "noloan_list": ["county_unit_id", "entity_key"]}


def _claims(loans: pd.DataFrame, in_scope: np.ndarray | None = None,
            earlier: pd.DataFrame | None = None) -> pd.DataFrame:
    """`first_loan_claims` of the loans `_upto` gave. `in_scope`: per loan, whether its borrower is of the plan's
    household scope (`lending_scope`); `earlier`: borrowers with a loan before this year (`borrower_key`, `cycle`:
    their first cycle), from every earlier cycle available."""
    columns = ["cycle", *_LOAN_COLUMNS, "valid", "reason", "earliest_cycle", "earlier_bank", "earlier_date",
               "counted"]
    if not len(loans):
        return pd.DataFrame(columns=columns)
    stated = _flags(loans["first_claim"])
    derived = _flags(loans["is_first_loan"]) & ~_flags(loans["is_renewal"])
    first_claim = stated.where(~loans["first_claim"].isna(), derived)
    flagged = _flags(loans["is_first_loan"]) | first_claim
    has_key = loans["borrower_key"].notna()
    # each borrower's first cycle with any loan, earlier years included (ISO texts sort as dates; compared as
    # sorted codes)
    before = earlier if earlier is not None and len(earlier) else pd.DataFrame({"borrower_key": [], "cycle": []})
    all_keys = np.concatenate([loans.loc[has_key, "borrower_key"].to_numpy(dtype=object),
                               before["borrower_key"].to_numpy(dtype=object)])
    all_cycles = np.concatenate([loans.loc[has_key, "cycle"].to_numpy(dtype=object),
                                 before["cycle"].to_numpy(dtype=object)])
    cycle_codes, cycle_names = pd.factorize(all_cycles, sort=True)
    key_codes, key_names = pd.factorize(all_keys)
    first = np.full(len(key_names), len(cycle_names), dtype=np.int64)
    np.minimum.at(first, key_codes, cycle_codes)
    first_code = pd.Series(first, index=np.asarray(key_names, dtype=object))
    scoped = pd.Series(True if in_scope is None else in_scope, index=loans.index, dtype="bool")
    claims = loans[flagged & has_key].assign(in_scope=scoped[flagged & has_key])
    names = cycle_names.tolist()
    claims["earliest_cycle"] = [names[c] for c in first_code.reindex(claims["borrower_key"].to_numpy()).tolist()]
    claims = claims.join(_earlier_in_cycle(loans[has_key], claims))
    renewal = _flags(claims["is_renewal"])
    earlier_cycle = claims["cycle"] > claims["earliest_cycle"]
    earlier_date = claims["earlier_date"].notna()
    claims["reason"] = [RENEWAL_NOT_FIRST if r else EARLIER_CYCLE if c else EARLIER_DATE if d else
                        None if s else OUT_OF_SCOPE
                        for r, c, d, s in zip(renewal, earlier_cycle, earlier_date, claims["in_scope"])]
    claims["valid"] = claims["reason"].isna()
    # the order of `(loan date or date.max, cycle, bank or "\uffff", file, row or 0)`, ties kept in place
    order = pd.DataFrame({
        "d": _per_value(claims["loan_date"], lambda d: (_date(d) or dt.date.max).toordinal()),
        "c": claims["cycle"].tolist(),
        "b": _per_value(claims["bank"], lambda b: str(b) if not _missing(b) else "\uffff"),
        "f": _per_value(claims["file"], str),
        "r": _per_value(claims["row"], lambda r: _int(r) or 0),
    }, index=claims.index)
    claims = claims.loc[order.sort_values(["d", "c", "b", "f", "r"], kind="stable").index]
    counted = pd.Series(False, index=claims.index)
    valid = claims[claims["valid"]]
    counted.loc[valid.drop_duplicates("borrower_key").index] = True
    claims["counted"] = counted
    return claims[columns].reset_index(drop=True)


def _earlier_in_cycle(loans: pd.DataFrame, claims: pd.DataFrame) -> pd.DataFrame:
    """For each claim (index of `claims`): the bank and 发放日期 of its borrower's earliest loan of the same cycle,
    at any bank, when that loan was granted before the claimed one (else both null). Loans of one cycle are ordered
    by 发放日期 across banks: the cycle a bank reports in says nothing about which loan came first."""
    def ordinals(series: pd.Series) -> np.ndarray:
        return np.array(_per_value(series, lambda d: (_date(d) or dt.date.max).toordinal()), dtype=np.int64)

    mine = loans[loans["borrower_key"].isin(set(claims["borrower_key"]))]
    dated = pd.DataFrame({"borrower_key": mine["borrower_key"].to_numpy(dtype=object),
                          "cycle": mine["cycle"].to_numpy(dtype=object), "day": ordinals(mine["loan_date"]),
                          "earlier_bank": _per_value(mine["bank"], _text)})
    earliest = dated.sort_values("day", kind="stable").drop_duplicates(["borrower_key", "cycle"])
    found = claims[["borrower_key", "cycle"]].merge(earliest, how="left", on=["borrower_key", "cycle"])
    claimed = ordinals(claims["loan_date"])
    day = found["day"].fillna(dt.date.max.toordinal()).to_numpy(dtype=np.int64)
    earlier = (day < claimed) & (claimed < dt.date.max.toordinal())
    dates = [dt.date.fromordinal(int(d)) if e else None for d, e in zip(day, earlier)]
    banks = [b if e else None for b, e in zip(found["earlier_bank"], earlier)]
    return pd.DataFrame({"earlier_bank": banks, "earlier_date": dates}, index=claims.index, dtype="object")


_NEVER = np.iinfo(np.int64).max


def _first_seen(groups: np.ndarray, keys: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each distinct (group, key) pair of the rows (codes; negative ones are left out): its group, its key and
    the first cycle position it is seen at."""
    ok = (groups >= 0) & (keys >= 0)
    g, k, a = groups[ok].astype(np.int64), keys[ok].astype(np.int64), at[ok].astype(np.int64)
    if not len(g):
        return g, k, a
    width = int(k.max()) + 1
    pairs, inverse = np.unique(g * width + k, return_inverse=True)
    first = np.full(len(pairs), _NEVER, dtype=np.int64)
    np.minimum.at(first, inverse, a)
    return pairs // width, pairs % width, first


def _running_counts(groups: np.ndarray, at: np.ndarray, n_groups: int, n_cycles: int) -> np.ndarray:
    """counts[g, i]: the items of group g seen at a cycle position ≤ i (a position ≥ n_cycles: never)."""
    counts = np.zeros((n_groups, n_cycles + 1), dtype=np.int64)
    np.add.at(counts, (groups, np.minimum(at, n_cycles)), 1)
    return counts[:, :n_cycles].cumsum(axis=1)


def _factorized(values: pd.Series | np.ndarray) -> tuple[np.ndarray, list]:
    """Codes (−1 for a missing value) and the distinct values, in the order first seen."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    return codes, list(uniques)


@dataclass(frozen=True)
class _Counts:
    """Distinct households year to date at one cycle: city-wide, and per bank, bank category and county (those
    with any only)."""

    city: int
    bank: dict[str, int]
    category: dict[str, int]
    county: dict[str, int]


class _ScopeGroups:
    """The records (`bank_id`, `county_unit_id` as `_household_frame` gives them) grouped per scope: city-wide, per
    bank, per bank category (the plan's banks of that category, as `_scopes_of_banks` groups them) and per county;
    `groups()` gives (scope, each record's group code, −1 for none, number of groups)."""

    def __init__(self, plan: Plan, records: pd.DataFrame):
        self.size = len(records)
        self._banks, self.banks = _factorized(records["bank_id"])
        category = {u.id: u.category or "" for u in plan.banks}
        bank_category, self.categories = _factorized(pd.Series([category.get(b) for b in self.banks], dtype=object))
        self._categories = np.append(bank_category, -1).astype(np.int64)[self._banks]   # a record without a bank: -1
        self._counties, self.counties = _factorized(records["county_unit_id"])

    def groups(self) -> list[tuple[str, np.ndarray, int]]:
        return [("city", np.zeros(self.size, dtype=np.int64), 1), ("bank", self._banks, len(self.banks)),
                ("category", self._categories, len(self.categories)),
                ("county", self._counties, len(self.counties))]

    def counts(self, tables: dict[str, np.ndarray], position: int, keep: Callable[[float], bool],
               value: Callable[[Any], Any]) -> _Counts:
        """The `tables` (scope → [group, position]) at `position` as `_Counts`, the groups `keep` accepts."""
        def per(names: list, scope: str) -> dict:
            return {name: value(v) for name, v in zip(names, tables[scope][:, position]) if keep(v)}

        return _Counts(value(tables["city"][0, position]), per(self.banks, "bank"),
                       per(self.categories, "category"), per(self.counties, "county"))


class _Households:
    """Distinct households per scope year to date, at every cycle position, from `records` (`borrower_key`,
    `bank_id`, `county_unit_id` as `_household_frame` gives them) and each record's cycle position."""

    def __init__(self, plan: Plan, records: pd.DataFrame, at: np.ndarray, n_cycles: int):
        keys, _ = _factorized(records["borrower_key"])
        self.scopes = _ScopeGroups(plan, records)
        self._tables = {}
        for scope, groups, n_groups in self.scopes.groups():
            group, _, first = _first_seen(groups, keys, at)
            self._tables[scope] = _running_counts(group, first, n_groups, n_cycles)

    def at(self, position: int) -> _Counts:
        return self.scopes.counts(self._tables, position, bool, int)


class _Sums:
    """Year-to-date sums of `weights` (name → a value per record) per bank, bank category, county and city-wide,
    at every cycle position; the records as `_household_frame` gives them, with their cycle positions."""

    def __init__(self, plan: Plan, records: pd.DataFrame, at: np.ndarray, n_cycles: int,
                 weights: dict[str, np.ndarray]):
        self.scopes = _ScopeGroups(plan, records)
        self.names = list(weights)
        self._tables: dict[str, dict[str, np.ndarray]] = {}
        for name, weight in weights.items():
            weight = np.nan_to_num(np.asarray(weight, dtype=float))
            tables = {}
            for scope, groups, n_groups in self.scopes.groups():
                ok = (groups >= 0) & (at >= 0)
                cells = groups[ok].astype(np.int64) * (n_cycles + 1) + np.minimum(at[ok], n_cycles)
                table = np.bincount(cells, weights=weight[ok], minlength=n_groups * (n_cycles + 1))
                tables[scope] = table.reshape(n_groups, n_cycles + 1)[:, :n_cycles].cumsum(axis=1)
            self._tables[name] = tables

    def at(self, position: int, name: str) -> _Counts:
        return self.scopes.counts(self._tables[name], position, lambda v: True, float)


def _scope_weights(codes: np.ndarray, amounts: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Weights for `_Sums` of loans classified by `LoanScope.classify`: how many were left out (a type outside
    the scope, a line above it), how many could not be placed, and, given `amounts`, the amounts in and out."""
    out = {"other": (codes == OTHER_TYPE).astype(float), "above": (codes == LINE_ABOVE).astype(float),
           "unplaced": (codes == UNPLACED).astype(float)}
    if amounts is not None:
        counted = (codes == IN_SCOPE) | (codes == UNPLACED)
        out["amount"] = np.where(counted, amounts, 0.0)
        out["left_amount"] = np.where(counted, 0.0, amounts)
    return out


class _YearLoans:
    """The loans and no-loan lists of one year up to the last of `cycles`, indexed once for the year-to-date
    figures of each of those cycles: who was first seen where and when, so that a cycle's distinct counts are
    read off running sums instead of counting the year so far again for every cycle.

    First-loan claims are judged once over the whole span: a claim is valid only in its borrower's first cycle
    with any loan, so a later cycle never changes which claims are valid nor which one counts."""

    def __init__(self, plan: Plan, cycles: list[dt.date], loans_year: pd.DataFrame | None,
                 noloan_year: pd.DataFrame | None, earlier_loans: pd.DataFrame | None = None):
        last = max(cycles)
        loans = _upto(loans_year, last, _LOAN_COLUMNS, only=True)
        noloan = _upto(noloan_year, last, ["county_unit_id", "entity_key"], only=True)
        self.cycles = sorted({*loans["cycle"].unique(), *noloan["cycle"].unique(), *(c.isoformat() for c in cycles)})
        n = len(self.cycles)
        loan_at = self._positions(loans["cycle"])

        # which banks sent loans, and how many loan rows there are, up to each cycle
        banks, self._bank_ids = _factorized(loans["bank_id"])
        self._bank_codes = banks
        bank_first = np.full(len(self._bank_ids), _NEVER, dtype=np.int64)
        np.minimum.at(bank_first, banks[banks >= 0], loan_at[banks >= 0])
        self._bank_first = bank_first
        self._loan_rows = _running_counts(np.zeros(len(loans), dtype=np.int64), loan_at, 1, n)[0]

        # the plan's 口径: 普惠型小微企业贷款, and the households the household counts count
        self.scopes = lending_scope.scopes(plan)
        loan_records = _household_frame(loans)
        amounts = np.array([a if a is not None else np.nan for a in _per_value(loans["amount"], _num)], dtype=float)
        sme_codes = self.scopes[lending_scope.INCLUSIVE_SME].classify(loans)
        self.sme = _Sums(plan, loan_records, loan_at, n, _scope_weights(sme_codes, amounts))
        self._keys, _ = _factorized(loans["borrower_key"])
        self._sme_outstanding = self._outstanding(loans, loan_at, sme_codes)
        household_codes = self.scopes[lending_scope.HOUSEHOLDS].classify(loans)
        household = (household_codes == IN_SCOPE) | (household_codes == UNPLACED)

        is_credit = ((loans["guarantee_method"] == "信用") & loans["borrower_key"].notna()).to_numpy(dtype=bool)
        self.credit = _Households(plan, loan_records[is_credit & household], loan_at[is_credit & household], n)
        self.credit_scope = _Sums(plan, loan_records[is_credit], loan_at[is_credit], n,
                                  _scope_weights(household_codes[is_credit]))

        claims = _claims(loans, household, earlier_loans)
        self.counted = claims[claims["counted"]] if len(claims) else claims
        self.first_loans = _Households(plan, _household_frame(self.counted), self._positions(self.counted["cycle"]), n)
        claimed = (_flags(loans["is_first_loan"]) & loans["borrower_key"].notna()).to_numpy(dtype=bool)
        self.first_loan_scope = _Sums(plan, loan_records[claimed], loan_at[claimed], n,
                                      _scope_weights(household_codes[claimed]))
        # the claims one of `cycles` may have to say something about (cycle → records): a borrower with a loan in
        # an earlier cycle, or a valid claim another bank's claim counts for; and those counted claims by borrower
        # (the counted claim of a valid one is in the same cycle: see above)
        self.notable: dict[str, list[dict[str, Any]]] = {}
        self.winners: dict[str, dict[str, Any]] = {}
        if len(claims):
            winner_bank = claims["borrower_key"].map(pd.Series(
                _per_value(self.counted["bank_id"], _text), index=self.counted["borrower_key"].tolist(), dtype="object"))
            other_bank = pd.Series(_per_value(winner_bank, _text), index=claims.index, dtype="object") \
                != pd.Series(_per_value(claims["bank_id"], _text), index=claims.index, dtype="object")
            notable = claims[(claims["reason"].isin([EARLIER_CYCLE, EARLIER_DATE])
                              | (claims["valid"] & ~claims["counted"] & other_bank))
                             & claims["cycle"].isin([c.isoformat() for c in cycles])]
            for rec in _as_records(notable):
                self.notable.setdefault(rec["cycle"], []).append(rec)
            wanted = set(notable.loc[notable["valid"] | (notable["reason"] == EARLIER_DATE), "borrower_key"])
            winners = self.counted[self.counted["borrower_key"].isin(wanted)]
            self.winners = {rec["borrower_key"]: rec for rec in _as_records(winners)}

        # listed households (city-wide and per county) and when each first got a loan
        listed = noloan[noloan["entity_key"].notna()]
        keys, _ = _factorized(np.concatenate([listed["entity_key"].to_numpy(dtype=object),
                                              loans["borrower_key"].to_numpy(dtype=object)]))
        entity, borrower = keys[:len(listed)], keys[len(listed):]
        borrowed_first = np.full(int(keys.max()) + 1 if len(keys) else 0, _NEVER, dtype=np.int64)
        np.minimum.at(borrowed_first, borrower[borrower >= 0], loan_at[borrower >= 0])
        listed_at = self._positions(listed["cycle"])
        counties, self.list_counties = _factorized(listed["county_unit_id"])
        self._listed = {}
        for scope, groups, n_groups in (("city", np.zeros(len(listed), dtype=np.int64), 1),
                                        ("county", counties, len(self.list_counties))):
            group, key, first = _first_seen(groups, entity, listed_at)
            self._listed[scope] = (_running_counts(group, first, n_groups, n),
                                   _running_counts(group, np.maximum(first, borrowed_first[key]), n_groups, n))

    def _outstanding(self, loans: pd.DataFrame, at: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """counts[bank, position]: distinct borrowers with a loan of this year in the 普惠 口径 granted up to that
        cycle and maturing after it (a loan without 到期日期 is left out)."""
        n = len(self.cycles)
        keep = ((codes == IN_SCOPE) | (codes == UNPLACED)) & (self._keys >= 0) & (at >= 0)
        bank_codes = self._bank_codes[keep].astype(np.int64)
        keys = self._keys[keep]
        maturity = np.array(_per_value(loans.loc[keep, "maturity_date"], lambda d: _date(d).toordinal() if _date(d)
                                       else -1), dtype=np.int64)
        cycle_days = np.array([dt.date.fromisoformat(c).toordinal() for c in self.cycles], dtype=np.int64)
        # each loan is outstanding at the positions from its own to the last cycle before its 到期日期
        start, end = at[keep], np.searchsorted(cycle_days, maturity, side="left") - 1
        ok = (bank_codes >= 0) & (end >= start)
        key_width = int(keys.max()) + 1 if len(keys) else 1
        pairs, pair_of = np.unique(bank_codes[ok] * key_width + keys[ok], return_inverse=True)
        width = n + 1
        change = np.bincount(pair_of * width + start[ok], minlength=len(pairs) * width) \
            - np.bincount(pair_of * width + end[ok] + 1, minlength=len(pairs) * width)
        live = change.reshape(len(pairs), width).cumsum(axis=1)[:, :n] > 0
        table = np.zeros((len(self._bank_ids), n), dtype=np.int64)
        np.add.at(table, pairs // key_width, live.astype(np.int64))
        return table

    def sme_borrowers_outstanding(self, cycle: dt.date) -> dict[str, int]:
        """Per bank: distinct borrowers with a loan of this year in the 普惠 口径 granted up to `cycle` and maturing
        after it (a loan without 到期日期 is left out): the least its 普惠型小微企业贷款户数 can be."""
        counts = self._sme_outstanding[:, self.position(cycle)]
        return {self._bank_ids[i]: int(c) for i, c in enumerate(counts) if c}

    def _positions(self, cycles: pd.Series) -> np.ndarray:
        codes, uniques = _factorized(cycles)
        lookup = np.array([self.cycles.index(c) for c in uniques] + [-1], dtype=np.int64)
        return lookup[codes]

    def position(self, cycle: dt.date) -> int:
        return self.cycles.index(cycle.isoformat())

    def loan_rows(self, position: int) -> int:
        return int(self._loan_rows[position])

    def loan_banks(self, position: int) -> set[str]:
        return {b for b, first in zip(self._bank_ids, self._bank_first) if first <= position}

    def listed(self, scope: str, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Distinct listed households and those of them with a loan, per group of `scope`, up to `position`."""
        listed, got = self._listed[scope]
        return listed[:, position], got[:, position]




def _household_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """borrower_key, bank_id and county_unit_id of each row, the ids as `_text` gives them (object columns)."""
    return pd.DataFrame({
        "borrower_key": frame["borrower_key"].to_numpy(),
        "bank_id": pd.Series(_per_value(frame["bank_id"], _text), dtype="object").to_numpy(),
        "county_unit_id": pd.Series(_per_value(frame["county_unit_id"], _text), dtype="object").to_numpy(),
    })
