"""Typed tables out of messy sheets: find the header row below title rows, map columns by header text whatever
their order, read the 填报单位/填报日期 lines above the header, skip repeated headers, blank, note and 合计/小计
rows, and parse every cell by its column's type, collecting a finding for each bad cell (the row is kept).

Every ledger kind is described as a `SheetFormat`; this module knows no particular ledger.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from . import findings as fd
from .identifiers import check_id, normalize_id
from .sources import Sheet
from .values import ValueProblem, amount_factor, clean_text, parse_bool, parse_choice, parse_date, parse_number

HEADER_SCAN_ROWS = 30
TOTAL_WORDS = ("合计", "小计", "总计", "累计合计", "全市合计", "总合计")
NOTE_PREFIXES = ("注：", "注:", "备注：", "备注:", "说明：", "说明:", "填表说明", "填报说明")


@dataclass(frozen=True)
class Column:
    """One column of a format. `kind`: text, int, number, amount (→万元), rate (%, fraction), date, id, bool,
    choice. `headers` are the header texts that name it (compared after removing spaces and brackets)."""

    role: str
    headers: tuple[str, ...]
    kind: str = "text"
    required: bool = False
    choices: Mapping[str, str] | None = None
    label: str | None = None  # the official header, for messages and templates

    @property
    def title(self) -> str:
        return self.label or self.headers[0]


@dataclass(frozen=True)
class SheetFormat:
    kind: str                      # ledger kind: task, lending, noloan, guarantee
    name: str                      # canonical sheet name, e.g. 主要指标
    columns: tuple[Column, ...]
    sheet_names: tuple[str, ...] = ()
    min_match: int = 3             # header cells that must match for a row to be this format's header

    @property
    def required(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)


@dataclass(frozen=True)
class Table:
    """A sheet read against a format: `frame` has one column per role found plus `_row` (Excel row number)."""

    format: SheetFormat
    sheet: str
    frame: pd.DataFrame
    header_row: int
    meta: dict[str, Any] = field(default_factory=dict)
    findings: tuple[fd.Finding, ...] = ()
    header_texts: dict[str, str] = field(default_factory=dict)


_SPACES = re.compile(r"\s+")
_BRACKETED = re.compile(r"[（(][^）)]*[）)]")
_UNIT_SUFFIX = re.compile(r"[/／]?(单位[:：])?(万元|亿元|元|户|笔|%|BP|bp)$")
HEADER_MAX_LEN = 40   # longer cell texts are data, never a header


def header_key(text: Any) -> str:
    """Header text without spaces, line breaks, width differences, bracketed units or a trailing colon."""
    if text is None or isinstance(text, (int, float)) and not isinstance(text, bool):
        return ""
    return _header_key(str(text))


@lru_cache(maxsize=65536)
def _header_key(text: str) -> str:
    if len(text) > HEADER_MAX_LEN * 2:
        return ""
    key = unicodedata.normalize("NFKC", text)
    key = _SPACES.sub("", key)
    key = _BRACKETED.sub("", key)
    key = _UNIT_SUFFIX.sub("", key)
    return key.strip("：:*＊")


def sheet_key(name: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name or ""))


def _variants(fmt: SheetFormat) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(role, header keys) per column of a format, computed once per format."""
    cached = _VARIANTS.get(id(fmt))
    if cached is None or cached[0] is not fmt:
        cached = (fmt, tuple((c.role, tuple(header_key(h) for h in c.headers)) for c in fmt.columns))
        _VARIANTS[id(fmt)] = cached
    return cached[1]


_VARIANTS: dict[int, tuple[SheetFormat, tuple]] = {}


def _match_columns(cells: Sequence[Any], fmt: SheetFormat) -> dict[str, int]:
    """role → column index for one candidate header row."""
    return _match_keys([header_key(c) for c in cells], fmt)


def _match_keys(keys: Sequence[str], fmt: SheetFormat) -> dict[str, int]:
    """role → column index for a row of header keys; exact key match first, then containment."""
    found: dict[str, int] = {}
    used: set[int] = set()
    variants = _variants(fmt)
    candidates = [(idx, key) for idx, key in enumerate(keys) if key and len(key) <= HEADER_MAX_LEN]
    for exact in (True, False):
        if not exact and len(found) < 2:
            break  # a real header row has several exact matches; containment only completes one
        for role, keys_of_role in variants:
            if role in found:
                continue
            for idx, key in candidates:
                if idx in used:
                    continue
                hit = key in keys_of_role if exact else any(len(v) >= 3 and v in key for v in keys_of_role)
                if hit:
                    found[role] = idx
                    used.add(idx)
                    break
    return found


