"""Reconciling a cycle's ledgers against the plan: who sent what and when (`submissions`), and a status light
with a Chinese reason for every unit × task it is responsible for (`task_status`)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Iterable

import pandas as pd

from ..core import findings as fd
from ..core.cycles import next_cycle
from ..core.deadlines import Milestone
from ..ingest.formats import DONE, LATE, LEDGER_KIND_LABELS, NOT_STARTED
from ..plan.model import Plan, Task
from ..core.values import text_key

LIGHTS = ("red", "orange", "yellow", "green", "grey")
LIGHT_LABELS = {"red": "红", "orange": "橙", "yellow": "黄", "green": "绿", "grey": "灰"}
LIGHT_SEVERITY = {"grey": 0, "green": 0, "yellow": 1, "orange": 2, "red": 3}
SUBMISSION_COLUMNS = ["unit", "unit_id", "kind", "received", "on_time", "report_date", "files"]
STATUS_COLUMNS = [
    "unit", "unit_id", "role", "list", "task_no", "status", "light", "reason", "progress", "next_due",
    "next_milestone", "copied", "previous_light", "worse", "file", "row",
]


def submissions(plan: Plan, files: pd.DataFrame, tables: dict[str, pd.DataFrame], cycle: dt.date) -> pd.DataFrame:
    """One row per expected unit × ledger kind: `received`, `on_time` (null when the 填报日期 is unknown),
    `report_date` and the `files` it came in. A bank named in someone else's 主要指标 (人行's consolidated
    ledger) counts as received through that file."""
    rows = []
    used = files[files["used"]] if len(files) else files
    # (unit_id, kind) → the used files' names and 填报日期, in file order: one pass instead of one filter per unit
    sent: dict[tuple, tuple[list, list]] = {}
    if len(used):
        for unit_id, kinds, name, date in zip(used["unit_id"], used["kinds"], used["file"], used["report_date"]):
            for kind in (kinds.split(",") if isinstance(kinds, str) else ()):
                names_, dates_ = sent.setdefault((unit_id, kind), ([], []))
                names_.append(name)
                dates_.append(date)
    for kind in plan.ledgers:
        for unit in plan.expected_units(kind):
            names, all_dates = sent.get((unit.id, kind), ([], []))
            names = list(names)
            dates = [d for d in all_dates if d is not None and not pd.isna(d)]
            if kind == "lending" and not names:
                names, dates = _named_in_summary(tables.get("bank_summary"), unit.id, files)
            received = bool(names)
            on_time = None
            if received and dates:
                on_time = max(dates) <= cycle
            rows.append(
                {
                    "unit": unit.name,
                    "unit_id": unit.id,
                    "kind": kind,
                    "received": received,
                    "on_time": on_time,
                    "report_date": max(dates) if dates else None,
                    "files": "；".join(sorted(names)),
                }
            )
    frame = pd.DataFrame(rows, columns=SUBMISSION_COLUMNS)
    return frame.astype({"received": "bool", "on_time": "boolean"})


def _named_in_summary(summary: pd.DataFrame | None, unit_id: str, files: pd.DataFrame) -> tuple[list[str], list]:
    if summary is None or "bank_id" not in summary or not len(summary):
        return [], []
    hits = summary[summary["bank_id"] == unit_id]
    names = sorted(set(hits["file"]))
    dates = [d for d in files[files["file"].isin(names)]["report_date"] if d is not None and not pd.isna(d)]
    return names, dates


SPARSE_CYCLE_SHARE = 0.25   # default of the plan's `sparse_cycle_share` (docs/plan-format.md)


def sparse_cycle(plan: Plan, subs: pd.DataFrame) -> str | None:
    """A loud warning when the cycle folder holds few of the ledgers due (fewer than the plan's
    `sparse_cycle_share`, default a quarter): most likely the files were not all put in place yet, and every
    unit that is missing would otherwise show red. None for a cycle with enough ledgers."""
    due = len(subs)
    if not due:
        return None
    received = int(subs["received"].sum())
    share = float(plan.meta.get("sparse_cycle_share", SPARSE_CYCLE_SHARE))
    if received >= due * share:
        return None
    return (f"本期只收到 {received} 份台账（应报 {due} 份，{received / due:.0%}），很可能文件尚未放全："
            f"请核对原始台账文件夹后重新运行。未收到台账的单位本期均显示为红灯；下期模板沿用上一次的内容，未据此覆盖。")


def submission_findings(plan: Plan, subs: pd.DataFrame, files: pd.DataFrame) -> list[fd.Finding]:
    """Missing and late ledgers, ledgers from units the plan does not expect for that kind, and a cycle folder
    that holds few of the ledgers due."""
    out = []
    sparse = sparse_cycle(plan, subs)
    if sparse:
        out.append(fd.error("cycle_sparse", sparse))
    for row in subs.itertuples():
        label = LEDGER_KIND_LABELS[row.kind]
        if not row.received:
            out.append(fd.warning("ledger_missing", f"未收到{label}", unit=row.unit))
        elif pd.isna(row.on_time):
            out.append(fd.info("report_date_unknown", f"{label}未填写填报日期，无法判断是否按时", unit=row.unit,
                               file=row.files))
        elif not row.on_time:
            out.append(fd.warning("ledger_late", f"{label}填报日期 {row.report_date} 晚于报送日", unit=row.unit,
                                  file=row.files))
    expected = {(r.unit_id, r.kind) for r in subs.itertuples()}
    for row in files.itertuples():
        if row.unit_id is None or pd.isna(row.unit_id):
            continue
        for kind in str(row.kinds).split(","):
            if kind and (row.unit_id, kind) not in expected:
                out.append(fd.info("ledger_unexpected", f"计划未要求该单位报送{LEDGER_KIND_LABELS[kind]}，已读取备查",
                                   unit=row.unit, file=row.file))
    return out


def effective_milestones(plan: Plan, task: Task) -> tuple[Milestone, ...]:
    """A task's own milestones, else those of the same task in another list (a 全面清单 task shares the
    dated milestones of its 重点清单 twin)."""
    if task.milestones:
        return task.milestones
    for other in plan.tasks:
        if other.same_as == (task.list_name, task.no) and other.milestones:
            return other.milestones
    if task.same_as:
        try:
            return plan.task(*task.same_as).milestones
        except KeyError:
            return ()
    return ()


def task_status(
    plan: Plan,
    progress: pd.DataFrame,
    cycle: dt.date,
    previous_progress: pd.DataFrame | None = None,
    previous_status: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per unit × task the unit is responsible for, lead units first, with `light` and `reason`.

    `progress` needs `unit_id`, `list`, `task_no`, `status`, `progress` (and `file`, `row`). Lights, in order:
    red (no row; last milestone passed and not 已完成; a milestone passed while 未启动/滞后), orange (滞后;
    progress identical to the previous cycle's), yellow (a milestone due after this cycle and by the next),
    green (已完成; progress reported with nothing due yet), grey (no dated milestone)."""
    upcoming = next_cycle(cycle, plan.report_days)
    reported = _latest_rows(progress)
    sent, unmatched = _senders_and_unmatched(progress)
    before = _latest_rows(previous_progress) if previous_progress is not None else {}
    milestones_of: dict[tuple[str, int], tuple[Milestone, ...]] = {}
    prev_lights = {}
    if previous_status is not None and len(previous_status):
        prev_lights = {(r.unit_id, r.list, int(r.task_no)): r.light for r in previous_status.itertuples()}
    rows = []
    for resp in plan.responsibilities.sort_values(["list_order", "task_no", "role_order"], kind="stable").itertuples():
        task = plan.task(resp.list, resp.task_no)
        milestones = milestones_of.get((resp.list, resp.task_no))
        if milestones is None:
            milestones = milestones_of[(resp.list, resp.task_no)] = effective_milestones(plan, task)
        key = (resp.unit_id, resp.list, resp.task_no)
        row = reported.get(key)
        prev = before.get(key)
        if row is None:
            light, reason, copied = _not_reported(resp.unit_id, resp.list, sent, unmatched)
        else:
            light, reason, copied = _light(task, milestones, row, prev, cycle, upcoming)
        nxt = next((m for m in sorted(_dated(milestones), key=lambda m: m.due) if m.due >= cycle), None)
        prev_light = prev_lights.get(key)
        rows.append(
            {
                "unit": resp.unit,
                "unit_id": resp.unit_id,
                "role": resp.role,
                "list": resp.list,
                "task_no": resp.task_no,
                "status": (UNMATCHED_STATUS if light == "grey" else None) if row is None else row.get("status"),
                "light": light,
                "reason": reason,
                "progress": None if row is None else row.get("progress"),
                "next_due": nxt.due if nxt else None,
                "next_milestone": nxt.text if nxt else None,
                "copied": copied,
                "previous_light": prev_light,
                "worse": _got_worse(prev_light, light),
                "file": None if row is None else row.get("file"),
                "row": None if row is None else row.get("row"),
            }
        )
    frame = pd.DataFrame(rows, columns=STATUS_COLUMNS)
    return frame.astype({"task_no": "int64", "row": "Int64", "copied": "bool", "worse": "bool"})


