"""Deadline phrases (完成时限) → dated milestones.

A key task's 完成时限 cell holds several milestones separated by `；` `，` `;` `,` `。`, e.g.
"4月末前形成工作方案；8月前评估中期执行效果；次年2月前评估年度执行效果。". `parse_deadline(text, Y)` turns it into
`Milestone`s, keeping the raw clause, the date, the rule used and whether the date is an interpretation
(DOMAIN.md §1), for the plan year Y:

| phrase                     | due                              | rule              | interpreted |
|----------------------------|----------------------------------|-------------------|-------------|
| X月末前 / X月底前           | last day of month X of Y         | X月末前            | no          |
| X月前                       | last day of month X−1 (1月前 → Y−1-12-31) | X月前     | yes         |
| 次年X月末前 / 次年X月底前    | last day of month X of Y+1       | 次年X月末前         | no          |
|   (明年, 下一年, 翌年 alike)  |                                  |                   |             |
| 次年X月前                   | last day of month X−1 of Y+1     | 次年X月前           | yes         |
| 年底前 / 年末前              | Y-12-31                          | 年底前             | no          |
| NNNN年前 (2023年前)         | (NNNN−1)-12-31                   | NNNN年前           | yes         |
| 年内持续推进                 | none: ongoing until Y-12-31      | 年内持续推进        | no          |

Also understood, for next years' plans: 次年年底前 (rule 次年年底前), NNNN年底前 (NNNN年底前), an explicit year before a
month (2023年3月末前 → rule NNNN年X月末前, likewise NNNN年X月前), and a day (6月30日前 → rule X月X日前, that day).

Clauses without a time phrase belong to the milestone before them ("6月末前，完成……推送银行业机构" is one
milestone); clauses before the first time phrase are put in front of it. A clause that looks like a time phrase
but matches no rule ("6月中旬前", "二季度末前", "尽快") yields no milestone: `unparsed_clauses` (or
`parse_deadline_detailed`) returns it so the plan loader can report it. Nothing here raises on odd text.

Seed damage tolerated: line-wrap spaces inside words, a stray "O"/"o" standing for "。" (or for 0 inside a number),
full-width digits, Chinese numerals for months (三月末前, 十二月底前).

Self-contained: stdlib only.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import Iterable

__all__ = [
    "Milestone",
    "DeadlineParse",
    "RULE_ONGOING",
    "normalize_deadline_text",
    "parse_deadline",
    "parse_deadline_detailed",
    "unparsed_clauses",
    "milestones_as_dicts",
]

RULE_ONGOING = "年内持续推进"
SEPARATORS = "；，;,。"


@dataclass(frozen=True)
class Milestone:
    """One dated step of a deadline text. `due` is None for an ongoing task (年内持续推进)."""

    text: str
    due: dt.date | None
    rule: str
    interpreted: bool

    @property
    def ongoing(self) -> bool:
        return self.due is None


@dataclass(frozen=True)
class DeadlineParse:
    """Everything `parse_deadline_detailed` found: the milestones and the clauses it could not date."""

    milestones: tuple[Milestone, ...]
    unparsed: tuple[str, ...]


# ---------------------------------------------------------------------------------------------------------------
# Normalising seed damage

_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")
_ASCII_ALPHA = re.compile(r"[A-Za-z]")


def _drop_wrap_spaces(text: str) -> str:
    """Remove whitespace runs (line wraps, full-width spaces) unless they separate two ASCII letters/digits."""

    def repl(m: re.Match[str]) -> str:
        before = text[m.start() - 1] if m.start() > 0 else ""
        after = text[m.end()] if m.end() < len(text) else ""
        if before and after and _ASCII_ALNUM.match(before) and _ASCII_ALNUM.match(after):
            return " "
        return ""

    return re.sub(r"\s+", repl, text)


def _fix_letter_o(text: str) -> str:
    """A lone "O"/"o" (not part of an ASCII word) is a damaged "。", or a damaged 0 inside a number."""
    out = []
    for i, ch in enumerate(text):
        if ch not in "Oo":
            out.append(ch)
            continue
        before = text[i - 1] if i > 0 else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if _ASCII_ALPHA.match(before or " ") or _ASCII_ALPHA.match(after or " "):
            out.append(ch)  # part of a word: leave it
        elif before.isdigit() and (after.isdigit() or after in ("年", "月", "日")):
            out.append("0")  # 2O23年, 1O月
        else:
            out.append("。")
    return "".join(out)


def normalize_deadline_text(text: str | None) -> str:
    """The deadline text with seed damage repaired: wrap spaces removed, full-width digits, stray "O" → "。"."""
    if not text:
        return ""
    s = str(text).translate(_FULLWIDTH_DIGITS)
    s = _drop_wrap_spaces(s)
    s = _fix_letter_o(s)
    return s.strip()


# ---------------------------------------------------------------------------------------------------------------
# Time phrases

_CN_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(?:[0-9]{1,2}|十[一二三四五六七八九]?|二十[一二三四五六七八九]?|三十[一]?|[一二三四五六七八九])"
_NEXT_YEAR = r"(?:次年|明年|下一年|翌年)"   # all the plan year + 1; the rule names say 次年
_YEAR_PREFIX = rf"(?:(?P<next>{_NEXT_YEAR})|(?P<year>[0-9]{{4}})年)?"
_NOT_AFTER_DIGIT = r"(?<![0-9])"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("ongoing", re.compile(r"年内持续推进")),
    ("next_year_end", re.compile(_NEXT_YEAR + r"(?:年底|年末|底|末)前")),
    ("year_end_of", re.compile(_NOT_AFTER_DIGIT + r"(?P<year>[0-9]{4})年(?:底|末)前")),
    ("day", re.compile(_NOT_AFTER_DIGIT + _YEAR_PREFIX + rf"(?P<month>{_NUM})月(?P<day>{_NUM})[日号]前")),
    ("month_end", re.compile(_NOT_AFTER_DIGIT + _YEAR_PREFIX + rf"(?P<month>{_NUM})月(?:末|底)前")),
    ("month_before", re.compile(_NOT_AFTER_DIGIT + _YEAR_PREFIX + rf"(?P<month>{_NUM})月前")),
    ("before_year", re.compile(_NOT_AFTER_DIGIT + r"(?P<year>[0-9]{4})年前")),
    ("year_end", re.compile(r"(?<![0-9次明翌])(?<!下一)年(?:底|末)前")),
]

# Something that reads like a time phrase: a clause holding one of these but matching no rule is reported.
_TIME_MARKER = re.compile(
    r"[0-9]{1,2}月|[一二三四五六七八九十]月|季度|[上下]半年|旬|年底|年末|年内|年前|月底|月末|月前|日前|号前"
    r"|[0-9]{4}年|次年|明年|下一年|翌年|尽快|近期|适时|周内|持续推进|长期"
)


def _number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text.startswith("十"):
        return 10 + (_CN_NUM[text[1]] if len(text) > 1 else 0)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return _CN_NUM[tens] * 10 + (_CN_NUM[ones] if ones else 0)
    return _CN_NUM[text]


def _last_day(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


class _Invalid(ValueError):
    """A phrase that matched a rule's shape but names no real date (13月末前, 2月30日前)."""


