"""A draft plan file from the office's own documents: `taizhang plan import`.

A new action plan arrives as a Word notice (plan text with numbered measures, then list tables such as 全面清单 and
重点清单), as a list workbook (.xlsx/.xls), as a responsibility table (工作内容／牵头单位／责任单位, like Shanxi's), or
as the plain text of such a document. Every reader turns its file into the same `Document` (paragraphs and tables
of cell texts, in order); `draft_plan` interprets that, and `draft_yaml` writes it in the plan-file format
(docs/plan-format.md) for an analyst to review.

Units are resolved against a roster, the previous plan: its units and aliases, and its collective names, kept as
written so they expand as that plan expands them. Everything the importer had to guess (an unknown unit, a blank
完成时限 filled from the row above, a blank 工作要求 taken from the row below, a task matched to a measure by wording,
responsibilities carried over from the previous plan) is written into the draft as a note starting with
`OPEN_NOTE`, which `plan check` counts until a reviewer removes the mark.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..core.deadlines import milestones_as_dicts, normalize_deadline_text, parse_deadline
from ..core.values import name_key
from ..plan.model import Plan, read_plan_yaml


OPEN_NOTE = "【待复核】"
GUESSED = "_guessed"       # a task's keys the importer inferred rather than read (internal, not written out)
SUITE_STATUS_COLUMN = ("status", "进展状态")      # the suite's own column, appended to every list

# header text → column role (docs/plan-format.md); a previous plan's list of the same name wins
HEADER_ROLES = {
    "序号": "no", "工作要求": "group", "工作事项": "group", "主要任务": "text", "工作内容": "text",
    "完成时限": "deadline", "细化举措": "actions", "年度目标和效果": "goal", "双周进展情况": "progress",
    "进展情况": "progress", "牵头单位": "lead", "责任单位": "units",
}
NUMERALS = "一二三四五六七八九十"


# ---------------------------------------------------------------------------------------------------------------
# Documents: paragraphs and tables, whatever the file


@dataclass
class Table:
    rows: list[list[str]]                     # cell texts; a header row may repeat where a page broke
    title: str = ""                           # the paragraph just above the table
    pages: list[int] = field(default_factory=list)   # for each row, the page (repeated header) it sits on
    lines: list[int] = field(default_factory=list)   # for each row, where it starts in the source (1-based)


@dataclass
class Document:
    name: str
    paragraphs: list[str]
    tables: list[Table]


def read_document(path: str | Path) -> Document:
    """Read a .docx, .xlsx/.xls or plain-text (.txt) plan document."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return _read_docx(path)
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return _read_workbook(path)
    return read_text_document(path.read_text(encoding="utf-8-sig"), path.name)


def _clean_cell(text: Any) -> str:
    if text is None:
        return ""
    if isinstance(text, float) and text.is_integer():
        text = int(text)
    return re.sub(r"</?p>", "", str(text)).strip()


def _read_docx(path: Path) -> Document:
    import docx
    from docx.table import Table as DocxTable
    from docx.text.paragraph import Paragraph

    document = docx.Document(str(path))
    paragraphs: list[str] = []
    tables: list[Table] = []
    last_paragraph = ""
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            text = Paragraph(child, document).text.strip()
            if text:
                paragraphs.append(text)
                last_paragraph = text
        elif tag == "tbl":
            rows = []
            for row in DocxTable(child, document).rows:
                cells, seen = [], []
                for cell in row.cells:
                    # a horizontally merged cell is returned once per grid column: keep it once
                    if any(cell._tc is s for s in seen):
                        continue
                    seen.append(cell._tc)
                    vmerge = cell._tc.tcPr.vMerge if cell._tc.tcPr is not None else None
                    continued = vmerge is not None and vmerge.val in (None, "continue")
                    cells.append("" if continued else _clean_cell(cell.text))
                rows.append(cells)
            tables.append(_paged(Table(rows=rows, title=last_paragraph)))
    return Document(path.name, paragraphs, tables)


