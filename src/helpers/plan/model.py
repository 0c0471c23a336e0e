"""The plan as data: load a plan file, validate it, and answer questions about it.

The plan file (docs/plan-format.md) is the only place where a task number, a unit's name, a target or a
collective appears; every stage receives a `Plan` as an argument. Loading validates the whole file and reports
every problem with its place (`lists[1].tasks[4].lead[0]`), not just the first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import yaml

from .corrections import Corrections, build_corrections, corrections_path
from ..core.cycles import DEFAULT_REPORT_DAYS
from ..core.deadlines import DeadlineParse, Milestone, milestones_as_dicts, parse_deadline_detailed
from ..core.values import iso_date, label_key, name_key

if TYPE_CHECKING:
    import pandas as pd

UNIT_KINDS = ("regulator", "government", "bank", "guarantee", "county", "other")
BANK_CATEGORIES = ("国有大型银行", "股份制银行", "城市商业银行", "地方法人银行")
LEDGER_KINDS = ("task", "lending", "noloan", "guarantee")
# how a reported target's figure reads: the latest figure (level), the latest figure that may not go down
# (cumulative, a 累计 value), a count for this cycle alone summed over the target's period (per_cycle), or
# whether it is done (done: 1 = 已完成, 0 = 未完成)
TARGET_VALUES = ("level", "cumulative", "per_cycle", "done")
TARGET_PERIODS = ("quarter", "year")
ROLE_LEAD = "牵头"
ROLE_RESPONSIBLE = "责任"
REQUIRED_COLUMNS = ("no", "text", "progress")
# words that say a name is a bank's, true of Chinese institution names in general (the names themselves are the
# plan's): 「某县农村商业银行」 is a bank, never the county government whose name it contains; crediting a bank's
# ledger to the county would show both wrong. (人民银行 and 银行保险监督管理委员会 are regulators.)
NAME_KIND_WORDS = {"bank": re.compile(r"(?<!人民)银行(?!保险)|农商行|信用社|信用联社|农信社")}


# what a target not yet due is judged against (helpers.target_rules): 未到期 with the gap, 时序进度, or the full target
BEFORE_DUE_MODES = ("pending", "path", "now")

class PlanError(ValueError):
    """A plan file that cannot be used; `problems` lists every (place, message)."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]):
        self.path = path
        self.problems = problems
        first = "；".join(f"{place}: {msg}" for place, msg in problems[:3])
        more = f"（另有 {len(problems) - 3} 个问题）" if len(problems) > 3 else ""
        super().__init__(f"计划文件 {path.name} 未通过校验，共 {len(problems)} 个问题：{first}{more}")


@dataclass(frozen=True)
class Unit:
    id: str
    name: str
    kind: str
    aliases: tuple[str, ...] = ()
    category: str | None = None
    county: str | None = None
    focus: str | None = None
    area: str | None = None       # e.g. city, for government units of a provincial plan
    notes: tuple[str, ...] = ()
    replaced_by: tuple[str, ...] = ()   # the units that took over its duties (merged, renamed, split)
    replaced_on: str | None = None      # when, as the plan says it (e.g. 2018-07)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Task:
    list_name: str
    no: int
    text: str
    group: str | None
    measure: int | None
    lead: tuple[str, ...]
    units: tuple[str, ...]
    label: str | None = None
    deadline: str | None = None
    milestones: tuple[Milestone, ...] = ()
    ongoing: bool = False
    same_as: tuple[str, int] | None = None
    notes: tuple[str, ...] = ()

    @property
    def responsible(self) -> tuple[str, ...]:
        """Lead units first, then the other responsible units, each once."""
        return tuple(dict.fromkeys((*self.lead, *self.units)))

    @property
    def dated_milestones(self) -> tuple[Milestone, ...]:
        return tuple(m for m in self.milestones if m.due is not None)

    @property
    def display_no(self) -> str:
        return self.label or str(self.no)


@dataclass(frozen=True)
class TaskList:
    name: str
    columns: dict[str, str]
    tasks: tuple[Task, ...]


@dataclass(frozen=True)
class Measure:
    no: int
    numeral: str
    title: str
    text: str
    units: tuple[str, ...]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity, so per-plan caches can key on it