def _date_of(kind: str, m: re.Match[str], year: int) -> tuple[dt.date | None, str, bool]:
    """Due date, rule name and interpreted flag for one matched phrase."""
    groups = m.groupdict()
    if kind == "ongoing":
        return None, RULE_ONGOING, False
    if kind == "next_year_end":
        return dt.date(year + 1, 12, 31), "次年年底前", False
    if kind == "year_end":
        return dt.date(year, 12, 31), "年底前", False
    if kind == "year_end_of":
        return dt.date(int(groups["year"]), 12, 31), "NNNN年底前", False
    if kind == "before_year":
        return dt.date(int(groups["year"]) - 1, 12, 31), "NNNN年前", True

    if groups.get("next"):
        base, prefix = year + 1, "次年"
    elif groups.get("year"):
        base, prefix = int(groups["year"]), "NNNN年"
    else:
        base, prefix = year, ""
    month = _number(groups["month"])
    if not 1 <= month <= 12:
        raise _Invalid(m.group(0))
    if kind == "month_end":
        return _last_day(base, month), prefix + "X月末前", False
    if kind == "month_before":
        if month == 1:
            return dt.date(base - 1, 12, 31), prefix + "X月前", True
        return _last_day(base, month - 1), prefix + "X月前", True
    if kind == "day":
        try:
            return dt.date(base, month, _number(groups["day"])), prefix + "X月X日前", False
        except ValueError as exc:
            raise _Invalid(m.group(0)) from exc
    raise AssertionError(kind)  # pragma: no cover


