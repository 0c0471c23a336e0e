"""How a task is named where units and leaders read it: a 全面清单 task and its 重点清单 twin (`same_as`) as one
item, under one key and one title. Shared by the report, the 督办单 and the 情况通报."""

from __future__ import annotations

from ..plan.model import Plan, Task


def task_key(plan: Plan, list_name: str, no: int) -> tuple[str, int]:
    """The one key of a task and its twin in another list: the twin that names the other (`same_as`, the
    重点清单 task with the dated milestones), else the task itself."""
    for other in plan.tasks:
        if other.same_as == (list_name, int(no)):
            return other.list_name, other.no
    return list_name, int(no)


def task_title(plan: Plan, key: tuple[str, int], limit: int | None = None) -> str:
    """「重点清单第 1 项（全面清单第 8 项）：text」, the text cut to `limit` characters."""
    task: Task = plan.task(*key)
    name = f"{task.list_name}第 {task.display_no} 项"
    if task.same_as:
        twin = plan.task(*task.same_as)
        name += f"（{twin.list_name}第 {twin.display_no} 项）"
    text = task.text.rstrip("。；;. ")
    text = text if limit is None or len(text) <= limit else text[: limit - 1] + "…"
    return f"{name}：{text}"