def _read_workbook(path: Path) -> Document:
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    paragraphs: list[str] = []
    tables: list[Table] = []
    for name in book.sheet_names:
        rows = [[_clean_cell(c) for c in row] for row in book.get_sheet_by_name(name).to_python()]
        rows = [r for r in rows if any(r)]
        header = next((i for i, r in enumerate(rows) if _header_roles(r)), None)
        if header is None:
            paragraphs.extend(" ".join(c for c in r if c) for r in rows)
            continue
        title = " ".join(c for r in rows[:header] for c in r if c) or name
        paragraphs.extend(" ".join(c for c in r if c) for r in rows[:header])
        width = len(rows[header])
        table_rows = [(r + [""] * width)[:width] for r in rows[header:]]
        tables.append(_paged(Table(rows=table_rows, title=title, lines=list(range(header + 1, len(rows) + 1)))))
    return Document(path.name, paragraphs, tables)


def _paged(table: Table) -> Table:
    page, pages = 0, []
    for row in table.rows:
        if _header_roles(row):
            page += 1
        pages.append(max(page, 1))
    table.pages = pages
    if not table.lines:
        table.lines = [0] * len(table.rows)
    return table


def _header_roles(cells: Iterable[str]) -> dict[int, str]:
    roles = {i: HEADER_ROLES[name_key(c)] for i, c in enumerate(cells) if name_key(c) in HEADER_ROLES}
    return roles if len(roles) >= 2 else {}


_LIST_TITLE = re.compile(r"清单\s*$|分工表\s*$")
_ATTACHMENT = re.compile(r"^附件\s*\d*\s*$|^附表\s*$")


def read_text_document(text: str, name: str = "text") -> Document:
    """The plain text of a notice as the seeds hold it. Tables come in two shapes: one cell per line, each line
    starting with a tab, rows separated by blank lines, the list's title and header repeated at each page break
    (a converted PDF); or one row per line, cells separated by tabs (a converted web table). A line that does not
    start with a tab, inside a row still short of cells, is the rest of the cell above (a wrapped line)."""
    lines = text.splitlines()
    paragraphs: list[str] = []
    tables: list[Table] = []
    current: Table | None = None
    row: list[str] | None = None
    width = page = skip = 0
    last_paragraph = ""

    def close_row() -> None:
        nonlocal row
        if row and current is not None:
            current.rows.append(row)
            current.pages.append(page)
        row = None

    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        cells = [_clean_cell(c) for c in line.split("\t")]
        if not line.lstrip(" ").startswith("\t") and "\t" in line and len([c for c in cells if c]) >= 2:
            close_row()              # one row per line
            if _header_roles(cells):
                current = Table(rows=[], title=last_paragraph)
                tables.append(current)
                width, page = len(cells), 1
            elif current is None:
                paragraphs.append(stripped)
                continue
            current.rows.append((cells + [""] * width)[:max(width, len(cells))])
            current.pages.append(page)
            current.lines.append(number)
            continue
        if line.lstrip(" ").startswith("\t"):      # one cell per line
            value = _clean_cell(line)
            if skip:
                skip -= 1
                continue
            if not row and name_key(value) == "序号":
                header = [_clean_cell(h) for h in _block(lines, number)]
                skip = len(header) - 1
                if current is None or current.title != last_paragraph:
                    current = Table(rows=[header], title=last_paragraph, pages=[1], lines=[number])
                    tables.append(current)
                    width, page = len(header), 1
                else:
                    page += 1        # the header repeated on a new page
                continue
            if current is None:
                continue
            if row is None:
                row = []
                current.lines.append(number)
            row.append(value)
            continue
        if not stripped:
            if row is not None and len(row) >= width:
                close_row()
            continue
        if row and len(row) < width:
            row[-1] += "\n" + stripped           # a wrapped line of the cell above
            continue
        close_row()
        paragraphs.append(stripped)
        if not _ATTACHMENT.match(stripped):
            last_paragraph = stripped
    close_row()
    return Document(name, paragraphs, tables)


def _block(lines: list[str], number: int) -> list[str]:
    """The lines from `number` (1-based) up to the next blank line."""
    out = []
    for line in lines[number - 1:]:
        if not line.strip():
            break
        out.append(line)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Text repair


def repair(text: str | None) -> str:
    """Seed damage repaired without changing the meaning: wrap spaces and line breaks inside words, a stray "O"
    for "。", full-width digits, half-width commas between Chinese characters, quotes facing the wrong way."""
    s = normalize_deadline_text(text)
    s = re.sub(r"(?<=[^\x00-\x7f]),|,(?=[^\x00-\x7f])", "，", s)
    return _balance_quotes(s)


