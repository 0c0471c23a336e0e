"""Reviewing plan files: `taizhang plan check` (a short Chinese summary to hold against the document) and
`taizhang plan diff OLD NEW` (what a revised notice changed: tasks added, removed, reworded, units renamed)."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from ..plan.model import Plan, load_plan, read_plan_yaml
from .plan_import import open_notes
from ..core.values import name_key


def check_summary(path: str | Path) -> list[str]:
    """Load (validate) a plan file and describe it in a few Chinese lines; raises PlanError like loading."""
    plan = load_plan(path)
    raw = read_plan_yaml(Path(path).read_text(encoding="utf-8"))
    tasks = plan.tasks
    dated = sum(len(t.dated_milestones) for t in tasks)
    replaced = [u for u in plan.units if u.replaced_by]
    reporting = {u for t in tasks for u in t.responsible}
    lines = [
        f"计划「{plan.title}」（{plan.id}，{plan.year}年度）通过校验。",
        f"措施 {len(plan.measures)} 条；清单 {len(plan.lists)} 张："
        + "、".join(f"{lst.name} {len(lst.tasks)} 项" for lst in plan.lists) + f"，共 {len(tasks)} 项任务。",
        f"里程碑 {sum(len(t.milestones) for t in tasks)} 个（有日期 {dated} 个），持续推进的任务 "
        f"{sum(1 for t in tasks if t.ongoing)} 项。",
        f"单位 {len(plan.units)} 个（须报送任务台账 {len(reporting)} 个，已由其他单位承接 {len(replaced)} 个），"
        f"集合名称 {len(raw.get('collectives') or [])} 个。",
        f"量化目标 {len(plan.targets)} 个，银行年度计划 {len(plan.bank_plans)} 条。",
    ]
    notes = open_notes(raw)
    lines.append(f"待复核的说明 {len(notes)} 条" + ("：" if notes else "。"))
    lines.extend(f"  {place}: {note}" for place, note in notes)
    return lines


@dataclass(frozen=True)
class Change:
    kind: str          # added | removed | reworded | moved | units | renamed | unit_added | unit_removed
    place: str
    text: str


def _similar(a: str, b: str) -> float:
    return SequenceMatcher(None, name_key(a), name_key(b), autojunk=False).ratio()


def diff_plans(old: Plan, new: Plan) -> list[Change]:
    """Tasks matched by list and wording (a task renumbered keeps its identity), then by list and number."""
    changes: list[Change] = []
    renamed = _renamed_units(old, new)
    old_to_new = {o.id: n.id for o, n in renamed}
    for o, n in renamed:
        changes.append(Change("renamed", f"units.{n.id}", f"单位改名：{o.name} → {n.name}"))
    matched_new = {u.id for _, u in renamed}
    for u in new.units:
        if not old._by_id.get(u.id) and u.id not in matched_new:
            changes.append(Change("unit_added", f"units.{u.id}", f"新增单位：{u.name}"))
    for u in old.units:
        if u.id not in new._by_id and u.id not in old_to_new:
            changes.append(Change("unit_removed", f"units.{u.id}", f"删去单位：{u.name}"))

    for lst_name in dict.fromkeys([lst.name for lst in old.lists] + [lst.name for lst in new.lists]):
        old_tasks = list(old.task_list(lst_name).tasks) if lst_name in {x.name for x in old.lists} else []
        new_tasks = list(new.task_list(lst_name).tasks) if lst_name in {x.name for x in new.lists} else []
        pairs, left, right = _match_tasks(old_tasks, new_tasks)
        for t in right:
            changes.append(Change("added", f"{lst_name}第{t.display_no}项", f"新增任务：{t.text}"))
        for t in left:
            changes.append(Change("removed", f"{lst_name}第{t.display_no}项", f"删去任务：{t.text}"))
        for o, n in pairs:
            place = f"{lst_name}第{n.display_no}项"
            if o.display_no != n.display_no:     # a row that only moved up keeps its label: not a change to read
                changes.append(Change("moved", place, f"序号由 {o.display_no} 改为 {n.display_no}"))
            if name_key(o.text) != name_key(n.text):
                changes.append(Change("reworded", place, f"任务文字改动：「{o.text}」→「{n.text}」"))
            if o.group != n.group:
                changes.append(Change("reworded", place, f"工作要求改动：「{o.group}」→「{n.group}」"))
            if o.deadline != n.deadline:
                changes.append(Change("reworded", place, f"完成时限改动：「{o.deadline or '无'}」→「{n.deadline or '无'}」"))
            before = tuple(old_to_new.get(u, u) for u in o.responsible)
            if set(before) != set(n.responsible):
                gone = [old.unit_name(u) for u in o.responsible if old_to_new.get(u, u) not in n.responsible]
                came = [new.unit_name(u) for u in n.responsible if u not in before]
                text = "；".join(x for x in (f"减少 {'、'.join(gone)}" if gone else "",
                                             f"增加 {'、'.join(came)}" if came else "") if x)
                changes.append(Change("units", place, f"责任单位变化：{text}"))
            elif before[:len(n.lead)] != n.lead:
                changes.append(Change("units", place, "牵头单位改为 " + "、".join(new.unit_name(u) for u in n.lead)))
    return changes


def _renamed_units(old: Plan, new: Plan) -> list[tuple]:
    """Units of the old plan found in the new one under another id or name: the same id with a new name, or a
    new unit that lists an old name among its aliases."""
    out = []
    for o in old.units:
        n = new._by_id.get(o.id)
        if n is not None:
            if n.name != o.name:
                out.append((o, n))
            continue
        keys = {name_key(x) for x in o.names}
        for cand in new.units:
            if cand.id not in old._by_id and keys & {name_key(x) for x in cand.names}:
                out.append((o, cand))
                break
    return out


def _match_tasks(old: list, new: list) -> tuple[list[tuple], list, list]:
    pairs = []
    left, right = list(old), list(new)
    for threshold in (0.999, 0.6):
        for n in list(right):
            best = max(left, key=lambda o: (_similar(o.text, n.text), o.no == n.no), default=None)
            if best is not None and _similar(best.text, n.text) >= threshold:
                pairs.append((best, n))
                left.remove(best)
                right.remove(n)
    for n in list(right):                     # rewritten beyond recognition but in the same place
        same_no = next((o for o in left if o.no == n.no and o.group == n.group), None)
        if same_no is not None:
            pairs.append((same_no, n))
            left.remove(same_no)
            right.remove(n)
    pairs.sort(key=lambda p: p[1].no)
    return pairs, left, right


def diff_lines(old_path: str | Path, new_path: str | Path) -> list[str]:
    old, new = load_plan(old_path), load_plan(new_path)
    changes = diff_plans(old, new)
    counts = {k: sum(1 for c in changes if c.kind == k) for k in ("added", "removed", "reworded", "units", "renamed")}
    head = (f"{Path(old_path).name} → {Path(new_path).name}：新增任务 {counts['added']} 项，删去 {counts['removed']} 项，"
            f"文字改动 {counts['reworded']} 处，责任单位变化 {counts['units']} 处，单位改名 {counts['renamed']} 个。")
    if not changes:
        return [head, "两份计划的任务和单位没有差别。"]
    return [head] + [f"  {c.place}：{c.text}" for c in changes]
