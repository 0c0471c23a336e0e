"""What goes back out after a cycle: the consolidated lists the office forwards upward, and a short feedback page
per unit.

`build_consolidated` lays every plan list out as in the seed's attachments (序号, 工作要求 merged over its tasks,
主要任务, …, 双周进展情况), with each responsible unit's progress gathered into the task's row, labelled by unit,
lead unit first (units giving the same text share its line), the row's worst light as the colour of its progress
cell and a 状态 column naming each light and reason with its units. It prints as a document: column widths shared
by how much text each column holds, rows as tall as their wrapped text (`templates.text_lines`), a task with many
units continuing on further rows that repeat its 序号 and text. Text typed by units is always written as text (`templates.write_text`): a value starting with
=, +, - or @ never becomes a formula.

`unit_page` is a self-contained HTML page (no script, every unit-typed value escaped, resident IDs masked): what
the unit sent and when, its tasks with lights and reasons, what is missing, the findings about its files, and
what the office asks it to fix next cycle. `links_html` is the block of relative links the cycle report shows.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from . import report_targets
from ..core.findings import SEVERITY_LABELS, record_place_text
from ..core.identifiers import mask_ids_in_text
from ..ingest.formats import LEDGER_KIND_LABELS
from ..plan.model import Plan, Task, TaskList, Unit
from ..reconcile.lights import LIGHT_LABELS, LIGHTS
from .merged_cells import merge
from .report import esc, light_chip, page, table
from .templates import (BODY_FONT, BORDER, HEADER_ROW, LINE_SPACING, PLAN_ROLES, TITLE_FONT, WRAP_CENTRE, WRAP_TOP,
                        CellStyler, fit_row_height, safe_file_name, setup_print, sheet_title, short_name, text_lines,
                        text_width, write_header_row, write_text)


CONSOLIDATED_NAME = "consolidated.xlsx"
UNITS_DIR = "units"
STATUS_HEADER = "状态"
# Pale versions of the report's light colours, so the text on them stays readable and prints well.
LIGHT_FILLS = {"red": "FFFFC7CE", "orange": "FFFCD5B4", "yellow": "FFFFEB9C", "green": "FFC6EFCE", "grey": "FFE7E6E6"}
LIGHT_MEANINGS = {
    "red": "逾期或未报送",
    "orange": "滞后或与上期相同",
    "yellow": "节点将于下期前到期",
    "green": "正常推进或已完成",
    "grey": "持续推进，无时间节点",
}
# The sheet's width on A4 landscape, fit to the page width (Excel units): about 93 % printed, so 9 pt text prints
# at about 8.4 pt. Plan columns of short values keep a fixed width; the columns of text share the rest by how much
# text they hold, so that a row's columns need about as many lines each (no column left half empty).
PAGE_WIDTH_UNITS = 160.0
FIXED_WIDTHS = {"no": 4.5, "group": 8.0, "measure": 8.0}
MIN_WIDTHS = {"text": 16.0, "progress": 30.0, "deadline": 8.0}
MIN_TEXT_WIDTH = 10.0
UNIT_FONT = Font(name=BODY_FONT.name, size=9)   # units' texts: smaller than the plan's, still readable on paper
# A task's units continue on a further row once a row would pass this height: rows are never split over pages, so a
# row of half a page leaves half a page blank wherever it does not fit.
MAX_ROW_HEIGHT = 260.0
MAX_MERGE_HEIGHT = 2 * MAX_ROW_HEIGHT   # a 工作要求 merged over at most about a printed page (cut between rows)
_WORST_ORDER = {"red": 0, "orange": 1, "yellow": 2, "green": 3, "grey": 4}


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _blank(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and value != value:
        return True
    try:
        if pd.isna(value):
            return True
    except (TypeError, ValueError):
        pass
    return isinstance(value, str) and not value.strip()


def _text(value: Any) -> str | None:
    return None if _blank(value) else str(value)


mask_text = mask_ids_in_text  # the name tests and templates use


def worst_light(lights: Iterable[Any]) -> str | None:
    """Red before orange before yellow before green before grey; None when there is none."""
    present = [l for l in lights if l in _WORST_ORDER]
    return min(present, key=_WORST_ORDER.__getitem__) if present else None


def _latest(frame: pd.DataFrame | None) -> dict[tuple[str, str, int], dict]:
    """(unit_id, list, task_no) → the last row of a progress or task_status frame."""
    if frame is None or not len(frame):
        return {}
    usable = frame.dropna(subset=["unit_id", "task_no"])
    return {(r["unit_id"], r["list"], int(r["task_no"])): r for r in usable.to_dict("records")}


def unit_label(plan: Plan, unit_id: str) -> str:
    """The unit's short name for labels in the consolidated lists (its shortest alias), else its official name."""
    try:
        return short_name(plan.unit(unit_id))
    except KeyError:
        return unit_id


