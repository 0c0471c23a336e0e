""".csv and text files saved as .xls: the encoding found, the rows read as one sheet."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from . import sheets
from ..core import findings as fd
from ..core.findings import Finding
from .sheets import (LISTED_CELLS, MAX_COLUMNS, MAX_CSV_BYTES, _Refused, _SheetNotes, Sheet, _cell_findings,
                     _trimmed, readable_name)


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
            if cells > sheets.MAX_SHEET_CELLS:
                raise _Refused(fd.error("sheet_too_large", f"CSV 文件非空单元格超过 {sheets.MAX_SHEET_CELLS:,} 个，未读取", **sheet_place))
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
