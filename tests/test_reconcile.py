"""Every light rule, in its order, on the tiny plan (key task 1: milestones 2022-04-30 and 2022-06-30)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from helpers.reconcile import lights as reconcile


def progress(*rows):
    cols = ["unit_id", "list", "task_no", "status", "progress", "file", "row"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols).astype({"task_no": "Int64", "row": "Int64"})


def light_of(status, unit, list_name, no):
    row = status[(status["unit_id"] == unit) & (status["list"] == list_name) & (status["task_no"] == no)]
    assert len(row) == 1
    return row.iloc[0]["light"], row.iloc[0]["reason"]


KEY = "重点清单"


@pytest.mark.parametrize(
    "cycle, status_text, progress_text, expected, reason_part",
    [
        # rule 1: last milestone passed and not 已完成
        (dt.date(2022, 7, 10), "正常推进", "推进中", "red", "最后节点 2022-06-30"),
        # rule 1: a milestone passed while 未启动 / 滞后
        (dt.date(2022, 5, 10), "未启动", "尚未开展", "red", "状态为未启动"),
        (dt.date(2022, 5, 10), "滞后", "进度慢", "red", "状态为滞后"),
        # rule 2: 滞后 before any milestone passed
        (dt.date(2022, 4, 10), "滞后", "进度慢", "orange", "滞后"),
        # rule 3: milestone 2022-04-30 falls after 04-25 and on/before the next cycle (05-10)
        (dt.date(2022, 4, 25), "正常推进", "方案起草中", "yellow", "2022-04-30"),
        (dt.date(2022, 6, 25), "正常推进", "推送中", "yellow", "2022-06-30"),
        # rule 4: completed, or reported with nothing due yet
        (dt.date(2022, 7, 10), "已完成", "已推送", "green", "已完成"),
        (dt.date(2022, 5, 25), "正常推进", "名单已汇总", "green", "下一节点 2022-06-30"),
    ],
)
def test_key_task_lights(tiny_plan, cycle, status_text, progress_text, expected, reason_part):
    rows = progress(("finance_office", KEY, 1, status_text, progress_text, "a.xlsx", 5))
    status = reconcile.task_status(tiny_plan, rows, cycle)
    light, reason = light_of(status, "finance_office", KEY, 1)
    assert light == expected
    assert reason_part in reason


def test_missing_row_is_red_and_every_responsibility_has_a_row(tiny_plan, cycle_date):
    status = reconcile.task_status(tiny_plan, progress(), cycle_date)
    assert len(status) == len(tiny_plan.responsibilities)
    assert set(status["light"]) == {"red"}
    assert (status["reason"] == "本期未报送该任务的进展").all()


def test_empty_progress_and_status_is_red(tiny_plan, cycle_date):
    rows = progress(("finance_office", KEY, 1, None, "  ", "a.xlsx", 5))
    light, reason = light_of(reconcile.task_status(tiny_plan, rows, cycle_date), "finance_office", KEY, 1)
    assert light == "red" and "均为空" in reason


def test_copy_pasted_progress_is_orange(tiny_plan):
    before = progress(("icbc", "全面清单", 2, "正常推进", "已设立首贷服务站点 3 个。", "b.xlsx", 6))
    now = progress(("icbc", "全面清单", 2, "正常推进", "已设立首贷服务站点 3 个。 ", "c.xlsx", 6))
    status = reconcile.task_status(tiny_plan, now, dt.date(2022, 5, 25), previous_progress=before)
    light, reason = light_of(status, "icbc", "全面清单", 2)
    assert light == "orange" and "复制" in reason
    assert bool(status[(status["unit_id"] == "icbc") & (status["task_no"] == 2)]["copied"].iloc[0])


def test_changed_progress_is_not_copied(tiny_plan):
    before = progress(("icbc", "全面清单", 2, "正常推进", "已设立首贷服务站点 3 个。", "b.xlsx", 6))
    now = progress(("icbc", "全面清单", 2, "正常推进", "已设立首贷服务站点 5 个。", "c.xlsx", 6))
    status = reconcile.task_status(tiny_plan, now, dt.date(2022, 5, 25), previous_progress=before)
    assert light_of(status, "icbc", "全面清单", 2)[0] == "grey"


def test_task_without_dated_milestone_is_grey_unless_done(tiny_plan, cycle_date):
    rows = progress(("finance_bureau", KEY, 2, "正常推进", "起草中", "d.xlsx", 5),
                    ("finance_bureau", "全面清单", 3, "已完成", "已印发", "d.xlsx", 6))
    status = reconcile.task_status(tiny_plan, rows, cycle_date)
    assert light_of(status, "finance_bureau", KEY, 2)[0] == "grey"
    assert light_of(status, "finance_bureau", "全面清单", 3)[0] == "green"


def test_full_list_task_shares_milestones_of_its_key_twin(tiny_plan):
    rows = progress(("finance_office", "全面清单", 1, "正常推进", "推进中", "a.xlsx", 5))
    status = reconcile.task_status(tiny_plan, rows, dt.date(2022, 7, 10))
    light, reason = light_of(status, "finance_office", "全面清单", 1)
    assert light == "red" and "2022-06-30" in reason


def test_lead_rows_come_first_and_worse_is_flagged(tiny_plan, cycle_date):
    before = reconcile.task_status(
        tiny_plan, progress(("icbc", KEY, 1, "已完成", "已推送", "x.xlsx", 5)), cycle_date)
    status = reconcile.task_status(tiny_plan, progress(), cycle_date, previous_status=before)
    task = status[(status["list"] == KEY) & (status["task_no"] == 1)]
    assert list(task["role"]) == ["牵头", "责任", "责任"]
    icbc = task[task["unit_id"] == "icbc"].iloc[0]
    assert icbc["previous_light"] == "green" and icbc["light"] == "red" and bool(icbc["worse"])


def test_submissions_and_on_time_rate(tiny_plan, cycle_date):
    files = pd.DataFrame([
        {"file": "a.xlsx", "unit_id": "finance_office", "kinds": "task", "report_date": dt.date(2022, 6, 24), "used": True},
        {"file": "b.xlsx", "unit_id": "icbc", "kinds": "task", "report_date": dt.date(2022, 6, 27), "used": True},
        {"file": "c.xlsx", "unit_id": "rcb", "kinds": "task", "report_date": None, "used": True},
    ])
    subs = reconcile.submissions(tiny_plan, files, {}, cycle_date)
    by_unit = subs.set_index("unit_id")
    assert bool(by_unit.loc["finance_office", "on_time"]) is True
    assert bool(by_unit.loc["icbc", "on_time"]) is False
    assert pd.isna(by_unit.loc["rcb", "on_time"])
    assert not by_unit.loc["finance_bureau", "received"]
    assert reconcile.on_time_rate(subs) == pytest.approx(1 / 4)
    codes = [f.code for f in reconcile.submission_findings(tiny_plan, subs, files)]
    assert sorted(codes) == ["ledger_late", "ledger_missing", "report_date_unknown"]


def test_milestone_coming_due_is_not_worse(tiny_plan):
    rows = progress(("finance_office", KEY, 1, "正常推进", "推进中", "a.xlsx", 5))
    before = reconcile.task_status(tiny_plan, rows, dt.date(2022, 6, 10))
    after = reconcile.task_status(tiny_plan, progress(("finance_office", KEY, 1, "正常推进", "推送中", "a.xlsx", 5)),
                                  dt.date(2022, 6, 25), previous_status=before)
    row = after[(after["unit_id"] == "finance_office") & (after["list"] == KEY)].iloc[0]
    assert (row["previous_light"], row["light"]) == ("green", "yellow")
    assert not bool(row["worse"])