# ---------------------------------------------------------------------------------------------------------------
# Consolidated lists


def build_consolidated(plan: Plan, status: pd.DataFrame | None, progress: pd.DataFrame | None, cycle: str,
                       indicators: pd.DataFrame | None = None) -> Workbook:
    """The plan's lists in the official layout with every unit's progress for report date `cycle`.

    One sheet per plan list: title, a line naming the cycle, a colour legend, the header (the list's columns
    except 进展状态, then 状态) and one row per task (more when its units' texts would make the row taller than
    MAX_ROW_HEIGHT). Unit-filled columns (细化举措, 年度目标和效果, the progress column) gather every responsible
    unit's text as 【单位】…, one per line, lead unit first, units with the same text as 【单位、单位】…; a unit that sent no
    row shows as 本期未报送. The progress cell is coloured by the row's worst light; 状态 lists each unit's light
    and reason. `status` is the cycle's `task_status`, `progress` its `progress` table (for 细化举措 and
    年度目标和效果); either may be None. A last sheet, 目标完成情况, lists every target of the plan from the cycle's
    `indicators` (`report_targets.add_targets_sheet`; 未报送 where there is no figure)."""
    lights = _latest(status)
    rows = _latest(progress)
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.title = f"{plan.title} {cycle} 双周进展汇总"
    wb.properties.creator = str(plan.meta.get("reporting_to") or plan.title)
    for lst in plan.lists:
        _consolidated_sheet(wb, plan, lst, cycle, lights, rows)
    report_targets.add_targets_sheet(wb, plan, indicators, cycle)
    return wb


