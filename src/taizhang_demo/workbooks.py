"""What every demo ledger is made of: workbook bytes written deterministically (fixed zip
timestamps and order), and the names, dates and contacts units write into them.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.writer.excel import ExcelWriter

from helpers.core.identifiers import normalize_id
from helpers.indicators.lending_base import identity_key
from helpers.plan.model import Unit


_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


class _StableZip(zipfile.ZipFile):
    """A zip writer whose entries all carry one fixed date, so the same workbook gives the same bytes."""

    def __init__(self, file: io.BytesIO, stamp: dt.datetime):
        super().__init__(file, "w", zipfile.ZIP_DEFLATED)
        self._stamp = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            info = zipfile.ZipInfo(str(zinfo_or_arcname), self._stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        with open(filename, "rb") as fh:
            data = fh.read()
        self.writestr(arcname or os.path.basename(filename), data)


class _MemoryExcelWriter(ExcelWriter):
    """openpyxl's writer, with worksheets serialised in memory instead of through temporary files."""

    def write_worksheet(self, ws):
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        writer = WorksheetWriter(ws, out=io.BytesIO())
        writer.write()
        ws._rels = writer._rels
        self._archive.writestr(ws.path[1:], writer.read())
        self.manifest.append(ws)


@dataclass
class _Sheet:
    """One worksheet to write: rows of cell values (1-based row numbers are their position + 1)."""

    name: str
    rows: list[list[Any]] = field(default_factory=list)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)   # (row1, col1, row2, col2), 1-based
    widths: dict[int, float] = field(default_factory=dict)
    bold_rows: set[int] = field(default_factory=set)
    header_row: int | None = None


def _workbook_bytes(sheets: list[_Sheet], created: dt.datetime, modified: dt.datetime, author: str) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for spec in sheets:
        ws = wb.create_sheet(spec.name)
        for row in spec.rows:
            ws.append(row)
        for r1, c1, r2, c2 in spec.merges:
            # the covered cells are already blank; skip merge_cells(), which restyles every covered cell
            ws.merged_cells.add(CellRange(min_row=r1, min_col=c1, max_row=r2, max_col=c2))
        for col, width in spec.widths.items():
            ws.column_dimensions[get_column_letter(col)].width = width
        for r in spec.bold_rows:
            for cell in ws[r]:
                if cell.value is not None:
                    cell.font = bold
        if spec.header_row:
            ws.freeze_panes = ws.cell(row=spec.header_row + 1, column=1)
    wb.properties.creator = "Administrator"
    wb.properties.lastModifiedBy = author
    wb.properties.created = created
    wb.properties.modified = modified
    buf = io.BytesIO()
    archive = _StableZip(buf, modified)
    _MemoryExcelWriter(wb, archive).save()   # not save_workbook(): it stamps `modified` with the current time
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# Word lists for fictional names and texts

_SURNAMES = ("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余"
             "潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
_GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌宏海波鹏辉俊峰亮宇浩凯健琳晶雪梅"
          "燕霞玲丹慧瑞鑫鸿旭东晓晨子涵欣怡佳琪博文思远嘉庆振兴永福德胜利民富贵春生秋菊冬梅")


def _contact(rng: random.Random) -> str:
    name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))
    return f"{name}  电话：0352-{rng.randint(2000000, 7999999)}"


def _contact_line(rng: random.Random) -> list:
    """A footer line as units write it below a fixed-format table: 填报人 and a mobile number (fictional)."""
    name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))
    mobile = f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
    return [f"填报人：{name}", None, None, f"联系电话：{mobile}"]


def _person_name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _short_name(unit: Unit) -> str:
    """The shortest readable alias (3+ characters) for lists of units and pushed-to banks."""
    names = [a for a in unit.aliases if len(a) >= 3] or [unit.name]
    return min(names, key=lambda n: (len(n), n))


def _file_alias(unit: Unit, rng: random.Random) -> str:
    names = [n for n in unit.names if len(n) >= 3 and not _UNSAFE_NAME.search(n)]
    return rng.choice(names) if names else _safe(unit.name)


def _safe(name: str) -> str:
    return _UNSAFE_NAME.sub("_", name).strip() or "台账"


def _date_text(date: dt.date, style: str) -> Any:
    if style == "cell":
        return date
    if style == "cjk":
        return f"{date.year}年{date.month}月{date.day}日"
    if style == "dot":
        return f"{date.year}.{date.month}.{date.day}"
    if style == "slash":
        return f"{date.year}/{date.month}/{date.day}"
    if style == "int":
        return int(date.strftime("%Y%m%d"))
    return date.isoformat()


def _read_back_key(written: Any, name: str) -> str:
    """The borrower key the suite gives a 证件号码 cell as written: a number comes back as a double (an 18-digit
    resident ID loses its last digits)."""
    if isinstance(written, int):
        written = int(float(written))
    return identity_key(normalize_id(written), name) or name


class _Taker:
    """Hands out distinct items from a shuffled pool, so each deliberate oddity lands on a different unit."""

    def __init__(self, pool: list):
        self.pool = list(pool)

    def one(self, accept=None):
        for i, item in enumerate(self.pool):
            if accept is None or accept(item):
                return self.pool.pop(i)
        return None

    def many(self, count: int) -> list:
        out = []
        for _ in range(count):
            item = self.one()
            if item is None:
                break
            out.append(item)
        return out
