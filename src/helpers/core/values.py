"""Parsing helpers for single cell values, as openpyxl, calamine or a CSV reader deliver them.

A cell arrives as `str`, `int`, `float`, `bool`, `datetime.datetime`, `datetime.date` or `None`. Each
`parse_*` function returns a clean Python value or `None` for a blank cell, and raises `ValueProblem`
(a `ValueError` with a short Chinese message) for anything it cannot read with confidence. Callers turn
`ValueProblem` into a finding; nothing here guesses silently.

These helpers are pure: no files, no pandas, no plan. Units come from headers (`amount_factor`), never
from the cell, so a stray "万元" inside a cell is ignored rather than applied twice.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import numbers
import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, DecimalException
from functools import lru_cache


__all__ = [
    "ValueProblem",
    "amount_factor",
    "clean_text",
    "is_blank",
    "parse_bool",
    "parse_choice",
    "parse_date",
    "parse_number",
    "similarity",
    "text_key",
]


class ValueProblem(ValueError):
    """A cell value that cannot be read; the message is Chinese and meant for people."""


# Placeholders that units type into cells they have nothing to report for.
_BLANK_TOKENS = frozenset({"", "-", "--", "—", "——", "–", "/", "无"})

# Excel shows these in cells whose formula failed; their cached value is the error text.
_EXCEL_ERRORS = frozenset(
    {
        "#REF!", "#DIV/0!", "#N/A", "#VALUE!", "#NAME?", "#NUM!", "#NULL!",
        "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#UNKNOWN!", "#CONNECT!", "#BUSY!", "#GETTING_DATA",
    }
)

# Minus signs that NFKC leaves alone.
_MINUS_SIGNS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-"})


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _is_missing_marker(value: object) -> bool:
    """pandas' NA and NaT, recognised by type name so this module needs no pandas import."""
    return type(value).__name__ in {"NAType", "NaTType"}


def is_blank(value: object) -> bool:
    """True for None, pandas NA/NaT, empty or whitespace-only text and the placeholders "-", "—", "／", "无"."""
    if value is None or _is_missing_marker(value):
        return True
    if isinstance(value, str):
        return "".join(_nfkc(value).split()) in _BLANK_TOKENS
    return False


def _excel_error(text: str) -> str | None:
    """The Excel error code a text holds, if any (also when typed in full-width)."""
    code = "".join(_nfkc(text).split()).upper()
    return code if code in _EXCEL_ERRORS else None


def _raise_if_excel_error(value: object) -> None:
    if isinstance(value, str):
        code = _excel_error(value)
        if code is not None:
            raise ValueProblem(f"单元格为错误值「{code}」")


def _show(value: object) -> str:
    """A value as it should appear inside 「」 in a message: short, one line."""
    text = str(value).replace("\n", " ").strip()
    return text if len(text) <= 40 else text[:37] + "…"


# --------------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------------

# Unit words a cell may carry; the header decides the unit, so these are only stripped.
# Longest first so that "个基点" wins over "个" and "万元" over "元".
_UNIT_WORDS = ("个基点", "亿元", "万元", "元", "户", "个", "笔", "bp")
_UNIT_RE = "|".join(re.escape(u) for u in _UNIT_WORDS)
_NUMBER_RE = re.compile(
    rf"""
    ^(?P<open>\()?
    (?P<sign>[+-])?
    (?P<num>
        (?:[0-9]{{1,3}}(?:[,'][0-9]{{3}})+|[0-9]+)(?:\.[0-9]*)?   # integer part, optionally grouped
        |\.[0-9]+                                          # or ".5"
    )
    (?P<exp>e[+-]?[0-9]{{1,4}})?
    (?P<pct>[%‰])?
    (?P<unit1>{_UNIT_RE})?
    (?P<close>\))?
    (?P<unit2>{_UNIT_RE})?$
    """,
    re.VERBOSE | re.IGNORECASE,
)


def parse_number(value: object) -> float | None:
    """A cell as a number, or None when blank.

    Accepts numbers and texts such as "1,234.50", "１２３４", "(500)", "（1,234）", "+3", "12.5%" (→ 0.125),
    "3.2万元" (→ 3.2: the header, not the cell, decides the unit). Raises ValueProblem for anything else,
    including Excel error values, booleans, dates, NaN and infinity.
    """
    if is_blank(value):
        return None
    if isinstance(value, bool):
        # openpyxl gives bool for TRUE/FALSE cells; a flag is never an amount.
        raise ValueProblem(f"无法识别的数字「{value}」：单元格是逻辑值")
    if isinstance(value, (dt.date, dt.datetime)):
        raise ValueProblem(f"无法识别的数字「{_show(value)}」：单元格是日期")
    if isinstance(value, (numbers.Real, Decimal)):
        number = float(value)
    elif isinstance(value, str):
        number = _parse_number_text(value)
    else:
        raise ValueProblem(f"无法识别的数字「{_show(value)}」")
    if not math.isfinite(number):
        raise ValueProblem(f"无法识别的数字「{_show(value)}」：不是有限数值")
    return number


