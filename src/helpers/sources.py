"""Reading raw files: the only module of the suite that opens what units send.

`list_cycle_files(cycle_dir)` lists a cycle folder; `read_workbook(path, root=cycle_dir)` turns one file into a
`Workbook` of `Sheet`s holding the non-empty rows as plain Python values, plus findings for every problem met.
It never raises for bad input: a file that cannot be read comes back with no sheets and an error finding.

Values, the same whatever the file format or reading path:
  * text stays as typed (stray spaces kept; an empty string counts as an empty cell → None);
  * numbers are float, or int when integral (|n| ≤ 2**53); booleans are bool;
  * date-formatted cells are `datetime.datetime`; as in python-calamine, a date-formatted value below 1 is a
    `datetime.time` and an [h]:mm duration a `datetime.timedelta`;
  * error cells come back as their text ("#REF!", "#DIV/0!"), the parsers downstream report them;
  * a formula without a cached result is None, with a warning;
  * CSV has no types: every value is the text as written.

Reading is bounded in time and memory whatever the file declares (its `<dimension ref>` is never trusted).
python-calamine is fast but materialises a sheet's whole rectangle (rows × columns × 32 bytes) and aborts the
process when that cannot be allocated: one stray cell at XFD1048576 asks for 512 GiB. So each .xlsx sheet's XML
is first scanned, streamed in chunks, with regular expressions only (nothing per cell in Python; about a third
of calamine's own time) for its real extent, cell count, hidden rows and columns, merges, error cells and
formulas without a cached result. Then, per sheet:
  * dense: the rectangle is sane (≤ DENSE_MAX_AREA cells, and mostly filled): calamine reads the sheet;
  * filtered: it is sane once the cells right of MAX_COLUMNS are dropped (the usual stray cell): the sheet XML
    is copied without them (one regular-expression substitution) into a temporary workbook calamine reads;
  * packed: anything else (far-apart cells, cells without references): every cell is walked, and the non-empty
    ones are packed side by side into a temporary sheet that calamine reads, then put back in place.
All three give identical `Sheet`s (tested), because calamine converts every value. Cells right of MAX_COLUMNS
are ignored with a warning; a sheet of more than MAX_SHEET_CELLS non-empty cells is refused with an error.
For .xls the BIFF records are scanned the same way, cells beyond column IV blanked, declared dimensions zeroed,
and the cell records of a sparse sheet moved next to each other in place, before calamine reads the file.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import os
import posixpath
import re
import struct
import tempfile
import xml.etree.ElementTree as ET
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import python_calamine

from . import findings as fd
from . import read_exports
from .findings import Finding
from .cell_formats import workbook_percent_styles, xlsx_percent_cells
from .fingerprints import file_sha256

# ---------------------------------------------------------------------------------------------------------------
# Limits (measured: calamine holds 32 bytes per cell of a sheet's rectangle; see the module docstring)

MAX_FILE_BYTES = 512 * 2**20          # a larger file is refused unread
MAX_UNCOMPRESSED_BYTES = 2 * 2**30    # sum of the declared sizes of an .xlsx's parts
MAX_META_BYTES = 64 * 2**20           # workbook.xml and its relationships, parsed whole
MAX_CSV_BYTES = 256 * 2**20
MAX_SHEETS = 255
MAX_COLUMNS = 1024                    # column AMJ; cells further right are ignored with a warning
MAX_SHEET_CELLS = 5_000_000           # non-empty cells of one sheet; more and the sheet is refused
MAX_WORKBOOK_CELLS = 20_000_000       # over all sheets of a workbook
DENSE_MAX_AREA = 8_000_000            # rows × columns calamine may materialise (≈ 256 MB)
XLS_DENSE_MAX_AREA = 4_000_000        # the same for .xls, where calamine holds each sheet twice
DENSE_ALWAYS_AREA = 1_000_000         # below this area a sheet is always read densely ...
DENSE_MIN_FILL = 1 / 16               # ... above it only if at least this share of the rectangle holds cells
MAX_XLS_COLUMNS = 256                 # BIFF8 limit (column IV)
CHUNK_BYTES = 8 * 2**20               # sheet XML is scanned in chunks of this size
MAX_CARRY_BYTES = 64 * 2**20          # longest run of XML without a cell or row end that is accepted
LISTED_CELLS = 20                     # cell findings listed one by one per sheet and kind; the rest summed up

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlt", ".et", ".ett", ".ods")
LEDGER_SUFFIXES = EXCEL_SUFFIXES + (".csv",)
NOT_LEDGER_SUFFIXES = frozenset({
    ".pdf", ".ofd", ".doc", ".docx", ".wps", ".rtf", ".txt", ".md", ".ppt", ".pptx", ".dps",
    ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".webp", ".mp4", ".mov",
    ".msg", ".eml", ".htm", ".html",
})
ARCHIVE_SUFFIXES = frozenset({".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz"})
QUIET_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store", "__macosx"})

OLE_MAGIC = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"

_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


@dataclass(frozen=True)
class Sheet:
    """One worksheet: `rows` holds (1-based Excel row number, cell values from column A) for non-empty rows
    only, trailing empty cells trimmed; `name` is kept exactly as in the workbook."""

    name: str
    rows: tuple[tuple[int, tuple[object, ...]], ...]
    hidden: bool = False
    merged: tuple[str, ...] = ()
    percent_cells: frozenset[tuple[int, int]] = frozenset()   # (row, 0-based column) shown as a percentage


@dataclass(frozen=True)
class Workbook:
    """One file as read: `name` is its path relative to the cycle folder (posix style), used in findings."""

    path: Path
    name: str
    sheets: tuple[Sheet, ...]
    findings: tuple[Finding, ...]
    sha256: str


def _calamine_error(exc: BaseException) -> bool:
    """An error raised by python-calamine, including a Rust panic (pyo3's PanicException is a BaseException)."""
    return isinstance(exc, python_calamine.CalamineError) or type(exc).__name__ == "PanicException"


class _Refused(Exception):
    """The file (or sheet) cannot be read; carries the finding that says why."""

    def __init__(self, finding: Finding):
        super().__init__(finding.message)
        self.finding = finding


# ---------------------------------------------------------------------------------------------------------------
# Cell values and rows

_MAX_EXACT_INT = 2**53


def column_letters(col: int) -> str:
    """1 → 'A', 16384 → 'XFD'."""
    letters = ""
    while col > 0:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _column_number(letters: bytes | str) -> int:
    n = 0
    for ch in letters.upper() if isinstance(letters, str) else letters.decode("ascii").upper():
        n = n * 26 + ord(ch) - 64
    return n


def _value(v: object) -> object:
    """calamine's Python value → the suite's: '' → None, integral float → int, date → datetime."""
    t = type(v)
    if t is float:
        return int(v) if v.is_integer() and -_MAX_EXACT_INT <= v <= _MAX_EXACT_INT else v  # type: ignore[union-attr]
    if t is str:
        return v if v else None
    if t is dt.date:
        return dt.datetime(v.year, v.month, v.day)  # type: ignore[union-attr]
    return v


def _trimmed(cells: list) -> tuple | None:
    n = len(cells)
    while n and cells[n - 1] is None:
        n -= 1
    return tuple(cells[:n]) if n else None


def _rows_from_calamine(sheet: object, patches: dict[tuple[int, int], object]) -> list[tuple[int, tuple]]:
    """Non-empty rows of a calamine sheet, cell values normalised, `patches` ((row, col) 1-based → value)
    applied on top (error texts calamine drops, formulas without a cached result)."""
    start = sheet.start  # type: ignore[attr-defined]
    rows: list[tuple[int, tuple]] = []
    if start is not None:
        pad = (None,) * start[1]
        date, datetime, big = dt.date, dt.datetime, _MAX_EXACT_INT
        for i, raw in enumerate(sheet.iter_rows()):  # type: ignore[attr-defined]
            n = len(raw)
            if raw.count("") == n:
                continue
            while raw[n - 1] == "":
                n -= 1
            cells = []
            append = cells.append
            for v in raw[:n]:                         # _value(), inlined: this loop is the hot path
                t = type(v)
                if t is str:
                    append(v or None)
                elif t is float:
                    append(int(v) if v.is_integer() and -big <= v <= big else v)
                elif t is date:
                    append(datetime(v.year, v.month, v.day))
                else:
                    append(v)
            rows.append((i + 1, pad + tuple(cells)))
    if patches:
        rows = _apply_patches(rows, patches)
    return rows


def _apply_patches(rows: list[tuple[int, tuple]], patches: dict[tuple[int, int], object]) -> list[tuple[int, tuple]]:
    by_row = {r: list(cells) for r, cells in rows}
    for (r, c), v in patches.items():
        cells = by_row.setdefault(r, [])
        if len(cells) < c:
            cells.extend([None] * (c - len(cells)))
        cells[c - 1] = v
    out = []
    for r in sorted(by_row):
        row = _trimmed(by_row[r])
        if row is not None:
            out.append((r, row))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Findings about cells, collected per sheet


@dataclass
class _SheetNotes:
    """Cell-level observations of one sheet, turned into findings once its rows are known."""

    hidden_rows: set[int] = field(default_factory=set)
    hidden_cols: list[tuple[int, int]] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    errors: dict[tuple[int, int], str] = field(default_factory=dict)        # (row, col) → "#REF!"
    no_cache: dict[tuple[int, int], str] = field(default_factory=dict)      # (row, col) → formula text
    out_of_range: list[tuple[int, int]] = field(default_factory=list)       # cells right of MAX_COLUMNS
    out_of_range_count: int = 0
    column_limit: int = MAX_COLUMNS
    bad_refs: int = 0


def _cell_findings(notes: _SheetNotes, rows: list[tuple[int, tuple]], place: dict) -> list[Finding]:
    out: list[Finding] = []
    for i, ((r, c), formula) in enumerate(sorted(notes.no_cache.items())):
        if i == LISTED_CELLS:
            out.append(fd.warning("formula_no_cache", f"另有 {len(notes.no_cache) - LISTED_CELLS} 个公式没有缓存结果，"
                                  "按空值读取；请在 Excel 中打开、保存后重新报送", **place))
            break
        shown = f"（={formula[:60]}）" if formula else ""
        out.append(fd.warning("formula_no_cache", f"公式没有缓存结果{shown}，按空值读取；请在 Excel 中打开、保存后重新报送",
                              row=r, column=column_letters(c), **place))
    limit = f"{notes.column_limit} 列 {column_letters(notes.column_limit)}"
    for r, c in notes.out_of_range:
        out.append(fd.warning("cell_out_of_range", f"第 {r} 行 {column_letters(c)} 列有孤立单元格，超出读取范围（最多读到第 {limit}），已忽略",
                              row=r, column=column_letters(c), **place))
    extra = notes.out_of_range_count - len(notes.out_of_range)
    if extra > 0:
        out.append(fd.warning("cell_out_of_range", f"另有 {extra} 个单元格超出读取范围（最多读到第 {limit}），已忽略", **place))
    if notes.bad_refs:
        out.append(fd.warning("bad_cell_reference", f"{notes.bad_refs} 个单元格的位置无效，已忽略", **place))
    data_rows = {r for r, _ in rows}
    hidden = sorted(notes.hidden_rows & data_rows)
    if hidden:
        shown = "、".join(str(r) for r in hidden[:10]) + ("……" if len(hidden) > 10 else "")
        out.append(fd.info("hidden_rows", f"工作表中有 {len(hidden)} 行被隐藏（第 {shown} 行），已照常读取",
                           row=hidden[0], **place))
    if notes.hidden_cols and rows:
        width = max(len(cells) for _, cells in rows)
        wanted = {c for lo, hi in notes.hidden_cols for c in range(max(lo, 1), min(hi, width) + 1)}
        found: set[int] = set()
        for _, cells in rows:
            found.update(c for c in wanted.difference(found) if c <= len(cells) and cells[c - 1] is not None)
            if len(found) == len(wanted):
                break
        cols = sorted(found)
        if cols:
            shown = "、".join(column_letters(c) for c in cols[:10]) + ("……" if len(cols) > 10 else "")
            out.append(fd.info("hidden_columns", f"工作表中有 {len(cols)} 列被隐藏（{shown} 列），已照常读取", **place))
    return out


# ---------------------------------------------------------------------------------------------------------------
# .xlsx: the package


def _read_small(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_META_BYTES:
        raise _Refused(fd.error("workbook_too_large", f"工作簿的结构部分 {info.filename} 过大，无法读取"))
    return zf.read(info)


def _parse_xml(data: bytes, what: str) -> ET.Element:
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:4096]:
        raise _Refused(fd.error("not_a_workbook", f"文件不是有效的 Excel 工作簿（{what} 含有不允许的 DTD）"))
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise _Refused(fd.error("not_a_workbook", f"文件不是有效的 Excel 工作簿（{what} 无法解析：{exc}）")) from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _rels(zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], part: str) -> dict[str, tuple[str, str]]:
    """Relationship id → (type suffix, target part path) for `part`."""
    folder, base = posixpath.split(part)
    rels_name = posixpath.join(folder, "_rels", base + ".rels")
    info = members.get(rels_name.lower())
    if info is None:
        return {}
    out = {}
    for el in _parse_xml(_read_small(zf, info), rels_name):
        if _local(el.tag) != "Relationship" or el.get("TargetMode") == "External":
            continue
        target = el.get("Target", "").replace("\\", "/")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        out[el.get("Id", "")] = (el.get("Type", "").rsplit("/", 1)[-1], path)
    return out