class Plan:
    id: str
    title: str
    year: int
    report_days: tuple[int, ...]
    units: tuple[Unit, ...]
    measures: tuple[Measure, ...]
    lists: tuple[TaskList, ...]
    ledgers: dict[str, dict[str, Any]]
    targets: tuple[dict[str, Any], ...]
    bank_plans: tuple[dict[str, Any], ...]
    collectives: dict[str, tuple[str, ...]]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    corrections: Corrections = field(default_factory=Corrections)   # the analyst's, beside the plan file

    @cached_property
    def file_digest(self) -> str | None:
        """sha256 (hex) of the plan file and its corrections file, read once per plan: what results made with this
        plan are keyed on. None for a plan built in memory."""
        if not self.path:
            return None
        digest = hashlib.sha256(self.path.read_bytes())
        if self.corrections.path is not None and self.corrections.path.is_file():
            digest.update(b"\0corrections\0" + self.corrections.path.read_bytes())
        return digest.hexdigest()

    # ----- units -----
    @cached_property
    def _by_id(self) -> dict[str, Unit]:
        return {u.id: u for u in self.units}

    @cached_property
    def _by_name(self) -> dict[str, str]:
        """Name → unit id. A replaced unit's names lead to its successor when it has exactly one, so a ledger
        still headed with the old name counts for the unit that reports in its place."""
        out = {}
        for u in self.units:
            current = self.current_units(u.id)
            for n in u.names:
                out[name_key(n)] = current[0] if len(current) == 1 else u.id
        return out

    def current_units(self, unit_id: str) -> tuple[str, ...]:
        """The units that report for `unit_id` today: itself, or its successors' (transitively) when replaced."""
        return _current_units(self._by_id, unit_id)

    def predecessors_of(self, unit_id: str) -> tuple[Unit, ...]:
        """The replaced units whose duties `unit_id` carries, directly or through a chain of replacements."""
        return tuple(u for u in self.units if u.replaced_by and unit_id in self.current_units(u.id))

    @property
    def active_units(self) -> tuple[Unit, ...]:
        """Units that still exist (not replaced): the ones that can send a ledger."""
        return tuple(u for u in self.units if not u.replaced_by)

    def unit(self, unit_id: str) -> Unit:
        return self._by_id[unit_id]

    def unit_name(self, unit_id: str) -> str:
        return self._by_id[unit_id].name if unit_id in self._by_id else unit_id

    def find_unit(self, text: str | None) -> Unit | None:
        """The unit a name or alias denotes, exactly (after normalising spaces, brackets and width)."""
        if not text:
            return None
        unit_id = self._by_name.get(name_key(text))
        return self._by_id[unit_id] if unit_id else None

    def find_unit_in(self, text: str | None, prefer_kinds: Iterable[str] = ()) -> Unit | None:
        """The unit whose longest name or alias occurs inside `text` (a file name, a title line, a registered
        name), among the units whose kind the text's own words allow: 「某县农村商业银行股份有限公司」 says it is a
        bank, so it is not 某县's government. Units of `prefer_kinds` (those that send the ledger at hand) come
        first."""
        if not text:
            return None
        exact = self.find_unit(text)
        if exact:
            return exact
        key = name_key(text)
        said = {kind for kind, words in NAME_KIND_WORDS.items() if words.search(key)}
        prefer = set(prefer_kinds)
        best: tuple[int, int, str] | None = None
        for name, unit_id in self._by_name.items():
            if len(name) < 3 or name not in key:
                continue
            kind = self._by_id[unit_id].kind
            if said and kind not in said:
                continue
            candidate = (int(not prefer or kind in prefer), len(name), unit_id)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
        return self._by_id[best[2]] if best else None

    def units_of(self, **selector: Any) -> tuple[Unit, ...]:
        """Units matching every given attribute, e.g. units_of(kind="bank", category="国有大型银行")."""
        return tuple(u for u in self.units if all(getattr(u, k, None) == v for k, v in selector.items()))

    @property
    def banks(self) -> tuple[Unit, ...]:
        return self.units_of(kind="bank")

    # ----- tasks -----
    def task_list(self, name: str) -> TaskList:
        for task_list in self.lists:
            if task_list.name == name:
                return task_list
        raise KeyError(name)

    @property
    def tasks(self) -> tuple[Task, ...]:
        return tuple(t for lst in self.lists for t in lst.tasks)

    def task(self, list_name: str, no: int) -> Task:
        for task in self.task_list(list_name).tasks:
            if task.no == no:
                return task
        raise KeyError((list_name, no))

    @cached_property
    def responsibilities(self) -> pd.DataFrame:
        """One row per unit × task: `unit_id`, `unit`, `list`, `task_no`, `role` (牵头/责任), `role_order`."""
        rows = []
        for lst_order, lst in enumerate(self.lists):
            for task in lst.tasks:
                for unit_id in task.responsible:
                    role = ROLE_LEAD if unit_id in task.lead else ROLE_RESPONSIBLE
                    rows.append(
                        {
                            "unit_id": unit_id,
                            "unit": self.unit_name(unit_id),
                            "list": lst.name,
                            "list_order": lst_order,
                            "task_no": task.no,
                            "role": role,
                            "role_order": 0 if role == ROLE_LEAD else 1,
                        }
                    )
        import pandas as pd   # here, not above: checking a run's arguments needs no pandas (`runs`)

        return pd.DataFrame(rows).astype({"task_no": "int64"})

    def expected_units(self, kind: str) -> tuple[Unit, ...]:
        """Units expected to send a ledger of `kind` every cycle, in plan order."""
        rule = self.ledgers.get(kind)
        if rule is None:
            return ()
        if rule.get("responsible"):
            ids = set(self.responsibilities["unit_id"]) if len(self.responsibilities) else set()
            return tuple(u for u in self.units if u.id in ids)
        selector = {k: v for k, v in rule.items() if k in ("kind", "category")}
        return tuple(u for u in self.units_of(**selector) if not u.replaced_by)

    def tasks_frame(self) -> pd.DataFrame:
        """One row per task with its plan columns, milestones as text, and the first and last due dates."""
        rows = []
        for lst_order, lst in enumerate(self.lists):
            for task in lst.tasks:
                dated = task.dated_milestones
                rows.append(
                    {
                        "list": lst.name,
                        "list_order": lst_order,
                        "task_no": task.no,
                        "label": task.display_no,
                        "group": task.group,
                        "measure": task.measure,
                        "text": task.text,
                        "deadline": task.deadline,
                        "milestones": "；".join(f"{m.due:%Y-%m-%d} {m.text}" for m in dated),
                        "first_due": min((m.due for m in dated), default=None),
                        "last_due": max((m.due for m in dated), default=None),
                        "ongoing": task.ongoing,
                        "lead": "、".join(self.unit_name(u) for u in task.lead),
                        "units": "、".join(self.unit_name(u) for u in task.units),
                    }
                )
        import pandas as pd

        return pd.DataFrame(rows)

    def targets_for(self, indicator: str) -> list[dict[str, Any]]:
        return [t for t in self.targets if t.get("indicator") == indicator]

    def reported_targets(self, unit_id: str | None = None) -> list[dict[str, Any]]:
        """Targets whose value units report (in the 指标 sheet), those `unit_id` reports when given."""
        return [t for t in self.targets if t["source"]["kind"] == "reported"
                and (unit_id is None or unit_id in t["source"]["reported_by"])]


