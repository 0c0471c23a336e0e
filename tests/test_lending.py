"""Tests for helpers.lending: cleaning the lending and no-loan tables and the lending indicators.

Fixtures are frames as the ingest stage produces them (roles as columns, amounts in 万元, dates as datetime.date,
ids normalised, plus file/sheet/row/unit_id/report_date), a few rows each. Every expected figure is worked out
by hand in the comments beside it.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pandas as pd
import pytest

from helpers.indicators import lending
from helpers.indicators import lending_base
from helpers.indicators import lending_clean
from helpers.indicators import target_rules
from helpers.indicators import targets
from helpers.core.cycles import add_workdays, elapsed_share
from helpers.ingest.formats import BANK_SUMMARY
from helpers.core.identifiers import check_id, make_resident_id, make_uscc
from helpers.plan.model import load_plan

REPO = Path(__file__).resolve().parents[1]
DATONG = REPO / "data" / "plan" / "datong-2022.yaml"

C1, C2 = dt.date(2022, 5, 10), dt.date(2022, 5, 25)     # two cycles; C1's previous cycle is 2022-04-25
P0 = dt.date(2022, 4, 25)

# Borrowers (valid identifiers, generated with the check characters of GB 32100 / GB 11643)
A = make_uscc("91140200MA0K00001")     # 甲公司
C = make_uscc("91140200MA0K00003")     # 丙公司
D = make_uscc("91140200MA0K00004")     # 丁公司
E = make_uscc("91140200MA0K00005")
F = make_uscc("91140200MA0K00006")
G = make_uscc("91140200MA0K00007")
J = make_uscc("91140200MA0K00008")
P = make_resident_id("140202", dt.date(1980, 1, 2), 123)   # 乙, a person
WU = "戊记小吃店"                        # a 个体工商户 reported without 证件号码: identified by name

TINY_PLAN = """
plan:
  id: tiny-2022
  title: 测试行动计划
  year: 2022
  report_days: [10, 25]
units:
  - {id: pbc, name: 中国人民银行测试市中心支行, aliases: [人行测试中支], kind: regulator}
  - {id: fin, name: 测试市金融办, kind: government}
  - {id: icbc, name: 中国工商银行测试分行, aliases: [工行测试分行, 中国工商银行股份有限公司测试分行], kind: bank, category: 国有大型银行}
  - {id: abc, name: 中国农业银行测试分行, aliases: [农行测试分行], kind: bank, category: 国有大型银行}
  - {id: rcb, name: 测试农村商业银行, aliases: [测试农商行, 测试农商银行], kind: bank, category: 地方法人银行}
  - {id: pingcheng, name: 平城区人民政府, aliases: [平城区政府, 平城区], kind: county, county: 平城区}
  - {id: yungang, name: 云冈区人民政府, aliases: [云冈区政府, 云冈区], kind: county, county: 云冈区}
ledgers:
  task: {responsible: true}
  lending: {kind: bank}
  noloan: {kind: county}
lists:
  - name: 全面清单
    columns: {no: 序号, text: 主要任务, progress: 双周进展情况}
    tasks:
      - {no: 1, text: 提高信用贷款占比, lead: [pbc], units: [icbc]}
targets:
  - {id: share_city, indicator: credit_loan_share, comparator: above_baseline, baseline: start_of_year, scope: city}
  - {id: share_banks, indicator: credit_loan_share, comparator: above_baseline, baseline: start_of_year,
     scope: {kind: bank}}
  - {id: credit_households, indicator: credit_loan_households, comparator: rising, scope: city}
  - {id: first_loans, indicator: first_loan_households, comparator: rising, scope: city}
  - {id: growth_big, indicator: inclusive_sme_loan_growth, comparator: ">=", threshold: 0.30,
     scope: {category: 国有大型银行}}
  - {id: growth_local, indicator: inclusive_sme_loan_growth, comparator: above_scope,
     scope: {category: 地方法人银行}, compare_to: {category: 国有大型银行}}
  - {id: bp, indicator: transfer_pricing_discount_bp, comparator: ">=", threshold: 50, qualifier: 原则上,
     scope: {kind: bank}}
  - {id: plan, indicator: plan_completion_rate, comparator: ">=", threshold: null, threshold_rule: elapsed_share,
     scope: {kind: bank}, plan_indicators: [inclusive_sme_loan_balance_increase, first_loan_households]}
  - {id: renewal, indicator: renewal_without_repayment, comparator: rising, scope: city}
  - {id: reply, indicator: reply_within_5_workdays_rate, comparator: ">=", threshold: 1.0, workdays: 5,
     scope: {kind: bank}}
bank_plans:
  - {bank: icbc, indicator: inclusive_sme_loan_balance_increase, annual: 60}
  - {bank: abc, indicator: inclusive_sme_loan_balance_increase, annual: 400}
  - {bank: rcb, indicator: inclusive_sme_loan_balance_increase, annual: 100}
  - {bank: rcb, indicator: first_loan_households, annual: 4}
