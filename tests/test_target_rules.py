"""The shared status rule: light bands from the plan and targets before their due date (issue 16)."""

import datetime as dt
from types import SimpleNamespace

import pytest

from helpers.indicators import target_rules as tr

CAPITAL = {"id": "capital", "comparator": ">=", "threshold": 50000, "due": dt.date(2023, 12, 31)}


def plan(**meta):
    return SimpleNamespace(meta=meta, year=2022)


def test_short_before_due_is_pending_with_gap_and_due_date():
    status, target, note = tr.judge(plan(), CAPITAL, 30000.0, 50000.0, dt.date(2022, 6, 25))
    assert status is None and target == 50000.0               # never red for being short early
    assert note == "未到期（2023-12-31 到期），尚差 20000"


def test_met_before_due_is_green():
    assert tr.judge(plan(), CAPITAL, 50000.0, 50000.0, dt.date(2022, 6, 25))[0] == "green"


def test_once_due_the_full_target_and_the_bands_apply():
    assert tr.judge(plan(), CAPITAL, 30000.0, 50000.0, dt.date(2024, 1, 10)) == ("red", 50000.0, "")
    assert tr.judge(plan(), CAPITAL, 30000.0, 50000.0, dt.date(2023, 12, 31))[0] == "red"   # due that very day


def test_path_before_due():
    # from 2022-01-01 (plan year) to 2023-12-31: 729 days; on 2022-12-31, 364 elapsed → path 50000 × 364/729
    target = {**CAPITAL, "before_due": "path"}
    status, path, note = tr.judge(plan(), target, 20000.0, 50000.0, dt.date(2022, 12, 31))
    assert path == pytest.approx(50000 * 364 / 729)          # 24,965.7: 20,000 is short by 19.9% → orange
    assert status == "orange" and "按时序进度 49.9% 应达" in note
    # a start value: 30,000 on 2022-01-01 → path 30000 + 20000 × 364/729 = 39,986.3; 38,000 short 5.0% → yellow
    status, path, _ = tr.judge(plan(), {**target, "start_value": 30000}, 38000.0, 50000.0, dt.date(2022, 12, 31))
    assert path == pytest.approx(30000 + 20000 * 364 / 729) and status == "yellow"


def test_plan_default_and_now():
    assert tr.judge(plan(targets_before_due="now"), CAPITAL, 30000.0, 50000.0, dt.date(2022, 6, 25))[0] == "red"
    # the target's own setting wins over the plan's
    target = {**CAPITAL, "before_due": "pending"}
    assert tr.judge(plan(targets_before_due="now"), target, 30000.0, 50000.0, dt.date(2022, 6, 25))[0] is None


def test_caps_hold_at_every_cycle():
    cap = {"comparator": "<=", "threshold": 10, "due": dt.date(2023, 12, 31)}
    assert tr.judge(plan(), cap, 14.0, 10.0, dt.date(2022, 6, 25))[0] == "red"


def test_light_bands_from_the_plan():
    # 45,000 against 50,000 is short by 10%: orange with the default bands, yellow with bands of 15% / 40%
    late = dt.date(2024, 1, 10)
    assert tr.judge(plan(), CAPITAL, 45000.0, 50000.0, late)[0] == "orange"
    wide = plan(light_bands={"relative": [0.15, 0.40]})
    assert tr.judge(wide, CAPITAL, 45000.0, 50000.0, late)[0] == "yellow"
    assert tr.judge(wide, CAPITAL, 29000.0, 50000.0, late)[0] == "red"          # short by 42%
    assert tr.light_bands(wide)["points"] == (10.0, 30.0)                         # the missing part from the default


def test_plan_file_settings_are_validated(tmp_path):
    from helpers.plan.model import PlanError, load_plan
    from pathlib import Path
    text = (Path(__file__).parents[1] / "data/plan/datong-2022.yaml").read_text(encoding="utf-8")
    bad = text.replace("targets_before_due: pending", "targets_before_due: later").replace(
        "light_bands: {relative: [0.10, 0.30]", "light_bands: {relative: [0.30, 0.10]")
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(PlanError) as err:
        load_plan(path)
    assert "plan.targets_before_due" in str(err.value) and "plan.light_bands.relative" in str(err.value)


def test_guarantee_balance_tolerance_from_the_plan():
    from helpers.indicators import guarantee as gt
    assert gt.balance_tolerance(plan()) == gt.BALANCE_TOLERANCE == 0.005
    assert gt.balance_tolerance(plan(tolerances={"guarantee_balance": 0.02})) == 0.02


def test_reply_label_and_chart_follow_the_plans_workdays():
    from helpers.indicators import lending
    from helpers.indicators import targets
    reply = SimpleNamespace(targets_for=lambda ind: [{"workdays": 3}] if ind == "reply_within_5_workdays_rate" else [])
    assert lending.reply_workdays(reply) == 3
    assert "5" not in targets.INDICATORS["reply_within_5_workdays_rate"].label