UNMATCHED_STATUS = "待核对"


def _senders_and_unmatched(progress: pd.DataFrame | None) -> tuple[set, dict[tuple[str, str], list[int]]]:
    """The units that sent progress this cycle, and per (unit, list) the Excel rows no task could be matched to."""
    if progress is None or not len(progress):
        return set(), {}
    sent = set(progress["unit_id"].dropna())
    unmatched: dict[tuple[str, str], list[int]] = {}
    loose = progress[progress["task_no"].isna() & progress["unit_id"].notna()]
    for unit_id, list_name, row in zip(loose["unit_id"], loose["list"], loose.get("row", [None] * len(loose))):
        unmatched.setdefault((unit_id, list_name), []).append(row)
    return sent, unmatched


def _not_reported(unit_id: str, list_name: str, sent: set, unmatched: dict) -> tuple[str, str, bool]:
    """A task with no row of its unit: a unit that sent rows no task matched is awaiting the analyst's check,
    never 「未报送」; one that sent its ledger without this task left it out; only the others did not report."""
    rows = unmatched.get((unit_id, list_name))
    if rows:
        shown = "、".join(str(int(r)) for r in rows[:5] if r is not None and not pd.isna(r))
        return ("grey", f"已报送台账，但有行（第 {shown} 行）未能对应到计划任务，待核对（见数据质量问题中的最接近任务；"
                        f"可在人工对应文件中指定）", False)
    if unit_id in sent:
        return "red", "已报送台账，但台账中没有该任务的进展", False
    return "red", "本期未报送该任务的进展", False


