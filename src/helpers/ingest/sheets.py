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

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import python_calamine

from ..core import findings as fd
from ..core.findings import Finding


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