def _balance_quotes(text: str) -> str:
    out, open_ = [], False
    for ch in text:
        if ch in "“”":
            ch = "”" if open_ else "“"
            open_ = not open_
        out.append(ch)
    return "".join(out)


def _repair_dashes(text: str, reference: str) -> tuple[str, bool]:
    """"一" where the reference (the measure's own text) has "—" between the same characters: a damaged dash."""
    chars = list(text)
    changed = False
    for i in range(1, len(chars) - 1):
        if chars[i] == "一" and f"{chars[i - 1]}—{chars[i + 1]}" in reference:
            chars[i] = "—"
            changed = True
    return "".join(chars), changed


def _label(text: str) -> str:
    return repair(text).rstrip("。.")


def _bigrams(text: str) -> set[str]:
    s = re.sub(r"[\W\d_]", "", text)
    return {s[i:i + 2] for i in range(len(s) - 1)}


def _similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, name_key(a), name_key(b), autojunk=False).ratio()


# ---------------------------------------------------------------------------------------------------------------
# The roster: the previous plan's units, aliases and collective names


class Roster:
    def __init__(self, plan: Plan | None):
        self.plan = plan
        self.raw = read_plan_yaml(plan.path.read_text(encoding="utf-8")) if plan and plan.path else {}
        self.by_name: dict[str, str] = {}
        for unit in plan.units if plan else ():
            for n in unit.names:
                self.by_name.setdefault(name_key(n), unit.id)
        self.collectives: dict[str, str] = {}
        for n in plan.collectives if plan else {}:      # a collective's name comes before its aliases: keep it
            self.collectives.setdefault(name_key(n), n)
        self.new_units: dict[str, dict] = {}

    def resolve(self, name: str) -> tuple[str, str | None]:
        """(unit id or collective name, a note when it was a guess)."""
        key = name_key(name)
        if key in self.collectives:
            return self.collectives[key], None
        if key in self.by_name:
            return self.by_name[key], None
        for new_id, unit in self.new_units.items():
            if name_key(unit["name"]) == key:
                return new_id, None
        new_id = f"new_unit_{len(self.new_units) + 1}"
        self.new_units[new_id] = {
            "id": new_id, "name": name, "kind": "other",
            "notes": [f"{OPEN_NOTE}名册（上一版计划）中没有「{name}」：请核对名称，填写 id、kind，或把它作为别名加到已有单位。"],
        }
        return new_id, f"{OPEN_NOTE}单位「{name}」不在名册中，暂记为新单位 {new_id}。"


def split_units(text: str) -> tuple[list[str], bool]:
    """Unit names of a 责任单位 cell, in order; True when a separator dangles (a damaged cell)."""
    s = _clean_cell(text)
    s = re.sub(r"^[（(]?\s*责任单位\s*[:：]\s*", "", s).rstrip(")）")
    dangling = bool(re.search(r"[、，,；;]\s*$", s))
    names = [re.sub(r"\s+", "", n) for n in re.split(r"[、，,；;]", s)]
    return [n for n in names if n], dangling


# ---------------------------------------------------------------------------------------------------------------
# Interpreting a document


@dataclass
class Draft:
    meta: dict
    measures: list[dict]
    lists: list[dict]
    roster: Roster
    notes: list[str]


_MEASURE = re.compile(r"^([一二三四五六七八九十]+)、(.+?)。(.*)$", re.S)
_MEASURE_UNITS = re.compile(r"[（(]\s*责任单位\s*[:：]([^)）]*)[)）]\s*$")
_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")


def numeral_value(numeral: str) -> int:
    if numeral == "十":
        return 10
    if numeral.startswith("十"):
        return 10 + NUMERALS.index(numeral[1]) + 1
    if numeral.endswith("十"):
        return (NUMERALS.index(numeral[0]) + 1) * 10
    if "十" in numeral:
        tens, ones = numeral.split("十")
        return (NUMERALS.index(tens) + 1) * 10 + NUMERALS.index(ones) + 1
    return NUMERALS.index(numeral) + 1