class _PlanLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):   # type: ignore[misc]
    """YAML 1.2 booleans: only true/false. Under PyYAML's YAML 1.1 rules an unquoted `no:` key (the task number
    field) would be read as False. libyaml's parser where PyYAML has it: every process of a run reads the plan,
    and the pure-Python parser takes 0.4 s for it."""


_PlanLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PlanLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_plan_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_PlanLoader)


# ---------------------------------------------------------------------------------------------------------------
# Loading and validation


_LOADED: dict[tuple[str, str], Plan] = {}   # (path, file text) → the plan built from it, in this process


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; raise PlanError listing every problem with its place. A file read before
    in this process, unchanged, gives the same (immutable) Plan: each notebook of a run opens the plan again,
    and parsing and checking it costs more than a tenth of a second."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise PlanError(path, [("文件", f"找不到计划文件 {path}")]) from exc
    except IsADirectoryError as exc:
        raise PlanError(path, [("文件", f"{path} 是文件夹，不是计划文件")]) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        what = ("不是文本文件（含二进制内容），请给出 .yaml 计划文件" if b"\0" in data[:65536] else
                f"不是 UTF-8 编码（第 {exc.start + 1} 个字节起无法解码，可能另存为了 GBK/ANSI），请在编辑器中以 UTF-8 另存")
        raise PlanError(path, [("文件", what)]) from exc
    fixes = corrections_path(path)
    try:
        fixes_text = fixes.read_text(encoding="utf-8") if fixes.is_file() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(fixes, [("文件", f"人工对应文件无法读取（应为 UTF-8 文本）：{exc}")]) from exc
    key = (str(path), text, fixes_text)
    if key not in _LOADED:
        if len(_LOADED) >= 8:
            _LOADED.clear()
        plan = _build_plan(path, text)
        if fixes_text is not None:
            plan = _with_corrections(plan, fixes, fixes_text)
        _LOADED[key] = plan
    return _LOADED[key]