def header_rows(sheet: Sheet) -> list[tuple[int, list[str]]]:
    """Header keys of the rows where a header can stand (the top rows), computed once per sheet."""
    out = []
    for row_no, cells in sheet.rows[:HEADER_SCAN_ROWS]:
        keys = [header_key(c) for c in cells]
        if sum(1 for k in keys if k and len(k) <= HEADER_MAX_LEN) >= 2:
            out.append((row_no, keys))
    return out


def header_score(sheet: Sheet, fmt: SheetFormat, rows: list[tuple[int, list[str]]] | None = None
                 ) -> tuple[int, int, dict[str, int]]:
    """(matched columns, header row number, role → index) for the best header candidate in the top rows."""
    best: tuple[int, int, dict[str, int]] = (0, 0, {})
    for row_no, keys in header_rows(sheet) if rows is None else rows:
        found = _match_keys(keys, fmt)
        if len(found) > best[0]:
            best = (len(found), row_no, found)
    return best


def sheet_name_matches(sheet: Sheet, fmt: SheetFormat) -> bool:
    key = sheet_key(sheet.name)
    return any(sheet_key(n) == key or sheet_key(n) in key for n in (fmt.name, *fmt.sheet_names))


_META_LABELS = {
    "unit": ("填报单位", "报送单位", "填表单位", "单位名称", "机构名称"),
    "date": ("填报日期", "报送日期", "填表日期", "填报时间", "报送时间"),
    "contact": ("联系人", "填报人", "联系电话"),
    "amount_unit": ("金额单位", "单位"),
}


def read_meta(rows: Sequence[tuple[int, Sequence[Any]]]) -> dict[str, Any]:
    """Labels such as 填报单位：XX, 填报日期：2022年6月25日, 单位：万元 from the rows above a header, whether the
    value shares the label's cell or sits in the next non-empty cell. Also the title (first text)."""
    meta: dict[str, Any] = {}
    for row_no, cells in rows:
        texts = [(i, str(c).strip()) for i, c in enumerate(cells) if c is not None and str(c).strip()]
        if texts and "title" not in meta:
            meta["title"] = re.sub(r"\s+", "", texts[0][1])
        for pos, (i, text) in enumerate(texts):
            for field_name, labels in _META_LABELS.items():
                for label in labels:
                    norm = re.sub(r"\s+", "", text)
                    if not norm.startswith(label):
                        continue
                    rest = norm[len(label):]
                    if rest and rest[0] not in ":：":
                        continue
                    value: Any = rest.lstrip(":：")
                    if not value and pos + 1 < len(texts) and not _is_meta_label(texts[pos + 1][1]):
                        # the value in the next cell, unless that cell is the next label (a blank 填报单位：
                        # followed by 填报日期： must not make "填报日期：" the unit)
                        value = cells[texts[pos + 1][0]]
                    if value not in ("", None) and field_name not in meta:
                        meta[field_name] = value
                        meta[f"{field_name}_row"] = row_no
                    break
    return meta


def _is_meta_label(text: str) -> bool:
    """"填报日期：…", "联系人" …: a cell that starts with one of the labels `read_meta` knows."""
    norm = re.sub(r"\s+", "", text)
    return any(norm.startswith(label) and (len(norm) == len(label) or norm[len(label)] in ":：")
               for labels in _META_LABELS.values() for label in labels)