def draft_plan(doc: Document, previous: Plan | None = None, *, plan_id: str | None = None,
               year: int | None = None, carry_over: bool = True) -> Draft:
    """Interpret a document against the previous plan (roster). `carry_over`: where the previous plan has the
    same task and its reviewers chose other responsible units, a group or a measure, take theirs (noted)."""
    roster = Roster(previous)
    notes: list[str] = []
    meta = _meta(doc, previous, plan_id, year)
    measures = _measures(doc, roster)
    lists: list[dict] = []
    responsibility = [t for t in doc.tables if _table_kind(t) == "responsibility"]
    if responsibility:
        table_measures, table_lists = _responsibility_table(responsibility[0], roster, previous)
        if not measures:
            measures = table_measures
        lists.extend(table_lists)
    if not measures and previous is not None and any(_table_kind(t) == "list" for t in doc.tables):
        # a list workbook carries no plan text: match its tasks against the previous plan's measures
        measures = [dict(m) for m in roster.raw.get("measures") or []]
        notes.append(f"{OPEN_NOTE}文件中没有措施正文，措施沿用名册（上一版计划）的措施，须与新文件核对。")
    for table in doc.tables:
        if _table_kind(table) == "list":
            lists.append(_task_list(table, measures, meta["year"], roster, previous))
    _link_same_tasks(lists)
    if previous is not None and carry_over:
        _carry_over(lists, previous, roster)
    if not measures:
        notes.append(f"{OPEN_NOTE}文件中没有找到编号措施（“一、……（责任单位：……）”）。")
    if not lists:
        notes.append(f"{OPEN_NOTE}文件中没有找到任务清单或责任分工表。")
    return Draft(meta, measures, lists, roster, notes)


def _meta(doc: Document, previous: Plan | None, plan_id: str | None, year: int | None) -> dict:
    text = "\n".join(doc.paragraphs)
    issued = None
    dates = [dt.date(int(y), int(m), int(d)) for y, m, d in _DATE.findall(text[:2000])]
    if dates:
        issued = dates[0]
    title_match = re.search(r"《(.+?)》", text)
    title = title_match.group(1) if title_match else (previous.title if previous else doc.name)
    days = re.search(r"每月(\d{1,2})日和(\d{1,2})日", text)
    report_to = re.search(r"报告?至([^。，；\s]+?)。", text)
    issuer = None
    for paragraph in doc.paragraphs[:40]:
        if re.fullmatch(r"\S+(人民政府|办公室|办公厅|工作办公室)\S*", paragraph.strip()) and len(paragraph) < 40:
            issuer = paragraph.strip()
            break
    meta = {
        "id": plan_id or (previous.id if previous else Path(doc.name).stem),
        "title": title,
        "issuer": issuer or (previous.meta.get("issuer") if previous else None),
        "issued": issued,
        "year": year or (issued.year if issued else (previous.year if previous else dt.date.today().year)),
        "report_days": [int(days.group(1)), int(days.group(2))] if days else
        list(previous.report_days if previous else (10, 25)),
        "reporting_to": report_to.group(1) if report_to else (previous.meta.get("reporting_to") if previous else None),
        "source": doc.name,
    }
    return meta


def _measures(doc: Document, roster: Roster) -> list[dict]:
    out = []
    for paragraph in doc.paragraphs:
        m = _MEASURE.match(paragraph.strip())
        units_match = _MEASURE_UNITS.search(paragraph.strip())
        if not m or not units_match:
            continue
        body = _MEASURE_UNITS.sub("", m.group(3).strip())
        names, _ = split_units(units_match.group(1))
        units, notes = [], []
        for name in names:
            ref, note = roster.resolve(name)
            units.append(ref)
            if note:
                notes.append(note)
        measure = {"no": numeral_value(m.group(1)), "numeral": m.group(1), "title": _label(m.group(2)),
                   "text": repair(body), "units": list(dict.fromkeys(units))}
        if notes:
            measure["notes"] = notes
        out.append(measure)
    return out


def _table_kind(table: Table) -> str | None:
    roles = set(_header_roles(table.rows[0]).values()) if table.rows else set()
    if {"lead", "text"} <= roles and "no" not in roles:
        return "responsibility"
    if {"no", "text"} <= roles or {"no", "group"} <= roles:
        return "list"
    return None


