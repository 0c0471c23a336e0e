"""Cleaning ledgers: recognise what each workbook is and who sent it from its content, read every sheet into a
typed frame, match progress rows to the plan's tasks, and keep one ledger per unit and kind.

Input: `sources.Workbook` objects (this module opens no file). Output: `CycleLedgers`, frames ready for the
reconciliation and indicator stages, and findings for everything that was odd.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from ..core import findings as fd
from .formats import BANK_SUMMARY, GUARANTEE_SUMMARY, LEDGER_KIND_LABELS, UNIT_LABEL, all_formats
from ..plan.model import Plan, Unit
from .sheets import Sheet, Workbook
from .task_matching import Match, TaskMatcher
from .unit_names import contact_of, find_sender, resolve_unit, unknown_unit_finding
from .tables import SheetFormat, Table, header_rows, header_score, read_table, sheet_name_matches
from ..core.values import ValueProblem, clean_text, parse_date, parse_month_day

PROGRESS_COLUMNS = [
    "file", "sheet", "row", "unit_id", "list", "task_no", "no_raw", "text", "group", "deadline", "actions",
    "goal", "progress", "status", "match", "similarity", "report_date",
]
# the files table: one row per file read (contact and phone, a personal identifier, for the analyst's page only)
FILES_COLUMNS = ["file", "sha256", "unit_id", "unit", "unit_source", "kinds", "report_date", "used", "on_time",
                 "contact", "phone"]
_NO_DATE = object()
TABLE_NAMES = {
    "主要指标": "bank_summary", "贷款明细": "loans", "首贷申请": "applications", "无贷户名单": "noloan_list",
    "机构概况": "guarantee_summary", "担保明细": "guarantees", "指标": "reported_targets",
}


@dataclass(frozen=True)
class WorkbookLedger:
    """What one workbook turned out to be."""

    file: str
    sha256: str
    unit_id: str | None
    unit_source: str | None            # 填报单位, 标题, 文件名, 机构名称列
    report_date: dt.date | None
    kinds: tuple[str, ...]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)   # table name → rows (progress included)
    findings: tuple[fd.Finding, ...] = ()
    contact: str | None = None         # 联系人 and 电话 from its label lines (the analyst's page only)
    phone: str | None = None


@dataclass(frozen=True)
class CycleLedgers:
    files: pd.DataFrame                 # one row per file: FILES_COLUMNS
    tables: dict[str, pd.DataFrame]     # progress, bank_summary, loans, applications, noloan_list, ...
    findings: tuple[fd.Finding, ...]


# ---------------------------------------------------------------------------------------------------------------
# One workbook


def _choose_format(sheet: Sheet, formats: Iterable[SheetFormat], plan: Plan | None = None
                   ) -> tuple[SheetFormat | None, tuple[int, dict]]:
    """The format whose header this sheet carries. Lists with the same columns (全面清单, 重点清单) are told apart
    by the sheet's name, then its title, then its rows: the list whose tasks the rows' 序号 and texts fit."""
    scored = []
    rows = header_rows(sheet)
    for fmt in formats:
        score, row, roles = header_score(sheet, fmt, rows)
        if score >= fmt.min_match and all(c.role in roles for c in fmt.required):
            scored.append((score, sheet_name_matches(sheet, fmt), fmt, (row, roles)))
    if not scored:
        return None, (0, {})
    best_score = max(s[0] for s in scored)
    candidates = [s for s in scored if s[0] == best_score]
    by_name = [s for s in candidates if s[1]]
    chosen = (by_name or candidates)[0]
    if not by_name and len({s[2].name for s in candidates}) > 1:
        title = _title_above(sheet, chosen[3][0])
        titled = [s for s in candidates if s[2].name in title]
        if titled:
            chosen = titled[0]
        elif plan is not None and all(s[2].kind == "task" for s in candidates):
            chosen = max(candidates, key=lambda s: _list_fit(sheet, s[2], s[3], plan))
    return chosen[2], chosen[3]


def _list_fit(sheet: Sheet, fmt: SheetFormat, header: tuple[int, dict], plan: Plan) -> int:
    """How many of a sheet's rows fit a task list: 序号 and text agreeing with one of its tasks."""
    table = read_table(sheet, fmt, file="", header=header, frame=False)
    matcher = _matcher(plan, fmt.name)
    nos, texts = table.values.get("no", []), table.values.get("text", [])
    return sum(1 for no, text in zip(nos, texts)
               if matcher.match(no, _clean(text)).kind in ("exact", "abbreviated", "edited"))