def _parse_number_text(raw: str) -> float:
    _raise_if_excel_error(raw)
    text = _nfkc(raw).translate(_MINUS_SIGNS)
    text = "".join(text.split())
    # A leading apostrophe is Excel's "store as text" marker leaking through CSV exports.
    if text.startswith("'"):
        text = text[1:]
    match = _NUMBER_RE.match(text)
    problem = ValueProblem(f"无法识别的数字「{_show(raw)}」")
    if match is None:
        raise problem
    parts = match.groupdict()
    if bool(parts["open"]) != bool(parts["close"]):
        raise problem
    if parts["open"] and parts["sign"]:
        # "(-5)" or "(+5)": the writer's intent is unclear.
        raise problem
    if parts["unit1"] and parts["unit2"]:
        raise problem
    if parts["pct"] and (parts["unit1"] or parts["unit2"]):
        raise problem
    digits = parts["num"].replace(",", "").replace("'", "") + (parts["exp"] or "")
    try:
        number = Decimal(digits)
        if parts["pct"] == "%":
            number = number / 100
        elif parts["pct"] == "‰":
            number = number / 1000
        result = float(number)
    except (DecimalException, ValueError, OverflowError):
        raise problem from None
    negative = parts["open"] is not None or parts["sign"] == "-"
    return -result if negative else result


def amount_factor(header: str) -> float:
    """Multiplier that converts amounts under `header` to 万元 (the default unit).

    "…（亿元）" → 10000; "…（万元）" → 1; "…（元）" → 0.0001; "…（千元）" → 0.1; no unit → 1.
    """
    text = "".join(_nfkc(str(header)).split())
    # Words that contain 元 without being a unit must not turn a 万元 column into 元.
    for word in ("多元", "单元", "元旦", "公元", "一元化", "二元"):
        text = text.replace(word, "")
    if "亿元" in text:
        return 10000.0
    if "万元" in text:
        return 1.0
    if "千元" in text:
        return 0.1
    if "元" in text:
        return 0.0001
    return 1.0


# --------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------

_EXCEL_MAX_SERIAL_1900 = 2958465  # 9999-12-31
_EXCEL_MAX_SERIAL_1904 = 2957003  # 9999-12-31
_TIME_SUFFIX_RE = re.compile(r"(?:T|\s+)[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?$")
_SEPARATED_RE = re.compile(r"^([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})$")
_SHORT_YEAR_RE = re.compile(r"^[0-9]{2}(?:[-/.][0-9]{1,2}[-/.][0-9]{1,2}|年.*)$")
_CJK_DATE_RE = re.compile(r"^(.+?)年(.+?)月(.+?)[日号]?$")
_CN_DIGITS = {"〇": 0, "○": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def parse_date(value: object, *, epoch_1904: bool = False) -> dt.date | None:
    """A cell as a date, or None when blank.

    Accepts dates and datetimes; Excel serial numbers (1900 system with its fictitious 1900-02-29, or the
    1904 system when `epoch_1904`); 8-digit numbers 20220615; and texts "2022-06-15", "2022/6/15",
    "2022.6.15", "2022年6月15日", "20220615", "2022-6-15 00:00:00", "二〇二二年六月十五日" (full-width and
    spaced forms too). Two-digit years and impossible dates raise ValueProblem.
    """
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueProblem(f"无法识别的日期「{value}」：单元格是逻辑值")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (numbers.Real, Decimal)):
        return _date_from_number(value, epoch_1904=epoch_1904)
    if isinstance(value, str):
        return _parse_date_text(value, epoch_1904=epoch_1904)
    raise ValueProblem(f"无法识别的日期「{_show(value)}」")