def _list_name(title: str, previous: Plan | None) -> str:
    title = re.sub(r"\s+", "", title)
    for lst in previous.lists if previous else ():
        if title.endswith(lst.name):
            return lst.name
    m = re.search(r"([^\s]{2}清单)$", title)
    return m.group(1) if m else (title or "清单")


def _columns(header: list[str], name: str, previous: Plan | None) -> tuple[dict[str, str], dict[int, str]]:
    roles = _header_roles(header)
    if previous is not None:
        for lst in previous.lists:
            if lst.name == name:
                return dict(lst.columns), roles
    columns = {role: name_key(header[i]) for i, role in sorted(roles.items())}
    if "progress" not in columns:
        columns["progress"] = "进展情况"
    columns.setdefault(*SUITE_STATUS_COLUMN)
    return columns, roles


def _measure_of(text: str, measures: list[dict]) -> tuple[int | None, float]:
    """The measure whose title and text share most wording (character pairs) with `text`, and how clearly."""
    words = _bigrams(text)
    scored = sorted(((len(words & _bigrams(m["title"] + m["text"])) / max(len(words), 1), m["no"]) for m in measures),
                    reverse=True)
    if not scored or scored[0][0] == 0:
        return None, 0.0
    margin = scored[0][0] - (scored[1][0] if len(scored) > 1 else 0)
    return scored[0][1], margin


def _task_list(table: Table, measures: list[dict], year: int, roster: Roster, previous: Plan | None) -> dict:
    name = _list_name(table.title, previous)
    columns, roles = _columns(table.rows[0], name, previous)
    index = {role: i for i, role in roles.items()}
    has_deadline = "deadline" in index and any(
        r[index["deadline"]].strip() for r in table.rows[1:] if not _header_roles(r) and len(r) > index["deadline"])
    raw_rows = []
    for row, page, line in zip(table.rows[1:], table.pages[1:], table.lines[1:]):
        if _header_roles(row):
            continue
        cell = lambda role: row[index[role]] if role in index and index[role] < len(row) else ""  # noqa: E731
        no = re.sub(r"\s", "", cell("no"))
        if not no.isdigit():
            continue
        raw_rows.append({"no": int(no), "group": _label(cell("group")), "text": repair(cell("text")),
                         "deadline": normalize_deadline_text(cell("deadline")), "page": page, "line": line})
    by_measure = {m["no"]: m for m in measures}
    row_notes: list[list[str]] = [[] for _ in raw_rows]
    _join_split_labels(raw_rows, measures, row_notes)
    groups = []
    for i, r in enumerate(raw_rows):
        group = r["group"]
        if not group:
            group, group_note = _fill_group(raw_rows, i, measures)
            row_notes[i].append(group_note)
        groups.append(group)
    # a 工作要求 label and its tasks answer one measure: match the label with all its tasks' wording together
    group_measure = {g: _measure_of(g + "".join(r["text"] for r, h in zip(raw_rows, groups) if h == g), measures)
                     for g in dict.fromkeys(groups) if g}
    tasks = []
    for i, r in enumerate(raw_rows):
        notes = row_notes[i]
        group = groups[i]
        own, margin = _measure_of(r["text"], measures)
        measure, margin = group_measure[group] if group else (own, margin)
        if measure is None or margin < 0.05:
            notes.append(f"{OPEN_NOTE}按文字对应到措施{by_measure[measure]['numeral'] if measure else '（无）'}，"
                         "与其他措施区分不明显，请核对。")
        elif own is not None and own != measure:
            notes.append(f"{OPEN_NOTE}按工作要求“{group}”对应到措施{by_measure[measure]['numeral']}；本项文字单看更接近"
                         f"措施{by_measure[own]['numeral']}。")
        text = r["text"]
        if measure is not None:
            text, dashed = _repair_dashes(text, by_measure[measure]["text"])
            if dashed:
                notes.append(f"主要任务中的“一”按措施{by_measure[measure]['numeral']}原文改为破折号“—”。")
        task: dict[str, Any] = {"no": r["no"], "group": group or None, "text": text, "measure": measure,
                                # what the document does not say, so the previous plan's reviewers may have settled
                                GUESSED: {"measure", "lead", "units", "same_as"} | ({"group"} if not r["group"] else set())}
        units = list(by_measure[measure]["units"]) if measure is not None else []
        task["lead"] = units[:1]
        task["units"] = units[1:]
        if not units:
            notes.append(f"{OPEN_NOTE}没有对应的措施，责任单位须人工填写。")
        deadline = r["deadline"]
        filled = False
        if has_deadline and not deadline:
            above = next((tasks[j]["deadline"] for j in range(len(tasks) - 1, -1, -1) if tasks[j].get("deadline")),
                         None)
            if above:
                deadline, filled = above, True
                notes.append(f"{OPEN_NOTE}完成时限单元格空白（合并单元格拆开），沿用上一行的完成时限。")
        if has_deadline:
            task["deadline"] = deadline or None
            milestones = parse_deadline(deadline, year) if deadline else []
            if filled:     # a filled-in 完成时限: each of its dates is an interpretation (plan: deadline_interpreted)
                task["deadline_interpreted"] = True
                milestones = [replace(m, interpreted=True) for m in milestones]
            task["milestones"] = milestones_as_dicts(milestones)
        task["source"] = {"page": r["page"], "line": r["line"]} if r["line"] else {"page": r["page"]}
        if notes:
            task["notes"] = notes
        tasks.append(task)
    return {"name": name, "columns": columns, "tasks": tasks}


