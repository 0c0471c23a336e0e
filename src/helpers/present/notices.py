"""The office's own documents, each cycle: a 三色督办单 per unit with overdue or soon-due items, and a draft
情况通报. Both are Word files (python-docx): the office edits, signs and stamps official documents before they go
out, and its document system takes .docx; LibreOffice and WPS open them as well.

Colours follow 督查督办 practice: 红色 for overdue (a red light: a milestone passed without completion, or no row),
黄色 for behind schedule (an orange light: 滞后 or progress copied from the last cycle), 蓝色 for a deadline coming
(a yellow light: a milestone due by the next report date). The colour word stands in every title, so a notice
printed in black and white still says what it is. A 全面清单 task and its 重点清单 twin (`same_as`) are one item.

Formats finished frames only (`task_status`, `submissions`, `indicators` of one cycle); facts come from the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd

from ..core.cycles import next_cycle
from ..core.identifiers import mask_ids_in_text
from ..ingest.formats import LEDGER_KIND_LABELS
from ..plan.model import Plan, Unit
from ..reconcile.lights import on_time_rate
from .task_labels import task_key, task_title

NOTICES_DIR = "督办单"
BULLETIN_NAME = "情况通报（草稿）.docx"

# light → (notice colour, its word, what it means, RGB of the title)
NOTICE_LEVELS = {
    "red": ("red", "红色", "逾期未完成", (0xC0, 0x00, 0x00)),
    "orange": ("yellow", "黄色", "进度滞后", (0xB8, 0x86, 0x00)),
    "yellow": ("blue", "蓝色", "节点临近", (0x1F, 0x4E, 0xA0)),
}
_ORDER = {"red": 0, "orange": 1, "yellow": 2}
BODY_FONT = "仿宋"
TITLE_FONT = "方正小标宋简体"
HEADING_FONT = "黑体"


# ---------------------------------------------------------------------------------------------------------------
# The items: one per unit and task, twins merged


def notice_items(plan: Plan, status: pd.DataFrame) -> pd.DataFrame:
    """Red, orange and yellow unit × task rows, one per unit and task key (the worst light of the twins kept):
    unit, unit_id, role, key, light, reason, next_milestone, next_due, most severe first, then in plan order."""
    columns = ["unit", "unit_id", "role", "key", "light", "reason", "next_milestone", "next_due"]
    if status is None or not len(status):
        return pd.DataFrame(columns=columns)
    bad = status[status["light"].isin(list(_ORDER))]
    if not len(bad):
        return pd.DataFrame(columns=columns)
    order = {(t.list_name, t.no): i for i, t in enumerate(plan.tasks)}
    bad = bad.assign(key=[task_key(plan, l, n) for l, n in zip(bad["list"], bad["task_no"])],
                     _sev=bad["light"].map(_ORDER))
    bad = bad.assign(_order=bad["key"].map(order))
    bad = bad.sort_values(["_sev", "_order"], kind="stable").drop_duplicates(["unit_id", "key"])
    return bad[columns].reset_index(drop=True)


@dataclass(frozen=True)
class Notice:
    unit: Unit
    level: str              # the most severe item's light: red, orange or yellow
    items: pd.DataFrame     # the unit's `notice_items` rows


def notices(plan: Plan, status: pd.DataFrame) -> list[Notice]:
    """One notice per unit with at least one red, orange or yellow item, most severe units first, then in plan
    order."""
    items = notice_items(plan, status)
    by_unit = dict(tuple(items.groupby("unit_id", sort=False))) if len(items) else {}   # each unit's rows, in order
    out = []
    for unit in plan.units:
        mine = by_unit.get(unit.id)
        if mine is not None and len(mine):
            level = min(mine["light"], key=_ORDER.__getitem__)
            out.append(Notice(unit, level, mine.sort_values("light", key=lambda s: s.map(_ORDER), kind="stable")))
    return sorted(out, key=lambda n: _ORDER[n.level])


# ---------------------------------------------------------------------------------------------------------------
# Word building blocks


def _document(body_pt: float = 16, line_pt: float = 28, top_cm: float = 3.7):
    """An A4 document with official margins (3.7 cm top, 2.8 cm left as in GB/T 9704) and 仿宋 body text, 三号
    (16 pt on a 28 pt line) unless told: a 督办单 is a one-page form in 四号."""
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(top_cm), Cm(3.0)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    style = doc.styles["Normal"]
    style.font.name = BODY_FONT
    style.font.size = Pt(body_pt)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), BODY_FONT)
    style.paragraph_format.line_spacing = Pt(line_pt)
    style.paragraph_format.space_after = Pt(0)
    return doc


def _run(paragraph, text: str, *, font: str | None = None, size: float | None = None, bold: bool = False,
         colour: tuple[int, int, int] | None = None):
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    run = paragraph.add_run(mask_ids_in_text(text))
    if font:
        run.font.name = font
        run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), font)
    if size:
        run.font.size = Pt(size)
    run.bold = bold or None
    if colour:
        run.font.color.rgb = RGBColor(*colour)
    return run


def _title(doc, text: str, colour: tuple[int, int, int] | None = None) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.space_after = Pt(12)
    p.paragraph_format.line_spacing = Pt(36)
    _run(p, text, font=TITLE_FONT, size=22, colour=colour)


def _heading(doc, text: str) -> None:
    p = doc.add_paragraph()
    p.paragraph_format.first_line_indent = _indent()
    p.paragraph_format.keep_with_next = True
    _run(p, text, font=HEADING_FONT)


def _para(doc, text: str, *, indent: bool = True, align: str | None = None) -> Any:
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    p = doc.add_paragraph()
    if indent:
        p.paragraph_format.first_line_indent = _indent()
    if align:
        p.alignment = {"right": WD_ALIGN_PARAGRAPH.RIGHT, "center": WD_ALIGN_PARAGRAPH.CENTER}[align]
    _run(p, text)
    return p


def _indent():
    from docx.shared import Pt

    return Pt(32)          # two characters of 三号 (and a little more of 四号)


def _table(doc, headings: list[str], rows: Iterable[list[str]], widths_cm: list[float]) -> None:
    """A bordered table in 仿宋 四号 (smaller than the body, as attached tables are), its header row repeated on
    every page and no row split across pages."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    table = doc.add_table(rows=1, cols=len(headings))
    table.style = "Table Grid"
    header = table.rows[0]
    trPr = header._tr.get_or_add_trPr()
    repeat = OxmlElement("w:tblHeader")
    repeat.set(qn("w:val"), "true")
    trPr.append(repeat)
    for cell, text in zip(header.cells, headings):
        cell.paragraphs[0].paragraph_format.line_spacing = Pt(20)
        _run(cell.paragraphs[0], text, font=HEADING_FONT, size=12)
    for values in rows:
        row = table.add_row()
        cant = OxmlElement("w:cantSplit")
        cant.set(qn("w:val"), "true")
        row._tr.get_or_add_trPr().append(cant)
        for cell, text in zip(row.cells, values):
            cell.paragraphs[0].paragraph_format.line_spacing = Pt(20)
            _run(cell.paragraphs[0], str(text), size=12)
    # fixed widths in the grid and every cell: LibreOffice lays a table out by its grid, Word by its cells
    table.autofit = False
    for column, width in zip(table.columns, widths_cm):
        column.width = Cm(width)
        for cell in column.cells:
            cell.width = Cm(width)


