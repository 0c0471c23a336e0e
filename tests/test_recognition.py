"""Recognition pieces on their own: task numbers as units write them, shortened texts, unit names as written,
the analyst's corrections file, and a cycle folder that holds few of its ledgers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from helpers.reconcile import lights as reconcile
from helpers.plan.model import PlanError, load_plan
from helpers.ingest.task_matching import TaskMatcher, chinese_number, label_key, number_candidates

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text, value", [("一", 1), ("十", 10), ("十一", 11), ("二十", 20), ("二十三", 23),
                                         ("两", 2), ("十十", None), ("一百", None), ("", None), ("3", None)])
def test_chinese_numbers(text, value):
    assert chinese_number(text) == value


@pytest.mark.parametrize("raw", ["3", "3.", "3、", "３", "第3项", "（三）", "三", "(三)", " 3 ", 3, 3.0])
def test_every_way_of_writing_three_means_task_three_in_a_numbered_list(datong, raw):
    labels = TaskMatcher(datong, "重点清单").labels
    assert number_candidates(raw, labels) == (3,)


def test_labels_of_a_list_that_shows_its_own(shanxi):
    labels = TaskMatcher(shanxi, "责任分工表").labels
    assert label_key("（八）之二") == "八之二"
    assert number_candidates("（八）之二", labels) == (9,)      # the 9th row shows （八）之二
    assert number_candidates("（十一）", labels) == (15,)       # the label, not row 11
    assert number_candidates("11", labels) == (11,)            # a row number written as such


@pytest.mark.parametrize("text, no, kind", [
    ("建立市县小微企业及个体工商户无贷户名单", 1, "abbreviated"),          # the first clause
    ("无贷户名单", 1, "abbreviated"),                                    # a key phrase
    ("开展首贷户拓展专项行动", 1, "abbreviated"),                        # the item's short title
    ("（一）建立市县小微企业及个体工商户无贷户名单", None, None),          # the label written into the text
])
def test_shortened_texts_keep_their_number(datong, text, no, kind):
    matcher = TaskMatcher(datong, "重点清单")
    found = matcher.match(1 if no else None, text)
    assert found.task_no == 1
    if kind:
        assert found.kind == kind


def test_a_wrong_number_is_overruled_by_a_clear_text_and_nonsense_stays_unmatched(datong):
    matcher = TaskMatcher(datong, "重点清单")
    task_two = datong.task("重点清单", 2).text
    assert matcher.match(5, task_two).task_no == 2 and matcher.match(5, task_two).kind == "by_text"
    lost = matcher.match(99, "开展金融知识宣传进社区活动")
    assert lost.task_no is None and lost.kind == "unmatched" and len(lost.candidates) == 3


def test_group_and_lead_columns_decide_when_number_and_text_are_missing(shanxi):
    matcher = TaskMatcher(shanxi, "责任分工表")
    found = matcher.match(None, None, group="健全政策性融资担保公司监督考核机制")
    assert (found.task_no, found.kind) == (3, "by_evidence")


@pytest.mark.parametrize("typed, unit_id", [
    ("中国工商银行股份有限公司大同分行", "icbc_datong"),
    ("大同市财信融资担保有限公司", "caixin_guarantee"),
    ("金融监管总局大同监管分局", "cbirc_datong"),
    ("国家金融监督管理总局大同监管分局", "cbirc_datong"),
    ("中国人民银行大同市分行", "pbc_datong"),
    ("大同市地方金融监督管理局", "finance_office"),
    ("大同市地方金融管理局", "finance_office"),
    ("人行大同中支", "pbc_datong"),
    ("农行大同分行", "abc_datong"),
    ("邮储大同分行", "psbc_datong"),
    ("灵丘县农村商业银行股份有限公司", "lingqiu_rcb"),
    ("灵丘县人民政府", "lingqiu_gov"),
])
def test_names_as_units_write_them(datong, typed, unit_id):
    assert datong.find_unit_in(typed).id == unit_id


def test_a_bank_named_after_its_county_is_never_the_county(datong):
    # an unknown bank of 灵丘县: no unit, rather than the county government
    assert datong.find_unit_in("灵丘县某某村镇银行") is None


def _plan_with_corrections(tmp_path: Path, text: str) -> Path:
    (tmp_path / "corrections").mkdir()
    shutil.copyfile(REPO / "data/plan/datong-2022.yaml", tmp_path / "datong-2022.yaml")
    (tmp_path / "corrections/datong-2022.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "datong-2022.yaml"


def test_corrections_round_trip_and_enter_the_plan_digest(tmp_path, datong):
    path = _plan_with_corrections(tmp_path, (
        "units:\n  - {name: 大同市某某小额贷款有限公司, unit: 市金融办}\n"
        "files:\n  - {cycle: 2022-07-25, file: 附件2.xlsx, unit: finance_bureau}\n"
        "rows:\n  - {file: 附件2.xlsx, sheet: Sheet1, row: 7, list: 重点清单, task: 3}\n"))
    plan = load_plan(path)
    fixes = plan.corrections
    assert fixes.unit_for_name("大同市某某小额贷款有限公司") == "finance_office"
    assert fixes.unit_for_file("附件2.xlsx", pd.Timestamp("2022-07-25").date()) == "finance_bureau"
    assert fixes.unit_for_file("附件2.xlsx", pd.Timestamp("2022-08-10").date()) is None
    assert fixes.task_for_row("sub/附件2.xlsx", "Sheet1", 7, None).task_no == 3
    assert plan.file_digest != datong.file_digest                 # an edit makes the next run read again


def test_every_problem_of_a_corrections_file_is_reported(tmp_path):
    path = _plan_with_corrections(tmp_path, (
        "units:\n  - {name: 某公司, unit: 不存在的单位}\n"
        "rows:\n  - {file: a.xlsx, row: 0, list: 重点清单, task: 99}\n"
        "extra: 1\n"))
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    places = [place for place, _ in caught.value.problems]
    assert places == ["人工对应.extra", "人工对应.units[0].unit", "人工对应.rows[0].row", "人工对应.rows[0].task"]


def test_a_sparse_cycle_says_so_loudly(datong):
    subs = pd.DataFrame({"received": [True] + [False] * 9})
    message = reconcile.sparse_cycle(datong, subs)
    assert message and "只收到 1 份台账（应报 10 份" in message
    assert reconcile.sparse_cycle(datong, pd.DataFrame({"received": [True] * 3 + [False] * 7})) is None
    findings = reconcile.submission_findings(datong, subs.assign(
        unit="x", unit_id="x", kind="task", on_time=None, report_date=None, files=""), pd.DataFrame(
        columns=["file", "unit_id", "unit", "kinds"]))
    assert findings[0].code == "cycle_sparse" and findings[0].severity == "error"
