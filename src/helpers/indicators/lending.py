"""Lending indicators: clean the 信贷数据台账 and 无贷户名单 tables, then compute the plan's lending indicators
(DOMAIN.md §4) per bank, per bank category, per county and city-wide, each with its target and a status.

Stage functions are pure: they take the frames the ingest stage wrote (`bank_summary_raw`, `loans_raw`,
`applications_raw`, `noloan_list_raw`, see `helpers.ledgers`) and the `Plan`, return new frames and findings, and
never touch a file or their arguments.

Cleaning (one cycle at a time)
    `clean_bank_summary`, `clean_loans`, `clean_applications`, `clean_noloan` add the unit columns (`bank_id`,
    `bank`, `category`; `county_unit_id`, `county_name`) and an identity key, keep every row, and return a finding
    for each impossible value (信用贷款余额 above 各项贷款余额, negative balances, a loan dated outside the cycle's
    window, a reply before its application, …). Identifiers were normalised and checked by the ingest stage (a bad
    one is already a finding there and the row is kept); here they only become keys.

    Identity of a borrower, applicant or listed household (`borrower_key`, `applicant_key`, `entity_key`): the
    normalised 证件号码; when it is missing, ``名称:`` followed by the normalised name.

Indicators (`lending_indicators`, year to date; `year_figures` for many cycles of a year in one pass)
    Stock figures come from the current cycle's 主要指标 rows; start-of-year figures from the 年初 columns.
    Category and city figures are ratios of summed balances over the banks that reported both parts, never
    averages of bank rates. Flows and households come from 贷款明细 of every cycle of the year up to this one.

    first_loan_households: a claim is a loan flagged 是否首贷户 = 是. A claim counts unless the loan is flagged
    是否无还本续贷 = 是 (a renewal is never a first loan) or the borrower had any loan, at any bank, in an earlier
    cycle of the year. A borrower counts once city-wide; per bank and per county it counts for the first valid
    claim (earliest 发放日期, then cycle, then bank name).

    reply_within_5_workdays_rate: applications (bank, applicant, 申请日期) from every 首贷申请 sheet so far, each
    once, as its latest row says. Due: replied, or the 5th working day after the application (China's official
    calendar, make-up workdays included) is on or before the cycle date. Within: replied on or before that day.

Targets (read from `plan.targets` by indicator id; the most specific scope wins: a unit or county, then a
category, then ``{kind: bank}`` for bank rows or ``city`` for the city row, and last ``{kind: bank}`` for the
category and city aggregates)
    ``">="``/``">"``/``"<="``/``"<"``: `threshold`, or 时序进度 when ``threshold_rule: elapsed_share``;
    ``above_baseline``: the same scope's start-of-year value (``baseline: start_of_year``) or previous cycle
    (``baseline: previous_cycle``); ``above_scope``: the value of the `compare_to` scope; ``rising``: the same
    scope's value at the previous cycle of the year (none before the first cycle); ``info``: no target.

Status rule
    `target_rules.judge` (shared with the guarantee and reported targets): met → ``green``; short of the target
    by less than 10% of the target → ``yellow``; by 10% to 30% → ``orange``; by more than 30% → ``red`` (bands
    from the plan's ``light_bands``); no target or no value → null. For targets against 时序进度
    (``threshold_rule: elapsed_share``, and every plan_completion_rate) the shortfall is measured in percentage
    points instead: behind by less than 10 points → yellow, 10 to 30 points → orange, more → red. A strict
    comparator (``>``, ``above_baseline``, ``above_scope``, ``rising``) that is only equalled is short by 0 and
    therefore yellow. With a target of 0, any shortfall is red. A threshold not yet due follows the target's
    ``before_due`` (未到期 with the gap, 时序进度 path, or judged now).
"""

from __future__ import annotations

import datetime as dt
from itertools import groupby
from typing import Any, Callable, Iterable, Mapping

import pandas as pd

from ..core import findings as fd
from ..core.cycles import CalendarUnavailable, add_workdays
from ..core.values import cell_date as _date, cell_float as _num, cell_missing as _missing
from ..core.workcalendar import deadline_bounds, office_calendar
from ..ingest.formats import BANK_SUMMARY, LOANS
from ..plan.model import Plan
from .lending_base import (_AMOUNT_ROLES, _as_records, _COUNT_ROLES, _SCOPE_ORDER, BANK_PLAN_ITEMS, DEFAULT_WORKDAYS,
                           EARLIER_CYCLE, EARLIER_DATE, _amount, _bank_unit, _category_rank, _count, _county_label, _cycle_text,
                           _ensure, _header, _int, _keys, _place, _share, _text, _who)
from . import lending_scope
from .lending_scope import HOUSEHOLDS, IN_SCOPE, INCLUSIVE_SME, UNPLACED, left_out_text
from .lending_year import INPUT_COLUMNS  # noqa: F401  (the columns a caller loads: part of this module's interface)
from .lending_year import _APPLICATION_COLUMNS, _LOAN_COLUMNS, _claims, _Counts, _upto, _YearLoans
from .targets import CITY, INDICATOR_COLUMNS, INDICATORS, _apply_targets, _row_key


# ---------------------------------------------------------------------------------------------------------------
# Year-to-date building blocks


