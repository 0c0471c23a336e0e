"""`taizhang plan import | check | diff`: the plan file's own commands (kept here so `cli` only registers them).

Exit status: 0 done; 2 with Chinese lines when the plan file does not validate or a file cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..ingest.plan_import import Draft, draft_plan, draft_yaml, read_document
from ..plan.model import Plan


def add_plan_parser(sub: argparse._SubParsersAction) -> None:
    plan = sub.add_parser("plan", help="计划文件：从文件导入草稿、校验、比较两版")
    commands = plan.add_subparsers(dest="plan_command", required=True, title="计划命令", metavar="命令",
                                   help="以下之一：", parser_class=type(plan))
    imp = commands.add_parser("import", help="从通知（.docx）、清单工作簿（.xlsx/.xls）或其纯文本生成计划草稿")
    imp.add_argument("source", metavar="文件", help="通知或清单文件")
    imp.add_argument("--out", metavar="文件", required=True, help="草稿计划文件（.yaml）")
    imp.add_argument("--roster", metavar="文件", help="名册：上一版计划文件（单位、别名、集合名称）")
    imp.add_argument("--id", metavar="标识", help="新计划的 id（默认沿用名册的 id）")
    imp.add_argument("--year", metavar="年度", type=int, help="计划年度（默认取通知的成文日期）")
    imp.add_argument("--no-carry-over", action="store_true", help="不沿用名册中相同任务的人工判断（责任单位等）")
    imp.add_argument("--force", action="store_true", help="覆盖已存在的草稿")
    imp.set_defaults(func=import_cmd)
    check = commands.add_parser("check", help="校验计划文件并汇总措施、任务、里程碑、单位、目标和待复核说明")
    check.add_argument("plan_file", metavar="文件", help="计划文件")
    check.set_defaults(func=check_cmd)
    diff = commands.add_parser("diff", help="比较两版计划：任务增删、文字改动、单位改名")
    diff.add_argument("old", metavar="旧文件")
    diff.add_argument("new", metavar="新文件")
    diff.set_defaults(func=diff_cmd)


def _problems(exc) -> None:
    print(f"计划文件 {exc.path} 未通过校验，共 {len(exc.problems)} 个问题：", file=sys.stderr)
    for place, message in exc.problems:
        print(f"  {place}: {message}", file=sys.stderr)


def import_cmd(args: argparse.Namespace) -> int:
    from ..plan.model import PlanError, load_plan
    from ..ingest.plan_diff import check_summary
    pass

    source, out = Path(args.source), Path(args.out)
    if not source.is_file():
        print(f"找不到文件：{source}", file=sys.stderr)
        return 2
    if out.exists() and not args.force:
        print(f"草稿 {out} 已存在；要覆盖请加 --force", file=sys.stderr)
        return 2
    try:
        roster = load_plan(args.roster) if args.roster else None
    except PlanError as exc:
        _problems(exc)
        return 2
    try:
        import_plan(source, out, roster, plan_id=args.id, year=args.year, carry_over=not args.no_carry_over)
    except (OSError, ValueError, KeyError) as exc:
        print(f"无法读取 {source.name}：{exc}", file=sys.stderr)
        return 2
    print(f"草稿：{out}")
    try:
        print("\n".join(check_summary(out)))
    except PlanError as exc:
        _problems(exc)
        return 2
    return 0


def check_cmd(args: argparse.Namespace) -> int:
    from ..plan.model import PlanError
    from ..ingest.plan_diff import check_summary

    try:
        print("\n".join(check_summary(args.plan_file)))
    except PlanError as exc:
        _problems(exc)
        return 2
    return 0


def diff_cmd(args: argparse.Namespace) -> int:
    from ..plan.model import PlanError
    from ..ingest.plan_diff import diff_lines

    try:
        print("\n".join(diff_lines(args.old, args.new)))
    except PlanError as exc:
        _problems(exc)
        return 2
    return 0


def import_plan(source: str | Path, out: str | Path, previous: Plan | None = None, **kwargs: Any) -> Draft:
    """Read `source`, interpret it against `previous`, write the draft plan file `out`."""
    draft = draft_plan(read_document(source), previous, **kwargs)
    Path(out).write_text(draft_yaml(draft), encoding="utf-8")
    return draft
