"""Reading progress ledgers as units send them: kind and unit from content, title rows, merged 工作要求 cells,
repeated headers, 合计 and note rows, edited task text, wrong 序号, duplicates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from helpers.ingest import ledgers
from helpers.ingest import sources
from tests.conftest import write_progress_workbook

T1 = "建立市县小微企业及个体工商户无贷户名单，推送银行业机构。"
T2 = "鼓励设立首贷中心及首贷户服务站点，推动首贷户数量持续增加。"


def read(path: Path, plan):
    return ledgers.read_ledger(sources.read_workbook(path, root=path.parent), plan)


def test_unit_and_kind_from_content_not_file_name(tmp_path, tiny_plan):
    path = write_progress_workbook(
        tmp_path / "新建 Microsoft Excel 工作表(2).xlsx", unit_text="工行大同分行", report_date="2022年6月24日",
        title_rows=2,
        sheets={"Sheet1": [[1, "开展首贷户拓展专项行动", "建立市县小微企业及个体工商户无 贷户名单，推送银行业机构O",
                            None, None, None, "已配合推送名单 320 户", "进行中"],
                           [2, None, T2, None, None, None, "设立首贷服务站 2 个", "正常推进"]]},
    )
    led = read(path, tiny_plan)
    assert led.unit_id == "icbc" and led.unit_source == "填报单位"
    assert led.kinds == ("task",)
    assert led.report_date == dt.date(2022, 6, 24)
    progress = led.tables["progress"]
    assert list(progress["task_no"]) == [1, 2]
    assert list(progress["match"]) == ["exact", "exact"]  # seed-style damage normalised before matching
    assert list(progress["group"]) == ["开展首贷户拓展专项行动"] * 2  # merged cell forward-filled
    assert list(progress["status"]) == ["正常推进", "正常推进"]  # synonym 进行中
    assert list(progress["row"]) == [5, 6]  # Excel rows below two title lines, the unit line and the header


def test_sheet_name_decides_between_lists_with_the_same_columns(tmp_path, tiny_plan):
    path = write_progress_workbook(
        tmp_path / "市金融办.xlsx", unit_text="市金融办", report_date=dt.datetime(2022, 6, 25),
        sheets={"全面清单": [[1, "开展首贷户拓展专项行动", T1, None, None, None, "已推送", "已完成"]],
                "重点清单 ": [[1, "开展首贷户拓展专项行动", T1, "4月末前形成工作方案", None, None, "已推送", "已完成"]]},
    )
    led = read(path, tiny_plan)
    assert sorted(led.tables["progress"]["list"]) == ["全面清单", "重点清单"]


def test_edited_text_wrong_number_and_unknown_task_are_kept_and_flagged(tmp_path, tiny_plan):
    path = write_progress_workbook(
        tmp_path / "b.xlsx", unit_text="大同农商银行", report_date="2022.6.20",
        sheets={"全面清单": [
            [1, "开展首贷户拓展专项行动", "建立全市小微企业无贷户名单，并推送至各银行业机构。", None, None, None, "已完成推送", "已完成"],
            [9, None, T2, None, None, None, "已设立站点", "正常推进"],
            [3, None, "开展金融知识宣传进社区活动", None, None, None, "开展 3 场", "正常推进"],
        ]},
    )
    led = read(path, tiny_plan)
    progress = led.tables["progress"]
    assert list(progress["match"]) == ["edited", "by_text", "unmatched"]
    assert progress["task_no"].tolist()[:2] == [1, 2] and pd.isna(progress["task_no"].iloc[2])
    codes = {f.code for f in led.findings}
    assert {"task_text_edited", "task_no_mismatch", "task_unmatched"} <= codes
    unmatched = next(f for f in led.findings if f.code == "task_unmatched")
    assert unmatched.file == "b.xlsx" and unmatched.sheet == "全面清单" and unmatched.row == 6


def test_unit_falls_back_to_file_name_and_unknown_unit_is_an_error(tmp_path, tiny_plan):
    rows = {"全面清单": [[1, "x", T1, None, None, None, "进展", "正常推进"]]}
    by_name = write_progress_workbook(tmp_path / "大同农商银行4.25台账(1).xlsx", unit_text=None, report_date=None,
                                      sheets=rows)
    assert read(by_name, tiny_plan).unit_id == "rcb"
    unknown = write_progress_workbook(tmp_path / "台账.xlsx", unit_text="某某小额贷款公司", report_date=None, sheets=rows)
    led = read(unknown, tiny_plan)
    assert led.unit_id is None
    assert any(f.code == "unit_unknown" and "某某小额贷款公司" in f.message for f in led.findings)


def test_repeated_header_total_and_note_rows_are_not_data(tmp_path, tiny_plan):
    header = ["序号", "工作要求", "主要任务", "完成时限", "细化举措", "年度目标和效果", "双周进展情况", "进展状态"]
    path = write_progress_workbook(
        tmp_path / "c.xlsx", unit_text="市金融办", report_date="2022-06-25",
        sheets={"全面清单": [[1, "g", T1, None, None, None, "甲", "正常推进"], header,
                             [2, "g", T2, None, None, None, "乙", "正常推进"], ["合计", None, None]]},
    )
    led = read(path, tiny_plan)
    assert list(led.tables["progress"]["progress"]) == ["甲", "乙"]
    assert any(f.code == "total_row_skipped" for f in led.findings)


def test_combine_keeps_the_later_ledger_and_names_both(tmp_path, tiny_plan):
    rows = {"全面清单": [[1, "g", T1, None, None, None, "旧", "正常推进"]]}
    old = write_progress_workbook(tmp_path / "金融办0620.xlsx", unit_text="市金融办", report_date="2022-06-20", sheets=rows)
    rows_new = {"全面清单": [[1, "g", T1, None, None, None, "新", "正常推进"]]}
    new = write_progress_workbook(tmp_path / "金融办0624.xlsx", unit_text="市金融办", report_date="2022-06-24",
                                  sheets=rows_new)
    combined = ledgers.combine([read(new, tiny_plan), read(old, tiny_plan)], tiny_plan, dt.date(2022, 6, 25))
    assert list(combined.tables["progress"]["progress"]) == ["新"]
    dup = [f for f in combined.findings if f.code == "duplicate_ledger"]
    assert len(dup) == 1 and "金融办0620.xlsx" in dup[0].message and "金融办0624.xlsx" in dup[0].message
    assert combined.files.set_index("file").loc["金融办0620.xlsx", "used"] == False  # noqa: E712


def test_a_long_id_column_is_checked_as_cell_by_cell(monkeypatch):
    """A column of at least _VECTOR_MIN_IDS identifiers is checked with numpy (`valid_kinds`), a shorter one one by
    one (`check_id`): both give the same kinds, validity and findings, for valid, mistyped, short, lower-case and
    number-stored identifiers."""
    from helpers.core.identifiers import make_resident_id, make_uscc
    from helpers.ingest import sheets, tables
    from helpers.ingest.formats import LOANS

    ids: list[object] = []
    for i in range(12):
        uscc = make_uscc(f"9114020{i:010d}")
        resident = make_resident_id("140202", dt.date(1960 + i, 1 + i % 12, 1 + i), i)
        ids += [uscc, resident, uscc[:17] + ("0" if uscc[17] != "0" else "1"),
                resident[:17] + "X" * (resident[17] != "X"), uscc.lower(), resident[:15]]
    ids += [float(make_resident_id("140202", dt.date(1980, 5, 5), 1)[:17]), "9114020000000000E1", " " + ids[0]]
    header = ("借款人名称", "证件号码", "发放日期", "发放金额（万元）", "借款人类型")
    rows = ((1, header),) + tuple((2 + i, (f"借款人{i}", v, dt.datetime(2022, 6, 1), 10, "个人"))
                                  for i, v in enumerate(ids))
    sheet = sheets.Sheet("贷款明细", rows)

    def read() -> tuple[list, list, list]:
        tables._ID_MEMO.clear()
        table = tables.read_table(sheet, LOANS, file="x.xlsx")
        return (table.frame["borrower_id_kind"].tolist(), table.frame["borrower_id_valid"].tolist(),
                [(f.row, f.message) for f in table.findings if f.code == "bad_identifier"])

    assert len(ids) >= tables._VECTOR_MIN_IDS
    column_wise = read()
    monkeypatch.setattr(tables, "_VECTOR_MIN_IDS", len(ids) + 1)
    one_by_one = read()
    assert repr(column_wise) == repr(one_by_one)
    assert column_wise[1].count(True) == 37 and len(column_wise[2]) == len(ids) - 37   # lower case and spaces: valid