@dataclass
class _SheetEntry:
    name: str
    hidden: bool
    kind: str          # worksheet, chartsheet, dialogsheet, xlMacrosheet ...
    part: str | None


@dataclass
class _Package:
    zf: zipfile.ZipFile
    members: dict[str, zipfile.ZipInfo]     # lower-cased name → info
    workbook_part: str
    sheets: list[_SheetEntry]
    styles: str | None
    shared_strings: str | None
    date1904: bool


def _open_package(zf: zipfile.ZipFile) -> _Package:
    infos = zf.infolist()
    if any(i.flag_bits & 0x1 for i in infos):
        raise _Refused(fd.error("encrypted", "工作簿已加密，无法读取，请取消密码后重新报送"))
    declared = sum(i.file_size for i in infos)
    if declared > MAX_UNCOMPRESSED_BYTES:
        raise _Refused(fd.error("workbook_too_large",
                                f"工作簿解压后有 {declared / 2**30:.1f} GiB，超过 {MAX_UNCOMPRESSED_BYTES // 2**30} GiB 上限，未读取"))
    members = {i.filename.replace("\\", "/").lower(): i for i in infos}
    workbook_part = None
    for typ, target in _rels(zf, members, "").values():
        if typ == "officeDocument":
            workbook_part = target
    if workbook_part is None or workbook_part.lower() not in members:
        workbook_part = "xl/workbook.xml" if "xl/workbook.xml" in members else None
    if workbook_part is None:
        if "word/document.xml" in members:
            raise _Refused(fd.error("not_a_workbook", "文件是 Word 文档，不是 Excel 工作簿"))
        if "ppt/presentation.xml" in members:
            raise _Refused(fd.error("not_a_workbook", "文件是 PowerPoint 演示文稿，不是 Excel 工作簿"))
        if "content.xml" in members:
            raise _Refused(fd.error("unsupported_format", "文件是 OpenDocument（.ods）表格，请另存为 .xlsx 后重新报送"))
        raise _Refused(fd.error("not_a_workbook", "文件不是有效的 Excel 工作簿（压缩包中没有工作簿）"))
    if workbook_part.lower().endswith(".bin"):
        raise _Refused(fd.error("unsupported_format", "文件是二进制工作簿（.xlsb），请另存为 .xlsx 后重新报送"))
    root = _parse_xml(_read_small(zf, members[workbook_part.lower()]), workbook_part)
    rels = _rels(zf, members, workbook_part)
    date1904 = False
    sheets: list[_SheetEntry] = []
    for el in root.iter():
        tag = _local(el.tag)
        if tag == "workbookPr":
            date1904 = el.get("date1904", "").lower() in ("1", "true")
        elif tag == "sheet":
            rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), "")
            kind, part = rels.get(rid, ("worksheet", None))
            sheets.append(_SheetEntry(el.get("name", ""), el.get("state", "visible") in ("hidden", "veryHidden"),
                                      kind, part if part and part.lower() in members else None))
    styles = next((p for t, p in rels.values() if t == "styles" and p.lower() in members), None)
    strings = next((p for t, p in rels.values() if t == "sharedStrings" and p.lower() in members), None)
    return _Package(zf, members, workbook_part, sheets, styles, strings, date1904)


def _verify_part(pkg: _Package, part: str | None) -> None:
    """Decompress a part calamine will read, so that a size lie or a corrupt stream is caught here (Python
    stops at the declared size and checks the CRC) rather than inside calamine."""
    if part is None:
        return
    with pkg.zf.open(pkg.members[part.lower()]) as f:
        while f.read(CHUNK_BYTES):
            pass


# ---------------------------------------------------------------------------------------------------------------
# .xlsx: scanning sheet XML


def _letters_upto(limit: int) -> bytes:
    """A regular expression for the column letters of columns 1..limit (limit 1024 → A … AMJ)."""
    top = column_letters(limit)
    alternatives = [b"[A-Z]{1,%d}" % (len(top) - 1)] if len(top) > 1 else []
    for i, ch in enumerate(top):
        if ch > "A":
            alternatives.append(top[:i].encode() + b"[A-" + chr(ord(ch) - 1).encode() + b"]" + b"[A-Z]" * (len(top) - i - 1))
    alternatives.append(top.encode())
    return b"(?:" + b"|".join(alternatives) + b")"


def _patterns(prefix: bytes) -> dict[str, Any]:
    return _compiled_patterns(prefix, MAX_COLUMNS)


