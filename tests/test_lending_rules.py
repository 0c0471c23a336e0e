"""The regulators' definitions in the lending figures (issue 16), on bank ledgers written by xlsxwriter as a bank's
own spreadsheet would be, through the pipeline's stages, with every figure computed by hand:

- 首贷户 is a borrower's first loan ever: a loan in the previous year's December folder keeps a January claim out,
  and within one cycle loans are ordered by 发放日期 across banks;
- 普惠型小微企业贷款 (单户授信总额 ≤ 1000万元; 小微企业, 个体工商户, 小微企业主) and the household 口径 of the
  first-loan and credit-loan counts (小微企业, 个体工商户), each written in the figure's basis;
- a bank whose 普惠型小微企业贷款户数 is below its own detail's 普惠 borrowers gets a finding.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from helpers.core.identifiers import make_uscc
from helpers.indicators import lending
from helpers.pipeline import run as pipeline_run
from helpers.pipeline import stages
from tests.conftest import REPO

xlsxwriter = pytest.importorskip("xlsxwriter")

PLAN = REPO / "data" / "plan" / "datong-2022.yaml"
ICBC, ABC = "中国工商银行大同分行", "中国农业银行大同分行"
A, B, C, D, E, F = (make_uscc(f"91140200MA0L{i:05d}") for i in range(1, 7))

HEADER = ["借款人名称", "证件号码", "借款人类型", "所属县区", "发放日期", "到期日期", "发放金额（万元）",
          "单户授信总额（万元）", "担保方式", "是否首贷户", "是否无还本续贷", "执行利率（%）"]
SUMMARY = ["机构名称", "各项贷款余额", "信用贷款余额", "信用贷款户数", "普惠型小微企业贷款余额", "普惠型小微企业贷款户数",
           "普惠型小微企业贷款上年同期余额", "普惠型小微企业贷款年初余额", "首贷户数（当年累计）"]


def bank_ledger(path: Path, bank: str, day: dt.date, loans: list[list], sme_households: int, first_reported: int):
    """A bank's 信贷数据台账 as its staff fill it in a spreadsheet program: a title, the 填报单位 line, dates typed as
    「2022年1月3日」 text and as real dates, amounts as numbers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path))
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet = book.add_worksheet("主要指标")
    sheet.write_row(0, 0, ["信贷数据台账（主要指标）"])
    sheet.write_row(1, 0, [f"填报单位：{bank}", None, f"填报日期：{day.year}年{day.month}月{day.day}日"])
    sheet.write_row(3, 0, SUMMARY)
    sheet.write_row(4, 0, [bank, 500000, 60000, 900, 80000, sme_households, 70000, 75000, first_reported])
    sheet = book.add_worksheet("贷款明细")
    sheet.write_row(0, 0, ["贷款明细"])
    sheet.write_row(1, 0, [f"填报单位：{bank}"])
    sheet.write_row(2, 0, HEADER)
    for r, loan in enumerate(loans, start=3):
        for c, value in enumerate(loan):
            if isinstance(value, dt.date):
                sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), date_format)
            elif value is not None:
                sheet.write(r, c, value)
    book.close()


def loan(name, ident, kind, day, amount, line, method="保证", first="否", renewal="否"):
    return [name, ident, kind, "平城区", day, dt.date(day.year + 1, day.month, day.day), amount, line, method, first,
            renewal, 4.35]


