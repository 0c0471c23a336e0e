"""Next cycle's ledger templates: one workbook per unit and ledger kind the plan expects, ready to fill in.

A task template holds the unit's own rows of each plan list in the list's official columns (plus 进展状态 as a
drop-down), pre-filled with the plan's task text, the milestones of key tasks and the unit's previous 细化举措,
年度目标和效果, 双周进展情况 and 进展状态; the plan columns are locked (sheet protection without a password), the
cells a unit fills are not. Banks, counties and guarantee institutions also get the fixed-format ledger of their
kind (`formats.FIXED_FORMATS`). Every template, filled in properly, reads back through `ledgers.read_ledger` with
no findings: the title, 填报单位 and 填报日期 lines sit above the header exactly as the reader looks for them.

Everything comes from the plan (lists, their `columns` role → header mapping, `plan.ledgers`,
`plan.expected_units`); builders return `openpyxl.Workbook`s and `write_templates` saves them through the
`Catalog` under `reports/<NEXT>/templates/`. The small cell and print helpers here are shared with `feedback`.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import math
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from copy import copy
from typing import Any, Mapping, Sequence

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet

from ..core.identifiers import mask_ids_in_text
from ..indicators.reported_targets import measure_unit_text
from ..ingest.formats import (CONTACT_LABEL, DATE_LABEL, FIXED_FORMATS, LEDGER_KIND_LABELS, PHONE_LABEL, STATUSES,
                              TARGET_SHEET, UNIT_LABEL)
from ..ingest.tables import Column, SheetFormat
from ..plan.model import Plan, Task, TaskList, Unit
from ..reconcile.lights import LIGHT_LABELS, effective_milestones
from .merged_cells import merge


# Roles whose cells come from the plan and are locked; every other role of a list is filled by the unit.
PLAN_ROLES = frozenset({"no", "group", "text", "deadline", "lead", "units", "measure"})
DETAIL_ROWS = 200            # blank rows drawn with borders in a detail sheet (贷款明细, 担保明细, …)
OPEN_ROWS = 10000            # rows of a detail sheet open for entry: its whole columns are unlocked and typed, and
                             # the drop-downs reach this far (the demo's units alone send 335 loans a cycle)
HEADER_ROW = 4               # title, 填报单位/填报日期, 联系人/联系电话, then the header
FIRST_DATA_ROW = HEADER_ROW + 1
META_LABEL_WIDTH = 12        # Excel width units a label such as 「填报单位：」 needs at 11 pt
EXCEL_MAX_TEXT = 32767

# Column widths (Excel character units). A4 landscape holds about 146 units at 100%; fit-to-width scales wider
# sheets down, so the total is kept near 170 (about 85%, body text still 9pt when printed).
ROLE_WIDTHS = {"no": 6, "group": 12, "text": 36, "deadline": 18, "actions": 24, "goal": 20, "progress": 42,
               "status": 12, "lead": 16, "units": 24, "measure": 8}
KIND_WIDTHS = {"text": 20, "id": 22, "date": 12, "amount": 14, "rate": 11, "int": 11, "number": 12, "choice": 13,
               "bool": 10}
NUMBER_FORMATS = {"id": "@", "text": "@", "date": "yyyy-mm-dd", "amount": "#,##0.00", "rate": "0.00",
                  "int": "0", "number": "0.00"}

FONT_NAME = "宋体"
BODY_FONT = Font(name=FONT_NAME, size=10.5)
HEADER_FONT = Font(name=FONT_NAME, size=10.5, bold=True)
TITLE_FONT = Font(name="黑体", size=16, bold=True)
META_FONT = Font(name=FONT_NAME, size=11)
NOTE_FONT = Font(name=FONT_NAME, size=9.5, color="FF595959")
THIN = Side(style="thin", color="FF808080")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEADER_FILL = PatternFill("solid", fgColor="FFD9E1F2")
LOCKED_FILL = PatternFill("solid", fgColor="FFF2F2F2")     # plan columns: visibly not for the unit
WRAP_TOP = Alignment(wrap_text=True, vertical="top")
WRAP_CENTRE = Alignment(wrap_text=True, vertical="center", horizontal="center")
META_LEFT = Alignment(horizontal="left", vertical="center")
META_RIGHT = Alignment(horizontal="right", vertical="center")
META_VALUE = Alignment(horizontal="left", vertical="center", shrink_to_fit=True)
META_BORDER = Border(bottom=THIN)
UNLOCKED = Protection(locked=False)
LOCKED = Protection(locked=True)
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\]")
_FORMULA_START = ("=", "+", "-", "@")


# ---------------------------------------------------------------------------------------------------------------
# Small helpers shared with `feedback`


class CellStyler:
    """Applies a few fixed cell formats to many cells of one workbook, fast: openpyxl hashes every Font, Border,
    Fill … object on each assignment, so a format is assigned attribute by attribute once, on the first cell that
    needs it, and later cells get a copy of that cell's style indices, which gives exactly the same format. A
    quote prefix already set by `write_text` is kept. One styler per workbook (the indices are the workbook's)."""

    def __init__(self) -> None:
        self._arrays: dict[Any, Any] = {}

    def apply(self, cell, key: Any, **attributes: Any):
        array = self._arrays.get(key)
        if array is None:
            for name, value in attributes.items():
                setattr(cell, name, value)
            array = copy(cell._style)
            array.quotePrefix = 0
            self._arrays[key] = array
            return cell
        quoted = cell.quotePrefix
        cell._style = copy(array)
        if quoted:
            cell.quotePrefix = True
        return cell



def safe_file_name(text: str) -> str:
    """A name usable as a file name on Windows, macOS and Linux: characters illegal in file names become _."""
    name = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", str(text))).strip().strip(".")
    return name or "未命名"


def short_name(unit: Unit) -> str:
    """The shortest readable alias (3+ characters), else the official name."""
    names = [a for a in unit.aliases if len(a) >= 3] or [unit.name]
    return min(names, key=lambda n: (len(n), n))


def template_file_name(unit: Unit, kind: str, cycle: str) -> str:
    """`<official name>-<kind label>-<cycle>.xlsx`, with characters illegal in file names replaced."""
    return safe_file_name(f"{unit.name}-{LEDGER_KIND_LABELS[kind]}-{cycle}") + ".xlsx"


def sheet_title(name: str) -> str:
    """A valid Excel sheet name (no []:*?/\\, at most 31 characters)."""
    return (_SHEET_UNSAFE.sub("_", name).strip("'") or "Sheet")[:31]


def write_text(cell, value: Any):
    """Put a value into a cell so that text always stays text.

    openpyxl turns any str starting with "=" into a formula; a unit's progress typed as "=HYPERLINK(…)" must
    not become one. Strings are cleaned of characters XML cannot hold, cut to Excel's 32,767 characters and
    stored as strings; those starting with =, +, - or @ also get Excel's quote prefix, so editing the cell in
    Excel keeps them text as well."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        cell.value = None
        return cell
    if isinstance(value, str):
        text = ILLEGAL_CHARACTERS_RE.sub("", value)
        if len(text) > EXCEL_MAX_TEXT:
            text = text[: EXCEL_MAX_TEXT - 8] + "…（已截断）"
        cell.value = text
        cell.data_type = "s"
        if text.lstrip().startswith(_FORMULA_START):
            cell.quotePrefix = True
        return cell
    cell.value = value
    return cell


def setup_print(ws: Worksheet, header_row: int, *, title: str | None = None) -> None:
    """A4 landscape, fit to the page width, header row repeated on every page, margins and page numbers."""
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    ws.print_options.horizontalCentered = True
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.oddFooter.center.size = 9
    if title:
        ws.oddHeader.left.text = page_header(title)
        ws.oddHeader.left.size = 9


def page_header(title: str) -> str:
    """A sheet title as the printed page's header holds it (& is a code there, 255 characters at most)."""
    return title.replace("&", "&&")[:200]


def text_width(text: str) -> int:
    """Display width in Excel character units: a CJK character counts 2, anything else 1."""
    return sum(map(_char_width, text))


@functools.lru_cache(maxsize=None)
def _char_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


# Excel's column width unit is the digit width of the workbook's default font (Calibri 11: 7 px at 96 dpi, 5.25
# pt); a CJK character is as wide as its font size, a half-width one about half of it (宋体).
WIDTH_UNIT_PT = 5.25
CELL_PADDING_UNITS = 0.8       # the cell's inner margins and grid line
LINE_SPACING = 1.3             # a wrapped line of 宋体 is about 1.3 × its size tall (10.5 pt → 13.5 pt)
_BREAKABLE_RUN = re.compile(r"[\x21-\x7e]+|.", re.S)   # a run of half-width characters wraps as a word


def text_lines(text: Any, width: float, font_size: float = 10.5) -> int:
    """How many lines `text` takes in a wrapped cell `width` units wide at `font_size` pt: every line break of the
    text starts a line, a CJK character wraps anywhere, a run of half-width characters (8,221万元's 8,221) as a
    word unless it is wider than the line itself."""
    return _text_lines(str(text), float(width), float(font_size))


@functools.lru_cache(maxsize=8192)
def _text_lines(text: str, width: float, font_size: float) -> int:
    # remembered: the same task texts, headers and notes are measured again in every unit's template and page
    usable = max(1.0, width - CELL_PADDING_UNITS) * WIDTH_UNIT_PT
    lines = 0
    for part in text.split("\n"):
        lines += 1
        used = 0.0
        for token in _BREAKABLE_RUN.findall(part):
            # a run of several characters is half-width throughout (the pattern's first branch)
            size = font_size * (len(token) if len(token) > 1 else _char_width(token)) / 2
            if used and used + size > usable and (size <= usable or token.isspace()):
                lines += 1
                used = 0.0
            while size > usable:            # a token longer than a line is cut
                lines += 1
                size -= usable
            used += size
    return max(1, lines)


def fit_row_height(ws: Worksheet, row: int, widths: Mapping[int, float], *, line_height: float | None = None,
                   minimum: float = 18.0) -> float:
    """Set a row's height for its wrapped text (Excel does not autofit rows written by a library on open), from
    each cell's own font size; returns the height. `widths`: column index → width in character units, for the
    columns of this row that hold text. `line_height` overrides the height of a line (pt)."""
    height = 0.0
    for col, width in widths.items():
        cell = ws.cell(row, col)
        if cell.value is None:
            continue
        size = float(cell.font.sz or 11) if cell.font is not None else 11.0
        height = max(height, text_lines(cell.value, width, size) * (line_height or size * LINE_SPACING))
    height = round(min(409.0, max(minimum, height + 4)), 1)
    ws.row_dimensions[row].height = height
    return height


def _styler(wb: Workbook) -> CellStyler:
    """The workbook's own styler (kept on the workbook: style indices belong to it)."""
    styler = getattr(wb, "_taizhang_styler", None)
    if styler is None:
        styler = CellStyler()
        wb._taizhang_styler = styler
    return styler


def _blank(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) \
        or (isinstance(value, str) and not value.strip())


def _unit_of(plan: Plan, unit: Unit | str) -> Unit:
    return unit if isinstance(unit, Unit) else plan.unit(unit)


def _meta_columns(ws: Worksheet, ncols: int) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], int]:
    """Where rows 2–3 go, from the sheet's column widths: the left label (first, last column), its value, the
    right label, and the right value's column (the last). Each label spans as many columns as it needs to show
    「填报单位：」 whole (a narrow 序号 column clipped it)."""
    width = {c: ws.column_dimensions[get_column_letter(c)].width or 9 for c in range(1, ncols + 1)}
    value_col = max(ncols, 4)
    label_end = value_col - 1
    label_start, total = label_end, width.get(label_end, 9)
    while total < META_LABEL_WIDTH and label_start > 3:
        label_start -= 1
        total += width.get(label_start, 9)
    left_end, total = 1, width.get(1, 9)
    while total < META_LABEL_WIDTH and left_end < label_start - 2:
        left_end += 1
        total += width.get(left_end, 9)
    return (1, left_end), (left_end + 1, label_start - 1), (label_start, label_end), value_col