def _consolidated_sheet(wb: Workbook, plan: Plan, lst: TaskList, cycle: str, lights: Mapping, rows: Mapping) -> None:
    ws = wb.create_sheet(sheet_title(lst.name))
    roles = [r for r in lst.columns if r != "status"]
    headers = [lst.columns[r] for r in roles] + [STATUS_HEADER]
    columns = [*roles, "_status"]
    ncols = len(headers)
    unit_roles = [r for r in columns if r not in PLAN_ROLES]
    tasks = []
    for task in lst.tasks:
        unit_lights = [lights.get((u, lst.name, task.no)) for u in task.responsible]
        plan_values, parts = _task_values(plan, lst, task, task.responsible, unit_lights, rows)
        tasks.append((task, plan_values, parts, worst_light(l.get("light") for l in unit_lights if l)))
    role_width = _column_widths(columns, tasks)
    widths = {col: role_width[role] for col, role in enumerate(columns, start=1)}
    for col, width in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = width

    # 1 title, 2 cycle line, 3 colour legend, 4 header
    title = write_text(ws.cell(1, 1), f"{plan.title}{lst.name}")
    title.font, title.alignment = TITLE_FONT, Alignment(horizontal="center", vertical="center", wrap_text=True)
    merge(ws, 1, 1, 1, ncols)
    ws.row_dimensions[1].height = 36
    to = plan.meta.get("reporting_to")
    line = write_text(ws.cell(2, 1), f"报送日期：{cycle}" + (f"　　汇总单位：{to}" if to else ""))
    line.font = Font(name=BODY_FONT.name, size=11)
    merge(ws, 2, 1, 2, ncols)
    styler = CellStyler()
    write_header_row(ws, HEADER_ROW, headers, styler)

    first = HEADER_ROW + 1
    row = first
    runs: list[tuple[int, int]] = []
    previous_group = None
    for task, plan_values, parts, worst in tasks:
        chunks = _chunks(parts, task.responsible, {r: role_width[r] for r in unit_roles})
        block = range(row, row + len(chunks))
        for r, chunk in zip(block, chunks):
            for col, role in enumerate(columns, start=1):
                if role in PLAN_ROLES:
                    # on every row of the task: a continuation row printed at the top of a page still says which
                    # task it continues
                    value = plan_values.get(role)
                    if r != block[0] and role == "text":
                        value = f"（续）{value}"
                else:
                    value = _chunk_text(parts[role], chunk, status=role == "_status")
                cell = write_text(ws.cell(r, col), mask_text(value))
                if role == "progress" and worst:
                    styler.apply(cell, ("progress", worst), font=UNIT_FONT, border=BORDER, alignment=WRAP_TOP,
                                 fill=PatternFill("solid", fgColor=LIGHT_FILLS[worst]))
                elif role in PLAN_ROLES:
                    centre = role in ("no", "group")
                    styler.apply(cell, ("plan", centre), font=BODY_FONT, border=BORDER,
                                 alignment=WRAP_CENTRE if centre else WRAP_TOP)
                else:
                    styler.apply(cell, "unit", font=UNIT_FONT, border=BORDER, alignment=WRAP_TOP)
            # the merged 工作要求 cell spans the group's rows: its text does not set a row's height
            fit_row_height(ws, r, {c: w for c, w in widths.items() if columns[c - 1] != "group"})
        if task.group and runs and runs[-1][1] == block[0] - 1 and previous_group == task.group:
            runs[-1] = (runs[-1][0], block[-1])
        elif task.group:
            runs.append((block[0], block[-1]))
        previous_group = task.group
        row = block[-1] + 1
    if "group" in roles:
        gcol = roles.index("group") + 1
        for start, end in _page_sized(ws, runs):
            if end > start:
                merge(ws, start, gcol, end, gcol)
    _legend(ws, 3, ncols, below=row + 1)
    ws.freeze_panes = ws.cell(first, 1).coordinate
    setup_print(ws, HEADER_ROW, title=f"{lst.name}（{cycle}）")


