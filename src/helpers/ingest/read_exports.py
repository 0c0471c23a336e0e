"""Workbooks as other systems export them: an HTML table saved as `.xls` (bank and government systems do this),
an "XML Spreadsheet 2003" `.xls`, and an OpenDocument `.ods`.

Each reader turns the file into `Sheet`s as `sources` does for `.xlsx`, within the same bounds: the file size is
checked before it is read, cells are counted as they are read (a sheet past `MAX_SHEET_CELLS` is refused),
columns past `MAX_COLUMNS` are dropped with a finding, nothing is fetched or executed (HTML is only tokenised;
XML is parsed with defusedxml, which refuses DTDs and entities, so no external entity or entity expansion), and
an `.ods` is read by calamine only after its repeated rows and columns have been bounded.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from html.parser import HTMLParser

from ..core import findings as fd
from ..core.findings import Finding

MAX_EXPORT_BYTES = 64 * 2**20      # an HTML or XML export larger than this is refused unread
MAX_SHEET_CELLS = 5_000_000
MAX_COLUMNS = 1024
MAX_ODS_CONTENT_BYTES = 512 * 2**20
MAX_ODS_AREA = 8_000_000           # repeated non-empty cells an .ods may expand to
_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)


class ExportRefused(Exception):
    """The file cannot be read; `finding` says why (the caller adds the file)."""

    def __init__(self, finding: Finding):
        super().__init__(finding.message)
        self.finding = finding


# ---------------------------------------------------------------------------------------------------------------
# HTML tables saved as .xls


def is_html(head: bytes) -> bool:
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return lowered.startswith((b"<html", b"<!doctype html", b"<table", b"<meta")) or b"<html" in lowered[:1024] \
        or b"<table" in lowered[:4096]


def decode_html(data: bytes) -> tuple[str, str]:
    """The page's text and the encoding used: a BOM, else the charset its meta tag declares, else UTF-8 when it
    decodes, else GB18030 (what Chinese systems write without saying so)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    declared = _CHARSET.search(data[:4096])
    if declared:
        name = declared.group(1).decode("ascii").lower()
        name = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030"}.get(name, name)
        try:
            return data.decode(name, errors="replace"), name
        except LookupError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace"), "gb18030"