def _merge(ws: Worksheet, row: int, span: tuple[int, int]) -> None:
    if span[1] > span[0]:
        merge(ws, row, span[0], row, span[1])


def _meta_rows(ws: Worksheet, ncols: int, unit: Unit, cycle: str, *, amount_note: bool = False) -> dict[str, str]:
    """Rows 2–3: 填报单位 (pre-filled, locked) and 填报日期 (unlocked, last in its row so that an empty date is read
    as no date), 联系人 and 联系电话 (unlocked). Returns the coordinates of the value cells."""
    left, value_span, right, value_col = _meta_columns(ws, ncols)
    styler = _styler(ws.parent)
    cells = {}
    for row, (left_text, right_text, key_left, key_right) in {
        2: (f"{UNIT_LABEL}：", f"{DATE_LABEL}：", "unit", "date"),
        3: (f"{CONTACT_LABEL}：", f"{PHONE_LABEL}：", "contact", "phone"),
    }.items():
        for col in range(1, value_col + 1):     # locked even where a detail sheet's whole column is open
            styler.apply(ws.cell(row, col), "meta", protection=LOCKED)
        styler.apply(write_text(ws.cell(row, left[0]), left_text), "meta label", font=META_FONT,
                     alignment=META_LEFT)
        _merge(ws, row, left)
        value = ws.cell(row, value_span[0])
        _merge(ws, row, value_span)
        styler.apply(write_text(ws.cell(row, right[0]), right_text), "meta right label", font=META_FONT,
                     alignment=META_RIGHT)
        _merge(ws, row, right)
        right_value = ws.cell(row, value_col)
        for cell in (value, right_value):
            styler.apply(cell, "meta value", font=META_FONT, alignment=META_VALUE, border=META_BORDER)
        cells[key_left] = value.coordinate
        cells[key_right] = right_value.coordinate
        ws.row_dimensions[row].height = 22
    write_text(ws[cells["unit"]], unit.name)
    for key in ("date", "contact", "phone"):
        ws[cells[key]].protection = UNLOCKED
    ws[cells["date"]].number_format = 'yyyy"年"m"月"d"日"'
    ws[cells["phone"]].number_format = "@"
    ws[cells["contact"]].number_format = "@"
    date_hint = DataValidation(allow_blank=True, showInputMessage=True, promptTitle=DATE_LABEL,
                               prompt=f"请填写实际填报日期，如 {cycle}")
    ws.add_data_validation(date_hint)
    date_hint.add(cells["date"])
    return cells


