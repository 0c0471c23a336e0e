"""Cleaning the lending ledgers: 主要指标 (one row per bank and cycle), 贷款明细,
首贷申请 and 无贷户名单, each row checked and placed, findings for what is wrong.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

import pandas as pd

from ..core import findings as fd
from ..core.values import cell_date as _date, cell_float as _num
from ..ingest.formats import APPLICATIONS, BANK_SUMMARY, LOANS, NOLOAN_LIST
from ..ingest.tables import SheetFormat
from ..plan.model import Plan, Unit
from .lending_base import (_AMOUNT_ROLES, _BASELINE_ROLES, _COUNT_ROLES, _amount, _bank_unit, _county_index,
                           _county_label, _ensure, _find_county, _flag, _header, _int, _keys, _per_value, _place,
                           _plan_unit, _records, _text, _who, identity_key)


# ---------------------------------------------------------------------------------------------------------------
# Cleaning: 主要指标


def clean_bank_summary(raw: pd.DataFrame, plan: Plan) -> tuple[pd.DataFrame, list[fd.Finding]]:
    """Resolve each 主要指标 row to its bank and check it.

    Needs: `bank` (机构名称 as written) and the amount roles of `formats.BANK_SUMMARY` (any may be absent),
    `file`, `sheet`, `row`, `unit_id` (the workbook's sender); optional `cycle`, `report_date`.
    Adds: `bank_text` (the name as written), `bank_id`, `bank` (official name), `category`, `own_file` (the row
    comes from the bank's own workbook).
    Findings: a name that is no bank of the plan (row kept, bank_id null); 信用贷款余额 or 普惠型小微企业贷款余额
    above 各项贷款余额; negative balances or counts; missing 年初/上年同期 figures; two rows for one bank in a
    cycle (the bank's own file wins over a consolidated file, then the later 填报日期, then the later file name;
    the other rows are dropped).
    """
    out: list[fd.Finding] = []
    frame = _ensure(raw, ["bank", "file", "sheet", "row", "unit_id", *_AMOUNT_ROLES, *_COUNT_ROLES])
    records = frame.to_dict("records")
    ids, names, categories, own = [], [], [], []
    for rec in records:
        text = _text(rec.get("bank"))
        unit = plan.find_unit(text) or plan.find_unit_in(text) if text else None
        sender = _text(rec.get("unit_id"))
        if text is None and _bank_unit(plan, sender):
            unit = _bank_unit(plan, sender)
            out.append(fd.info("bank_name_blank", f"机构名称为空，按报送单位认定为「{unit.name}」",
                               **_place(rec, BANK_SUMMARY, "bank", unit.name)))
        if unit is not None and unit.kind != "bank":
            out.append(fd.error("summary_not_a_bank",
                                f"机构名称「{text}」是「{unit.name}」，不是本计划的银行机构，该行不计入银行指标",
                                **_place(rec, BANK_SUMMARY, "bank")))
            unit = None
        elif unit is None:
            out.append(fd.error("bank_unknown",
                                f"机构名称「{text or '空'}」与计划中的银行及其别名都不匹配，该行保留但不计入银行指标；"
                                "如是新名称，请在计划文件中补充别名",
                                **_place(rec, BANK_SUMMARY, "bank")))
        if unit is not None and sender and sender != unit.id and _bank_unit(plan, sender):
            out.append(fd.warning("summary_other_bank",
                                  f"「{plan.unit_name(sender)}」的台账中填报了「{unit.name}」的主要指标",
                                  **_place(rec, BANK_SUMMARY, "bank", unit.name)))
        ids.append(unit.id if unit else None)
        names.append(unit.name if unit else None)
        categories.append(unit.category if unit else None)
        own.append(bool(unit and sender == unit.id))
        out.extend(_summary_value_findings(rec, unit.name if unit else None))

    result = frame.assign(
        bank_text=frame["bank"],
        bank_id=pd.Series(ids, index=frame.index, dtype="object"),
        bank=pd.Series(names, index=frame.index, dtype="object"),
        category=pd.Series(categories, index=frame.index, dtype="object"),
        own_file=pd.Series(own, index=frame.index, dtype="bool"),
    )
    result, dup_findings = _drop_duplicate_banks(result, plan)
    out.extend(dup_findings)
    return result.reset_index(drop=True), out


def _summary_value_findings(rec: Mapping[str, Any], unit: str | None) -> list[fd.Finding]:
    out = []
    for role in (*_AMOUNT_ROLES, *_COUNT_ROLES):
        value = _num(rec.get(role))
        if value is not None and value < 0:
            out.append(fd.error("negative_value", f"「{_header(BANK_SUMMARY, role)}」为负数（{value:,.2f}）",
                                **_place(rec, BANK_SUMMARY, role, unit)))
    total = _num(rec.get("total_loans"))
    for role, label in (("credit_loans", "信用贷款余额"), ("sme_loans", "普惠型小微企业贷款余额")):
        part = _num(rec.get(role))
        if part is not None and total is not None and part > total:
            out.append(fd.error("part_above_total",
                                f"{label} {_amount(part)} 大于各项贷款余额 {_amount(total)}，数据不可能成立",
                                **_place(rec, BANK_SUMMARY, role, unit)))
    credit_start, total_start = _num(rec.get("credit_loans_year_start")), _num(rec.get("total_loans_year_start"))
    if credit_start is not None and total_start is not None and credit_start > total_start:
        out.append(fd.error("part_above_total",
                            f"信用贷款年初余额 {_amount(credit_start)} 大于各项贷款年初余额 {_amount(total_start)}",
                            **_place(rec, BANK_SUMMARY, "credit_loans_year_start", unit)))
    missing = [role for role in _BASELINE_ROLES if _num(rec.get(role)) is None]
    if missing:
        what = "、".join(_header(BANK_SUMMARY, r) for r in missing)
        uses = "、".join(dict.fromkeys(_BASELINE_ROLES[r] for r in missing))
        out.append(fd.warning("baseline_missing", f"未填{what}，无法计算{uses}",
                              **_place(rec, BANK_SUMMARY, missing[0], unit)))
    return out


def _preference(row: pd.Series) -> tuple:
    """Which of two rows for one bank to keep (the larger wins): own file, later 填报日期, later file, later row."""
    return (
        bool(row["own_file"]),
        _date(row.get("report_date")) or dt.date.min,
        str(row["file"]),
        _int(row["row"]) or 0,
    )


# 万元: a table in 亿元 with four decimals is exact to 1 万元, so two roundings of one amount differ by up to half of it
ROUNDING_WAN = 0.5


def _same_figure(role: str, a: Any, b: Any) -> bool:
    """Whether two reports of one 主要指标 figure agree: counts exactly, amounts (in 万元, converted from the unit
    each table used) up to the rounding of a coarser unit."""
    x, y = _num(a), _num(b)
    if x is None or y is None:
        return x is None and y is None
    return abs(x - y) <= ROUNDING_WAN + 1e-6 if role in _AMOUNT_ROLES else x == y   # 1e-6: floating-point noise


def _drop_duplicate_banks(frame: pd.DataFrame, plan: Plan) -> tuple[pd.DataFrame, list[fd.Finding]]:
    out: list[fd.Finding] = []
    if not len(frame):
        return frame, out
    keys = ["cycle", "bank_id"] if "cycle" in frame.columns else ["bank_id"]
    drop: list[Any] = []
    known = frame[frame["bank_id"].notna()]
    for _, group in known.groupby(keys, sort=False, dropna=False):
        if len(group) < 2:
            continue
        order = sorted(group.index, key=lambda i: _preference(group.loc[i]))
        keep, others = order[-1], order[:-1]
        drop.extend(others)
        kept = frame.loc[keep]
        differing = [
            _header(BANK_SUMMARY, role)
            for role in (*_AMOUNT_ROLES, *_COUNT_ROLES, "transfer_pricing_bp")
            if role in frame.columns
            and any(not _same_figure(role, frame.at[i, role], kept[role]) for i in others)
        ]
        listed = "；".join(
            f"「{frame.at[i, 'file']}」第 {_int(frame.at[i, 'row'])} 行"
            f"（{'本行报送' if frame.at[i, 'own_file'] else plan.unit_name(_text(frame.at[i, 'unit_id']) or '未知单位') + '汇总'}）"
            for i in [keep, *others]
        )
        agree = f"，两处数据不一致：{'、'.join(differing)}" if differing else "，两处数据一致"
        make = fd.warning if differing else fd.info   # 人行's consolidated table repeating the banks' own figures
        out.append(make(
            "duplicate_bank_row",
            f"「{kept['bank']}」本期主要指标出现 {len(group)} 次：{listed}；采用第一处{agree}",
            file=_text(kept["file"]), sheet=_text(kept["sheet"]), row=_int(kept["row"]), unit=kept["bank"]))
    return frame.drop(index=drop), out


# ---------------------------------------------------------------------------------------------------------------
# Cleaning: 贷款明细, 首贷申请, 无贷户名单


def _sender_bank(frame: pd.DataFrame, plan: Plan, fmt: SheetFormat, code: str,
                 out: list[fd.Finding]) -> tuple[list, list, list]:
    """bank_id/bank/category for each row from the workbook's sender; one finding per file that is not a bank's."""
    senders = _per_value(frame["unit_id"], _text)
    units: dict[Any, Unit | None] = {}
    for sender in dict.fromkeys(senders):
        units[sender] = _bank_unit(plan, sender)
    row_units = [units[s] for s in senders]
    missing = [i for i, u in enumerate(row_units) if u is None]
    if missing:
        reported: set[tuple[Any, Any]] = set()
        files = frame["file"].tolist()
        for i in missing:
            key = (files[i], senders[i])
            if key in reported:
                continue
            reported.add(key)
            rec = _records(frame, [i])[0]
            sender = senders[i]
            who = f"报送单位「{plan.unit_name(sender)}」不是银行机构" if sender else "无法确定报送银行"
            out.append(fd.error(code, f"{who}，{fmt.name}无法归属到银行（各行保留，只计入全市数）",
                                file=_text(rec.get("file")), sheet=_text(rec.get("sheet")),
                                unit=plan.unit_name(sender) if sender else None))
    ids = [u.id if u else None for u in row_units]
    names = [u.name if u else None for u in row_units]
    cats = [u.category if u else None for u in row_units]
    return ids, names, cats


def clean_loans(
    raw: pd.DataFrame, plan: Plan, cycle: dt.date, previous: dt.date
) -> tuple[pd.DataFrame, list[fd.Finding]]:
    """Check one cycle's 贷款明细 rows and give each its bank, borrower key and county.

    Needs: `borrower`, `borrower_id`, `loan_date`, `amount` and optionally `maturity_date`, `county`,
    `guarantee_method`, `is_first_loan`, `is_renewal` (roles of `formats.LOANS`), plus `file`, `sheet`, `row`,
    `unit_id`.
    Adds: `bank_id`, `bank`, `category` (from the workbook's sender, which must be a bank), `borrower_key`,
    `county_unit_id`, `county_name`, `in_window` (发放日期 in (previous, cycle]), `first_claim` (flagged
    是否首贷户 = 是 and not a 无还本续贷 loan).
    Findings (rows kept): sender not a bank; 发放日期 outside (previous, cycle]; 发放金额 ≤ 0; 到期日期 before
    发放日期; a 无还本续贷 loan flagged as 首贷户; a 所属县区 that names no county of the plan; the same loan
    (bank, borrower, date, amount) twice in the cycle.
    """
    out: list[fd.Finding] = []
    frame = _ensure(raw, [
        "borrower", "borrower_id", "loan_date", "maturity_date", "amount", "county", "is_first_loan", "is_renewal",
        "file", "sheet", "row", "unit_id",
    ])
    ids, names, cats = _sender_bank(frame, plan, LOANS, "loans_sender_not_bank", out)
    counties = _county_index(plan)
    keys = _keys(frame["borrower_id"], frame["borrower"])
    loan_dates = _per_value(frame["loan_date"], _date)
    maturities = _per_value(frame["maturity_date"], _date)
    amounts = _per_value(frame["amount"], _num)
    firsts = _per_value(frame["is_first_loan"], _flag)
    renewals = _per_value(frame["is_renewal"], _flag)
    county_units = _per_value(frame["county"], lambda v: _find_county(plan, v, counties))
    county_texts = _per_value(frame["county"], _text)
    cycles = _per_value(frame["cycle"], _text) if "cycle" in frame.columns else [None] * len(frame)
    unit_ids = _per_value(frame["unit_id"], _text)
    in_window = [d is not None and previous < d <= cycle for d in loan_dates]
    claims = [f and not r for f, r in zip(firsts, renewals)]
    county_ids = [c.id if c else None for c in county_units]
    county_names = [_county_label(c) if c else None for c in county_units]
    # rows that need a finding (few): found with vectorised tests, then described one by one in row order
    flagged: dict[int, list[str]] = {}
    for i, (d, inside) in enumerate(zip(loan_dates, in_window)):
        if d is not None and not inside:
            flagged.setdefault(i, []).append("outside")
    for i, a in enumerate(amounts):
        if a is not None and a <= 0:
            flagged.setdefault(i, []).append("amount")
    for i, (d, m) in enumerate(zip(loan_dates, maturities)):
        if d is not None and m is not None and m < d:
            flagged.setdefault(i, []).append("maturity")
    for i, (f, r) in enumerate(zip(firsts, renewals)):
        if f and r:
            flagged.setdefault(i, []).append("renewal")
    for i, (c, t) in enumerate(zip(county_units, county_texts)):
        if c is None and t:
            flagged.setdefault(i, []).append("county")
    dup_keys = list(zip(cycles, unit_ids, keys, loan_dates, amounts))
    first_seen: dict[tuple, int] = {}
    duplicate_of: dict[int, int] = {}
    for i, k in enumerate(dup_keys):
        j = first_seen.get(k)
        if j is None:
            first_seen[k] = i
        elif k[2] is not None and k[3] is not None:
            duplicate_of[i] = j
            flagged.setdefault(i, []).append("duplicate")
    positions = sorted(flagged)
    wanted = sorted(set(positions) | set(duplicate_of.values()))
    fetched = dict(zip(wanted, _records(frame, wanted)))
    for i in positions:
        rec = fetched[i]
        bank = names[i]
        who = _who(rec.get("borrower"), rec.get("borrower_id"))
        loan_date, maturity, amount = loan_dates[i], maturities[i], amounts[i]
        for what in flagged[i]:
            if what == "outside":
                out.append(fd.warning(
                    "loan_outside_cycle",
                    f"{who} 的发放日期 {loan_date} 不在本期报送范围（{previous} 之后至 {cycle}）内；"
                    "贷款明细只应填报上期报送日之后发放的贷款",
                    **_place(rec, LOANS, "loan_date", bank)))
            elif what == "amount":
                out.append(fd.error("loan_amount_not_positive", f"{who} 的发放金额为 {amount:,.4f} 万元，应大于 0",
                                    **_place(rec, LOANS, "amount", bank)))
            elif what == "maturity":
                out.append(fd.error("maturity_before_loan", f"{who} 的到期日期 {maturity} 早于发放日期 {loan_date}",
                                    **_place(rec, LOANS, "maturity_date", bank)))
            elif what == "renewal":
                out.append(fd.warning(
                    "renewal_claimed_first_loan",
                    f"{who} 的贷款为无还本续贷，却填报为首贷户；无还本续贷不是首贷，不计入首贷户数",
                    **_place(rec, LOANS, "is_first_loan", bank)))
            elif what == "county":
                out.append(fd.warning("county_unknown",
                                      f"所属县区「{_text(rec.get('county'))}」不是本计划的县（区），该笔贷款不计入分县数",
                                      **_place(rec, LOANS, "county", bank)))
            else:
                first_rec = fetched[duplicate_of[i]]
                out.append(fd.warning(
                    "duplicate_loan",
                    f"{who} 同日同额的贷款重复出现（另见「{first_rec.get('file')}」第 {_int(first_rec.get('row'))} 行）",
                    **_place(rec, LOANS, "borrower", bank)))
    result = frame.assign(
        bank_id=pd.Series(ids, index=frame.index, dtype="object"),
        bank=pd.Series(names, index=frame.index, dtype="object"),
        category=pd.Series(cats, index=frame.index, dtype="object"),
        borrower_key=pd.Series(keys, index=frame.index, dtype="object"),
        county_unit_id=pd.Series(county_ids, index=frame.index, dtype="object"),
        county_name=pd.Series(county_names, index=frame.index, dtype="object"),
        in_window=pd.Series(in_window, index=frame.index, dtype="bool"),
        first_claim=pd.Series(claims, index=frame.index, dtype="bool"),
    )
    return result.reset_index(drop=True), out


def clean_applications(
    raw: pd.DataFrame, plan: Plan, cycle: dt.date, previous: dt.date | None = None
) -> tuple[pd.DataFrame, list[fd.Finding]]:
    """Check one cycle's 首贷申请 rows and give each its bank and applicant key.

    Needs: `applicant`, `applicant_id`, `applied_on`, `replied_on`, `result` (roles of `formats.APPLICATIONS`),
    `file`, `sheet`, `row`, `unit_id`. `previous` is accepted for symmetry with `clean_loans`: the sheet lists
    every open or recent application, so an application older than the previous cycle is normal.
    Adds: `bank_id`, `bank`, `category`, `applicant_key`.
    Findings (rows kept): sender not a bank; 回复日期 before 申请日期; 申请日期 or 回复日期 after the report date;
    a result of 授信/拒绝 without a 回复日期.
    """
    out: list[fd.Finding] = []
    frame = _ensure(raw, ["applicant", "applicant_id", "applied_on", "replied_on", "result", "file", "sheet", "row",
                          "unit_id"])
    ids, names, cats = _sender_bank(frame, plan, APPLICATIONS, "applications_sender_not_bank", out)
    keys = []
    for rec, bank in zip(frame.to_dict("records"), names):
        keys.append(identity_key(rec.get("applicant_id"), rec.get("applicant")))
        who = _who(rec.get("applicant"), rec.get("applicant_id"))
        applied, replied = _date(rec.get("applied_on")), _date(rec.get("replied_on"))
        if applied and replied and replied < applied:
            out.append(fd.error("reply_before_application",
                                f"{who} 的回复日期 {replied} 早于申请日期 {applied}",
                                **_place(rec, APPLICATIONS, "replied_on", bank)))
        for role, day in (("applied_on", applied), ("replied_on", replied)):
            if day and day > cycle:
                out.append(fd.error("date_after_report",
                                    f"{who} 的{_header(APPLICATIONS, role)} {day} 晚于本期报送日 {cycle}",
                                    **_place(rec, APPLICATIONS, role, bank)))
        result = _text(rec.get("result"))
        if result in ("授信", "拒绝") and replied is None:
            out.append(fd.warning("decision_without_reply_date",
                                  f"{who} 的办理结果为「{result}」，但未填回复日期，按未回复计算",
                                  **_place(rec, APPLICATIONS, "replied_on", bank)))
    result = frame.assign(
        bank_id=pd.Series(ids, index=frame.index, dtype="object"),
        bank=pd.Series(names, index=frame.index, dtype="object"),
        category=pd.Series(cats, index=frame.index, dtype="object"),
        applicant_key=pd.Series(keys, index=frame.index, dtype="object"),
    )
    return result.reset_index(drop=True), out


def clean_noloan(raw: pd.DataFrame, plan: Plan) -> tuple[pd.DataFrame, list[fd.Finding]]:
    """Give each 无贷户名单 row its county and household key.

    Needs: `name`, `entity_id`, `county` (所属县区 text), `need` (roles of `formats.NOLOAN_LIST`), `file`, `sheet`,
    `row`, `unit_id`.
    Adds: `county_unit_id`, `county_name`, `entity_key`. The county is the sending county government's when the
    workbook comes from one (it answers for its list), else the county the 所属县区 text names.
    Findings (rows kept): no county can be found; 所属县区 names another county than the sender; negative
    融资需求; a household listed twice in one county's list.
    """
    out: list[fd.Finding] = []
    frame = _ensure(raw, ["name", "entity_id", "county", "need", "file", "sheet", "row", "unit_id"])
    index = _county_index(plan)
    senders = _per_value(frame["unit_id"], lambda v: _plan_unit(plan, v))
    named_units = _per_value(frame["county"], lambda v: _find_county(plan, v, index))
    needs = _per_value(frame["need"], _num)
    keys = _keys(frame["entity_id"], frame["name"])
    cycles = _per_value(frame["cycle"], _text) if "cycle" in frame.columns else [None] * len(frame)
    ids, labels = [], []
    flagged: dict[int, list[str]] = {}
    first_seen: dict[tuple, int] = {}
    duplicate_of: dict[int, int] = {}
    for i, (sender, named, need, key, cyc) in enumerate(zip(senders, named_units, needs, keys, cycles)):
        sender_county = sender if sender is not None and sender.kind == "county" else None
        county = sender_county or named
        if county is None:
            flagged.setdefault(i, []).append("unknown")
        elif sender_county is not None and named is not None and named.id != sender_county.id:
            flagged.setdefault(i, []).append("mismatch")
        if need is not None and need < 0:
            flagged.setdefault(i, []).append("negative")
        dup = (cyc, county.id if county else None, key)
        j = first_seen.get(dup)
        if j is None:
            first_seen[dup] = i
        elif key is not None:
            duplicate_of[i] = j
            flagged.setdefault(i, []).append("duplicate")
        ids.append(county.id if county else None)
        labels.append(_county_label(county) if county else None)
    positions = sorted(flagged)
    wanted = sorted(set(positions) | set(duplicate_of.values()))
    fetched = dict(zip(wanted, _records(frame, wanted)))
    for i in positions:
        rec = fetched[i]
        sender, named = senders[i], named_units[i]
        sender_county = sender if sender is not None and sender.kind == "county" else None
        unit_name = sender.name if sender else None
        who = _who(rec.get("name"), rec.get("entity_id"))
        for what in flagged[i]:
            if what == "unknown":
                out.append(fd.warning(
                    "noloan_county_unknown",
                    f"无法确定 {who} 所属县区（所属县区「{_text(rec.get('county')) or '空'}」，报送单位"
                    f"「{unit_name or '未知'}」），不计入分县转化率",
                    **_place(rec, NOLOAN_LIST, "county", unit_name)))
            elif what == "mismatch":
                out.append(fd.warning(
                    "noloan_county_mismatch",
                    f"{who} 的所属县区为「{_county_label(named)}」，但名单由「{sender_county.name}」报送；按报送单位计入"
                    f"{_county_label(sender_county)}",
                    **_place(rec, NOLOAN_LIST, "county", unit_name)))
            elif what == "negative":
                out.append(fd.error("negative_value", f"{who} 的融资需求为负数（{needs[i]:,.2f} 万元）",
                                    **_place(rec, NOLOAN_LIST, "need", unit_name)))
            else:
                first_rec = fetched[duplicate_of[i]]
                out.append(fd.info("noloan_listed_twice",
                                   f"{who} 在名单中重复出现（另见第 {_int(first_rec.get('row'))} 行），按一户计算",
                                   **_place(rec, NOLOAN_LIST, "name", unit_name)))
    result = frame.assign(
        county_unit_id=pd.Series(ids, index=frame.index, dtype="object"),
        county_name=pd.Series(labels, index=frame.index, dtype="object"),
        entity_key=pd.Series(keys, index=frame.index, dtype="object"),
    )
    return result.reset_index(drop=True), out