def run_cycle(tmp_path: Path, cycle: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    run = pipeline_run.open_run(cycle, PLAN, tmp_path / "raw", tmp_path / "processed", tmp_path / "reports")
    stages.ingest(run)
    indicators = stages.indicators_cycle(run)
    findings = pd.read_parquet(tmp_path / "processed" / cycle / "findings.parquet")
    return indicators, findings


def one(frame: pd.DataFrame, indicator: str, scope: str, scope_id: str) -> dict:
    rows = frame[(frame["indicator"] == indicator) & (frame["scope"] == scope) & (frame["scope_id"] == scope_id)]
    assert len(rows) == 1, (indicator, scope, scope_id, frame[frame["indicator"] == indicator][["scope", "scope_id"]])
    return rows.iloc[0].to_dict()


@pytest.fixture
def two_years(tmp_path: Path) -> Path:
    """2021-12-25: 工行 lends to A. 2022-01-10: both banks claim first loans:
    - A at 工行 (a loan in last year's December: not a first loan);
    - B at 农行 on 01-05, after a 工行 loan to B on 01-02 not flagged (an earlier loan of the same cycle);
    - C at 工行 and at 农行 on the same day 01-04 (both valid; one household);
    - D at 农行, a 农户 (outside the household 口径);
    - E at 工行, 单户授信总额 1500万 (outside both 口径);
    - F at 农行, a 个体工商户 with no 单户授信总额 written (counted, and the basis says so)."""
    raw = tmp_path / "raw"
    bank_ledger(raw / "2021-12-25" / "工行2021.12.25.xlsx", ICBC, dt.date(2021, 12, 25),
                [loan("甲公司", A, "小微企业", dt.date(2021, 12, 20), 100, 200)], 1, 0)
    bank_ledger(raw / "2022-01-10" / "工行1.10.xlsx", ICBC, dt.date(2022, 1, 10), [
        loan("甲公司", A, "小微企业", dt.date(2022, 1, 3), 50, 200, method="信用", first="是"),
        loan("乙公司", B, "小微企业", dt.date(2022, 1, 2), 30, 100),
        loan("丙个体户", C, "个体工商户", dt.date(2022, 1, 4), 10, 20, first="是"),
        loan("戊公司", E, "小微企业", dt.date(2022, 1, 6), 800, 1500, method="信用", first="是"),
    ], sme_households=2, first_reported=3)
    bank_ledger(raw / "2022-01-10" / "农行1.10.xlsx", ABC, dt.date(2022, 1, 10), [
        loan("乙公司", B, "小微企业", dt.date(2022, 1, 5), 40, 100, method="信用", first="是"),
        loan("丙个体户", C, "个体户", dt.date(2022, 1, 4), 5, 20, first="是"),
        loan("丁农户", D, "农户", dt.date(2022, 1, 7), 3, 5, method="信用", first="是"),
        loan("己商店", F, "个体工商户", dt.date(2022, 1, 8), 20, None, method="信用", first="是"),
    ], sme_households=5, first_reported=4)
    return tmp_path


def test_a_first_loan_is_a_borrowers_first_loan_ever(two_years: Path):
    indicators, findings = run_cycle(two_years, "2022-01-10")
    first = one(indicators, "first_loan_households", "city", "全市")
    # A: a loan in 2021-12-25; B: 工行 lent on 01-02 before 农行's 01-05; D: 农户; E: line 1500万 → C and F only
    assert first["value"] == 2
    # C was lent to by both banks on 01-04: counted once, for the bank first by name (中国农业银行… before 中国工商银行…)
    assert one(indicators, "first_loan_households", "bank", ICBC)["value"] == 0
    assert one(indicators, "first_loan_households", "bank", ABC)["value"] == 2       # C and F
    assert "口径：借款人类型为小微企业、个体工商户，单户授信总额不超过1000万元" in first["basis"]
    assert "另有 2 笔报为首贷的贷款不属于口径，未计入（单户授信总额超过上限 1 笔、借款人类型不符 1 笔）" in first["basis"]
    assert "未填借款人类型或单户授信总额的 1 笔报为首贷的贷款按口径内计入" in first["basis"]
    earlier = findings[findings["code"] == "first_loan_had_earlier_loan"].sort_values("file")
    messages = earlier["message"].tolist()
    assert len(messages) == 2
    assert "在 2021-12-25 周期的贷款明细中已有贷款" in messages[1] and earlier["file"].iloc[1] == "工行1.10.xlsx"
    assert f"本期在「{ICBC}」已有发放日期更早（2022-01-02）的贷款" in messages[0]
    assert earlier["file"].iloc[0] == "农行1.10.xlsx" and earlier["row"].iloc[0] == 4
    # 农行 reported 4, the detail gives 2: the difference names what the 口径 left out
    (differs,) = findings[(findings["code"] == "first_loan_count_differs") & (findings["file"] == "农行1.10.xlsx")]["message"]
    assert "报送首贷户数（当年累计）4 户，按贷款明细认定 2 户" in differs and "借款人类型不符 1 笔" in differs


def test_credit_households_and_inclusive_sme_loans_follow_the_plans_scope(two_years: Path):
    indicators, findings = run_cycle(two_years, "2022-01-10")
    # 信用: A and E at 工行 (E's line is above 1000万), B, D (农户) and F at 农行 → A, B, F
    credit = one(indicators, "credit_loan_households", "city", "全市")
    assert credit["value"] == 3
    assert "另有 2 笔信用贷款不属于口径，未计入（单户授信总额超过上限 1 笔、借款人类型不符 1 笔）" in credit["basis"]
    # 普惠: every loan of 2022 but E (line 1500万) and D (农户): 50 + 30 + 10 + 40 + 5 + 20 = 155 万元
    sme = one(indicators, "inclusive_sme_loans_granted", "city", "全市")
    assert sme["value"] == pytest.approx(155.0)
    assert "借款人类型为小微企业、个体工商户、小微企业主，单户授信总额不超过1000万元" in sme["basis"]
    assert "另有 2 笔贷款、803.00 万元不属于口径，未计入" in sme["basis"]
    assert one(indicators, "inclusive_sme_loans_granted", "bank", ICBC)["value"] == pytest.approx(90.0)
    # 工行 reports 2 普惠 households; its 2022 detail shows A, B and C with 普惠 loans not yet due → a finding
    (below,) = findings[findings["code"] == "sme_households_below_detail"].to_dict("records")
    assert below["file"] == "工行1.10.xlsx" and below["sheet"] == "主要指标"
    assert "报送普惠型小微企业贷款户数 2 户，少于本行当年贷款明细中尚未到期的普惠型小微企业贷款借款人 3 户" in below["message"]


def test_earlier_years_ledgers_are_inputs_of_this_years_figures(two_years: Path):
    run_cycle(two_years, "2022-01-10")
    # the December ledger is replaced by one without A: A's January claim now counts
    bank_ledger(two_years / "raw" / "2021-12-25" / "工行2021.12.25.xlsx", ICBC, dt.date(2021, 12, 25),
                [loan("庚公司", make_uscc("91140200MA0L00099"), "小微企业", dt.date(2021, 12, 20), 100, 200)], 1, 0)
    indicators, _ = run_cycle(two_years, "2022-01-10")
    assert one(indicators, "first_loan_households", "city", "全市")["value"] == 3


def test_first_loan_claims_name_each_reason():
    """The claims table by hand: the reasons in order renewal, earlier cycle, earlier date, out of scope."""
    rows = [("2022-01-10", "icbc", ICBC, "K1", dt.date(2022, 1, 3), True, False, "小微企业"),
            ("2022-01-10", "abc", ABC, "K2", dt.date(2022, 1, 5), True, False, "小微企业"),
            ("2022-01-10", "icbc", ICBC, "K2", dt.date(2022, 1, 2), False, False, "小微企业"),
            ("2022-01-10", "abc", ABC, "K3", dt.date(2022, 1, 6), True, True, "小微企业"),
            ("2022-01-10", "abc", ABC, "K4", dt.date(2022, 1, 6), True, False, "农户"),
            ("2022-01-10", "abc", ABC, "K5", dt.date(2022, 1, 6), True, False, "个体工商户")]
    loans = pd.DataFrame([{"cycle": c, "bank_id": b, "bank": n, "borrower_key": k, "borrower": k, "loan_date": d,
                           "is_first_loan": f, "is_renewal": r, "first_claim": f and not r, "borrower_type": t,
                           "credit_line": 100.0, "file": "x.xlsx", "row": i + 4}
                          for i, (c, b, n, k, d, f, r, t) in enumerate(rows)])
    earlier = pd.DataFrame({"borrower_key": ["K1"], "cycle": ["2021-12-25"]})
    from helpers.plan.model import load_plan

    claims = lending.first_loan_claims(loans, dt.date(2022, 1, 10), load_plan(PLAN), earlier)
    reasons = {k: None if pd.isna(r) else r for k, r in zip(claims["borrower_key"], claims["reason"])}
    assert reasons == {"K1": "earlier_cycle", "K2": "earlier_date", "K3": "renewal", "K4": "out_of_scope",
                       "K5": None}
    assert claims.loc[claims["borrower_key"] == "K1", "earliest_cycle"].item() == "2021-12-25"
    assert claims.loc[claims["borrower_key"] == "K2", "earlier_date"].item() == dt.date(2022, 1, 2)
    assert claims["counted"].tolist().count(True) == 1


def test_an_earlier_year_kept_only_in_the_processed_folder_still_counts(two_years: Path):
    """An office that archived last year's raw folders keeps their processed tables: the rule still sees them."""
    import shutil

    run_cycle(two_years, "2022-01-10")
    shutil.rmtree(two_years / "raw" / "2021-12-25")
    indicators, findings = run_cycle(two_years, "2022-01-10")
    assert one(indicators, "first_loan_households", "city", "全市")["value"] == 2
    assert "在 2021-12-25 周期的贷款明细中已有贷款" in " ".join(findings["message"])


@pytest.mark.slow
def test_indicators_begun_beside_the_reconciliation_are_those_computed_after_it(two_years: Path, tmp_path_factory,
                                                                                 monkeypatch: pytest.MonkeyPatch):
    """`taizhang run` begins the indicators stage in a worker process while its kernel reconciles (02_reconcile's
    `start_indicators`); 03_indicators then waits for it. Every table is the one the stages give one after the
    other, and the cycle's findings hold both stages' findings, whichever stage wrote them last."""
    import shutil

    from helpers.pipeline import workers

    def processed_tables(root: Path) -> dict[str, pd.DataFrame]:
        return {str(p.relative_to(root / "processed")): pd.read_parquet(p)
                for p in sorted((root / "processed").rglob("*.parquet"))}

    cycle = "2022-01-10"
    in_order = tmp_path_factory.mktemp("in_order")
    shutil.copytree(two_years / "raw", in_order / "raw")
    run = pipeline_run.open_run(cycle, PLAN, in_order / "raw", in_order / "processed", in_order / "reports")
    stages.ingest(run)
    stages.reconcile_cycle(run)
    stages.indicators_cycle(run)

    monkeypatch.setenv("TAIZHANG_WORKERS", "2")
    monkeypatch.setenv(workers.CHAINED_ENV, "1")
    run = pipeline_run.open_run(cycle, PLAN, two_years / "raw", two_years / "processed", two_years / "reports")
    stages.ingest(run)
    try:
        stages.start_indicators(run)
        assert (str(run.folders.processed), cycle) in stages._INDICATOR_JOBS      # begun in a worker
        stages.reconcile_cycle(run)
        stages.indicators_cycle(run)
    finally:
        workers.stop_workers()
    assert not stages._INDICATOR_JOBS

    expected, got = processed_tables(in_order), processed_tables(two_years)
    assert list(got) == list(expected)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)
    findings = got[f"{cycle}/findings.parquet"]
    assert {"reconcile", "indicators"} <= set(findings["stage"])
    assert "first_loan_had_earlier_loan" in set(findings["code"])
