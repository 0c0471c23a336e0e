"""Deadline phrases → milestones (DOMAIN.md §1).

The raw strings below are the 完成时限 cells of the Datong 2022 重点清单 exactly as they stand in the seed
(000_e6a6542804a8de12.txt), line-wrap spaces, line breaks and the stray "O" included; the expected dates were
worked out by hand from the rules. Each happy path has a failure case beside it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from helpers.core.deadlines import (Milestone, milestones_as_dicts, normalize_deadline_text, parse_deadline,
                                    parse_deadline_detailed, unparsed_clauses)

Y = 2022
D = dt.date

# ---------------------------------------------------------------------------------------------------------------
# The 重点清单 of the seed, raw

KEY_1 = "4月末前形成工作方案；6月末前， 完成小微企业和个体工商户无贷户\n“两张名单”推送银行业机构。"
KEY_2 = (
    "4月末前形成工作方案；9月末前完 成首贷中心建设；年底前初步建立 配套的小微企业首贷线上化产品；"
    "次年2月前评估年度首贷户服务效果。"
)
KEY_3 = "4月末前形成工作方案；8月前评估 中期执行效果；次年2月前评估年度执行效果。"
KEY_4 = "4月末前形成工作方案；6月末前完 成“四张清单”，并在网点公示； 次年2月前评估年度执行效果。"
KEY_6 = "4月末前形成工作方案；6月末前完 成；次年2月前评估年度执行效果\nO"
KEY_9 = "4月末前形成工作方案；2023年前完成。"
KEY_10 = "3月末前发布改革文件，4月末前形 成工作方案，6月末前完成任务； 次年2月前评估年度执行效果。"
KEY_11 = "4月末前形成工作方案；8月前评估 中期执行效果；次年2月前评估年度执行效果。"
KEY_12 = "4月末前形成工作机制；8月前评估 中期执行效果；次年2月前评估年度执行效果。"
KEY_13 = "4月末前形成工作办法；年末前落实到位。"
KEY_14 = "年内持续推进。"

# (text, due, rule, interpreted) per milestone, by hand
EXPECTED = {
    "key 1": (
        KEY_1,
        [
            ("4月末前形成工作方案", D(2022, 4, 30), "X月末前", False),
            ("6月末前，完成小微企业和个体工商户无贷户“两张名单”推送银行业机构", D(2022, 6, 30), "X月末前", False),
        ],
    ),
    "key 2": (
        KEY_2,
        [
            ("4月末前形成工作方案", D(2022, 4, 30), "X月末前", False),
            ("9月末前完成首贷中心建设", D(2022, 9, 30), "X月末前", False),
            ("年底前初步建立配套的小微企业首贷线上化产品", D(2022, 12, 31), "年底前", False),
            ("次年2月前评估年度首贷户服务效果", D(2023, 1, 31), "次年X月前", True),
        ],
    ),
    "key 3": (
        KEY_3,
        [
            ("4月末前形成工作方案", D(2022, 4, 30), "X月末前", False),
            ("8月前评估中期执行效果", D(2022, 7, 31), "X月前", True),
            ("次年2月前评估年度执行效果", D(2023, 1, 31), "次年X月前", True),
        ],
    ),
    "key 4": (
        KEY_4,
        [
            ("4月末前形成工作方案", D(2022, 4, 30), "X月末前", False),
            ("6月末前完成“四张清单”，并在网点公示", D(2022, 6, 30), "X月末前", False),
            ("次年2月前评估年度执行效果", D(2023, 1, 31), "次年X月前", True),
        ],
    ),
    "key 6": (
        KEY_6,
        [
            ("4月末前形成工作方案", D(2022, 4, 30), "X月末前", False),
            ("6月末前完成", D(2022, 6, 30), "X月末前", False),
            ("次年2月前评估年度执行效果", D(2023, 1, 31), "次年X月前", True),
        ],
    ),
    "key 9": (
        KEY_9,
        [
            ("4月末前形成工作方案", D(2022, 4, 30), "X月末前", False),
            ("2023年前完成", D(2022, 12, 31), "NNNN年前", True),
        ],
    ),
    "key 10": (
        KEY_10,
        [
            ("3月末前发布改革文件", D(2022, 3, 31), "X月末前", False),
            ("4月末前形成工作方案", D(2022, 4, 30), "X月末前", False),
            ("6月末前完成任务", D(2022, 6, 30), "X月末前", False),
            ("次年2月前评估年度执行效果", D(2023, 1, 31), "次年X月前", True),
        ],
    ),
    "key 11": (
        KEY_11,
        [
            ("4月末前形成工作方案", D(2022, 4, 30), "X月末前", False),
            ("8月前评估中期执行效果", D(2022, 7, 31), "X月前", True),
            ("次年2月前评估年度执行效果", D(2023, 1, 31), "次年X月前", True),
        ],
    ),
    "key 12": (
        KEY_12,
        [
            ("4月末前形成工作机制", D(2022, 4, 30), "X月末前", False),
            ("8月前评估中期执行效果", D(2022, 7, 31), "X月前", True),
            ("次年2月前评估年度执行效果", D(2023, 1, 31), "次年X月前", True),
        ],
    ),
    "key 13": (
        KEY_13,
        [
            ("4月末前形成工作办法", D(2022, 4, 30), "X月末前", False),
            ("年末前落实到位", D(2022, 12, 31), "年底前", False),
        ],
    ),
    "key 14": (KEY_14, [("年内持续推进", None, "年内持续推进", False)]),
}


def as_tuples(milestones):
    return [(m.text, m.due, m.rule, m.interpreted) for m in milestones]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_key_list_deadlines_parse_to_the_dates_by_hand(name):
    text, expected = EXPECTED[name]
    result = parse_deadline_detailed(text, Y)
    assert as_tuples(result.milestones) == expected
    assert result.unparsed == ()


@pytest.mark.parametrize("name", list(EXPECTED))
def test_key_list_deadlines_fail_against_a_wrong_year(name):
    """Failure case: the same text dated for another plan year gives other dates (the year is not hard-wired)."""
    text, expected = EXPECTED[name]
    dated = [(t, due) for t, due, *_ in expected]
    shifted = [(m.text, m.due) for m in parse_deadline(text, 2021)]
    if any(due is not None for _, due in dated):
        assert shifted != dated
    assert [m.rule for m in parse_deadline(text, 2021)] == [rule for _, _, rule, _ in expected]


def test_blank_key_deadlines_5_7_8_give_nothing_and_inherit_from_the_merged_cell():
    """Key tasks 5, 7 and 8 have a blank 完成时限 cell: nothing parses; the plan copies 4's and 6's text."""
    for blank in ("", "   ", "\n", None):
        assert parse_deadline(blank, Y) == []
        assert unparsed_clauses(blank, Y) == []
    assert parse_deadline(KEY_4, Y) == parse_deadline(
        "4月末前形成工作方案；6月末前完成“四张清单”，并在网点公示；次年2月前评估年度执行效果。", Y
    )


def test_key_6_stray_o_is_a_full_stop_not_a_clause():
    assert normalize_deadline_text(KEY_6) == "4月末前形成工作方案；6月末前完成；次年2月前评估年度执行效果。"
    # failure case: an "O" that belongs to an ASCII word is left alone (and such a clause is no milestone)
    assert normalize_deadline_text("6月末前完成OA系统对接") == "6月末前完成OA系统对接"
    assert normalize_deadline_text("2O23年前完成") == "2023年前完成"


def test_8yue_qian_is_end_of_july_not_end_of_august():
    (m,) = parse_deadline("8月前评估中期执行效果", Y)
    assert m.due == D(2022, 7, 31) and m.interpreted and m.rule == "X月前"
    # failure case: reading "8月前" as end of August is wrong
    assert m.due != D(2022, 8, 31)


def test_yue_mo_and_yue_di_are_the_same_rule():
    assert as_tuples(parse_deadline("6月底前完成", Y)) == [("6月底前完成", D(2022, 6, 30), "X月末前", False)]
    assert as_tuples(parse_deadline("6月末前完成", Y)) == [("6月末前完成", D(2022, 6, 30), "X月末前", False)]
    # failure case: 6月中旬前 is no rule: nothing parsed, the clause is reported
    assert parse_deadline("6月中旬前完成", Y) == []
    assert unparsed_clauses("6月中旬前完成", Y) == ["6月中旬前完成"]


# ---------------------------------------------------------------------------------------------------------------
# Edge cases


@pytest.mark.parametrize(
    "year, due",
    [(2022, D(2022, 2, 28)), (2023, D(2023, 2, 28)), (2024, D(2024, 2, 29)), (2000, D(2000, 2, 29)), (2100, D(2100, 2, 28))],
)
def test_february_end_in_leap_and_common_years(year, due):
    assert parse_deadline("2月末前完成", year)[0].due == due
    # 3月前 → last day of February, too
    assert parse_deadline("3月前完成", year)[0].due == due


def test_february_end_failure_case():
    # failure case: 2022 is no leap year, so 2月末前 is never the 29th; 2月30日前 is no date at all
    assert parse_deadline("2月末前完成", 2022)[0].due.day == 28
    assert parse_deadline("2月30日前完成", 2022) == []
    assert unparsed_clauses("2月30日前完成", 2022) == ["2月30日前完成"]


def test_12yue_qian_is_end_of_november():
    (m,) = parse_deadline("12月前完成", Y)
    assert (m.due, m.rule, m.interpreted) == (D(2022, 11, 30), "X月前", True)
    # failure case: not December 31
    assert m.due != D(2022, 12, 31)


def test_1yue_qian_is_end_of_the_previous_year():
    (m,) = parse_deadline("1月前完成", Y)
    assert (m.due, m.rule, m.interpreted) == (D(2021, 12, 31), "X月前", True)
    (n,) = parse_deadline("次年1月前完成", Y)
    assert (n.due, n.rule, n.interpreted) == (D(2022, 12, 31), "次年X月前", True)
    # failure case: there is no month 0 to fall back on
    assert m.due.year != Y


def test_next_year_month_end():
    (m,) = parse_deadline("次年3月末前完成", Y)
    assert (m.due, m.rule, m.interpreted) == (D(2023, 3, 31), "次年X月末前", False)
    (m,) = parse_deadline("次年3月底前完成", Y)
    assert (m.due, m.rule) == (D(2023, 3, 31), "次年X月末前")
    # failure case: without 次年 the date stays in the plan year
    assert parse_deadline("3月末前完成", Y)[0].due == D(2022, 3, 31)


def test_year_end_phrases():
    assert as_tuples(parse_deadline("年底前完成", Y)) == [("年底前完成", D(2022, 12, 31), "年底前", False)]
    assert as_tuples(parse_deadline("年末前完成", Y)) == [("年末前完成", D(2022, 12, 31), "年底前", False)]
    assert parse_deadline("次年年底前完成", Y)[0].due == D(2023, 12, 31)
    # failure case: "年底" without 前 is not a deadline rule
    assert parse_deadline("年底完成", Y) == []
    assert unparsed_clauses("年底完成", Y) == ["年底完成"]


def test_nnnn_nian_qian():
    (m,) = parse_deadline("2023年前完成", Y)
    assert (m.due, m.rule, m.interpreted) == (D(2022, 12, 31), "NNNN年前", True)
    (m,) = parse_deadline("2025年前完成", Y)
    assert m.due == D(2024, 12, 31)
    # failure case: "到2023年达到5亿元以上" names a year but no deadline rule: reported, not dated
    assert parse_deadline("到2023年达到5亿元以上", Y) == []
    assert unparsed_clauses("到2023年达到5亿元以上", Y) == ["到2023年达到5亿元以上"]


def test_ongoing():
    (m,) = parse_deadline("年内持续推进。", Y)
    assert m == Milestone("年内持续推进", None, "年内持续推进", False)
    assert m.ongoing
    # failure case: a plain "持续推进" is not the documented phrase: reported, not silently ongoing
    assert parse_deadline("持续推进", Y) == []
    assert unparsed_clauses("持续推进", Y) == ["持续推进"]


@pytest.mark.parametrize(
    "text, due",
    [
        ("三月末前发布文件", D(2022, 3, 31)),
        ("十二月底前完成", D(2022, 12, 31)),
        ("十一月末前完成", D(2022, 11, 30)),
        ("十月前完成", D(2022, 9, 30)),
        ("次年二月前评估", D(2023, 1, 31)),
    ],
)
def test_chinese_numeral_months(text, due):
    (m,) = parse_deadline(text, Y)
    assert m.due == due


def test_chinese_numeral_month_failure_case():
    # failure case: 十三月 is no month
    assert parse_deadline("十三月末前完成", Y) == []
    assert unparsed_clauses("十三月末前完成", Y) == ["十三月末前完成"]


def test_full_width_digits():
    (m,) = parse_deadline("６月末前完成", Y)
    assert (m.text, m.due) == ("6月末前完成", D(2022, 6, 30))
    (m,) = parse_deadline("１２月前完成", Y)
    assert m.due == D(2022, 11, 30)
    # failure case: 13 in full width is still no month
    assert parse_deadline("１３月末前完成", Y) == []


def test_line_wrap_spaces_inside_words():
    (m,) = parse_deadline("9月末前完 成首贷中心 建设", Y)
    assert m.text == "9月末前完成首贷中心建设"
    (m,) = parse_deadline("9 月末前完成", Y)
    assert m.due == D(2022, 9, 30)
    # failure case: a space is no separator, so this is one milestone, not two
    assert len(parse_deadline("9月末前完成 建设", Y)) == 1


def test_clauses_without_time_attach_to_the_previous_milestone():
    milestones = parse_deadline("6月末前完成“四张清单”，并在网点公示；次年2月前评估", Y)
    assert [m.text for m in milestones] == ["6月末前完成“四张清单”，并在网点公示", "次年2月前评估"]
    # leading clauses go in front of the first milestone
    (m,) = parse_deadline("按照全省统一安排，6月末前完成", Y)
    assert m.text == "按照全省统一安排，6月末前完成" and m.due == D(2022, 6, 30)
    # failure case: a text with no time phrase and no time word at all gives nothing and reports nothing
    assert parse_deadline("形成工作方案", Y) == []


@pytest.mark.parametrize("sep", ["；", "，", ";", ",", "。"])
def test_every_separator_splits_milestones(sep):
    milestones = parse_deadline(f"4月末前形成方案{sep}6月末前完成", Y)
    assert [m.due for m in milestones] == [D(2022, 4, 30), D(2022, 6, 30)]


def test_two_phrases_in_one_clause_are_two_milestones():
    milestones = parse_deadline("4月末前形成方案6月末前完成", Y)
    assert [m.text for m in milestones] == ["4月末前形成方案", "6月末前完成"]
    # failure case: "、" enumerates inside a clause, it does not separate milestones
    assert [m.text for m in parse_deadline("4月末前形成方案、制度", Y)] == ["4月末前形成方案、制度"]


def test_unknown_phrase_is_reported_and_never_crashes():
    text = "4月末前形成工作方案；二季度末前完成试点，总结经验；尽快推广；6月末前完成"
    result = parse_deadline_detailed(text, Y)
    assert as_tuples(result.milestones) == [
        ("4月末前形成工作方案", D(2022, 4, 30), "X月末前", False),
        ("6月末前完成", D(2022, 6, 30), "X月末前", False),
    ]
    # the clause after an unknown phrase stays with it instead of joining the milestone before
    assert result.unparsed == ("二季度末前完成试点，总结经验", "尽快推广")
    assert unparsed_clauses(text, Y) == ["二季度末前完成试点，总结经验", "尽快推广"]
    for odd in ["OOO", "；；；", "月前", "前", "0月前", "99月末前", "2月31日前", "\u3000", "上半年", "每月10日前报送"]:
        parse_deadline(odd, Y)  # no exception
        unparsed_clauses(odd, Y)


def test_well_formed_text_reports_nothing():
    for name, (text, _) in EXPECTED.items():
        assert unparsed_clauses(text, Y) == [], name


def test_explicit_year_and_day_extensions():
    assert as_tuples(parse_deadline("2023年3月末前完成", Y)) == [("2023年3月末前完成", D(2023, 3, 31), "NNNN年X月末前", False)]
    assert parse_deadline("2023年底前完成", Y)[0].due == D(2023, 12, 31)
    assert as_tuples(parse_deadline("6月30日前完成", Y)) == [("6月30日前完成", D(2022, 6, 30), "X月X日前", False)]
    # failure case: 6月31日 does not exist
    assert parse_deadline("6月31日前完成", Y) == []


def test_milestone_is_frozen_and_dict_form():
    m = parse_deadline("4月末前形成工作方案", Y)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.due = None  # type: ignore[misc]
    assert milestones_as_dicts(parse_deadline(KEY_9, Y)) == [
        {"text": "4月末前形成工作方案", "due": D(2022, 4, 30), "rule": "X月末前", "interpreted": False},
        {"text": "2023年前完成", "due": D(2022, 12, 31), "rule": "NNNN年前", "interpreted": True},
    ]
    assert milestones_as_dicts([]) == []


def test_year_must_be_an_int():
    with pytest.raises(TypeError):
        parse_deadline("4月末前", "2022")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# The plan file stores what the parser returns


PLAN = Path(__file__).resolve().parents[1] / "data" / "plan" / "datong-2022.yaml"


@pytest.mark.skipif(not PLAN.exists(), reason="plan file not present")
def test_plan_file_milestones_equal_the_parser():
    yaml = pytest.importorskip("yaml")
    raw = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    year = raw["plan"]["year"]
    checked = 0
    for lst in raw["lists"]:
        for task in lst["tasks"]:
            deadline = task.get("deadline")
            stored = task.get("milestones") or []
            parsed = parse_deadline(deadline, year)
            if task.get("deadline_interpreted"):        # a 完成时限 filled in from a neighbouring row
                parsed = [dataclasses.replace(m, interpreted=True) for m in parsed]
            assert stored == milestones_as_dicts(parsed), (lst["name"], task["no"])
            assert unparsed_clauses(deadline, year) == [], (lst["name"], task["no"])
            if deadline:
                checked += 1
    assert checked == 14  # every key task has a deadline (5, 7 and 8 inherited from the merged cell)


@pytest.mark.parametrize("text, due, rule", [
    ("明年3月末前完成", dt.date(2023, 3, 31), "次年X月末前"),
    ("下一年2月前评估", dt.date(2023, 1, 31), "次年X月前"),
    ("次年2月前评估", dt.date(2023, 1, 31), "次年X月前"),
    ("明年底前", dt.date(2023, 12, 31), "次年年底前"),
    ("下一年年底前", dt.date(2023, 12, 31), "次年年底前"),
])
def test_next_year_words_alike(text, due, rule):
    # 明年, 下一年 and 次年 all mean the plan year + 1 (2022 → 2023), never the plan year itself
    assert [(m.due, m.rule) for m in parse_deadline(text, 2022)] == [(due, rule)]


def test_next_year_without_a_date_is_reported():
    assert parse_deadline("明年年中完成", 2022) == [] and unparsed_clauses("明年年中完成", 2022) == ["明年年中完成"]