def _title_row(ws: Worksheet, ncols: int, text: str) -> None:
    write_text(ws.cell(1, 1), text)
    ws.cell(1, 1).font = TITLE_FONT
    ws.cell(1, 1).alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    if ncols > 1:
        merge(ws, 1, 1, 1, ncols)
    ws.row_dimensions[1].height = 36


def header_lines(header: str, width: float) -> str:
    """A header as it is to wrap in a column `width` units wide: a bracketed part (（万元）, （当年累计）) that does
    not fit on the line starts a line of its own, so Excel never breaks inside the brackets. The reader ignores
    the line break (`tables.header_key`)."""
    usable = max(2.0, width - 1.5)
    if text_width(header) <= usable or "\n" in header:
        return header
    return re.sub(r"(?<=[^\s])(（[^（）]*）)", r"\n\1", header)


def write_header_row(ws: Worksheet, row: int, headers: Sequence[str], styler: CellStyler | None = None) -> None:
    """The header row, each header wrapping between words and brackets, the row as tall as its longest header."""
    styler = styler or CellStyler()
    widths = {}
    for col, header in enumerate(headers, start=1):
        widths[col] = ws.column_dimensions[get_column_letter(col)].width or 9
        styler.apply(write_text(ws.cell(row, col), header_lines(str(header), widths[col])), "header",
                     font=HEADER_FONT, fill=HEADER_FILL, border=BORDER, alignment=WRAP_CENTRE)
    fit_row_height(ws, row, widths, minimum=32)