def _date_from_number(value: numbers.Real | Decimal, *, epoch_1904: bool) -> dt.date:
    number = float(value)
    if not math.isfinite(number):
        raise ValueProblem(f"无法识别的日期「{_show(value)}」")
    whole = math.floor(number)
    # Numbers such as 20220615 are dates typed without separators, not serials (serials stop at 2958465).
    if number == whole and 10000101 <= whole <= 99991231:
        return _make_date(whole // 10000, whole // 100 % 100, whole % 100, raw=value)
    return _date_from_serial(whole, raw=value, epoch_1904=epoch_1904)


def _date_from_serial(serial: int, *, raw: object, epoch_1904: bool) -> dt.date:
    if epoch_1904:
        if not 0 <= serial <= _EXCEL_MAX_SERIAL_1904:
            raise ValueProblem(f"无法识别的日期「{_show(raw)}」：超出 Excel 日期序号范围")
        return dt.date(1904, 1, 1) + dt.timedelta(days=serial)
    if not 1 <= serial <= _EXCEL_MAX_SERIAL_1900:
        raise ValueProblem(f"无法识别的日期「{_show(raw)}」：超出 Excel 日期序号范围")
    if serial == 60:
        # Excel's 1900 system counts a 1900-02-29 that never existed (kept for Lotus 1-2-3 compatibility).
        raise ValueProblem(f"无法识别的日期「{_show(raw)}」：Excel 序号 60 对应不存在的 1900-02-29")
    if serial < 60:
        return dt.date(1899, 12, 31) + dt.timedelta(days=serial)
    return dt.date(1899, 12, 30) + dt.timedelta(days=serial)


def _make_date(year: int, month: int, day: int, *, raw: object) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueProblem(f"无法识别的日期「{_show(raw)}」：日历上不存在该日期") from None


def _cn_small_number(text: str) -> int | None:
    """一 … 三十一 (also 廿, 卅), or ASCII digits; None when it is neither."""
    if re.fullmatch(r"[0-9]{1,2}", text):
        return int(text)
    text = text.replace("廿", "二十").replace("卅", "三十")
    if text in _CN_DIGITS:
        return _CN_DIGITS[text]
    match = re.fullmatch(r"([一二三四五六七八九]?)十([一二三四五六七八九]?)", text)
    if match is None:
        return None
    tens = _CN_DIGITS[match.group(1)] if match.group(1) else 1
    ones = _CN_DIGITS[match.group(2)] if match.group(2) else 0
    return tens * 10 + ones


def _cn_year(text: str) -> int | None:
    """"2022" or "二〇二二" (digit by digit); None for anything else."""
    if re.fullmatch(r"[0-9]{4}", text):
        return int(text)
    if len(text) == 4 and all(ch in _CN_DIGITS for ch in text):
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    return None


def _parse_date_text(raw: str, *, epoch_1904: bool) -> dt.date:
    _raise_if_excel_error(raw)
    problem = ValueProblem(f"无法识别的日期「{_show(raw)}」")
    text = _nfkc(raw).strip()
    text = _TIME_SUFFIX_RE.sub("", text)
    text = "".join(text.split())
    if _SHORT_YEAR_RE.match(text):
        raise ValueProblem(f"无法识别的日期「{_show(raw)}」：年份只有两位，无法确定世纪")
    if match := _SEPARATED_RE.match(text):
        return _make_date(int(match.group(1)), int(match.group(3)), int(match.group(4)), raw=raw)
    if re.fullmatch(r"[0-9]{8}", text):
        return _make_date(int(text[:4]), int(text[4:6]), int(text[6:]), raw=raw)
    if re.fullmatch(r"[0-9]{5}(?:\.[0-9]+)?", text):
        # A serial number that reached us as text (CSV export of a date cell).
        return _date_from_serial(math.floor(float(text)), raw=raw, epoch_1904=epoch_1904)
    if match := _CJK_DATE_RE.match(text):
        year = _cn_year(match.group(1))
        month = _cn_small_number(match.group(2))
        day = _cn_small_number(match.group(3))
        if year is None or month is None or day is None:
            raise problem
        return _make_date(year, month, day, raw=raw)
    raise problem


# --------------------------------------------------------------------------------------------------
# Booleans and choices
# --------------------------------------------------------------------------------------------------

_TRUE_WORDS = frozenset({"是", "y", "yes", "1", "1.0", "√", "✓", "✔", "对", "true"})
_FALSE_WORDS = frozenset({"否", "n", "no", "0", "0.0", "×", "✗", "✘", "错", "false"})


def parse_bool(value: object) -> bool | None:
    """是/否, Y/N, yes/no, 1/0, √/×, 对/错, True/False as a bool; None when blank.

    "无" counts as blank (as for numbers), not as 否: the unit left the cell unfilled.
    """
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool):
        number = float(value)
        if number in (0.0, 1.0):
            return number == 1.0
        raise ValueProblem(f"无法识别的是/否「{_show(value)}」：应填 是 或 否")
    if isinstance(value, str):
        _raise_if_excel_error(value)
        word = "".join(_nfkc(value).split()).lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise ValueProblem(f"无法识别的是/否「{_show(value)}」：应填 是 或 否")


