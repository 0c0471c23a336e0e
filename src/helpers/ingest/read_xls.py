"""Old .xls workbooks: the OLE compound file and its BIFF records."""

from __future__ import annotations

import io
import struct
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import python_calamine

from . import sheets as sources_sheets
from ..core import findings as fd
from ..core.findings import Finding
from .read_xlsx import _assemble
from .sheets import (DENSE_ALWAYS_AREA, DENSE_MIN_FILL, LISTED_CELLS, MAX_XLS_COLUMNS, OLE_MAGIC, XLS_DENSE_MAX_AREA,
                     _Refused, _SheetNotes, Sheet, _calamine_error, _cell_findings, _rows_from_calamine, _value,
                     column_letters)


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
        if scan.cells > sources_sheets.MAX_SHEET_CELLS:
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
                findings.append(fd.error("sheet_too_large", f"工作表有 {scan.cells:,} 个非空单元格，超过 {sources_sheets.MAX_SHEET_CELLS:,} 个上限，"
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