@lru_cache(maxsize=8)
def _compiled_patterns(prefix: bytes, max_columns: int) -> dict[str, Any]:
    p = re.escape(prefix)
    near = _letters_upto(max_columns)           # columns that are read; cells further right are ignored
    return {
        "near": near,
        # every <c> start tag; group 1 = column letters when r="A1" is its first attribute, else b""
        "tags": re.compile(rb"<" + p + rb"c(?: r=\"([A-Z]{1,3})[0-9]|[\s>/])"),
        "rows": re.compile(rb"<" + p + rb"c r=\"" + near + rb"([0-9]+)"),
        # rows that hold cells that are read: <row r="7" ...> directly followed by such a cell
        "row_tags": re.compile(rb"<" + p + rb"row r=\"([0-9]{1,7})\"[^>]*(?<!/)>\s*<" + p + rb"c r=\"" + near + rb"[0-9]"),
        # cells right of the last column read: (letters, row, "/" when self-closing)
        "far": re.compile(rb"<" + p + rb"c r=\"(?!" + near + rb"[0-9])([A-Z]{1,3})([0-9]+)\"[^>]*?(/?)>"),
        "far_cell": re.compile(rb"<" + p + rb"c r=\"(?!" + near + rb"[0-9])[A-Z]{1,3}[0-9]+\"[^>]*?(?:/>|>.*?</" + p + rb"c>)",
                               re.DOTALL),
        "hidden_row": re.compile(rb"<" + p + rb"row\b([^>]*?\bhidden=[\"'](?:1|true)[\"'][^>]*)>"),
        "hidden_col": re.compile(rb"<" + p + rb"col\b([^>]*?\bhidden=[\"'](?:1|true)[\"'][^>]*)>"),
        "merge": re.compile(rb"<" + p + rb"mergeCell\b[^>]*?\bref=[\"']([^\"']+)[\"']"),
        "error_tag": re.compile(rb"<" + p + rb"c\b([^>]*?\bt=[\"']e[\"'][^>]*)>"),
        "no_cache": re.compile(rb"(?:<" + p + rb"f\b[^>]*/>|<" + p + rb"f\b[^>]*>[^<]*</" + p + rb"f>)\s*"
                               rb"(?:<" + p + rb"v\s*/>|<" + p + rb"v>\s*</" + p + rb"v>)?\s*</" + p + rb"c>"),
        "no_cache_body": re.compile(rb"\s*(?:<" + p + rb"f\b[^>]*/>|<" + p + rb"f\b[^>]*>([^<]*)</" + p + rb"f>)\s*"
                                    rb"(<" + p + rb"v\s*/>|<" + p + rb"v>\s*</" + p + rb"v>)?\s*"),
        "value": re.compile(rb"<" + p + rb"v>([^<]*)</" + p + rb"v>"),
        # row and cell tags in document order: 1-4 a cell with a leading reference (letters, digits, other
        # attributes, body), 5-6 any other cell (attributes, body), 7-9 a row start (attributes, "/"), 10 a row end
        "walker": re.compile(rb"<" + p + rb"(?:c r=\"([A-Z]{1,3})([0-9]{1,7})\"([^>]*?)(?:/>|>(.*?)</" + p + rb"c>)"
                             rb"|c\b([^>]*?)(?:/>|>(.*?)</" + p + rb"c>)|(row)\b([^>]*?)(/?)>)|(</" + p + rb"row>)", re.DOTALL),
        "other_prefix": b":c r=\"" if not prefix else b"<c ",
        # literal tags, for bytes.count / rfind
        "row_end": b"</" + prefix + b"row>",
        "cell_end": b"</" + prefix + b"c>",
        "c_open": b"<" + prefix + b"c",
        "f_open": b"<" + prefix + b"f",
    }


def _rows_beyond(prefix: bytes, n: int) -> re.Pattern:
    return _compiled_rows_beyond(prefix, n, _patterns(prefix)["near"])


@lru_cache(maxsize=64)
def _compiled_rows_beyond(prefix: bytes, n: int, near: bytes) -> re.Pattern:
    """A reference to a cell that is read (not right of the last column) whose row number is greater than n."""
    digits = str(n)
    alternatives = [b"[0-9]{%d,}" % (len(digits) + 1)]
    for i, ch in enumerate(digits):
        if ch != "9":
            alternatives.append(digits[:i].encode() + b"[%d-9]" % (int(ch) + 1) + b"[0-9]" * (len(digits) - i - 1))
    return re.compile(rb"<" + re.escape(prefix) + rb"c r=\"" + near + rb"(?:" + b"|".join(alternatives) + rb")\"")


_ATTR = re.compile(rb"([\w:.-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_REF = re.compile(r"([A-Za-z]{1,3})([0-9]{1,7})$")
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?(worksheet|chartsheet|dialogsheet|macrosheet)\b")


def _attrs(raw: bytes) -> dict[str, str]:
    return {m.group(1).decode("ascii", "replace").rsplit(":", 1)[-1]:
            (m.group(2) if m.group(2) is not None else m.group(3)).decode("utf-8", "replace")
            for m in _ATTR.finditer(raw)}


def _ref(text: str | None) -> tuple[int, int] | None:
    m = _REF.match(text or "")
    if not m:
        return None
    row, col = int(m.group(2)), _column_number(m.group(1))
    return (row, col) if 1 <= row <= 1048576 and col <= 16384 else None


def _error_text(attrs: dict[str, str], body: bytes, pat: dict[str, Any]) -> str | None:
    if attrs.get("t") != "e":
        return None
    m = pat["value"].search(body or b"")
    text = html.unescape(m.group(1).decode("utf-8", "replace")).strip() if m else ""
    return text or None


def _no_cache_formula(attrs: dict[str, str], body: bytes, pat: dict[str, Any]) -> str | None:
    """The formula text of a cell that has a formula but no cached result, else None."""
    m = pat["no_cache_body"].fullmatch(body or b"")
    if not m or (m.group(2) and attrs.get("t") == "str"):
        return None
    return html.unescape((m.group(1) or b"").decode("utf-8", "replace"))


def _chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo, pat: dict[str, Any] | None = None) -> Iterator[bytes]:
    """The part's bytes in chunks that never split a cell: each chunk ends after a </row> (or </c>)."""
    carry = b""
    with zf.open(info) as f:
        while True:
            data = f.read(CHUNK_BYTES)
            if not data:
                if carry:
                    yield carry
                return
            buf = carry + data if carry else data
            if pat is None:
                pat = _patterns(_prefix(buf))
            cut = _last_end(buf, pat)
            if cut <= 0:
                if len(buf) > MAX_CARRY_BYTES:
                    cut = buf.rfind(b">") + 1
                if cut <= 0:
                    if len(buf) > MAX_CARRY_BYTES:
                        raise _Refused(fd.error("sheet_unreadable", "工作表数据异常（超长的无结构内容），未读取"))
                    carry = buf
                    continue
            yield buf[:cut]
            carry = buf[cut:]


def _last_end(buf: bytes, pat: dict[str, Any]) -> int:
    for key in ("row_end", "cell_end"):
        tag = pat[key]
        pos = buf.rfind(tag)
        if pos >= 0:
            return pos + len(tag)
    return -1


def _prefix(head: bytes) -> bytes:
    m = _ROOT.search(head[:65536])
    return m.group(1) or b"" if m else b""


@dataclass
class _Scan:
    kind: str = "worksheet"
    prefix: bytes = b""
    max_row: int = 0
    max_col: int = 0
    tags: int = 0              # <c> tags
    content: int = 0           # </c>: cells that may hold a value
    irregular: bool = False    # some cell lacks a leading r="A1" (or is in another namespace prefix): read sparsely
    far: bool = False          # some cells with a value lie right of the last column read
    notes: _SheetNotes = field(default_factory=_SheetNotes)