def _find_phrases(clause: str) -> list[tuple[str, re.Match[str]]]:
    """Non-overlapping time phrases in a clause, left to right; at one position the longest wins."""
    found: list[tuple[str, re.Match[str]]] = []
    pos = 0
    while pos < len(clause):
        best: tuple[str, re.Match[str]] | None = None
        for kind, pattern in _PATTERNS:
            m = pattern.search(clause, pos)
            if m is None:
                continue
            if best is None or m.start() < best[1].start() or (
                m.start() == best[1].start() and m.end() > best[1].end()
            ):
                best = (kind, m)
        if best is None:
            break
        found.append(best)
        pos = best[1].end()
    return found


# ---------------------------------------------------------------------------------------------------------------
# Parsing


def _clauses(text: str) -> list[tuple[str, str]]:
    """(separator before the clause, clause) pairs; empty clauses dropped."""
    parts = re.split(f"([{SEPARATORS}])", text)
    out: list[tuple[str, str]] = []
    sep = ""
    for i, part in enumerate(parts):
        if i % 2 == 1:
            sep = part
            continue
        if part.strip():
            out.append((sep if out else "", part.strip()))
        sep = ""
    return out


def parse_deadline_detailed(text: str | None, year: int) -> DeadlineParse:
    """Milestones and unparsed clauses of a 完成时限 text for plan year `year`. Never raises on odd text."""
    if not isinstance(year, int) or isinstance(year, bool):
        raise TypeError(f"year must be an int, got {year!r}")
    s = normalize_deadline_text(text)
    if not s:
        return DeadlineParse((), ())

    # Each item: [kind, text, due, rule, interpreted]; kind is "m" (milestone) or "u" (unparsed clause).
    items: list[list] = []
    leading = ""  # clauses before the first time phrase: they go in front of it
    for sep, clause in _clauses(s):
        phrases = _find_phrases(clause)
        if not phrases:
            if _TIME_MARKER.search(clause):
                items.append(["u", (leading + sep if leading else "") + clause, None, "", False])
                leading = ""
            elif items:
                items[-1][1] += sep + clause
            else:
                leading += sep + clause
            continue
        for i, (kind, m) in enumerate(phrases):
            start = 0 if i == 0 else m.start()
            end = phrases[i + 1][1].start() if i + 1 < len(phrases) else len(clause)
            piece = clause[start:end]
            if i == 0:
                piece = (leading + sep if leading else "") + piece
                leading = ""
            try:
                due, rule, interpreted = _date_of(kind, m, year)
            except _Invalid:
                items.append(["u", piece, None, "", False])
                continue
            items.append(["m", piece, due, rule, interpreted])
    if leading:
        items.append(["u", leading, None, "", False])

    milestones = tuple(
        Milestone(text=t.strip(SEPARATORS + " "), due=due, rule=rule, interpreted=interp)
        for kind, t, due, rule, interp in items
        if kind == "m"
    )
    unparsed = tuple(t.strip(SEPARATORS + " ") for kind, t, *_ in items if kind == "u")
    return DeadlineParse(milestones, unparsed)


def parse_deadline(text: str | None, year: int) -> list[Milestone]:
    """The milestones of a 完成时限 text for plan year `year` (empty for None, blank or undatable text)."""
    return list(parse_deadline_detailed(text, year).milestones)


def unparsed_clauses(text: str | None, year: int) -> list[str]:
    """Clauses of a 完成时限 text that look like a deadline but match no rule (for the loader to report)."""
    return list(parse_deadline_detailed(text, year).unparsed)


def milestones_as_dicts(milestones: Iterable[Milestone]) -> list[dict]:
    """The YAML form of milestones: [{text, due (date or None), rule, interpreted}, …]."""
    return [asdict(m) for m in milestones]
