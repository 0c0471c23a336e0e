"""The guarantee ledger, from a messy workbook to indicators: every figure is checked against a value computed by
hand in the comments beside the fixture.

Fixture (cycle 2022-06-25), two workbooks read through sources.read_workbook → ledgers.read_ledger → combine:

市财信担保公司 (city level, focus 小微三农 → leverage cap 15), file 财信担保6.25台账(1).xlsx
  机构概况: 注册资本 in 元 "470,000,000" → 47,000 万元; 净资产 "48,000"; 在保余额 "3,850"; 在保户数 5;
            本年代偿 "36"; 本年解除 "1,200"; a second row for 云州区融资担保公司, which the plan does not know.
  担保明细 (amounts 万元):
    r  type            amount  fee    start       end         share   in force?  liability
    A  小微企业         1,200   1.2%   2022年3月1日  2023年2月28日 "20%"   yes        960
    B  个体工商户        800    1.0%   2022-01-10  2022-06-25   20      yes (end = cycle) 640
    C  三农             500    1.5%   2022/5/1    2023/4/30    blank   yes        500   (share 0, info finding)
    D  战略性新兴产业    1,000   "0.8%" 2021-07-01  2022-07-31   40      yes        600
    E  其他             300    2.0%   2022-02-01  2023-01-31   0       yes        300
    F  小微企业          700    1.0%   2021-01-01  2022-06-24   "50%"   no (expired the day before)
    G  小微企业          400    1.0%   2022-06-26  2023-06-25   10      no (starts the day after)
    合计 row             4,900                                          skipped
  in force: A–E, balance 1200+800+500+1000+300 = 3,800; liability 960+640+500+600+300 = 3,000; 5 parties.

阳高县融资担保公司 (county 阳高县, no focus → cap 10), file 阳高担保6月.xlsx, columns reordered, 填报单位 alias
  机构概况: 净资产 200; 注册资本 10,000; 在保户数 3; 在保余额 "2,510"; 本年代偿 0; 本年解除 0.
  担保明细: H 三农 1,500 (1.2%, share 0); I 小微企业 1,000 (1.0%, share 0); J 小微企业 200 with 到期日期 before
            起始日期 (impossible, not in force). In force: H, I → balance 2,500, liability 2,500, 2 parties.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from helpers.indicators import guarantee as gt
from helpers.ingest import ledgers
from helpers.ingest import sources
from helpers.core.identifiers import make_resident_id, make_uscc
from helpers.plan.model import Plan, load_plan

CYCLE = dt.date(2022, 6, 25)
CAIXIN = "市财信担保公司"
YANGGAO = "阳高县融资担保公司"
UNKNOWN = "云州区融资担保公司"

PLAN_YAML = textwrap.dedent(
    """
    plan:
      id: guarantee-test
      title: 担保测试计划
      year: 2022
      report_days: [10, 25]
      city: 大同市
    units:
      - {id: finance_bureau, name: 大同市财政局, aliases: [市财政局], kind: government}
      - {id: caixin, name: 市财信担保公司, aliases: [大同市财信担保公司], kind: guarantee, focus: 小微三农}
      - {id: yanggao_guarantee, name: 阳高县融资担保公司, aliases: [阳高县融资担保有限公司], kind: guarantee,
         county: 阳高县}
    ledgers:
      task: {responsible: true}
      guarantee: {kind: guarantee}
    measures: []
    lists:
      - name: 全面清单
        columns: {no: 序号, text: 主要任务, progress: 双周进展情况}
        tasks:
          - {no: 1, text: 扩大市级政府性融资担保机构资本规模。, measure: null, lead: [finance_bureau]}
    targets:
      - {id: capital, indicator: guarantee_capital, comparator: ">=", threshold: 50000,
         scope: {unit: caixin}, due: 2023-12-31, unit: 万元}
      - {id: leverage, indicator: guarantee_leverage, comparator: rising, threshold: null, cap: 10, cap_focus: 15,
         cap_focus_label: 小微三农, scope: {kind: guarantee}, due: 2022-12-31, unit: 倍}
      - {id: risk_2022, indicator: risk_compensation_due, comparator: info, threshold: null, rate: 0.002,
         eligible_types: [小微企业, 个体工商户, 三农, 战略性新兴产业], scope: {unit: caixin}, due: 2022-12-31}
      - {id: risk_2025, indicator: risk_compensation_due, comparator: info, threshold: null, rate: 0.005,
         eligible_types: [小微企业, 个体工商户, 三农, 战略性新兴产业], scope: {unit: caixin}, due: 2025-12-31}
      - {id: fee, indicator: fee_subsidy_eligible, comparator: info, threshold: null, max_amount: 1000,
         max_amount_inclusive: true, max_fee_rate: 0.015, max_fee_rate_inclusive: false,
         eligible_types: [小微企业, 个体工商户, 三农, 战略性新兴产业], scope: {unit: caixin}, due: 2022-12-31}
    bank_plans: []
    """
)

DETAIL_HEADER = ["序号", "被担保人", "证件号码", "类型", "担保金额（万元）", "担保费率（%）", "合作银行", "起始日期",
                 "到期日期", "分险比例（%）"]
ID = {k: make_uscc(f"91140200MA0{i:06d}") for i, k in enumerate("ABCDEFGIJ", start=1)}
ID["H"] = make_resident_id("140221", dt.date(1975, 3, 8), 123)


# ---------------------------------------------------------------------------------------------------------------
# Fixture


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    path = tmp_path / "guarantee-test.yaml"
    path.write_text(PLAN_YAML, encoding="utf-8")
    return load_plan(path)


def write_caixin(path: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "机构概况"
    ws.append(["大同市财信担保公司担保业务台账"])
    ws.append(["填报单位：大同市财信担保公司", None, None, "填报日期：", "2022年6月24日"])
    ws.append(["机构名称", "注册资本（元）", "净资产（万元）", "在保余额（万元）", "在保户数", "本年新增担保金额（万元）",
               "本年代偿金额（万元）", "本年解除担保金额（万元）"])
    ws.append(["大同市财信担保公司", "470,000,000", "48,000", "3,850", 5, "2,500", "36", "1,200"])
    # 注册资本 50,000,000 元 = 5,000 万元; no 担保明细 for it
    ws.append([UNKNOWN, "50,000,000", "5,100", 800, 4, 600, 10, 400])

    ws = wb.create_sheet("担保明细")
    ws.append(["大同市财信担保公司担保明细表"])
    ws.append(["填报单位：大同市财信担保公司"])
    ws.append(DETAIL_HEADER)
    ws.append([1, "甲公司", ID["A"], "小微企业", "1,200", 1.2, "工行", "2022年3月1日", "2023年2月28日", "20%"])
    ws.append([2, "乙商行", ID["B"], "个体户", 800, 1.0, "农行", dt.datetime(2022, 1, 10), "2022-06-25", 20])
    ws.append([3, "丙合作社", ID["C"], "三农", 500, 1.5, "农商行", "2022/5/1", "2023/4/30", None])
    ws.append([4, "丁科技", ID["D"], "战新产业", "1,000.00", "0.8%", "建行", dt.date(2021, 7, 1), "2022-07-31", 40])
    ws.append([5, "戊贸易", ID["E"], "其他", 300, 2.0, "中行", "2022-02-01", "2023-01-31", 0])
    ws.append([6, "己公司", ID["F"], "小微企业", 700, 1.0, "工行", "2021-01-01", "2022-06-24", "50%"])
    ws.append([7, "庚公司", ID["G"], "小微企业", 400, 1.0, "工行", "2022-06-26", "2023-06-25", 10])
    ws.append(["合计", None, None, None, "4,900", None, None, None, None, None])
    wb.save(path)
    return path


def write_yanggao(path: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"                       # sheet names as units leave them; the header decides
    ws.append(["担保业务台账（机构概况）"])
    ws.append(["填报单位：阳高县融资担保有限公司"])
    ws.append(["单位：万元"])
    ws.append(["机构名称", "净资产", "注册资本", "在保户数", "在保余额", "本年代偿金额", "本年解除担保金额",
               "本年新增担保金额", "备注"])
    ws.append(["阳高县融资担保有限公司", 200, "10,000", 3, "2,510", 0, 0, 1500, "无"])

    ws = wb.create_sheet("Sheet2")
    ws.append(["担保明细"])
    ws.append(["被担保人", "类型", "证件号码", "担保金额", "起始日期", "到期日期", "担保费率（%）", "分险比例（%）",
               "合作银行"])
    ws.append(["张某", "三农", ID["H"], 1500, "2022-04-01", "2023-03-31", 1.2, 0, "农商行"])
    ws.append(["辛公司", "小微企业", ID["I"], 1000, "2022-05-15", "2023-05-14", 1.0, 0, "邮储"])
    ws.append(["壬公司", "小微企业", ID["J"], 200, "2022-06-01", "2022-05-01", 1.0, 0, "邮储"])
    wb.save(path)
    return path


def read_fixture(folder: Path, plan: Plan) -> dict[str, pd.DataFrame]:
    """Write both workbooks into `folder` and ingest them as the pipeline does (read_ledger, then combine)."""
    folder.mkdir(parents=True)
    paths = [write_caixin(folder / "财信担保6.25台账(1).xlsx"), write_yanggao(folder / "阳高担保6月.xlsx")]
    read = [ledgers.read_ledger(sources.read_workbook(p, root=folder), plan) for p in paths]
    combined = ledgers.combine(read, plan, CYCLE)
    return {"summary": combined.tables["guarantee_summary"], "detail": combined.tables["guarantees"],
            "ingest_findings": list(combined.findings)}


@pytest.fixture
def raw(tmp_path: Path, plan: Plan) -> dict[str, pd.DataFrame]:
    return read_fixture(tmp_path / "raw" / CYCLE.isoformat(), plan)


@pytest.fixture
def cleaned(raw, plan):
    return gt.clean_guarantees(raw["summary"], raw["detail"], plan, CYCLE)


@pytest.fixture
def indicators(cleaned, plan) -> pd.DataFrame:
    summary, detail, _ = cleaned
    return gt.guarantee_indicators(plan, CYCLE, summary, detail)


def figure(frame: pd.DataFrame, indicator: str, scope_id: str) -> pd.Series:
    rows = frame[(frame["indicator"] == indicator) & (frame["scope_id"] == scope_id)]
    assert len(rows) == 1, (indicator, scope_id, rows)
    return rows.iloc[0]


def codes(findings) -> list[str]:
    return [f.code for f in findings]


# ---------------------------------------------------------------------------------------------------------------
# Reading and cleaning


def test_ingest_reads_the_messy_workbooks(raw):
    summary, detail = raw["summary"], raw["detail"]
    assert len(summary) == 3                       # 财信, 云州区 (unknown), 阳高
    assert len(detail) == 10                       # 7 + 3 rows; the 合计 row is not data
    caixin = summary[summary["institution"] == "大同市财信担保公司"].iloc[0]
    assert caixin["registered_capital"] == pytest.approx(47000)     # 470,000,000 元 ÷ 10,000
    assert caixin["in_force_balance"] == pytest.approx(3850)


def test_clean_resolves_institutions_and_keeps_the_unknown_one(cleaned):
    summary, detail, findings = cleaned
    assert list(summary["institution"]) == [CAIXIN, UNKNOWN, YANGGAO]
    assert [None if pd.isna(x) else x for x in summary["institution_id"]] == ["caixin", None, "yanggao_guarantee"]
    assert list(summary["city_level"]) == [True, False, False]
    unknown = [f for f in findings if f.code == "guarantee_institution_unknown"]
    assert len(unknown) == 1
    assert UNKNOWN in unknown[0].message
    assert (unknown[0].sheet, unknown[0].row, unknown[0].column) == ("机构概况", 5, "机构名称")
    # detail rows belong to the sending institution
    assert detail["institution"].value_counts().to_dict() == {CAIXIN: 7, YANGGAO: 3}


def test_clean_in_force_and_liability(cleaned):
    _, detail, _ = cleaned
    by_name = detail.set_index("guaranteed")
    assert list(by_name.loc[["甲公司", "乙商行", "丙合作社", "丁科技", "戊贸易"], "in_force"]) == [True] * 5
    assert not by_name.loc["己公司", "in_force"]          # ended 2022-06-24, the day before the cycle
    assert not by_name.loc["庚公司", "in_force"]          # starts 2022-06-26, the day after
    assert not by_name.loc["壬公司", "in_force"]          # 到期日期 before 起始日期
    # "20%" typed as text and 20 as a number both mean 0.2
    assert by_name.loc["甲公司", "risk_share"] == pytest.approx(0.2)
    assert by_name.loc["乙商行", "risk_share"] == pytest.approx(0.2)
    # liability = amount × (1 − share): 1200×0.8, 800×0.8, 500×1 (blank share), 1000×0.6, 300×1
    expected = {"甲公司": 960, "乙商行": 640, "丙合作社": 500, "丁科技": 600, "戊贸易": 300}
    for name, value in expected.items():
        assert by_name.loc[name, "liability"] == pytest.approx(value)
    assert by_name.loc["丁科技", "fee_rate"] == pytest.approx(0.008)
    assert by_name.loc["乙商行", "guaranteed_type"] == "个体工商户"
    assert by_name.loc["丁科技", "guaranteed_type"] == "战略性新兴产业"


def test_clean_findings_name_their_place(cleaned):
    _, _, findings = cleaned
    missing_share = [f for f in findings if f.code == "risk_share_missing"]
    assert len(missing_share) == 1
    f = missing_share[0]
    assert (f.severity, f.file, f.sheet, f.row, f.column, f.unit) == (
        "info", "财信担保6.25台账(1).xlsx", "担保明细", 6, "分险比例（%）", CAIXIN)
    dates = [f for f in findings if f.code == "impossible_value" and "到期日期" in f.message]
    assert len(dates) == 1
    assert (dates[0].file, dates[0].sheet, dates[0].row, dates[0].column) == ("阳高担保6月.xlsx", "Sheet2", 5, "到期日期")
    assert "2022-05-01" in dates[0].message and "2022-06-01" in dates[0].message


def test_clean_does_not_mutate_its_inputs(raw, plan):
    before = (raw["summary"].copy(), raw["detail"].copy())
    gt.clean_guarantees(raw["summary"], raw["detail"], plan, CYCLE)
    pd.testing.assert_frame_equal(raw["summary"], before[0])
    pd.testing.assert_frame_equal(raw["detail"], before[1])


def _raw_detail(**overrides) -> pd.DataFrame:
    row = {"file": "x.xlsx", "sheet": "担保明细", "row": 4, "unit_id": "caixin", "report_date": None,
           "guaranteed": "甲公司", "guaranteed_id": ID["A"], "guaranteed_id_kind": "uscc", "guaranteed_id_valid": True,
           "guaranteed_type": "小微企业", "amount": 100.0, "fee_rate": 0.01, "partner_bank": "工行",
           "start_date": dt.date(2022, 1, 1), "end_date": dt.date(2022, 12, 31), "risk_share": 0.2}
    row.update(overrides)
    return pd.DataFrame([row])


def _raw_summary(**overrides) -> pd.DataFrame:
    row = {"file": "x.xlsx", "sheet": "机构概况", "row": 4, "unit_id": "caixin", "report_date": None,
           "institution": CAIXIN, "registered_capital": 50000.0, "net_assets": 40000.0, "in_force_balance": 100.0,
           "in_force_count": 1, "new_this_year": 100.0, "compensated_this_year": 0.0, "released_this_year": 0.0}
    row.update(overrides)
    return pd.DataFrame([row])


@pytest.mark.parametrize(
    "overrides, column, text",
    [
        ({"amount": -100.0}, "担保金额", "不能为负数"),
        ({"risk_share": 1.2}, "分险比例（%）", "120%"),
        ({"risk_share": -0.1}, "分险比例（%）", "0%–100%"),
        ({"fee_rate": 0.12}, "担保费率（%）", "12%"),
        ({"end_date": dt.date(2021, 12, 31)}, "到期日期", "早于起始日期"),
    ],
)
def test_impossible_detail_values_are_findings_and_rows_kept(plan, overrides, column, text):
    _, detail, findings = gt.clean_guarantees(_raw_summary(), _raw_detail(**overrides), plan, CYCLE)
    hits = [f for f in findings if f.code == "impossible_value"]
    assert len(hits) == 1
    assert (hits[0].file, hits[0].sheet, hits[0].row, hits[0].column) == ("x.xlsx", "担保明细", 4, column)
    assert text in hits[0].message
    assert len(detail) == 1


def test_impossible_values_are_set_aside(plan):
    _, detail, _ = gt.clean_guarantees(None, _raw_detail(amount=-100.0), plan, CYCLE)
    assert pd.isna(detail["amount"].iloc[0]) and pd.isna(detail["liability"].iloc[0])
    _, detail, _ = gt.clean_guarantees(None, _raw_detail(risk_share=1.2), plan, CYCLE)
    assert detail["liability"].iloc[0] == pytest.approx(100)          # share treated as 0
    _, detail, _ = gt.clean_guarantees(None, _raw_detail(fee_rate=0.12), plan, CYCLE)
    assert pd.isna(detail["fee_rate"].iloc[0])


@pytest.mark.parametrize("net", [0.0, -5.0])
def test_net_assets_must_be_positive(plan, net):
    summary, _, findings = gt.clean_guarantees(_raw_summary(net_assets=net), None, plan, CYCLE)
    hits = [f for f in findings if f.code == "impossible_value"]
    assert len(hits) == 1 and hits[0].column == "净资产" and hits[0].sheet == "机构概况"
    assert pd.isna(summary["net_assets"].iloc[0])


def test_a_name_of_another_kind_of_unit_is_not_a_guarantee_institution(plan):
    summary, _, findings = gt.clean_guarantees(_raw_summary(institution="市财政局"), None, plan, CYCLE)
    assert pd.isna(summary["institution_id"].iloc[0])
    assert summary["institution"].iloc[0] == "市财政局"
    assert any(f.code == "guarantee_institution_unknown" and "大同市财政局" in f.message for f in findings)


def test_only_the_rows_of_the_cycle_are_used_from_a_year_frame(plan):
    year = pd.concat([_raw_detail().assign(cycle="2022-06-10"), _raw_detail(amount=5.0).assign(cycle="2022-06-25")])
    _, detail, _ = gt.clean_guarantees(None, year, plan, CYCLE)
    assert list(detail["amount"]) == [5.0]


# ---------------------------------------------------------------------------------------------------------------
# Reconciling


def test_reconcile_reports_balance_and_count_differences(cleaned):
    summary, detail, _ = cleaned
    found = gt.reconcile_guarantees(summary, detail, CYCLE)
    by_code = {}
    for f in found:
        by_code.setdefault(f.code, []).append(f)
    # 财信: 3,850 vs 3,800 → 50 > 0.5% × 3,850 = 19.25
    (balance,) = by_code["guarantee_balance_mismatch"]
    assert "机构概况在保余额 3,850.00 万元，担保明细在保合计 3,800.00 万元，相差 50.00 万元" in balance.message
    assert (balance.unit, balance.sheet, balance.row, balance.column) == (CAIXIN, "机构概况", 4, "在保余额")
    # 阳高: 2,510 vs 2,500 → 10 ≤ 12.55, no balance finding; 户数 3 vs 2 distinct in-force parties
    (count,) = by_code["guarantee_count_mismatch"]
    assert count.unit == YANGGAO
    assert "机构概况在保户数 3 户，担保明细在保 2 户，相差 1 户" in count.message
    # 云州区: in the summary with 800 万元 in force but no detail
    (missing,) = by_code["guarantee_detail_missing"]
    assert missing.unit == UNKNOWN and "800.00" in missing.message
    assert set(by_code) == {"guarantee_balance_mismatch", "guarantee_count_mismatch", "guarantee_detail_missing"}


def test_reconcile_matching_figures_give_no_finding(plan):
    summary, detail, _ = gt.clean_guarantees(_raw_summary(in_force_balance=100.4), _raw_detail(), plan, CYCLE)
    assert gt.reconcile_guarantees(summary, detail, CYCLE) == []     # 0.4 ≤ 0.5% × 100.4


def test_reconcile_detail_without_summary(plan):
    summary, detail, _ = gt.clean_guarantees(None, _raw_detail(), plan, CYCLE)
    found = gt.reconcile_guarantees(summary, detail, CYCLE)
    assert codes(found) == ["guarantee_summary_missing"]
    assert found[0].unit == CAIXIN


# ---------------------------------------------------------------------------------------------------------------
# Indicators


def test_indicator_table_shape(indicators):
    assert list(indicators.columns) == gt.INDICATOR_COLUMNS
    assert set(indicators["scope"]) == {"city", "institution"}
    assert set(indicators["cycle"]) == {"2022-06-25"}
    assert set(indicators.loc[indicators["scope"] == "city", "scope_id"]) == {"大同市"}    # plan.meta city
    assert set(indicators["status"].dropna()) <= {"green", "yellow", "orange", "red"}


def test_capital(indicators):
    # 财信 47,000 万元 against 50,000 due 2023-12-31: in 2022 it is not yet due, so no light for being short
    # today (the plan's default targets_before_due: pending), and the basis shows the due date and the gap
    row = figure(indicators, "guarantee_capital", CAIXIN)
    assert (row["value"], row["target"], row["unit"]) == (pytest.approx(47000), 50000, "万元")
    assert pd.isna(row["status"])
    assert "未到期（2023-12-31 到期），尚差 3,000.00 万元" in row["basis"]
    # city = the city-level institutions only (not 阳高's 10,000, not the unknown 5,000)
    city = figure(indicators, "guarantee_capital", "大同市")
    assert (city["value"], city["target"]) == (pytest.approx(47000), 50000) and pd.isna(city["status"])
    assert "尚差 3,000.00 万元" in city["basis"]
    county = figure(indicators, "guarantee_capital", YANGGAO)
    assert county["value"] == pytest.approx(10000) and pd.isna(county["target"]) and pd.isna(county["status"])
    assert figure(indicators, "guarantee_capital", UNKNOWN)["value"] == pytest.approx(5000)


def test_leverage(indicators):
    # 财信: 3,000 ÷ 48,000 = 0.0625; cap 15 (小微三农), within it → no status
    row = figure(indicators, "guarantee_leverage", CAIXIN)
    assert row["value"] == pytest.approx(0.0625)
    assert (row["numerator"], row["denominator"], row["target"], row["unit"]) == (3000, 48000, 15, "倍")
    assert pd.isna(row["status"])
    # 阳高: 2,500 ÷ 200 = 12.5 above the cap 10 → red
    county = figure(indicators, "guarantee_leverage", YANGGAO)
    assert (county["value"], county["target"], county["status"]) == (pytest.approx(12.5), 10, "red")
    # city: (3,000 + 2,500) ÷ (48,000 + 200) = 5,500 ÷ 48,200; the unknown institution has no detail → left out
    city = figure(indicators, "guarantee_leverage", "大同市")
    assert city["value"] == pytest.approx(5500 / 48200)
    assert (city["numerator"], city["denominator"]) == (pytest.approx(5500), pytest.approx(48200))
    assert pd.isna(city["target"])                       # caps differ (15, 10): no single city cap
    unknown = figure(indicators, "guarantee_leverage", UNKNOWN)
    assert pd.isna(unknown["value"])


def test_in_force_balance(indicators):
    assert figure(indicators, "guarantee_in_force_balance", CAIXIN)["value"] == pytest.approx(3800)
    assert figure(indicators, "guarantee_in_force_balance", YANGGAO)["value"] == pytest.approx(2500)
    assert figure(indicators, "guarantee_in_force_balance", "大同市")["value"] == pytest.approx(6300)


def test_risk_compensation(indicators):
    # 财信 eligible in force: A 1,200 + B 800 + C 500 + D 1,000 = 3,500 (E is 其他) × 2‰ = 7.0
    row = figure(indicators, "risk_compensation_due", CAIXIN)
    assert (row["value"], row["numerator"], row["unit"]) == (pytest.approx(7.0), pytest.approx(3500), "万元")
    assert "2‰" in row["basis"]
    # 阳高: H 1,500 + I 1,000 = 2,500 × 2‰ = 5.0, outside the plan's scope (reference only)
    county = figure(indicators, "risk_compensation_due", YANGGAO)
    assert county["value"] == pytest.approx(5.0) and "仅供参考" in county["basis"]
    # city: city-level institutions only → 7.0
    assert figure(indicators, "risk_compensation_due", "大同市")["value"] == pytest.approx(7.0)


def test_fee_subsidy(indicators):
    # 财信: B 800 at 1.0% and D 1,000 at 0.8% (1,000 inclusive); A is 1,200 > 1,000; C is 1.5%, not below 1.5%
    assert figure(indicators, "fee_subsidy_eligible", CAIXIN)["value"] == pytest.approx(1800)
    assert figure(indicators, "fee_subsidy_eligible_count", CAIXIN)["value"] == 2
    assert figure(indicators, "fee_subsidy_eligible_count", CAIXIN)["unit"] == "笔"
    # 阳高: I 1,000 at 1.0%; H is 1,500 > 1,000
    assert figure(indicators, "fee_subsidy_eligible", YANGGAO)["value"] == pytest.approx(1000)
    assert figure(indicators, "fee_subsidy_eligible_count", YANGGAO)["value"] == 1
    assert figure(indicators, "fee_subsidy_eligible", "大同市")["value"] == pytest.approx(1800)
    assert figure(indicators, "fee_subsidy_eligible_count", "大同市")["value"] == 2


def test_compensation_rate(indicators):
    # 财信 36 ÷ 1,200 = 0.03; 阳高 released 0 → no rate; 云州区 10 ÷ 400
    row = figure(indicators, "compensation_rate", CAIXIN)
    assert (row["value"], row["numerator"], row["denominator"], row["unit"]) == (
        pytest.approx(0.03), 36, 1200, "比例")
    assert pd.isna(figure(indicators, "compensation_rate", YANGGAO)["value"])
    # city: (36 + 10) ÷ (1,200 + 400) = 46 ÷ 1,600 = 0.02875
    assert figure(indicators, "compensation_rate", "大同市")["value"] == pytest.approx(0.02875)


def test_indicators_do_not_mutate(cleaned, plan):
    summary, detail, _ = cleaned
    before = (summary.copy(), detail.copy())
    gt.guarantee_indicators(plan, CYCLE, summary, detail)
    pd.testing.assert_frame_equal(summary, before[0])
    pd.testing.assert_frame_equal(detail, before[1])


def test_risk_rate_switches_at_the_end_of_the_14th_five_year_plan(plan):
    # one 100 万元 小微 guarantee in force across the switch: 2‰ before 2025-12-31, 5‰ from it
    raw = _raw_detail(start_date=dt.date(2025, 1, 1), end_date=dt.date(2026, 12, 31))
    for cycle, expected in [(dt.date(2025, 12, 25), 0.2), (dt.date(2026, 1, 10), 0.5)]:
        summary, detail, _ = gt.clean_guarantees(_raw_summary(), raw, plan, cycle)
        out = gt.guarantee_indicators(plan, cycle, summary, detail)
        assert figure(out, "risk_compensation_due", CAIXIN)["value"] == pytest.approx(expected)


def test_missing_targets_degrade_to_null(tmp_path):
    text = PLAN_YAML.split("\ntargets:")[0] + "\ntargets: []\nbank_plans: []\n"
    path = tmp_path / "no-targets.yaml"
    path.write_text(text, encoding="utf-8")
    bare = load_plan(path)
    summary, detail, _ = gt.clean_guarantees(_raw_summary(), _raw_detail(), bare, CYCLE)
    out = gt.guarantee_indicators(bare, CYCLE, summary, detail)
    assert out["target"].isna().all() and out["status"].isna().all()
    assert figure(out, "guarantee_leverage", CAIXIN)["value"] == pytest.approx(80 / 40000)
    assert pd.isna(figure(out, "risk_compensation_due", CAIXIN)["value"])
    assert figure(out, "risk_compensation_due", CAIXIN)["numerator"] == pytest.approx(100)
    assert pd.isna(figure(out, "fee_subsidy_eligible", CAIXIN)["value"])
    assert set(out.loc[out["scope"] == "city", "scope_id"]) == {"大同市"}


def test_empty_ledgers_give_a_table_with_the_columns(plan):
    summary, detail, findings = gt.clean_guarantees(None, None, plan, CYCLE)
    assert findings == []
    out = gt.guarantee_indicators(plan, CYCLE, summary, detail)
    assert list(out.columns) == gt.INDICATOR_COLUMNS
    assert gt.reconcile_guarantees(summary, detail, CYCLE) == []


@pytest.mark.parametrize(
    "capital, status",
    [(50000, "green"), (60000, "green"), (45001, "yellow"), (45000, "orange"), (35000, "orange"), (34999, "red"),
     (None, None)],
)
def test_capital_status_bands(plan, capital, status):
    # against 50,000, once due (2024-01-10): short by < 10% → yellow; 10–30% → orange; more → red
    cycle = dt.date(2024, 1, 10)
    summary, detail, _ = gt.clean_guarantees(_raw_summary(registered_capital=capital), _raw_detail(), plan, cycle)
    out = gt.guarantee_indicators(plan, cycle, summary, detail)
    row = figure(out, "guarantee_capital", CAIXIN)
    assert (None if pd.isna(row["status"]) else row["status"]) == status


# ---------------------------------------------------------------------------------------------------------------
# History


def test_history_over_cycles(raw, plan):
    frames = []
    for cycle in (dt.date(2022, 6, 10), CYCLE):
        summary, detail, _ = gt.clean_guarantees(raw["summary"], raw["detail"], plan, cycle)
        frames.append(gt.guarantee_indicators(plan, cycle, summary, detail))
    history = gt.guarantee_history(pd.concat(frames, ignore_index=True))
    assert list(history.columns) == gt.HISTORY_COLUMNS
    assert list(history["cycle"].unique()) == ["2022-06-10", "2022-06-25"]
    first = history[(history["cycle"] == "2022-06-10") & (history["scope_id"] == CAIXIN)].iloc[0]
    # on 06-10 F (700, share 50%) is still in force, G not yet; B (ends 06-25) and D are in force
    # balance 3,800 + 700 = 4,500; liability 3,000 + 350 = 3,350; ÷ 48,000
    assert first["in_force_balance"] == pytest.approx(4500)
    assert first["leverage"] == pytest.approx(3350 / 48000)
    assert first["leverage_cap"] == 15
    last = history[(history["cycle"] == "2022-06-25") & (history["scope"] == "city")].iloc[0]
    assert (last["in_force_balance"], last["leverage"]) == (pytest.approx(6300), pytest.approx(5500 / 48200))
    assert history.iloc[0]["scope"] == "city"


def test_history_without_guarantee_rows():
    other = pd.DataFrame([{c: None for c in gt.INDICATOR_COLUMNS} | {"indicator": "credit_loan_share"}])
    assert list(gt.guarantee_history(other).columns) == gt.HISTORY_COLUMNS
    assert gt.guarantee_history(other).empty


# ---------------------------------------------------------------------------------------------------------------
# The real plan


def test_real_datong_plan(datong, tmp_path):
    raw = read_fixture(tmp_path / "datong" / CYCLE.isoformat(), datong)
    summary, detail, findings = gt.clean_guarantees(raw["summary"], raw["detail"], datong, CYCLE)
    # 大同市财信担保公司 is an alias of the plan's 市财信担保公司; the plan names no county guarantee institution, so
    # 阳高's row is kept under its typed name (阳高县 alone is the county government, not a guarantee institution)
    assert summary["institution_id"].iloc[0] == "caixin_guarantee"
    assert "阳高县融资担保有限公司" in set(summary["institution"])
    assert any(f.code == "guarantee_institution_unknown" and "阳高县人民政府" in f.message for f in findings)
    # its detail follows the only institution named in the same file
    assert (detail["institution"] == "阳高县融资担保有限公司").sum() == 3
    out = gt.guarantee_indicators(datong, CYCLE, summary, detail)
    capital = figure(out, "guarantee_capital", CAIXIN)
    assert capital["target"] == 50000 and pd.isna(capital["status"])        # due 2023-12-31: 未到期 in 2022
    assert figure(out, "guarantee_leverage", CAIXIN)["target"] == 15          # focus 小微三农
    assert figure(out, "risk_compensation_due", CAIXIN)["value"] == pytest.approx(7.0)
    assert figure(out, "fee_subsidy_eligible", CAIXIN)["value"] == pytest.approx(1800)
    city_id = datong.meta.get("city") or "全市"
    assert figure(out, "guarantee_capital", city_id)["value"] == pytest.approx(47000)