def _scan_sheet(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Scan:
    """One cheap pass over a sheet's XML: extent, cell count, hidden rows/columns, merges, errors, formulas
    without cached values. Regular expressions only; nothing per cell in Python."""
    scan = _Scan()
    pat: dict[str, Any] | None = None
    max_row = 0
    cols_seen: set[bytes] = set()
    first = True
    for buf in _chunks(zf, info):
        if first:
            first = False
            m = _ROOT.search(buf[:65536])
            scan.kind = m.group(2).decode() if m else "worksheet"
            scan.prefix = (m.group(1) or b"") if m else b""
            pat = _patterns(scan.prefix)
        assert pat is not None
        if pat["other_prefix"] in buf:     # cells in another namespace prefix than the sheet's own
            scan.irregular = True
        found = pat["tags"].findall(buf)
        scan.tags += len(found)
        letters = set(found)
        if any(c and _column_number(c) > MAX_COLUMNS for c in letters):
            notes = scan.notes
            for m in pat["far"].finditer(buf):
                if m.group(3) or buf.startswith(pat["cell_end"], m.end()):
                    continue                   # a styled but empty cell: calamine skips it, nothing is lost
                notes.out_of_range_count += 1
                if len(notes.out_of_range) < LISTED_CELLS:
                    notes.out_of_range.append((int(m.group(2)), _column_number(m.group(1))))
                scan.far = True
        cols_seen.update(letters)
        # the highest row: from the row tags (few), then one search for any cell below it (rarely finds one)
        tags = pat["row_tags"].findall(buf)
        if tags:
            max_row = max(max_row, max(map(int, tags)))
        if _rows_beyond(scan.prefix, max_row).search(buf):
            max_row = max(max_row, max(map(int, pat["rows"].findall(buf))))
        scan.content += buf.count(pat["cell_end"])
        notes = scan.notes
        if b"hidden=" in buf:
            for m in pat["hidden_row"].finditer(buf):
                a = _attrs(m.group(1))
                if "r" in a and a["r"].isdigit():
                    notes.hidden_rows.add(int(a["r"]))
                else:
                    scan.irregular = True
            for m in pat["hidden_col"].finditer(buf):
                a = _attrs(m.group(1))
                try:
                    notes.hidden_cols.append((int(a["min"]), int(a["max"])))
                except (KeyError, ValueError):
                    pass
        # merges follow the sheet data, so only the tail after the chunk's last </row> can hold them
        tail = max(0, buf.rfind(pat["row_end"]))
        if buf.find(b"mergeCell", tail) >= 0:
            notes.merged.extend(m.group(1).decode("ascii", "replace") for m in pat["merge"].finditer(buf, tail))
        if b't="e"' in buf or b"t='e'" in buf:
            for m in pat["error_tag"].finditer(buf):
                if m.group(1).endswith(b"/"):
                    continue
                a = _attrs(m.group(1))
                end = buf.find(pat["cell_end"], m.end())
                text = _error_text(a, buf[m.end():end], pat)
                pos = _ref(a.get("r"))
                if text and pos:
                    notes.errors[pos] = text
        if pat["f_open"] in buf:
            for m in pat["no_cache"].finditer(buf):
                start = buf.rfind(pat["c_open"], 0, m.start())
                tag_end = buf.find(b">", start)
                if start < 0 or tag_end < 0 or tag_end > m.start():
                    continue
                a = _attrs(buf[start + 2 + len(scan.prefix):tag_end])
                formula = _no_cache_formula(a, buf[tag_end + 1:m.end() - len(pat["cell_end"])], pat)
                pos = _ref(a.get("r"))
                if formula is not None and pos:
                    notes.no_cache[pos] = formula
    if b"" in cols_seen:
        scan.irregular = True
        cols_seen.discard(b"")
    near = [n for n in map(_column_number, cols_seen) if n <= MAX_COLUMNS]
    scan.max_col = max(near, default=0)
    scan.max_row = max_row
    for kept in (scan.notes.errors, scan.notes.no_cache):
        for pos in [pos for pos in kept if pos[1] > MAX_COLUMNS]:
            del kept[pos]
    if max_row > 1048576:
        scan.irregular = True
    return scan


def _dense_ok(scan: _Scan) -> bool:
    area = scan.max_row * scan.max_col
    return (not scan.irregular and scan.max_col <= MAX_COLUMNS and area <= DENSE_MAX_AREA
            and (area <= DENSE_ALWAYS_AREA or scan.content >= area * DENSE_MIN_FILL))


# ---------------------------------------------------------------------------------------------------------------
# .xlsx: the sparse path

_SYN_WIDTH = 64   # cells per row of the packed temporary sheet

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '</Types>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_EMPTY_STYLES = (f'<styleSheet xmlns="{_MAIN_NS}"><cellXfs count="1"><xf numFmtId="0"/></cellXfs></styleSheet>')
_EMPTY_STRINGS = f'<sst xmlns="{_MAIN_NS}" count="0" uniqueCount="0"/>'


def _syn_workbook(date1904: bool) -> str:
    pr = '<workbookPr date1904="1"/>' if date1904 else ""
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{_MAIN_NS}" '
            f'xmlns:r="{_REL_NS}">{pr}<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')


def _syn_workbook_rels() -> str:
    base = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL_NS}">'
            f'<Relationship Id="rId1" Type="{base}worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{base}styles" Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{base}sharedStrings" Target="sharedStrings.xml"/></Relationships>')


class _Packer:
    """Writes kept cells, packed _SYN_WIDTH to a row, into the temporary sheet; remembers where they came from."""

    def __init__(self, out, prefix: bytes):
        self.out = out
        self.buf: list[bytes] = []
        self.prefix = prefix
        self.rows = array("l")
        self.cols = array("l")
        self.ordered = True
        self._last = (0, 0)
        self._refs = [b'<c r="' + column_letters(j + 1).encode() for j in range(_SYN_WIDTH)]

    def add(self, row: int, col: int, attrs: bytes, body: bytes) -> None:
        """`attrs`: the cell's attributes without its reference."""
        i = len(self.rows)
        k, j = divmod(i, _SYN_WIDTH)
        buf = self.buf
        if j == 0:
            buf.append(b'</row><row r="%d">' % (k + 1) if i else b'<row r="1">')
            if len(buf) > 4096:
                self.out.write(b"".join(buf))
                buf.clear()
        if self.prefix:
            body = body.replace(b"<" + self.prefix, b"<").replace(b"</" + self.prefix, b"</")
        buf.append(self._refs[j] + b'%d"' % (k + 1) + attrs + b">" + body + b"</c>")
        self.rows.append(row)
        self.cols.append(col)
        if (row, col) <= self._last:
            self.ordered = False
        self._last = (row, col)

    def close(self) -> None:
        if len(self.rows):
            self.buf.append(b"</row>")
        self.out.write(b"".join(self.buf))
        self.buf.clear()


@contextmanager
def _synthetic_book(pkg: _Package, write_sheet) -> Iterator[Path]:
    """A temporary one-sheet workbook sharing the original's styles, shared strings and date system; its sheet
    (named "S") is written by `write_sheet(dst)`. Yields its path, for calamine."""
    with tempfile.TemporaryDirectory(prefix="taizhang-") as tmp:
        syn = Path(tmp) / "sheet.xlsx"
        with zipfile.ZipFile(syn, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
            out.writestr("[Content_Types].xml", _CONTENT_TYPES)
            out.writestr("_rels/.rels", _ROOT_RELS)
            out.writestr("xl/workbook.xml", _syn_workbook(pkg.date1904))
            out.writestr("xl/_rels/workbook.xml.rels", _syn_workbook_rels())
            for part, name, empty in ((pkg.styles, "xl/styles.xml", _EMPTY_STYLES),
                                      (pkg.shared_strings, "xl/sharedStrings.xml", _EMPTY_STRINGS)):
                with out.open(name, "w", force_zip64=True) as dst:
                    if part is None:
                        dst.write(empty.encode())
                    else:
                        with pkg.zf.open(pkg.members[part.lower()]) as src:
                            while block := src.read(CHUNK_BYTES):
                                dst.write(block)
            with out.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as dst:
                write_sheet(dst)
        yield syn


def _read_filtered(pkg: _Package, entry: _SheetEntry, scan: _Scan) -> list[tuple[int, tuple]]:
    """A sheet whose cells are sane once those right of MAX_COLUMNS are dropped: copy its XML without them
    (a regular-expression substitution, no work per cell in Python) and let calamine read the copy densely."""
    pat = _patterns(scan.prefix)
    info = pkg.members[entry.part.lower()]  # type: ignore[union-attr]

    def write_sheet(dst) -> None:
        for buf in _chunks(pkg.zf, info, pat):
            dst.write(pat["far_cell"].sub(b"", buf))

    with _synthetic_book(pkg, write_sheet) as syn:
        book = python_calamine.CalamineWorkbook.from_path(str(syn))
        try:
            patches: dict[tuple[int, int], object] = dict(scan.notes.errors)
            patches.update({pos: None for pos in scan.notes.no_cache})
            return _rows_from_calamine(book.get_sheet_by_name("S"), patches)
        finally:
            book.close()


def _read_sparse(pkg: _Package, entry: _SheetEntry, scan: _Scan, place: dict) -> tuple[list[tuple[int, tuple]], _SheetNotes]:
    """Any other sheet: walk its cells (`_sparse_walk`), pack the non-empty ones _SYN_WIDTH to a row into a
    temporary sheet, let calamine convert their values, and put them back where they came from."""
    notes = _SheetNotes(merged=scan.notes.merged, hidden_cols=scan.notes.hidden_cols)
    info = pkg.members[entry.part.lower()]  # type: ignore[union-attr]
    packer: _Packer | None = None

    def write_sheet(dst) -> None:
        nonlocal packer
        dst.write(f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN_NS}" '
                  f'xmlns:r="{_REL_NS}"><sheetData>'.encode())
        packer = _Packer(dst, scan.prefix)
        _sparse_walk(pkg, info, scan, packer, notes, place)
        packer.close()
        dst.write(b"</sheetData></worksheet>")

    with _synthetic_book(pkg, write_sheet) as syn:
        assert packer is not None
        n = len(packer.rows)
        values: list[object] = [None] * n
        if n:
            book = python_calamine.CalamineWorkbook.from_path(str(syn))
            try:
                sh = book.get_sheet_by_name("S")
                start = sh.start
                if start is not None:
                    c0 = start[1]
                    for k, raw in enumerate(sh.iter_rows()):
                        base = k * _SYN_WIDTH + c0
                        for j, v in enumerate(raw):
                            if v != "" and base + j < n:
                                values[base + j] = _value(v)
            finally:
                book.close()
    patches: dict[tuple[int, int], object] = dict(notes.errors)
    patches.update({pos: None for pos in notes.no_cache})
    return _assemble(packer.rows, packer.cols, values, packer.ordered, patches), notes


_R_IN_ATTRS = re.compile(rb"(?:^|\s)(?:[\w.-]+:)?r\s*=\s*[\"']([^\"']*)[\"']")
_REF_BYTES = re.compile(rb"([A-Za-z]{1,3})([0-9]{1,7})")