def _date_text(cycle: str) -> str:
    year, month, day = (int(x) for x in cycle.split("-"))
    return f"{year}年{month}月{day}日"


def _issuer(plan: Plan) -> str:
    return str(plan.meta.get("issuer") or plan.meta.get("reporting_to") or "")


# ---------------------------------------------------------------------------------------------------------------
# 督办单


def notice_document(plan: Plan, notice: Notice, cycle: str, number: int):
    """One unit's 督办单: colour and number, the unit, its items (task, node, what is wrong, level), what to do by
    the next report date, the issuer and date."""
    import datetime as dt

    colour, word, meaning, rgb = NOTICE_LEVELS[notice.level]
    nxt = next_cycle(dt.date.fromisoformat(cycle), plan.report_days).isoformat()
    doc = _document(body_pt=14, line_pt=24, top_cm=2.8)
    _title(doc, f"{word}督办单", rgb)
    _para(doc, f"（{word}：{meaning}）　编号：{cycle.replace('-', '')}-{number:03d}", indent=False, align="right")
    _para(doc, f"{notice.unit.name}：", indent=False)
    counts = notice.items["light"].value_counts()
    summary = "、".join(f"{NOTICE_LEVELS[l][1]}（{NOTICE_LEVELS[l][2]}）{int(counts[l])} 项" for l in _ORDER if counts.get(l))
    _para(doc, f"根据{_date_text(cycle)}报送的《{plan.title}》任务进展台账，贵单位负责的以下事项需督办：{summary}。")
    rows = []
    for i, item in enumerate(notice.items.itertuples(), start=1):
        due = "—" if item.next_due is None or pd.isna(item.next_due) else str(item.next_due)
        rows.append([str(i), NOTICE_LEVELS[item.light][1], task_title(plan, item.key, 60), due, str(item.reason or "")])
    _table(doc, ["序号", "等级", "任务", "下一节点", "督办事由"], rows, [1.1, 1.3, 6.2, 3.0, 4.0])
    _heading(doc, "办理要求")
    asks = {"red": "逾期事项请立即推进，并说明未按期完成的原因、整改措施和预计完成时间；",
            "orange": "滞后事项请加快进度，下期台账如实填报本期新进展，不得照抄上期内容；",
            "yellow": "临近节点的事项请按时完成，完成后在台账中注明完成情况；"}
    for light in _ORDER:
        if counts.get(light):
            _para(doc, f"{NOTICE_LEVELS[light][1]}事项：{asks[light]}")
    _para(doc, f"请于下一报送日（{_date_text(nxt)}）前将办理情况随台账一并报送{plan.meta.get('reporting_to') or _issuer(plan)}。")
    return _signed(doc, plan, cycle, f"{notice.unit.name}{word}督办单（{cycle}）")


