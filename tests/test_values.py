"""Tests for helpers.values: cell parsing as ledgers deliver it, with a failure beside each happy path."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from helpers.core.values import (ValueProblem, amount_factor, clean_text, is_blank, parse_bool, parse_choice,
                                 parse_date, parse_number, similarity, text_key)

GUARANTEE = {"信用": "信用", "信用贷款": "信用", "纯信用": "信用", "保证": "保证", "抵押": "抵押"}


# --------------------------------------------------------------------------------------------------
# parse_number
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234.50", 1234.5),
        ("１２３４", 1234.0),
        ("１，２３４．５", 1234.5),
        ("(500)", -500.0),
        ("（1,234）", -1234.0),
        ("12.5%", 0.125),
        ("12.5％", 0.125),
        ("(12.5%)", -0.125),
        ("3.2万元", 3.2),
        ("1.5 亿元", 1.5),
        ("50BP", 50.0),
        ("50bp", 50.0),
        ("50个基点", 50.0),
        ("120户", 120.0),
        ("3笔", 3.0),
        ("+3", 3.0),
        ("－3", -3.0),
        (" 1 234 ", 1234.0),
        ("1'234'567", 1234567.0),
        ("'1234", 1234.0),
        (".5", 0.5),
        ("1.2E+03", 1200.0),
        (44727, 44727.0),
        (12.5, 12.5),
        (Decimal("1.25"), 1.25),
    ],
)
def test_parse_number_reads_messy_cells(raw: object, expected: float) -> None:
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "-", "—", "／", "/", "无", "\u3000"])
def test_parse_number_blank_is_none(raw: object) -> None:
    assert parse_number(raw) is None


@pytest.mark.parametrize(
    "raw",
    ["12..5", "1,2345", "12,34", "3.2万", "abc", "(500", "500)", "(-500)", "--5", "12.5%元", "1.2.3", "约100", "%"],
)
def test_parse_number_rejects_unreadable_text(raw: str) -> None:
    with pytest.raises(ValueProblem, match=re.escape(f"无法识别的数字「{raw}」")):
        parse_number(raw)


@pytest.mark.parametrize("code", ["#REF!", "#DIV/0!", "#N/A", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", " #ref! "])
def test_parse_number_reports_excel_errors(code: str) -> None:
    with pytest.raises(ValueProblem, match=re.escape(f"单元格为错误值「{code.strip().upper()}」")):
        parse_number(code)


@pytest.mark.parametrize(
    ("raw", "part"),
    [(True, "逻辑值"), (False, "逻辑值"), (float("nan"), "不是有限数值"), (float("inf"), "不是有限数值"),
     ("1e999", "无法识别的数字"), (dt.date(2022, 6, 15), "日期")],
)
def test_parse_number_rejects_non_numbers(raw: object, part: str) -> None:
    with pytest.raises(ValueProblem, match=part):
        parse_number(raw)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


@given(
    cents=st.integers(min_value=-10**13, max_value=10**13),
    sep=st.sampled_from([",", "，", "'"]),
    wide=st.booleans(),
    accounting=st.booleans(),
    unit=st.sampled_from(["", "万元", "元", "亿元", " 万元"]),
)
def test_parse_number_round_trips_formatted_amounts(
    cents: int, sep: str, wide: bool, accounting: bool, unit: str
) -> None:
    value = Decimal(cents) / 100
    body = f"{abs(value):,.2f}".replace(",", sep)
    if value < 0:
        body = f"({body})" if accounting else f"-{body}"
    text = body + unit
    if wide:
        text = _fullwidth(text)
    assert parse_number(text) == float(value)


@given(st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False))
def test_parse_number_round_trips_percentages(share: Decimal) -> None:
    assert parse_number(f"{share}%") == float(share / 100)


@given(st.one_of(st.text(), st.text(alphabet="0123456789,.'%()（）+-－万元亿#!/ eE", max_size=12)))
def test_parse_number_raises_only_value_problem(text: str) -> None:
    try:
        result = parse_number(text)
    except ValueProblem:
        return
    assert result is None or isinstance(result, float)


# --------------------------------------------------------------------------------------------------
# amount_factor
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "factor"),
    [
        ("发放金额（万元）", 1.0),
        ("各项贷款余额(亿元)", 10000.0),
        ("担保金额（元）", 0.0001),
        ("单位：元", 0.0001),
        ("注册资本（千元）", 0.1),
        ("在保余额", 1.0),
        ("金额（万 元）", 1.0),
        ("多元化融资余额", 1.0),  # 多元 is not a unit
    ],
)
def test_amount_factor(header: str, factor: float) -> None:
    assert amount_factor(header) == factor


def test_amount_factor_converts_to_wan_yuan() -> None:
    assert parse_number("1,500,000") * amount_factor("贷款余额（元）") == pytest.approx(150.0)
    assert parse_number("2.5") * amount_factor("贷款余额（亿元）") == pytest.approx(25000.0)


# --------------------------------------------------------------------------------------------------
# parse_date
# --------------------------------------------------------------------------------------------------

JUNE_15 = dt.date(2022, 6, 15)


@pytest.mark.parametrize(
    "raw",
    [
        44727, 44727.0, 44727.75, "44727", 20220615, "20220615",
        "2022-06-15", "2022/6/15", "2022.6.15", "2022年6月15日", "2022年06月15日", "2022年6月15号",
        "2022-6-15 00:00:00", "2022-06-15T08:30:00", "2022/6/15 8:30",
        "２０２２年６月１５日", "2022 年 6 月 15 日", "二〇二二年六月十五日", "二○二二年六月十五日",
        dt.datetime(2022, 6, 15, 10, 30), JUNE_15,
    ],
)
def test_parse_date_reads_every_style(raw: object) -> None:
    assert parse_date(raw) == JUNE_15


def test_parse_date_serials_at_the_edges() -> None:
    assert parse_date(1) == dt.date(1900, 1, 1)
    assert parse_date(59) == dt.date(1900, 2, 28)
    assert parse_date(61) == dt.date(1900, 3, 1)
    assert parse_date(2958465) == dt.date(9999, 12, 31)
    assert parse_date(43265, epoch_1904=True) == JUNE_15
    assert parse_date(0, epoch_1904=True) == dt.date(1904, 1, 1)


@pytest.mark.parametrize("raw", [None, "", " ", "-", "无", "／"])
def test_parse_date_blank_is_none(raw: object) -> None:
    assert parse_date(raw) is None


@pytest.mark.parametrize(
    ("raw", "part"),
    [
        ("2022-13-01", "无法识别的日期「2022-13-01」：日历上不存在该日期"),
        ("2022-02-30", "日历上不存在该日期"),
        ("二〇二二年二月三十日", "日历上不存在该日期"),
        (20220230, "日历上不存在该日期"),
        ("22.6.15", "年份只有两位"),
        ("22年6月15日", "年份只有两位"),
        ("2022年6月", "无法识别的日期「2022年6月」"),
        ("6/15/2022", "无法识别的日期"),
        ("2022-6/15", "无法识别的日期"),
        ("下周", "无法识别的日期「下周」"),
        (60, "1900-02-29"),
        (0, "超出 Excel 日期序号范围"),
        (-5, "超出 Excel 日期序号范围"),
        (3_000_000, "超出 Excel 日期序号范围"),
        (float("nan"), "无法识别的日期"),
        (True, "逻辑值"),
        ("#N/A", "单元格为错误值「#N/A」"),
    ],
)
def test_parse_date_rejects(raw: object, part: str) -> None:
    with pytest.raises(ValueProblem, match=part):
        parse_date(raw)


_CN = "〇一二三四五六七八九"


def _cn_number(n: int) -> str:
    tens, ones = divmod(n, 10)
    return ("" if tens == 0 else ("十" if tens == 1 else _CN[tens] + "十")) + ("" if ones == 0 else _CN[ones])


def _date_styles(d: dt.date) -> list[object]:
    styles: list[object] = [
        d,
        dt.datetime.combine(d, dt.time(13, 45)),
        d.isoformat(),
        f"{d.year}/{d.month}/{d.day}",
        f"{d.year}.{d.month}.{d.day}",
        f"{d.year}-{d.month}-{d.day} 00:00:00",
        f"{d.year}年{d.month}月{d.day}日",
        f"{d.year}年{d.month:02d}月{d.day:02d}日",
        f"{d.year} 年 {d.month} 月 {d.day} 日",
        _fullwidth(f"{d.year}年{d.month}月{d.day}日"),
        _fullwidth(d.isoformat()),
        f"{d:%Y%m%d}",
        int(f"{d:%Y%m%d}"),
        "".join(_CN[int(c)] for c in str(d.year)) + f"年{_cn_number(d.month)}月{_cn_number(d.day)}日",
    ]
    if d >= dt.date(1900, 3, 1):
        styles.append((d - dt.date(1899, 12, 30)).days)
    return styles


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_parse_date_round_trips_every_style(d: dt.date) -> None:
    for style in _date_styles(d):
        assert parse_date(style) == d, style


@given(st.dates(min_value=dt.date(1904, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_parse_date_round_trips_1904_serials(d: dt.date) -> None:
    assert parse_date((d - dt.date(1904, 1, 1)).days, epoch_1904=True) == d


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789年月日号-/. 〇一二三四五六七八九十廿卅:T", max_size=14),
        st.integers(),
        st.floats(),
        st.booleans(),
        st.none(),
    )
)
def test_parse_date_raises_only_value_problem(value: object) -> None:
    try:
        result = parse_date(value)
    except ValueProblem:
        return
    assert result is None or isinstance(result, dt.date)


# --------------------------------------------------------------------------------------------------
# parse_bool and parse_choice
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["是", " 是 ", "Y", "y", "yes", "YES", "1", 1, 1.0, "√", "对", "True", True, "ｙｅｓ"])
def test_parse_bool_true(raw: object) -> None:
    assert parse_bool(raw) is True


@pytest.mark.parametrize("raw", ["否", "N", "no", "0", 0, 0.0, "×", "错", "FALSE", False])
def test_parse_bool_false(raw: object) -> None:
    assert parse_bool(raw) is False


@pytest.mark.parametrize("raw", [None, "", "  ", "-", "无"])
def test_parse_bool_blank_is_none(raw: object) -> None:
    assert parse_bool(raw) is None


@pytest.mark.parametrize("raw", ["可能", "2", 2, 0.5, "是否", "#VALUE!"])
def test_parse_bool_rejects(raw: object) -> None:
    with pytest.raises(ValueProblem, match="无法识别的是/否|单元格为错误值"):
        parse_bool(raw)


def test_parse_bool_message_names_the_value() -> None:
    with pytest.raises(ValueProblem, match="无法识别的是/否「可能」：应填 是 或 否"):
        parse_bool("可能")


@pytest.mark.parametrize("raw", ["信用", "信用贷款", " 纯 信用 ", "纯信用", "信用 贷款"])
def test_parse_choice_maps_synonyms(raw: str) -> None:
    assert parse_choice(raw, GUARANTEE) == "信用"


def test_parse_choice_is_case_and_width_insensitive() -> None:
    assert parse_choice("ａｂｃ", {"ABC": "甲"}) == "甲"
    assert parse_choice("甲", {"ABC": "甲"}) == "甲"  # the canonical value matches itself
    assert parse_choice(1.0, {"1": "是"}) == "是"
    assert parse_choice("  ", GUARANTEE) is None


def test_parse_choice_rejects_unknown_and_lists_allowed() -> None:
    with pytest.raises(ValueProblem, match="无法识别的取值「担保」，应为：信用、保证、抵押$"):
        parse_choice("担保", GUARANTEE)


@given(st.text())
def test_parse_bool_and_choice_raise_only_value_problem(text: str) -> None:
    for parse in (parse_bool, lambda v: parse_choice(v, GUARANTEE)):
        with contextlib.suppress(ValueProblem):
            parse(text)


# --------------------------------------------------------------------------------------------------
# clean_text, text_key, similarity
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("信用贷 款占比", "信用贷款占比"),
        ("减少抵押担保依 赖、信用贷款占比显著提高", "减少抵押担保依赖、信用贷款占比显著提高"),
        ("助力我省企业加速上市O", "助力我省企业加速上市。"),
        ("加强对上下游小微企业应付账款确权o\n下一步", "加强对上下游小微企业应付账款确权。下一步"),
        ("次年2月前评估年度执行效果\nO", "次年2月前评估年度执行效果。"),
        ("健全股权投\n资体系", "健全股权投资体系"),
        ("推动建立“敢贷、愿贷” 的小微金融服务", "推动建立“敢贷、愿贷”的小微金融服务"),
        ("评级为A 级的 小额贷款公司", "评级为A 级的小额贷款公司"),
        ("Fintech   and \n  credit", "Fintech and credit"),
        ("  首贷\u200b户\ufeff  ", "首贷户"),
        ("ＢＰ５０，（一）", "BP50，（一）"),
        ("O型", "O型"),  # an O that starts a word stays
        (44727, "44727"),
        (1500.0, "1500"),
    ],
)
def test_clean_text_repairs_seed_damage(raw: object, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "  \n ", "\u200b", float("nan")])
def test_clean_text_blank_is_none(raw: object) -> None:
    assert clean_text(raw) is None


def test_text_key_matches_the_seed_with_the_plan() -> None:
    seed = "大力发展“国家融担基金一省级政府 性再担保机构一各类融资担保机构“ 三级担保体系。"
    plan = "大力发展“国家融担基金—省级政府性再担保机构—各类融资担保机构”三级担保体系"
    assert text_key(seed) == text_key(plan)
    assert text_key("助力我省企业加速上市O") == text_key("助力我省企业加速上市。")
    assert text_key("(责任单位：市金融办)") == text_key("（责任单位：市金融办）")


def test_text_key_keeps_real_differences() -> None:
    assert text_key("提高信用贷款占比") != text_key("提高首贷户占比")
    assert text_key(None) == ""


def test_similarity() -> None:
    assert similarity("信用贷 款占比", "信用贷款占比") == 1.0
    assert 0.5 < similarity("提高信用贷款占比", "提高信用贷款比重") < 1.0
    assert similarity("提高信用贷款占比", "") == 0.0
    assert similarity(None, "") == 1.0


_CJK_WORDS = st.text(alphabet="信用贷款占比首户推动银行机构融资担保体系国家省级市县大同年月", min_size=1, max_size=6)
_PUNCT = st.sampled_from(["，", "、", "；", "：", "“", "”", "（", "）", "—", "。"])


@st.composite
def _task_text_and_damage(draw: st.DrawFn) -> tuple[str, str]:
    """A plan-like task text and a copy damaged as the seeds are (wraps, O for 。, 一 for —, width, quotes)."""
    pieces = draw(st.lists(st.one_of(_CJK_WORDS, _PUNCT, st.integers(0, 999).map(str)), min_size=1, max_size=12))
    text = "".join(pieces) + "。"
    damaged = []
    for i, ch in enumerate(text):
        previous = text[i - 1] if i else ""
        following = text[i + 1] if i + 1 < len(text) else "。"
        if ch == "—" and draw(st.booleans()):
            ch = "一"
        elif ch == "。" and "\u4e00" <= previous <= "\u9fff" and not following.isascii() and draw(st.booleans()):
            # Only where the O cannot be read as a letter: "O2O" after Chinese is a real word.
            ch = "O"
        elif ch in "“”" and draw(st.booleans()):
            ch = "“" if ch == "”" else "”"
        elif ch in "（）" and draw(st.booleans()):
            ch = "(" if ch == "（" else ")"
        elif ch.isdigit() and draw(st.booleans()):
            ch = chr(ord(ch) + 0xFEE0)
        damaged.append(ch)
        if draw(st.integers(0, 5)) == 0:
            damaged.append(draw(st.sampled_from([" ", "\n", "  \n ", "\u200b", "\u3000"])))
    return text, "".join(damaged)


@given(_task_text_and_damage())
def test_text_key_ignores_seed_damage(pair: tuple[str, str]) -> None:
    original, damaged = pair
    assert text_key(damaged) == text_key(original)
    assert similarity(damaged, original) == 1.0


@given(st.text())
def test_text_key_is_idempotent(text: str) -> None:
    # Callers compare keys with similarity(), which keys its arguments again.
    assert text_key(text_key(text)) == text_key(text)


@given(st.text(), st.text())
def test_similarity_is_bounded(a: str, b: str) -> None:
    assert 0.0 <= similarity(a, b) <= 1.0


@given(st.text())
def test_clean_text_is_idempotent(text: str) -> None:
    once = clean_text(text)
    assume(once is not None)
    assert clean_text(once) == once


def test_is_blank() -> None:
    assert is_blank(None) and is_blank(" ") and is_blank("—") and is_blank("无")
    assert not is_blank(0) and not is_blank("0") and not is_blank("无贷户")


@given(st.text(alphabet=st.characters(codec=None), max_size=30)
       | st.lists(st.sampled_from(["推进", " ", "\n", "\u200b", "\ufeff", "\xad", "\u3000", "\x07", "\ue000", "Ｏ",
                                   "\u0378", "完成O", "ａ１"]), max_size=12).map("".join))
def test_clean_text_drops_exactly_the_invisible_characters(text: str) -> None:
    """Whitespace is kept and characters of the categories Cc, Cf, Cs, Co and Cn dropped, each character judged
    on its own, whether or not the text as a whole is printable."""
    import unicodedata

    invisible = {"Cc", "Cf", "Cs", "Co", "Cn"}
    visible = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) not in invisible)
    assert clean_text(text) == clean_text(visible)
