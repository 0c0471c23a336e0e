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
from itertools import zip_longest
from typing import Any, Callable, ClassVar, Mapping, Sequence

import pandas as pd

from ..core import findings as fd
from ..core.identifiers import check_id, is_plain_id, normalize_id, valid_kinds
from .sheets import Sheet
from ..core.values import (ValueProblem, amount_factor, clean_text, is_plain_text, parse_bool, parse_choice, parse_date,
                           parse_number)

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
    """A sheet read against a format: `frame` has one column per role found plus `_row` (Excel row number);
    `values` holds the same columns as lists (`frame` is None when `read_table` was asked for the lists only)."""

    format: SheetFormat
    sheet: str
    frame: pd.DataFrame | None
    header_row: int
    meta: dict[str, Any] = field(default_factory=dict)
    findings: tuple[fd.Finding, ...] = ()
    header_texts: dict[str, str] = field(default_factory=dict)
    values: dict[str, list] = field(default_factory=dict, compare=False, repr=False)


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


_MATCHED: dict[tuple[tuple[str, ...], int], tuple[SheetFormat, dict[str, int]]] = {}


def _match_keys(keys: Sequence[str], fmt: SheetFormat) -> dict[str, int]:
    """role → column index for a row of header keys; exact key match first, then containment. Remembered per
    row of keys and format: units' headers repeat from workbook to workbook."""
    known = _known_keys(fmt)
    if known.isdisjoint(keys):
        return {}           # no header text of this format at all (a title or data row): nothing can match
    memo_key = (tuple(keys), id(fmt))
    hit = _MATCHED.get(memo_key)
    if hit is not None and hit[0] is fmt:
        return dict(hit[1])
    found = _match_keys_uncached(keys, fmt)
    if len(_MATCHED) > 20_000:
        _MATCHED.clear()
    _MATCHED[memo_key] = (fmt, found)
    return dict(found)


def _known_keys(fmt: SheetFormat) -> frozenset[str]:
    """Every header key of a format (exact matches are needed before containment is tried)."""
    cached = _KNOWN.get(id(fmt))
    if cached is None or cached[0] is not fmt:
        cached = _KNOWN[id(fmt)] = (fmt, frozenset(k for _, ks in _variants(fmt) for k in ks if k))
    return cached[1]


_KNOWN: dict[int, tuple[SheetFormat, frozenset[str]]] = {}


def _match_keys_uncached(keys: Sequence[str], fmt: SheetFormat) -> dict[str, int]:
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
    """Header keys of the rows where a header can stand (the top rows), computed once per sheet. A two-row header
    (a merged group label such as 落实情况 above 细化举措…进展状态, 序号 merged down over both rows) is offered too,
    as the lower row with its blanks filled from the row above."""
    out = []
    previous: tuple[int, list[str]] | None = None
    for row_no, cells in sheet.rows[:HEADER_SCAN_ROWS]:
        keys = [header_key(c) for c in cells]
        if _header_like(keys):
            out.append((row_no, keys))
            if previous is not None and previous[0] == row_no - 1 and _header_like(previous[1]):
                combined = _two_row_keys(previous[1], keys)
                if combined != keys:
                    out.append((row_no, combined))
        previous = (row_no, keys)
    return out


def _header_like(keys: Sequence[str]) -> bool:
    return sum(1 for k in keys if k and len(k) <= HEADER_MAX_LEN) >= 2


def _two_row_keys(upper: Sequence[Any], lower: Sequence[Any]) -> list:
    """The lower header row with its blank cells taken from the row above (merged cells keep their text in the
    top-left cell only)."""
    return [low if low not in ("", None) else up for up, low in zip_longest(upper, lower, fillvalue="")]


def header_cells_of(sheet: Sheet, header_row: int) -> list[Any]:
    """The cells of a header row, completed from the row above as `header_rows` offers a two-row header."""
    cells, upper = (), None
    for row_no, row in sheet.rows[:HEADER_SCAN_ROWS + 1]:
        if row_no == header_row - 1:
            upper = row
        if row_no == header_row:
            cells = row
            break
    if upper is None or not _header_like([header_key(c) for c in upper]):
        return list(cells)
    return [c if c not in ("", None) else None for c in _two_row_keys(upper, cells)]


