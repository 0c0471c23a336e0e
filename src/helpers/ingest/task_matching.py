"""Which plan task a progress row reports on, as units really write it.

Units renumber (`3.`, `3、`, `３`, `第3项`, `（三）`, `三`, `十一`, or the plan's own display label such as
`（八）之二`), abbreviate the task text (its first clause, a key phrase, the item's short title, 「（三）健全…」),
and add or drop columns (工作要求/工作事项, 牵头单位). A row is matched on all the evidence it carries: the
number, the text, the group label and the lead unit, and the unit's own responsibilities break ties. A correct
number with a shortened text is a match, not a mismatch; a row that still matches nothing keeps the closest
candidates, so that the analyst can see what the unit meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..plan.model import Plan, Task
from ..core.values import label_key, similarity, text_key

TEXT_MATCH_EDITED = 0.6     # below this a row's text is not the plan task's text at all
ABBREVIATION_MIN = 4        # a shortened text must keep at least this many characters of the task's key
NUMBER_AGREES = 0.45        # a row's text this close to its numbered task confirms the number
MARGIN = 0.08               # a match by text alone must beat the runner-up by this much

_DIGITS = "零〇一二三四五六七八九"
_CN_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_LEADING_LABEL = re.compile(r"^\s*([（(]?[一二三四五六七八九十]+[）)](?:之[一二三四五六七八九十]+)?|\d+[.、．])\s*")


@dataclass(frozen=True)
class Match:
    task_no: int | None
    kind: str                       # exact, by_no, abbreviated, edited, by_text, by_evidence, unmatched
    score: float
    candidates: tuple[tuple[int, float], ...] = ()   # closest tasks for an unmatched row: (task no, score)


def chinese_number(text: str) -> int | None:
    """一 … 九十九 as an int (十一 = 11, 二十 = 20, 二十三 = 23); None for anything else."""
    if not text or any(c not in _CN_DIGIT and c != "十" for c in text):
        return None
    if "十" not in text:
        return _CN_DIGIT[text] if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return None
    return (_CN_DIGIT[tens] if tens else 1) * 10 + (_CN_DIGIT[ones] if ones else 0)


def number_candidates(raw: Any, labels: dict[str, int]) -> tuple[int, ...]:
    """The task numbers a written 序号 can mean: the plan's display label it spells, and the number it writes
    (arabic or Chinese). Both are kept when they differ (Shanxi numbers its rows 1–17 but shows （一）…（十三）),
    and the text decides."""
    if raw is None:
        return ()
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return (int(raw),) if float(raw).is_integer() else ()
    key = label_key(str(raw))
    if not key:
        return ()
    out: list[int] = []
    if key in labels:
        out.append(labels[key])
    if key.isdigit():
        out.append(int(key))
    else:
        value = chinese_number(key)
        if value is not None and not labels_are_chinese(labels):
            out.append(value)
    return tuple(dict.fromkeys(out))


def labels_are_chinese(labels: dict[str, int]) -> bool:
    """Whether a list shows Chinese labels of its own (then 三 means the label 三, not row 3)."""
    return any(not k.isdigit() for k in labels)


def split_leading_label(text: str | None) -> tuple[str | None, str | None]:
    """「（三）健全…」 → ("（三）", "健全…"); a text without a leading label is returned as it is."""
    if not text:
        return None, text
    m = _LEADING_LABEL.match(text)
    if not m or len(text) <= m.end():
        return None, text
    return m.group(1), text[m.end():]


class TaskMatcher:
    """Matches rows of one task list of a plan; built once per plan and list."""

    def __init__(self, plan: Plan, list_name: str):
        self.list_name = list_name
        self.tasks: dict[int, Task] = {t.no: t for t in plan.task_list(list_name).tasks}
        self.keys = {no: text_key(t.text) for no, t in self.tasks.items()}
        self.group_keys = {no: text_key(t.group) for no, t in self.tasks.items()}
        self.labels: dict[str, int] = {}
        for no, task in self.tasks.items():
            self.labels.setdefault(label_key(task.display_no), no)
        self.lead_names = {no: tuple(text_key(n) for uid in t.lead for n in _unit_names(plan, uid))
                           for no, t in self.tasks.items()}
        self._decided: dict[tuple, Match] = {}

    # ----- scores -----
    def text_score(self, key: str, no: int) -> float:
        """How well a row's text key fits a task: the whole text alike, a shortened text contained in it (first
        clause, key phrase), or the item's short title."""
        task_key = self.keys[no]
        if not key:
            return 0.0
        if key == task_key:
            return 1.0
        best = similarity(key, task_key)
        if len(key) >= ABBREVIATION_MIN and key in task_key:
            best = max(best, 0.9)
        elif len(key) >= ABBREVIATION_MIN:
            best = max(best, 0.85 * _coverage(key, task_key))
        group = self.group_keys[no]
        if group and len(key) >= ABBREVIATION_MIN and (key == group or (key in group and len(key) >= len(group) - 2)):
            best = max(best, 0.85)
        return best

    def evidence(self, no: int, group_key: str, lead_key: str) -> float:
        """Agreement of the row's 工作要求/工作事项 and 牵头单位 cells with a task (0 when the row has none)."""
        score = 0.0
        group = self.group_keys[no]
        if group_key and group:
            score += 0.5 * max(similarity(group_key, group), 1.0 if (group_key in group or group in group_key) else 0)
        if lead_key and self.lead_names[no]:
            if any(name and (name in lead_key or lead_key in name) for name in self.lead_names[no]):
                score += 0.5
        return score

    # ----- the decision -----
    def match(self, raw_no: Any, text: str | None, group: str | None = None, lead: str | None = None,
              responsible: frozenset[int] = frozenset()) -> Match:
        label, rest = split_leading_label(text)
        if raw_no is None and label is not None:
            raw_no, text = label, rest
        elif label is not None and label_key(label) == label_key(str(raw_no)):
            text = rest
        key = text_key(text) if text else ""
        numbered = [no for no in number_candidates(raw_no, self.labels) if no in self.tasks]
        group_key = text_key(group) if group else ""
        lead_key = text_key(lead) if lead else ""

        if not key:
            if numbered:
                return Match(numbered[0], "by_no", 0.0)
            return self._by_evidence(group_key, lead_key, responsible)
        for no in numbered:                       # the common case: number and text as in the plan
            if key == self.keys[no]:
                return Match(no, "exact", 1.0)
        memo = (key, tuple(numbered), group_key, lead_key, responsible)
        found = self._decided.get(memo)
        if found is None:
            if len(self._decided) > 50_000:
                self._decided.clear()
            found = self._decided[memo] = self._decide(key, numbered, group_key, lead_key, responsible)
        return found

    def _decide(self, key: str, numbered: list[int], group_key: str, lead_key: str, responsible: frozenset[int]
                ) -> Match:
        """`match` for a text that is not its numbered task's own: weigh every task (remembered per matcher,
        since units send the same shortened texts cycle after cycle)."""
        scores = {no: self.text_score(key, no) for no in self.tasks}
        ranked = sorted(scores, key=lambda no: (-scores[no], no not in responsible, no))
        best = ranked[0]
        runner_up = scores[ranked[1]] if len(ranked) > 1 else 0.0
        for no in sorted(numbered, key=lambda n: -scores[n]):
            own = scores[no]
            if own == 1.0:
                return Match(no, "exact", 1.0)
            # the number holds when its task's text fits about as well as any other's; a weaker fit holds only
            # when the row's group or lead agrees and no other task's text fits clearly
            supported = (self.evidence(no, group_key, lead_key) >= 0.5 and own >= NUMBER_AGREES - 0.15
                         and scores[best] < TEXT_MATCH_EDITED)
            if own >= NUMBER_AGREES and own >= scores[best] - 0.05 or supported:
                kind = "abbreviated" if _is_abbreviation(key, self.keys[no], self.group_keys[no]) else "edited"
                return Match(no, kind, own)
        if scores[best] >= TEXT_MATCH_EDITED and scores[best] - runner_up >= MARGIN:
            return Match(best, "by_text", scores[best])
        # close calls: the group and lead columns, then the unit's own tasks, decide among the near-best
        near = [no for no in ranked if scores[no] >= max(TEXT_MATCH_EDITED, scores[best] - MARGIN)]
        if near:
            weighed = sorted(near, key=lambda no: (-(scores[no] + self.evidence(no, group_key, lead_key)
                                                      + (0.1 if no in responsible else 0.0)), no))
            top = weighed[0]
            top_total = scores[top] + self.evidence(top, group_key, lead_key) + (0.1 if top in responsible else 0.0)
            second = weighed[1] if len(weighed) > 1 else None
            second_total = (scores[second] + self.evidence(second, group_key, lead_key)
                            + (0.1 if second in responsible else 0.0)) if second is not None else 0.0
            if top_total - second_total >= MARGIN:
                return Match(top, "by_evidence", scores[top])
        return Match(None, "unmatched", scores[best], tuple((no, round(scores[no], 2)) for no in ranked[:3]))

    def _by_evidence(self, group_key: str, lead_key: str, responsible: frozenset[int]) -> Match:
        if not group_key:
            return Match(None, "unmatched", 0.0)
        weighed = sorted(self.tasks, key=lambda no: (-self.evidence(no, group_key, lead_key), no not in responsible, no))
        fitting = [no for no in weighed if self.evidence(no, group_key, lead_key) >= 0.5]
        # a group label names a task only when it names one task (of the unit's own, when it has several)
        own = [no for no in fitting if no in responsible] or fitting
        if len(own) == 1:
            return Match(own[0], "by_evidence", 0.0)
        return Match(None, "unmatched", 0.0, tuple((no, 0.0) for no in own[:3]))


def _unit_names(plan: Plan, unit_id: str) -> tuple[str, ...]:
    try:
        return plan.unit(unit_id).names
    except KeyError:
        return (unit_id,)


def _coverage(key: str, task_key: str) -> float:
    """Share of the row's character pairs found in the task's text: high for a phrase put together from the
    task's own words (「建立无贷户名单并推送」), low for another task's words."""
    pairs = [key[i:i + 2] for i in range(len(key) - 1)]
    if not pairs:
        return 0.0
    return sum(1 for p in pairs if p in task_key) / len(pairs)


def _is_abbreviation(key: str, task_key: str, group_key: str) -> bool:
    return len(key) >= ABBREVIATION_MIN and (key in task_key or (bool(group_key) and key in group_key))