def _title_above(sheet: Sheet, header_row: int) -> str:
    return "".join(str(c) for r, cells in sheet.rows if r < header_row for c in cells if c is not None)


def read_ledger(workbook: Workbook, plan: Plan, cycle: dt.date | None = None) -> WorkbookLedger:
    """Recognise and read one workbook against every format the plan expects. `cycle`, the report date of the
    folder it came in, gives a 填报日期 written without its year (「7月22日」) its year."""
    out: list[fd.Finding] = list(workbook.findings)
    tables: list[tuple[SheetFormat, Table]] = []
    formats = all_formats(plan)
    for sheet in workbook.sheets:
        fmt, header = _choose_format(sheet, formats, plan)
        if fmt is None:
            if sheet.rows:
                out.append(fd.info("sheet_not_recognised", "工作表不是可识别的台账格式，未读取", file=workbook.name,
                                   sheet=sheet.name))
            continue
        # column lists only: the frame is built once below, with the workbook's columns added
        tables.append((fmt, read_table(sheet, fmt, file=workbook.name, header=header, frame=False)))
    if not tables:
        # an empty workbook has its own finding (sources: empty_workbook); "not recognised" would only repeat it
        if any(s.rows for s in workbook.sheets) and not any(f.severity == "error" for f in workbook.findings):
            out.append(fd.error("workbook_not_recognised",
                                "无法识别台账类型：没有找到任务进展、信贷数据、无贷户名单或担保业务台账的表头",
                                file=workbook.name))
        return WorkbookLedger(workbook.name, workbook.sha256, None, None, None, (), {}, tuple(out))

    metas = [t.meta for _, t in tables]
    kinds = tuple(dict.fromkeys(fmt.kind for fmt, _ in tables))
    resolved = resolve_unit(plan, workbook.name, metas, kinds, cycle)
    unit, source = resolved.unit, resolved.source
    out.extend(resolved.findings)
    if unit is None:
        single = _single_row_unit(plan, tables)
        if single is not None:
            unit, source = single, "机构名称列"
    typed_unit = next((m.get("unit") for m in metas if m.get("unit")), None)
    if unit is None:
        out.append(unknown_unit_finding(plan, workbook.name, None if typed_unit is None else str(typed_unit)))
    elif source not in (UNIT_LABEL, "人工对应") and typed_unit:
        out.append(fd.warning("unit_alias_unknown", f"填报单位「{typed_unit}」不是已知名称，按{source}识别为「{unit.name}」",
                              file=workbook.name, unit=unit.name))

    report_date = None
    for meta in metas:
        if meta.get("date") is not None:
            try:
                report_date = parse_date(meta["date"])
            except ValueProblem as problem:
                report_date = parse_month_day(meta["date"], cycle) if cycle else None
                if report_date is None:
                    out.append(fd.warning("bad_report_date", f"填报日期无法识别：{problem}", file=workbook.name,
                                          row=meta.get("date_row"), unit=unit.name if unit else None))
                else:
                    out.append(fd.info("report_date_year_inferred",
                                       f"填报日期「{meta['date']}」未写年份，按报送周期 {cycle:%Y-%m-%d} 取 "
                                       f"{report_date:%Y-%m-%d}", file=workbook.name, row=meta.get("date_row"),
                                       unit=unit.name if unit else None))
            break

    frames: dict[str, list[pd.DataFrame]] = {}
    progress: tuple[list, list, list] = ([], [], [])     # the task sheets' rows, task numbers and Excel rows
    for fmt, table in tables:
        out.extend(_with_unit(table.findings, unit))
        if fmt.kind == "task" and fmt.name not in TABLE_NAMES:     # a task list (the 指标 sheet is a table)
            # straight from the column lists, one frame for all task sheets: a task sheet is small, and frame
            # operations cost more than its rows
            rows, task_nos, task_findings = _match_rows(table.values, fmt.name, plan, unit, workbook.name,
                                                        table.sheet, cycle)
            out.extend(task_findings)
            for kept, new in zip(progress, (rows, task_nos, table.values["_row"])):
                kept.extend(new)
            frames.setdefault("progress", [])
            continue
        frames.setdefault(TABLE_NAMES[fmt.name], []).append(
            _table_frame(table.values, file=workbook.name, sheet=table.sheet, unit_id=unit.id if unit else None,
                         report_date=report_date))
    if "progress" in frames:
        frames["progress"].append(_progress_frame(*progress, report_date))
    contact, phone = contact_of(metas)
    return WorkbookLedger(
        file=workbook.name,
        sha256=workbook.sha256,
        unit_id=unit.id if unit else None,
        unit_source=source,
        report_date=report_date,
        kinds=kinds,
        tables={k: v[0] if len(v) == 1 else pd.concat(v, ignore_index=True) for k, v in frames.items()},
        findings=tuple(out),
        contact=contact,
        phone=phone,
    )