def _page_sized(ws, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The runs of rows sharing a 工作要求, cut where they would grow taller than MAX_MERGE_HEIGHT: a merged cell
    prints its text once, in its middle, so a group over several pages would leave its other pages without it.
    Every row holds the text, so each piece shows it."""
    pieces = []
    for start, end in runs:
        height = 0.0
        for row in range(start, end + 1):
            row_height = ws.row_dimensions[row].height or 15.0
            if row > start and height + row_height > MAX_MERGE_HEIGHT:
                pieces.append((start, row - 1))
                start, height = row, 0.0
            height += row_height
        pieces.append((start, end))
    return pieces


def _column_widths(columns: list[str], tasks: list) -> dict[str, float]:
    """Each column's width: plan columns of short values fixed, the text columns sharing the rest of the page
    width in proportion to the text they hold over the whole list (its printed area: length × font size), each at
    least its minimum."""
    weights: dict[str, float] = {}
    for role in columns:
        if role in FIXED_WIDTHS:
            continue
        size = BODY_FONT.sz if role in PLAN_ROLES else UNIT_FONT.sz
        total = 0
        for _, plan_values, parts, _ in tasks:
            if role in PLAN_ROLES:
                total += text_width(str(plan_values.get(role) or ""))
            else:
                total += text_width(_chunk_text(parts[role], list(parts[role]), status=role == "_status") or "")
        weights[role] = total * size * size
    widths = {role: FIXED_WIDTHS[role] for role in columns if role in FIXED_WIDTHS}
    minimum = {role: MIN_WIDTHS.get(role, MIN_TEXT_WIDTH) for role in weights}
    spare = max(0.0, PAGE_WIDTH_UNITS - sum(widths.values()) - sum(minimum.values()))
    total_weight = sum(weights.values()) or 1.0
    for role in weights:
        widths[role] = round(minimum[role] + spare * weights[role] / total_weight, 1)
    return widths


def _chunk_text(texts: Mapping[str, tuple[str, str]], chunk: Iterable[str], *, status: bool = False) -> str | None:
    """The texts of `chunk`'s units, one line per distinct text in their order, labelled with every unit that
    gave it: 「【甲银行、乙银行】确保政策落实到位。」, in 状态 「甲局、乙局：灰（持续推进类任务…）」."""
    lines: dict[str, list[str]] = {}
    for unit_id in chunk:
        if unit_id in texts:
            label, text = texts[unit_id]
            lines.setdefault(text, []).append(label)
    if status:
        return "\n".join(f"{'、'.join(labels)}：{text}" for text, labels in lines.items()) or None
    return "\n".join(f"【{'、'.join(labels)}】{text}" for text, labels in lines.items()) or None


def _legend(ws, row: int, ncols: int, *, below: int | None = None) -> None:
    """颜色说明 and one coloured cell per light: across row `row` when the sheet has room for all five, else one
    light per row from row `below` (after the table), with a pointer to it in row `row`."""
    small = Font(name=BODY_FONT.name, size=9.5)
    if ncols - 1 >= len(LIGHTS) or below is None:
        label = write_text(ws.cell(row, 1), "颜色说明")
        label.font, label.alignment = Font(name=BODY_FONT.name, size=9.5, bold=True), WRAP_CENTRE
        for col, light in enumerate(LIGHTS, start=2):
            cell = write_text(ws.cell(row, col), f"{LIGHT_LABELS[light]}：{LIGHT_MEANINGS[light]}")
            cell.fill = PatternFill("solid", fgColor=LIGHT_FILLS[light])
            cell.font, cell.alignment, cell.border = small, WRAP_CENTRE, BORDER
        fit_row_height(ws, row, {col: ws.column_dimensions[get_column_letter(col)].width or 9
                                 for col in range(2, len(LIGHTS) + 2)}, minimum=30)
        return
    write_text(ws.cell(row, 1), "颜色说明见表末").font = small
    write_text(ws.cell(below, 1), "颜色说明").font = Font(name=BODY_FONT.name, size=9.5, bold=True)
    for r, light in enumerate(LIGHTS, start=below + 1):
        cell = write_text(ws.cell(r, 1), LIGHT_LABELS[light])
        cell.fill = PatternFill("solid", fgColor=LIGHT_FILLS[light])
        cell.font, cell.alignment, cell.border = small, WRAP_CENTRE, BORDER
        write_text(ws.cell(r, 2), LIGHT_MEANINGS[light]).font = small


def _task_values(plan: Plan, lst: TaskList, task: Task, units: tuple[str, ...], unit_lights: list, rows: Mapping
                 ) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The task's plan cells, and for every unit-filled column (and 状态) each unit's (label, text)."""
    values: dict[str, Any] = {
        "no": task.display_no,
        "group": task.group,
        "text": task.text,
        "deadline": task.deadline,
        "lead": "、".join(plan.unit_name(u) for u in task.lead),
        "units": "、".join(plan.unit_name(u) for u in task.units),
        "measure": task.measure,
    }
    parts: dict[str, dict[str, str]] = {}
    for role in [*lst.columns, "_status"]:
        if role in PLAN_ROLES or role == "status":
            continue
        parts[role] = {}
        for unit_id, light in zip(units, unit_lights):
            label = unit_label(plan, unit_id)
            row = rows.get((unit_id, lst.name, task.no))
            if role == "progress":
                text = _text(light.get("progress")) if light else None
                if text is None and row:
                    text = _text(row.get("progress"))
                sent = (light and not _blank(light.get("file"))) or row is not None
                parts[role][unit_id] = (label, text or ("（未填写进展）" if sent else "本期未报送"))
            elif role == "_status":
                if light and light.get("light") in LIGHT_LABELS:
                    reason = _text(light.get("reason"))
                    parts[role][unit_id] = (label, LIGHT_LABELS[light["light"]] + (f"（{reason}）" if reason else ""))
            else:
                text = _text(row.get(role)) if row else None
                if text:
                    parts[role][unit_id] = (label, text)
    return values, parts


def _chunks(parts: Mapping[str, Mapping[str, Any]], units: tuple[str, ...], widths: Mapping[str, float]
            ) -> list[list[str]]:
    """Units split into consecutive groups whose texts fit a row of at most MAX_ROW_HEIGHT: a task with many
    responsible units continues on further rows rather than making a row too tall to share a page."""
    def height(chunk: list[str]) -> float:
        return max((text_lines(text, widths[r], UNIT_FONT.sz) * UNIT_FONT.sz * LINE_SPACING
                    for r in widths if (text := _chunk_text(parts.get(r, {}), chunk, status=r == "_status"))),
                   default=0.0) + 4

    chunks: list[list[str]] = [[]]
    for unit_id in units:
        if chunks[-1] and height([*chunks[-1], unit_id]) > MAX_ROW_HEIGHT:
            chunks.append([])
        chunks[-1].append(unit_id)
    return chunks


# ---------------------------------------------------------------------------------------------------------------
# Unit pages


def feedback_units(plan: Plan) -> list[Unit]:
    """Every unit expected to send any ledger, in plan order."""
    expected = {u.id for kind in plan.ledgers for u in plan.expected_units(kind)}
    return [u for u in plan.units if u.id in expected]


def unit_page_name(unit: Unit) -> str:
    return safe_file_name(unit.name) + ".html"


def unit_page_index(plan: Plan) -> list[tuple[str, str]]:
    """(official unit name, path relative to `reports/<cycle>/`) of every unit page, in plan order."""
    return [(u.name, f"{UNITS_DIR}/{unit_page_name(u)}") for u in feedback_units(plan)]


def _rows_text(rows: Iterable[Any]) -> str:
    nums = sorted({int(r) for r in rows if not _blank(r)})
    return "、".join(str(n) for n in nums[:12]) + ("等" if len(nums) > 12 else "")


def _task_ref(plan: Plan, list_name: str, nos: Iterable[int]) -> str:
    labels = []
    for no in sorted(set(int(n) for n in nos)):
        try:
            labels.append(plan.task(list_name, no).display_no)
        except KeyError:
            labels.append(str(no))
    return f"{list_name}第 {'、'.join(labels)} 项"


def improvements(plan: Plan, unit: Unit, cycle: str, submissions: pd.DataFrame | None, status: pd.DataFrame | None,
                 findings: pd.DataFrame | None) -> list[str]:
    """The 下期请改进 points for a unit, derived from its submissions, lights and findings."""
    out: list[str] = []
    subs = _mine(submissions, unit)
    for row in subs.to_dict("records"):
        label = LEDGER_KIND_LABELS.get(row["kind"], row["kind"])
        if not row["received"]:
            out.append(f"请按时报送{label}：本期（{cycle}）未收到。")
        elif _blank(row.get("on_time")):
            out.append(f"请在{label}中填写填报日期，以便判断是否按时报送。")
        elif not bool(row["on_time"]):
            out.append(f"请按时报送：本期{label}的填报日期 {row['report_date']} 晚于报送日 {cycle}。")
    mine = _mine(status, unit)
    if len(mine):
        unsent = mine[mine["file"].isna()] if "file" in mine else mine.iloc[0:0]
        received_task = bool(subs[(subs["kind"] == "task") & subs["received"]].shape[0]) if len(subs) else False
        if len(unsent) and received_task:
            for list_name, group in unsent.groupby("list", sort=False):
                out.append(f"请补报{_task_ref(plan, list_name, group['task_no'])}的进展（本期台账中没有这些任务）。")
        copied = mine[mine["copied"].astype(bool)] if "copied" in mine else mine.iloc[0:0]
        for list_name, group in copied.groupby("list", sort=False):
            out.append(f"请勿直接复制上期进展：{_task_ref(plan, list_name, group['task_no'])}与上期内容完全相同，"
                       "请写明本期新的进展。")
        red = mine[(mine["light"] == "red") & mine["file"].notna()] if "file" in mine else mine.iloc[0:0]
        empty = red["reason"].astype("object").fillna("").str.contains("均为空")
        for list_name, group in red[empty].groupby("list", sort=False):
            out.append(f"请填写{_task_ref(plan, list_name, group['task_no'])}的进展情况和进展状态（本期只填了任务、未填进展）。")
        for list_name, group in red[~empty].groupby("list", sort=False):
            out.append(f"请加快推进{_task_ref(plan, list_name, group['task_no'])}，并说明节点逾期的原因和下一步安排。")
    found = unit_findings(findings, unit, submissions)
    if len(found):
        codes = found.groupby("code", sort=False)
        for code, group in codes:
            out.extend(_finding_advice(str(code), group))
    return list(dict.fromkeys(out))


def _finding_advice(code: str, group: pd.DataFrame) -> list[str]:
    where = []
    # the rows of each (file, sheet) in order of appearance, as groupby(sort=False) gives them, without its cost
    rows_at: dict[tuple[str, str], list] = {}
    for file, sheet, row in zip(group["file"].fillna("").tolist(), group["sheet"].fillna("").tolist(),
                                group["row"].tolist()):
        rows_at.setdefault((file, sheet), []).append(row)
    for (file, sheet), part_rows in rows_at.items():
        rows = _rows_text(part_rows)
        place = f"「{sheet}」" if sheet else (f"「{file}」" if file else "")
        where.append(f"{place}第 {rows} 行" if rows else place)
    at = "、".join(w for w in where if w)
    at_text = f"（{at}）" if at else ""
    columns = "、".join(dict.fromkeys(str(c) for c in group["column"].dropna()))
    advice = {
        "task_text_edited": f"请使用计划中的任务原文，不要改写{'「' + columns + '」' if columns else '任务内容'}{at_text}。",
        "task_no_mismatch": f"请使用计划中的任务原文和序号，不要改动序号{at_text}。",
        "task_unmatched": f"请只填写计划中的任务，核对或删除无法对应到计划任务的行{at_text}。",
        "task_not_responsible": f"请只填报本单位负责的任务{at_text}。",
        "bad_identifier": f"请修正{at}的证件号码（应为 18 位统一社会信用代码或身份证号码，校验位须正确）。" if at
        else "请修正证件号码（应为 18 位统一社会信用代码或身份证号码，校验位须正确）。",
        "bad_value": f"请修正{'「' + columns + '」列' if columns else ''}无法识别的取值{at_text}，选择项请从下拉列表中选择。",
        "missing_value": f"请补全必填项{'「' + columns + '」' if columns else ''}{at_text}。",
        "missing_column": f"请使用统一模板，不要删除{'「' + columns + '」' if columns else ''}列；缺少的列："
                          + "；".join(dict.fromkeys(str(m) for m in group["message"])) + "。",
        "unit_alias_unknown": "请在“填报单位”处填写单位全称。",
        "unit_unknown": "请在“填报单位”处填写单位全称。",
        "bad_report_date": "请按“2022年6月25日”或“2022-06-25”的格式填写填报日期。",
        "duplicate_ledger": "同一期请只报送一份台账；如需更正，请说明替换哪一份。",
        "workbook_not_recognised": "请使用下发的模板报送，不要改动表头。",
        "sheet_not_recognised": None,
        "total_row_skipped": "请不要在台账中填写合计、小计行。",
        "formula_no_cache": "请不要在台账中使用公式，直接填写内容；必须使用公式时请在 Excel 中保存后再报送。",
    }
    if code in advice:
        return [advice[code]] if advice[code] else []
    return []


def _mine(frame: pd.DataFrame | None, unit: Unit) -> pd.DataFrame:
    if frame is None or not len(frame):
        return pd.DataFrame(columns=[] if frame is None else frame.columns)
    if "unit_id" in frame:
        return frame[frame["unit_id"] == unit.id]
    if "unit" in frame:
        return frame[frame["unit"].astype("object").isin(unit.names)]
    return frame.iloc[0:0]


def unit_findings(findings: pd.DataFrame | None, unit: Unit, submissions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Findings about a unit: those naming it, and those about the files it sent (a finding met while opening a
    file, before its sender was known, names no unit)."""
    if findings is None or not len(findings):
        return pd.DataFrame(columns=[] if findings is None else findings.columns)
    named = findings["unit"].astype("object").isin(unit.names)
    own_files = findings["unit"].isna() & findings["file"].astype("object").isin(_sent_files(submissions, unit))
    return findings[named | own_files]


def _sent_files(submissions: pd.DataFrame | None, unit: Unit) -> set[str]:
    files: set[str] = set()
    for value in _mine(submissions, unit).get("files", pd.Series(dtype="object")):
        files.update(f for f in str(value or "").split("；") if f)
    return files


class FindingsByUnit:
    """`unit_findings` for every unit of a cycle, the findings table indexed once (by the unit a finding names, and
    by file for those naming none) instead of scanned whole per unit: `of(unit)` gives the same rows, in order."""

    def __init__(self, findings: pd.DataFrame | None, submissions: pd.DataFrame | None):
        self.findings, self.submissions = findings, submissions
        self.named: dict[Any, list[int]] = {}
        self.unnamed_by_file: dict[str, list[int]] = {}
        if findings is None or not len(findings):
            return
        for position, (name, file, missing) in enumerate(zip(findings["unit"].astype("object").tolist(),
                                                             findings["file"].astype("object").tolist(),
                                                             findings["unit"].isna().tolist())):
            if not missing:
                self.named.setdefault(name, []).append(position)
            elif isinstance(file, str):
                self.unnamed_by_file.setdefault(file, []).append(position)

    def of(self, unit: Unit) -> pd.DataFrame:
        if self.findings is None or not len(self.findings):
            return unit_findings(self.findings, unit, self.submissions)
        positions = {p for name in unit.names for p in self.named.get(name, ())}
        positions.update(p for file in _sent_files(self.submissions, unit) for p in self.unnamed_by_file.get(file, ()))
        return self.findings.iloc[sorted(positions)]


def _yes_no(value: Any, yes: str = "是", no: str = "否", unknown: str = "未知") -> str:
    if _blank(value):
        return unknown
    return yes if bool(value) else no


def unit_page(plan: Plan, unit: Unit | str, cycle: str, submissions: pd.DataFrame | None, status: pd.DataFrame | None,
              findings: pd.DataFrame | None, indicators: pd.DataFrame | None = None) -> str:
    """A self-contained feedback page for one unit (HTML string; no script, no external resource). `indicators`:
    the cycle's indicators table, for the targets the unit reports itself (a section only for such a unit)."""
    unit = unit if isinstance(unit, Unit) else plan.unit(unit)
    subs = _mine(submissions, unit)
    mine = _mine(status, unit)
    found = unit_findings(findings, unit, submissions)
    parts = [
        f"<h1>{esc(unit.name)} · 台账报送反馈</h1>",
        f'<p class="sub">{esc(plan.title)} · 报送日 {esc(cycle)}'
        + (f" · {esc(plan.meta.get('reporting_to'))}" if plan.meta.get("reporting_to") else "") + "</p>",
    ]

    # 一、报送情况
    parts.append("<h2>一、本期报送情况</h2>")
    if len(subs):
        sent = subs.assign(
            kind_label=subs["kind"].map(lambda k: LEDGER_KIND_LABELS.get(k, k)),
            got=subs["received"].map(lambda v: "已收到" if bool(v) else "未收到"),
            date=[("" if _blank(d) else str(d)[:10]) for d in subs["report_date"]],
            timely=[("—" if not bool(r) else _yes_no(t, "按时", "迟报", "未填填报日期"))
                    for r, t in zip(subs["received"], subs["on_time"])],
            file_text=subs["files"].map(lambda f: mask_text(_text(f) or "")),
        )
        parts.append(table(sent, {"kind_label": "台账", "got": "收到", "date": "填报日期", "timely": "是否按时",
                                  "file_text": "文件"}))
    else:
        parts.append('<p class="muted">本期计划未要求该单位报送台账。</p>')

    # 二、任务状态
    parts.append("<h2>二、任务进展和状态灯</h2>")
    if len(mine):
        order = {lst.name: i for i, lst in enumerate(plan.lists)}
        shown = mine.assign(
            _role=mine["role"].map(lambda r: 0 if r == "牵头" else 1),
            _list=mine["list"].map(lambda l: order.get(l, 99)),
        ).sort_values(["_role", "_list", "task_no"], kind="stable")
        counts = shown["light"].value_counts()
        parts.append("<p>状态灯：" + " ".join(light_chip(l, f"{LIGHT_LABELS[l]} {int(counts[l])}")
                                               for l in LIGHTS if counts.get(l, 0)) + "（牵头任务在前）</p>")
        shown = shown.assign(
            chip=shown["light"].map(light_chip),
            task=[_task_short(plan, l, n) for l, n in zip(shown["list"], shown["task_no"])],
            progress_text=shown["progress"].map(lambda p: mask_text(_clip(_text(p) or "（未报送）", 120))),
            status_text=shown["status"].map(lambda s: _text(s) or "—"),
            next_text=[_next(d, m) for d, m in zip(shown["next_due"], shown["next_milestone"])],
        )
        parts.append(table(shown, {"chip": "灯", "role": "角色", "task": "任务", "status_text": "进展状态",
                                   "progress_text": "本期进展", "reason": "原因", "next_text": "下一节点"},
                           html_columns=["chip"]))
    else:
        parts.append('<p class="muted">该单位在计划中没有负责的任务。</p>')

    # the targets the unit reports itself, when it has any: sections are numbered as they come
    own_targets = report_targets.unit_targets_html(plan, indicators, unit.id)
    numerals = iter("三四五六")
    if own_targets is not None:
        parts += [f"<h2>{next(numerals)}、本单位报送的量化目标</h2>", own_targets]

    # 缺漏
    parts.append(f"<h2>{next(numerals)}、缺报事项</h2>")
    missing = []
    for row in subs.to_dict("records"):
        if not row["received"]:
            missing.append(f"未收到{LEDGER_KIND_LABELS.get(row['kind'], row['kind'])}")
    if len(mine) and "file" in mine:
        for list_name, group in mine[mine["file"].isna()].groupby("list", sort=False):
            missing.append(f"{_task_ref(plan, list_name, group['task_no'])}没有填报")
    parts.append(_bullets(missing) if missing else '<p class="muted">没有缺报的台账或任务。</p>')

    # 数据问题
    parts.append(f"<h2>{next(numerals)}、台账数据问题</h2>")
    if len(found):
        frame = found.assign(
            sev=found["severity"].map(lambda s: SEVERITY_LABELS.get(s, s)),
            place=[record_place_text(r, mask_text) for r in found.to_dict("records")],
            msg=found["message"].map(mask_text),
        )
        parts.append(table(frame, {"sev": "级别", "place": "位置", "msg": "问题"}))
    else:
        parts.append('<p class="muted">未发现数据问题。</p>')

    # 下期请改进
    parts.append(f"<h2>{next(numerals)}、下期请改进</h2>")
    asks = improvements(plan, unit, cycle, submissions, status, findings)
    parts.append(_bullets(asks) if asks else "<p>本期报送规范，请继续保持。</p>")
    return page("".join(parts), f"{unit.name} {cycle} 台账报送反馈")


def _bullets(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{esc(mask_text(i))}</li>" for i in items) + "</ul>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _task_short(plan: Plan, list_name: str, no: Any) -> str:
    try:
        task = plan.task(list_name, int(no))
    except (KeyError, ValueError, TypeError):
        return f"{list_name}{no}"
    return f"{list_name}{task.display_no}：{_clip(task.text, 40)}"


def _next(due: Any, text: Any) -> str:
    if _blank(due):
        return "—"
    return f"{str(due)[:10]} {_text(text) or ''}".strip()