def _build_plan(path: Path, text: str) -> Plan:
    try:
        raw = read_plan_yaml(text)
    except yaml.YAMLError as exc:
        raise PlanError(path, [(_yaml_place(exc), f"YAML 格式错误：{getattr(exc, 'problem', exc)}")]) from exc
    checker = _Checker(path)
    plan = checker.build(raw)
    if checker.problems:
        raise PlanError(path, checker.problems)
    return plan


def _yaml_place(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark else "文件"


def _with_corrections(plan: Plan, path: Path, text: str) -> Plan:
    """The plan with the analyst's corrections file checked and attached (PlanError naming every problem)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(path, [(_yaml_place(exc), f"YAML 格式错误：{getattr(exc, 'problem', exc)}")]) from exc
    problems: list[tuple[str, str]] = []

    def resolve_unit(written: str) -> str | None:
        if written in plan._by_id:
            return written
        unit = plan.find_unit(written)
        return unit.id if unit else None

    def task_of(list_name: str, written: Any) -> int | None:
        try:
            tasks = plan.task_list(list_name).tasks
        except KeyError:
            return None
        key = label_key(str(written)) if written is not None else ""
        for task in tasks:
            if key in (str(task.no), label_key(task.display_no)):
                return task.no
        return None

    fixes = build_corrections(raw, path, lambda place, message: problems.append((place, message)), resolve_unit,
                              task_of)
    if problems:
        raise PlanError(path, problems)
    return replace(plan, corrections=fixes)


class _Checker:
    def __init__(self, path: Path):
        self.path = path
        self.problems: list[tuple[str, str]] = []

    def fail(self, place: str, message: str) -> None:
        self.problems.append((place, message))

    def mapping(self, value: Any, place: str) -> dict:
        if isinstance(value, dict):
            return value
        self.fail(place, "应为键值映射")
        return {}

    def sequence(self, value: Any, place: str) -> list:
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self.fail(place, "应为列表")
        return []

    def text(self, value: Any, place: str, required: bool = True) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(place, "不能为空")
            return None
        if not isinstance(value, (str, int, float)):
            self.fail(place, "应为文本")
            return None
        return str(value).strip()

    def date(self, value: Any, place: str) -> dt.date | None:
        if value is None:
            return None
        try:
            return iso_date(value)
        except ValueError:
            self.fail(place, f"「{value}」不是 YYYY-MM-DD 日期")
            return None

    def lending_scope(self, given: Any) -> None:
        """``plan.lending_scope``: the 口径 of 普惠型小微企业贷款 and of the household counts (indicators.lending_scope)."""
        if given is None:
            return
        if not isinstance(given, dict):
            self.fail("plan.lending_scope", "应为 inclusive_sme 和 households 两项，各含 borrower_types 与 credit_line_max")
            return
        for name, spec in given.items():
            place = f"plan.lending_scope.{name}"
            if name not in ("inclusive_sme", "households") or not isinstance(spec, dict):
                self.fail(place, "应为 inclusive_sme（普惠型小微企业贷款）或 households（首贷户、信用贷款户），"
                                 "各含 borrower_types 与 credit_line_max")
                continue
            types = spec.get("borrower_types")
            if types is not None and not (isinstance(types, list) and types
                                          and all(isinstance(t, str) and t.strip() for t in types)):
                self.fail(f"{place}.borrower_types", "应为借款人类型的列表，如 [小微企业, 个体工商户]")
            limit = spec.get("credit_line_max")
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0):
                self.fail(f"{place}.credit_line_max", "单户授信总额上限应为正数（万元），不设上限写 null")

    def build(self, raw: Any) -> Plan:
        root = self.mapping(raw, "文件")
        meta = self.mapping(root.get("plan"), "plan")
        plan_id = self.text(meta.get("id"), "plan.id") or self.path.stem
        title = self.text(meta.get("title"), "plan.title") or plan_id
        year = meta.get("year")
        if not isinstance(year, int) or not 2000 <= year <= 2100:
            self.fail("plan.year", f"计划年度「{year}」应为四位整数")
            year = 2000
        report_days = tuple(self.sequence(meta.get("report_days", list(DEFAULT_REPORT_DAYS)), "plan.report_days"))
        if not report_days or not all(isinstance(d, int) and 1 <= d <= 28 for d in report_days):
            self.fail("plan.report_days", "报送日应为 1–28 之间的整数列表")
            report_days = DEFAULT_REPORT_DAYS

        if meta.get("targets_before_due") is not None and meta["targets_before_due"] not in BEFORE_DUE_MODES:
            self.fail("plan.targets_before_due", f"应为 {'、'.join(BEFORE_DUE_MODES)} 之一")
        bands = meta.get("light_bands")
        if bands is not None:
            for kind, pair in (bands.items() if isinstance(bands, dict) else [("?", None)]):
                if kind not in ("relative", "points") or not (
                        isinstance(pair, list) and len(pair) == 2 and all(isinstance(b, (int, float)) for b in pair)
                        and 0 <= pair[0] <= pair[1]):
                    self.fail(f"plan.light_bands.{kind}", "应为 relative 或 points，各为两个递增的非负数（黄/橙、橙/红的分界）")

        self.lending_scope(meta.get("lending_scope"))

        tolerances = meta.get("tolerances")
        if tolerances is not None:
            for key, value in (tolerances.items() if isinstance(tolerances, dict) else [("?", None)]):
                if key not in ("guarantee_balance",) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                    self.fail(f"plan.tolerances.{key}", "应为 guarantee_balance: 0 到 1 之间的比例（如 0.005）")

        units = self.units(root.get("units"))
        unit_ids = {u.id for u in units}
        self.successors(units)
        collectives = self.collectives(root.get("collectives"), units)
        resolve = _Resolver(unit_ids, collectives, {u.id: u for u in units})

        measures = []
        for i, m in enumerate(self.sequence(root.get("measures"), "measures")):
            place = f"measures[{i}]"
            m = self.mapping(m, place)
            no = m.get("no")
            if not isinstance(no, int):
                self.fail(f"{place}.no", "措施编号应为整数")
                continue
            members = self.unit_refs(m.get("units"), f"{place}.units", resolve)
            measures.append(
                Measure(
                    no=no,
                    numeral=str(m.get("numeral") or no),
                    title=self.text(m.get("title"), f"{place}.title") or "",
                    text=self.text(m.get("text"), f"{place}.text") or "",
                    units=members,
                )
            )
        measure_nos = {m.no for m in measures}
        if len(measure_nos) != len(measures):
            self.fail("measures", "措施编号重复")

        lists = []
        for i, lst in enumerate(self.sequence(root.get("lists"), "lists")):
            lists.append(self.task_list(self.mapping(lst, f"lists[{i}]"), f"lists[{i}]", year, resolve, measure_nos))
        if not lists:
            self.fail("lists", "计划至少需要一个任务清单")
        names = [lst.name for lst in lists]
        if len(set(names)) != len(names):
            self.fail("lists", "清单名称重复")
        task_keys = {(lst.name, t.no) for lst in lists for t in lst.tasks}
        for i, lst in enumerate(lists):
            for j, task in enumerate(lst.tasks):
                if task.same_as and task.same_as not in task_keys:
                    self.fail(f"lists[{i}].tasks[{j}].same_as", f"指向不存在的任务 {task.same_as}")

        ledgers = self.mapping(root.get("ledgers", {"task": {"responsible": True}}), "ledgers")
        for kind, rule in ledgers.items():
            if kind not in LEDGER_KINDS:
                self.fail(f"ledgers.{kind}", f"未知台账类型，应为 {'、'.join(LEDGER_KINDS)} 之一")
            rule = self.mapping(rule, f"ledgers.{kind}")
            if rule.get("kind") is not None and rule["kind"] not in UNIT_KINDS:
                self.fail(f"ledgers.{kind}.kind", f"未知单位类型「{rule['kind']}」")

        targets = []
        for i, target in enumerate(self.sequence(root.get("targets"), "targets")):
            target = self.mapping(target, f"targets[{i}]")
            if not target.get("id") or not target.get("indicator"):
                self.fail(f"targets[{i}]", "目标须有 id 和 indicator")
            for key in ("due", "from"):
                if key in target:
                    target = {**target, key: self.date(target[key], f"targets[{i}].{key}")}
            target = {**target, "source": self.target_source(target, f"targets[{i}]", resolve)}
            if target.get("before_due") is not None and target["before_due"] not in BEFORE_DUE_MODES:
                self.fail(f"targets[{i}].before_due", f"应为 {'、'.join(BEFORE_DUE_MODES)} 之一")
            targets.append(target)
        target_ids = [t.get("id") for t in targets]
        if len(set(target_ids)) != len(target_ids):
            self.fail("targets", "目标 id 重复")

        bank_plans = []
        for i, bp in enumerate(self.sequence(root.get("bank_plans"), "bank_plans")):
            bp = self.mapping(bp, f"bank_plans[{i}]")
            if bp.get("bank") not in unit_ids:
                self.fail(f"bank_plans[{i}].bank", f"未知银行「{bp.get('bank')}」")
            if not isinstance(bp.get("annual"), (int, float)) or bp.get("annual") < 0:
                self.fail(f"bank_plans[{i}].annual", "年度计划应为非负数")
            bank_plans.append(bp)

        return Plan(
            id=plan_id,
            title=title,
            year=year,
            report_days=report_days,
            units=tuple(units),
            measures=tuple(measures),
            lists=tuple(lists),
            ledgers={k: dict(v or {}) for k, v in ledgers.items()},
            targets=tuple(targets),
            bank_plans=tuple(bank_plans),
            collectives=collectives,
            meta=meta,
            path=self.path,
        )

    def units(self, raw: Any) -> list[Unit]:
        units: list[Unit] = []
        seen_ids: set[str] = set()
        seen_names: dict[str, str] = {}
        for i, u in enumerate(self.sequence(raw, "units")):
            place = f"units[{i}]"
            u = self.mapping(u, place)
            unit_id = self.text(u.get("id"), f"{place}.id")
            name = self.text(u.get("name"), f"{place}.name")
            if not unit_id or not name:
                continue
            if not re.fullmatch(r"[a-z][a-z0-9_]*", unit_id):
                self.fail(f"{place}.id", f"单位 id「{unit_id}」应为小写字母、数字和下划线")
            if unit_id in seen_ids:
                self.fail(f"{place}.id", f"单位 id「{unit_id}」重复")
            seen_ids.add(unit_id)
            kind = u.get("kind")
            if kind not in UNIT_KINDS:
                self.fail(f"{place}.kind", f"单位类型「{kind}」应为 {'、'.join(UNIT_KINDS)} 之一")
            category = u.get("category")
            if kind == "bank" and category not in BANK_CATEGORIES:
                self.fail(f"{place}.category", f"银行类别「{category}」应为 {'、'.join(BANK_CATEGORIES)} 之一")
            if kind != "bank" and category is not None:
                self.fail(f"{place}.category", "只有银行才有类别")
            aliases = tuple(str(a).strip() for a in self.sequence(u.get("aliases"), f"{place}.aliases") if a)
            for j, n in enumerate((name, *aliases)):
                key = name_key(n)
                if key in seen_names and seen_names[key] != unit_id:
                    where = f"{place}.name" if j == 0 else f"{place}.aliases[{j - 1}]"
                    self.fail(where, f"名称「{n}」同时指向「{seen_names[key]}」和「{unit_id}」")
                seen_names[key] = unit_id
            replaced_by = u.get("replaced_by")
            if isinstance(replaced_by, str):
                replaced_by = [replaced_by]
            replaced_on = u.get("replaced_on")
            units.append(
                Unit(
                    id=unit_id,
                    name=name,
                    kind=kind,
                    aliases=aliases,
                    category=category,
                    county=u.get("county"),
                    focus=u.get("focus"),
                    area=u.get("area"),
                    notes=tuple(self.sequence(u.get("notes"), f"{place}.notes")),
                    replaced_by=tuple(str(r) for r in self.sequence(replaced_by, f"{place}.replaced_by")),
                    replaced_on=str(replaced_on) if replaced_on is not None else None,
                )
            )
        if not units:
            self.fail("units", "计划至少需要一个单位")
        return units

    def target_source(self, target: Mapping[str, Any], place: str, resolve: _Resolver) -> dict[str, Any]:
        """Where a target's value comes from: {"kind": "derived"} (computed from the lending or guarantee ledgers;
        the default) or {"kind": "reported", "reported_by": unit ids, "value": one of TARGET_VALUES}."""
        raw = target.get("source", "derived")
        if raw == "derived":
            return {"kind": "derived"}
        if not isinstance(raw, Mapping) or "reported_by" not in raw:
            self.fail(f"{place}.source", "应为 derived 或 {reported_by: [单位], value: …}")
            return {"kind": "derived"}
        units: list[str] = []
        for ref in self.sequence(raw.get("reported_by"), f"{place}.source.reported_by"):
            members = resolve(ref)
            if members is None:
                self.fail(f"{place}.source.reported_by", f"未知单位或集合「{ref}」")
            else:
                units.extend(m for m in members if m not in units)
        if not units:
            self.fail(f"{place}.source.reported_by", "报送目标须指明报送单位")
        value = raw.get("value", "level")
        if value not in TARGET_VALUES:
            self.fail(f"{place}.source.value", f"应为 {'、'.join(TARGET_VALUES)} 之一")
        if value == "per_cycle" and target.get("period") not in TARGET_PERIODS:
            self.fail(f"{place}.period", f"按期累计的目标须有 period：{'、'.join(TARGET_PERIODS)} 之一")
        return {"kind": "reported", "reported_by": tuple(units), "value": value}

    def successors(self, units: list[Unit]) -> None:
        """Every `replaced_by` names existing units, and following them never comes back to where it started."""
        by_id = {u.id: u for u in units}
        for i, u in enumerate(units):
            for j, successor in enumerate(u.replaced_by):
                if successor not in by_id:
                    self.fail(f"units[{i}].replaced_by[{j}]", f"未知单位「{successor}」")
                elif successor == u.id:
                    self.fail(f"units[{i}].replaced_by[{j}]", "单位不能由自身承接")
            if u.replaced_by and _current_units(by_id, u.id) == ():
                self.fail(f"units[{i}].replaced_by", f"单位「{u.id}」的承接关系成环，找不到现存的承接单位")

    def collectives(self, raw: Any, units: list[Unit]) -> dict[str, tuple[str, ...]]:
        ids = {u.id for u in units}
        out: dict[str, tuple[str, ...]] = {}
        for i, c in enumerate(self.sequence(raw, "collectives")):
            place = f"collectives[{i}]"
            c = self.mapping(c, place)
            name = self.text(c.get("name"), f"{place}.name")
            members = c.get("members")
            if isinstance(members, dict):
                unknown = set(members) - {"kind", "category", "county", "focus", "area"}
                if unknown:
                    self.fail(f"{place}.members", f"未知的筛选条件 {sorted(unknown)}")
                chosen = tuple(u.id for u in units if all(getattr(u, k, None) == v for k, v in members.items()))
            else:
                chosen = tuple(self.sequence(members, f"{place}.members"))
                for j, member in enumerate(chosen):
                    if member not in ids:
                        self.fail(f"{place}.members[{j}]", f"未知单位「{member}」")
            if not chosen:
                self.fail(f"{place}.members", "集合名称没有成员")
            for n in (name, *self.sequence(c.get("aliases"), f"{place}.aliases")):
                if n:
                    out[str(n)] = chosen
        return out

    def unit_refs(self, raw: Any, place: str, resolve: "_Resolver") -> tuple[str, ...]:
        out: list[str] = []
        for j, ref in enumerate(self.sequence(raw, place)):
            members = resolve(ref)
            if members is None:
                self.fail(f"{place}[{j}]", f"未知单位或集合名称「{ref}」")
                continue
            out.extend(members)
        return tuple(dict.fromkeys(out))

    def task_list(self, raw: dict, place: str, year: int, resolve: "_Resolver", measure_nos: set[int]) -> TaskList:
        name = self.text(raw.get("name"), f"{place}.name") or place
        columns = {str(k): str(v) for k, v in self.mapping(raw.get("columns"), f"{place}.columns").items()}
        for role in REQUIRED_COLUMNS:
            if role not in columns:
                self.fail(f"{place}.columns", f"缺少「{role}」列的定义")
        tasks: list[Task] = []
        seen: set[int] = set()
        for j, t in enumerate(self.sequence(raw.get("tasks"), f"{place}.tasks")):
            tplace = f"{place}.tasks[{j}]"
            t = self.mapping(t, tplace)
            no = t.get("no")
            if not isinstance(no, int) or no < 1:
                self.fail(f"{tplace}.no", f"序号「{no}」应为正整数")
                continue
            if no in seen:
                self.fail(f"{tplace}.no", f"序号 {no} 重复")
            seen.add(no)
            measure = t.get("measure")
            if measure is not None and measure not in measure_nos:
                self.fail(f"{tplace}.measure", f"措施「{measure}」不存在")
            lead = self.unit_refs(t.get("lead"), f"{tplace}.lead", resolve)
            units = tuple(u for u in self.unit_refs(t.get("units"), f"{tplace}.units", resolve) if u not in lead)
            if not lead and not units:
                self.fail(tplace, "任务没有责任单位")
            deadline = self.text(t.get("deadline"), f"{tplace}.deadline", required=False)
            found = parse_deadline_detailed(deadline, year) if deadline else DeadlineParse((), ())
            for clause in found.unparsed:
                self.fail(f"{tplace}.deadline", f"完成时限中「{clause}」无法识别为日期，未作猜测；请改写为可识别的写法"
                                                 "（如“6月末前”“次年2月前”“年底前”），并在 notes 中记下原文和理解")
            filled = t.get("deadline_interpreted", False)
            if not isinstance(filled, bool):
                self.fail(f"{tplace}.deadline_interpreted", "应为 true 或 false")
            # a 完成时限 the plan file filled in (a blank cell, taken from a neighbouring row): each of its dates is
            # an interpretation, whatever rule dated it
            parsed = tuple(replace(m, interpreted=True) if filled is True else m for m in found.milestones)
            stored = self.sequence(t.get("milestones"), f"{tplace}.milestones")
            if _normalise_milestones(stored) != _normalise_milestones(milestones_as_dicts(parsed)):
                self.fail(
                    f"{tplace}.milestones",
                    f"与完成时限「{deadline}」的解析结果不一致：解析得到 "
                    + "；".join(f"{m.text}→{m.due}" for m in parsed),
                )
            same_as = t.get("same_as")
            if same_as is not None:
                same_as = self.mapping(same_as, f"{tplace}.same_as")
                same_as = (str(same_as.get("list")), same_as.get("no"))
            ongoing = bool(t.get("ongoing", False)) or (bool(parsed) and all(m.due is None for m in parsed))
            tasks.append(
                Task(
                    list_name=name,
                    no=no,
                    label=t.get("label"),
                    text=self.text(t.get("text"), f"{tplace}.text") or "",
                    group=self.text(t.get("group"), f"{tplace}.group", required=False),
                    measure=measure,
                    lead=lead,
                    units=units,
                    deadline=deadline,
                    milestones=parsed,
                    ongoing=ongoing,
                    same_as=same_as,
                    notes=tuple(self.sequence(t.get("notes"), f"{tplace}.notes")),
                )
            )
        if not tasks:
            self.fail(f"{place}.tasks", "清单没有任务")
        return TaskList(name=name, columns=columns, tasks=tuple(tasks))


def _normalise_milestones(items: Iterable[Any]) -> list[tuple]:
    out = []
    for m in items:
        if not isinstance(m, dict):
            out.append(("?", m))
            continue
        due = m.get("due")
        if isinstance(due, str):
            try:
                due = dt.date.fromisoformat(due)
            except ValueError:
                pass
        out.append((str(m.get("text", "")).strip(), due, str(m.get("rule", "")), bool(m.get("interpreted", False))))
    return out


class _Resolver:
    """Turns a unit id or a collective name into the ids of the units that report for it today: a replaced
    unit's successors take its place in every measure and task, so no task waits for a unit that is gone."""

    def __init__(self, unit_ids: set[str], collectives: dict[str, tuple[str, ...]], by_id: dict[str, Unit]):
        self.unit_ids = unit_ids
        self.collectives = collectives
        self.by_id = by_id

    def __call__(self, ref: Any) -> tuple[str, ...] | None:
        ref = str(ref).strip()
        if ref in self.unit_ids:
            named: tuple[str, ...] | None = (ref,)
        else:
            named = self.collectives.get(ref)
        if named is None:
            return None
        return tuple(dict.fromkeys(c for unit_id in named for c in _current_units(self.by_id, unit_id)))


def _current_units(by_id: dict[str, Unit], unit_id: str, seen: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """`unit_id` itself when it still exists, else its successors' current units; () on a cycle."""
    unit = by_id.get(unit_id)
    if unit is None or not unit.replaced_by:
        return (unit_id,)
    if unit_id in seen:
        return ()
    out: list[str] = []
    for successor in unit.replaced_by:
        if successor in by_id:
            out.extend(_current_units(by_id, successor, seen | {unit_id}))
    return tuple(dict.fromkeys(out))