def _table_frame(values: Mapping[str, list], **constants: Any) -> pd.DataFrame:
    """A read table's column lists (`_row` first, renamed `row`) and the workbook's `constants` as one frame,
    built once (adding columns to a frame one by one costs more than a small sheet's rows)."""
    n = len(values["_row"])
    columns = {("row" if k == "_row" else k): v for k, v in values.items()}
    if not n:   # no rows: the column types an empty sheet always had
        return pd.DataFrame.from_records([], columns=list(columns)).assign(**constants)
    return pd.DataFrame({**columns, **{k: [v] * n for k, v in constants.items()}})


def _with_unit(items: Iterable[fd.Finding], unit: Unit | None) -> list[fd.Finding]:
    if unit is None:
        return list(items)
    return [f if f.unit else fd.Finding(**{**f.__dict__, "unit": unit.name}) for f in items]


def _single_row_unit(plan: Plan, tables: list[tuple[SheetFormat, Table]]) -> Unit | None:
    """A bank summary or guarantee overview with exactly one institution row names its sender."""
    for fmt, table in tables:
        if fmt in (BANK_SUMMARY, GUARANTEE_SUMMARY):
            column = fmt.columns[0].role
            names = list(dict.fromkeys(v for v in table.values.get(column, ()) if v is not None))
            if len(names) == 1:
                return find_sender(plan, str(names[0]), (fmt.kind,))
    return None


# ---------------------------------------------------------------------------------------------------------------
# Matching progress rows to plan tasks


def match_tasks(
    frame: pd.DataFrame, list_name: str, plan: Plan, unit: Unit | None, file: str, sheet: str
) -> tuple[pd.DataFrame, list[fd.Finding]]:
    """Give each progress row its plan task: by 序号 when the text agrees, else by text; an edited text is kept
    and flagged; a row that matches no task is kept with task_no missing and flagged."""
    values = {name: frame[name].tolist() for name in frame.columns}
    n = len(frame)
    values.setdefault("row", [None] * n)
    if "_row" not in values:
        values["_finding_row"] = values["row"]
    else:
        values["_finding_row"] = values["_row"]
        values["_row"] = values["row"]
    rows, task_nos, out = _match_rows(values, list_name, plan, unit, file, sheet)
    return _progress_frame(rows, task_nos, values["_row"]), out


