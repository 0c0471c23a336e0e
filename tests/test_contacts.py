"""Whom to call: the 联系人 and 电话 a ledger gives (above its header or below its data, several labels in one cell,
the value in the next cell, a phone typed as a number) are read with the unit's name, kept in the files table,
and listed on the analyst's page for the units still missing or late, from their latest ledger that gives them.
The fixtures are written by real writers (tests/fixtures/real_writers/make_fixtures.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from helpers.ingest.ledgers import FILES_COLUMNS, combine, read_ledger
from helpers.ingest.sources import read_workbook
from helpers.ingest.unit_names import contact_of
from helpers.present import analyst

REAL = Path(__file__).parent / "fixtures" / "real_writers" / "contacts" / "2022-07-25"
CYCLE = dt.date(2022, 7, 25)


def read(name: str, plan):
    return read_ledger(read_workbook(REAL / name, root=REAL), plan, CYCLE)


def test_contact_sharing_a_cell_with_the_unit_line(datong):
    """xlsxwriter: 「填报单位：大同市财政局   联系人：王芳  联系电话：139 1234 5678」 in one cell above the header."""
    led = read("市财政局进展.xlsx", datong)
    assert led.unit_id == datong.find_unit("市财政局").id and led.unit_source == "填报单位"
    assert (led.contact, led.phone) == ("王芳", "13912345678")
    assert led.report_date == dt.date(2022, 7, 24)
    assert list(led.tables["progress"]["task_no"]) == [6]


def test_contact_below_the_data_with_values_beside_their_labels(datong):
    """LibreOffice .xls: 「填报人：」 李强 … 「联系方式：」 13512345678 (a number) below the data: read as the contact,
    not as a progress row (which would match no task and raise a finding)."""
    led = read("工行进展.xls", datong)
    assert led.unit_id == datong.find_unit("工行大同分行").id
    assert (led.contact, led.phone) == ("李强", "13512345678")
    assert list(led.tables["progress"]["task_no"]) == [1]
    assert not [f for f in led.findings if f.severity in ("error", "warning")], led.findings


def test_the_files_table_keeps_each_ledgers_contact(datong):
    ledgers = [read(name, datong) for name in ("市财政局进展.xlsx", "工行进展.xls")]
    files = combine(ledgers, datong, CYCLE).files
    assert list(files.columns) == FILES_COLUMNS
    assert dict(zip(files["contact"], files["phone"])) == {"王芳": "13912345678", "李强": "13512345678"}


@pytest.mark.parametrize("meta, expected", [
    ({"contact": "张伟  电话：0352-2345678"}, ("张伟", "0352-2345678")),   # the demo's task ledgers
    ({"contact": "张伟13812345678"}, ("张伟", "13812345678")),
    ({"contact": "李娜", "phone": 13812345678.0}, ("李娜", "13812345678")),
    ({"contact": "0352-7654321"}, (None, "0352-7654321")),
    ({"title": "某台账"}, (None, None)),
])
def test_contact_of_parts_a_name_from_its_number(meta, expected):
    assert contact_of([{"title": "t"}, meta]) == expected


def test_the_chase_list_names_whom_to_call_from_the_latest_ledger_that_gives_one():
    submissions = pd.DataFrame([
        {"unit_id": "a", "unit": "甲单位", "kind": "task", "received": False, "on_time": None, "report_date": None},
        {"unit_id": "b", "unit": "乙单位", "kind": "task", "received": True, "on_time": False,
         "report_date": "2022-06-27"},
        {"unit_id": "c", "unit": "丙单位", "kind": "task", "received": False, "on_time": None, "report_date": None},
        {"unit_id": "d", "unit": "丁单位", "kind": "task", "received": True, "on_time": True,
         "report_date": "2022-06-24"},
    ])
    year_files = pd.DataFrame([
        # 甲 sent nothing now: its earlier ledger's contact
        {"cycle": "2022-06-10", "unit_id": "a", "file": "甲.xlsx", "report_date": dt.date(2022, 6, 9),
         "contact": "赵敏", "phone": "13800000001"},
        # 乙 changed its contact; this cycle's ledger is the latest
        {"cycle": "2022-06-10", "unit_id": "b", "file": "乙旧.xlsx", "report_date": dt.date(2022, 6, 9),
         "contact": "钱多", "phone": "13800000002"},
        {"cycle": "2022-06-25", "unit_id": "b", "file": "乙.xlsx", "report_date": dt.date(2022, 6, 27),
         "contact": "孙立", "phone": "13800000003"},
        # 乙's later file of the same cycle that names nobody does not hide whom to call
        {"cycle": "2022-06-25", "unit_id": "b", "file": "乙补充.xlsx", "report_date": dt.date(2022, 6, 28),
         "contact": None, "phone": None},
        {"cycle": "2022-06-25", "unit_id": "d", "file": "丁.xlsx", "report_date": dt.date(2022, 6, 24),
         "contact": "周全", "phone": "13800000004"},
    ])
    html = analyst.chase_table(submissions, year_files)
    rows = {r.split("</td>")[0].split(">")[-1]: r for r in html.split("<tr>")[2:]}
    assert set(rows) == {"甲单位", "乙单位", "丙单位"}            # 丁 sent on time: not chased
    assert "赵敏" in rows["甲单位"] and "13800000001" in rows["甲单位"] and "2022-06-10：甲.xlsx" in rows["甲单位"]
    assert "孙立" in rows["乙单位"] and "13800000003" in rows["乙单位"] and "钱多" not in rows["乙单位"]
    assert "2022-06-25：乙补充.xlsx" in rows["乙单位"]
    assert "本年度未收到" in rows["丙单位"] and "<td>—</td><td>—</td>" in rows["丙单位"]
    assert '<a href="tel:13800000001">' in rows["甲单位"]             # one tap dials it from a phone
    assert "<th>联系人</th><th>电话</th>" in html


def test_a_contact_typed_with_markup_is_shown_as_text():
    submissions = pd.DataFrame([{"unit_id": "a", "unit": "甲单位", "kind": "task", "received": False, "on_time": None,
                                 "report_date": None}])
    year_files = pd.DataFrame([{"cycle": "2022-06-10", "unit_id": "a", "file": "甲.xlsx", "report_date": None,
                                "contact": "<b>赵敏</b>", "phone": "0352-1234567<script>"}])
    html = analyst.chase_table(submissions, year_files)
    assert "<b>" not in html and "<script>" not in html and "&lt;b&gt;赵敏&lt;/b&gt;" in html
    assert 'href="tel:03521234567"' in html