def _sparse_walk(pkg: _Package, info: zipfile.ZipInfo, scan: _Scan, packer: _Packer, notes: _SheetNotes,
                 place: dict) -> None:
    """Walk row and cell tags in document order, following calamine's rules for cells without a reference:
    a <row r> sets the row, </row> (or a self-closing row) advances it and resets the column; a cell with r
    sets both, one without takes the current row and the next column."""
    pat = _patterns(scan.prefix)
    walker = pat["walker"]
    f_open = pat["f_open"]
    r_in_attrs, ref_bytes = _R_IN_ATTRS.search, _REF_BYTES.fullmatch
    columns: dict[bytes, int] = {}    # column letters → number
    row_index = 0
    col_index = 0
    kept = 0
    for buf in _chunks(pkg.zf, info, pat):
        for m in walker.finditer(buf):
            letters, digits, raw_attrs, body, other_attrs, other_body, row_tag, row_attrs, row_closed, row_end = m.groups()
            if letters is not None:                              # <c r="A1" ...>: the usual case
                col = columns.get(letters)
                if col is None:
                    col = columns[letters] = _column_number(letters)
                row = int(digits)
                col_index = col
                if row < 1 or row > 1048576 or col > 16384:
                    notes.bad_refs += 1
                    continue
            elif row_end is not None:                            # </row>
                row_index += 1
                col_index = 0
                continue
            elif row_tag is not None:                            # <row ...> or <row .../>
                a = _attrs(row_attrs)
                r = a.get("r", "")
                if r.isdigit() and int(r) >= 1:
                    row_index = int(r) - 1
                if a.get("hidden", "").lower() in ("1", "true"):
                    notes.hidden_rows.add(row_index + 1)
                col_index = 0
                if row_closed:
                    row_index += 1
                continue
            else:                                                # any other cell tag
                raw_attrs, body = other_attrs, other_body
                if body is None and raw_attrs.endswith(b"/"):
                    raw_attrs = raw_attrs[:-1]
                rm = r_in_attrs(raw_attrs)
                if rm is not None:
                    ref = ref_bytes(rm.group(1))
                    col = _column_number(ref.group(1)) if ref else 0
                    row = int(ref.group(2)) if ref else 0
                    if not 1 <= row <= 1048576 or not 1 <= col <= 16384:
                        notes.bad_refs += 1
                        col_index += 1
                        continue
                    col_index = col
                    raw_attrs = raw_attrs[:rm.start()] + raw_attrs[rm.end():]
                else:
                    row, col = row_index + 1, col_index + 1
                    col_index += 1
            if not body or body.isspace():
                continue
            if col > MAX_COLUMNS:  # type: ignore[operator]
                notes.out_of_range_count += 1
                if len(notes.out_of_range) < LISTED_CELLS:
                    notes.out_of_range.append((row, col))  # type: ignore[arg-type]
                continue
            is_error = (b"t=\"e\"" in raw_attrs or b"t='e'" in raw_attrs) and _attrs(raw_attrs).get("t") == "e"
            if is_error:
                error = _error_text({"t": "e"}, body, pat)
                if error is not None:
                    notes.errors[(row, col)] = error  # type: ignore[index]
                    continue
            if f_open in body:
                formula = _no_cache_formula(_attrs(raw_attrs), body, pat)
                if formula is not None:
                    notes.no_cache[(row, col)] = formula  # type: ignore[index]
                    continue
            if is_error:                                         # an error cell without its text
                continue
            kept += 1
            if kept > MAX_SHEET_CELLS:
                raise _Refused(fd.error("sheet_too_large", f"工作表非空单元格超过 {MAX_SHEET_CELLS:,} 个，未读取", **place))
            packer.add(row, col, raw_attrs, body)  # type: ignore[arg-type]


def _assemble(rows_arr: array, cols_arr: array, values: list, ordered: bool,
              patches: dict[tuple[int, int], object]) -> list[tuple[int, tuple]]:
    """(row, col, value) triples → non-empty rows; a later cell at the same place wins, as in calamine."""
    triples = zip(rows_arr, cols_arr, values)
    if not ordered:
        last: dict[tuple[int, int], object] = {}
        for r, c, v in triples:
            last[(r, c)] = v
        triples = ((r, c, v) for (r, c), v in sorted(last.items()))   # type: ignore[assignment]
    out: list[tuple[int, tuple]] = []
    cur_row, cells = -1, []
    for r, c, v in triples:
        if r != cur_row:
            if cells:
                row = _trimmed(cells)
                if row is not None:
                    out.append((cur_row, row))
            cur_row, cells = r, []
        if v is None:
            continue
        if len(cells) < c:
            cells.extend([None] * (c - len(cells)))
        cells[c - 1] = v
    if cells:
        row = _trimmed(cells)
        if row is not None:
            out.append((cur_row, row))
    return _apply_patches(out, patches) if patches else out


# ---------------------------------------------------------------------------------------------------------------
# .xlsx: the whole workbook


def _read_xlsx(path: Path, place: dict, findings: list[Finding]) -> list[Sheet]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise _Refused(fd.error("not_a_workbook", f"文件不是有效的 Excel 工作簿（压缩包损坏：{exc}）")) from None
    with zf:
        pkg = _open_package(zf)
        for part in (pkg.workbook_part, pkg.styles, pkg.shared_strings):
            try:
                _verify_part(pkg, part)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as exc:
                raise _Refused(fd.error("not_a_workbook", f"文件不是有效的 Excel 工作簿（{part} 损坏：{exc}）")) from None
        calamine_book = None
        calamine_failed = False
        sheets: list[Sheet] = []
        total_cells = 0
        percent_styles: frozenset[int] | None = None
        try:
            for n_sheet, entry in enumerate(pkg.sheets):
                sheet_place = {**place, "sheet": entry.name}
                if n_sheet >= MAX_SHEETS:
                    findings.append(fd.error("too_many_sheets", f"工作簿有 {len(pkg.sheets)} 个工作表，只读取前 {MAX_SHEETS} 个", **place))
                    break
                if entry.kind not in ("worksheet", ""):
                    findings.append(fd.info("not_a_worksheet", "图表或宏表，不是数据工作表，已跳过", **sheet_place))
                    continue
                if entry.part is None:
                    findings.append(fd.error("sheet_unreadable", "工作表的数据部分缺失，未读取", **sheet_place))
                    sheets.append(Sheet(entry.name, (), entry.hidden))
                    continue
                info = pkg.members[entry.part.lower()]
                try:
                    scan = _scan_sheet(zf, info)
                except _Refused as exc:
                    findings.append(replace(exc.finding, **sheet_place))
                    sheets.append(Sheet(entry.name, (), entry.hidden))
                    continue
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as exc:
                    findings.append(fd.error("sheet_unreadable", f"工作表数据损坏，未读取（{exc}）", **sheet_place))
                    sheets.append(Sheet(entry.name, (), entry.hidden))
                    continue
                if scan.kind != "worksheet":
                    findings.append(fd.info("not_a_worksheet", "图表或对话框工作表，不是数据工作表，已跳过", **sheet_place))
                    continue
                if scan.content > MAX_SHEET_CELLS:
                    findings.append(fd.error("sheet_too_large", f"工作表约有 {scan.content:,} 个非空单元格，超过 "
                                             f"{MAX_SHEET_CELLS:,} 个上限，未读取", **sheet_place))
                    sheets.append(Sheet(entry.name, (), entry.hidden))
                    continue
                if total_cells + scan.content > MAX_WORKBOOK_CELLS:
                    findings.append(fd.error("workbook_too_large", f"工作簿单元格总数超过 {MAX_WORKBOOK_CELLS:,} 个，"
                                             "本表及以后的工作表未读取", **sheet_place))
                    sheets.append(Sheet(entry.name, (), entry.hidden))
                    continue
                total_cells += scan.content
                rows: list[tuple[int, tuple]] | None = None
                notes = scan.notes
                if _dense_ok(scan) and scan.far:
                    try:
                        rows = _read_filtered(pkg, entry, scan)
                    except BaseException as exc:  # calamine may panic (a BaseException)
                        if not (_calamine_error(exc) or isinstance(exc, (zipfile.BadZipFile, zlib.error, OSError))):
                            raise
                        rows = None
                elif _dense_ok(scan) and not calamine_failed:
                    try:
                        if calamine_book is None:
                            with open(path, "rb") as f:    # by content: the extension may be wrong
                                calamine_book = python_calamine.CalamineWorkbook.from_filelike(f)
                        if entry.name in calamine_book.sheet_names:
                            patches: dict[tuple[int, int], object] = dict(notes.errors)
                            patches.update({pos: None for pos in notes.no_cache})
                            rows = _rows_from_calamine(calamine_book.get_sheet_by_name(entry.name), patches)
                    except BaseException as exc:  # calamine may panic (a BaseException)
                        if not _calamine_error(exc):
                            raise
                        rows = None
                        if calamine_book is None:
                            calamine_failed = True
                if rows is None:
                    try:
                        rows, notes = _read_sparse(pkg, entry, scan, sheet_place)
                    except _Refused as exc:
                        findings.append(exc.finding)
                        sheets.append(Sheet(entry.name, (), entry.hidden))
                        continue
                    except BaseException as exc:  # calamine may panic (a BaseException)
                        if not (_calamine_error(exc) or isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError,
                                                                         OSError, RuntimeError, ValueError))):
                            raise
                        findings.append(fd.error("sheet_unreadable", f"工作表无法读取（{exc}）", **sheet_place))
                        sheets.append(Sheet(entry.name, (), entry.hidden))
                        continue
                findings.extend(_cell_findings(notes, rows, sheet_place))
                if percent_styles is None:
                    percent_styles = workbook_percent_styles(
                        zf, pkg.members[pkg.styles.lower()].filename if pkg.styles else None)
                sheets.append(Sheet(entry.name, tuple(rows), entry.hidden, tuple(notes.merged),
                                    xlsx_percent_cells(zf, info.filename, percent_styles)))
        finally:
            if calamine_book is not None:
                calamine_book.close()
    return sheets


