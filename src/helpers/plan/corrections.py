"""The analyst's corrections: what no rule can guess, typed once by a person and applied on every rerun.

A small YAML file beside the plan, `data/plan/corrections/<plan file stem>.yaml` (outside `data/raw/`, which the
suite never writes), maps

- `units`: a name as a unit wrote it (填报单位, a title, a file name) to a unit of the plan;
- `files`: one file (of one cycle, or of any) to a unit;
- `rows`: one row of one file to a task of a list.

Each use becomes a finding 「人工对应」, so that every correction stays visible in the report. The file is checked
as the plan is (every problem with its place); it is part of the plan's digest, so editing it makes the next run
read the affected cycles again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from ..core.values import iso_date, name_key

FOLDER = "corrections"
EXAMPLE = """\
# 人工对应文件：规则无法判断时，由分析人员指定。每处使用都会在报告中列为「人工对应」。
units:                       # 台账中写的单位名称 → 计划中的单位（id 或名称）
  - {name: 某某融资担保有限公司, unit: guarantee_co}
files:                       # 某个文件 → 单位（cycle 可省略，省略时对每一期都适用）
  - {cycle: 2022-07-25, file: 附件2：重点任务清单.xlsx, unit: finance_bureau}
rows:                        # 某个文件的某一行 → 任务（task 写计划序号或显示序号，如 （八）之二）
  - {cycle: 2022-07-25, file: 附件2：重点任务清单.xlsx, sheet: Sheet1, row: 7, list: 重点清单, task: 3}
"""


@dataclass(frozen=True)
class UnitCorrection:
    unit_id: str
    name: str | None = None          # a typed name (units)
    file: str | None = None          # a file (files)
    cycle: dt.date | None = None


@dataclass(frozen=True)
class RowCorrection:
    file: str
    row: int
    list_name: str
    task_no: int
    sheet: str | None = None
    cycle: dt.date | None = None


@dataclass(frozen=True)
class Corrections:
    path: Path | None = None
    names: dict[str, str] = field(default_factory=dict)        # name_key(typed name) → unit id
    files: tuple[UnitCorrection, ...] = ()
    rows: tuple[RowCorrection, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.names or self.files or self.rows)

    def unit_for_name(self, name: str) -> str | None:
        return self.names.get(name_key(name)) if self.names else None

    def unit_for_file(self, file: str, cycle: dt.date | None) -> str | None:
        for entry in self.files:
            if _same_file(entry.file, file) and (entry.cycle is None or entry.cycle == cycle):
                return entry.unit_id
        return None

    def task_for_row(self, file: str, sheet: str, row: int, cycle: dt.date | None) -> RowCorrection | None:
        for entry in self.rows:
            if (entry.row == row and _same_file(entry.file, file) and (entry.sheet in (None, sheet))
                    and (entry.cycle is None or entry.cycle == cycle)):
                return entry
        return None


def corrections_path(plan_path: Path) -> Path:
    """Where the corrections of a plan file live: data/plan/corrections/<stem>.yaml."""
    return plan_path.parent / FOLDER / f"{plan_path.stem}.yaml"


def _same_file(written: str, file: str) -> bool:
    """A file named in the corrections: its name relative to the cycle folder, or just its file name."""
    written = written.replace("\\", "/").strip().strip("/")
    return written == file or PurePosixPath(file).name == written


def build_corrections(raw: Any, path: Path, fail: Callable[[str, str], None], resolve_unit: Callable[[str], str | None],
                      task_of: Callable[[str, Any], int | None]) -> Corrections:
    """Check a parsed corrections file; every problem is reported through `fail(place, message)`. `resolve_unit`
    turns a unit id or name into an id; `task_of(list, written)` a task number or display label into a number."""
    if raw is None:
        return Corrections(path)
    if not isinstance(raw, dict):
        fail("人工对应文件", "应为键值映射（units、files、rows）")
        return Corrections(path)
    for key in raw:
        if key not in ("units", "files", "rows"):
            fail(f"人工对应.{key}", "未知的项，应为 units、files 或 rows")

    def entries(section: str) -> list[tuple[str, dict]]:
        value = raw.get(section)
        if value is None:
            return []
        if not isinstance(value, list):
            fail(f"人工对应.{section}", "应为列表")
            return []
        out = []
        for i, item in enumerate(value):
            place = f"人工对应.{section}[{i}]"
            if not isinstance(item, dict):
                fail(place, "应为键值映射")
                continue
            out.append((place, item))
        return out

    def unit_of(place: str, item: dict) -> str | None:
        written = item.get("unit")
        if written in (None, ""):
            fail(f"{place}.unit", "缺少 unit（计划中的单位 id 或名称）")
            return None
        unit_id = resolve_unit(str(written))
        if unit_id is None:
            fail(f"{place}.unit", f"计划中没有单位「{written}」")
        return unit_id

    def cycle_of(place: str, item: dict) -> dt.date | None:
        value = item.get("cycle")
        if value in (None, ""):
            return None
        try:
            return iso_date(value)
        except ValueError:
            fail(f"{place}.cycle", f"报送周期「{value}」应写作 YYYY-MM-DD")
            return None

    def text_of(place: str, item: dict, key: str) -> str | None:
        value = item.get(key)
        if value in (None, ""):
            fail(f"{place}.{key}", f"缺少 {key}")
            return None
        return str(value).strip()

    names: dict[str, str] = {}
    for place, item in entries("units"):
        name, unit_id = text_of(place, item, "name"), unit_of(place, item)
        if name and unit_id:
            if name_key(name) in names and names[name_key(name)] != unit_id:
                fail(f"{place}.name", f"名称「{name}」已对应到另一个单位")
            names[name_key(name)] = unit_id
    files = []
    for place, item in entries("files"):
        file, unit_id, cycle = text_of(place, item, "file"), unit_of(place, item), cycle_of(place, item)
        if file and unit_id:
            files.append(UnitCorrection(unit_id, file=file, cycle=cycle))
    rows = []
    for place, item in entries("rows"):
        file, cycle = text_of(place, item, "file"), cycle_of(place, item)
        list_name = text_of(place, item, "list")
        row = item.get("row")
        if not isinstance(row, int) or isinstance(row, bool) or row < 1:
            fail(f"{place}.row", f"行号「{row}」应为正整数（Excel 中的行号）")
            row = None
        task_no = None
        if list_name:
            task_no = task_of(list_name, item.get("task"))
            if task_no is None:
                fail(f"{place}.task", f"{list_name}中没有任务「{item.get('task')}」")
        if file and row and list_name and task_no is not None:
            sheet = item.get("sheet")
            rows.append(RowCorrection(file, row, list_name, task_no, None if sheet in (None, "") else str(sheet),
                                      cycle))
    return Corrections(path, names, tuple(files), tuple(rows))
