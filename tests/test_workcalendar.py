"""The office's calendar file, consulted before chinesecalendar (issue 16)."""

import datetime as dt

import pytest

from helpers.core import cycles
from helpers.core import workcalendar as wc

# a 2027 as the office would type it (dates invented for the test; the real notice decides)
TEXT_2027 = """
longest_break: 9
years:
  2027:
    source: 国务院办公厅关于2027年部分节假日安排的通知（测试）
    holidays: [2027-01-01, 2027-02-06..2027-02-13, 2027-10-01..2027-10-07]
    workdays: [2027-02-14, 2027-10-09]
"""


def test_office_file_decides_its_years(tmp_path, monkeypatch):
    path = tmp_path / "cal.yaml"
    path.write_text(TEXT_2027, encoding="utf-8")
    monkeypatch.setenv(wc.ENV_VAR, str(path))
    cal = wc.office_calendar()
    assert cal.covers(2027) and not cal.covers(2026)
    assert not cycles.is_workday(dt.date(2027, 2, 8))       # a Monday of the 春节 holiday
    assert cycles.is_workday(dt.date(2027, 2, 14))          # the Sunday worked instead (调休)
    assert not cycles.is_workday(dt.date(2027, 2, 20))      # an ordinary Saturday
    assert cycles.is_workday(dt.date(2027, 2, 15))
    # applied Fri 2027-02-05: 5 workdays are 02-14 (Sun, 调休), 02-15, 02-16, 02-17, 02-18
    assert cycles.add_workdays(dt.date(2027, 2, 5), 5) == dt.date(2027, 2, 18)
    # 2026 still from chinesecalendar: 2026-10-01 is 国庆
    assert not cycles.is_workday(dt.date(2026, 10, 1))


def test_a_year_neither_covers_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv(wc.ENV_VAR, str(tmp_path / "missing.yaml"))
    with pytest.raises(wc.CalendarUnavailable, match="2031"):
        cycles.add_workdays(dt.date(2031, 3, 2), 5)


def test_the_file_is_validated():
    bad = """
longest_break: 40
years:
  2027:
    holidays: [2027-02-06..2027-02-13, 2026-12-31, 二月一日]
    workdays: [2027-02-08, 2027-02-10]
"""
    with pytest.raises(wc.CalendarFileError) as err:
        wc.parse_calendar(bad)
    text = str(err.value)
    for part in ("longest_break", "2026-12-31」不在 2027 年", "「二月一日」不是日期", "2027-02-08 既列为放假又列为调休上班",
                 "2027-02-10 是周一至周五", "source 为空"):
        assert part in text


def test_the_shipped_file_is_valid():
    cal = wc.parse_calendar((wc.repo_path(wc.DEFAULT_FILE)).read_text(encoding="utf-8"))
    assert cal.longest_break == 9


def test_deadline_bounds():
    # Mon 2031-03-03, 5 workdays: at least 03-08 (every day a workday), at most 5 weekdays after 03-12 → 03-19
    assert wc.deadline_bounds(dt.date(2031, 3, 3), 5, 9) == (dt.date(2031, 3, 8), dt.date(2031, 3, 19))
    # the true deadline of a covered year lies within its bounds: 2025's 春节 (01-28..02-04, 01-26 and 02-08 worked)
    for day in (dt.date(2025, 1, 24), dt.date(2025, 1, 27), dt.date(2025, 9, 30), dt.date(2025, 4, 30)):
        earliest, latest = wc.deadline_bounds(day, 5, 9)
        assert earliest <= cycles.add_workdays(day, 5) <= latest


def test_calendar_digest_changes_with_the_file(tmp_path, monkeypatch):
    path = tmp_path / "cal.yaml"
    monkeypatch.setenv(wc.ENV_VAR, str(path))
    assert wc.calendar_digest() == "none"
    path.write_text(TEXT_2027, encoding="utf-8")
    first = wc.calendar_digest()
    path.write_text(TEXT_2027.replace("2027-10-09", "2027-10-10"), encoding="utf-8")
    assert wc.calendar_digest() not in (first, "none")