def _join_split_labels(rows: list[dict], measures: list[dict], notes: list[list[str]]) -> None:
    """A merged 工作要求 cell whose text the row boundary cut in two ("健全股权投" / "资体系"): two labelled rows in
    a row whose joined label is a measure's wording get the whole label."""
    wording = "".join(name_key(m["title"] + m["text"]) for m in measures)
    for i in range(len(rows) - 1):
        first, second = rows[i]["group"], rows[i + 1]["group"]
        if not first or not second or first == second:
            continue
        joined = first + second
        if name_key(joined) in wording and name_key(first) not in wording.replace(name_key(joined), ""):
            for j in (i, i + 1):
                rows[j]["group"] = joined
                notes[j].append(f"{OPEN_NOTE}工作要求“{first}”“{second}”分在第{rows[i]['no']}、{rows[i + 1]['no']}项两行，"
                                f"是同一合并单元格的文字，合为“{joined}”。")


def _fill_group(rows: list[dict], i: int, measures: list[dict]) -> tuple[str, str]:
    """A blank 工作要求 cell belongs to a merged cell: its label is above (the usual case) or, for rows that open a
    page before any label on it (the merged cell's text sits lower down, vertically centred), possibly below. The
    row's wording decides there: it goes with the neighbour that matches the same measure."""
    above = next((j for j in range(i - 1, -1, -1) if rows[j]["group"]), None)
    below = next((j for j in range(i + 1, len(rows)) if rows[j]["group"]), None)
    mine, _ = _measure_of(rows[i]["text"], measures)

    def measure_of(j: int) -> int | None:
        return _measure_of(rows[j]["group"] + rows[j]["text"], measures)[0]

    use_below = below is not None and (above is None or (
        rows[above]["page"] != rows[i]["page"] == rows[below]["page"]
        and mine == measure_of(below) and mine != measure_of(above)))
    if use_below:
        return rows[below]["group"], (f"{OPEN_NOTE}工作要求单元格空白（合并单元格拆开），按内容（与第{rows[below]['no']}项"
                                      f"同属一条措施）取下方第{rows[below]['no']}项的“{rows[below]['group']}”。")
    if above is None:
        return "", f"{OPEN_NOTE}工作要求单元格空白，上下都没有可沿用的标签。"
    return rows[above]["group"], (f"工作要求单元格空白（合并单元格拆开），沿用第{rows[above]['no']}项的"
                                  f"“{rows[above]['group']}”。")


_ITEM = re.compile(r"^[（(]\s*([一二三四五六七八九十]+)\s*[)）]\s*(.+?)。(.*)$", re.S)


