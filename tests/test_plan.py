"""The plan files load, encode the seeds completely, and a broken plan is reported with every problem's place."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from helpers.plan.model import BANK_CATEGORIES, PlanError, load_plan, read_plan_yaml

REQUIRED_BANKS = {
    "中国工商银行大同分行": "国有大型银行", "中国农业银行大同分行": "国有大型银行", "中国银行大同分行": "国有大型银行",
    "中国建设银行大同分行": "国有大型银行", "交通银行大同分行": "国有大型银行", "中国邮政储蓄银行大同市分行": "国有大型银行",
    "兴业银行大同分行": "股份制银行", "中信银行大同分行": "股份制银行", "中国民生银行大同分行": "股份制银行",
    "晋商银行大同分行": "城市商业银行", "山西银行大同分行": "城市商业银行",
    "山西大同农村商业银行": "地方法人银行", "山西灵丘农村商业银行": "地方法人银行",
}
COUNTIES = ["平城区", "云冈区", "新荣区", "云州区", "阳高县", "天镇县", "广灵县", "灵丘县", "浑源县", "左云县"]


def test_datong_plan_is_complete(datong):
    assert len(datong.measures) == 17
    assert [m.numeral for m in datong.measures][:3] == ["一", "二", "三"]
    assert [len(lst.tasks) for lst in datong.lists] == [44, 14]
    assert [lst.name for lst in datong.lists] == ["全面清单", "重点清单"]
    assert all(t.responsible for t in datong.tasks)
    full = datong.task_list("全面清单")
    assert full.columns["progress"] == "双周进展情况"
    # merged 工作要求 cells are forward-filled; the label split over rows 27/28 is joined
    assert {full.tasks[i].group for i in range(24, 30)} == {"健全股权投资体系"}
    assert full.tasks[0].group == "提高信用贷款占比"
    # seed damage repaired in task text
    assert "依赖" in full.tasks[0].text and " " not in full.tasks[0].text
    assert full.tasks[28].text.endswith("。")


def test_datong_units_and_aliases(datong):
    for name, category in REQUIRED_BANKS.items():
        unit = datong.find_unit(name)
        assert unit is not None, name
        assert unit.kind == "bank" and unit.category == category
    assert all(b.category in BANK_CATEGORIES for b in datong.banks)
    for alias, official in [("工行大同分行", "中国工商银行大同分行"), ("建行大同分行", "中国建设银行大同分行"),
                            ("邮储银行大同市分行", "中国邮政储蓄银行大同市分行"), ("大同农商银行", "山西大同农村商业银行"),
                            ("人行大同中支", "中国人民银行大同市中心支行"), ("人行大同市中心支行", "中国人民银行大同市中心支行"),
                            ("市发改委", datong.find_unit("市发展改革委").name),
                            ("国家金融监督管理总局大同监管分局", datong.find_unit("大同银保监分局").name)]:
        assert datong.find_unit(alias).name == official, alias
    counties = datong.units_of(kind="county")
    assert len(counties) == 10
    assert all(any(c in u.name for c in COUNTIES) for u in counties)
    assert datong.find_unit_in("大同农商银行4.25台账(1)").name == "山西大同农村商业银行"


def test_collectives_expand_to_members(datong):
    banks = {b.id for b in datong.banks}
    task1 = datong.task("全面清单", 1)
    assert banks <= set(task1.responsible)  # 各银行机构 → every bank
    assert task1.responsible[0] == task1.lead[0]
    assert datong.expected_units("lending") == datong.banks


def test_key_list_milestones_parsed(datong):
    key = datong.task_list("重点清单")
    assert key.tasks[0].dated_milestones[0].due == dt.date(2022, 4, 30)
    assert key.tasks[0].dated_milestones[-1].due == dt.date(2022, 6, 30)
    # blank 完成时限 of key tasks 5, 7, 8 belong to the merged cell above: the same dates, each marked interpreted
    def dates(task):
        return [(m.text, m.due, m.rule) for m in task.milestones]

    assert dates(key.tasks[4]) == dates(key.tasks[3])
    assert dates(key.tasks[6]) == dates(key.tasks[5]) == dates(key.tasks[7])
    for task in (key.tasks[4], key.tasks[6], key.tasks[7]):
        assert all(m.interpreted for m in task.milestones), task.no
    assert not key.tasks[3].milestones[0].interpreted                  # 4月末前 of task 4 itself is not
    assert key.tasks[4].notes
    assert key.tasks[13].ongoing and not key.tasks[13].dated_milestones
    interpreted = [m for t in key.tasks for m in t.milestones if m.interpreted]
    assert any(m.due == dt.date(2022, 7, 31) for m in interpreted)  # 8月前 → end of July
    assert any(m.due == dt.date(2023, 1, 31) for m in interpreted)  # 次年2月前


def test_targets_present(datong):
    indicators = {t["indicator"] for t in datong.targets}
    assert {"credit_loan_share", "inclusive_sme_loan_growth", "transfer_pricing_discount_bp",
            "reply_within_5_workdays_rate", "guarantee_capital"} <= indicators
    big = [t for t in datong.targets_for("inclusive_sme_loan_growth") if t.get("threshold") is not None]
    assert big and big[0]["threshold"] == pytest.approx(0.30)
    assert datong.bank_plans


def test_shanxi_plan_loads(shanxi):
    assert len(shanxi.lists) == 1
    assert shanxi.lists[0].columns["text"] == "工作内容"
    items = {t.measure for t in shanxi.tasks}
    assert items == set(range(1, 14))
    assert any(t.lead and t.units for t in shanxi.tasks)
    assert len(shanxi.collectives["各市（县）政府"]) == 11


def test_broken_plan_reports_every_problem_with_place(tiny_plan_path: Path):
    data = read_plan_yaml(tiny_plan_path.read_text(encoding="utf-8"))
    data["units"][2]["category"] = "外资银行"
    data["units"].append({"id": "dup", "name": "另一家", "aliases": ["工行大同分行"], "kind": "bank",
                          "category": "股份制银行"})
    data["lists"][0]["tasks"][1]["lead"] = ["nobody"]
    data["lists"][1]["tasks"][0]["milestones"][1]["due"] = "2022-07-31"
    tiny_plan_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_plan(tiny_plan_path)
    places = dict(caught.value.problems)
    assert "units[2].category" in places
    assert any(p.startswith("units[5].aliases") for p in places)
    assert "lists[0].tasks[1].lead[0]" in places
    assert "lists[1].tasks[0].milestones" in places
    assert "未通过校验" in str(caught.value) and "4 个问题" in str(caught.value)


def test_yaml_syntax_error_has_line(tiny_plan_path: Path):
    tiny_plan_path.write_text("plan:\n  id: [unclosed\n", encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_plan(tiny_plan_path)
    assert "第 " in caught.value.problems[0][0]


def test_tiny_plan_responsibilities(tiny_plan):
    resp = tiny_plan.responsibilities
    first = resp[(resp["list"] == "全面清单") & (resp["task_no"] == 1)]
    assert list(first["unit_id"]) == ["finance_office", "icbc", "rcb"]
    assert list(first["role"]) == ["牵头", "责任", "责任"]
    assert {u.id for u in tiny_plan.expected_units("task")} == {"finance_office", "finance_bureau", "icbc", "rcb"}


def test_plan_file_is_parsed_once_while_it_is_unchanged(tiny_plan_path: Path):
    """Every notebook of a run opens the plan again: the same text gives the same (immutable) plan object, an
    edited file is read anew, and a file that no longer validates is still refused."""
    first = load_plan(tiny_plan_path)
    assert load_plan(tiny_plan_path) is first
    tiny_plan_path.write_text(tiny_plan_path.read_text(encoding="utf-8").replace(
        first.title, first.title + "（修订）"), encoding="utf-8")
    edited = load_plan(tiny_plan_path)
    assert edited is not first and edited.title == first.title + "（修订）"
    tiny_plan_path.write_text("lists: [", encoding="utf-8")
    with pytest.raises(PlanError):
        load_plan(tiny_plan_path)


def test_deadline_phrases_the_parser_cannot_date_are_reported(tmp_path):
    text = (Path(__file__).parents[1] / "data/plan/datong-2022.yaml").read_text(encoding="utf-8").replace(
        "deadline: 4月末前形成工作方案；6月末前完成；次年2月前评估年度执行效果。",
        "deadline: 4月末前形成工作方案；二季度末前完成；次年2月前评估年度执行效果。", 1)
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanError, match="「二季度末前完成」无法识别为日期"):
        load_plan(path)