def _repeats_header(cells: Sequence[Any], roles: Mapping[str, int], header_cells: Sequence[Any]) -> bool:
    """A row that carries the header's own texts in at least half of the mapped columns (a page-break repeat)."""
    same = 0
    for idx in roles.values():
        if idx < len(cells) and idx < len(header_cells) and cells[idx] is not None:
            if header_key(cells[idx]) and header_key(cells[idx]) == header_key(header_cells[idx]):
                same += 1
    return same >= max(2, len(roles) // 2)


def _is_total(cells: Sequence[Any]) -> bool:
    for c in list(cells)[:4]:
        if c is None:
            continue
        text = re.sub(r"\s+", "", str(c))
        if text in TOTAL_WORDS or any(text.startswith(w) for w in ("合计", "小计", "总计")):
            return True
    return False


def _is_note(cells: Sequence[Any]) -> bool:
    texts = [str(c).strip() for c in cells if c is not None and str(c).strip()]
    return len(texts) == 1 and texts[0].startswith(NOTE_PREFIXES)


def read_table(
    sheet: Sheet,
    fmt: SheetFormat,
    *,
    file: str,
    unit: str | None = None,
    header: tuple[int, dict[str, int]] | None = None,
    default_factor: float | None = None,
) -> Table:
    """Read `sheet` against `fmt`. Cells that do not parse become missing values with a finding; totals, notes,
    repeated headers and blank rows are skipped (totals are reported as info so nothing vanishes unseen)."""
    if header is None:
        _, header_row, roles = header_score(sheet, fmt)
    else:
        header_row, roles = header
    out: list[fd.Finding] = []
    place = {"file": file, "sheet": sheet.name, "unit": unit}
    above = [(r, c) for r, c in sheet.rows if r < header_row]
    meta = read_meta(above)
    header_cells = dict(sheet.rows).get(header_row, ())
    header_texts = {role: str(header_cells[idx]).strip() for role, idx in roles.items()}

    for col in fmt.required:
        if col.role not in roles:
            out.append(fd.error("missing_column", f"缺少必填列「{col.title}」", row=header_row, **place))

    sheet_factor = default_factor
    if sheet_factor is None and meta.get("amount_unit"):
        sheet_factor = amount_factor(str(meta["amount_unit"]))
    factors = {}
    for col in fmt.columns:
        if col.kind == "amount" and col.role in roles:
            text = header_texts[col.role]
            factors[col.role] = amount_factor(text) if re.search(r"元", text) else (sheet_factor or 1.0)

    records: list[dict[str, Any]] = []
    for row_no, cells in sheet.rows:
        if row_no <= header_row:
            continue
        cells = list(cells)
        values = {role: cells[idx] if idx < len(cells) else None for role, idx in roles.items()}
        present = [v for v in values.values() if v is not None and str(v).strip() != ""]
        if not present:
            continue
        if _repeats_header(cells, roles, header_cells):
            continue  # header repeated at a page break
        if _is_total(cells):
            out.append(fd.info("total_row_skipped", "合计/小计行不计入数据", row=row_no, **place))
            continue
        if _is_note(cells):
            continue
        record: dict[str, Any] = {"_row": row_no}
        for col in fmt.columns:
            if col.role not in roles:
                continue
            raw = values[col.role]
            try:
                record[col.role] = _parse_cell(raw, col, factors.get(col.role, 1.0))
            except ValueProblem as problem:
                record[col.role] = None
                out.append(
                    fd.warning("bad_value", f"{problem}", row=row_no, column=header_texts.get(col.role, col.title), **place)
                )
            if col.kind == "id" and record.get(col.role):
                # the raw cell, not the normalised text: an ID typed into a number cell gets the hint that says so
                check = check_id(raw)
                record[f"{col.role}_kind"] = check.kind
                record[f"{col.role}_valid"] = check.valid
                if not check.valid:
                    out.append(
                        fd.warning("bad_identifier", check.problem or "证件号码校验未通过", row=row_no,
                                   column=header_texts.get(col.role, col.title), **place)
                    )
        for col in fmt.required:
            if col.role in roles and record.get(col.role) is None and values.get(col.role) in (None, ""):
                out.append(
                    fd.warning("missing_value", f"必填项「{col.title}」为空", row=row_no,
                               column=header_texts.get(col.role, col.title), **place)
                )
        records.append(record)

    frame = pd.DataFrame.from_records(records, columns=["_row", *_frame_columns(fmt, roles)])
    return Table(fmt, sheet.name, frame, header_row, meta, tuple(out), header_texts)


def _frame_columns(fmt: SheetFormat, roles: Mapping[str, int]) -> list[str]:
    cols = []
    for col in fmt.columns:
        if col.role in roles:
            cols.append(col.role)
            if col.kind == "id":
                cols += [f"{col.role}_kind", f"{col.role}_valid"]
    return cols


def _parse_cell(raw: Any, col: Column, factor: float) -> Any:
    if isinstance(raw, str) and raw.strip().startswith("#") and raw.strip().upper() in _EXCEL_ERRORS:
        raise ValueProblem(f"单元格为错误值「{raw.strip()}」")
    parser = _PARSERS[col.kind]
    if col.kind == "choice":
        return parse_choice(raw, col.choices or {})
    if col.kind == "amount":
        value = parse_number(raw)
        return None if value is None else value * factor
    return parser(raw)


def _parse_int(raw: Any) -> int | None:
    value = parse_number(raw)
    if value is None:
        return None
    if abs(value - round(value)) > 1e-9:
        raise ValueProblem(f"应为整数，实为「{raw}」")
    return int(round(value))


def _parse_rate(raw: Any) -> float | None:
    """A column headed in %: 4.35 and "4.35%" both mean 4.35%; returned as a fraction (0.0435)."""
    if isinstance(raw, str) and ("%" in raw or "％" in raw):
        return parse_number(raw)
    value = parse_number(raw)
    return None if value is None else value / 100


def _parse_id(raw: Any) -> str | None:
    return normalize_id(raw)


def _parse_date_cell(raw: Any) -> dt.date | None:
    return parse_date(raw)


_EXCEL_ERRORS = {"#REF!", "#DIV/0!", "#N/A", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!"}
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "text": clean_text,
    "int": _parse_int,
    "number": parse_number,
    "amount": parse_number,
    "rate": _parse_rate,
    "date": _parse_date_cell,
    "id": _parse_id,
    "bool": parse_bool,
    "choice": lambda raw: raw,
}
