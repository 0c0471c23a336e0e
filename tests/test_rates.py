"""Rates as offices send them, and the 单户 rule of 担保费率补差 (issue 16).

Fixtures: tests/fixtures/rates/, written by make_rates_fixtures.py with xlsxwriter and saved again by LibreOffice.
The guarantee test plan of test_guarantee (cycle 2022-06-25; 担保费率补差: 单户 ≤ 1000 万元, fee < 1.5%, types
小微企业/个体工商户/三农/战略性新兴产业). 担保明细 of 市财信担保公司, amounts 万元, by hand:

  r  party   type        amount  fee as typed                   → fee    share as typed       → share  in force
  4  甲 (A)  小微企业      600    0.012 in a 0.00% cell           1.2%    0.2 in a 0% cell       20%     yes
  5  甲 (A)  小微企业      500    "1.2％"                          1.2%    "20%"                  20%     yes
  6  乙 (B)  个体工商户    800    1.2 under 担保费率（%）          1.2%    20                     20%     yes
  7  乙 (B)  个体工商户    900    1.2                             1.2%    20                     20%     no (ended 5-31)
  8  丙 (C)  三农          300    "1.2%"                          1.2%    blank                  0       yes
  9  丁 (D)  小微企业      400    0.018 in a 0.00% cell           1.8%    0.4 in a 0% cell       40%     yes
  10 戊 (E)  小微企业      200    0.012 under （%）: 0.012%, flagged, not counted    0                0       yes

单户: 甲 600 + 500 = 1,100 > 1,000 → neither counts; 乙 in force 800 (the ended 900 does not count) → counts.
Eligible: 乙 800 + 丙 300 = 1,100 万元, 2 笔 (丁 1.8% ≥ 1.5%; 戊's fee unknown).
Liability (amount × (1 − share)): 480 + 400 + 640 + 300 + 240 + 200 = 2,260; ÷ 净资产 10,000 = 0.226 倍.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from helpers.indicators import guarantee as gt
from helpers.ingest import ledgers
from helpers.ingest import sheets
from helpers.ingest import sources
from helpers.ingest import tables
from helpers.ingest.formats import GUARANTEES
from helpers.plan.model import load_plan
from test_guarantee import CAIXIN, CYCLE, PLAN_YAML, figure

FIXTURES = Path(__file__).parent / "fixtures" / "rates"
WRITERS = ["担保明细_xlsxwriter.xlsx", "担保明细_libreoffice.xlsx"]


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN_YAML, encoding="utf-8")
    return load_plan(path)


def ingest(plan, name):
    book = sources.read_workbook(FIXTURES / name, root=FIXTURES)
    combined = ledgers.combine([ledgers.read_ledger(book, plan)], plan, CYCLE)
    return combined.tables["guarantee_summary"], combined.tables["guarantees"]


@pytest.mark.parametrize("name", WRITERS)
def test_percent_cells_are_read_as_shown(plan, name):
    _, detail = ingest(plan, name)
    detail = detail.sort_values("row")
    assert detail["fee_rate"].tolist()[:6] == pytest.approx([0.012, 0.012, 0.012, 0.012, 0.012, 0.018])
    assert detail["fee_rate"].tolist()[6] == pytest.approx(0.00012)          # 0.012 under （%）: 0.012% as headed
    shares = detail["risk_share"].tolist()
    assert shares[:4] == pytest.approx([0.2, 0.2, 0.2, 0.2]) and pd.isna(shares[4])
    assert shares[5:] == pytest.approx([0.4, 0.0])


@pytest.mark.parametrize("name", WRITERS)
def test_fee_subsidy_per_party_and_leverage(plan, name):
    summary, detail = ingest(plan, name)
    summary, detail, found = gt.clean_guarantees(summary, detail, plan, CYCLE)
    ambiguous = [f for f in found if f.code == "rate_ambiguous"]
    assert len(ambiguous) == 1 and ambiguous[0].row == 10 and ambiguous[0].column == "担保费率（%）"
    assert "1.2%" in ambiguous[0].message and "0.012" in ambiguous[0].message
    out = gt.guarantee_indicators(plan, CYCLE, summary, detail)
    eligible = figure(out, "fee_subsidy_eligible", CAIXIN)
    assert eligible["value"] == pytest.approx(1100)
    assert figure(out, "fee_subsidy_eligible_count", CAIXIN)["value"] == 2
    assert "单户（同一被担保人按证件号码合计在保担保金额）≤ 1,000.00 万元" in eligible["basis"]
    leverage = figure(out, "guarantee_leverage", CAIXIN)
    assert leverage["numerator"] == pytest.approx(2260) and leverage["value"] == pytest.approx(0.226)


def test_party_amounts_sum_in_force_guarantees_by_id():
    detail = pd.DataFrame({
        "institution": ["甲机构", "甲机构", "甲机构", "乙机构", "甲机构"],
        "guaranteed_id": ["X", "X", "X", "X", None],
        "guaranteed": ["张三", "张三", "张三", "张三", "李四"],
        "amount": [600.0, 500.0, 900.0, 700.0, 300.0],
        "in_force": [True, True, False, True, True],
    })
    # X at 甲机构: 600 + 500 in force (900 ended); at 乙机构 its own 700; 李四 by name
    assert gt.party_amounts(detail).tolist() == [1100.0, 1100.0, 1100.0, 700.0, 300.0]


def _sheet(header, values, percent=()):
    rows = ((1, tuple(header)),) + tuple((2 + i, (v,)) for i, v in enumerate(values))
    return sheets.Sheet("担保明细", rows, percent_cells=frozenset(percent))


def test_rates_under_a_header_without_unit():
    # 担保费率 without （%）: 1.5 is 1.5%; 0.8 could be 0.8% or 80%: left empty with a finding; 0 is 0; "0.8%" as written
    fmt = GUARANTEES
    sheet = sheets.Sheet("担保明细", (
        (1, ("被担保人", "证件号码", "担保金额", "起始日期", "到期日期", "担保费率")),
        (2, ("甲", "X", 1, "2022-01-01", "2022-12-31", 1.5)),
        (3, ("乙", "Y", 1, "2022-01-01", "2022-12-31", 0.8)),
        (4, ("丙", "Z", 1, "2022-01-01", "2022-12-31", 0)),
        (5, ("丁", "W", 1, "2022-01-01", "2022-12-31", "0.8%")),
        (6, ("戊", "V", 1, "2022-01-01", "2022-12-31", 0.008)),
    ), percent_cells=frozenset({(6, 5)}))
    table = tables.read_table(sheet, fmt, file="x.xlsx")
    fees = table.frame["fee_rate"].tolist()
    assert fees[0] == pytest.approx(0.015) and pd.isna(fees[1]) and fees[2] == 0
    assert fees[3] == pytest.approx(0.008) and fees[4] == pytest.approx(0.008)   # 0.8% in a percent cell
    bad = [f for f in table.findings if f.code == "bad_value"]
    assert [f.row for f in bad] == [3] and "0.8% 还是 80%" in bad[0].message