def _note_row(ws: Worksheet, row: int, ncols: int, lines: Sequence[str]) -> None:
    """One merged cell starting with 注：, which the reader skips as a note."""
    text = "注：" + "\n".join(lines)
    cell = write_text(ws.cell(row, 1), text)
    cell.font = NOTE_FONT
    cell.alignment = Alignment(wrap_text=True, vertical="top")
    if ncols > 1:
        merge(ws, row, 1, row, ncols)
    total = sum(ws.column_dimensions[get_column_letter(c)].width or 9 for c in range(1, ncols + 1))
    fit_row_height(ws, row, {1: total}, line_height=13)


def _protect(ws: Worksheet, *, rows_editable: bool = False) -> None:
    """Protect the sheet without a password: locked cells cannot be edited; columns and rows may be resized;
    in data sheets rows may be inserted and deleted."""
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False
    ws.protection.selectLockedCells = False
    ws.protection.selectUnlockedCells = False
    if rows_editable:
        ws.protection.insertRows = False
        ws.protection.deleteRows = False


# ---------------------------------------------------------------------------------------------------------------
# Task templates


def _latest(frame: pd.DataFrame | None, unit_id: str, columns: Sequence[str]) -> dict[tuple[str, int], dict]:
    """(list, task_no) → the unit's last row in a progress or task_status frame, as a dict of those of `columns`
    the frame has (column by column: `to_dict("records")` of every column cost more than the rest of a template)."""
    if frame is None or not len(frame) or "unit_id" not in frame or "task_no" not in frame:
        return {}
    mine = frame[(frame["unit_id"] == unit_id) & frame["task_no"].notna()]
    keep = [c for c in columns if c in mine]
    values = [mine[c].tolist() for c in keep]
    return {(name, int(no)): dict(zip(keep, row))
            for name, no, *row in zip(mine["list"].tolist(), mine["task_no"].tolist(), *values)}


def _twin(plan: Plan, task: Task) -> Task | None:
    """The same task in another list (`same_as` either way), as `reconcile.effective_milestones` finds it."""
    for other in plan.tasks:
        if other.same_as == (task.list_name, task.no):
            return other
    if task.same_as:
        try:
            return plan.task(*task.same_as)
        except KeyError:
            return None
    return None


def deadline_text(plan: Plan, task: Task) -> str:
    """The 完成时限 cell of a template: the plan's text and the dates of its milestones; a task without its own
    deadline shows the one of its twin in another list (a 全面清单 task shares its 重点清单 twin's milestones)."""
    milestones = effective_milestones(plan, task)
    dated = sorted({m.due for m in milestones if m.due is not None})
    text = task.deadline or ""
    if not text and milestones:
        twin = _twin(plan, task)
        if twin is not None and twin.deadline:
            text = f"同{twin.list_name}第 {twin.display_no} 项：{twin.deadline}"
    if dated:
        # one date a line: the column is narrower than two dates, and Excel would break one in the middle
        text = (text + "\n" if text else "") + "节点：" + "\n".join(d.isoformat() for d in dated)
    elif not text and task.ongoing:
        text = "持续推进"
    return text


