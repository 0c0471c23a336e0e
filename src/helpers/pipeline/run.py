"""A run: the plan, the folders and the cycle a notebook works on, checked before anything is read.

Kept apart from `pipeline` (which imports the whole reading and computing stack) so that `taizhang run` can check
its arguments, and say in one line why it cannot run, without importing pandas.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from .catalog import Catalog
from ..core.cycles import CycleError, parse_cycle
from .paths import DEFAULT_PROCESSED, DEFAULT_RAW, DEFAULT_REPORTS, Folders, resolve_plan
from ..core.locations import repo_path
from ..plan.model import Plan, PlanError, load_plan

DEMO_RAW = Path("data/demo/raw")
DEMO_PROCESSED = Path("data/demo/processed")


class RunError(RuntimeError):
    """The cycle cannot run at all; the message is one Chinese line for the analyst."""


@dataclass(frozen=True)
class Run:
    plan: Plan
    folders: Folders
    cycle: str
    catalog: Catalog
    note: str | None = None   # e.g. that the demo data was used because data/raw holds no cycle

    @property
    def date(self) -> dt.date:
        return dt.date.fromisoformat(self.cycle)

    @property
    def previous(self) -> str:
        return self.catalog.previous(self.cycle)


def open_run(
    cycle: str | None = None,
    plan: str | Path | None = None,
    raw: str | Path = DEFAULT_RAW,
    processed: str | Path = DEFAULT_PROCESSED,
    reports: str | Path = DEFAULT_REPORTS,
) -> Run:
    """Validate the run's arguments: the plan file, the folders and the cycle (default: the latest cycle folder).

    When the default raw folder holds no cycle, the demo folders are used instead and `Run.note` says so, so a
    notebook opened on a fresh clone still runs top to bottom."""
    plan_obj = run_plan(plan)
    folders = run_folders(raw, processed, reports)
    catalog = Catalog(folders, plan_obj.report_days)
    note = None
    if not catalog.raw_cycles() and Path(raw) == DEFAULT_RAW and Path(processed) == DEFAULT_PROCESSED:
        demo = Folders.of(repo_path(DEMO_RAW), repo_path(DEMO_PROCESSED), folders.reports)
        if Catalog(demo, plan_obj.report_days).raw_cycles():
            folders, catalog = demo, Catalog(demo, plan_obj.report_days)
            note = f"{DEFAULT_RAW} 中还没有周期文件夹，以下使用演示数据（{DEMO_RAW}）"
    if not cycle:
        cycles = catalog.raw_cycles()
        if not cycles:
            raise RunError(f"原始数据目录 {folders.raw} 中没有周期文件夹（应为 YYYY-MM-DD，如 2022-06-25）")
        cycle = cycles[-1]
    report_date(cycle, plan_obj)
    if not folders.cycle_raw(cycle).is_dir():
        raise RunError(f"找不到周期文件夹 {folders.cycle_raw(cycle)}")
    return Run(plan_obj, folders, cycle, catalog, note)


def run_plan(plan: str | Path | None) -> Plan:
    """The plan file given (relative to the repository) or the default one, read and checked; a RunError (one
    Chinese line) when it cannot be used."""
    try:
        return load_plan(resolve_plan(str(repo_path(plan)) if plan else None))
    except (PlanError, FileNotFoundError) as exc:
        raise RunError(str(exc)) from exc


def run_folders(raw: str | Path, processed: str | Path, reports: str | Path) -> Folders:
    """The run's folders, relative ones taken from the repository; a RunError (one Chinese line) for a folder
    that is a file, or a processed or reports folder inside the raw folder (which the suite never writes into)."""
    folders = Folders.of(repo_path(raw), repo_path(processed), repo_path(reports))
    for name, option, path in (("原始数据目录", "--raw", folders.raw), ("处理结果目录", "--processed", folders.processed),
                               ("报告目录", "--reports", folders.reports)):
        if path.exists() and not path.is_dir():
            raise RunError(f"{name}（{option}）{path} 是一个文件，不是文件夹")
    for name, option, path in (("处理结果目录", "--processed", folders.processed), ("报告目录", "--reports", folders.reports)):
        if path == folders.raw or folders.raw in path.parents:
            raise RunError(f"{name}（{option}）{path} 位于原始数据目录 {folders.raw} 之内；原始台账只读，请另选目录")
    return folders


def report_date(cycle: str, plan: Plan) -> dt.date:
    """The cycle's date, which must be one of the plan's report dates; a RunError otherwise."""
    try:
        return parse_cycle(cycle, plan.report_days)
    except CycleError as exc:
        raise RunError(str(exc)) from exc