def _choice_key(text: str) -> str:
    return "".join(_nfkc(text).split()).lower()


def parse_choice(value: object, choices: Mapping[str, str]) -> str | None:
    """Map a cell to a canonical value through `choices` (synonym → canonical); None when blank.

    Matching ignores spaces, full-width forms and ASCII case; canonical values match themselves.
    Unknown values raise ValueProblem listing the allowed canonical values.
    """
    if is_blank(value):
        return None
    _raise_if_excel_error(value)
    lookup: dict[str, str] = {}
    for canonical in choices.values():
        lookup.setdefault(_choice_key(canonical), canonical)
    for synonym, canonical in choices.items():
        lookup[_choice_key(synonym)] = canonical
    # A code typed as 1 comes back from Excel as 1.0.
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    found = lookup.get(_choice_key(text))
    if found is not None:
        return found
    allowed = "、".join(dict.fromkeys(choices.values()))
    raise ValueProblem(f"无法识别的取值「{_show(value)}」，应为：{allowed}")


# --------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------

# CJK ideographs and the punctuation that sits between them without spaces (full-width forms, 、。「」《》,
# curly quotes, em dash, ellipsis, middle dot). Full-width letters and digits are narrowed before use.
_CJK = (
    "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
    "\u2018-\u201f\u2014\u2026\u00b7\U00020000-\U0003134f"
)
_CJK_CHAR_RE = re.compile(f"[{_CJK}]")
# "O"/"o" typed (or OCR'd) for "。": right after Chinese text, at the end of the text or of a line.
_O_FOR_FULL_STOP_RE = re.compile(rf"(?<=[{_CJK}])\s*[Oo](?=[ \t\u3000]*(?:[\r\n]|$))")
_FULLWIDTH_RANGES = ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))  # ０-９, Ａ-Ｚ, ａ-ｚ
_FULLWIDTH_ALNUM = {cp: cp - 0xFEE0 for first, last in _FULLWIDTH_RANGES for cp in range(first, last + 1)}


# Text `clean_text` leaves as it is: CJK unified ideographs (all assigned), ASCII letters and digits, brackets.
_PLAIN_TEXT = re.compile(r"[\u4e00-\u9fff0-9A-Za-z（）()]+")


def _is_cjk(ch: str) -> bool:
    return bool(_CJK_CHAR_RE.match(ch))


def _collapse_space(match: re.Match[str]) -> str:
    text = match.string
    before = text[match.start() - 1] if match.start() > 0 else ""
    after = text[match.end()] if match.end() < len(text) else ""
    if before and after and _is_cjk(before) and _is_cjk(after):
        return ""  # a line-wrap inside Chinese text: "信用贷 款" → "信用贷款"
    return " "


def is_plain_text(text: str) -> bool:
    """Chinese characters, letters, digits and brackets only, not ending in "O": a text `clean_text` returns as it
    is (the usual case)."""
    return _PLAIN_TEXT.fullmatch(text) is not None and text[-1] not in "Oo"


_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def clean_text(value: object) -> str | None:
    """Text for display: None when blank, else the text with line-wrap damage repaired.

    Removes zero-width and control characters, narrows full-width letters and digits (keeping Chinese
    punctuation), turns a sentence-final "O" into "。", drops whitespace between Chinese characters and
    collapses other whitespace runs to one space.
    """
    if type(value) is str and _PLAIN_TEXT.fullmatch(value) and value[-1] not in "Oo":
        return value        # nothing to repair (`is_plain_text`, inlined: a hot path)
    if value is None or _is_missing_marker(value):
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        text = str(int(value)) if value.is_integer() and abs(value) < 1e16 else str(value)
    else:
        text = str(value)
    if not text.isprintable():
        # zero-width spaces, BOMs, soft hyphens, stray control bytes dropped, whitespace kept (a printable
        # character is in none of these categories, and a printable text has none of them: no loop)
        text = "".join([ch for ch in text if ch.isprintable() or ch.isspace()
                        or unicodedata.category(ch) not in _INVISIBLE_CATEGORIES])
    text = text.translate(_FULLWIDTH_ALNUM)
    text = _O_FOR_FULL_STOP_RE.sub("。", text)
    text = re.sub(r"\s+", _collapse_space, text).strip()
    return text or None


