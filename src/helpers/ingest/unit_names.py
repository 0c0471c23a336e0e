"""Who sent a workbook: the unit a name as units write it denotes.

Names arrive as registered names (「某某银行股份有限公司某市分行」), after renamings (the plan keeps the new
names as aliases), in short forms, in a title line or a file name. Matching is by the plan's names and aliases
only (facts of a plan live in the plan file); this module adds what is true of names in general: a text that
says it is a bank (银行, 农商行, 信用社) names a bank, not the county government whose name it contains
(「某县农村商业银行股份有限公司」), and a ledger of a kind a unit never sends does not make it that unit's. What no
rule can decide the analyst decides in the corrections file, and a name that matches nothing gets a finding that
proposes the closest units and the line to add.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterable

from ..core import findings as fd
from ..plan.corrections import FOLDER as CORRECTIONS_FOLDER
from .formats import UNIT_LABEL
from ..plan.model import Plan, Unit, name_key

@dataclass(frozen=True)
class Resolution:
    unit: Unit | None
    source: str | None                  # 人工对应, 填报单位, 标题, 文件名
    findings: tuple[fd.Finding, ...] = ()


def resolve_unit(plan: Plan, file: str, metas: Iterable[dict], kinds: Iterable[str],
                 cycle: dt.date | None = None) -> Resolution:
    """The unit that sent `file`: the analyst's correction for the file, then the 填报单位 written in it, its
    title and its file name, each first against the corrections' names, then the plan's names and aliases."""
    metas = list(metas)
    kinds = tuple(kinds)
    fixes = plan.corrections
    by_file = fixes.unit_for_file(file, cycle)
    if by_file:
        unit = plan.unit(by_file)
        return Resolution(unit, "人工对应", (_manual(f"按人工对应文件，文件「{file}」对应为「{unit.name}」", file, unit),))
    stem = PurePosixPath(file).stem
    for source, texts in ((UNIT_LABEL, [m.get("unit") for m in metas]), ("标题", [m.get("title") for m in metas]),
                          ("文件名", [stem])):
        for text in texts:
            if text in (None, ""):
                continue
            text = str(text)
            fixed = fixes.unit_for_name(text)
            if fixed:
                unit = plan.unit(fixed)
                return Resolution(unit, "人工对应",
                                  (_manual(f"按人工对应文件，{source}「{text}」对应为「{unit.name}」", file, unit),))
            unit = find_sender(plan, text, kinds)
            if unit is not None:
                return Resolution(unit, source)
    return Resolution(None, None)


# a phone number: digits with the separators people type (0352-1234567, 138 1234 5678, (0352)1234567, ext. 转 12)
_PHONE = re.compile(r"\+?[0-9０-９][0-9０-９\-－—\s()（）转]{5,}[0-9０-９]")
_PHONE_WORDS = re.compile(r"(联系电话|联系方式|手机|电话)\s*[：:]?\s*$")


def contact_of(metas: Iterable[dict]) -> tuple[str | None, str | None]:
    """(联系人, 电话) a workbook gives in its label lines (`tables.read_meta`: 联系人/填报人/经办人, 联系电话/联系方式/
    电话/手机, above its header or below its data), the first sheet's that has one. A name written with its
    number (「张三 13812345678」, 「张三电话：0352-…」) is split; a number typed as a number keeps its digits."""
    name = phone = None
    for meta in metas:
        if name is None and meta.get("contact") not in (None, ""):
            name = _cell_text(meta["contact"])
        if phone is None and meta.get("phone") not in (None, ""):
            phone = _cell_text(meta["phone"])
    if name:
        number = _PHONE.search(name)
        if number:
            phone = phone or number.group(0).strip()
            name = _PHONE_WORDS.sub("", name[:number.start()]).strip(" ：:，,；;") or None
    if name and _PHONE.fullmatch(name):     # only a number where the name goes
        phone, name = phone or name, None
    return name, phone


def _cell_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return re.sub(r"\s+", " ", str(value)).strip()


def find_sender(plan: Plan, text: str, kinds: Iterable[str] = ()) -> Unit | None:
    """The unit `text` names (`Plan.find_unit_in`), the kinds of unit the plan expects to send ledgers of `kinds`
    first."""
    prefer = {plan.ledgers.get(kind, {}).get("kind") for kind in kinds} - {None}
    return plan.find_unit_in(text, prefer)


def _names(plan: Plan) -> list[tuple[str, str]]:
    return list(plan._by_name.items())


def closest_units(plan: Plan, text: str, n: int = 3) -> list[Unit]:
    """The plan's units whose names come closest to `text` (for a finding to propose)."""
    key = name_key(text)
    scored = {}
    for name, unit_id in _names(plan):
        score = difflib.SequenceMatcher(None, key, name, autojunk=False).ratio()
        if score > scored.get(unit_id, 0.0):
            scored[unit_id] = score
    ranked = sorted(scored, key=lambda u: (-scored[u], u))
    return [plan.unit(u) for u in ranked[:n] if scored[u] >= 0.3]


def unknown_unit_finding(plan: Plan, file: str, typed: str | None) -> fd.Finding:
    """The finding for a workbook whose sender no name matches: the closest units, and the line the analyst can
    add to the corrections file."""
    shown = typed or PurePosixPath(file).stem
    closest = closest_units(plan, shown)
    proposal = "、".join(f"「{u.name}」（{u.id}）" for u in closest)
    where = _corrections_file(plan)
    example = closest[0].id if closest else "单位id"
    if typed:
        line = f"units: - {{name: {typed}, unit: {example}}}"
    else:
        line = f"files: - {{file: {file}, unit: {example}}}"
    message = (f"无法确定填报单位：「{shown}」与计划中的单位及别名都不匹配"
               + (f"；最接近的单位：{proposal}" if proposal else "")
               + f"。如确为某单位所报，请在人工对应文件 {where} 中添加：{line}")
    return fd.error("unit_unknown", message, file=file)


def _corrections_file(plan: Plan) -> str:
    if plan.corrections.path is not None:
        return str(plan.corrections.path)
    if plan.path is not None:
        return f"{plan.path.parent.name}/{CORRECTIONS_FOLDER}/{plan.path.stem}.yaml"
    return f"{CORRECTIONS_FOLDER}/<计划文件名>.yaml"


def _manual(message: str, file: str, unit: Unit) -> fd.Finding:
    return fd.info("manual_mapping", message, file=file, unit=unit.name)