# ---------------------------------------------------------------------------------------------------------------
# .xls: OLE compound file and BIFF records

_FREE, _END = 0xFFFFFFFF, 0xFFFFFFFE


@dataclass
class _Cfb:
    data: bytearray
    sector: int
    fat: list[int]
    entries: list[tuple[str, int, int, int]]   # name, type, start sector, size
    mini_fat: list[int]
    mini_cutoff: int
    root_chain: list[int]

    def _chain(self, start: int, table: list[int]) -> list[int]:
        out: list[int] = []
        seen = set()
        s = start
        while s < len(table) and s not in seen:
            seen.add(s)
            out.append(s)
            s = table[s]
        return out

    def offsets(self, name: str) -> list[tuple[int, int]] | None:
        """File (offset, length) segments of a stream, in order."""
        for ename, etype, start, size in self.entries:
            if ename.lower() != name.lower() or etype != 2:
                continue
            segs: list[tuple[int, int]] = []
            if size < self.mini_cutoff:
                for ms in self._chain(start, self.mini_fat):
                    pos = ms * 64
                    sec = pos // self.sector
                    if sec >= len(self.root_chain):
                        break
                    segs.append(((self.root_chain[sec] + 1) * self.sector + pos % self.sector, 64))
            else:
                segs = [((s + 1) * self.sector, self.sector) for s in self._chain(start, self.fat)]
            out, left = [], size
            for off, ln in segs:
                if left <= 0:
                    break
                ln = min(ln, left, max(0, len(self.data) - off))
                out.append((off, ln))
                left -= ln
            return out
        return None

    def read(self, segs: list[tuple[int, int]]) -> bytes:
        return b"".join(bytes(self.data[o:o + n]) for o, n in segs)

    def names(self) -> set[str]:
        return {e[0] for e in self.entries}


def _cfb(data: bytes) -> _Cfb | None:
    """A minimal reader of OLE compound files (MS-CFB), enough to find streams and patch bytes in place."""
    try:
        if len(data) < 512 or data[:8] != OLE_MAGIC:
            return None
        ssz = 1 << struct.unpack_from("<H", data, 0x1E)[0]
        if ssz not in (512, 4096):
            return None
        n_fat, dir_start = struct.unpack_from("<II", data, 0x2C)
        mini_cutoff, minifat_start, n_minifat, difat_start, n_difat = struct.unpack_from("<IIIII", data, 0x38)
        n_sectors = max(0, (len(data) - ssz) // ssz + 1)
        difat = list(struct.unpack_from("<109I", data, 0x4C))
        s, seen = difat_start, set()
        while s < n_sectors and s not in seen and len(seen) <= n_difat:
            seen.add(s)
            ints = struct.unpack_from(f"<{ssz // 4}I", data[(s + 1) * ssz:(s + 2) * ssz].ljust(ssz, b"\0"))
            difat.extend(ints[:-1])
            s = ints[-1]
        fat: list[int] = []
        for s in [x for x in difat if x < n_sectors][:max(n_fat, 1)]:
            off = (s + 1) * ssz
            fat.extend(struct.unpack_from(f"<{ssz // 4}I", data[off:off + ssz].ljust(ssz, b"\0")))

        def chain(start: int) -> list[int]:
            out, seen2 = [], set()
            while start < len(fat) and start not in seen2 and start < n_sectors:
                seen2.add(start)
                out.append(start)
                start = fat[start]
            return out

        entries = []
        for s in chain(dir_start):
            block = data[(s + 1) * ssz:(s + 2) * ssz]
            for k in range(0, len(block) - 127, 128):
                e = block[k:k + 128]
                nlen = struct.unpack_from("<H", e, 64)[0]
                name = e[:max(0, min(nlen, 64) - 2)].decode("utf-16-le", "replace")
                etype = e[66]
                start, size = struct.unpack_from("<IQ", e, 116)
                if ssz == 512:
                    size &= 0xFFFFFFFF
                entries.append((name, etype, start, size))
        if not entries:
            return None
        mini_fat: list[int] = []
        for s in chain(minifat_start)[:n_minifat or None]:
            off = (s + 1) * ssz
            mini_fat.extend(struct.unpack_from(f"<{ssz // 4}I", data[off:off + ssz].ljust(ssz, b"\0")))
        return _Cfb(bytearray(data), ssz, fat, entries, mini_fat, mini_cutoff, chain(entries[0][2]))
    except (struct.error, IndexError, ValueError, OverflowError):
        return None


_XLS_ERRORS = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?", 0x24: "#NUM!",
               0x2A: "#N/A", 0x2B: "#GETTING_DATA"}
_XLS_CELL_RECORDS = frozenset({0x0203, 0x0204, 0x0205, 0x027E, 0x00FD, 0x0006, 0x00D6})


@dataclass
class _XlsSheet:
    max_row: int = 0
    max_col: int = 0
    cells: int = 0
    records: array = field(default_factory=lambda: array("q"))    # stream positions of the cell records
    notes: _SheetNotes = field(default_factory=_SheetNotes)
    packed: tuple[array, array] | None = None                     # packed index → original (row, col), 1-based

    def dense_ok(self) -> bool:
        area = self.max_row * self.max_col
        return area <= XLS_DENSE_MAX_AREA and (area <= DENSE_ALWAYS_AREA or self.cells >= area * DENSE_MIN_FILL)