_DASHES = frozenset("—－-–―‐‑‒ー─━")


def text_key(value: object) -> str:
    """A key for matching task texts: equal for texts that differ only by formatting or seed damage.

    clean_text, NFKC, lower-case, then drop whitespace, punctuation, dashes, a stray "o" standing for
    "。", and every "一": the seeds print "—" as "一", and one cannot tell which "一" is a dash, so all
    are dropped on both sides (a key is for comparison only, never for display).
    """
    text = clean_text(value) or ""
    text = _nfkc(text).lower()
    text = re.sub(r"(?<![0-9a-z])o(?![0-9a-z])", "", text)
    return "".join(
        ch
        for ch in text
        if not ch.isspace()
        and ch not in _DASHES
        and ch != "一"
        and unicodedata.category(ch)[0] not in "PM"  # punctuation; combining marks NFKC splits off (¨ → " ̈")
    )


def similarity(a: object, b: object) -> float:
    """Similarity of two texts in [0, 1] over their `text_key`s; 1.0 for two blanks."""
    key_a, key_b = text_key(a), text_key(b)
    if not key_a and not key_b:
        return 1.0
    return difflib.SequenceMatcher(None, key_a, key_b, autojunk=False).ratio()


# ---------------------------------------------------------------------------------------------------------------
# Cells of finished frames (after a Parquet round trip): missing values in all their pandas spellings


_pandas = None   # imported on first use: the plan, which uses this module, is read before pandas is needed


def cell_missing(value: object) -> bool:
    """None, NaN, pd.NA and NaT are missing; anything pandas cannot test is present."""
    global _pandas
    if value is None:
        return True
    if _pandas is None:
        import pandas

        _pandas = pandas
    try:
        return bool(_pandas.isna(value))
    except (TypeError, ValueError):
        return False


def cell_float(value: object) -> float | None:
    """A numeric cell as float; None when missing, a bool or not a number."""
    if cell_missing(value) or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def cell_date(value: object) -> dt.date | None:
    """A date cell (date, datetime, Timestamp or ISO text) as a date; None when missing or not a date."""
    if cell_missing(value):
        return None
    if isinstance(value, dt.datetime):  # pd.Timestamp is a datetime
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def iso_date(value: object) -> dt.date:
    """A date typed in a plan or corrections file: YAML's own date, or text written YYYY-MM-DD; ValueError for
    anything else (the caller says where and why)."""
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


_MONTH_DAY = re.compile(r"^(\d{1,2})\s*(?:月|[.\-/])\s*(\d{1,2})\s*日?$")


def parse_month_day(value: object, near: dt.date) -> dt.date | None:
    """A date written without its year (「7月22日」, 「7.22」, 「07-22」) in the year that puts it nearest to `near`
    (a report date: 「12月28日」 for the cycle 2023-01-10 is 2022-12-28); None when the text is not such a date."""
    if not isinstance(value, str):
        return None
    m = _MONTH_DAY.match(_nfkc(value).strip())
    if not m:
        return None
    month, day = int(m.group(1)), int(m.group(2))
    options = []
    for year in (near.year - 1, near.year, near.year + 1):
        try:
            options.append(dt.date(year, month, day))
        except ValueError:
            continue
    return min(options, key=lambda d: (abs((d - near).days), d)) if options else None


# registered-company suffixes that units write or leave out at will
_COMPANY_SUFFIXES = re.compile(r"(股份有限公司|有限责任公司|有限公司)")


def name_key(text: str) -> str:
    """Normalise a unit name for alias lookup: width, spaces, bracket styles, and the registered-company suffix
    (「某某银行股份有限公司某市分行」 is 「某某银行某市分行」)."""
    key = unicodedata.normalize("NFKC", str(text))
    key = re.sub(r"\s+", "", key)
    key = _COMPANY_SUFFIXES.sub("", key)
    return key.replace("(", "（").replace(")", "）")


@lru_cache(maxsize=4096)
def label_key(text: str) -> str:
    """A 序号 or display label without width, spaces, brackets and trailing punctuation: （三） → 三,
    第3项 → 3, ３. → 3, （八）之二 → 八之二."""
    key = unicodedata.normalize("NFKC", text)
    key = re.sub(r"\s+", "", key)
    key = re.sub(r"^第(.+?)[项条]?$", r"\1", key)
    key = key.replace("(", "").replace(")", "")
    key = key.rstrip(".、:：,，;；")
    key = re.sub(r"\.0+$", "", key)
    return key