def _responsibility_table(table: Table, roster: Roster, previous: Plan | None) -> tuple[list[dict], list[dict]]:
    """A 工作内容／牵头单位／责任单位 table: one measure per numbered item, one task per row; an item split over
    several rows (each repeating the item's number and lead sentence) gives tasks labelled （八）之一, 之二 …"""
    roles = {role: i for i, role in _header_roles(table.rows[0]).items()}
    name = _list_name(table.title, previous) if table.title else "责任分工表"
    columns, _ = _columns(table.rows[0], name, previous)
    if previous is None or name not in {lst.name for lst in previous.lists}:
        columns = {"no": "序号", "group": "工作事项", "text": "工作内容", "lead": "牵头单位", "units": "责任单位",
                   "progress": "进展情况", SUITE_STATUS_COLUMN[0]: SUITE_STATUS_COLUMN[1]}
    rows = []
    for row, line in zip(table.rows[1:], table.lines[1:]):
        if _header_roles(row):
            continue
        get = lambda role: row[roles[role]] if role in roles and roles[role] < len(row) else ""  # noqa: E731
        m = _ITEM.match(_clean_cell(get("text")))
        if not m:
            continue
        rows.append({"numeral": m.group(1), "title": _label(m.group(2)), "text": repair(m.group(3)),
                     "lead": get("lead"), "units": get("units"), "line": line})
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["numeral"]] = counts.get(r["numeral"], 0) + 1
    measures: dict[str, dict] = {}
    tasks, seen = [], {}
    for no, r in enumerate(rows, start=1):
        notes: list[str] = []
        refs = {}
        for role in ("lead", "units"):
            names, dangling = split_units(r[role])
            if dangling:
                notes.append(f"{OPEN_NOTE}{'牵头' if role == 'lead' else '责任'}单位“{_clean_cell(r[role])}”末尾多一个"
                             "分隔符，可能漏掉一个单位，按所列单位处理。")
            resolved = []
            for n in names:
                ref, note = roster.resolve(n)
                resolved.append(ref)
                if note:
                    notes.append(note)
            refs[role] = list(dict.fromkeys(resolved))
        seen[r["numeral"]] = seen.get(r["numeral"], 0) + 1
        split = counts[r["numeral"]] > 1
        order = "一二三四五六七八九十"[seen[r["numeral"]] - 1]
        measure = measures.setdefault(r["numeral"], {
            "no": numeral_value(r["numeral"]), "numeral": r["numeral"], "title": r["title"], "text": "",
            "leads": [], "others": []})
        measure["text"] += r["text"]
        measure["leads"] += refs["lead"]
        measure["others"] += refs["units"]
        task = {"no": no, "label": f"（{r['numeral']}）" + (f"之{order}" if split else ""), "group": r["title"],
                "text": r["text"], "measure": measure["no"], "lead": refs["lead"],
                "units": [u for u in refs["units"] if u not in refs["lead"]], "deadline": None, "milestones": [],
                "ongoing": True, "source": {"line": r["line"], "row_of_item": seen[r["numeral"]]}}
        if notes:
            task["notes"] = notes
        tasks.append(task)
    out_measures = [{"no": m["no"], "numeral": m["numeral"], "title": m["title"], "text": m["text"],
                     "units": list(dict.fromkeys(m["leads"] + m["others"]))} for m in measures.values()]
    return out_measures, [{"name": name, "columns": columns, "tasks": tasks}]


def _link_same_tasks(lists: list[dict]) -> None:
    """A task of a later list whose wording is (nearly) that of an earlier list's task is the same task."""
    for i, lst in enumerate(lists):
        for task in lst["tasks"]:
            best = None
            for other in lists[:i]:
                for candidate in other["tasks"]:
                    score = _similarity(task["text"], candidate["text"])
                    if score >= 0.6 and (best is None or score > best[0]):
                        best = (score, other["name"], candidate["no"])
            if best:
                task["same_as"] = {"list": best[1], "no": best[2]}
                if best[0] < 0.9:
                    task.setdefault("notes", []).append(
                        f"{OPEN_NOTE}按文字相近（{best[0]:.0%}）认定与{best[1]}第{best[2]}项为同一任务。")