"""


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "tiny-2022.yaml"
    path.write_text(TINY_PLAN, encoding="utf-8")
    return load_plan(path)


# ---------------------------------------------------------------------------------------------------------------
# Frames as the ingest stage would produce them

SUMMARY_ROLES = [c.role for c in BANK_SUMMARY.columns]


def summary_raw(rows: list[dict], file: str, unit_id: str | None, first_row: int = 5,
                report_date: dt.date | None = None) -> pd.DataFrame:
    records = []
    for i, row in enumerate(rows):
        rec = {role: None for role in SUMMARY_ROLES}
        rec.update(row)
        rec.update(file=file, sheet="主要指标", row=first_row + i, unit_id=unit_id, report_date=report_date)
        records.append(rec)
    return pd.DataFrame(records)


def loan(borrower, ident, loan_date, amount, *, method="保证", first=False, renewal=False, county="平城区",
         maturity=None, row=4):
    check = check_id(ident) if ident else None
    return {
        "borrower": borrower, "borrower_id": ident, "borrower_id_kind": check.kind if check else None,
        "borrower_id_valid": check.valid if check else None, "borrower_type": "小微企业", "county": county,
        "loan_date": loan_date, "maturity_date": maturity or loan_date.replace(year=loan_date.year + 1),
        "amount": amount, "credit_line": amount, "guarantee_method": method, "is_first_loan": first,
        "is_renewal": renewal, "interest_rate": 0.0435, "row": row,
    }


def loans_raw(rows: list[dict], file: str, unit_id: str | None) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    return frame.assign(file=file, sheet="贷款明细", unit_id=unit_id, report_date=None)


def application(applicant, ident, applied, replied=None, result=None, row=4):
    return {"applicant": applicant, "applicant_id": ident, "applicant_id_kind": "uscc", "applicant_id_valid": True,
            "applied_on": applied, "replied_on": replied, "result": result, "row": row}


def apps_raw(rows: list[dict], file: str, unit_id: str | None) -> pd.DataFrame:
    return pd.DataFrame(rows).assign(file=file, sheet="首贷申请", unit_id=unit_id, report_date=None)


def noloan_raw(rows: list[tuple], file: str, unit_id: str | None) -> pd.DataFrame:
    records = [
        {"name": name, "entity_id": ident, "entity_type": "小微企业", "county": county, "industry": "批发和零售业",
         "need": 50.0, "pushed_to": "测试农商行", "row": 4 + i}
        for i, (name, ident, county) in enumerate(rows)
    ]
    return pd.DataFrame(records).assign(file=file, sheet="无贷户名单", unit_id=unit_id, report_date=None)


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def one(frame: pd.DataFrame, indicator: str, scope: str, scope_id: str) -> pd.Series:
    hit = frame[(frame["indicator"] == indicator) & (frame["scope"] == scope) & (frame["scope_id"] == scope_id)]
    assert len(hit) == 1, (indicator, scope, scope_id, hit)
    return hit.iloc[0]


# ---------------------------------------------------------------------------------------------------------------
# clean_bank_summary


def test_summary_resolves_aliases_and_keeps_unknown_bank(plan):
    raw = summary_raw(
        [
            {"bank": "工行测试分行", "total_loans": 1000.0, "credit_loans": 100.0},
            {"bank": "测试农商银行", "total_loans": 500.0, "credit_loans": 50.0},
            {"bank": "某某村镇银行", "total_loans": 80.0, "credit_loans": 8.0},
        ],
        file="人行汇总.xlsx", unit_id="pbc",
    )
    before = raw.copy()
    clean, found = lending_clean.clean_bank_summary(raw, plan)
    pd.testing.assert_frame_equal(raw, before)          # the argument is never mutated
    assert clean["bank_id"].tolist() == ["icbc", "rcb", None]
    assert clean["bank"].tolist()[:2] == ["中国工商银行测试分行", "测试农村商业银行"]
    assert clean["category"].tolist()[:2] == ["国有大型银行", "地方法人银行"]
    assert clean["bank_text"].tolist()[2] == "某某村镇银行"    # kept, as written
    unknown = [f for f in found if f.code == "bank_unknown"]
    assert len(unknown) == 1
    assert (unknown[0].file, unknown[0].row, unknown[0].column) == ("人行汇总.xlsx", 7, "机构名称")
    assert "某某村镇银行" in unknown[0].message


def test_summary_flags_impossible_values_and_missing_baselines(plan):
    raw = summary_raw(
        [
            # 信用贷款余额 1200 > 各项贷款余额 1000: impossible
            {"bank": "工行测试分行", "total_loans": 1000.0, "credit_loans": 1200.0, "sme_loans": 100.0,
             "sme_loans_last_year": 90.0, "sme_loans_year_start": 95.0, "credit_loans_year_start": 80.0,
             "total_loans_year_start": 900.0},
            # a negative balance, and no 上年同期/年初 figures
            {"bank": "农行测试分行", "total_loans": 3000.0, "credit_loans": 900.0, "renewal_balance": -5.0},
        ],
        file="人行汇总.xlsx", unit_id="pbc",
    )
    clean, found = lending_clean.clean_bank_summary(raw, plan)
    assert len(clean) == 2                                    # rows kept
    by_code = {f.code: f for f in found}
    assert by_code["part_above_total"].row == 5 and by_code["part_above_total"].column == "信用贷款余额"
    assert by_code["negative_value"].row == 6 and by_code["negative_value"].column == "无还本续贷余额"
    missing = [f for f in found if f.code == "baseline_missing"]
    assert [f.row for f in missing] == [6]
    assert "普惠型小微企业贷款上年同期余额" in missing[0].message and "同比增速" in missing[0].message
    assert missing[0].unit == "中国农业银行测试分行"


def test_summary_duplicate_bank_prefers_own_file(plan):
    pbc = summary_raw([{"bank": "工行测试分行", "total_loans": 999.0}], file="人行汇总.xlsx", unit_id="pbc",
                      report_date=dt.date(2022, 5, 25))
    own = summary_raw([{"bank": "中国工商银行股份有限公司测试分行", "total_loans": 1000.0}],
                      file="工行5.25台账.xlsx", unit_id="icbc", first_row=4, report_date=dt.date(2022, 5, 24))
    clean, found = lending_clean.clean_bank_summary(pd.concat([pbc, own], ignore_index=True), plan)
    assert len(clean) == 1
    assert clean.iloc[0]["file"] == "工行5.25台账.xlsx" and clean.iloc[0]["total_loans"] == 1000.0
    dup = [f for f in found if f.code == "duplicate_bank_row"]
    assert len(dup) == 1 and "人行汇总.xlsx" in dup[0].message and "各项贷款余额" in dup[0].message


def test_summary_duplicate_bank_agrees_up_to_the_rounding_of_its_unit(plan):
    # 人行's table in 万元 with two decimals; the bank's own in 亿元 with four decimals (39.0253 亿元 → 390253 万元, half a
    # 万元 from 390252.5) and a balance in 元 (848272900 元 × 0.0001 is 84827.29000000001 万元 in floating point): the
    # same figures
    pbc = summary_raw([{"bank": "工行测试分行", "total_loans": 390252.5, "sme_loans": 84827.29, "renewal_balance": 5317.72,
                        "credit_households": 120}], file="人行汇总.xlsx", unit_id="pbc")
    own = summary_raw([{"bank": "中国工商银行股份有限公司测试分行", "total_loans": 39.0253 * 10000,
                        "sme_loans": 848272900 * 0.0001, "renewal_balance": 0.5318 * 10000, "credit_households": 120}],
                      file="工行台账.xlsx", unit_id="icbc", first_row=4)
    clean, found = lending_clean.clean_bank_summary(pd.concat([pbc, own], ignore_index=True), plan)
    (dup,) = [f for f in found if f.code == "duplicate_bank_row"]
    assert dup.severity == "info" and "两处数据一致" in dup.message
    # a whole 万元 apart, or one household, is a real difference
    for field, value, header in (("total_loans", 39.0254 * 10000, "各项贷款余额"), ("credit_households", 121, "信用贷款户数")):
        changed = own.copy()
        changed[field] = value
        _, found = lending_clean.clean_bank_summary(pd.concat([pbc, changed], ignore_index=True), plan)
        (dup,) = [f for f in found if f.code == "duplicate_bank_row"]
        assert dup.severity == "warning" and f"两处数据不一致：{header}" in dup.message


def test_summary_row_naming_a_regulator_is_not_a_bank(plan):
    raw = summary_raw([{"bank": "人行测试中支", "total_loans": 1.0}], file="x.xlsx", unit_id="pbc")
    clean, found = lending_clean.clean_bank_summary(raw, plan)
    assert clean["bank_id"].isna().all()
    assert codes(found)[0] == "summary_not_a_bank"


# ---------------------------------------------------------------------------------------------------------------
# clean_loans, clean_applications, clean_noloan


def test_clean_loans_adds_bank_key_county(plan):
    raw = loans_raw([loan("甲公司", A, dt.date(2022, 5, 3), 100.0, county="大同市平城区", row=4),
                     loan("戊记小吃店", None, dt.date(2022, 5, 4), 10.0, county="云冈区", row=5)],
                    file="工行.xlsx", unit_id="icbc")
    clean, found = lending_clean.clean_loans(raw, plan, C1, P0)
    assert found == []
    assert clean["bank"].tolist() == ["中国工商银行测试分行"] * 2
    assert clean["borrower_key"].tolist() == [A, "名称:戊记小吃店"]
    assert clean["county_unit_id"].tolist() == ["pingcheng", "yungang"]
    assert clean["county_name"].tolist() == ["平城区", "云冈区"]
    assert clean["in_window"].tolist() == [True, True]


def test_clean_loans_flags_impossible_rows_and_keeps_them(plan):
    raw = loans_raw(
        [
            loan("甲公司", A, dt.date(2022, 4, 20), 100.0, row=4),                       # before (04-25, 05-10]
            loan("丙公司", C, dt.date(2022, 5, 11), 100.0, row=5),                       # after the cycle date
            loan("丁公司", D, dt.date(2022, 5, 3), 0.0, row=6),                          # amount 0
            loan("乙", P, dt.date(2022, 5, 3), 10.0, maturity=dt.date(2022, 5, 1), row=7),  # matures before
            loan("己公司", F, dt.date(2022, 5, 3), 10.0, first=True, renewal=True, row=8),  # renewal as first
            loan("庚公司", G, dt.date(2022, 5, 3), 10.0, county="外省某县", row=9),
        ],
        file="农商行.xlsx", unit_id="rcb",
    )
    clean, found = lending_clean.clean_loans(raw, plan, C1, P0)
    assert len(clean) == 6
    got = {(f.code, f.row) for f in found}
    assert {("loan_outside_cycle", 4), ("loan_outside_cycle", 5), ("loan_amount_not_positive", 6),
            ("maturity_before_loan", 7), ("renewal_claimed_first_loan", 8), ("county_unknown", 9)} == got
    assert clean["first_claim"].tolist() == [False] * 6     # the renewal's first-loan claim is not a claim
    person = next(f for f in found if f.code == "maturity_before_loan")
    assert P not in person.message and "140202********" in person.message   # resident ID masked
    assert all(f.unit == "测试农村商业银行" and f.sheet == "贷款明细" for f in found)


def test_clean_loans_from_a_non_bank_is_a_finding(plan):
    raw = loans_raw([loan("甲公司", A, dt.date(2022, 5, 3), 1.0, row=4), loan("丙公司", C, dt.date(2022, 5, 3), 1.0,
                                                                         row=5)],
                    file="人行.xlsx", unit_id="pbc")
    clean, found = lending_clean.clean_loans(raw, plan, C1, P0)
    assert clean["bank_id"].isna().all() and len(clean) == 2
    assert codes(found) == ["loans_sender_not_bank"]      # once per file, not per row


def test_clean_applications_reply_before_application(plan):
    raw = apps_raw([application("甲公司", A, dt.date(2022, 5, 6), dt.date(2022, 5, 4), "授信", row=4),
                    application("丙公司", C, dt.date(2022, 5, 6), dt.date(2022, 5, 9), "授信", row=5)],
                   file="工行.xlsx", unit_id="icbc")
    clean, found = lending_clean.clean_applications(raw, plan, C1, P0)
    assert clean["applicant_key"].tolist() == [A, C]
    assert [(f.code, f.row, f.column) for f in found] == [("reply_before_application", 4, "回复日期")]


def test_clean_noloan_county_from_sender_or_text(plan):
    from_county = noloan_raw([("甲公司", A, "平城区"), ("丙公司", C, "云冈区")], file="平城区名单.xlsx",
                             unit_id="pingcheng")
    clean, found = lending_clean.clean_noloan(from_county, plan)
    # the sender answers for its list: both rows go to 平城区; the second names another county → finding
    assert clean["county_unit_id"].tolist() == ["pingcheng", "pingcheng"]
    assert codes(found) == ["noloan_county_mismatch"]

    from_office = noloan_raw([("甲公司", A, "云冈区"), ("丙公司", C, None)], file="金融办汇总.xlsx", unit_id="fin")
    clean, found = lending_clean.clean_noloan(from_office, plan)
    assert clean["county_unit_id"].tolist() == ["yungang", None]
    assert clean["county_name"].tolist() == ["云冈区", None]
    assert [(f.code, f.row) for f in found] == [("noloan_county_unknown", 5)]


# ---------------------------------------------------------------------------------------------------------------
# A two-cycle year: 2022-05-10 (C1) and 2022-05-25 (C2)


def _year(plan):
    """Clean each cycle as the pipeline would and stack them with a `cycle` column."""
    summaries = {
        C1: summary_raw(
            [
                {"bank": "工行测试分行", "renewal_balance": 8.0},
                {"bank": "农行测试分行", "renewal_balance": 20.0},
                {"bank": "测试农商行", "renewal_balance": 5.0},
            ],
            file="人行汇总0510.xlsx", unit_id="pbc"),
        C2: summary_raw(
            [
                {"bank": "工行测试分行", "total_loans": 1000.0, "credit_loans": 100.0, "total_loans_year_start": 950.0,
                 "credit_loans_year_start": 80.0, "sme_loans": 130.0, "sme_loans_last_year": 100.0,
                 "sme_loans_year_start": 110.0, "first_loan_households_reported": 2, "renewal_balance": 10.0,
                 "transfer_pricing_bp": 60.0},
                {"bank": "农行测试分行", "total_loans": 3000.0, "credit_loans": 900.0, "total_loans_year_start": 2900.0,
                 "credit_loans_year_start": 850.0, "sme_loans": 550.0, "sme_loans_last_year": 500.0,
                 "sme_loans_year_start": 520.0, "first_loan_households_reported": 0, "renewal_balance": 20.0,
                 "transfer_pricing_bp": 40.0},
                {"bank": "测试农商行", "total_loans": 500.0, "credit_loans": 50.0, "total_loans_year_start": 500.0,
                 "credit_loans_year_start": 60.0, "sme_loans": 300.0, "sme_loans_last_year": 200.0,
                 "sme_loans_year_start": 250.0, "first_loan_households_reported": 3, "renewal_balance": 5.0,
                 "transfer_pricing_bp": 50.0},
            ],
            file="人行汇总0525.xlsx", unit_id="pbc"),
    }
    loans = {
        C1: [
            loans_raw([loan("甲公司", A, dt.date(2022, 5, 3), 100.0, method="信用", first=True, row=4)],
                      file="工行0510.xlsx", unit_id="icbc"),
            loans_raw([loan("乙", P, dt.date(2022, 5, 5), 20.0, method="抵押", county="云冈区", row=4)],
                      file="农行0510.xlsx", unit_id="abc"),
            # 甲公司 again, claimed as 首贷 by the 农商行 three days after 工行 lent to it
            loans_raw([loan("甲公司", A, dt.date(2022, 5, 6), 50.0, first=True, row=4)],
                      file="农商行0510.xlsx", unit_id="rcb"),
        ],
        C2: [
            loans_raw([
                loan("乙", P, dt.date(2022, 5, 12), 30.0, method="信用", first=True, county="云冈区", row=4),
                loan("丙公司", C, dt.date(2022, 5, 20), 40.0, method="信用", first=True, renewal=True, row=5),
                loan("丁公司", D, dt.date(2022, 5, 15), 25.0, method="信用", first=True, county="云冈区", row=6),
            ], file="农商行0525.xlsx", unit_id="rcb"),
            loans_raw([loan(WU, None, dt.date(2022, 5, 16), 10.0, method="信用", first=True, row=4)],
                      file="工行0525.xlsx", unit_id="icbc"),
            loans_raw([loan("甲公司", A, dt.date(2022, 5, 18), 60.0, method="信用", first=True, row=4)],
                      file="农行0525.xlsx", unit_id="abc"),
        ],
    }
    noloan = {
        C1: noloan_raw([("甲公司", A, "平城区"), ("己公司", F, "平城区"), ("庚公司", G, "平城区"), (WU, None, "平城区")],
                       file="平城区0510.xlsx", unit_id="pingcheng"),
        # 甲公司 got a loan and was taken off 平城区's list; the year's list still holds it
        C2: pd.concat([
            noloan_raw([("己公司", F, "平城区"), ("庚公司", G, "平城区"), (WU, None, "平城区")],
                       file="平城区0525.xlsx", unit_id="pingcheng"),
            noloan_raw([("丁公司", D, "云冈区"), ("某公司", E, "云冈区"), ("另一公司", J, "云冈区")],
                       file="云冈区0525.xlsx", unit_id="yungang"),
        ], ignore_index=True),
    }
    prev = {C1: P0, C2: C1}
    s_frames, l_frames, n_frames = [], [], []
    for cyc in (C1, C2):
        s, _ = lending_clean.clean_bank_summary(summaries[cyc], plan)
        s_frames.append(s.assign(cycle=cyc.isoformat()))
        lf, _ = lending_clean.clean_loans(pd.concat(loans[cyc], ignore_index=True), plan, cyc, prev[cyc])
        l_frames.append(lf.assign(cycle=cyc.isoformat()))
        nf, _ = lending_clean.clean_noloan(noloan[cyc], plan)
        n_frames.append(nf.assign(cycle=cyc.isoformat()))
    return (pd.concat(s_frames, ignore_index=True), pd.concat(l_frames, ignore_index=True), None,
            pd.concat(n_frames, ignore_index=True))


@pytest.fixture(scope="module")
def year(plan):
    return _year(plan)


@pytest.fixture(scope="module")
def result(plan, year):
    return lending.lending_indicators(plan, C2, *year)


def test_indicator_frame_shape(result):
    frame, _ = result
    assert list(frame.columns) == targets.INDICATOR_COLUMNS
    assert set(frame["scope"]) <= set(lending_base.SCOPES)
    assert set(frame["status"].dropna()) <= set(target_rules.STATUSES)
    assert (frame["cycle"] == "2022-05-25").all()
    assert frame["basis"].str.len().min() > 0


def test_inputs_not_mutated(plan, year):
    copies = [f.copy() if f is not None else None for f in year]
    lending.lending_indicators(plan, C2, *year)
    for original, copy in zip(year, copies):
        if original is not None:
            pd.testing.assert_frame_equal(original, copy)


def test_first_loans_cross_bank_earlier_cycle_and_renewal(result):
    frame, found = result
    # Claims up to C2 (是否首贷户 = 是):
    #   C1 工行 甲 05-03 ✓ counted for 工行 (earliest);  C1 农商行 甲 05-06 ✓ valid but 甲 already counted → once
    #   C2 农商行 乙 ✗ 乙 had a 农行 loan in C1;  C2 农商行 丙 ✗ 无还本续贷;  C2 农商行 丁 ✓;
    #   C2 工行 戊 (no id, by name) ✓;  C2 农行 甲 ✗ 甲 had loans in C1
    # → city 3 (甲, 丁, 戊); 工行 2 (甲, 戊); 农行 0; 农商行 1 (丁)
    assert one(frame, "first_loan_households", "city", "全市")["value"] == 3
    assert one(frame, "first_loan_households", "bank", "中国工商银行测试分行")["value"] == 2
    assert one(frame, "first_loan_households", "bank", "中国农业银行测试分行")["value"] == 0
    assert one(frame, "first_loan_households", "bank", "测试农村商业银行")["value"] == 1
    assert one(frame, "first_loan_households", "category", "国有大型银行")["value"] == 2
    # per county, by the counted claim's 所属县区: 平城区 甲, 戊 = 2; 云冈区 丁 = 1
    assert one(frame, "first_loan_households", "county", "平城区")["value"] == 2
    assert one(frame, "first_loan_households", "county", "云冈区")["value"] == 1
    # target "rising" against C1: at C1 only 甲 counted → 1; 3 > 1 → green
    city = one(frame, "first_loan_households", "city", "全市")
    assert city["target"] == 1 and city["status"] == "green"
    earlier = [f for f in found if f.code == "first_loan_had_earlier_loan"]
    assert sorted((f.file, f.row) for f in earlier) == [("农商行0525.xlsx", 4), ("农行0525.xlsx", 4)]
    assert all("2022-05-10" in f.message for f in earlier)
    assert P not in " ".join(f.message for f in found)        # the person's ID never whole


def test_cross_bank_claim_is_reported_in_its_cycle(plan, year):
    frame, found = lending.lending_indicators(plan, C1, *year)
    # at C1: 甲 claimed by 工行 (05-03) and 农商行 (05-06) → 1 household, counted for 工行
    assert one(frame, "first_loan_households", "city", "全市")["value"] == 1
    assert one(frame, "first_loan_households", "bank", "测试农村商业银行")["value"] == 0
    twice = [f for f in found if f.code == "first_loan_claimed_twice"]
    assert len(twice) == 1 and twice[0].file == "农商行0510.xlsx" and "中国工商银行测试分行" in twice[0].message


def test_first_loan_differences(result):
    frame, found = result
    diff = lending.first_loan_differences(frame).set_index("bank")
    # reported 首贷户数（当年累计）: 工行 2, 农行 0, 农商行 3; derived 2, 0, 1
    assert diff.loc["中国工商银行测试分行", "difference"] == 0
    assert diff.loc["测试农村商业银行", ["reported", "derived", "difference"]].tolist() == [3, 1, 2]
    differs = [f for f in found if f.code == "first_loan_count_differs"]
    assert len(differs) == 1 and differs[0].unit == "测试农村商业银行" and "+2" in differs[0].message
    # the banks' own numbers, summed (reported, not deduplicated): 2 + 0 + 3 = 5
    assert one(frame, "first_loan_households_reported", "city", "全市")["value"] == 5


def test_one_pass_over_the_year_gives_each_cycle_its_own_figures(plan, year):
    """`year_figures` indexes the year's loans once for several cycles: each cycle's figures and findings are
    those computed from the year up to that cycle alone (C2's rows change nothing at C1)."""
    both = lending.year_figures(plan, [C2, C1], *year)
    upto_c1 = [None if f is None else f[f["cycle"] == C1.isoformat()].reset_index(drop=True) for f in year]
    assert both[C1.isoformat()] == lending.cycle_figures(plan, C1, *upto_c1)
    assert both[C2.isoformat()] == lending.cycle_figures(plan, C2, *year)

    def value(cycle, indicator, scope, scope_id):
        rows = both[cycle.isoformat()][0]
        return next(r["value"] for r in rows if (r["indicator"], r["scope"], r["scope_id"]) == (indicator, scope, scope_id))

    # C1: 甲 (工行, 信用, the first claim); C2 adds 乙 丙 丁 戊 (信用) and the first loans of 丁 and 戊
    assert value(C1, "credit_loan_households", "city", "全市") == 1
    assert value(C2, "credit_loan_households", "city", "全市") == 5
    assert value(C1, "first_loan_households", "city", "全市") == 1
    assert value(C2, "first_loan_households", "city", "全市") == 3
    # 平城区's list at C1: 甲 己 庚 戊, of whom 甲 had a loan by then
    assert value(C1, "noloan_conversion_rate", "county", "平城区") == 0.25
    assert not any(r["scope_id"] == "云冈区" for r in both[C1.isoformat()][0] if r["indicator"] == "noloan_conversion_rate")


def test_year_figures_count_households_as_sets_of_the_year_so_far_do(plan):
    """A random year of four cycles (borrowers shared by banks, counties and cycles, some without 证件号码, 信用
    and other loans, 首贷 flags and renewals, no-loan lists that change): at every cycle, the households the one
    pass counts per scope are those plain sets of the rows up to that cycle give."""
    rng = random.Random(20221)
    cycles = [dt.date(2022, 4, 10), dt.date(2022, 4, 25), dt.date(2022, 5, 10), dt.date(2022, 5, 25)]
    before = dict(zip(cycles, [dt.date(2022, 3, 25), *cycles[:-1]]))
    people = [(f"企业{i}", make_uscc(f"91140200MA0K{i:05d}")) for i in range(30)] + [(f"个体户{i}", None) for i in range(6)]
    senders = [("工行测试分行", "icbc"), ("农行测试分行", "abc"), ("测试农商行", "rcb")]
    loans_frames, noloan_frames = [], []
    for cyc in cycles:
        for bank, unit in senders:
            rows = []
            for r in range(rng.randint(0, 10)):
                who, ident = rng.choice(people)
                day = before[cyc] + dt.timedelta(days=rng.randint(1, (cyc - before[cyc]).days))
                rows.append(loan(who, ident, day, float(rng.randint(1, 9) * 10), method=rng.choice(["信用", "保证", "抵押"]),
                                 first=rng.random() < 0.5, renewal=rng.random() < 0.15,
                                 county=rng.choice(["平城区", "云冈区", None]), row=4 + r))
            if rows:
                cleaned, _ = lending_clean.clean_loans(loans_raw(rows, f"{bank}{cyc:%m%d}.xlsx", unit), plan, cyc, before[cyc])
                loans_frames.append(cleaned.assign(cycle=cyc.isoformat()))
        for county, unit in (("平城区", "pingcheng"), ("云冈区", "yungang")):
            listed = [(who, ident, county) for who, ident in rng.sample(people, 8)]
            cleaned, _ = lending_clean.clean_noloan(noloan_raw(listed, f"{county}名单{cyc:%m%d}.xlsx", unit), plan)
            noloan_frames.append(cleaned.assign(cycle=cyc.isoformat()))
    loans_year, noloan_year = pd.concat(loans_frames, ignore_index=True), pd.concat(noloan_frames, ignore_index=True)

    figures = lending.year_figures(plan, cycles, None, loans_year, None, noloan_year)
    bank_names = {u.id: u.name for u in plan.banks}
    for cyc in cycles:
        value = {(r["indicator"], r["scope"], r["scope_id"]): r["value"] for r in figures[cyc.isoformat()][0]}
        upto = loans_year[loans_year["cycle"] <= cyc.isoformat()]
        credit = upto[upto["guarantee_method"] == "信用"]
        first_cycle = upto.groupby("borrower_key")["cycle"].min()
        # and within its first cycle, the borrower's earliest 发放日期 at any bank
        first_day = upto.groupby(["borrower_key", "cycle"])["loan_date"].transform("min")
        valid = upto[upto["is_first_loan"] & ~upto["is_renewal"]
                     & (upto["cycle"] == upto["borrower_key"].map(first_cycle)) & (upto["loan_date"] == first_day)]
        # a first-loan household counts for its bank and county of the earliest valid claim
        counted = valid.sort_values(["loan_date", "cycle", "bank", "file", "row"]).drop_duplicates("borrower_key")
        for indicator, rows in (("credit_loan_households", credit), ("first_loan_households", counted)):
            assert value[(indicator, "city", "全市")] == rows["borrower_key"].nunique()
            assert value[(indicator, "category", "国有大型银行")] == \
                rows.loc[rows["bank_id"].isin(["icbc", "abc"]), "borrower_key"].nunique()
            for county_id, label in (("pingcheng", "平城区"), ("yungang", "云冈区")):
                n = rows.loc[rows["county_unit_id"] == county_id, "borrower_key"].nunique()
                assert value.get((indicator, "county", label), 0) == n
        for unit, name in bank_names.items():
            assert value[("credit_loan_households", "bank", name)] == \
                credit.loc[credit["bank_id"] == unit, "borrower_key"].nunique()
        listed = noloan_year[noloan_year["cycle"] <= cyc.isoformat()]
        borrowed = set(upto["borrower_key"])
        keys = set(listed["entity_key"])
        city = next(r for r in figures[cyc.isoformat()][0]
                    if (r["indicator"], r["scope"]) == ("noloan_conversion_rate", "city"))
        assert (city["numerator"], city["denominator"]) == (len(keys & borrowed), len(keys))
        per_county = {r["scope_id"]: (r["numerator"], r["denominator"]) for r in figures[cyc.isoformat()][0]
                      if (r["indicator"], r["scope"]) == ("noloan_conversion_rate", "county")}
        expected = {}
        for county_id, label in (("pingcheng", "平城区"), ("yungang", "云冈区")):
            keys = set(listed.loc[listed["county_unit_id"] == county_id, "entity_key"])
            if keys:
                expected[label] = (len(keys & borrowed), len(keys))
        assert per_county == expected and len(expected) == 2


def test_first_loan_claims_table(year):
    claims = lending.first_loan_claims(year[1], C2)
    assert len(claims) == 7                                   # every 是 flag, the renewal included
    assert claims["counted"].sum() == 3
    assert claims.loc[claims["reason"] == "renewal", "borrower_key"].tolist() == [C]


def test_credit_loan_households_distinct(result):
    frame, _ = result
    # 信用 loans YTD: 甲(工行 C1), 乙(农商行), 丙(农商行), 丁(农商行), 戊(工行), 甲(农行 C2)
    # city: 甲 乙 丙 丁 戊 = 5; 工行 {甲, 戊} 2; 农行 {甲} 1; 国有大型银行 {甲, 戊} = 2 (not 2 + 1)
    assert one(frame, "credit_loan_households", "city", "全市")["value"] == 5
    assert one(frame, "credit_loan_households", "category", "国有大型银行")["value"] == 2
    assert one(frame, "credit_loan_households", "bank", "中国农业银行测试分行")["value"] == 1
    # per county (loan's 所属县区): 平城区 甲 丙 戊 = 3; 云冈区 乙 丁 = 2
    assert one(frame, "credit_loan_households", "county", "平城区")["value"] == 3
    assert one(frame, "credit_loan_households", "county", "云冈区")["value"] == 2
    # rising vs C1 (甲 only → 1): green
    assert one(frame, "credit_loan_households", "city", "全市")["status"] == "green"


def test_category_share_from_summed_balances(result):
    frame, _ = result
    # 工行 100/1000 = 10%, 农行 900/3000 = 30%: an average of the rates would say 20%
    big = one(frame, "credit_loan_share", "category", "国有大型银行")
    assert big["value"] == pytest.approx(1000 / 4000)             # 25%, from summed balances
    assert big["value"] != pytest.approx((0.10 + 0.30) / 2)
    assert (big["numerator"], big["denominator"]) == (1000, 4000)
    # start-of-year share (80 + 850) / (950 + 2900) = 24.16% → 25% is above it → green
    assert big["target"] == pytest.approx(930 / 3850) and big["status"] == "green"
    # 农商行 50/500 = 10% against 60/500 = 12% at year start: short 2/12 = 16.7% → orange
    rcb = one(frame, "credit_loan_share", "bank", "测试农村商业银行")
    assert rcb["value"] == pytest.approx(0.10) and rcb["target"] == pytest.approx(0.12)
    assert rcb["status"] == "orange"
    city = one(frame, "credit_loan_share", "city", "全市")
    assert city["value"] == pytest.approx(1050 / 4500) and city["target"] == pytest.approx(990 / 4350)
    assert "信用贷款余额" in city["basis"] and "万元" in city["basis"]


def test_sme_growth_targets(result):
    frame, _ = result
    # 工行 130/100 − 1 = 30% ≥ 30% → green; 农行 550/500 − 1 = 10%: short 20 of 30 points = 66.7% → red
    assert one(frame, "inclusive_sme_loan_growth", "bank", "中国工商银行测试分行")["status"] == "green"
    assert one(frame, "inclusive_sme_loan_growth", "bank", "中国农业银行测试分行")["status"] == "red"
    # 国有大型银行 (130 + 550)/(100 + 500) − 1 = 13.33% (the average of bank rates would be 20%)
    big = one(frame, "inclusive_sme_loan_growth", "category", "国有大型银行")
    assert big["value"] == pytest.approx(680 / 600 - 1)
    assert big["target"] == pytest.approx(0.30) and big["status"] == "red"     # short 55.6%
    # 地方法人银行 300/200 − 1 = 50% must be above 国有大型银行's 13.33% → green
    local = one(frame, "inclusive_sme_loan_growth", "category", "地方法人银行")
    assert local["value"] == pytest.approx(0.5)
    assert local["target"] == pytest.approx(680 / 600 - 1) and local["status"] == "green"
    assert one(frame, "inclusive_sme_loan_growth", "city", "全市")["target"] is None or pd.isna(
        one(frame, "inclusive_sme_loan_growth", "city", "全市")["target"])


def test_transfer_pricing_and_renewal(result):
    frame, _ = result
    bp = frame[frame["indicator"] == "transfer_pricing_discount_bp"]
    assert set(bp["scope"]) == {"bank"}                      # a rate: never summed nor averaged
    # 60 → green; 40: short 10/50 = 20% → orange; 50 → green (≥)
    assert bp.set_index("scope_id")["status"].to_dict() == {
        "中国工商银行测试分行": "green", "中国农业银行测试分行": "orange", "测试农村商业银行": "green"}
    assert (bp["unit"] == "BP").all()
    # 无还本续贷余额 city: 10 + 20 + 5 = 35 万元; at C1 8 + 20 + 5 = 33 → rising → green
    renewal = one(frame, "renewal_without_repayment", "city", "全市")
    assert (renewal["value"], renewal["target"], renewal["status"], renewal["unit"]) == (35, 33, "green", "万元")


def test_plan_completion_against_elapsed_share(result):
    frame, _ = result
    share = elapsed_share(C2)                               # 145/365 = 39.73% on 2022-05-25
    assert share == pytest.approx(145 / 365)
    rows = frame[frame["indicator"] == "plan_completion_rate"]
    sme = rows[rows["basis"].str.startswith("普惠型")].set_index("scope_id")
    # 工行 (130 − 110)/60 = 33.3%: behind by 6.4 points → yellow
    # 农行 (550 − 520)/400 = 7.5%: behind by 32.2 points → red
    # 农商行 (300 − 250)/100 = 50% ≥ 39.7% → green
    assert sme.loc["中国工商银行测试分行", "value"] == pytest.approx(20 / 60)
    assert sme.loc["中国工商银行测试分行", "status"] == "yellow"
    assert sme.loc["中国农业银行测试分行", "status"] == "red"
    assert sme.loc["测试农村商业银行", "status"] == "green"
    assert sme["target"].dropna().eq(share).all()
    # city: (20 + 30 + 50)/(60 + 400 + 100) = 17.9%: behind by 21.9 points → orange
    assert sme.loc["全市", "value"] == pytest.approx(100 / 560) and sme.loc["全市", "status"] == "orange"
    # 农商行 first-loan plan: 1 derived household / 4 = 25%: behind by 14.7 points → orange
    first = rows[rows["basis"].str.startswith("首贷户数")].set_index("scope_id")
    assert first.loc["测试农村商业银行", "value"] == pytest.approx(0.25)
    assert first.loc["测试农村商业银行", "status"] == "orange"


def test_noloan_conversion_per_county(result):
    frame, _ = result
    # 平城区 listed over the year: 甲 己 庚 戊 (甲 dropped from the C2 list but listed in C1) → 甲, 戊 got loans: 2/4
    # 云冈区: 丁 某 另一 → 丁 got a loan: 1/3;  city: 3/7
    pc = one(frame, "noloan_conversion_rate", "county", "平城区")
    assert (pc["value"], pc["numerator"], pc["denominator"]) == (0.5, 2, 4)
    assert one(frame, "noloan_conversion_rate", "county", "云冈区")["value"] == pytest.approx(1 / 3)
    city = one(frame, "noloan_conversion_rate", "city", "全市")
    assert city["value"] == pytest.approx(3 / 7) and pd.isna(city["status"])     # no target in the plan


def test_outputs_are_parquet_writable(result, year, tmp_path):
    frame, _ = result
    frame.to_parquet(tmp_path / "indicators.parquet", index=False)
    back = pd.read_parquet(tmp_path / "indicators.parquet")
    assert back.shape == frame.shape
    for i, table in enumerate(year):
        if table is not None:
            table.to_parquet(tmp_path / f"t{i}.parquet", index=False)


# ---------------------------------------------------------------------------------------------------------------
# Replies within 5 working days


def test_workday_deadline_over_national_day():
    # 2022-09-29 (Thu): 09-30 is the 1st working day, 10-01…10-07 is the National Day holiday, 10-08 (Sat) and
    # 10-09 (Sun) were make-up workdays → 2nd and 3rd, 10-10 → 4th, 10-11 → 5th.
    assert add_workdays(dt.date(2022, 9, 29), 5) == dt.date(2022, 10, 11)
    # 2022-09-26 (Mon): 27, 28, 29, 30, then the make-up workday 10-08 is the 5th
    assert add_workdays(dt.date(2022, 9, 26), 5) == dt.date(2022, 10, 8)


def _applications(plan):
    S, O1, O2 = dt.date(2022, 9, 25), dt.date(2022, 10, 10), dt.date(2022, 10, 25)
    x, y, z, w = (make_uscc(f"91140200MA0K1000{i}") for i in range(4))
    cycles = {
        S: [apps_raw([application("X公司", x, dt.date(2022, 9, 20))], "工行0925.xlsx", "icbc")],
        O1: [
            # X again, now replied 09-30 (deadline 09-27): late
            apps_raw([application("X公司", x, dt.date(2022, 9, 20), dt.date(2022, 9, 30), "授信", row=4),
                      application("Y公司", y, dt.date(2022, 9, 29), row=5)], "工行1010.xlsx", "icbc"),
            apps_raw([application("Z公司", z, dt.date(2022, 9, 29), dt.date(2022, 10, 11), "拒绝", row=4),
                      application("W公司", w, dt.date(2022, 9, 26), row=5)], "农商行1010.xlsx", "rcb"),
        ],
        O2: [apps_raw([application("Y公司", y, dt.date(2022, 9, 29), dt.date(2022, 10, 11), "授信")],
                      "工行1025.xlsx", "icbc")],
    }
    frames = []
    for cyc, parts in cycles.items():
        clean, _ = lending_clean.clean_applications(pd.concat(parts, ignore_index=True), plan, cyc)
        frames.append(clean.assign(cycle=cyc.isoformat()))
    return pd.concat(frames, ignore_index=True)


def test_reply_rate_holiday_and_repeated_applications(plan):
    apps = _applications(plan)
    # At 2022-10-10:
    #   X (09-20, deadline 09-27) replied 09-30 → due, late        [its 09-25 row is superseded by the 10-10 row]
    #   Y (09-29, deadline 10-11) no reply → not yet due (10-11 > 10-10)
    #   Z (09-29, deadline 10-11) replied 10-11 → due, within
    #   W (09-26, deadline 10-08) no reply → due, late
    # city 1/3; 工行 0/1 → red; 农商行 1/2 = 50% short of 100% by 50% → red
    frame, _ = lending.lending_indicators(plan, dt.date(2022, 10, 10), None, None, apps, None)
    city = one(frame, "reply_within_5_workdays_rate", "city", "全市")
    assert (city["numerator"], city["denominator"]) == (1, 3)
    assert "另有 1 笔未回复且未到期" in city["basis"]
    assert one(frame, "reply_within_5_workdays_rate", "bank", "中国工商银行测试分行")["value"] == 0
    rcb = one(frame, "reply_within_5_workdays_rate", "bank", "测试农村商业银行")
    assert rcb["value"] == 0.5 and rcb["target"] == 1.0 and rcb["status"] == "red"
    # At 2022-10-25 Y reappears replied on 10-11, its deadline → within. X counts once (2 rows, 2 cycles).
    # due X, Y, Z, W = 4; within Y, Z = 2 → 50%
    status, _ = lending.application_status(apps, dt.date(2022, 10, 25))
    assert len(status) == 4
    assert status.set_index("applicant")["times_reported"].to_dict()["X公司"] == 2
    assert status.set_index("applicant")["deadline"].to_dict()["Y公司"] == dt.date(2022, 10, 11)
    frame, _ = lending.lending_indicators(plan, dt.date(2022, 10, 25), None, None, apps, None)
    city = one(frame, "reply_within_5_workdays_rate", "city", "全市")
    assert (city["numerator"], city["denominator"], city["value"]) == (2, 4, 0.5)


def test_reply_rate_outside_calendar_judges_what_is_decidable(plan, monkeypatch, tmp_path):
    # no calendar covers 2031 (no office file, chinesecalendar ends in 2026). A 5-workday deadline after 01-03 lies
    # between 01-08 (5 calendar days) and 01-19 (5 weekdays after 01-03 + 9 days of the longest break, 01-12)
    monkeypatch.setenv("TAIZHANG_CALENDAR", str(tmp_path / "none.yaml"))
    x, y, z, v, w = (make_uscc(f"91140200MA0K2000{i}") for i in range(5))
    apps = apps_raw([
        application("X公司", x, dt.date(2031, 1, 3), dt.date(2031, 1, 5)),     # 2 days later: in time anyway
        application("Y公司", y, dt.date(2031, 1, 3), dt.date(2031, 1, 12)),    # between the bounds: undecidable
        application("Z公司", z, dt.date(2031, 1, 3), dt.date(2031, 2, 10)),    # after 01-19: late anyway
        application("V公司", v, dt.date(2031, 1, 5)),                          # unreplied, 02-25 past any deadline
        application("W公司", w, dt.date(2031, 2, 22)),                         # unreplied, not due before 02-27
    ], "工行.xlsx", "icbc")
    cycle = dt.date(2031, 2, 25)
    clean, _ = lending_clean.clean_applications(apps, plan, cycle)
    frame, found = lending.lending_indicators(plan, cycle, None, None, clean.assign(cycle=cycle.isoformat()), None)
    message = next(f.message for f in found if f.code == "calendar_unavailable")
    assert "2031" in message and "1 笔申请" in message
    city = one(frame, "reply_within_5_workdays_rate", "city", "全市")
    assert (city["numerator"], city["denominator"]) == (1, 3) and city["value"] == pytest.approx(1 / 3)
    assert city["basis"].startswith("5个工作日内回复 1 笔 ÷ 应回复 3 笔（另有 1 笔未回复且未到期；"
                                    "另有 1 笔因工作日历未覆盖、无法判断是否按时，未计入）")


# ---------------------------------------------------------------------------------------------------------------
# Status rule and missing inputs


@pytest.mark.parametrize(
    "value, target, comparator, points, expected",
    [
        (0.30, 0.30, ">=", False, "green"),
        (0.28, 0.30, ">=", False, "yellow"),     # short 6.7%
        (0.27, 0.30, ">=", False, "orange"),     # short exactly 10%
        (0.21, 0.30, ">=", False, "orange"),     # short exactly 30%
        (0.20, 0.30, ">=", False, "red"),        # short 33%
        (0.30, 0.30, "above_scope", False, "yellow"),   # only equalled
        (0.35, 0.3973, ">=", True, "yellow"),    # behind 4.7 points
        (0.20, 0.3973, ">=", True, "orange"),    # behind 19.7 points
        (0.05, 0.3973, ">=", True, "red"),       # behind 34.7 points
        (0.0, 0.0, "rising", False, "yellow"),
        (0.5, None, ">=", False, None),
        (None, 0.3, ">=", False, None),
        (0.5, 0.3, "info", False, None),
    ],
)
def test_status_rule(value, target, comparator, points, expected):
    assert target_rules.status_for(value, target, comparator, points=points) == expected


def test_no_data_gives_empty_frame(plan):
    frame, found = lending.lending_indicators(plan, C2, pd.DataFrame(), pd.DataFrame(), None, None)
    assert list(frame.columns) == targets.INDICATOR_COLUMNS and len(frame) == 0
    assert found == []


def test_missing_target_gives_null_status(tmp_path):
    text = TINY_PLAN.split("targets:")[0] + "bank_plans: []\n"
    path = tmp_path / "no-targets.yaml"
    path.write_text(text, encoding="utf-8")
    bare = load_plan(path)
    frame, _ = lending.lending_indicators(bare, C2, *_year(bare))
    assert frame["target"].isna().all() and frame["status"].isna().all()
    assert "plan_completion_rate" not in set(frame["indicator"])


# ---------------------------------------------------------------------------------------------------------------
# The real plan file


@pytest.mark.skipif(not DATONG.exists(), reason="data/plan/datong-2022.yaml not written yet")
def test_datong_plan_targets_resolve():
    plan = load_plan(DATONG)
    summary = summary_raw(
        [
            {"bank": "工行大同分行", "total_loans": 1000.0, "credit_loans": 120.0, "total_loans_year_start": 900.0,
             "credit_loans_year_start": 100.0, "sme_loans": 125.0, "sme_loans_last_year": 100.0,
             "sme_loans_year_start": 110.0, "transfer_pricing_bp": 55.0, "renewal_balance": 3.0},
            {"bank": "大同农商银行", "total_loans": 800.0, "credit_loans": 60.0, "total_loans_year_start": 700.0,
             "credit_loans_year_start": 70.0, "sme_loans": 240.0, "sme_loans_last_year": 200.0,
             "sme_loans_year_start": 230.0, "transfer_pricing_bp": 30.0, "renewal_balance": 2.0},
        ],
        file="人行大同中支汇总.xlsx", unit_id="pbc_datong")
    clean, found = lending_clean.clean_bank_summary(summary, plan)
    assert clean["bank_id"].tolist() == ["icbc_datong", "datong_rcb"]
    frame, _ = lending.lending_indicators(plan, dt.date(2022, 6, 25), clean.assign(cycle="2022-06-25"),
                                          None, None, None)
    icbc = "中国工商银行大同分行"
    growth = one(frame, "inclusive_sme_loan_growth", "bank", icbc)
    assert growth["target"] == pytest.approx(0.30) and growth["status"] == "orange"    # 25%: short 16.7%
    local = one(frame, "inclusive_sme_loan_growth", "category", "地方法人银行")
    # 地方法人银行 240/200 − 1 = 20% against 国有大型银行 25%: short 0.05/0.25 = 20% → orange
    assert local["target"] == pytest.approx(0.25) and local["status"] == "orange"
    assert one(frame, "transfer_pricing_discount_bp", "bank", icbc)["target"] == 50
    plan_rows = frame[(frame["indicator"] == "plan_completion_rate") & (frame["scope_id"] == icbc)]
    assert len(plan_rows) == 2                               # sme increase and first-loan households
    assert plan_rows["target"].eq(elapsed_share(dt.date(2022, 6, 25))).all()
    city = one(frame, "credit_loan_share", "city", "全市")
    assert city["target"] == pytest.approx(170 / 1600) and city["value"] == pytest.approx(180 / 1800)


# ---------------------------------------------------------------------------------------------------------------
# End to end: a messy workbook through sources → ledgers → lending


BAD_D = D[:-1] + ("0" if D[-1] != "0" else "1")      # 丁公司's code with a wrong check character


def _messy_workbook(path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "主要指标"
    ws.append(["测试市信贷数据台账（主要指标）"])
    ws.append(["填报单位：测试农商行", None, "填报日期：2022年5月25日"])
    ws.append([])
    ws.append(["机构名称", "各项贷款余额（元）", "信用贷款余额", "各项贷款年初余额", "信用贷款年初余额",
               "普惠型小微企业贷款余额", "普惠型小微企业贷款上年同期余额", "普惠型小微企业贷款年初余额",
               "首贷户数（当年累计）", "无还本续贷余额", "小微企业内部转移定价优惠（BP）", "备注"])
    # 各项贷款余额 in 元: 50,000,000 元 = 5000 万元; the other amounts are 万元, one typed as text "1,234.5"
    ws.append(["测试农村商业银行", "50,000,000", 600, 4800, "500", "1,234.5", 1000, 1100, "2", 3, 55, "无"])
    ws.append(["合计", "50,000,000", 600, 4800, 500, 1234.5, 1000, 1100, 2, 3, 55, None])

    ws = wb.create_sheet("贷款明细")
    ws.append(["贷款明细（5月11日至5月25日发放）"])
    ws.append(["填报单位：", "测试农商行"])
    ws.append(["借款人名称", "证件号码", "借款人类型", "所属县区", "发放日期", "到期日期", "发放金额（万元）",
               "担保方式", "是否首贷户", "是否无还本续贷", "执行利率（%）"])
    ws.append(["丁公司", D, "小微企业", "云冈区", "2022年5月15日", "2023年5月14日", "25.5", "信用贷款", "是", "否",
               "4.35"])
    ws.append(["丁二公司", BAD_D, "小微企业", "平城区", "2022-05-16", "2023-05-15", "10", "保证", "是", "否", 4.5])
    ws.append(["乙", P, "小微企业主", "平城区", "2022年4月30日", "2023年4月29日", "5", "信用", "否", "否", 5])
    ws.append(["合计", None, None, None, None, None, "40.5", None, None, None, None])

    ws = wb.create_sheet("首贷申请")
    ws.append(["申请人名称", "证件号码", "申请日期", "回复日期", "结果"])
    ws.append(["丁公司", D, "2022年5月12日", "2022年5月13日", "已授信"])
    wb.save(path)


def test_end_to_end_messy_workbook(plan, tmp_path):
    from helpers.ingest import ledgers
    from helpers.ingest import sources

    cycle_dir = tmp_path / "2022-05-25"
    cycle_dir.mkdir()
    path = cycle_dir / "测试农商行5.25台账(1).xlsx"
    _messy_workbook(path)
    led = ledgers.read_ledger(sources.read_workbook(path, root=cycle_dir), plan)
    assert led.unit_id == "rcb"
    summary, s_found = lending_clean.clean_bank_summary(led.tables["bank_summary"], plan)
    loans, l_found = lending_clean.clean_loans(led.tables["loans"], plan, C2, C1)
    apps, a_found = lending_clean.clean_applications(led.tables["applications"], plan, C2, C1)

    # the 合计 rows are skipped; 50,000,000 元 → 5000 万元; "1,234.5" → 1234.5
    assert len(summary) == 1 and len(loans) == 3
    row = summary.iloc[0]
    assert row["bank_id"] == "rcb" and row["total_loans"] == pytest.approx(5000)
    assert row["sme_loans"] == pytest.approx(1234.5)
    assert s_found == []
    # the wrong check character is the ingest's finding; the row is kept and keyed by the code as written
    assert any(f.code == "bad_identifier" for f in led.findings)
    assert loans["borrower_key"].tolist()[1] == BAD_D
    # 乙's loan of 2022-04-30 lies outside (2022-05-10, 2022-05-25]
    assert [(f.code, f.row) for f in l_found] == [("loan_outside_cycle", 6)]
    assert loans["loan_date"].tolist()[0] == dt.date(2022, 5, 15)
    assert loans["guarantee_method"].tolist()[0] == "信用"
    assert a_found == []

    frame, found = lending.lending_indicators(
        plan, C2, summary.assign(cycle="2022-05-25"), loans.assign(cycle="2022-05-25"),
        apps.assign(cycle="2022-05-25"), None)
    bank = "测试农村商业银行"
    # 信用贷款占比 600/5000 = 12%, against 500/4800 = 10.42% at year start → green
    share = one(frame, "credit_loan_share", "bank", bank)
    assert share["value"] == pytest.approx(0.12) and share["status"] == "green"
    # first loans: 丁公司 and the bad-code 丁二公司 (a separate key) → 2; the bank reported 2 → no difference
    assert one(frame, "first_loan_households", "bank", bank)["value"] == 2
    assert "first_loan_count_differs" not in codes(found)
    # credit households: 丁 only; 乙 (a 2022 loan, outside the window) is a 小微企业主, outside the plan's household
    # 口径 of 小微企业 and 个体工商户: left out, and the basis says so
    credit = one(frame, "credit_loan_households", "bank", bank)
    assert credit["value"] == 1
    assert "口径：借款人类型为小微企业、个体工商户，单户授信总额不超过1000万元" in credit["basis"]
    # 丁's ledger has no 单户授信总额 column: counted, and the basis says so
    assert "另有 1 笔信用贷款不属于口径，未计入（借款人类型不符 1 笔）；未填借款人类型或单户授信总额的 1 笔信用贷款按口径内计入" \
        in credit["basis"]
    # growth 1234.5/1000 − 1 = 23.45%: above 国有大型银行? none reported → no target value → null status
    growth = one(frame, "inclusive_sme_loan_growth", "bank", bank)
    assert growth["value"] == pytest.approx(0.2345) and pd.isna(growth["target"]) and growth["status"] is None
    # reply within 5 working days: applied 05-12, replied 05-13 → 1/1
    assert one(frame, "reply_within_5_workdays_rate", "bank", bank)["value"] == 1.0


@pytest.mark.parametrize("dtype", ["str", "object"])
def test_per_value_calls_once_per_distinct_value_and_keeps_rows_in_place(dtype):
    """The helper behind the year-to-date figures: one call per distinct value (missing values share one), every
    row gets its own value's result, in order, tuples stay whole."""
    series = pd.Series(["甲", None, "乙", "甲", None, "丙", "乙"], dtype=dtype)
    calls: list = []

    def fn(value):
        calls.append(value)
        return ("无", 0) if value is None or value != value else (value, len(calls))

    result = lending_base._per_value(series, fn)
    assert [r[0] for r in result] == ["甲", "无", "乙", "甲", "无", "丙", "乙"]
    assert all(isinstance(r, tuple) for r in result)
    assert result[0] == result[3] and result[2] == result[6] and result[1] == result[4]
    assert len(calls) == 4
    assert lending_base._per_value(series.iloc[0:0], fn) == []


def test_per_value_tells_values_of_another_type_apart():
    """In an object column 1, 1.0 and True are different cells (a count typed as text, a flag): each its own call."""
    series = pd.Series([1, 1.0, True, "1", 1], dtype="object")
    assert lending_base._per_value(series, lambda v: type(v).__name__) == ["int", "float", "bool", "str", "int"]


def test_figures_kept_by_an_earlier_run_stand_in_for_the_previous_cycle(plan, year, tmp_path, monkeypatch):
    """A rerun that recomputes only C2 takes C1's figures (for the ``rising`` targets) from the table the run that
    computed C1 kept, read back from Parquet: the same indicators as computing C1 again, without computing it."""
    c1_rows, _ = lending.cycle_figures(plan, C1, *year)
    kept = tmp_path / "lending_figures.parquet"
    lending.figure_values(c1_rows).to_parquet(kept, index=False)
    stored = lending.stored_figures(pd.read_parquet(kept))
    assert [targets._row_key(r) for r in stored] == [targets._row_key(r) for r in c1_rows]
    assert [r["value"] for r in stored] == [r["value"] for r in c1_rows]      # None stays None, not NaN
    assert {r["_item"] for r in stored} == {r["_item"] for r in c1_rows} and None in {r["_item"] for r in stored}

    expected, expected_found = lending.lending_indicators(plan, C2, *year)
    computed = []
    original = lending._indicator_rows
    monkeypatch.setattr(lending, "_indicator_rows", lambda p, cycle, *a: computed.append(cycle) or original(p, cycle, *a))
    frame, found = lending.lending_indicators(plan, C2, *year, earlier={C1.isoformat(): stored})
    assert computed == [C2]                                                  # C1 was not computed again
    pd.testing.assert_frame_equal(frame, expected)
    assert found == expected_found
    assert one(frame, "first_loan_households", "city", "全市")["target"] == 1   # C1's value, from the kept table
