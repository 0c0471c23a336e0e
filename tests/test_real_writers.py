"""Ledgers written by the programs units really use (xlsxwriter, LibreOffice's .xls/.ods/GBK .csv, a bank system's
HTML .xls, Excel 2003 XML, WPS's .et), abbreviated and renumbered as units do: each ends with the right unit, task,
light and finding. The files are committed; tests/fixtures/real_writers/make_fixtures.py wrote them."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from helpers.ingest import ledgers
from helpers.reconcile import lights as reconcile
from helpers.ingest import sources
from helpers.plan.model import load_plan

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests/fixtures/real_writers"
CYCLE = dt.date(2022, 7, 25)


def ingest(plan, folder: Path):
    paths, listing = sources.list_cycle_files(folder)
    read = {p.name: ledgers.read_ledger(sources.read_workbook(p, root=folder), plan, CYCLE) for p in paths}
    combined = ledgers.combine(list(read.values()), plan, CYCLE)
    status = reconcile.task_status(plan, combined.tables["progress"], CYCLE)
    return read, combined, status


@pytest.fixture(scope="module")
def datong_cycle(datong):
    return ingest(datong, FIXTURES / "2022-07-25")


def rows(led) -> list[tuple]:
    frame = led.tables["progress"]
    return [(r.list, None if pd.isna(r.task_no) else int(r.task_no), r.match) for r in frame.itertuples()]


def light(status, unit_id: str, list_name: str, no: int) -> tuple[str, str]:
    hit = status[(status["unit_id"] == unit_id) & (status["list"] == list_name) & (status["task_no"] == no)]
    assert len(hit) == 1, (unit_id, list_name, no)
    return hit["light"].iloc[0], hit["reason"].iloc[0]


def codes(led) -> set[str]:
    return {f.code for f in led.findings}


def test_key_list_in_sheet1_with_two_row_header_and_renumbered_rows(datong_cycle):
    read, _, status = datong_cycle
    led = read["附件2：重点任务清单.xlsx"]
    # 填报单位（盖章）：, 填报日期 without a year, the list told from the rows' content (the sheet is Sheet1)
    assert led.unit_id == "finance_bureau" and led.unit_source == "填报单位"
    assert led.report_date == dt.date(2022, 7, 22)
    # 6. 7、 ８ 第9项 十 （十一） 十二 13: every row reaches its own task, none is a mismatch
    assert [(l, n) for l, n, _ in rows(led)] == [("重点清单", n) for n in range(6, 14)]
    assert not codes(led) & {"task_no_mismatch", "task_unmatched", "missing_column"}
    # this cycle's progress column (7月25日), not the hidden 7月10日 one, said so
    progress = led.tables["progress"]
    assert progress["progress"].iloc[0] == "已对接省再担保集团，新增合作业务 3 笔"
    assert "column_repeated" in codes(led)
    assert "report_date_year_inferred" in codes(led)
    # lights by the rules: reported, nothing due → green; 已完成 → green; 8月前 due before next cycle → yellow;
    # 滞后 after the 4月末 milestone passed → red
    assert light(status, "finance_bureau", "重点清单", 7)[0] == "green"
    assert light(status, "finance_bureau", "重点清单", 11) == ("green", "已完成")
    assert light(status, "finance_bureau", "重点清单", 12)[0] == "yellow"
    assert light(status, "finance_bureau", "重点清单", 13)[0] == "red"
    # the task it left out is red, but never 「未报送」: it sent its ledger
    assert light(status, "finance_bureau", "重点清单", 14) == ("red", "已报送台账，但台账中没有该任务的进展")


def test_renamed_regulator_in_libreoffice_xls(datong_cycle):
    read, _, status = datong_cycle
    led = read["监管分局台账.xls"]
    assert led.unit_id == "cbirc_datong"                       # 国家金融监督管理总局大同监管分局, 报送单位 without colon
    assert led.report_date == dt.date(2022, 7, 23)
    assert rows(led) == [("全面清单", 1, "abbreviated"), ("全面清单", 3, "abbreviated")]   # 1、 3. with first clauses
    assert light(status, "cbirc_datong", "全面清单", 3)[0] == "grey"   # 持续推进, reported


def test_county_named_rural_bank_in_ods_is_the_bank(datong_cycle):
    read, _, status = datong_cycle
    led = read["灵丘农商行.ods"]
    assert led.unit_id == "lingqiu_rcb"                        # not 灵丘县人民政府
    assert rows(led) == [("重点清单", 1, "abbreviated"), ("重点清单", 2, "abbreviated")]   # （一） and 二
    assert light(status, "lingqiu_rcb", "重点清单", 1) == ("green", "已完成")
    # the county government sent nothing: its own tasks are not credited with the bank's ledger
    assert light(status, "lingqiu_gov", "重点清单", 1) == ("red", "本期未报送该任务的进展")


def test_gbk_csv_from_libreoffice(datong_cycle):
    read, _, status = datong_cycle
    led = read["人行进展.csv"]
    assert led.unit_id == "pbc_datong"                         # 中国人民银行大同市分行, the 2024 name
    assert [n for _, n, _ in rows(led)] == [1, 3]
    assert light(status, "pbc_datong", "全面清单", 1)[0] == "grey"


def test_bank_system_html_xls(datong_cycle):
    read, _, status = datong_cycle
    led = read["邮储大同分行.xls"]
    assert led.unit_id == "psbc_datong"                        # the short form 邮储大同分行
    assert rows(led) == [("重点清单", 1, "exact"), ("重点清单", 2, "exact")]
    assert "extension_mismatch" not in codes(led)
    assert light(status, "psbc_datong", "重点清单", 1) == ("green", "已完成")


def test_spreadsheet_2003_xml(datong_cycle):
    read, _, status = datong_cycle
    led = read["附件3.xls"]
    assert led.unit_id == "finance_office"                     # 大同市地方金融监督管理局
    assert led.report_date == dt.date(2022, 7, 22)
    assert rows(led) == [("重点清单", 1, "exact"), ("重点清单", 2, "exact")]
    assert light(status, "finance_office", "重点清单", 2)[0] == "green"


def test_wps_et_and_a_row_no_task_matches(datong_cycle):
    read, _, status = datong_cycle
    led = read["平城区进展.et"]
    assert led.unit_id == "pingcheng_gov"                      # 单位名称：大同市平城区人民政府
    assert rows(led)[0] == ("重点清单", 1, "abbreviated")
    unmatched = next(f for f in led.findings if f.code == "task_unmatched")
    assert unmatched.row == 5 and "开展金融知识宣传进社区活动" in unmatched.message
    # its other tasks are awaiting the analyst, not 「未报送」
    grey, reason = light(status, "pingcheng_gov", "重点清单", 2)
    assert grey == "grey" and "第 5 行" in reason and "待核对" in reason
    assert status[(status["unit_id"] == "pingcheng_gov") & (status["task_no"] == 2)
                  & (status["list"] == "重点清单")]["status"].iloc[0] == reconcile.UNMATCHED_STATUS


def test_unknown_unit_proposes_a_correction_and_the_correction_applies(datong_cycle, tmp_path):
    read, combined, _ = datong_cycle
    led = read["某小贷公司进展.xlsx"]
    assert led.unit_id is None
    finding = next(f for f in led.findings if f.code == "unit_unknown")
    assert finding.file == "某小贷公司进展.xlsx"
    assert "大同市某某小额贷款有限公司" in finding.message and "corrections/datong-2022.yaml" in finding.message
    assert "units: - {name: 大同市某某小额贷款有限公司, unit:" in finding.message
    # nothing silently dropped: the file is listed with no unit
    files = combined.files.set_index("file")
    assert files.loc["某小贷公司进展.xlsx", "used"] == False   # noqa: E712 - a numpy bool

    # the analyst adds the line the finding proposes; a rerun credits the file and says so
    plan_dir = tmp_path / "plan"
    (plan_dir / "corrections").mkdir(parents=True)
    shutil.copyfile(REPO / "data/plan/datong-2022.yaml", plan_dir / "datong-2022.yaml")
    (plan_dir / "corrections/datong-2022.yaml").write_text(
        "units:\n  - {name: 大同市某某小额贷款有限公司, unit: finance_office}\n"
        "rows:\n  - {file: 平城区进展.et, row: 5, list: 重点清单, task: 2}\n", encoding="utf-8")
    corrected = load_plan(plan_dir / "datong-2022.yaml")
    again, _, status = ingest(corrected, FIXTURES / "2022-07-25")
    assert again["某小贷公司进展.xlsx"].unit_id == "finance_office"
    assert again["某小贷公司进展.xlsx"].unit_source == "人工对应"
    assert any(f.code == "manual_mapping" for f in again["某小贷公司进展.xlsx"].findings)
    assert rows(again["平城区进展.et"])[1] == ("重点清单", 2, "manual")
    assert light(status, "pingcheng_gov", "重点清单", 2)[0] != "red"


def test_shanxi_labels_item_titles_and_lead_column(shanxi):
    read, _, status = ingest(shanxi, FIXTURES / "shanxi/2022-07-25")
    led = read["省金融办.xlsx"]
    assert led.unit_id == "sx_fin_office"                      # 山西省地方金融监督管理局
    # （一） first clause; （三） the item's title 「健全政策性融资担保公司监督考核机制」; 11 the row number of （九）之一
    assert rows(led) == [("责任分工表", 1, "abbreviated"), ("责任分工表", 3, "abbreviated"),
                         ("责任分工表", 11, "abbreviated")]
    assert not codes(led) & {"task_no_mismatch", "task_unmatched"}
    assert light(status, "sx_fin_office", "责任分工表", 3) == ("green", "已完成")