def _signed(doc, plan: Plan, cycle: str, title: str):
    """An official document's close: the issuing office and the date on the right, and the file's title and
    author."""
    doc.add_paragraph()
    _para(doc, _issuer(plan), indent=False, align="right")
    _para(doc, _date_text(cycle), indent=False, align="right")
    doc.core_properties.title = title
    doc.core_properties.author = _issuer(plan)
    return doc


def notice_file_name(notice: Notice) -> str:
    from .templates import safe_file_name

    return safe_file_name(f"{NOTICE_LEVELS[notice.level][1]}督办单-{notice.unit.name}") + ".docx"


# ---------------------------------------------------------------------------------------------------------------
# 情况通报


def bulletin_document(plan: Plan, cycle: str, submissions: pd.DataFrame, status: pd.DataFrame,
                      indicators: pd.DataFrame | None, *, red_limit: int = 8):
    """The draft 情况通报 of a cycle: title, 报送情况 (按时报送率, units late or missing), 任务推进 (red items by task,
    the units behind each; at most `red_limit` tasks named, the rest counted), 信贷指标 (the city's headline
    figures with their targets), and what comes next."""
    from .report_indicators import CITY_SCOPE, fmt_value, label

    doc = _document()
    _title(doc, f"关于《{plan.title}》双周台账报送及推进情况的通报")
    _para(doc, f"（{_date_text(cycle)}）", indent=False, align="center")
    _para(doc, "各有关单位：", indent=False)
    due = len(submissions)
    received = int(submissions["received"].sum()) if due else 0
    rate = on_time_rate(submissions)
    _para(doc, f"现将截至{_date_text(cycle)}《{plan.title}》双周台账报送及任务推进情况通报如下。")

    _heading(doc, "一、台账报送情况")
    rate_text = "—" if rate is None else f"{rate * 100:.1f}%"
    _para(doc, f"本期应报台账 {due} 份，已收到 {received} 份，按时报送率 {rate_text}。")
    missing = submissions[~submissions["received"].astype(bool)]
    late = submissions[submissions["received"].astype(bool) & (submissions["on_time"] == False)]  # noqa: E712
    for frame, what in ((missing, "未报送"), (late, "迟报")):
        if len(frame):
            names = "、".join(dict.fromkeys(
                f"{u}（{LEDGER_KIND_LABELS.get(k, k)}）" for u, k in zip(frame["unit"], frame["kind"])))
            _para(doc, f"{what}的单位（{len(frame)} 份）：{names}。")
    if not len(missing) and not len(late):
        _para(doc, "各单位均按时报送。")

    _heading(doc, "二、任务推进情况")
    items = notice_items(plan, status)
    red = items[items["light"] == "red"]
    counts = items["light"].value_counts()
    _para(doc, "按单位和任务统计：" + "，".join(f"{NOTICE_LEVELS[l][1]}督办（{NOTICE_LEVELS[l][2]}）{int(counts.get(l, 0))} 项"
                                        for l in _ORDER) + "。")
    if len(red):
        _para(doc, "逾期未完成的事项（按任务）：")
        order = {(t.list_name, t.no): i for i, t in enumerate(plan.tasks)}
        keys = sorted(dict.fromkeys(red["key"]), key=order.__getitem__)
        for i, key in enumerate(keys[:red_limit], start=1):
            units = "、".join(dict.fromkeys(red[red["key"] == key]["unit"]))
            _para(doc, f"（{i}）{task_title(plan, key, 40)}。涉及单位：{units}。")
        if len(keys) > red_limit:
            _para(doc, f"另有 {len(keys) - red_limit} 项任务存在逾期事项，详见各单位督办单。")
    else:
        _para(doc, "本期没有逾期未完成的事项。")

    if indicators is not None and len(indicators):
        city = indicators[indicators["scope"] == CITY_SCOPE]
        if len(city):
            _heading(doc, "三、信贷支持情况")
            parts = []
            for row in city.itertuples():
                text = f"{label(row.indicator)} {fmt_value(row.value, row.unit)}"
                if row.target is not None and not pd.isna(row.target):
                    text += f"（目标 {fmt_value(row.target, row.unit)}）"
                parts.append(text)
            _para(doc, "全市" + "；".join(parts) + "。")
    _heading(doc, "四、下一步工作要求" if indicators is not None and len(indicators) else "三、下一步工作要求")
    _para(doc, "请收到督办单的单位按要求办理；未报送、迟报的单位按时报送台账，如实填报进展，不得照抄上期内容。")
    return _signed(doc, plan, cycle, f"情况通报（草稿，{cycle}）")