def _progress_frame(rows: list[tuple], task_nos: list, excel_rows: list, report_date: Any = _NO_DATE
                    ) -> pd.DataFrame:
    """PROGRESS_COLUMNS (report_date only when given) from `_match_rows`' rows."""
    columns = [c for c in PROGRESS_COLUMNS if c not in ("report_date", "row", "task_no")]
    if not rows:
        result = pd.DataFrame(columns=columns)
        result.insert(2, "row", pd.array(excel_rows, dtype="Int64"))
        result.insert(5, "task_no", pd.array(task_nos, dtype="Int64"))
        if report_date is not _NO_DATE:
            result["report_date"] = report_date
        return result
    data: dict[str, Any] = dict(zip(columns, map(list, zip(*rows))))
    data["row"] = pd.array(excel_rows, dtype="Int64")
    data["task_no"] = pd.array(task_nos, dtype="Int64")
    if report_date is not _NO_DATE:
        data["report_date"] = [report_date] * len(rows)
    # built once from columns, in PROGRESS_COLUMNS order (inserting columns one by one costs more than the rows)
    return pd.DataFrame({c: data[c] for c in PROGRESS_COLUMNS if c in data})


def _match_rows(values: Mapping[str, list], list_name: str, plan: Plan, unit: Unit | None, file: str, sheet: str,
                cycle: dt.date | None = None) -> tuple[list[tuple], list[int | None], list[fd.Finding]]:
    """`match_tasks` on column lists (`Table.values`: `_row` is the Excel row; `_finding_row`, when present, the
    row named by an edited-text finding). Returns the rows without `row` and `task_no`, the task numbers and the
    findings."""
    out: list[fd.Finding] = []
    by_no = {t.no: t for t in plan.task_list(list_name).tasks}
    unit_name = unit.name if unit else None
    unit_id = unit.id if unit else None
    place = {"file": file, "sheet": sheet, "unit": unit_name}
    row_col = values["_row"]
    n = len(row_col)

    def column(name: str) -> list:
        return values[name] if name in values else [None] * n

    finding_rows = values.get("_finding_row", row_col)
    nos, texts_raw, groups = column("no"), column("text"), column("group")
    deadlines, actions, goals = column("deadline"), column("actions"), column("goal")
    progresses, statuses = column("progress"), column("status")
    leads = column("lead")
    matcher = _matcher(plan, list_name)
    responsible = frozenset(no for no, t in by_no.items() if unit_id in t.responsible) if unit_id else frozenset()
    rows = []
    task_nos: list[int | None] = []
    last_group = None
    for i in range(n):
        group = _clean(groups[i]) or last_group
        last_group = group
        raw_no = nos[i]
        text = _clean(texts_raw[i])
        fixed = plan.corrections.task_for_row(file, sheet, row_col[i], cycle) if plan.corrections else None
        if fixed is not None and fixed.list_name == list_name:
            found = Match(fixed.task_no, "manual", 1.0)
            out.append(fd.info("manual_mapping", f"按人工对应文件，第 {row_col[i]} 行对应到{list_name}第 "
                                                 f"{by_no[fixed.task_no].display_no} 项", row=row_col[i], **place))
        else:
            found = matcher.match(raw_no, text, group, _clean(leads[i]), responsible)
        task_no, match, score = found.task_no, found.kind, found.score
        if match == "edited":
            out.append(fd.warning("task_text_edited",
                                  f"序号 {by_no[task_no].display_no} 的任务内容与计划不一致（相似度 {score:.0%}），已按序号对应",
                                  row=finding_rows[i], column=plan.task_list(list_name).columns.get("text"), **place))
        elif match == "by_text":
            out.append(fd.warning("task_no_mismatch",
                                  f"序号「{raw_no or '空'}」与任务内容不符，按内容对应到计划序号 {by_no[task_no].display_no}",
                                  row=row_col[i], column=plan.task_list(list_name).columns.get("no"), **place))
        elif match == "by_evidence":
            out.append(fd.warning("task_matched_by_evidence",
                                  f"序号「{raw_no or '空'}」和任务内容「{(text or '')[:30]}」不足以确定任务，按工作要求、"
                                  f"牵头单位等对应到计划序号 {by_no[task_no].display_no}，请核对",
                                  row=row_col[i], **place))
        elif match == "unmatched":
            out.append(fd.error("task_unmatched",
                                f"无法对应到{list_name}中的任务（序号「{raw_no or '空'}」，内容「{(text or '')[:30]}」）"
                                + _closest_tasks(by_no, found.candidates),
                                row=row_col[i], **place))
        if task_no is not None and unit is not None and unit.id not in by_no[task_no].responsible:
            out.append(fd.warning("task_not_responsible",
                                  f"「{unit.name}」不是{list_name}第 {task_no} 项任务的责任单位，仍填报了该项",
                                  row=row_col[i], **place))
        task_nos.append(task_no)
        rows.append((
            file, sheet, unit_id, list_name, None if raw_no is None else str(raw_no), text, group,
            _clean(deadlines[i]), _clean(actions[i]), _clean(goals[i]), _clean(progresses[i]), statuses[i], match,
            score,
        ))
    return rows, task_nos, out