def _carry_over(lists: list[dict], previous: Plan, roster: Roster) -> None:
    """Where the previous plan has the same task (same list, same wording) and its reviewers settled what the
    document leaves open (responsible units derived from the measure, the measure, a blank 工作要求, the twin in
    another list) otherwise than the importer guessed, keep what they settled (noted). What the document states
    is never overridden."""
    raw_lists = {lst.get("name"): lst for lst in roster.raw.get("lists") or []}
    for lst in lists:
        raw = raw_lists.get(lst["name"])
        if not raw:
            continue
        by_no = {t.get("no"): t for t in raw.get("tasks") or []}
        for task in lst["tasks"]:
            old = by_no.get(task["no"])
            if not old or _similarity(str(old.get("text", "")), task["text"]) < 0.9:
                continue
            changed = []
            for key, label in (("measure", "措施"), ("group", "工作要求"), ("lead", "牵头单位"), ("units", "责任单位"),
                               ("same_as", "同一任务")):
                if key not in task.get(GUESSED, ()):
                    continue        # read from the document: the new document wins
                mine, theirs = task.get(key), old.get(key)
                if key in ("lead", "units"):
                    mine, theirs = list(mine or []), list(theirs or [])
                    if _expanded(previous, mine) == _expanded(previous, theirs):
                        continue
                elif mine == theirs:
                    continue
                changed.append(f"{label}由“{_shown(previous, mine)}”改为上一版的“{_shown(previous, theirs)}”")
                task[key] = theirs
            if changed:
                task.setdefault("notes", []).append(
                    f"{OPEN_NOTE}沿用上一版计划{lst['name']}第{task['no']}项的人工判断：" + "；".join(changed) + "。")


def _expanded(plan: Plan, refs: list) -> list[str]:
    out: list[str] = []
    for ref in refs:
        out.extend(plan.collectives.get(str(ref), (str(ref),)))
    return out


def _shown(plan: Plan, value: Any) -> str:
    if isinstance(value, list):
        return "、".join(plan.unit_name(str(v)) for v in value)
    if isinstance(value, dict):
        return f"{value.get('list')}第{value.get('no')}项"
    return "无" if value is None else str(value)


# ---------------------------------------------------------------------------------------------------------------
# Writing the draft


def draft_yaml(draft: Draft) -> str:
    """The draft as a plan file: the roster's units, collectives and ledger rules carried over, units the
    roster lacks added as marked stubs, targets left for the reviewer."""
    raw = draft.roster.raw
    units = [dict(u) for u in raw.get("units") or []] + list(draft.roster.new_units.values())
    notes = [f"{OPEN_NOTE}由 taizhang plan import 从「{draft.meta['source']}」生成的草稿：逐项核对措施、任务、责任单位和"
             "完成时限，处理完一条说明后删去其中的“待复核”标记。"] + draft.notes
    if not raw.get("targets"):
        notes.append(f"{OPEN_NOTE}量化目标（targets）不从文件自动生成，须按文件补充。")
    meta = {k: v for k, v in draft.meta.items() if v is not None}
    lists = [{**lst, "tasks": [{k: v for k, v in t.items() if k != GUESSED} for t in lst["tasks"]]}
             for lst in draft.lists]
    meta["notes"] = notes
    doc = {
        "plan": meta,
        "units": units,
        "collectives": raw.get("collectives") or [],
        "ledgers": raw.get("ledgers") or {"task": {"responsible": True}},
        "measures": draft.measures,
        "lists": lists,
        "targets": [],
        "bank_plans": [],
    }
    header = (f"# 计划草稿（taizhang plan import，来源：{draft.meta['source']}）。格式见 docs/plan-format.md；\n"
              f"# 名册：{draft.roster.plan.path.name if draft.roster.plan and draft.roster.plan.path else '无'}。"
              f"注明“{OPEN_NOTE}”的说明须人工核对；taizhang plan check 列出其数目。\n")
    return header + yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=200,
                              default_flow_style=None)


class _Dumper(yaml.SafeDumper):
    """Short lists of ids inline, everything else in block style; `no` keys quoted (YAML 1.1 readers)."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> Any:
    flow = all(isinstance(x, (str, int)) and len(str(x)) <= 40 for x in data) and len(data) <= 20
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, data: dict) -> Any:
    flow = set(data) <= {"list", "no", "page", "line", "row_of_item", "responsible", "kind", "category"}
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(dict, _represent_dict)


def open_notes(raw: Any) -> list[tuple[str, str]]:
    """Every note still marked for review in a plan file's raw data: (place, note)."""
    out: list[tuple[str, str]] = []

    def walk(value: Any, place: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{place}.{k}" if place else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{place}[{i}]")
        elif isinstance(value, str) and OPEN_NOTE in value:
            out.append((place, value))

    walk(raw, "")
    return out