_DAY_IN_HEADER = re.compile(r"(\d{1,2})月(\d{1,2})日?")


def latest_of_repeated_columns(cells: Sequence[Any], roles: dict[str, int]) -> tuple[dict[str, int], list[str]]:
    """When a role's header appears in several columns (双周进展情况（7月10日）, 双周进展情况（7月25日）: each cycle's
    progress beside the last), the column whose header names the latest date. Returns the roles and, for each
    role so decided, a note naming the columns and the one taken."""
    keys = [header_key(c) for c in cells]
    chosen = dict(roles)
    notes = []
    for role, idx in roles.items():
        if idx >= len(keys) or not keys[idx]:
            continue
        same = [i for i, k in enumerate(keys) if k == keys[idx] and i not in roles.values() or i == idx]
        if len(same) < 2:
            continue

        def day(i: int) -> tuple[int, int]:
            m = _DAY_IN_HEADER.search(unicodedata.normalize("NFKC", str(cells[i])))
            return (int(m.group(1)), int(m.group(2))) if m else (0, 0)

        best = max(same, key=lambda i: (day(i), i))
        chosen[role] = best
        shown = "、".join(f"「{str(cells[i]).strip()}」" for i in same)
        notes.append(f"「{keys[idx]}」有多列（{shown}），采用日期最近的「{str(cells[best]).strip()}」")
    return chosen, notes


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


# the labels of the lines above a header; the first of each is the official one, which templates write
META_LABELS = {
    "unit": ("填报单位", "报送单位", "填表单位", "单位名称", "机构名称"),
    "date": ("填报日期", "报送日期", "填表日期", "填报时间", "报送时间"),
    "contact": ("联系人", "填报人", "经办人"),
    "phone": ("联系电话", "联系方式", "手机", "电话"),
    "amount_unit": ("金额单位", "单位"),
}
# Several labels in one cell (「联系人：张三  联系电话：138…」): split where a label follows a space.
_NEXT_LABEL = re.compile(r"\s+(?=(?:%s))" % "|".join(
    sorted({label for labels in META_LABELS.values() for label in labels}, key=len, reverse=True)))
# A row below the table that gives the contact person or phone (「填报人：张三」, 「联系电话：0352-…」): read as a
# label line, not as data. The colon is required: a borrower may be called 手机店.
_CONTACT_LINE = re.compile(r"\s*(?:%s)\s*(?:[（(][^）)]{0,6}[）)])?\s*[：:]" % "|".join(
    META_LABELS["contact"] + META_LABELS["phone"]))
CONTACT_FIELDS = ("contact", "contact_row", "phone", "phone_row")


_LABEL_QUALIFIER = re.compile(r"^[（(][^）)]{0,6}[）)]")    # 填报单位（盖章）, 填报单位(公章)


def read_meta(rows: Sequence[tuple[int, Sequence[Any]]]) -> dict[str, Any]:
    """Labels such as 填报单位：XX, 填报单位（盖章）：XX, 报送单位 XX, 填报日期：2022年6月25日, 单位：万元, 联系人：XX,
    联系电话：XX from the rows above a header, whether the value shares the label's cell or sits in the next non-empty
    cell; several labels may share a cell when a space separates them. Also the title (first text)."""
    meta: dict[str, Any] = {}
    for row_no, cells in rows:
        texts = [(i, str(c).strip()) for i, c in enumerate(cells) if c is not None and str(c).strip()]
        if texts and "title" not in meta:
            meta["title"] = re.sub(r"\s+", "", texts[0][1])
        for pos, (i, text) in enumerate(texts):
            segments = _NEXT_LABEL.split(text) if len(text) > 4 else [text]
            for k, segment in enumerate(segments):
                for field_name, value in _labelled(segment):
                    last = k == len(segments) - 1
                    if not value and last and pos + 1 < len(texts) and not _is_meta_label(texts[pos + 1][1]):
                        # the value in the next cell, unless that cell is the next label (a blank 填报单位：
                        # followed by 填报日期： must not make "填报日期：" the unit)
                        value = cells[texts[pos + 1][0]]
                    if value not in ("", None) and field_name not in meta:
                        meta[field_name] = value
                        meta[f"{field_name}_row"] = row_no
                    break
    return meta