@lru_cache(maxsize=1 << 16, typed=True)
def _clean(value: Any) -> str | None:
    """`clean_text`, remembered: the plan's task texts and most progress cells repeat from workbook to workbook."""
    return clean_text(value)


@lru_cache(maxsize=64)
def _matcher(plan: Plan, list_name: str) -> TaskMatcher:
    """The task matcher of a plan's list, built once per plan and list."""
    return TaskMatcher(plan, list_name)


def _closest_tasks(by_no: Mapping[int, Any], candidates: tuple[tuple[int, float], ...]) -> str:
    shown = [f"第 {by_no[no].display_no} 项「{by_no[no].text[:20]}…」" for no, score in candidates if score > 0.2]
    return f"；最接近的任务：{'、'.join(shown)}" if shown else ""


# ---------------------------------------------------------------------------------------------------------------
# A whole cycle


def combine(ledgers: list[WorkbookLedger], plan: Plan, cycle: dt.date) -> CycleLedgers:
    """Keep one ledger per unit and kind (the later 填报日期 wins, then the later file name), name both in a finding,
    and stack each table across workbooks."""
    out: list[fd.Finding] = [f for led in ledgers for f in led.findings]
    used: dict[tuple[str, str], WorkbookLedger] = {}
    superseded: set[tuple[str, str]] = set()
    for led in sorted(ledgers, key=lambda l: (l.report_date or dt.date.min, l.file)):
        for kind in led.kinds:
            if led.unit_id is None:
                continue
            key = (led.unit_id, kind)
            if key in used:
                old = used[key]
                superseded.add((old.file, kind))
                out.append(fd.warning(
                    "duplicate_ledger",
                    f"「{plan.unit_name(led.unit_id)}」本期报送了两份{LEDGER_KIND_LABELS[kind]}：「{old.file}」"
                    f"（填报日期 {old.report_date or '未填'}）和「{led.file}」（填报日期 {led.report_date or '未填'}），"
                    f"采用后者",
                    file=led.file, unit=plan.unit_name(led.unit_id)))
            used[key] = led

    tables: dict[str, list[pd.DataFrame]] = {}
    file_rows = []
    for led in sorted(ledgers, key=lambda l: l.file):
        kinds_used = [k for k in led.kinds if (led.file, k) not in superseded and led.unit_id is not None]
        for name, frame in led.tables.items():
            kind = "task" if name == "progress" else _kind_of_table(name)
            if kind in kinds_used:
                tables.setdefault(name, []).append(frame)
        file_rows.append(
            {
                "file": led.file,
                "sha256": led.sha256,
                "unit_id": led.unit_id,
                "unit": plan.unit_name(led.unit_id) if led.unit_id else None,
                "unit_source": led.unit_source,
                "kinds": ",".join(led.kinds),
                "report_date": led.report_date,
                "used": bool(kinds_used),
                "on_time": None if led.report_date is None else led.report_date <= cycle,
                "contact": led.contact,
                "phone": led.phone,
            }
        )
    files = pd.DataFrame(file_rows, columns=FILES_COLUMNS)
    stacked = {name: pd.concat(frames, ignore_index=True) for name, frames in tables.items()}
    return CycleLedgers(files=files, tables=stacked, findings=tuple(out))


def _kind_of_table(name: str) -> str:
    return {"bank_summary": "lending", "loans": "lending", "applications": "lending", "noloan_list": "noloan",
            "guarantee_summary": "guarantee", "guarantees": "guarantee", "reported_targets": "task"}[name]