def first_loan_claims(loans_year: pd.DataFrame, cycle: dt.date, plan: Plan | None = None,
                      earlier_loans: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every 首贷 claim of the year up to `cycle` and whether it counts.

    Needs the cleaned loans of each cycle with a `cycle` column (`clean_loans` output); `earlier_loans`: borrowers
    with a loan in an earlier year (`borrower_key`, `cycle`: `earlier_borrowers`); `plan`: its household 口径
    (`lending_scope`), else every borrower type counts.
    Returns one row per claim: `cycle`, the loan columns, `valid`, `reason` (null; ``renewal``: a 无还本续贷 loan;
    ``earlier_cycle``: a loan in an earlier cycle, earlier years included; ``earlier_date``: an earlier-dated loan
    of the same cycle at any bank, named by `earlier_bank` and `earlier_date`; ``out_of_scope``: a borrower outside
    the household 口径), `earliest_cycle` (the borrower's first cycle with any loan), `counted` (the borrower's
    first valid claim: earliest 发放日期, then cycle, then bank).
    """
    loans = _upto(loans_year, cycle, _LOAN_COLUMNS, only=True)
    in_scope = None
    if plan is not None:
        codes = lending_scope.scopes(plan)[HOUSEHOLDS].classify(loans)
        in_scope = (codes == IN_SCOPE) | (codes == UNPLACED)
    return _claims(loans, in_scope, earlier_loans)


def earlier_borrowers(loans: pd.DataFrame, cycle: str) -> pd.DataFrame:
    """The borrowers of one earlier cycle's 贷款明细 (`loans_raw` or `clean_loans` rows: `borrower_id`, `borrower`)
    as the first-loan rule of a later year needs them: `borrower_key` (as `clean_loans` makes it) and `cycle`."""
    frame = _ensure(loans, ["borrower", "borrower_id"])
    keys = pd.Series(_keys(frame["borrower_id"], frame["borrower"]), dtype="object").dropna().drop_duplicates()
    return pd.DataFrame({"borrower_key": keys.to_numpy(dtype=object), "cycle": cycle})


def application_status(applications_year: pd.DataFrame, cycle: dt.date,
                       workdays: int = DEFAULT_WORKDAYS) -> tuple[pd.DataFrame, list[fd.Finding]]:
    """Each application of the year up to `cycle` once, with its reply deadline and whether it is due and in time.

    Needs the cleaned 首贷申请 rows of each cycle with a `cycle` column (`clean_applications` output).
    An application is (bank_id, applicant_key, applied_on); when it appears in several cycles its latest row
    counts. Adds `deadline` (the `workdays`-th working day after 申请日期), `replied` , `due` (replied, or the
    deadline is on or before the cycle date), `within` (replied on or before the deadline), `times_reported` and
    `decided`. A date no calendar covers yields `deadline` null; the application is still judged when its reply
    (or, unreplied, the cycle date) lies outside every possible deadline (`workcalendar.deadline_bounds`), and
    only the undecidable ones are left out (`decided` false), with one finding.
    """
    apps = _upto(applications_year, cycle, _APPLICATION_COLUMNS)
    columns = ["cycle", *_APPLICATION_COLUMNS, "times_reported", "deadline", "replied", "due", "within", "decided"]
    out: list[fd.Finding] = []
    if not len(apps):
        return pd.DataFrame(columns=columns), out
    apps = apps.assign(applied_on=apps["applied_on"].map(_date), replied_on=apps["replied_on"].map(_date))
    apps = apps[apps["applied_on"].notna() & apps["applicant_key"].notna()]
    apps = apps.assign(_row=apps["row"].map(lambda r: _int(r) or 0), _bank=apps["bank_id"].fillna(""))
    apps = apps.sort_values(["cycle", "file", "_row"], kind="stable")
    keys = ["_bank", "applicant_key", "applied_on"]
    times = apps.groupby(keys, sort=False)["cycle"].transform("nunique")
    apps = apps.assign(times_reported=times).drop_duplicates(keys, keep="last")
    deadlines: dict[dt.date, dt.date | None] = {}
    bounds: dict[dt.date, tuple[dt.date, dt.date]] = {}
    unavailable: str | None = None
    for day in sorted(set(apps["applied_on"])):
        try:
            deadlines[day] = add_workdays(day, workdays)
        except CalendarUnavailable as exc:
            deadlines[day] = None
            bounds[day] = deadline_bounds(day, workdays, office_calendar().longest_break)
            unavailable = unavailable or str(exc)
    deadline = apps["applied_on"].map(deadlines)
    replied = apps["replied_on"].notna()
    due, within, decided = [], [], []
    for day, d, r, rep in zip(apps["applied_on"], deadline, replied, apps["replied_on"]):
        if d is not None:
            due.append(bool(r or d <= cycle))
            within.append(bool(r and rep <= d))
            decided.append(True)
            continue
        # no calendar for the year: judged when the reply (or today, unreplied) falls outside every possible deadline
        earliest, latest = bounds[day]
        if r and rep <= earliest:
            verdict = (True, True)
        elif (r and rep > latest) or (not r and cycle >= latest):
            verdict = (True, False)
        elif not r and cycle < earliest:
            verdict = (False, False)
        else:
            verdict = None
        decided.append(verdict is not None)
        due.append(verdict is not None and verdict[0])
        within.append(verdict is not None and verdict[1])
    n_undecided = decided.count(False)
    if n_undecided:
        out.append(fd.error("calendar_unavailable", f"{unavailable}；{n_undecided} 笔申请是否在{workdays}个工作日内回复"
                                                    "取决于节假日安排，未计入回复率（能确定的已照常计入）"))
    result = apps.assign(deadline=deadline, replied=replied, due=due, within=within, decided=decided)
    return result[columns].reset_index(drop=True), out


# ---------------------------------------------------------------------------------------------------------------
# Indicator rows


def _row(indicator: str, scope: str, scope_id: str, value: float | None, basis: str, *,
         numerator: float | None = None, denominator: float | None = None, bank_id: str | None = None,
         category: str | None = None, order: int = 0, item: str | None = None,
         baseline: float | None = None, baseline_text: str | None = None) -> dict[str, Any]:
    return {
        "indicator": indicator, "scope": scope, "scope_id": scope_id, "value": value, "basis": basis,
        "numerator": numerator, "denominator": denominator, "unit": INDICATORS[indicator].unit,
        "_bank_id": bank_id, "_category": category, "_order": order, "_item": item,
        "_baseline": baseline, "_baseline_text": baseline_text,
    }


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return num / den


def _bank_order(plan: Plan) -> dict[str, int]:
    return {u.id: i for i, u in enumerate(plan.units)}


def _scopes_of_banks(plan: Plan, bank_ids: Iterable[str]) -> list[tuple[str, str, list[str], str | None, int]]:
    """(scope, scope_id, member bank ids, bank_id, order) for the city, each category present, each bank."""
    order = _bank_order(plan)
    known = {u.id for u in plan.banks}
    banks = sorted({b for b in bank_ids if b in known}, key=lambda b: order.get(b, 10**6))
    out: list[tuple[str, str, list[str], str | None, int]] = [("city", CITY, banks, None, 0)]
    by_category: dict[str, list[str]] = {}
    for b in banks:
        by_category.setdefault(plan.unit(b).category or "", []).append(b)
    for cat in sorted(by_category, key=_category_rank):
        out.append(("category", cat, by_category[cat], None, _category_rank(cat)))
    for b in banks:
        out.append(("bank", plan.unit(b).name, [b], b, order.get(b, 0)))
    return out


def _stock_rows(plan: Plan, summary_now: pd.DataFrame) -> list[dict[str, Any]]:
    """credit_loan_share, inclusive_sme_loan_growth, renewal_without_repayment, transfer_pricing_discount_bp and
    first_loan_households_reported from the current 主要指标 rows (one per bank)."""
    rows: list[dict[str, Any]] = []
    by_bank = {rec["bank_id"]: rec for rec in summary_now.to_dict("records") if _bank_unit(plan, rec["bank_id"])}
    for scope, scope_id, members, bank_id, order in _scopes_of_banks(plan, by_bank):
        category = plan.unit(bank_id).category if bank_id else (scope_id if scope == "category" else None)
        recs = [by_bank[b] for b in members]
        many = scope != "bank"
        prefix = f"{scope_id} {len(recs)} 家银行合计：" if many else ""

        def summed(num_role: str, den_role: str) -> tuple[float | None, float | None, int, int]:
            pairs = [(_num(r.get(num_role)), _num(r.get(den_role))) for r in recs]
            pairs = [(n, d) for n, d in pairs if n is not None and d is not None]
            if not pairs:
                return None, None, 0, len(recs)
            return sum(n for n, _ in pairs), sum(d for _, d in pairs), len(pairs), len(recs)

        def left_out(used: int, total: int) -> str:
            return f"（另有 {total - used} 家数据不全，未计入）" if many and used < total else ""

        # credit_loan_share with the start-of-year share as its baseline
        num, den, used, total = summed("credit_loans", "total_loans")
        bnum, bden, bused, btotal = summed("credit_loans_year_start", "total_loans_year_start")
        baseline = _ratio(bnum, bden)
        if num is not None or baseline is not None:
            basis = (f"{prefix}信用贷款余额 {_amount(num)} ÷ 各项贷款余额 {_amount(den)}{left_out(used, total)}"
                     if num is not None else "缺少信用贷款余额或各项贷款余额")
            base_text = (f"年初占比 {_share(baseline)}（信用贷款年初余额 {_amount(bnum)} ÷ 各项贷款年初余额 "
                         f"{_amount(bden)}{left_out(bused, btotal)}）" if baseline is not None else None)
            rows.append(_row("credit_loan_share", scope, scope_id, _ratio(num, den), basis, numerator=num,
                             denominator=den, bank_id=bank_id, category=category, order=order, baseline=baseline,
                             baseline_text=base_text))

        # inclusive_sme_loan_growth: Σ balance ÷ Σ same period last year − 1
        num, den, used, total = summed("sme_loans", "sme_loans_last_year")
        if num is not None:
            ratio = _ratio(num, den)
            rows.append(_row(
                "inclusive_sme_loan_growth", scope, scope_id, None if ratio is None else ratio - 1,
                f"{prefix}普惠型小微企业贷款余额 {_amount(num)} ÷ 上年同期余额 {_amount(den)} − 1{left_out(used, total)}",
                numerator=num, denominator=den, bank_id=bank_id, category=category, order=order))

        # renewal_without_repayment and reported first-loan households: sums of reported figures
        for indicator, role, fmt_value in (
            ("renewal_without_repayment", "renewal_balance", _amount),
            ("first_loan_households_reported", "first_loan_households_reported", _count),
        ):
            values = [_num(r.get(role)) for r in recs]
            present = [v for v in values if v is not None]
            if not present:
                continue
            value = sum(present)
            label = _header(BANK_SUMMARY, role)
            basis = (f"{scope_id} {len(present)} 家银行报送的{label}相加 {fmt_value(value)}"
                     f"{left_out(len(present), len(values))}"
                     if many else f"银行报送的{label} {fmt_value(value)}")
            if indicator == "first_loan_households_reported" and many:
                basis += "（跨行重复的首贷户会重复计算）"
            rows.append(_row(indicator, scope, scope_id, value, basis, numerator=value, bank_id=bank_id,
                             category=category, order=order))

        # transfer pricing: reported per bank only (a rate: no sums, no averages)
        if scope == "bank":
            bp = _num(recs[0].get("transfer_pricing_bp"))
            if bp is not None:
                rows.append(_row("transfer_pricing_discount_bp", scope, scope_id, bp,
                                 f"银行报送的小微企业内部转移定价优惠 {bp:g} BP", numerator=bp, bank_id=bank_id,
                                 category=category, order=order))
    return rows


def _left_out(tally: dict[str, _Counts] | None, scope: str, key: str | None, what: str) -> str:
    """`lending_scope.left_out_text` of one row's loans: `tally` is `_YearLoans`' scope weights at one cycle."""
    if not tally:
        return ""

    def value(name: str) -> float:
        counts = tally[name]
        if scope == "city":
            return counts.city
        return {"bank": counts.bank, "category": counts.category, "county": counts.county}[scope].get(key or "", 0.0)

    left = value("left_amount") if "left_amount" in tally else None
    text = left_out_text(value("other"), value("above"), value("unplaced"), left, what)
    return f"；{text}" if text else ""


def _scope_rows(plan: Plan, indicator: str, values: _Counts, banks: Iterable[str], text: Callable[[str, float], str],
                note: str, tally: dict[str, _Counts] | None = None, what: str = "笔贷款") -> list[dict[str, Any]]:
    """A year-to-date figure per city, category, county and bank (every bank in `banks` gets a row, 0 when it has
    none): `text(where, value)` words it, `note` (the rule and the plan's 口径) follows in brackets, with what the
    口径 left out of that row's loans (`tally`)."""
    rows: list[dict[str, Any]] = []
    bank_ids = set(banks) | {b for b, v in values.bank.items() if v}
    for scope, scope_id, members, bank_id, order in _scopes_of_banks(plan, bank_ids):
        if scope == "city":
            value, key = values.city, None
        elif scope == "bank":
            value, key = values.bank.get(members[0], 0), members[0]
        else:
            value, key = values.category.get(scope_id, 0), scope_id
        category = plan.unit(bank_id).category if bank_id else (scope_id if scope == "category" else None)
        where = "全市" if scope == "city" else ("本类银行" if scope == "category" else "本行")
        rows.append(_row(indicator, scope, scope_id, float(value),
                         f"{text(where, value)}（{note}{_left_out(tally, scope, key, what)}）",
                         numerator=float(value), bank_id=bank_id, category=category, order=order))
        if scope == "city":
            county_order = {u.id: i for i, u in enumerate(plan.units)}
            present = [c for c, v in values.county.items() if v]
            for county_id in sorted(present, key=lambda c: county_order.get(c, 10**6)):
                n = values.county[county_id]
                unit = plan.unit(county_id)
                rows.append(_row(indicator, "county", _county_label(unit), float(n),
                                 f"{text(f'所属县区为{_county_label(unit)}的', n)}（{note}"
                                 f"{_left_out(tally, 'county', county_id, what)}）",
                                 numerator=float(n), order=county_order.get(county_id, 0)))
    return rows


def _household_rows(plan: Plan, indicator: str, counts: _Counts, banks: Iterable[str], describe: str, note: str,
                    tally: dict[str, _Counts] | None = None, what: str = "笔贷款") -> list[dict[str, Any]]:
    """Distinct borrower counts per city, category, county and bank (`_scope_rows`)."""
    return _scope_rows(plan, indicator, counts, banks, lambda where, n: f"{where}{describe} {int(n):,} 户", note, tally,
                       what)


def _tally(sums: Any, position: int) -> dict[str, _Counts]:
    return {name: sums.at(position, name) for name in sums.names}


def _sme_rows(plan: Plan, year: _YearLoans, position: int, banks: Iterable[str]) -> list[dict[str, Any]]:
    """普惠型小微企业贷款 granted this year by the 贷款明细, in the plan's 口径 (`lending_scope`)."""
    tally = _tally(year.sme, position)
    scope = year.scopes[INCLUSIVE_SME].describe()
    return _scope_rows(plan, "inclusive_sme_loans_granted", tally["amount"], banks,
                       lambda where, v: f"{where}当年发放普惠型小微企业贷款 {_amount(v)}",
                       f"当年贷款明细中{scope}的贷款发放金额合计", tally)


def _sme_household_findings(year: _YearLoans, cycle: dt.date, summary_now: pd.DataFrame) -> list[fd.Finding]:
    """A bank whose 普惠型小微企业贷款户数 is below the borrowers its own 贷款明细 shows with a 普惠 loan (in the plan's
    口径) granted this year and not yet due: the summary and the detail cannot both be right."""
    outstanding = year.sme_borrowers_outstanding(cycle)
    scope = year.scopes[INCLUSIVE_SME].describe()
    out = []
    for rec in _as_records(summary_now):
        reported, detail = _int(rec.get("sme_households")), outstanding.get(rec["bank_id"], 0)
        if reported is not None and reported < detail:
            out.append(fd.warning(
                "sme_households_below_detail",
                f"报送普惠型小微企业贷款户数 {reported:,} 户，少于本行当年贷款明细中尚未到期的普惠型小微企业贷款借款人 "
                f"{detail:,} 户（口径：{scope}）；请核实主要指标或贷款明细的借款人类型、单户授信总额",
                **_place(rec, BANK_SUMMARY, "sme_households", _text(rec.get("bank")))))
    return out


def _household_note(year: _YearLoans, rule: str) -> str:
    return f"{rule}；口径：{year.scopes[HOUSEHOLDS].describe()}"


def _claimed_first_elsewhere(claim: Mapping[str, Any], winner: Mapping[str, Any] | None) -> bool:
    """Whether the earlier loan that makes `claim` no first loan is another bank's counted claim of the same cycle
    (two banks claiming one borrower: counted once, for the bank that lent first)."""
    return (winner is not None and winner["cycle"] == claim["cycle"]
            and _text(winner["bank_id"]) != _text(claim["bank_id"]) and _date(winner["loan_date"]) == claim["earlier_date"])


def _first_loan_part(plan: Plan, cycle: dt.date, year: _YearLoans, position: int, summary_now: pd.DataFrame,
                     banks: Iterable[str]) -> tuple[list[dict[str, Any]], list[fd.Finding], dict[str, int]]:
    counts = year.first_loans.at(position)
    tally = _tally(year.first_loan_scope, position)
    rows = _household_rows(plan, "first_loan_households", counts, banks, "首贷户", _household_note(
        year, "当年贷款明细中是否首贷户=是、此前任一周期（含以前年度）和本期更早均无贷款、且非无还本续贷的借款人，"
              "跨行只计一次，计入最先发放的银行"), tally, "笔报为首贷的贷款")
    per_bank = counts.bank

    out: list[fd.Finding] = []
    for rec in year.notable.get(cycle.isoformat(), []):
        bank = _text(rec["bank"])
        who = _who(rec["borrower"], rec["borrower_id"])
        if rec["reason"] == EARLIER_CYCLE:
            out.append(fd.warning(
                "first_loan_had_earlier_loan",
                f"{who} 在 {rec['earliest_cycle']} 周期的贷款明细中已有贷款，本期填报为首贷户不予认定",
                **_place(rec, LOANS, "is_first_loan", bank)))
        elif rec["reason"] == EARLIER_DATE and not _claimed_first_elsewhere(rec, year.winners.get(rec["borrower_key"])):
            out.append(fd.warning(
                "first_loan_had_earlier_loan",
                f"{who} 本期在「{rec['earlier_bank'] or '未知银行'}」已有发放日期更早（{rec['earlier_date']}）的贷款，"
                f"本笔（发放日期 {_date(rec['loan_date'])}）填报为首贷户不予认定",
                **_place(rec, LOANS, "is_first_loan", bank)))
        else:   # a claim another bank's earlier (or same-day) claim of the same borrower counts for
            winner = year.winners.get(rec["borrower_key"])
            if winner is not None and _text(winner["bank_id"]) != _text(rec["bank_id"]):
                out.append(fd.info(
                    "first_loan_claimed_twice",
                    f"{who} 同时被「{_text(winner['bank']) or '未知银行'}」（{winner['cycle']} 周期，发放日期 "
                    f"{_date(winner['loan_date']) or '未填'}）报为首贷户；全市只计一次，计入最先发放的银行",
                    **_place(rec, LOANS, "is_first_loan", bank)))
    for rec in summary_now.to_dict("records"):
        reported = _int(rec.get("first_loan_households_reported"))
        bank_id = rec["bank_id"]
        derived = per_bank.get(bank_id, 0)
        if reported is not None and reported != derived:
            left = _left_out(tally, "bank", bank_id, "笔报为首贷的贷款")
            out.append(fd.warning(
                "first_loan_count_differs",
                f"报送首贷户数（当年累计）{reported:,} 户，按贷款明细认定 {derived:,} 户，相差 {reported - derived:+,} 户"
                + (f"（按口径{year.scopes[HOUSEHOLDS].describe()}认定{left}）" if left else ""),
                **_place(rec, BANK_SUMMARY, "first_loan_households_reported", _text(rec.get("bank")))))
    return rows, out, per_bank


def _conversion_rows(plan: Plan, year: _YearLoans, position: int) -> list[dict[str, Any]]:
    (n_keys,), (n_got,) = year.listed("city", position)
    if not n_keys:
        return []
    rows = [_row("noloan_conversion_rate", "city", CITY, _ratio(n_got, n_keys),
                 f"全市名单内当年获得贷款的 {n_got:,} 户 ÷ 名单内 {n_keys:,} 户",
                 numerator=float(n_got), denominator=float(n_keys))]
    order = {u.id: i for i, u in enumerate(plan.units)}
    listed, got = year.listed("county", position)
    present = [(c, int(n), int(g)) for c, n, g in zip(year.list_counties, listed, got) if n]
    for county_id, n_keys, n_got in sorted(present, key=lambda p: order.get(p[0], 10**6)):
        label = _county_label(plan.unit(county_id))
        rows.append(_row("noloan_conversion_rate", "county", label, _ratio(n_got, n_keys),
                         f"{label}名单内当年获得贷款的 {n_got:,} 户 ÷ 名单内 {n_keys:,} 户",
                         numerator=float(n_got), denominator=float(n_keys), order=order.get(county_id, 0)))
    return rows


def _reply_rows(plan: Plan, apps: pd.DataFrame, workdays: int) -> list[dict[str, Any]]:
    if not len(apps):
        return []
    rows = []
    # per bank (and "" for an application of no bank) once; a scope sums its members' (the city: every row)
    due, decided = apps["due"].astype(bool), apps["decided"].astype(bool)
    tally = pd.DataFrame({"bank": apps["bank_id"].fillna("").astype(str).to_numpy(), "due": due.to_numpy(),
                          "within": (due & apps["within"].astype(bool)).to_numpy(),
                          "pending": (~due & decided).to_numpy(), "undecided": (~decided).to_numpy()}
                         ).groupby("bank").sum()
    banks = {b for b in apps["bank_id"].dropna()}
    for scope, scope_id, members, bank_id, order in _scopes_of_banks(plan, banks):
        part = tally if scope == "city" else tally.reindex(members, fill_value=0)
        n_due, n_within, pending, undecided = (int(part[c].sum()) for c in ("due", "within", "pending", "undecided"))
        left_out = f"；另有 {undecided:,} 笔因工作日历未覆盖、无法判断是否按时，未计入" if undecided else ""
        category = plan.unit(bank_id).category if bank_id else (scope_id if scope == "category" else None)
        rows.append(_row(
            "reply_within_5_workdays_rate", scope, scope_id, _ratio(n_within, n_due),
            f"{workdays}个工作日内回复 {n_within:,} 笔 ÷ 应回复 {n_due:,} 笔（另有 {pending:,} 笔未回复且未到期{left_out}）",
            numerator=float(n_within), denominator=float(n_due), bank_id=bank_id, category=category, order=order))
    return rows


def _plan_rows(plan: Plan, summary_now: pd.DataFrame, first_per_bank: dict[str, int], banks: set[str],
               out: list[fd.Finding]) -> list[dict[str, Any]]:
    by_bank = {rec["bank_id"]: rec for rec in summary_now.to_dict("records")}
    order = _bank_order(plan)
    items: dict[str, list[tuple[str, float, float | None, str]]] = {}
    for bp in plan.bank_plans:
        bank_id, item, annual = bp.get("bank"), bp.get("indicator"), _num(bp.get("annual"))
        if item not in BANK_PLAN_ITEMS:
            out.append(fd.info("bank_plan_unsupported", f"银行计划指标「{item}」暂不支持计算完成率",
                               unit=plan.unit_name(bank_id)))
            continue
        if bank_id not in banks:
            continue   # no 主要指标 row and no 贷款明细 from this bank this year: a missing ledger, not a 0
        if item == "inclusive_sme_loan_balance_increase":
            rec = by_bank.get(bank_id, {})
            now, start = _num(rec.get("sme_loans")), _num(rec.get("sme_loans_year_start"))
            done = None if now is None or start is None else now - start
            how = (f"普惠型小微企业贷款余额 {_amount(now)} − 年初余额 {_amount(start)} = 增量 {_amount(done)}"
                   if done is not None else "本期缺少普惠型小微企业贷款余额或年初余额")
            how += f" ÷ 年度计划增量 {_amount(annual)}"
        else:
            done = float(first_per_bank.get(bank_id, 0)) if bank_id in banks else None
            reported = _int(by_bank.get(bank_id, {}).get("first_loan_households_reported"))
            how = (f"按贷款明细认定的首贷户 {_count(done)} ÷ 年度计划 {_count(annual)}"
                   + (f"（银行报送 {reported:,} 户）" if reported is not None else ""))
        items.setdefault(item, []).append((bank_id, annual, done, how))
    rows = []
    for item, entries in items.items():
        label = BANK_PLAN_ITEMS[item]
        fmt_value = _amount if item == "inclusive_sme_loan_balance_increase" else _count
        for bank_id, annual, done, how in entries:
            unit = plan.unit(bank_id)
            rows.append(_row("plan_completion_rate", "bank", unit.name, _ratio(done, annual), f"{label}：{how}",
                             numerator=done, denominator=annual, bank_id=bank_id, category=unit.category,
                             order=order.get(bank_id, 0), item=item))
        scopes: list[tuple[str, str, list]] = [("city", CITY, entries)]
        for cat in sorted({plan.unit(e[0]).category for e in entries}, key=_category_rank):
            scopes.append(("category", cat, [e for e in entries if plan.unit(e[0]).category == cat]))
        for scope, scope_id, members in scopes:
            usable = [(a, d) for _, a, d, _ in members if a is not None and d is not None]
            if not usable:
                continue
            done, annual = sum(d for _, d in usable), sum(a for a, _ in usable)
            missing = len(members) - len(usable)
            note = f"（另有 {missing} 家缺数据，未计入）" if missing else ""
            rows.append(_row("plan_completion_rate", scope, scope_id, _ratio(done, annual),
                             f"{label}：{len(usable)} 家银行完成 {fmt_value(done)} ÷ 年度计划合计 {fmt_value(annual)}{note}",
                             numerator=done, denominator=annual, category=scope_id if scope == "category" else None,
                             order=0 if scope == "city" else _category_rank(scope_id), item=item))
    return rows


def _indicator_rows(plan: Plan, cycle: dt.date, summary_year: pd.DataFrame | None, year: _YearLoans,
                    applications_year: pd.DataFrame | None, workdays: int
                    ) -> tuple[list[dict[str, Any]], list[fd.Finding]]:
    out: list[fd.Finding] = []
    summary = _upto(summary_year, cycle, ["bank_id", "bank", *_AMOUNT_ROLES, *_COUNT_ROLES, "transfer_pricing_bp",
                                          "file", "sheet", "row"])
    summary_now = summary[(summary["cycle"] == cycle.isoformat()) & summary["bank_id"].notna()]
    summary_now = summary_now.drop_duplicates("bank_id", keep="last")
    position = year.position(cycle)

    banks = set(summary_now["bank_id"]) | year.loan_banks(position)
    rows = _stock_rows(plan, summary_now)
    first_per_bank: dict[str, int] = {}
    if year.loan_rows(position):   # without any 贷款明细 this year there is nothing to count, not zero households
        rows += _household_rows(plan, "credit_loan_households", year.credit.at(position), banks,
                                "获得信用贷款的借款人", _household_note(year, "当年贷款明细中担保方式为信用，按证件号码去重"),
                                _tally(year.credit_scope, position), "笔信用贷款")
        rows += _sme_rows(plan, year, position, banks)
        out += _sme_household_findings(year, cycle, summary_now)
        first_rows, first_findings, first_per_bank = _first_loan_part(plan, cycle, year, position, summary_now, banks)
        rows += first_rows
        out += first_findings
    rows += _conversion_rows(plan, year, position)
    apps, app_findings = application_status(applications_year, cycle, workdays)
    out += app_findings
    rows += _reply_rows(plan, apps, workdays)
    rows += _plan_rows(plan, summary_now, first_per_bank, banks, out)
    return rows, out


# ---------------------------------------------------------------------------------------------------------------
# Public: indicators


def _all_cycles(*frames: pd.DataFrame | None) -> list[str]:
    cycles: set[str] = set()
    for frame in frames:
        if frame is not None and "cycle" in frame.columns:
            cycles |= {c for c in frame["cycle"].drop_duplicates().map(_cycle_text) if c}
    return sorted(cycles)


def reply_workdays(plan: Plan) -> int:
    """The working days a bank has to reply to a credit application: the plan's reply target's ``workdays``, else
    `DEFAULT_WORKDAYS` (5, 措施三)."""
    reply_targets = plan.targets_for("reply_within_5_workdays_rate")
    return int(next((t["workdays"] for t in reply_targets if t.get("workdays")), DEFAULT_WORKDAYS))


def cycle_figures(plan: Plan, cycle: dt.date, summary_year: pd.DataFrame | None, loans_year: pd.DataFrame | None,
                  applications_year: pd.DataFrame | None, noloan_year: pd.DataFrame | None,
                  earlier_loans: pd.DataFrame | None = None) -> tuple[list[dict[str, Any]], list[fd.Finding]]:
    """The figures of `cycle` before targets are applied, and the findings about its rows: the expensive part of
    `lending_indicators`, which takes them from its `cache` when a caller computed them already (the same
    arguments)."""
    return year_figures(plan, [cycle], summary_year, loans_year, applications_year, noloan_year,
                        earlier_loans)[cycle.isoformat()]


def year_figures(plan: Plan, cycles: Iterable[dt.date], summary_year: pd.DataFrame | None,
                 loans_year: pd.DataFrame | None, applications_year: pd.DataFrame | None,
                 noloan_year: pd.DataFrame | None, earlier_loans: pd.DataFrame | None = None
                 ) -> dict[str, tuple[list[dict[str, Any]], list[fd.Finding]]]:
    """`cycle_figures` of each of `cycles` (ISO text → figures and findings), the loans and lists of each year
    gone through once for all its cycles: about the cost of the latest cycle alone. `earlier_loans`: borrowers
    with a loan before the year (`earlier_borrowers`), for the first-loan rule; rows of the year itself or later
    are ignored."""
    workdays = reply_workdays(plan)
    wanted = sorted(set(cycles))
    # a frame without a `cycle` column is each cycle's own (`_upto`): such cycles cannot share one pass
    undated = any(f is not None and len(f) and "cycle" not in f.columns for f in (loans_year, noloan_year))
    groups = [[c] for c in wanted] if undated else [list(g) for _, g in groupby(wanted, key=lambda c: c.year)]
    out: dict[str, tuple[list[dict[str, Any]], list[fd.Finding]]] = {}
    for group in groups:
        before = None
        if earlier_loans is not None and len(earlier_loans):
            before = earlier_loans[earlier_loans["cycle"].astype(str) < f"{group[0].year:04d}"]
        year = _YearLoans(plan, group, loans_year, noloan_year, before)
        for cycle in group:
            out[cycle.isoformat()] = _indicator_rows(plan, cycle, summary_year, year, applications_year, workdays)
    return out


FIGURE_VALUE_COLUMNS = ["indicator", "scope", "scope_id", "item", "value"]


def figure_values(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """What a later run needs of a cycle's figures (`cycle_figures` rows): each row's key and value, as a table to
    keep beside the cycle's indicators (`lending_indicators`' `earlier`)."""
    return pd.DataFrame({
        "indicator": [r["indicator"] for r in rows],
        "scope": [r["scope"] for r in rows],
        "scope_id": [r["scope_id"] for r in rows],
        "item": pd.Series([r["_item"] for r in rows], dtype="object"),
        "value": pd.Series([r["value"] for r in rows], dtype="float64"),
    }, columns=FIGURE_VALUE_COLUMNS)


def stored_figures(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """`figure_values` read back: rows with the key and the value (None where there is none) of each figure."""
    return [{"indicator": str(i), "scope": str(s), "scope_id": str(sid), "_item": None if _missing(item) else str(item),
             "value": None if _missing(value) else float(value)}
            for i, s, sid, item, value in zip(frame["indicator"], frame["scope"], frame["scope_id"], frame["item"],
                                              frame["value"])]


def lending_indicators(
    plan: Plan,
    cycle: dt.date,
    summary_year: pd.DataFrame | None,
    loans_year: pd.DataFrame | None,
    applications_year: pd.DataFrame | None,
    noloan_year: pd.DataFrame | None,
    *,
    cache: dict | None = None,
    earlier: Mapping[str, list[dict[str, Any]]] | None = None,
    earlier_loans: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[fd.Finding]]:
    """The lending indicators of `cycle`, each per scope with its target and status.

    Needs the cleaned tables of every cycle of the year so far, each with a `cycle` column (ISO text):
    `summary_year` (`clean_bank_summary`: bank_id and the 主要指标 roles), `loans_year` (`clean_loans`),
    `applications_year` (`clean_applications`), `noloan_year` (`clean_noloan`). Any may be None or empty.
    Rows of later cycles or other years are ignored.
    Returns the frame with `INDICATOR_COLUMNS` (indicator, scope, scope_id, value, target, status, basis,
    numerator, denominator, unit, cycle) and findings about this cycle's rows: first-loan claims of borrowers
    with a loan in an earlier cycle, claims already counted for another bank, banks whose 首贷户数（当年累计）
    differs from the loans, and dates the official calendar does not cover.

    `cache`: a dict a caller computing several cycles of one year passes to every call, cycle (ISO text) →
    `cycle_figures` of that cycle: figures found there are used, figures computed are added, so that the previous
    cycle's figures (for ``rising`` targets) are not computed twice, and a caller may compute the figures of many
    cycles first (`year_figures`, one pass). Valid only while the frames of the cycles in it stay the same.

    `earlier`: cycle → `stored_figures` of a cycle computed in an earlier run whose inputs have not changed since:
    the previous cycle's values (``rising`` targets) are taken from there instead of computing that cycle again.
    `earlier_loans`: borrowers with a loan in an earlier year (`earlier_borrowers`), for the first-loan rule.
    """
    cache = {} if cache is None else cache
    current = cycle.isoformat()
    previous_cycle = None
    if any(t.get("comparator") == "rising" or t.get("baseline") == "previous_cycle" for t in plan.targets):
        before = [c for c in _all_cycles(summary_year, loans_year, applications_year, noloan_year)
                  if c < current and c[:4] == current[:4]]
        previous_cycle = before[-1] if before else None
    missing = [] if current in cache else [current]
    if previous_cycle is not None and previous_cycle not in cache and previous_cycle not in (earlier or {}):
        missing.insert(0, previous_cycle)
    if missing:      # both in one pass when both are needed
        cache.update(year_figures(plan, [dt.date.fromisoformat(c) for c in missing], summary_year, loans_year,
                                  applications_year, noloan_year, earlier_loans))
    rows, out = cache[current][0], list(cache[current][1])
    previous = None
    if previous_cycle is not None:
        prev_rows = cache[previous_cycle][0] if previous_cycle in cache else earlier[previous_cycle]
        previous = {_row_key(r): r for r in prev_rows}

    rows = _apply_targets(plan, rows, cycle, previous, previous_cycle)
    frame = pd.DataFrame(rows, columns=[*INDICATOR_COLUMNS, "_order", "_item"]) if rows else pd.DataFrame(
        columns=[*INDICATOR_COLUMNS, "_order", "_item"])
    indicator_order = {k: i for i, k in enumerate(INDICATORS)}
    item_order = {k: i for i, k in enumerate(BANK_PLAN_ITEMS)}
    frame = frame.assign(
        cycle=cycle.isoformat(),
        _i=frame["indicator"].map(indicator_order),
        _s=frame["scope"].map(_SCOPE_ORDER),
        _item=frame["_item"].map(lambda i: item_order.get(i, -1)),
    ).sort_values(["_i", "_item", "_s", "_order", "scope_id"], kind="stable")
    frame = frame[INDICATOR_COLUMNS].reset_index(drop=True)
    for col in ("value", "target", "numerator", "denominator"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    frame["status"] = frame["status"].astype("object").where(frame["status"].notna(), None)
    return frame, out


def first_loan_differences(indicators: pd.DataFrame) -> pd.DataFrame:
    """Per bank: the banks' own 首贷户数（当年累计） beside the count derived from 贷款明细.

    Needs the `lending_indicators` frame. Returns `bank`, `reported`, `derived`, `difference` (reported −
    derived; null when either is missing), one row per bank with either figure, in the indicators' order.
    """
    columns = ["bank", "reported", "derived", "difference"]
    if indicators is None or not len(indicators):
        return pd.DataFrame(columns=columns)
    banks = indicators[indicators["scope"] == "bank"]
    derived = banks[banks["indicator"] == "first_loan_households"].set_index("scope_id")["value"]
    reported = banks[banks["indicator"] == "first_loan_households_reported"].set_index("scope_id")["value"]
    names = list(dict.fromkeys([*derived.index, *reported.index]))
    frame = pd.DataFrame({
        "bank": names,
        "reported": [reported.get(n) for n in names],
        "derived": [derived.get(n) for n in names],
    })
    frame["reported"] = pd.to_numeric(frame["reported"], errors="coerce").astype("Int64")
    frame["derived"] = pd.to_numeric(frame["derived"], errors="coerce").astype("Int64")
    frame["difference"] = frame["reported"] - frame["derived"]
    return frame
