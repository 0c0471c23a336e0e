"""Cycles and the working-day calendar.

A cycle is named by its report date `YYYY-MM-DD`, which falls on one of the plan's report days (the 10th and
25th). Working days follow China's official calendar, make-up workdays included: the office's calendar file
for the years it lists, else `chinese_calendar` (2004–2026); past both, `CalendarUnavailable` with a Chinese
message (see `workcalendar`).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Iterable, Sequence

from .workcalendar import CalendarUnavailable, WorkCalendar, office_calendar

CYCLE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# the report days of a plan that names none (plan.report_days); every caller passes the plan's own
DEFAULT_REPORT_DAYS = (10, 25)


class CycleError(ValueError):
    """A folder or argument that is not a valid cycle name."""


def parse_cycle(name: str, report_days: Sequence[int] = DEFAULT_REPORT_DAYS) -> dt.date:
    """The report date of a cycle name; raises CycleError (Chinese message) when it is not one."""
    if not CYCLE_PATTERN.match(str(name)):
        raise CycleError(f"周期名称「{name}」不是 YYYY-MM-DD 格式的报送日期")
    try:
        date = dt.date.fromisoformat(str(name))
    except ValueError as exc:
        raise CycleError(f"周期名称「{name}」不是有效日期") from exc
    if date.day not in report_days:
        days = "、".join(f"{d} 日" for d in report_days)
        raise CycleError(f"周期「{name}」不是报送日（每月 {days}）")
    return date


def cycle_name(date: dt.date) -> str:
    return date.isoformat()


def previous_cycle(date: dt.date, report_days: Sequence[int] = DEFAULT_REPORT_DAYS) -> dt.date:
    """The report date before `date`."""
    days = sorted(report_days)
    earlier = [d for d in days if d < date.day]
    if earlier:
        return date.replace(day=earlier[-1])
    first = date.replace(day=1) - dt.timedelta(days=1)
    return first.replace(day=days[-1])


def next_cycle(date: dt.date, report_days: Sequence[int] = DEFAULT_REPORT_DAYS) -> dt.date:
    """The report date after `date`."""
    days = sorted(report_days)
    later = [d for d in days if d > date.day]
    if later:
        return date.replace(day=later[0])
    month_end = (date.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return month_end.replace(day=days[0])


def cycles_between(start: dt.date, end: dt.date, report_days: Sequence[int] = DEFAULT_REPORT_DAYS) -> list[dt.date]:
    """Every report date d with start <= d <= end."""
    out = []
    day = start
    if day.day not in report_days:
        day = next_cycle(day, report_days)
    while day <= end:
        out.append(day)
        day = next_cycle(day, report_days)
    return out


def cycle_folders(names: Iterable[str], report_days: Sequence[int] = DEFAULT_REPORT_DAYS) -> list[str]:
    """The names that are valid cycles, sorted oldest first."""
    valid = []
    for name in names:
        try:
            parse_cycle(name, report_days)
        except CycleError:
            continue
        valid.append(name)
    return sorted(valid)


def elapsed_share(date: dt.date) -> float:
    """时序进度: the share of the calendar year elapsed at the end of `date`."""
    start = dt.date(date.year, 1, 1)
    end = dt.date(date.year, 12, 31)
    return ((date - start).days + 1) / ((end - start).days + 1)


def is_workday(date: dt.date) -> bool:
    """China's official calendar, make-up workdays (调休) included: the office's calendar file for the years it
    lists, else chinesecalendar (`workcalendar`)."""
    return office_calendar().is_workday(date)


def add_workdays(date: dt.date, count: int) -> dt.date:
    """The `count`-th working day after `date` (the day itself not counted)."""
    return _add_workdays(date, count, office_calendar())


@lru_cache(maxsize=4096)
def _add_workdays(date: dt.date, count: int, calendar: WorkCalendar) -> dt.date:
    """Remembered per calendar: the figures of every cycle of a year ask for the same days again."""
    day = date
    found = 0
    while found < count:
        day += dt.timedelta(days=1)
        if calendar.is_workday(day):
            found += 1
    return day
