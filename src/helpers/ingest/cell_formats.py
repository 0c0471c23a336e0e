"""Which cells of a workbook carry a percentage number format (ingest stage).

Excel stores a cell shown as 1.20% as 0.012; the value alone cannot tell it from a 0.012 typed into a column
headed （%）. The readers keep the values; this module finds the cells whose number format is a percentage, so
that `tables` reads them as the fraction they are. .xlsx: the sheet's cells whose style (``s``) points at a
cell format (``cellXfs``) with a built-in percent format (9 ``0%``, 10 ``0.00%``) or a custom format code with
an unquoted ``%``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile

_BUILTIN_PERCENT = {9, 10}
_QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def is_percent_code(code: str) -> bool:
    """Whether a number format code shows a percentage (a ``%`` outside quotes, escapes and [colour] parts)."""
    return "%" in _QUOTED.sub("", code)


def percent_styles(styles_xml: bytes) -> frozenset[int]:
    """Indices into ``cellXfs`` of styles.xml whose number format is a percentage."""
    root = ET.fromstring(styles_xml)
    custom = {}
    for el in root.iter():
        if _local(el.tag) == "numFmt":
            try:
                custom[int(el.get("numFmtId", ""))] = el.get("formatCode", "")
            except ValueError:
                continue
    percent: set[int] = set()
    for el in root.iter():
        if _local(el.tag) != "cellXfs":
            continue
        for index, xf in enumerate(x for x in el if _local(x.tag) == "xf"):
            try:
                fmt_id = int(xf.get("numFmtId", "0"))
            except ValueError:
                continue
            if fmt_id in _BUILTIN_PERCENT or (fmt_id in custom and is_percent_code(custom[fmt_id])):
                percent.add(index)
        break
    return frozenset(percent)


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def workbook_percent_styles(zf: zipfile.ZipFile, styles_part: str | None) -> frozenset[int]:
    """`percent_styles` of a workbook's styles part (none when it is missing or unreadable: the values are
    then read by their column's header alone)."""
    if styles_part is None:
        return frozenset()
    try:
        return percent_styles(zf.read(styles_part))
    except (ET.ParseError, KeyError, zipfile.BadZipFile, OSError, ValueError):
        return frozenset()


def xlsx_percent_cells(zf: zipfile.ZipFile, sheet_part: str, styles: frozenset[int]) -> frozenset[tuple[int, int]]:
    """(1-based row, 0-based column) of the cells of one worksheet part whose style is one of `styles`. The sheet
    part has passed the reader's size checks; it is only walked when the workbook has a percent style at all."""
    if not styles:
        return frozenset()
    wanted = {str(s) for s in styles}
    cells: set[tuple[int, int]] = set()
    try:
        with zf.open(sheet_part) as stream:
            for _, el in ET.iterparse(stream, events=("end",)):
                if _local(el.tag) == "c":
                    if el.get("s") in wanted:
                        ref = _CELL_REF.fullmatch(el.get("r", ""))
                        if ref:
                            cells.add((int(ref.group(2)), _column_index(ref.group(1))))
                    el.clear()
                elif _local(el.tag) == "row":
                    el.clear()
    except (ET.ParseError, KeyError, zipfile.BadZipFile, OSError, ValueError):
        return frozenset(cells)
    return frozenset(cells)