def _labelled(text: str) -> list[tuple[str, str]]:
    """[(field, value)] when a cell starts with a known label: 「填报单位：X」, 「填报单位（盖章）：X」, 「报送单位 X」
    (a space stands for the colon), 「填报单位：」 (value in the next cell); [] for any other text."""
    stripped = text.strip()
    for field_name, labels in META_LABELS.items():
        for label in labels:
            if not stripped.startswith(label) and not re.sub(r"\s+", "", stripped).startswith(label):
                continue
            spaced = stripped.startswith(label) and stripped[len(label):len(label) + 1].isspace()
            rest = re.sub(r"\s+", "", stripped)[len(label):]
            rest = _LABEL_QUALIFIER.sub("", rest)
            if rest and rest[0] in ":：":
                return [(field_name, rest.lstrip(":："))]
            if not rest or spaced:
                return [(field_name, rest)]
    return []


def _is_meta_label(text: str) -> bool:
    """"填报日期：…", "联系人" …: a cell that starts with one of the labels `read_meta` knows."""
    return bool(_labelled(text))


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
    frame: bool = True,
) -> Table:
    """Read `sheet` against `fmt`. Cells that do not parse become missing values with a finding; totals, notes,
    repeated headers and blank rows are skipped (totals are reported as info so nothing vanishes unseen).
    `frame=False`: only `Table.values` (the column lists), no DataFrame (cheaper for small sheets)."""
    as_frame = frame
    if header is None:
        _, header_row, roles = header_score(sheet, fmt)
    else:
        header_row, roles = header
    out: list[fd.Finding] = []
    place = {"file": file, "sheet": sheet.name, "unit": unit}
    above = [(r, c) for r, c in sheet.rows if r < header_row]
    meta = read_meta(above)
    header_cells = header_cells_of(sheet, header_row)
    roles, repeated_notes = latest_of_repeated_columns(header_cells, roles)
    for note in repeated_notes:
        out.append(fd.info("column_repeated", note, row=header_row, **place))
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

    # 1. the data rows: below the header, not blank, not a repeated header, a total or a note
    idxs = list(roles.values())
    body = [(r, c) for r, c in sheet.rows if r > header_row]
    # every mapped column over all rows below the header (the data columns are taken from these)
    transposed = list(zip_longest(*[c for _, c in body], fillvalue=None)) if body else []
    blank = (None,) * len(body)
    by_idx = {idx: transposed[idx] if idx < len(transposed) else blank for idx in dict.fromkeys(idxs)}
    del transposed
    repeat_keys = [(idx, header_key(header_cells[idx])) for idx in idxs if idx < len(header_cells)]
    repeat_keys = [(idx, key) for idx, key in repeat_keys if key]
    repeated = _repeated_header_rows(by_idx, repeat_keys, max(2, len(roles) // 2))
    kept: list[int] = []          # positions in `body`
    footer: list[tuple[int, Sequence[Any]]] = []     # 填报人/联系电话 lines below the data
    for pos, (row_no, cells) in enumerate(body):
        n = len(cells)
        for idx in idxs:
            if idx < n:
                v = cells[idx]
                if v is not None and (type(v) is not str or v.strip()) and (type(v) is str or str(v).strip()):
                    break
        else:
            continue
        if repeated and pos in repeated:
            continue  # header repeated at a page break
        if _is_total_fast(cells):
            out.append(fd.info("total_row_skipped", "合计/小计行不计入数据", row=row_no, **place))
            continue
        if _is_note_fast(cells):
            continue
        if _is_contact_line(cells):
            footer.append((row_no, cells))
            continue
        kept.append(pos)
    if footer:
        found = read_meta(footer)
        meta.update({k: found[k] for k in CONTACT_FIELDS if k in found and k not in meta})
    rows_kept = [body[pos][0] for pos in kept]
    every = len(kept) == len(body)

    # 2. column by column: each distinct text is parsed once (`_Parser`), numbers and dates take a fast path
    columns: list[str] = ["_row"]
    data: list[list[Any]] = [rows_kept]
    problems: list[tuple[int, int, int, fd.Finding]] = []   # (row position, phase, column, finding): row order
    raws: dict[str, list[Any]] = {}
    for position, col in enumerate(fmt.columns):
        if col.role not in roles:
            continue
        idx = roles[col.role]
        raw = by_idx[idx] if every else [by_idx[idx][pos] for pos in kept]
        raws[col.role] = raw
        column_name = header_texts.get(col.role, col.title)
        parsed, bad = _Parser.of(col, factors.get(col.role, 1.0)).parse(raw)
        if col.kind == "rate":
            bad = sorted(bad + _percent_rates(raw, parsed, rows_kept, idx, sheet.percent_cells,
                                              _states_percent(column_name)), key=lambda item: item[0])
        for i, problem in bad:
            problems.append((i, 0, position, fd.warning("bad_value", f"{problem}", row=rows_kept[i],
                                                         column=column_name, **place)))
        columns.append(col.role)
        data.append(parsed)
        if col.kind == "id":
            kinds, valids = _id_checks(raw, parsed, rows_kept, column_name, place, position, problems)
            columns += [f"{col.role}_kind", f"{col.role}_valid"]
            data += [kinds, valids]
    for position, col in enumerate(fmt.required):
        if col.role not in roles:
            continue
        parsed = data[columns.index(col.role)]
        column_name = header_texts.get(col.role, col.title)
        for i, (value, raw) in enumerate(zip(parsed, raws[col.role])):
            if value is None and raw in (None, ""):
                problems.append((i, 1, position, fd.warning("missing_value", f"必填项「{col.title}」为空",
                                                            row=rows_kept[i], column=column_name, **place)))
    problems.sort(key=lambda p: p[:3])
    out.extend(p[3] for p in problems)
    values = dict(zip(columns, data))
    result = None
    if as_frame:   # from the column lists: the dtypes from_records gives for the rows, without building the rows
        result = pd.DataFrame(values) if rows_kept else pd.DataFrame.from_records([], columns=columns)
    return Table(fmt, sheet.name, result, header_row, meta, tuple(out), header_texts, values)


def _repeated_header_rows(columns: Mapping[int, list], keys: list[tuple[int, str]], needed: int) -> set[int]:
    """Positions of the rows that repeat the header (`_repeats_header`: at least `needed` mapped cells whose
    header key is the header's own), found column by column: each distinct cell value is looked at once, and a
    row is counted only when enough columns hold some header text at all (almost never)."""
    if len(keys) < needed:
        return set()
    hits_per_column: list[tuple[list, set]] = []
    for idx, key in keys:
        values = columns[idx]
        matching = set()
        key_ascii = key.isascii()
        distinct = set(values)
        joined = "\0".join([c for c in distinct if c.__class__ is str])
        if key[0] not in joined and unicodedata.is_normalized("NFKC", joined):
            # no text of the column has the key's first character, and NFKC leaves them all as they are (it
            # does each text between the separators on its own): none can be the header's (the test below,
            # for all texts at once)
            distinct = {c for c in distinct if c.__class__ is not str}
        for c in distinct:
            if c is None or isinstance(c, (int, float)):
                continue                 # numbers (and booleans) have no header key
            if type(c) is str:
                if not key_ascii and c.isascii():
                    continue             # NFKC keeps ASCII text ASCII: it cannot turn into a Chinese header
                if key[0] not in c and unicodedata.is_normalized("NFKC", c):
                    continue             # a key is what is left of the NFKC text after removals: its first
                    #                      character is in any text NFKC leaves as it is
                got = _header_key(c)
            elif not key_ascii and isinstance(c, (dt.date, dt.time, dt.timedelta)):
                continue                 # printed as ASCII digits
            else:
                got = header_key(c)
            if got == key:
                matching.add(c)
        if matching:
            hits_per_column.append((values, matching))
    if len(hits_per_column) < needed:
        return set()
    counts: dict[int, int] = {}
    for values, matching in hits_per_column:
        for pos, v in enumerate(values):
            if v in matching and v.__class__ is not float and v.__class__ is not int:
                counts[pos] = counts.get(pos, 0) + 1
    return {pos for pos, n in counts.items() if n >= needed}


def _is_total_fast(cells: Sequence[Any]) -> bool:
    """`_is_total`: every total word has 计, so a row without one in its first four text cells is no total."""
    for c in cells[:4]:
        if c is None:
            continue
        if type(c) is str:
            if "计" in c and _is_total((c,)):
                return True
        elif not isinstance(c, (int, float, dt.date, dt.time, dt.timedelta)) and _is_total((c,)):
            return True
    return False


def _is_contact_line(cells: Sequence[Any]) -> bool:
    """A row whose first text is a contact label with its colon (「填报人：张三」, 「联系电话：」 with the number beside)."""
    for c in cells:
        if c is None:
            continue
        return type(c) is str and bool(_CONTACT_LINE.match(c))
    return False


def _is_note_fast(cells: Sequence[Any]) -> bool:
    """`_is_note`: a note is a row with one non-empty cell."""
    seen = 0
    for c in cells:
        if c is not None and (c.strip() if type(c) is str else str(c).strip()):
            seen += 1
            if seen > 1:
                return False
    return seen == 1 and _is_note(cells)


_NOT_CACHED = object()


class _Parser:
    """Parses one column's cells like `_parse_cell`, each distinct text once (a small cache per column kind)."""

    _cache: ClassVar[dict[tuple, _Parser]] = {}

    def __init__(self, col: Column, factor: float):
        self.col = col
        self.factor = factor
        self.memo: dict[str, Any] = {}
        self.bad_texts: set[str] = set()
        # a text this kind's parser returns as it is, told by one regular expression instead of the parser
        self.plain: Callable[[str], bool] | None = {"text": is_plain_text, "id": is_plain_id}.get(col.kind)

    @classmethod
    def of(cls, col: Column, factor: float) -> _Parser:
        key = (col.kind, id(col.choices) if col.choices is not None else None, factor)
        parser = cls._cache.get(key)
        if parser is None or parser.col.choices is not col.choices:
            if len(cls._cache) > 256:
                cls._cache.clear()
            parser = cls._cache[key] = cls(col, factor)
        if len(parser.memo) > 200_000:
            parser.memo.clear()
            parser.bad_texts.clear()
        return parser

    def slow(self, raw: Any) -> Any:
        """The value or the ValueProblem (returned, not raised), exactly as `_parse_cell`."""
        try:
            return _parse_cell(raw, self.col, self.factor)
        except ValueProblem as problem:
            return problem

    def parse(self, raw: list[Any]) -> tuple[list[Any], list[tuple[int, ValueProblem]]]:
        """Parsed values and (position, problem) of the cells that did not parse. The usual cells (a number in
        a number column, a date cell in a date column, a text seen before) are done in one comprehension; the
        rest (marked `_SLOW`) one by one through `_parse_cell`."""
        kind, f, memo = self.col.kind, self.factor, self.memo
        get, S, B = memo.get, _SLOW, _BIG
        float_, int_, str_, datetime = float, int, str, dt.datetime
        if kind == "amount":
            out = [get(v, S) if v.__class__ is str_ else v * f if v.__class__ is float_ and v - v == 0
                   else float_(v) * f if v.__class__ is int_ and -B <= v <= B else None if v is None else S
                   for v in raw]
        elif kind == "number":
            out = [get(v, S) if v.__class__ is str_ else v if v.__class__ is float_ and v - v == 0
                   else float_(v) if v.__class__ is int_ and -B <= v <= B else None if v is None else S
                   for v in raw]
        elif kind == "rate":
            out = [get(v, S) if v.__class__ is str_ else v / 100 if v.__class__ is float_ and v - v == 0
                   else float_(v) / 100 if v.__class__ is int_ and -B <= v <= B else None if v is None else S
                   for v in raw]
        elif kind == "int":
            out = [get(v, S) if v.__class__ is str_ else int_(v) if v.__class__ is float_ and v.is_integer()
                   else v if v.__class__ is int_ and -B <= v <= B else None if v is None else S
                   for v in raw]
        elif kind == "date":
            out = [get(v, S) if v.__class__ is str_ else v.date() if v.__class__ is datetime
                   else None if v is None else S for v in raw]
        else:
            out = [get(v, S) if v.__class__ is str_ else None if v is None else S for v in raw]
        bad: list[tuple[int, ValueProblem]] = []
        plain = self.plain
        for i in [i for i, x in enumerate(out) if x is S]:
            v = raw[i]
            if v.__class__ is str:
                value = get(v, S)            # a text met earlier in this column
                if value is S:
                    value = memo[v] = v if plain is not None and plain(v) else self.slow(v)
                    if isinstance(value, ValueProblem):
                        self.bad_texts.add(v)
            else:
                value = self.slow(v)
            if isinstance(value, ValueProblem):
                bad.append((i, value))
                value = None
            out[i] = value
        if self.bad_texts:        # texts that did not parse before, met again (the slow ones are already in `bad`)
            known = self.bad_texts
            done = {i for i, _ in bad}
            for i, v in enumerate(raw):
                if v.__class__ is str and v in known and i not in done:
                    bad.append((i, memo[v]))
                    out[i] = None
            bad.sort(key=lambda item: item[0])
        return out, bad


_SLOW = object()
_INF, _NINF = float("inf"), float("-inf")
_BIG = 2**53
_ID_MEMO: dict[tuple[str, dt.date], tuple[str, bool, str | None]] = {}
_VECTOR_MIN_IDS = 32     # fewer texts are checked one by one: numpy's fixed cost is that of about 15 `check_id`s


def _id_checks(raw: list[Any], parsed: list[Any], rows: list[int], column: str, place: dict, position: int,
               problems: list) -> tuple[list[Any], list[Any]]:
    """`<role>_kind` and `<role>_valid` for an id column (NaN where the id is empty, as from_records fills in), and
    a bad_identifier finding per invalid id. The texts `check_id` would find valid are told for the whole column
    at once (`valid_kinds`); every other cell goes through `check_id`, which looks at the raw cell (a number gets its
    own hint); a text is checked once per day (the birth-year rule depends on today's date)."""
    nan = float("nan")
    today = dt.date.today()
    if len(_ID_MEMO) > 500_000:
        _ID_MEMO.clear()
    kinds: list[Any] = [nan] * len(raw)
    valids: list[Any] = [nan] * len(raw)
    texts = [i for i, (r, value) in enumerate(zip(raw, parsed)) if value and r.__class__ is str]
    if len(texts) >= _VECTOR_MIN_IDS:
        for i, kind in zip(texts, valid_kinds([raw[i] for i in texts], today)):
            if kind is not None:
                kinds[i] = kind
                valids[i] = True
    for i in [i for i, value in enumerate(parsed) if value and valids[i] is not True]:
        r = raw[i]
        if type(r) is str:
            key = (r, today)
            hit = _ID_MEMO.get(key)
            if hit is None:
                check = check_id(r)
                hit = _ID_MEMO[key] = (check.kind, check.valid, check.problem)
        else:
            check = check_id(r)
            hit = (check.kind, check.valid, check.problem)
        kinds[i] = hit[0]
        valids[i] = hit[1]
        if not hit[1]:
            problems.append((i, 0, position, fd.warning("bad_identifier", hit[2] or "证件号码校验未通过", row=rows[i],
                                                         column=column, **place)))
    return kinds, valids


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


def _states_percent(header: str) -> bool:
    return "%" in header or "％" in header or "百分" in header


def _percent_rates(raw: list[Any], parsed: list[Any], rows: list[int], column: int,
                   percent_cells: frozenset[tuple[int, int]], header_percent: bool) -> list[tuple[int, ValueProblem]]:
    """A rate column read the way the cell shows it, in place: a number in a cell formatted as a percentage is
    the fraction Excel stores (1.20% is 0.012); a plain number is in percent when the header says （%）, or when it
    is above 1. A plain number from 0 to 1 under a header that names no unit stays ambiguous (0.8: 0.8% or 80%?):
    it is left empty with a problem, never guessed. Texts with % or ％ were read as written by `_parse_rate`."""
    problems = []
    for i, value in enumerate(raw):
        if value is None or isinstance(value, (str, bool)) or not isinstance(value, (int, float)):
            continue
        if (rows[i], column) in percent_cells:
            parsed[i] = float(value)
        elif not header_percent and 0 < abs(value) <= 1:
            parsed[i] = None
            problems.append((i, ValueProblem(
                f"比例「{value:g}」无法判断是 {value:g}% 还是 {value * 100:g}%（表头未注明%，单元格也不是百分比格式），"
                f"未计入；请填写带%的数值（如 {value * 100:g}%）")))
    return problems


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