def _scan_biff(stream: bytearray) -> tuple[bool, list[_XlsSheet], list[int], list[int]]:
    """Scan the Workbook stream: (encrypted, per-sheet extents and notes, stream positions of record types to
    blank out, stream positions of DIMENSIONS data to zero). Blanked records are cells right of column IV;
    DIMENSIONS are zeroed so that calamine reserves nothing from a declared extent."""
    size = len(stream)
    pos = 0
    offsets: list[int] = []
    encrypted = False
    unpack = struct.unpack_from
    while pos + 4 <= size:
        typ, ln = unpack("<HH", stream, pos)
        if typ == 0x002F:
            encrypted = True
        elif typ == 0x0085 and ln >= 4:
            offsets.append(unpack("<I", stream, pos + 4)[0])
        elif typ == 0x000A:
            break
        pos += 4 + ln
    sheets: list[_XlsSheet] = []
    blank: list[int] = []
    dims: list[int] = []
    for off in offsets:
        sh = _XlsSheet()
        sheets.append(sh)
        notes = sh.notes
        notes.column_limit = MAX_XLS_COLUMNS
        pos = off
        first = True
        while pos + 4 <= size:
            typ, ln = unpack("<HH", stream, pos)
            d = pos + 4
            if first:
                first = False
                if typ not in (0x0809, 0x0409, 0x0209, 0x0009):
                    break
            elif typ == 0x000A:
                break
            if d + ln > size:
                break
            if typ in _XLS_CELL_RECORDS and ln >= 6:
                row, col = unpack("<HH", stream, d)
                if col >= MAX_XLS_COLUMNS:
                    blank.append(pos)
                    notes.out_of_range_count += 1
                    if len(notes.out_of_range) < LISTED_CELLS:
                        notes.out_of_range.append((row + 1, col + 1))
                else:
                    sh.records.append(pos)
                    sh.cells += 1
                    sh.max_row = max(sh.max_row, row + 1)
                    sh.max_col = max(sh.max_col, col + 1)
                    if typ == 0x0205 and ln >= 8 and stream[d + 7] == 1:
                        notes.errors[(row + 1, col + 1)] = _XLS_ERRORS.get(stream[d + 6], "#ERROR!")
                    elif typ == 0x0006 and ln >= 14 and stream[d + 12:d + 14] == b"\xff\xff" and stream[d + 6] == 2:
                        notes.errors[(row + 1, col + 1)] = _XLS_ERRORS.get(stream[d + 8], "#ERROR!")
            elif typ == 0x00BD and ln >= 6:
                row, col_first = unpack("<HH", stream, d)
                col_last = unpack("<H", stream, d + ln - 2)[0]
                if col_last >= MAX_XLS_COLUMNS:
                    blank.append(pos)
                    notes.out_of_range_count += 1
                    if len(notes.out_of_range) < LISTED_CELLS:
                        notes.out_of_range.append((row + 1, col_last + 1))
                elif col_last >= col_first:
                    sh.records.append(pos)
                    sh.cells += col_last - col_first + 1
                    sh.max_row = max(sh.max_row, row + 1)
                    sh.max_col = max(sh.max_col, col_last + 1)
            elif typ == 0x0200:
                dims.append(d)
            elif typ == 0x0208 and ln >= 16:
                if unpack("<H", stream, d + 12)[0] & 0x20:
                    notes.hidden_rows.add(unpack("<H", stream, d)[0] + 1)
            elif typ == 0x00E5 and ln >= 2:
                count = unpack("<H", stream, d)[0]
                for k in range(min(count, (ln - 2) // 8)):
                    rf, rl, cf, cl = unpack("<HHHH", stream, d + 2 + 8 * k)
                    notes.merged.append(f"{column_letters(cf + 1)}{rf + 1}:{column_letters(cl + 1)}{rl + 1}")
            pos = d + ln
    return encrypted, sheets, blank, dims


def _pack_xls_cells(stream: bytearray, records: array, patch) -> tuple[array, array]:
    """Move a sparse sheet's cell records next to each other (rewriting only their row/column fields, in place),
    so calamine materialises about as many cells as there are; returns where each packed cell came from."""
    rows, cols = array("l"), array("l")
    width = MAX_XLS_COLUMNS
    for pos in records:
        typ, ln = struct.unpack_from("<HH", stream, pos)
        row, col = struct.unpack_from("<HH", stream, pos + 4)
        n = (ln - 6) // 6 if typ == 0x00BD else 1
        cursor = len(rows)
        if cursor % width + n > width:                       # a run of cells (MULRK) stays on one row
            pad = width - cursor % width
            rows.extend([0] * pad)
            cols.extend([0] * pad)
            cursor += pad
        patch(pos + 4, struct.pack("<HH", cursor // width, cursor % width))
        for k in range(n):
            rows.append(row + 1)
            cols.append(col + 1 + k)
    return rows, cols


def _unpack_xls_cells(sheet: object, packed: tuple[array, array], patches: dict) -> list[tuple[int, tuple]]:
    rows_arr, cols_arr = packed
    n = len(rows_arr)
    values: list[object] = [None] * n
    start = sheet.start  # type: ignore[attr-defined]
    if start is not None:
        c0 = start[1]
        for k, raw in enumerate(sheet.iter_rows()):  # type: ignore[attr-defined]
            base = k * MAX_XLS_COLUMNS + c0
            for j, v in enumerate(raw):
                if v != "" and base + j < n:
                    values[base + j] = _value(v)
    return _assemble(rows_arr, cols_arr, values, False, patches)


def _read_xls(path: Path, data: bytes, cfb: _Cfb, place: dict, findings: list[Finding]) -> list[Sheet]:
    segs = cfb.offsets("Workbook") or cfb.offsets("Book")
    if not segs:
        raise _Refused(fd.error("xls_unreadable", "旧版 .xls 文件无法读取，请另存为 .xlsx"))
    stream = bytearray(cfb.read(segs))
    encrypted, scans, blank, dims = _scan_biff(stream)
    if encrypted:
        raise _Refused(fd.error("encrypted", "工作簿已加密，无法读取，请取消密码后重新报送"))
    # stream position → file position, for the few bytes patched in place
    index: list[tuple[int, int]] = []
    acc = 0
    for off, ln in segs:
        index.append((acc, off))
        acc += ln
    seg_size = segs[0][1] if segs else 1

    def patch(stream_pos: int, new: bytes) -> None:
        for k, b in enumerate(new):
            p = stream_pos + k
            start, off = index[min(p // seg_size, len(index) - 1)]
            cfb.data[off + p - start] = b

    for p in blank:
        patch(p, b"\x00\x00")                     # record type 0: ignored by every reader
    for p in dims:
        patch(p, b"\x00" * 8)                     # first/last row 0, first/last column 0
    refused: set[int] = set()
    for k, scan in enumerate(scans):
        if scan.cells > MAX_SHEET_CELLS:
            refused.add(k)
            for p in scan.records:
                patch(p, b"\x00\x00")
        elif not scan.dense_ok():
            scan.packed = _pack_xls_cells(stream, scan.records, patch)
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(bytes(cfb.data)))
    except python_calamine.PasswordError:
        raise _Refused(fd.error("encrypted", "工作簿已加密，无法读取，请取消密码后重新报送")) from None
    except BaseException as exc:  # calamine may panic (a BaseException)
        if not _calamine_error(exc):
            raise
        raise _Refused(fd.error("xls_unreadable", f"旧版 .xls 文件无法读取，请另存为 .xlsx（{exc}）")) from None
    sheets: list[Sheet] = []
    try:
        metas = book.sheets_metadata
        for k, meta in enumerate(metas):
            sheet_place = {**place, "sheet": meta.name}
            if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
                findings.append(fd.info("not_a_worksheet", "图表或宏表，不是数据工作表，已跳过", **sheet_place))
                continue
            hidden = meta.visible != python_calamine.SheetVisibleEnum.Visible
            scan = scans[k] if k < len(scans) and len(scans) == len(metas) else _XlsSheet()
            notes = scan.notes
            if k in refused:
                findings.append(fd.error("sheet_too_large", f"工作表有 {scan.cells:,} 个非空单元格，超过 {MAX_SHEET_CELLS:,} 个上限，"
                                         "未读取", **sheet_place))
                sheets.append(Sheet(meta.name, (), hidden))
                continue
            try:
                cal_sheet = book.get_sheet_by_name(meta.name)
                if scan.packed is None:
                    rows = _rows_from_calamine(cal_sheet, dict(notes.errors))
                else:
                    rows = _unpack_xls_cells(cal_sheet, scan.packed, dict(notes.errors))
            except BaseException as exc:  # calamine may panic (a BaseException)
                if not _calamine_error(exc):
                    raise
                findings.append(fd.error("sheet_unreadable", f"工作表无法读取（{exc}）", **sheet_place))
                sheets.append(Sheet(meta.name, (), hidden))
                continue
            findings.extend(_cell_findings(notes, rows, sheet_place))
            sheets.append(Sheet(meta.name, tuple(rows), hidden, tuple(notes.merged)))
    finally:
        book.close()
    return sheets


# ---------------------------------------------------------------------------------------------------------------
# .csv and text


def _decode_text(data: bytes, place: dict, findings: list[Finding]) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    findings.append(fd.warning("csv_encoding", "文件编码无法识别（既不是 UTF-8 也不是 GBK），部分文字可能乱码", **place))
    return data.decode("gb18030", "replace")


def _sniff_delimiter(text: str) -> str:
    lines = [ln for ln in text[:65536].splitlines()[:30] if ln.strip()]
    best, best_score = ",", (0, 0)
    for delim in (",", "\t", ";", "|"):
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=delim)]
        except csv.Error:
            continue
        if not counts:
            continue
        modal = max(set(counts), key=counts.count)
        if modal < 2:
            continue
        score = (counts.count(modal), modal)
        if score > best_score:
            best, best_score = delim, score
    return best


def _read_csv(path: Path, data: bytes, place: dict, findings: list[Finding]) -> list[Sheet]:
    if len(data) > MAX_CSV_BYTES:
        raise _Refused(fd.error("file_too_large", f"CSV 文件超过 {MAX_CSV_BYTES // 2**20} MB，未读取"))
    text = _decode_text(data, place, findings)
    delimiter = _sniff_delimiter(text)
    stem = readable_name(path.stem)
    sheet_place = {**place, "sheet": stem}
    notes = _SheetNotes()
    rows: list[tuple[int, tuple]] = []
    cells = 0
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, record in enumerate(reader, start=1):
            if len(record) > MAX_COLUMNS:
                for c in range(MAX_COLUMNS + 1, len(record) + 1):
                    if record[c - 1]:
                        notes.out_of_range_count += 1
                        if len(notes.out_of_range) < LISTED_CELLS:
                            notes.out_of_range.append((number, c))
                record = record[:MAX_COLUMNS]
            row = _trimmed([v if v else None for v in record])
            if row is None:
                continue
            cells += len(row)
            if cells > MAX_SHEET_CELLS:
                raise _Refused(fd.error("sheet_too_large", f"CSV 文件非空单元格超过 {MAX_SHEET_CELLS:,} 个，未读取", **sheet_place))
            rows.append((number, row))
    except csv.Error as exc:
        findings.append(fd.error("csv_malformed", f"CSV 文件格式有误，第 {reader.line_num} 行之后未读取（{exc}）",
                                 row=reader.line_num, **sheet_place))
    findings.extend(_cell_findings(notes, rows, sheet_place))
    return [Sheet(stem, tuple(rows))]


def _looks_like_table_text(data: bytes) -> bool:
    head = data[:65536]
    if b"\0" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    try:
        text = head.decode("utf-8-sig") if head.startswith(b"\xef\xbb\xbf") else head.decode("gb18030")
    except UnicodeDecodeError:
        try:
            text = head.decode("utf-16")
        except UnicodeDecodeError:
            return False
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    return len(lines) >= 2 and sum(1 for ln in lines if "\t" in ln or "," in ln) >= len(lines) * 0.8


# ---------------------------------------------------------------------------------------------------------------
# Public verbs


def _digest_and_head(path: Path) -> tuple[str, bytes]:
    """Hash of the file and its first bytes (for sniffing the format)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    return file_sha256(path), head


def readable_name(name: str) -> str:
    """A file name as text that can be shown and stored. Names that are not UTF-8 reach Python as surrogate
    escapes (GBK names of an archive made on Windows and unzipped on Linux, say) and would break every writer;
    they are decoded as GB18030, or else their undecodable bytes shown as "\ufffd"."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        raw = os.fsencode(name)
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            return raw.decode("utf-8", "replace")


def relative_name(path: Path, root: Path | None) -> str:
    """`path` relative to `root` (posix style, readable: `readable_name`), as findings and tables name a file."""
    return _display_name(Path(path), root)


def _display_name(path: Path, root: Path | None) -> str:
    if root is not None:
        for inner, outer in ((path.absolute(), Path(root).absolute()), (path.resolve(), Path(root).resolve())):
            try:
                return readable_name(inner.relative_to(outer).as_posix())
            except ValueError:
                continue
    return readable_name(path.name)


def read_workbook(path: Path, *, root: Path | None = None) -> Workbook:
    """Read one raw file (.xlsx/.xlsm, .xls/.et, .csv) into a `Workbook`. Never raises for bad input: what went
    wrong is in `Workbook.findings` (file-level and cell-level, `file` relative to `root`)."""
    path = Path(path)
    name = _display_name(path, root)
    place = {"file": name}
    findings: list[Finding] = []
    sheets: list[Sheet] = []
    digest = ""
    try:
        try:
            size = path.stat().st_size
            digest, head = _digest_and_head(path)
        except OSError as exc:
            raise _Refused(fd.error("file_unreadable", f"文件无法打开（{exc.strerror or exc}）")) from None
        if size == 0:
            raise _Refused(fd.error("empty_file", "文件为空（0 字节），请重新报送"))
        if size > MAX_FILE_BYTES:
            raise _Refused(fd.error("file_too_large", f"文件有 {size / 2**20:.0f} MB，超过 {MAX_FILE_BYTES // 2**20} MB 上限，未读取"))
        suffix = path.suffix.lower()
        sheets = _read_by_content(path, suffix, head, place, findings)
        if not any(s.rows for s in sheets) and not any(f.severity == "error" for f in findings):
            findings.append(fd.warning("empty_workbook", "工作簿中没有任何数据", **place))
        for s in sheets:
            if s.hidden and s.rows:
                findings.append(fd.info("hidden_sheet", "工作表是隐藏的，已照常读取", sheet=s.name, **place))
    except _Refused as exc:
        f = exc.finding
        findings.append(f if f.file else replace(f, file=name))
    except MemoryError:
        sheets = []
        findings.append(fd.error("read_failed", "文件过大，内存不足，未读取", **place))
    except BaseException as exc:  # a bad file must never stop a cycle
        if not (isinstance(exc, Exception) or _calamine_error(exc)):
            raise
        sheets = []
        findings.append(fd.error("read_failed", f"文件读取失败（{type(exc).__name__}: {exc}）", **place))
    return Workbook(path, name, tuple(sheets), tuple(findings), digest)


def _read_by_content(path: Path, suffix: str, head: bytes, place: dict, findings: list[Finding]) -> list[Sheet]:
    """Choose the reader from the file's first bytes, the extension only breaking ties."""
    def mismatch(kind: str) -> Finding:
        return fd.info("extension_mismatch", f"文件扩展名是 {suffix or '（无）'}，实际内容是{kind}，已按实际格式读取", **place)

    if head.startswith(ZIP_MAGIC):
        if _zip_is_ods(path):
            if suffix not in (".ods", ".ots"):
                findings.append(mismatch(" OpenDocument 表格（.ods）"))
            return _read_export(lambda: _read_ods(path), place)
        if suffix not in (".xlsx", ".xlsm", ".xltx", ".xltm", ".et", ".ett", ".xlsb", ".ods"):
            findings.append(mismatch(" .xlsx 工作簿"))
        return _read_xlsx(path, place, findings)
    if head.startswith(EMPTY_ZIP_MAGIC):
        raise _Refused(fd.error("not_a_workbook", "文件不是有效的 Excel 工作簿（空压缩包）"))
    if head.startswith(OLE_MAGIC):
        data = path.read_bytes()
        cfb = _cfb(data)
        names = {n.lower() for n in cfb.names()} if cfb else set()
        if "encryptioninfo" in names or "encryptedpackage" in names or (
                cfb is None and "EncryptionInfo".encode("utf-16-le") in data):
            raise _Refused(fd.error("encrypted", "工作簿已加密，无法读取，请取消密码后重新报送"))
        if "workbook" in names or "book" in names:
            if suffix not in (".xls", ".xlt", ".et", ".ett"):
                findings.append(mismatch("旧版 .xls 工作簿"))
            return _read_xls(path, data, cfb, place, findings)  # type: ignore[arg-type]
        if "worddocument" in names:
            raise _Refused(fd.error("not_a_workbook", "文件是 Word 文档，不是 Excel 工作簿"))
        if suffix in (".xlsx", ".xlsm", ".xltx", ".xltm"):
            # Excel writes an .xlsx inside an OLE container only when it is password-protected
            raise _Refused(fd.error("encrypted", "工作簿已加密，无法读取，请取消密码后重新报送"))
        raise _Refused(fd.error("xls_unreadable", "旧版 .xls 文件无法读取，请另存为 .xlsx"))
    if suffix == ".csv":
        return _read_csv(path, path.read_bytes(), place, findings)
    if read_exports.is_spreadsheetml(head):
        if suffix not in (".xls", ".xml", ".et"):
            findings.append(mismatch(" Excel 2003 XML 表格"))
        return _read_export(lambda: _read_spreadsheetml(path), place)
    if read_exports.is_html(head):
        # bank and government systems save an HTML table under .xls; read it as the page shows it
        if suffix not in (".xls", ".htm", ".html", ".et"):
            findings.append(mismatch("网页（HTML）表格"))
        return _read_export(lambda: _read_html(path, place, findings), place)
    if suffix in (".xls", ".et") and path.stat().st_size <= MAX_CSV_BYTES:
        data = path.read_bytes()
        if _looks_like_table_text(data):
            findings.append(fd.warning("text_as_xls", f"文件扩展名是 {suffix}，实际是文本（制表符或逗号分隔），已按文本读取；"
                                       "数字和日期均按文字读取", **place))
            return _read_csv(path, data, place, findings)
    if suffix in (".xls", ".xlt"):
        raise _Refused(fd.error("xls_unreadable", "旧版 .xls 文件无法读取，请另存为 .xlsx"))
    if suffix in EXCEL_SUFFIXES:
        raise _Refused(fd.error("not_a_workbook", "文件不是有效的 Excel 工作簿"))
    if suffix in (".xlsb", ".ods"):
        raise _Refused(fd.error("unsupported_format", f"文件不是有效的 {suffix} 表格，请另存为 .xlsx 后重新报送"))
    raise _Refused(fd.error("not_a_workbook", f"文件不是 Excel 工作簿或 CSV（扩展名 {suffix or '（无）'}），未读取"))


def _read_export(read, place: dict) -> list[Sheet]:
    """Run one of `read_exports`' readers, its refusals as the suite's."""
    try:
        return read()
    except read_exports.ExportRefused as exc:
        raise _Refused(replace(exc.finding, **{k: v for k, v in place.items() if not getattr(exc.finding, k)})) from None


def _zip_is_ods(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return read_exports.is_ods(zf)
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _read_ods(path: Path) -> list[Sheet]:
    """An OpenDocument spreadsheet, read by calamine once its repeated rows and columns are bounded."""
    with zipfile.ZipFile(path) as zf:
        manifest = zf.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in zf.namelist() else b""
        if any(i.flag_bits & 0x1 for i in zf.infolist()) or b"encryption-data" in manifest:
            raise _Refused(fd.error("encrypted", "表格已加密，无法读取，请取消密码后重新报送"))
        read_exports.check_ods(zf)
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    sheets = []
    for meta in book.sheets_metadata:
        sheet = book.get_sheet_by_name(meta.name)
        hidden = str(getattr(meta, "visible", "")).lower().endswith(("hidden", "veryhidden"))
        sheets.append(Sheet(meta.name, tuple(_rows_from_calamine(sheet, {})), hidden))
    return sheets


def _read_spreadsheetml(path: Path) -> list[Sheet]:
    return [Sheet(name, rows, hidden) for name, rows, hidden in read_exports.read_spreadsheetml(path.read_bytes())]


def _read_html(path: Path, place: dict, findings: list[Finding]) -> list[Sheet]:
    sheets, notes, _ = read_exports.read_html_tables(path.read_bytes(), readable_name(path.stem))
    findings.extend(replace(f, **place) for f in notes)
    if not sheets:
        raise _Refused(fd.error("not_a_workbook", "文件是网页（HTML）格式，但其中没有表格"))
    return [Sheet(name, rows) for name, rows in sheets]


def _quiet(name: str) -> bool:
    low = name.lower()
    return name.startswith(("~$", ".")) or low in QUIET_NAMES


def list_cycle_files(cycle_dir: Path) -> tuple[list[Path], list[Finding]]:
    """Every file below the cycle folder, sub-folders included, sorted by relative path. Office lock files,
    hidden files, Thumbs.db and desktop.ini are skipped quietly; documents, pictures and archives are left
    out with a finding; everything else is returned for `read_workbook` to judge."""
    cycle_dir = Path(cycle_dir)
    if not cycle_dir.is_dir():
        return [], [fd.error("cycle_folder_missing", f"本期文件夹不存在：{cycle_dir}")]
    found: list[tuple[str, Path]] = []
    for here, dirs, files in os.walk(cycle_dir):
        dirs[:] = [d for d in dirs if not _quiet(d)]
        for file_name in files:
            if _quiet(file_name):
                continue
            p = Path(here) / file_name
            found.append((readable_name(p.relative_to(cycle_dir).as_posix()), p))
    found.sort()
    paths: list[Path] = []
    out: list[Finding] = []
    for rel, p in found:
        suffix = p.suffix.lower()
        if suffix in ARCHIVE_SUFFIXES:
            out.append(fd.warning("archive_not_read", "压缩包未解压，其中的台账没有读取；如有台账请解压后放入本期文件夹", file=rel))
        elif suffix in NOT_LEDGER_SUFFIXES:
            out.append(fd.info("not_a_ledger", "不是台账文件，已忽略", file=rel))
        else:
            paths.append(p)
    return paths, out
