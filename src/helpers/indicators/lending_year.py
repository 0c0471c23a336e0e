"""The year's loans and no-loan lists indexed once, so that the year-to-date figures of many cycles take one pass
over them (`lending.year_figures`): who was first seen where and when, each first-loan claim judged once, and the
plan's 口径 (`lending_scope`) applied to every loan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..core.values import cell_date as _date, cell_missing as _missing
from ..plan.model import Plan
from .lending_base import EARLIER_CYCLE, RENEWAL_NOT_FIRST, _as_records, _cycle_text, _ensure, _flags, _int, \
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


_LOAN_COLUMNS = ["bank_id", "bank", "category", "borrower", "borrower_id", "borrower_key", "loan_date",
                 "guarantee_method", "is_first_loan", "is_renewal", "first_claim", "county_unit_id", "county_name",
                 "file", "sheet", "row"]
_APPLICATION_COLUMNS = ["bank_id", "bank", "category", "applicant", "applicant_id", "applicant_key", "applied_on",
                        "replied_on", "result", "file", "sheet", "row"]
# The columns `lending_indicators` reads of each year table (a caller may leave the others out).
INPUT_COLUMNS = {"loans": _LOAN_COLUMNS, "applications": _APPLICATION_COLUMNS,
                 "noloan_list": ["county_unit_id", "entity_key"]}


def _claims(loans: pd.DataFrame) -> pd.DataFrame:
    """`first_loan_claims` of the loans `_upto` gave."""
    columns = ["cycle", *_LOAN_COLUMNS, "valid", "reason", "earliest_cycle", "counted"]
    if not len(loans):
        return pd.DataFrame(columns=columns)
    stated = _flags(loans["first_claim"])
    derived = _flags(loans["is_first_loan"]) & ~_flags(loans["is_renewal"])
    first_claim = stated.where(~loans["first_claim"].isna(), derived)
    flagged = _flags(loans["is_first_loan"]) | first_claim
    has_key = loans["borrower_key"].notna()
    # each borrower's first cycle with any loan (ISO texts sort as dates; compared as sorted codes)
    cycle_codes, cycle_names = pd.factorize(loans["cycle"], sort=True)
    key_codes, key_names = pd.factorize(loans.loc[has_key, "borrower_key"])
    first = np.full(len(key_names), len(cycle_names), dtype=np.int64)
    np.minimum.at(first, key_codes, cycle_codes[has_key.to_numpy()])
    first_code = pd.Series(first, index=np.asarray(key_names, dtype=object))
    claims = loans[flagged & has_key].copy()
    names = cycle_names.tolist()
    claims["earliest_cycle"] = [names[c] for c in first_code.reindex(claims["borrower_key"].to_numpy()).tolist()]
    renewal = _flags(claims["is_renewal"])
    earlier = claims["cycle"] > claims["earliest_cycle"]
    claims["reason"] = [RENEWAL_NOT_FIRST if r else (EARLIER_CYCLE if e else None) for r, e in zip(renewal, earlier)]
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


class _Households:
    """Distinct households per scope year to date, at every cycle position, from `records` (`borrower_key`,
    `bank_id`, `county_unit_id` as `_household_frame` gives them) and each record's cycle position. A category
    counts the records of the plan's banks of that category (as `_scopes_of_banks` groups them)."""

    def __init__(self, plan: Plan, records: pd.DataFrame, at: np.ndarray, n_cycles: int):
        keys, _ = _factorized(records["borrower_key"])
        banks, self.banks = _factorized(records["bank_id"])
        category = {u.id: u.category or "" for u in plan.banks}
        bank_category, self.categories = _factorized(pd.Series([category.get(b) for b in self.banks], dtype=object))
        categories = np.append(bank_category, -1).astype(np.int64)[banks]   # a record without a bank: -1
        counties, self.counties = _factorized(records["county_unit_id"])
        self._tables = {}
        for scope, groups, n_groups in (("city", np.zeros(len(keys), dtype=np.int64), 1),
                                        ("bank", banks, len(self.banks)),
                                        ("category", categories, len(self.categories)),
                                        ("county", counties, len(self.counties))):
            group, _, first = _first_seen(groups, keys, at)
            self._tables[scope] = _running_counts(group, first, n_groups, n_cycles)

    def at(self, position: int) -> _Counts:
        def nonzero(names: list, scope: str) -> dict[str, int]:
            return {name: int(n) for name, n in zip(names, self._tables[scope][:, position]) if n}

        return _Counts(int(self._tables["city"][0, position]), nonzero(self.banks, "bank"),
                       nonzero(self.categories, "category"), nonzero(self.counties, "county"))


class _YearLoans:
    """The loans and no-loan lists of one year up to the last of `cycles`, indexed once for the year-to-date
    figures of each of those cycles: who was first seen where and when, so that a cycle's distinct counts are
    read off running sums instead of counting the year so far again for every cycle.

    First-loan claims are judged once over the whole span: a claim is valid only in its borrower's first cycle
    with any loan, so a later cycle never changes which claims are valid nor which one counts."""

    def __init__(self, plan: Plan, cycles: list[dt.date], loans_year: pd.DataFrame | None,
                 noloan_year: pd.DataFrame | None):
        last = max(cycles)
        loans = _upto(loans_year, last, _LOAN_COLUMNS, only=True)
        noloan = _upto(noloan_year, last, ["county_unit_id", "entity_key"], only=True)
        self.cycles = sorted({*loans["cycle"].unique(), *noloan["cycle"].unique(), *(c.isoformat() for c in cycles)})
        n = len(self.cycles)
        loan_at = self._positions(loans["cycle"])

        # which banks sent loans, and how many loan rows there are, up to each cycle
        banks, self._bank_ids = _factorized(loans["bank_id"])
        bank_first = np.full(len(self._bank_ids), _NEVER, dtype=np.int64)
        np.minimum.at(bank_first, banks[banks >= 0], loan_at[banks >= 0])
        self._bank_first = bank_first
        self._loan_rows = _running_counts(np.zeros(len(loans), dtype=np.int64), loan_at, 1, n)[0]

        is_credit = ((loans["guarantee_method"] == "信用") & loans["borrower_key"].notna()).to_numpy(dtype=bool)
        self.credit = _Households(plan, _household_frame(loans[is_credit]), loan_at[is_credit], n)

        claims = _claims(loans)
        self.counted = claims[claims["counted"]] if len(claims) else claims
        self.first_loans = _Households(plan, _household_frame(self.counted), self._positions(self.counted["cycle"]), n)
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
            notable = claims[((claims["reason"] == EARLIER_CYCLE) | (claims["valid"] & ~claims["counted"] & other_bank))
                             & claims["cycle"].isin([c.isoformat() for c in cycles])]
            for rec in _as_records(notable):
                self.notable.setdefault(rec["cycle"], []).append(rec)
            wanted = set(notable.loc[notable["valid"], "borrower_key"])
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