def build_task_template(
    plan: Plan,
    unit: Unit | str,
    cycle: str,
    previous_progress: pd.DataFrame | None = None,
    previous_status: pd.DataFrame | None = None,
    previous_targets: pd.DataFrame | None = None,
) -> Workbook:
    """The task ledger template of `unit` for report date `cycle`: one sheet per plan list the unit has tasks in,
    and a 指标 sheet when the unit reports targets of the plan (`previous_targets`, the processed
    `reported_targets` of the cycle before, pre-fills their last figures).

    `previous_progress` (the processed `progress` table of the cycle before) pre-fills 细化举措, 年度目标和效果,
    双周进展情况 and 进展状态 from the unit's last rows; `previous_status` (its `task_status`) adds last cycle's
    light and reason as a comment on the progress cell."""
    unit = _unit_of(plan, unit)
    before = _latest(previous_progress, unit.id, ("actions", "goal", "progress", "status"))
    lights = _latest(previous_status, unit.id, ("light", "reason"))
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.title = f"{unit.name}{LEDGER_KIND_LABELS['task']}（{cycle}）"
    wb.properties.creator = str(plan.meta.get("reporting_to") or plan.title)
    for lst in plan.lists:
        tasks = [t for t in lst.tasks if unit.id in t.responsible]
        if tasks:
            _task_sheet(wb, plan, lst, tasks, unit, cycle, before, lights)
    if plan.reported_targets(unit.id):
        _target_sheet(wb, plan, unit, cycle, previous_targets)
    if not wb.sheetnames:
        raise ValueError(f"「{unit.name}」在计划中没有负责的任务")
    return wb


def _task_sheet(wb: Workbook, plan: Plan, lst: TaskList, tasks: list[Task], unit: Unit, cycle: str,
                before: Mapping, lights: Mapping) -> Worksheet:
    ws = wb.create_sheet(sheet_title(lst.name))
    roles = list(lst.columns)
    headers = [lst.columns[r] for r in roles]
    ncols = len(roles)
    widths = {}
    for col, role in enumerate(roles, start=1):
        widths[col] = ROLE_WIDTHS.get(role, 18)
        ws.column_dimensions[get_column_letter(col)].width = widths[col]

    _title_row(ws, ncols, f"{plan.title}{lst.name}")
    _meta_rows(ws, ncols, unit, cycle)
    styler = _styler(wb)
    write_header_row(ws, HEADER_ROW, headers, styler)

    row = FIRST_DATA_ROW
    group_runs: list[tuple[int, int]] = []
    previous_group = None
    for task in tasks:
        prev = before.get((lst.name, task.no), {})
        values = {
            "no": task.no,
            "group": task.group,
            "text": task.text,
            "deadline": deadline_text(plan, task),
            "lead": "、".join(plan.unit_name(u) for u in task.lead),
            "units": "、".join(plan.unit_name(u) for u in task.units),
            "measure": task.measure,
            # last cycle's texts go back out to the unit: identifiers typed into them are masked like everywhere
            "actions": mask_ids_in_text(prev.get("actions")),
            "goal": mask_ids_in_text(prev.get("goal")),
            "progress": mask_ids_in_text(prev.get("progress")),
            "status": prev.get("status") if isinstance(prev.get("status"), str) and prev["status"] in STATUSES else None,
        }
        for col, role in enumerate(roles, start=1):
            cell = write_text(ws.cell(row, col), values.get(role) if not _blank(values.get(role)) else None)
            if role in PLAN_ROLES:
                centre = role in ("no", "group", "measure")
                styler.apply(cell, ("plan", centre), font=BODY_FONT, border=BORDER, protection=LOCKED,
                             fill=LOCKED_FILL, alignment=WRAP_CENTRE if centre else WRAP_TOP)
            else:
                centre = role == "status"
                styler.apply(cell, ("unit", centre), font=BODY_FONT, border=BORDER, protection=UNLOCKED,
                             alignment=WRAP_CENTRE if centre else WRAP_TOP, number_format="@")
        light = lights.get((lst.name, task.no))
        if light and light.get("light") in LIGHT_LABELS and "progress" in roles:
            note = f"上期状态灯：{LIGHT_LABELS[light['light']]}（{light.get('reason') or ''}）"
            comment = Comment(note, str(plan.meta.get("reporting_to") or "报送单位"))
            comment.width, comment.height = 260, 90
            ws.cell(row, roles.index("progress") + 1).comment = comment
        if task.group and group_runs and group_runs[-1][1] == row - 1 and previous_group == task.group:
            group_runs[-1] = (group_runs[-1][0], row)
        elif task.group:
            group_runs.append((row, row))
        previous_group = task.group
        fit_row_height(ws, row, widths)
        row += 1
    last = row - 1
    if "group" in roles:
        gcol = roles.index("group") + 1
        for start, end in group_runs:
            if end > start:
                merge(ws, start, gcol, end, gcol)

    notes = [f"1. 灰色列（{'、'.join(lst.columns[r] for r in roles if r in PLAN_ROLES)}）为计划原文，已锁定，请勿修改；"
             "只填写本单位负责的任务，不要增删行。"]
    if "status" in roles:
        _status_choices(ws, get_column_letter(roles.index("status") + 1), last)
        notes.append(f"{len(notes) + 1}. {lst.columns['status']}请从下拉列表中选择（{'、'.join(STATUSES)}）。")
    if "progress" in roles:
        notes.append(f"{len(notes) + 1}. {lst.columns['progress']}已预填上期内容，请在此基础上更新本期进展；"
                     "与上期完全相同的将被标为“疑似复制粘贴”。")
    notes.append(f"{len(notes) + 1}. 请填写填报日期和联系人，于 {cycle} 前报送{plan.meta.get('reporting_to') or '牵头部门'}。")
    _note_row(ws, last + 2, ncols, notes)
    ws.freeze_panes = ws.cell(FIRST_DATA_ROW, 1).coordinate
    setup_print(ws, HEADER_ROW, title=f"{unit.name} · {lst.name}")
    _protect(ws)
    return ws


