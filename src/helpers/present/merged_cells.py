"""Merged cells as openpyxl's `merge_cells` writes them, with a fraction of its work.

openpyxl gives every cell of a merged range the start cell's protection, and the cells on its edges the start cell's
borders, by one style assignment per cell (each hashing a Border or Protection into the workbook's lists): the
templates' and consolidated lists' merges cost more than the rest of their sheets. The style a merge gives a cell
depends only on the start cell's style, the end cell's, and which edges of the range the cell is on; `merge` works
each out once per workbook, in the order openpyxl would (so the workbook's style lists, and its bytes, come out the
same), and copies it to every cell of that kind.
"""

from __future__ import annotations

from copy import copy
from typing import Any

from openpyxl.cell.cell import MergedCell
from openpyxl.styles import Border
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.worksheet import Worksheet

_EDGES = ("top", "left", "right", "bottom")     # the order in which openpyxl's MergedCellRange.format goes round


def merge(ws: Worksheet, start_row: int, start_column: int, end_row: int, end_column: int) -> None:
    """`ws.merge_cells(start_row=…, start_column=…, end_row=…, end_column=…)`, the same cells and styles."""
    if (start_row, start_column) == (end_row, end_column):
        ws.merge_cells(start_row=start_row, start_column=start_column, end_row=end_row, end_column=end_column)
        return
    cells = ws._cells
    start = cells.get((start_row, start_column))
    if start is None:
        start = ws.cell(start_row, start_column)
    known: dict[Any, Any] = ws.parent.__dict__.setdefault("_taizhang_merges", {})
    end = cells.get((end_row, end_column))
    if end is not None:      # MergedCellRange._get_borders: the end cell's right and bottom borders go to the start
        key = ("end", _style_key(start), _style_key(end))
        if key not in known:
            start.border += Border(right=end.border.right, bottom=end.border.bottom)
            known[key] = copy(start._style)
        start._style = copy(known[key])
    ws.merged_cells.add(CellRange(min_row=start_row, min_col=start_column, max_row=end_row, max_col=end_column))

    rows, columns = range(start_row, end_row + 1), range(start_column, end_column + 1)

    def kind(row: int, col: int) -> tuple[bool, ...]:
        """The edges a cell is on, and whether it is the start cell."""
        return (row == start_row, col == start_column, col == end_column, row == end_row,
                (row, col) == (start_row, start_column))

    styles = known.setdefault(("cells", _style_key(start)), {})
    kinds = {kind(row, col) for row in (start_row, end_row) for col in columns} \
        | {kind(row, col) for row in rows for col in (start_column, end_column)}
    inner = len(rows) > 2 and len(columns) > 2
    if inner:
        kinds.add(kind(start_row + 1, start_column + 1))
    if not kinds <= styles.keys():
        _work_out(ws, start, rows, columns, kind, styles)
    for row in rows:
        for col in columns:
            cell = start if (row, col) == (start_row, start_column) else MergedCell(ws, row, col)
            cell._style = copy(styles[kind(row, col)])
            cells[row, col] = cell


def _work_out(ws: Worksheet, start, rows: range, columns: range, kind, styles: dict) -> None:
    """The style of each kind of cell of the range, by openpyxl's own steps (MergedCellRange.format) on one stand-in
    cell per kind, taken in the order openpyxl takes the cells: each edge's border from the start cell as the
    steps before left it, then the start cell's protection on every cell."""
    stand_ins: dict[tuple[bool, ...], Any] = {}

    def stand_in(row: int, col: int):
        key = kind(row, col)
        if key not in stand_ins:
            stand_ins[key] = MergedCell(ws, row, col)
            stand_ins[key]._style = copy(start._style) if key[4] else None
        return key, stand_ins[key]

    first = stand_in(rows[0], columns[0])[1]          # the start cell's stand-in: its borders change as it goes
    edges = {"top": [(rows[0], c) for c in columns], "bottom": [(rows[-1], c) for c in columns],
             "left": [(r, columns[0]) for r in rows], "right": [(r, columns[-1]) for r in rows]}
    for name in _EDGES:
        side = getattr(first.border, name)
        if side and side.style is None:
            continue
        border = Border(**{name: side})
        done = set()
        for row, col in edges[name]:
            key, cell = stand_in(row, col)
            if key not in done:
                done.add(key)
                cell.border += border
    protection = copy(first.protection)
    done = set()
    for row in rows:
        for col in columns:
            key, cell = stand_in(row, col)
            if key not in done:
                done.add(key)
                cell.protection = protection
    for key, cell in stand_ins.items():
        styles[key] = copy(cell._style)


def _style_key(cell) -> tuple:
    return () if cell._style is None else tuple(cell._style)
