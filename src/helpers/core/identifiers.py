"""Borrower identifiers: 统一社会信用代码 (GB 32100-2015) and 居民身份证号码 (GB 11643-1999).

`check_id` tells which kind an identifier is and whether its check character holds; a failed check is a
data-quality finding for the caller, never a silent drop. Resident IDs and individuals' names are personal
data: `mask_id` and `mask_name` give the forms that may appear in shareable output. Problem messages never
repeat the identifier itself, so they can go into reports as they are.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import operator
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import numpy as np

from .values import is_blank

__all__ = [
    "IdCheck",
    "USCC_ALPHABET",
    "check_id",
    "is_personal",
    "is_plain_id",
    "make_resident_id",
    "make_uscc",
    "mask_id",
    "mask_name",
    "normalize_id",
    "resident_check_char",
    "uscc_check_char",
    "valid_kinds",
]

IdKind = Literal["uscc", "resident", "unknown"]

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK = "10X98765432"

_RESIDENT_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_SCIENTIFIC = re.compile(r"[0-9]+(?:\.[0-9]*)?E\+?[0-9]+")
_DASHES = frozenset("-‐‑‒–—―－﹣_")
_FROM_NUMBER_HINT = "（该单元格是数字格式，18 位号码存成数字会丢失末几位，请设为文本格式后重新填写）"
_KIND_LABELS = {"uscc": "统一社会信用代码", "resident": "居民身份证号码", "unknown": "证件号码"}


@dataclass(frozen=True)
class IdCheck:
    """The outcome of `check_id`: the normalised identifier, its kind, and the problem if it is not valid."""

    normalized: str
    kind: IdKind
    valid: bool
    problem: str | None = None

    @property
    def label(self) -> str:
        """The kind in Chinese, for messages: 统一社会信用代码 / 居民身份证号码 / 证件号码."""
        return _KIND_LABELS[self.kind]


_USCC_BYTE_VALUES = bytes.maketrans(USCC_ALPHABET.encode("ascii"), bytes(range(len(USCC_ALPHABET))))
_RESIDENT_ZERO = ord("0") * sum(_RESIDENT_WEIGHTS)
_PLAIN_ID = re.compile(r"[0-9A-Z]+")
_USCC_CHARS = re.compile(f"[{USCC_ALPHABET}]+")


def uscc_check_char(body: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a 统一社会信用代码."""
    if len(body) != 17:
        raise ValueError("a 统一社会信用代码 body has 17 characters")
    if not _USCC_CHARS.fullmatch(body):
        raise ValueError(f"not in the USCC alphabet: {body!r}")
    # each character's value by a byte translation: checking the identifiers of a year of loans is a hot path
    total = sum(map(operator.mul, body.encode("ascii").translate(_USCC_BYTE_VALUES), _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def resident_check_char(body: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of a resident ID."""
    if len(body) != 17:
        raise ValueError("a resident ID body has 17 digits")
    if body.isascii() and body.isdigit():    # the digits' byte values less 48 each: the hot path, as above
        total = sum(map(operator.mul, body.encode("ascii"), _RESIDENT_WEIGHTS)) - _RESIDENT_ZERO
    else:
        total = sum([int(ch) * w for ch, w in zip(body, _RESIDENT_WEIGHTS)])
    return _RESIDENT_CHECK[total % 11]


def is_plain_id(text: str) -> bool:
    """Digits and capital letters only: a text `normalize_id` returns as it is (the usual case)."""
    return _PLAIN_ID.fullmatch(text) is not None


def normalize_id(value: object) -> str | None:
    """An identifier as comparable text: NFKC, no spaces or hyphens, upper case; None when blank.

    Numbers (an ID typed into a number-formatted cell) become their integer digits; the digits lost to
    floating point are then caught by the check character.
    """
    if type(value) is str and _PLAIN_ID.fullmatch(value):
        return value            # already normalised: digits and capital letters only (the usual case)
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, (numbers.Real, Decimal)):
        number = float(value) if not isinstance(value, numbers.Integral) else None
        if number is not None and not math.isfinite(number):
            return None
        if isinstance(value, numbers.Integral):
            value = int(value)
        elif number is not None and number.is_integer():
            value = int(number)
        if isinstance(value, int) and value.bit_length() > 256:
            return None  # no identifier is that long; avoid Python's int-to-str digit limit
        text = str(value)
    else:
        text = str(value)
    text = unicodedata.normalize("NFKC", text)
    text = "".join(
        ch
        for ch in text
        if not ch.isspace() and ch not in _DASHES and unicodedata.category(ch) not in {"Cc", "Cf"}
    )
    # A leading apostrophe is Excel's "store as text" marker leaking through CSV exports.
    text = text.lstrip("'").upper()
    if re.fullmatch(r"[0-9]+\.0+", text):
        text = text.split(".")[0]
    return text or None


def _birth_date(digits: str) -> dt.date | None:
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _resident_like(n: str, today: dt.date) -> bool:
    """17 digits + digit/X, an area code starting 1–8 (no province code starts with 9, while most USCCs
    do) and a birth year between 1900 and this year."""
    return bool(_RESIDENT_SHAPE.fullmatch(n)) and n[0] in "12345678" and 1900 <= int(n[6:10]) <= today.year


def check_id(value: object) -> IdCheck:
    """Recognise and validate a 统一社会信用代码 or resident ID.

    Kind: 17 digits plus a digit or X, starting 1–8, with a birth year in 1900…this year → resident; else
    18 characters from the USCC alphabet → uscc; else unknown. A 15-digit first-generation ID is a
    resident ID that is not valid (it has no check character).
    """
    from_number = type(value) is not str and isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool)
    n = normalize_id(value) or ""
    hint = _FROM_NUMBER_HINT if from_number else ""
    if not n:
        return IdCheck("", "unknown", False, "证件号码为空")
    if _SCIENTIFIC.fullmatch(n):
        problem = "证件号码被存成了科学计数法数字，已丢失位数，请将该列设为文本格式后重新填写"
        return IdCheck(n, "unknown", False, problem)
    today = dt.date.today()
    if len(n) == 15 and n.isascii() and n.isdigit() and _birth_date("19" + n[6:12]) is not None:
        return IdCheck(n, "resident", False, "15 位旧版身份证号码，没有校验位，应改填 18 位号码")
    if len(n) != 18:
        bad = _bad_chars(n)
        extra = f"，且含有不允许的字符{bad}" if bad else ""
        return IdCheck(n, "unknown", False, f"证件号码应为 18 位，实为 {len(n)} 位{extra}{hint}")
    if _resident_like(n, today):
        # A resident ID wins over an all-digit USCC of the same shape: treating it as personal is the safe error.
        birth = _birth_date(n[6:14])
        if birth is None or birth > today:
            return IdCheck(n, "resident", False, f"身份证号码第 7–14 位的出生日期不存在{hint}")
        expected = resident_check_char(n[:17])
        if n[17] != expected:
            problem = f"身份证号码校验位错误：第 18 位应为「{expected}」，实为「{n[17]}」{hint}"
            return IdCheck(n, "resident", False, problem)
        return IdCheck(n, "resident", True)
    bad = "" if _USCC_CHARS.fullmatch(n) else _bad_chars(n)
    if bad:
        problem = f"证件号码含有不允许的字符{bad}（统一社会信用代码不用 I、O、S、V、Z）{hint}"
        return IdCheck(n, "unknown", False, problem)
    expected = uscc_check_char(n[:17])
    if n[17] != expected:
        problem = f"统一社会信用代码校验位错误：第 18 位应为「{expected}」，实为「{n[17]}」{hint}"
        return IdCheck(n, "uscc", False, problem)
    return IdCheck(n, "uscc", True)


_USCC_LOOKUP = np.full(256, -1, dtype=np.int8)
_USCC_LOOKUP[np.frombuffer(USCC_ALPHABET.encode("ascii"), dtype=np.uint8)] = np.arange(len(USCC_ALPHABET))
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)
_RESIDENT_CHECK_BYTES = np.frombuffer(_RESIDENT_CHECK.encode("ascii"), dtype=np.uint8)


def valid_kinds(ids: Sequence[str], today: dt.date | None = None) -> list[str | None]:
    """For each identifier, its kind ("resident" or "uscc") when `check_id` would find it valid, decided for the
    whole list at once with numpy; None where it would not, or where this cannot tell (anything but 18 digits and
    capital letters): the caller asks `check_id` for those, which also words the problem. The rules are
    `check_id`'s, column-wise: a resident-like number (17 digits + digit/X, area 1–8, birth year 1900…this year)
    needs a real birth date not after today and its check digit; any other 18 characters of the USCC alphabet
    its check character."""
    today = today or dt.date.today()
    out: list[str | None] = [None] * len(ids)
    eligible = [i for i, t in enumerate(ids) if len(t) == 18]
    data = "".join([ids[i] for i in eligible]).encode("utf-8", "surrogatepass")
    if len(data) != 18 * len(eligible):      # some text is not ASCII: those are left to `check_id`
        eligible = [i for i in eligible if ids[i].isascii()]
        data = "".join([ids[i] for i in eligible]).encode("ascii")
    if not eligible:
        return out
    a = np.frombuffer(data, dtype=np.uint8).reshape(-1, 18)
    d = a - np.uint8(48)                     # a digit's value; anything else wraps above 9
    digit = d <= 9
    upper = (a >= ord("A")) & (a <= ord("Z"))
    plain = (digit | upper).all(axis=1)
    x = a[:, 17] == ord("X")
    year = d[:, 6:10].astype(np.int32) @ np.array([1000, 100, 10, 1], dtype=np.int32)
    resident_like = (digit[:, :17].all(axis=1) & (digit[:, 17] | x) & (d[:, 0] >= 1) & (d[:, 0] <= 8)
                     & (year >= 1900) & (year <= today.year))
    month = d[:, 10].astype(np.int32) * 10 + d[:, 11]
    day = d[:, 12].astype(np.int32) * 10 + d[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    in_month = _DAYS_IN_MONTH[np.minimum(month, 12)] + ((month == 2) & leap)
    born = ((month >= 1) & (month <= 12) & (day >= 1) & (day <= in_month)
            & (year * 10000 + month * 100 + day <= today.year * 10000 + today.month * 100 + today.day))
    total = d[:, :17].astype(np.int32) @ np.array(_RESIDENT_WEIGHTS, dtype=np.int32)
    resident_ok = resident_like & born & (a[:, 17] == _RESIDENT_CHECK_BYTES[total % 11])
    values = _USCC_LOOKUP[a]
    total = values[:, :17].astype(np.int32) @ np.array(_USCC_WEIGHTS, dtype=np.int32)
    # digits around one E read as a number in scientific notation (`check_id`): never valid
    e = a == ord("E")
    scientific = (digit | e).all(axis=1) & (e.sum(axis=1) == 1) & ~e[:, 0] & ~e[:, 17]
    uscc_ok = (plain & ~resident_like & ~scientific & (values >= 0).all(axis=1)
               & (values[:, 17] == (31 - total % 31) % 31))
    for k in np.flatnonzero(resident_ok).tolist():
        out[eligible[k]] = "resident"
    for k in np.flatnonzero(uscc_ok).tolist():
        out[eligible[k]] = "uscc"
    return out


def _bad_chars(n: str) -> str:
    """The characters outside the USCC alphabet, each in 「」, in order of first appearance."""
    return "".join(f"「{ch}」" for ch in dict.fromkeys(n) if ch not in USCC_ALPHABET)


def is_personal(check: IdCheck) -> bool:
    """True for resident IDs, which are personal data."""
    return check.kind == "resident"


def mask_id(value: object) -> str:
    """An identifier as it may appear in shareable output.

    Resident IDs, and any other 17 digits + digit/X that is not a valid USCC starting with 9 →
    "140202********1234"; a valid USCC → whole; anything else (an invalid USCC may be a mistyped
    resident ID) → first 4 and last 2 kept.
    """
    check = value if isinstance(value, IdCheck) else check_id(value)
    n = check.normalized
    if not n:
        return ""
    if check.kind == "uscc" and check.valid and not (_RESIDENT_SHAPE.fullmatch(n) and n[0] != "9"):
        return n
    if check.kind == "resident" or _RESIDENT_SHAPE.fullmatch(n):
        return n[:6] + "*" * (len(n) - 10) + n[-4:]
    if len(n) <= 6:
        return "*" * len(n)
    return n[:4] + "*" * (len(n) - 6) + n[-2:]


# Words that mark an organisation (enterprise, 个体工商户 trade name, cooperative, public body).
_ORG_WORDS = (
    "公司", "企业", "中心", "合作社", "有限", "集团", "工作室", "银行", "协会", "商会", "学校", "医院", "诊所",
    "药房", "超市", "商行", "经营部", "门市", "农场", "牧场", "养殖", "种植", "联社", "政府", "委员会",
    "事务所", "研究院", "分行", "支行", "营业部", "工厂", "商店", "饭店", "酒店", "宾馆", "旅馆", "餐厅",
    "商贸", "实业", "股份",
)
# Not "建设", "发展", "科技": they are common given names (王建设).
# Single characters that end trade names ("老王面馆"); only trusted on names of 4+ characters, since a
# personal name may end in 行 or 园.
_ORG_SUFFIXES = "厂店社部行馆场所院局站坊园室庄铺厅处会队校"


def _is_organisation(name: str) -> bool:
    if any(word in name for word in _ORG_WORDS):
        return True
    return len(name) >= 4 and name[-1] in _ORG_SUFFIXES


def mask_name(name: str | None) -> str:
    """An individual's name masked after its first character ("张三丰" → "张**"); organisations unchanged."""
    if name is None or is_blank(name):
        return ""
    text = "".join(str(name).split())
    if _is_organisation(text):
        return text
    return text[0] + "*" * (len(text) - 1)


def make_uscc(seed_digits: str) -> str:
    """A valid 统一社会信用代码 from its first 17 characters (digits or USCC letters), for tests and demos."""
    body = seed_digits.strip().upper()
    if len(body) != 17 or any(ch not in USCC_ALPHABET for ch in body):
        raise ValueError("make_uscc needs 17 characters from the USCC alphabet")
    code = body + uscc_check_char(body)
    if _resident_like(code, dt.date.today()):
        raise ValueError("this seed gives a code that check_id reads as a resident ID; start it with 9 or add a letter")
    return code


def make_resident_id(area: str, birth: dt.date, seq: int) -> str:
    """A valid 18-digit resident ID for a 6-digit area code, a birth date and a 3-digit sequence number."""
    if not re.fullmatch(r"[1-8][0-9]{5}", area):
        raise ValueError("area must be a 6-digit area code starting 1–8")
    if not 0 <= seq <= 999:
        raise ValueError("seq must be in 0…999")
    if not dt.date(1900, 1, 1) <= birth <= dt.date.today():
        raise ValueError("birth must lie between 1900-01-01 and today")
    body = f"{area}{birth:%Y%m%d}{seq:03d}"
    return body + resident_check_char(body)


_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{14,17}[0-9Xx](?![0-9A-Za-z])")


def mask_ids_in_text(text: object) -> object:
    """Mask anything in a free text that looks like an identifier of 15–18 digits (a resident ID, whole,
    first-generation or mistyped); valid 统一社会信用代码 of organisations are public and stay (`mask_id`).
    Non-text values are returned unchanged."""
    if not isinstance(text, str):
        return text
    return _ID_IN_TEXT.sub(lambda m: mask_id(m.group(0)), text)
