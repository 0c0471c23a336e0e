"""The working-day calendar the office keeps by hand (core stage), consulted before `chinese_calendar`.

`chinese_calendar` knows China's holidays and make-up workdays (调休) only as far as its release (2026 today).
When the State Council publishes the next year's holiday notice (国务院办公厅关于X年部分节假日安排的通知), the office
types it into ``data/calendar/workdays.yaml`` (or the file named by ``TAIZHANG_CALENDAR``):

    years:
      2027:
        source: 国务院办公厅关于2027年部分节假日安排的通知
        holidays: [2027-01-01, 2027-02-06..2027-02-13]   # 放假的日子; a..b is every day from a to b
        workdays: [2027-02-14]                           # 调休上班的周末
    longest_break: 9                                     # the longest run of days off of any holiday, in days

A year listed there is decided by the file alone (weekends are days off unless listed as workdays; holidays are
days off); other years by `chinese_calendar`; a year neither covers raises `CalendarUnavailable`. The file is
validated when read: a date outside its year, a day both holiday and workday, a weekday listed as a make-up
workday, a year without holidays or without its source are errors naming the place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .locations import repo_path

DEFAULT_FILE = "data/calendar/workdays.yaml"
ENV_VAR = "TAIZHANG_CALENDAR"
DEFAULT_LONGEST_BREAK = 9      # days off in a row around a holiday (春节 2025: 8 days; 9 leaves a margin)


class CalendarUnavailable(RuntimeError):
    """No calendar (the office's file or chinesecalendar) covers the date asked for."""


class CalendarFileError(ValueError):
    """The office's calendar file breaks a rule; the message is Chinese and names the place."""


@dataclass(frozen=True, eq=False)   # hashed by identity: per-calendar caches key on it
class WorkCalendar:
    """Holidays and make-up workdays per year typed in by the office, with the path they came from."""

    holidays: dict[int, frozenset[dt.date]] = field(default_factory=dict)
    workdays: dict[int, frozenset[dt.date]] = field(default_factory=dict)
    sources: dict[int, str] = field(default_factory=dict)
    longest_break: int = DEFAULT_LONGEST_BREAK
    path: Path | None = None

    def covers(self, year: int) -> bool:
        return year in self.holidays

    def is_workday(self, date: dt.date) -> bool:
        """The office's file for the years it lists, else chinesecalendar; `CalendarUnavailable` past both."""
        if self.covers(date.year):
            if date in self.workdays[date.year]:
                return True
            return date.weekday() < 5 and date not in self.holidays[date.year]
        import chinese_calendar  # local import: only the reply-rate indicator needs it

        try:
            return chinese_calendar.is_workday(date)
        except NotImplementedError as exc:
            where = f"，也不在工作日历文件 {self.path.name} 中" if self.path else ""
            raise CalendarUnavailable(
                f"官方节假日历（chinesecalendar）尚未覆盖 {date.year} 年{where}，无法计算工作日；"
                f"请在 {DEFAULT_FILE} 中按国务院办公厅当年节假日安排通知录入 {date.year} 年的放假和调休上班日期"
            ) from exc


def _dates(value: Any, year: int, place: str, problems: list[str]) -> set[dt.date]:
    out: set[dt.date] = set()
    for i, item in enumerate(value or []):
        text = item.isoformat() if isinstance(item, dt.date) else str(item).strip()
        first, _, last = text.partition("..")
        try:
            start = dt.date.fromisoformat(first.strip())
            end = dt.date.fromisoformat(last.strip()) if last else start
        except ValueError:
            problems.append(f"{place}[{i}]「{text}」不是日期（YYYY-MM-DD 或 YYYY-MM-DD..YYYY-MM-DD）")
            continue
        if end < start or end - start > dt.timedelta(days=31):
            problems.append(f"{place}[{i}]「{text}」的区间不合理（结束早于开始或超过 31 天）")
            continue
        day = start
        while day <= end:
            if day.year != year:
                problems.append(f"{place}[{i}]「{day.isoformat()}」不在 {year} 年")
            out.add(day)
            day += dt.timedelta(days=1)
    return out


def parse_calendar(text: str, path: Path | None = None) -> WorkCalendar:
    """A `WorkCalendar` from the file's YAML text; `CalendarFileError` listing every problem."""
    name = path.name if path else "工作日历"
    try:
        root = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise CalendarFileError(f"{name}：不是有效的 YAML（{exc}）") from None
    problems: list[str] = []
    if not isinstance(root, dict):
        raise CalendarFileError(f"{name}：顶层应为映射（years、longest_break）")
    longest = root.get("longest_break", DEFAULT_LONGEST_BREAK)
    if not isinstance(longest, int) or not 1 <= longest <= 31:
        problems.append(f"longest_break「{longest}」应为 1–31 之间的整数（天）")
        longest = DEFAULT_LONGEST_BREAK
    holidays: dict[int, frozenset[dt.date]] = {}
    workdays: dict[int, frozenset[dt.date]] = {}
    sources: dict[int, str] = {}
    years = root.get("years") or {}
    if not isinstance(years, dict):
        problems.append("years 应为 年份 → {source, holidays, workdays} 的映射")
        years = {}
    for year, entry in years.items():
        if not isinstance(year, int) or not 2000 <= year <= 2100:
            problems.append(f"years 的键「{year}」应为四位年份")
            continue
        if not isinstance(entry, dict):
            problems.append(f"years.{year} 应为 {{source, holidays, workdays}}")
            continue
        off = _dates(entry.get("holidays"), year, f"years.{year}.holidays", problems)
        on = _dates(entry.get("workdays"), year, f"years.{year}.workdays", problems)
        for day in sorted(off & on):
            problems.append(f"years.{year}：{day.isoformat()} 既列为放假又列为调休上班")
        for day in sorted(d for d in on if d.weekday() < 5):
            problems.append(f"years.{year}.workdays：{day.isoformat()} 是周一至周五，本就上班，不是调休")
        if not off:
            problems.append(f"years.{year}.holidays 为空：请按当年节假日安排通知录入放假日期")
        if not str(entry.get("source") or "").strip():
            problems.append(f"years.{year}.source 为空：请写明依据的通知名称和文号")
        holidays[year], workdays[year] = frozenset(off), frozenset(on)
        sources[year] = str(entry.get("source") or "")
    if problems:
        raise CalendarFileError(f"{name} 有 {len(problems)} 处问题：" + "；".join(problems))
    return WorkCalendar(holidays, workdays, sources, longest, path)


def calendar_path() -> Path:
    return repo_path(os.environ.get(ENV_VAR) or DEFAULT_FILE)


@lru_cache(maxsize=8)
def _load(path: Path, stamp: tuple[int, int]) -> WorkCalendar:
    return parse_calendar(path.read_text(encoding="utf-8"), path)


def calendar_digest() -> str:
    """The office's calendar file in the indicators' fingerprint: figures made before a year was typed in are
    recomputed once it is."""
    path = calendar_path()
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "none"


def office_calendar() -> WorkCalendar:
    """The office's calendar file (``TAIZHANG_CALENDAR`` or `DEFAULT_FILE`), read again when it changes; an
    empty calendar when there is no file."""
    path = calendar_path()
    if not path.is_file():
        return WorkCalendar(path=None)
    stat = path.stat()
    return _load(path, (stat.st_mtime_ns, stat.st_size))


def _weekdays_after(date: dt.date, count: int) -> dt.date:
    day, found = date, 0
    while found < count:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            found += 1
    return day


def deadline_bounds(date: dt.date, count: int, longest_break: int = DEFAULT_LONGEST_BREAK) -> tuple[dt.date, dt.date]:
    """Whatever a year's holidays turn out to be, the `count`-th working day after `date` lies within these two
    days: no earlier than `count` calendar days later (every day a workday), no later than `count` weekdays later
    plus the longest holiday break (one holiday period falls within a few weeks)."""
    earliest = date + dt.timedelta(days=count)
    latest = _weekdays_after(date + dt.timedelta(days=longest_break), count)
    return earliest, latest