def _got_worse(previous: str | None, current: str) -> bool:
    """Worse since the previous cycle: the light turned orange or red from something milder. A green task whose
    milestone merely comes due (yellow) has not got worse."""
    return previous is not None and current in ("red", "orange") and LIGHT_SEVERITY[current] > LIGHT_SEVERITY[previous]


def _dated(milestones: Iterable[Milestone]) -> list[Milestone]:
    return [m for m in milestones if m.due is not None]


_ROW_FIELDS = frozenset({"unit_id", "list", "task_no", "status", "progress", "file", "row"})


def _latest_rows(progress: pd.DataFrame | None) -> dict[tuple, dict]:
    """(unit_id, list, task_no) → the row reported; a unit reporting a task twice keeps its last row."""
    if progress is None or not len(progress):
        return {}
    usable = progress.dropna(subset=["unit_id", "task_no"])
    usable = usable[[c for c in usable.columns if c in _ROW_FIELDS]]   # the fields a light looks at, no more
    out = {}
    for record in usable.to_dict("records"):
        out[(record["unit_id"], record["list"], int(record["task_no"]))] = record
    return out


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or (isinstance(value, str) and not value.strip()) \
        or value is pd.NA


def _light(task: Task, milestones, row: dict, prev: dict | None, cycle: dt.date, upcoming: dt.date
           ) -> tuple[str, str, bool]:
    dated = sorted(_dated(milestones), key=lambda m: m.due)
    status = None if _blank(row.get("status")) else row.get("status")
    text = None if _blank(row.get("progress")) else row.get("progress")
    if status is None and text is None:
        return "red", "填报了该任务，但进展情况和进展状态均为空", False
    done = status == DONE
    passed = [m for m in dated if m.due < cycle]
    copied = bool(text and prev is not None and not _blank(prev.get("progress"))
                  and _text_key(text) == _text_key(prev.get("progress")))
    if dated and not done and dated[-1].due < cycle:
        last = dated[-1]
        return "red", f"最后节点 {last.due:%Y-%m-%d}「{last.text}」已过，未报告已完成", copied
    if passed and status in (NOT_STARTED, LATE):
        m = passed[-1]
        return "red", f"节点 {m.due:%Y-%m-%d}「{m.text}」已过，状态为{status}", copied
    if status == LATE:
        return "orange", "单位报告进度滞后", copied
    if copied:
        return "orange", "进展内容与上期完全相同（疑似复制粘贴）", copied
    soon = [m for m in dated if cycle < m.due <= upcoming]
    if soon and not done:
        m = soon[0]
        return "yellow", f"节点 {m.due:%Y-%m-%d}「{m.text}」将在下期报送日（{upcoming:%Y-%m-%d}）前到期", copied
    if done:
        return "green", "已完成", copied
    if not dated:
        return "grey", "持续推进类任务，无明确时间节点", copied
    nxt = next(m for m in dated if m.due >= cycle)
    return "green", f"已报送进展，下一节点 {nxt.due:%Y-%m-%d}「{nxt.text}」尚未到期", copied


@lru_cache(maxsize=1 << 15)
def _text_key(text: str) -> str:
    """`text_key`, remembered: each progress text is compared with the next cycle's too."""
    return text_key(text)


def light_counts(status: pd.DataFrame) -> pd.Series:
    """Count of rows per light, in LIGHTS order, zeros included."""
    return status["light"].value_counts().reindex(list(LIGHTS), fill_value=0)


def on_time_rate(subs: pd.DataFrame) -> float | None:
    """按时报送率: ledgers received with a 填报日期 on or before the report date ÷ ledgers due."""
    if not len(subs):
        return None
    return float((subs["received"] & subs["on_time"].fillna(False)).sum() / len(subs))