class _Tables(HTMLParser):
    """Rows of every <table>, cell texts with colspan/rowspan laid out as merged cells (the text in the first)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str | None]]] = []
        self._rows: list[list[str | None]] | None = None
        self._row: list[str | None] | None = None
        self._cell: list[str] | None = None
        self._span = (1, 1)
        self._pending: dict[tuple[int, int], None] = {}   # (row, col) covered by a rowspan from above
        self.cells = 0
        self.dropped_columns = 0
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
            if self._depth == 1:
                self._rows, self._pending = [], {}
        elif self._rows is None or self._depth != 1:
            return
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            values = dict(attrs)
            self._span = (_span(values.get("rowspan")), _span(values.get("colspan")))
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            if self._depth == 1 and self._rows is not None:
                self._close_row()
                self.tables.append(self._rows)
                self._rows = None
            self._depth = max(0, self._depth - 1)
        elif self._depth != 1 or self._rows is None:
            return
        elif tag in ("td", "th"):
            self._close_cell()
        elif tag == "tr":
            self._close_row()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def _close_cell(self) -> None:
        if self._cell is None or self._row is None or self._rows is None:
            return
        r = len(self._rows)
        while (r, len(self._row)) in self._pending:
            self._row.append(None)
        text = re.sub(r"[ \t\r\f\v\u00a0]+", " ", "".join(self._cell)).strip()
        rowspan, colspan = self._span
        start = len(self._row)
        self._row.append(text or None)
        self._row.extend([None] * (colspan - 1))
        for dr in range(1, rowspan):
            for c in range(start, start + colspan):
                self._pending[(r + dr, c)] = None
        self.cells += 1
        if self.cells > MAX_SHEET_CELLS:
            raise ExportRefused(fd.error("sheet_too_large", f"表格单元格超过 {MAX_SHEET_CELLS:,} 个，未读取"))
        self._cell = None

    def _close_row(self) -> None:
        if self._cell is not None:
            self._close_cell()
        if self._row is not None and self._rows is not None:
            if len(self._row) > MAX_COLUMNS:
                self.dropped_columns += sum(1 for v in self._row[MAX_COLUMNS:] if v is not None)
                del self._row[MAX_COLUMNS:]
            self._rows.append(self._row)
        self._row = None


def _span(value: str | None) -> int:
    try:
        return max(1, min(int(str(value).strip()), 1000))
    except (TypeError, ValueError):
        return 1


def read_html_tables(data: bytes, stem: str) -> tuple[list[tuple[str, tuple]], list[Finding], str]:
    """(sheet name, rows) per table of an HTML export, the findings and the encoding used. Every cell is text, as
    the page shows it; the typed readers turn numbers and dates written as text into values."""
    if len(data) > MAX_EXPORT_BYTES:
        raise ExportRefused(fd.error("file_too_large", f"网页格式文件超过 {MAX_EXPORT_BYTES // 2**20} MB，未读取"))
    text, encoding = decode_html(data)
    parser = _Tables()
    parser.feed(text)
    parser.close()
    findings = []
    if parser.dropped_columns:
        findings.append(fd.warning("cell_out_of_range", f"有 {parser.dropped_columns} 个单元格超出第 {MAX_COLUMNS} 列，未读取"))
    sheets = []
    tables = [t for t in parser.tables if any(any(v is not None for v in row) for row in t)]
    for i, table in enumerate(tables):
        name = stem if len(tables) == 1 else f"{stem}（表{i + 1}）"
        sheets.append((name, _numbered(table)))
    return sheets, findings, encoding


def _numbered(rows: list[list]) -> tuple:
    out = []
    for number, row in enumerate(rows, start=1):
        while row and row[-1] is None:
            row = row[:-1]
        if row:
            out.append((number, tuple(row)))
    return tuple(out)


# ---------------------------------------------------------------------------------------------------------------
# XML Spreadsheet 2003 (SpreadsheetML)

_SS = "urn:schemas-microsoft-com:office:spreadsheet"


def is_spreadsheetml(head: bytes) -> bool:
    return b"urn:schemas-microsoft-com:office:spreadsheet" in head and b"<" in head[:64]


def read_spreadsheetml(data: bytes) -> list[tuple[str, tuple, bool]]:
    """(sheet name, rows, hidden) per Worksheet of an Excel 2003 XML file. Numbers, dates and booleans keep their
    types (ss:Type); ss:Index and ss:MergeAcross/MergeDown place cells as Excel shows them."""
    from defusedxml import ElementTree as SafeTree
    from defusedxml.common import DefusedXmlException

    if len(data) > MAX_EXPORT_BYTES:
        raise ExportRefused(fd.error("file_too_large", f"XML 表格文件超过 {MAX_EXPORT_BYTES // 2**20} MB，未读取"))
    try:
        root = SafeTree.fromstring(data)
    except DefusedXmlException:
        raise ExportRefused(fd.error("xml_unsafe", "XML 表格含有实体或文档类型定义（DTD），出于安全原因未读取")) from None
    except SafeTree.ParseError as exc:
        raise ExportRefused(fd.error("not_a_workbook", f"XML 表格格式有误，无法读取（{exc}）")) from None
    sheets = []
    cells = 0
    for ws in root.iter(f"{{{_SS}}}Worksheet"):
        name = ws.get(f"{{{_SS}}}Name") or f"Sheet{len(sheets) + 1}"
        hidden = False
        for opt in ws.iter("{urn:schemas-microsoft-com:office:excel}Visible"):
            hidden = (opt.text or "").strip() in ("SheetHidden", "SheetVeryHidden")
        rows: list[tuple[int, tuple]] = []
        table = ws.find(f"{{{_SS}}}Table")
        row_no = 0
        if table is not None:
            for row in table.findall(f"{{{_SS}}}Row"):
                row_no = _index(row, row_no + 1)
                values: dict[int, object] = {}
                col = 0
                for cell in row.findall(f"{{{_SS}}}Cell"):
                    col = _index(cell, col + 1)
                    data_el = cell.find(f"{{{_SS}}}Data")
                    if col <= MAX_COLUMNS and data_el is not None:
                        values[col] = _typed(data_el)
                        cells += 1
                        if cells > MAX_SHEET_CELLS:
                            raise ExportRefused(fd.error("sheet_too_large",
                                                         f"表格单元格超过 {MAX_SHEET_CELLS:,} 个，未读取", sheet=name))
                    col += int(cell.get(f"{{{_SS}}}MergeAcross") or 0)
                if values:
                    width = max(values)
                    rows.append((row_no, tuple(values.get(c) for c in range(1, width + 1))))
        sheets.append((name, tuple(rows), hidden))
    return sheets


def _index(element, default: int) -> int:
    value = element.get(f"{{{_SS}}}Index")
    try:
        index = int(value) if value else default
    except ValueError:
        return default
    if index < 1 or index > 1_048_576:
        raise ExportRefused(fd.error("sheet_too_large", f"XML 表格的行列号 {index} 超出范围，未读取"))
    return index


def _typed(data_el) -> object:
    kind = data_el.get(f"{{{_SS}}}Type")
    text = "".join(data_el.itertext())
    if kind == "Number":
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "DateTime":
        try:
            return dt.datetime.fromisoformat(text.strip().rstrip("Z"))
        except ValueError:
            return text
    if kind == "Boolean":
        return text.strip() == "1"
    return text if text.strip() else None


# ---------------------------------------------------------------------------------------------------------------
# OpenDocument spreadsheets (.ods)


def is_ods(zf: zipfile.ZipFile) -> bool:
    names = set(zf.namelist())
    if "content.xml" not in names:
        return False
    try:
        mimetype = zf.read("mimetype")[:100] if "mimetype" in names else b""
    except (KeyError, zipfile.BadZipFile):
        mimetype = b""
    return mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet") or not mimetype


_REPEAT = re.compile(rb"<table:table-(row|cell)\b([^>]*?)(/?)>")
_REPEAT_N = re.compile(rb'number-(?:rows|columns)-repeated="(\d+)"')


def check_ods(zf: zipfile.ZipFile) -> None:
    """Refuse an .ods whose content would expand past `MAX_ODS_AREA` cells: repeated rows of non-empty cells
    multiply (a hostile file repeats one valued cell a million times in a million rows). Empty repeated cells,
    which LibreOffice writes for every sheet's unused area, cost nothing."""
    info = zf.getinfo("content.xml")
    if info.file_size > MAX_ODS_CONTENT_BYTES:
        raise ExportRefused(fd.error("workbook_too_large",
                                     f"表格内容解压后超过 {MAX_ODS_CONTENT_BYTES // 2**20} MB，未读取"))
    content = zf.read("content.xml")
    if b"<!DOCTYPE" in content[:4096] or b"<!ENTITY" in content:
        raise ExportRefused(fd.error("xml_unsafe", "表格内容含有文档类型定义（DTD）或实体，出于安全原因未读取"))
    area = 0
    row_repeat = 1
    row_cells = 0
    for m in _REPEAT.finditer(content):
        kind, attrs, closed = m.group(1), m.group(2), m.group(3)
        n = _REPEAT_N.search(attrs)
        repeat = int(n.group(1)) if n else 1
        if kind == b"row":
            area += row_repeat * row_cells
            row_repeat, row_cells = repeat, 0
        elif not closed or b"office:value" in attrs:      # a cell with content (a closed cell is empty)
            row_cells += repeat
        if area + row_repeat * row_cells > MAX_ODS_AREA:
            raise ExportRefused(fd.error("sheet_too_large",
                                         f"表格展开后超过 {MAX_ODS_AREA:,} 个非空单元格（重复行列），未读取"))