# ---------------------------------------------------------------------------------------------------------------
# The 指标 sheet: targets the unit reports itself (formats.TARGET_SHEET, read back by the same ingest)

TARGET_WIDTHS = (22, 46, 16, 12, 16, 30)


def _target_sheet(wb: Workbook, plan: Plan, unit: Unit, cycle: str, previous: pd.DataFrame | None) -> Worksheet:
    """目标代码, 目标, 计量单位, 到期日 locked from the plan; 本期数值 and 说明 unlocked, pre-filled with the unit's last
    figure of a level or 累计 target (a count per cycle starts blank); 已完成/未完成 as a drop-down where the target
    is a thing to get done."""
    targets = plan.reported_targets(unit.id)
    ws = wb.create_sheet(sheet_title(TARGET_SHEET.name))
    headers = [c.headers[0] for c in TARGET_SHEET.columns]
    ncols = len(headers)
    for col, width in enumerate(TARGET_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    _title_row(ws, ncols, f"{plan.title}目标报送表")
    _meta_rows(ws, ncols, unit, cycle)
    styler = _styler(wb)
    write_header_row(ws, HEADER_ROW, headers, styler)
    last_values = {}
    if previous is not None and len(previous):
        mine = previous[previous["unit_id"] == unit.id]
        last_values = {r["target_id"]: r for r in mine.to_dict("records")}
    done_rows = []
    for row, target in enumerate(targets, start=FIRST_DATA_ROW):
        kind = target["source"]["value"]
        due = target.get("due")
        period = {"quarter": "（按季）", "year": "（按年）"}.get(str(target.get("period")), "")
        prev = last_values.get(target["id"], {})
        value = None if kind == "per_cycle" or _blank(prev.get("value")) else prev["value"]
        if kind == "done" and value is not None:
            value = "已完成" if value >= 1 else "未完成"
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        values = [target["id"], target.get("text"), measure_unit_text(target) + period,
                  due.isoformat() if due else "—", value, mask_ids_in_text(prev.get("note"))]
        for col, item in enumerate(values, start=1):
            cell = write_text(ws.cell(row, col), None if _blank(item) else item)
            if col <= 4:
                styler.apply(cell, ("plan", col != 2), font=BODY_FONT, border=BORDER, protection=LOCKED,
                             fill=LOCKED_FILL, alignment=WRAP_TOP if col == 2 else WRAP_CENTRE)
            else:
                styler.apply(cell, ("unit", False), font=BODY_FONT, border=BORDER, protection=UNLOCKED,
                             alignment=WRAP_TOP, number_format="@")
        if kind == "done":
            done_rows.append(row)
        fit_row_height(ws, row, dict(enumerate(TARGET_WIDTHS, start=1)))
    last = FIRST_DATA_ROW + len(targets) - 1
    if done_rows:
        choices = DataValidation(type="list", formula1='"已完成,未完成"', allow_blank=True, showErrorMessage=True,
                                 errorTitle="本期数值", error="请从下拉列表中选择：已完成、未完成")
        ws.add_data_validation(choices)
        for row in done_rows:
            choices.add(f"E{row}")
    hint = DataValidation(allow_blank=True, showInputMessage=True, promptTitle="本期数值",
                          prompt="按计量单位填写数字；金额可写 2000 或 0.2亿元，比例可写 85%")
    ws.add_data_validation(hint)
    hint.add(f"E{FIRST_DATA_ROW}:E{last}")
    notes = ["1. 灰色列为计划中的目标，已锁定，请勿修改；只填写本期数值和说明，不要增删行。",
             "2. 金额以万元为单位（写“亿元”“元”的按所写单位换算）；比例填百分数（如 85%）；"
             "“是否完成”类从下拉列表选择已完成或未完成。",
             "3. 累计数（如资金规模、覆盖比例）已预填上期数值，请更新为截至本期的累计数；"
             "按季、按年统计的次数只填本期（两次报送之间）新开展的次数。",
             f"4. 请填写填报日期和联系人，于 {cycle} 前报送{plan.meta.get('reporting_to') or '牵头部门'}。"]
    _note_row(ws, last + 2, ncols, notes)
    ws.freeze_panes = ws.cell(FIRST_DATA_ROW, 1).coordinate
    setup_print(ws, HEADER_ROW, title=f"{unit.name} · {TARGET_SHEET.name}")
    _protect(ws)
    return ws


def _status_choices(ws: Worksheet, letter: str, last: int) -> None:
    choices = DataValidation(type="list", formula1='"' + ",".join(STATUSES) + '"', allow_blank=True,
                             showErrorMessage=True, errorTitle="进展状态", error="请从下拉列表中选择：" + "、".join(STATUSES),
                             showInputMessage=True, promptTitle="进展状态", prompt="请从下拉列表中选择")
    ws.add_data_validation(choices)
    choices.add(f"{letter}{FIRST_DATA_ROW}:{letter}{last}")


# ---------------------------------------------------------------------------------------------------------------
# Data templates (信贷数据台账, 无贷户名单, 担保业务台账)


def _is_summary(fmt: SheetFormat) -> bool:
    """A sheet with one row per institution whose first column is the institution's name (主要指标, 机构概况)."""
    return fmt.columns[0].role in ("bank", "institution")


def first_entry_row(fmt: SheetFormat) -> int:
    """The first row a unit fills in a data sheet of `fmt`: the pre-filled row of a summary sheet, or the row
    below the note that follows a detail sheet's header."""
    return FIRST_DATA_ROW if _is_summary(fmt) else FIRST_DATA_ROW + 1


def _header_text(col: Column) -> str:
    """The official header, with 万元 stated for amounts (the reader strips a bracketed unit from headers)."""
    header = col.headers[0]
    if col.kind == "amount" and "元" not in header:
        header += "（万元）"
    return header


def _choice_values(col: Column) -> list[str]:
    if col.kind == "bool":
        return ["是", "否"]
    if col.kind == "choice" and col.choices:
        return list(dict.fromkeys(col.choices.values()))
    return []


def _entry_style(wb: Workbook, kind: str) -> str:
    """A named style for the blank entry cells of a column kind (bordered, unlocked, typed), registered once per
    workbook: one assignment per cell instead of six keeps a 200-row sheet quick to build."""
    name = f"台账填报_{kind}"
    if name not in wb.named_styles:
        wb.add_named_style(NamedStyle(
            name=name, font=BODY_FONT, border=BORDER, protection=UNLOCKED,
            number_format=NUMBER_FORMATS.get(kind, "General"),
            alignment=Alignment(vertical="center", wrap_text=kind == "text"),
        ))
    return name


def build_data_template(plan: Plan, unit: Unit | str, kind: str, cycle: str, *, like: Workbook | None = None) -> Workbook:
    """The fixed-format ledger of `kind` (lending, noloan, guarantee) for `unit`: one sheet per format of that
    kind, header in the official wording, the institution's row pre-filled in summary sheets, blank unlocked
    rows with typed cells (identifiers as text, dates, amounts in 万元) and drop-downs for choice columns.

    `like`: this function's workbook of the same kind and cycle for another unit (already saved), made this
    unit's in place: the templates of one kind differ only in the unit's name (its cells, the page header and
    the title), and drawing the bordered entry rows again cost most of a template."""
    unit = _unit_of(plan, unit)
    formats = [f for f in FIXED_FORMATS if f.kind == kind]
    if not formats:
        raise ValueError(f"没有「{kind}」类台账的固定格式")
    label = LEDGER_KIND_LABELS[kind]
    if getattr(like, "_taizhang_data_template", None) == (kind, cycle):
        wb = like
        for ws, coordinates, fmt in wb._taizhang_unit_cells:
            for coordinate in coordinates:
                write_text(ws[coordinate], unit.name)
            ws.oddHeader.left.text = page_header(_data_sheet_title(unit, label, fmt))
            ws.column_dimensions.max_outline = None   # as before a save, which sets it (a default written again)
    else:
        wb = Workbook()
        wb.remove(wb.active)
        wb._taizhang_unit_cells = []       # (sheet, the cells holding the unit's name, format)
        for fmt in formats:
            _data_sheet(wb, plan, fmt, unit, cycle, label)
        wb._taizhang_data_template = (kind, cycle)
    wb.properties.title = f"{unit.name}{label}（{cycle}）"
    wb.properties.creator = str(plan.meta.get("reporting_to") or plan.title)
    return wb


def _data_sheet_title(unit: Unit, label: str, fmt: SheetFormat) -> str:
    return f"{unit.name} · {label} · {fmt.name}"


def _data_sheet(wb: Workbook, plan: Plan, fmt: SheetFormat, unit: Unit, cycle: str, label: str) -> Worksheet:
    ws = wb.create_sheet(sheet_title(fmt.name))
    columns = list(fmt.columns)
    ncols = len(columns)
    for col, column in enumerate(columns, start=1):
        width = max(KIND_WIDTHS.get(column.kind, 14), min(24, text_width(_header_text(column)) // 2 + 3))
        ws.column_dimensions[get_column_letter(col)].width = width
    # 「无贷户名单」, not 「无贷户名单（无贷户名单）」: the sheet's name only when it says more than the ledger's
    _title_row(ws, ncols, fmt.name if label in fmt.name else f"{label}（{fmt.name}）")
    unit_cells = [_meta_rows(ws, ncols, unit, cycle)["unit"]]
    write_header_row(ws, HEADER_ROW, [_header_text(c) for c in columns], _styler(wb))

    summary = _is_summary(fmt)
    notes = ["1. 金额单位均为万元；利率、费率、比例填百分数的数值（如 4.35 表示 4.35%）。"]
    if any(c.kind == "id" for c in columns):
        notes.append("2. 证件号码列已设为文本格式，请填写 18 位统一社会信用代码或居民身份证号码，不要存成数字。")
    if any(c.kind == "date" for c in columns):
        notes.append(f"{len(notes) + 1}. 日期请按 2022-06-15 或 2022年6月15日 的格式填写。")
    if summary:
        notes.append(f"{len(notes) + 1}. 每个机构一行，机构名称已预填；不要填写合计行。")
    else:
        notes.append(f"{len(notes) + 1}. 每笔业务一行，从本说明下一行起连续填写（可直接粘贴，已开放 {OPEN_ROWS} 行）；"
                     "不要填写合计行。")
    notes.append(f"{len(notes) + 1}. 请填写填报日期和联系人，于 {cycle} 前报送{plan.meta.get('reporting_to') or '牵头部门'}。")

    styles = [_entry_style(wb, column.kind) for column in columns]
    styler = _styler(wb)
    if summary:
        first = last = first_entry_row(fmt)
        _note_row(ws, last + 2, ncols, notes)
        unit_cells.append(write_text(ws.cell(first, 1), unit.name).coordinate)
        ws.row_dimensions[first].height = 30
    else:
        # the note right under the header, not below the rows: a locked note row in the entry area would stop a
        # unit pasting its 335 loans. The bordered rows are only a start: whole columns are open and typed
        _note_row(ws, FIRST_DATA_ROW, ncols, notes)
        first = first_entry_row(fmt)
        last = first + DETAIL_ROWS - 1
        for col, column in enumerate(columns, start=1):
            dim = ws.column_dimensions[get_column_letter(col)]
            dim.protection = UNLOCKED
            dim.number_format = NUMBER_FORMATS.get(column.kind, "General")
    for row in range(first, last + 1):
        for col, style in enumerate(styles, start=1):
            styler.apply(ws.cell(row, col), ("entry", style), style=style)
    open_to = last if summary else first + OPEN_ROWS - 1
    for col, column in enumerate(columns, start=1):
        values = _choice_values(column)
        if not values:
            continue
        letter = get_column_letter(col)
        dv = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True,
                            showErrorMessage=True, errorTitle=column.headers[0],
                            error="请从下拉列表中选择：" + "、".join(values))
        ws.add_data_validation(dv)
        dv.add(f"{letter}{first}:{letter}{open_to}")
    ws.freeze_panes = ws.cell(FIRST_DATA_ROW, 1).coordinate
    setup_print(ws, HEADER_ROW, title=_data_sheet_title(unit, label, fmt))
    _protect(ws, rows_editable=not summary)
    wb._taizhang_unit_cells.append((ws, unit_cells, fmt))
    return ws


def build_template(plan: Plan, unit: Unit | str, kind: str, cycle: str, previous_progress: pd.DataFrame | None = None,
                   previous_status: pd.DataFrame | None = None,
                   previous_targets: pd.DataFrame | None = None, *, like: Workbook | None = None) -> Workbook:
    """The template of one unit and ledger kind. `like`: the last template built, already saved: one of the same
    data kind is reused (`build_data_template`)."""
    if kind == "task":
        return build_task_template(plan, unit, cycle, previous_progress, previous_status, previous_targets)
    return build_data_template(plan, unit, kind, cycle, like=like)


# ---------------------------------------------------------------------------------------------------------------
# A whole cycle


@dataclasses.dataclass(frozen=True)
class TemplateSpec:
    unit: Unit
    kind: str
    file_name: str


def template_specs(plan: Plan, cycle: str) -> list[TemplateSpec]:
    """Every (unit, kind) the plan expects a ledger of, in the plan's ledger and unit order; a task template only
    for units with at least one task."""
    specs = []
    responsible = set(plan.responsibilities["unit_id"]) if len(plan.responsibilities) else set()
    for kind in plan.ledgers:
        if kind not in LEDGER_KIND_LABELS:
            continue
        for unit in plan.expected_units(kind):
            if kind == "task" and unit.id not in responsible:
                continue
            if kind != "task" and not any(f.kind == kind for f in FIXED_FORMATS):
                continue
            specs.append(TemplateSpec(unit, kind, template_file_name(unit, kind, cycle)))
    return specs


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while many small objects are made (openpyxl cells and styles): in a
    kernel holding a cycle's tables each collection walks all of them. Switched on again on the way out."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
