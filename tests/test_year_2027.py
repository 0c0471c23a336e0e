"""The suite past chinesecalendar's last year (issue 16): a 2027 plan (the Datong plan with every date moved five
years on) runs end to end with the office's calendar file for 2027."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers.plan.model import load_plan
from tests.conftest import REPO

pytestmark = pytest.mark.slow

# a 2027 as the office would type it from the State Council's notice (dates for the test only)
CALENDAR_2027 = """
longest_break: 9
years:
  2027:
    source: 国务院办公厅关于2027年部分节假日安排的通知（测试用）
    holidays: [2027-01-01, 2027-02-06..2027-02-13, 2027-04-05, 2027-05-01..2027-05-05, 2027-06-09,
               2027-09-15, 2027-10-01..2027-10-07]
    workdays: [2027-02-14, 2027-04-25, 2027-10-09]
"""


def plan_2027(folder: Path) -> Path:
    """datong-2022.yaml with each year from 2021 to 2025 moved five years on (2022 → 2027)."""
    text = (REPO / "data/plan/datong-2022.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?<![0-9])(202[1-5])(?![0-9])", lambda m: str(int(m.group(1)) + 5), text)
    path = folder / "datong-2027.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_2027_plan_runs_end_to_end_with_the_calendar_file(tmp_path: Path):
    from taizhang_demo.generator import write_demo

    calendar = tmp_path / "workdays.yaml"
    calendar.write_text(CALENDAR_2027, encoding="utf-8")
    path = plan_2027(tmp_path)
    plan = load_plan(path)
    assert plan.year == 2027 and plan.task_list("重点清单").tasks[0].dated_milestones[0].due.year == 2027
    env = {**os.environ, "TAIZHANG_CALENDAR": str(calendar),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    os.environ["TAIZHANG_CALENDAR"] = str(calendar)
    try:
        write_demo(plan, tmp_path / "raw", cycles=["2027-06-10", "2027-06-25"])
    finally:
        del os.environ["TAIZHANG_CALENDAR"]
    result = subprocess.run([sys.executable, "-m", "helpers.cli", "run", "--plan", str(path), "--raw", "raw",
                             "--processed", "processed", "--reports", "reports"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "reports/2027-06-25/report.html").is_file()
    processed = tmp_path / "processed/2027-06-25"
    indicators = pd.read_parquet(processed / "indicators.parquet")
    reply = indicators[(indicators["indicator"] == "reply_within_5_workdays_rate") & (indicators["scope"] == "city")]
    assert len(reply) == 1 and reply["denominator"].iloc[0] > 0           # judged with the 2027 calendar
    assert "工作日历未覆盖" not in reply["basis"].iloc[0]
    assert "calendar_unavailable" not in set(pd.read_parquet(processed / "findings.parquet")["code"])
    # the capital target moved to 2028-12-31 is not yet due in 2027: never red for being short
    capital = indicators[indicators["indicator"] == "guarantee_capital"]
    assert len(capital) and "red" not in set(capital["status"].dropna())
