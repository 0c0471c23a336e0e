"""`taizhang`: run a cycle's notebooks, write next cycle's templates, build the demo data.

Exit status: 0 when the cycle ran (input problems are findings in the report), 2 with one Chinese line when it
cannot run at all (no such cycle, a plan that does not validate), 1 when a notebook failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .pipeline.paths import (DEFAULT_PROCESSED, DEFAULT_RAW, DEFAULT_REPORTS, NOTEBOOKS, atomic_dir, atomic_path,
                             restore_on_failure)

KERNEL = "taizhang"
STAGES = {"01": "读取台账", "02": "对照计划", "03": "计算指标", "04": "生成报告和文件"}   # what each notebook does


class NotebookFailed(RuntimeError):
    """A notebook raised; the message is the Chinese line shown to the analyst."""


def pipeline_notebooks() -> list[Path]:
    """The numbered notebooks, in order; explore.ipynb and others without a number are not part of a run."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL if KERNEL in KernelSpecManager().find_kernel_specs() else "python3"


@contextmanager
def _kernel(name: str, warm_up: str) -> Iterator[Any]:
    """One kernel for all the cycle's notebooks: start-up and imports are paid once, not once per notebook.
    Each notebook still sets every name it uses from its own parameters cell. The kernel runs `warm_up` first."""
    from .pipeline.workers import CHAINED_ENV   # no pandas: the run's plan module is imported already

    km = _one_client_kernel_manager()(kernel_name=name)
    # the notebooks run one after another in this kernel: 02_reconcile leaves the indicators and next cycle's
    # templates to be waited for by 03_indicators and 04_report (`pipeline.workers.chained`)
    km.start_kernel(cwd=str(NOTEBOOKS), env={**os.environ, CHAINED_ENV: "1"})
    km.warm_up(warm_up)
    try:
        yield km
    finally:
        km.client().stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)


def _one_client_kernel_manager() -> type:
    """A KernelManager whose `client()` is always the same connected client. Papermill asks for a new client for
    each notebook, and a new client waits about 0.2 s for the kernel's output channel to reach it; nbclient keeps
    to the replies and outputs of its own requests, so sharing one client between notebooks run one after the
    other is safe. The client starts by having the kernel import the helpers (`warm_up`), while this process
    is still importing papermill."""
    from jupyter_client.blocking import BlockingKernelClient
    from jupyter_client.manager import KernelManager

    class OnceStartedClient(BlockingKernelClient):
        _ready = False

        def start_channels(self, *args: Any, **kwargs: Any) -> None:
            if not self.channels_running:
                super().start_channels(*args, **kwargs)

        def wait_for_ready(self, timeout: float | None = None) -> None:
            # the wait's kernel_info round trip ends with a 0.2 s poll of the output channel: once per run is
            # enough, the channels of this one client stay connected to the same live kernel between notebooks
            if self._ready and self.is_alive():
                return
            super().wait_for_ready(timeout=timeout)
            self._ready = True

    class OneClientKernelManager(KernelManager):
        def client(self, **kwargs: Any) -> Any:
            warming = self.__dict__.pop("_taizhang_warming", None)
            if warming is not None:
                warming.join()       # zmq sockets are not shared between threads
            shared = self.__dict__.get("_taizhang_client")
            if shared is None:
                self.client_factory = OnceStartedClient
                shared = self.__dict__["_taizhang_client"] = super().client(**kwargs)
                shared.start_channels()
            return shared

        def warm_up(self, code: str) -> None:
            client = self.client()
            thread = threading.Thread(target=_warm_up, args=(client, code), daemon=True)
            self.__dict__["_taizhang_warming"] = thread
            thread.start()

    return OneClientKernelManager


def _import_quietly(module: str) -> None:
    try:
        __import__(module)
    except Exception:   # noqa: BLE001 - imported again, with its error, where it is used
        pass


# What every run does first or needs later, done while the kernel would otherwise wait for this process: the
# helpers imported, the chart font registered; for a first run of the cycle, which reads much and draws every
# chart, first the worker processes started (their fork server imports the helpers while this kernel imports
# pandas: `pipeline.workers` needs none), then pyplot and the font loaded beside the first notebook's reading
# (a rerun mostly shows charts kept from the last run). `{run}`: the run's arguments, as `open_run` takes them.
WARM_UP = """
import helpers.pipeline.workers
if helpers.pipeline.workers.start_workers_for_first_run(*{run}):
    import helpers.pipeline.outputs, helpers.present.report
    helpers.present.report.prepare_charts(background=True)
else:
    import helpers.pipeline.outputs, helpers.present.report
    helpers.present.report.setup_fonts()
"""


def _run_arguments(args: argparse.Namespace) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """`open_run`'s arguments from the command line: cycle, plan, raw, processed, reports (paths made absolute)."""
    return (args.cycle or None, _absolute(args.plan), _absolute(args.raw), _absolute(args.processed),
            _absolute(args.reports))


def _warm_up_code(args: argparse.Namespace) -> str:
    return WARM_UP.format(run=repr(_run_arguments(args)))


def _warm_up(client: Any, code: str) -> None:
    """Have the kernel run `code` as soon as it is up. Nothing depends on it: a failure changes nothing."""
    try:
        client.wait_for_ready(timeout=60)
        client.execute(code, silent=True, store_history=False)
    except Exception:   # noqa: BLE001 - only a head start
        pass


class _HelpFormatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        return super().add_usage(usage, actions, groups, "用法：" if prefix is None else prefix)


class _Parser(argparse.ArgumentParser):
    """argparse in Chinese: its headings, its -h and its error messages (argparse writes them in English)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, formatter_class=_HelpFormatter, add_help=False, **kwargs)
        self._optionals.title = "选项"
        self.add_argument("-h", "--help", action="help", help="显示帮助并退出")

    def error(self, message: str):
        commands = [name for action in self._actions if isinstance(action, argparse._SubParsersAction)
                    for name in action.choices]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}：{_chinese_argparse_error(message, commands)}\n")


# argparse's messages (Python 3.11 wording, matched loosely) → Chinese; `c` is the commands' list
_ARGPARSE_ERRORS = [
    (r"argument (?:command|命令): invalid choice: '?([^' ]*)'?", lambda m, c: f"没有「{m[1]}」这个命令（可用：{c}）"),
    (r"the following arguments are required: (?:command|命令)$", lambda m, c: f"请给出命令：{c}"),
    (r"the following arguments are required: (.*)", lambda m, c: f"缺少必需的参数：{m[1]}"),
    (r"argument (\S+?)(?:/\S+)?: expected one argument", lambda m, c: f"参数 {m[1]} 后面需要一个值"),
    (r"unrecognized arguments: (.*)", lambda m, c: f"无法识别的参数：{m[1]}"),
    (r"argument (\S+?)(?:/\S+)?: invalid (.*)", lambda m, c: f"参数 {m[1]} 的值无效（{m[2]}）"),
]


def _chinese_argparse_error(message: str, commands: list[str]) -> str:
    for pattern, say in _ARGPARSE_ERRORS:
        m = re.match(pattern, message)
        if m:
            return say(m, "、".join(commands))
    return f"参数有误（{message}）"


def _add_folder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cycle", metavar="日期", help="报送日期 YYYY-MM-DD（默认：原始数据目录中最新的周期）")
    parser.add_argument("--plan", metavar="文件", help="计划文件（默认 data/plan/datong-2022.*）")
    parser.add_argument("--raw", metavar="目录", default=str(DEFAULT_RAW), help="原始台账目录（只读）")
    parser.add_argument("--processed", metavar="目录", default=str(DEFAULT_PROCESSED), help="处理结果目录")
    parser.add_argument("--reports", metavar="目录", default=str(DEFAULT_REPORTS), help="报告目录")


def _absolute(path: str | None) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else path


def _lean_imports() -> None:
    """nbformat validates notebooks with jsonschema, whose format checkers import every optional package they
    find; rfc3987_syntax (installed with JupyterLab) builds a grammar on import: 0.8 s per process for a check
    (IRI syntax) no notebook of ours needs. Without it jsonschema skips that one format."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def run_cycle(args: argparse.Namespace) -> int:
    unchanged = _unchanged_since_last_run(args)
    if unchanged is not None and unchanged[2] is not None:
        stdout, stderr = unchanged[2]
        print(f"周期 {unchanged[0].cycle}：台账、计划和程序与上次运行完全相同，沿用上次的报告和处理结果")
        print("\n".join(stdout))
        if stderr:
            print("\n".join(stderr), file=sys.stderr)
        return 0
    said: tuple[list[str], list[str]] = ([], [])
    # the kernel first: it starts up while papermill and the helpers are imported here
    with _kernel(_kernel_name(), _warm_up_code(args)) as km:
        status = _run_notebooks(args, km, said)
    if status == 0 and unchanged is not None:
        from .pipeline.unchanged import keep_record

        keep_record(unchanged[0], unchanged[1], *said)   # after the kernel (and its workers) ended
    return status


def _unchanged_since_last_run(args: argparse.Namespace) -> tuple[Any, dict, tuple[list[str], list[str]] | None] | None:
    """(run, its inputs, the last run's printed lines when nothing changed since, else None); None when the run's
    arguments do not open (the full run says why)."""
    from .pipeline.run import RunError, open_run
    from .pipeline.unchanged import run_inputs, unchanged_lines

    try:
        run = open_run(*_run_arguments(args))
    except RunError:
        return None
    inputs = run_inputs(run)
    return run, inputs, unchanged_lines(run, inputs)


def _run_notebooks(args: argparse.Namespace, km: Any, said: tuple[list[str], list[str]] = ([], [])) -> int:
    """Run the notebooks; the summary printed at the end is also added to `said` (stdout, stderr lines)."""
    _lean_imports()
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from .pipeline.run import RunError, open_run

    arguments = _run_arguments(args)
    try:
        run = open_run(*arguments)
    except RunError as exc:
        print(f"无法运行：{exc}", file=sys.stderr)
        return 2
    raw, processed, reports = arguments[2:]
    params = {"cycle": run.cycle, "plan": str(run.plan.path), "raw": raw, "processed": processed, "reports": reports}
    # nbconvert (for report.html) is imported while the kernel runs the notebooks and this process waits; the
    # helpers' report module (pandas) only with the last notebook, after the stages that need the most memory
    threading.Thread(target=_import_quietly, args=("nbconvert.exporters",), daemon=True).start()
    reports_dir = run.folders.cycle_reports(run.cycle)
    started = time.perf_counter()
    print(f"周期 {run.cycle}：计划《{run.plan.title}》，原始台账 {run.folders.cycle_raw(run.cycle)}")
    with restore_on_failure(run.folders.processed, run.folders), \
            atomic_dir(reports_dir / "notebooks", run.folders) as staging:
        notebooks = pipeline_notebooks()
        for notebook in notebooks:
            if notebook == notebooks[-1]:
                threading.Thread(target=_import_quietly, args=("helpers.present.report",), daemon=True).start()
            t0 = time.perf_counter()
            print(f"  正在运行 {notebook.stem}（{STAGES.get(notebook.stem[:2], notebook.stem)}）…", flush=True)
            try:
                # saved once at the end (or on the error), not after every cell: each save serialises and
                # validates the whole notebook, charts included
                papermill.execute_notebook(
                    str(notebook), str(staging / notebook.name), parameters=params, kernel_name=km.kernel_name,
                    cwd=str(NOTEBOOKS), progress_bar=False, log_output=False, km=km,
                    request_save_on_cell_execute=False,
                )
            except PapermillExecutionError as exc:
                kept = Path(tempfile.gettempdir()) / f"taizhang-failed-{notebook.name}"
                (staging / notebook.name).replace(kept) if (staging / notebook.name).exists() else None
                # the kernel ends first (with its worker processes, which may be writing), then the processed
                # folder is restored
                km.shutdown_kernel(now=False)
                raise NotebookFailed(f"运行失败：笔记本 {notebook.name} 出错（{exc.ename}: {exc.evalue}）；"
                                     f"已执行部分保存在 {kept}；上次的报告和处理结果保持不变") from exc
            print(f"  {notebook.name} 完成（{time.perf_counter() - t0:.1f} 秒）")
        from .pipeline.charts import render_report

        report_nb = staging / notebooks[-1].name
        with atomic_path(reports_dir / "report.html", run.folders) as tmp:
            tmp.write_text(render_report(report_nb), encoding="utf-8")
    print(f"报告：{reports_dir / 'report.html'}（共 {time.perf_counter() - started:.1f} 秒）")
    said[1].extend(_warn_if_sparse(run))
    from .pipeline.outputs import terminal_summary

    for line in terminal_summary(run):
        print(line)
        said[0].append(line)
    return 0


def _warn_if_sparse(run: Any) -> list[str]:
    """Say loudly on the terminal what the report says at its top: the cycle folder held few of the ledgers.
    Returns the lines said."""
    from .reconcile.lights import sparse_cycle

    submissions = run.catalog.read(run.cycle, "submissions")
    message = sparse_cycle(run.plan, submissions) if submissions is not None else None
    if not message:
        return []
    line = "!" * 60
    lines = [line, f"注意：{message}", line]
    print("\n".join(lines), file=sys.stderr)
    return lines


def write_templates_cmd(args: argparse.Namespace) -> int:
    from .pipeline.run import RunError
    from .pipeline.outputs import open_for_next, write_templates

    try:
        run, nxt = open_for_next(args.cycle or None, _absolute(args.plan), _absolute(args.raw),
                                 _absolute(args.processed), _absolute(args.reports))
    except RunError as exc:
        print(f"无法生成模板：{exc}", file=sys.stderr)
        return 2
    if run.note:
        print(run.note)
    paths = write_templates(run, nxt)
    print(f"下期（{nxt}）填报模板 {len(paths)} 个：{run.folders.cycle_reports(nxt) / 'templates'}")
    return 0


def build_demo(args: argparse.Namespace) -> int:
    from taizhang_demo.generator import write_demo
    from .plan.model import load_plan
    from .pipeline.paths import resolve_plan

    plan = load_plan(resolve_plan(args.plan))
    out = Path(args.out)
    written = write_demo(plan, out, force=args.force)
    print(f"演示数据：{out}（{written}）")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("papermill").setLevel(logging.ERROR)
    logging.getLogger("traitlets").setLevel(logging.ERROR)  # nbconvert's "alternative text missing" notes
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    parser = _Parser(prog="taizhang", description="台账：按周期读取各单位台账、对照计划、生成报告")
    sub = parser.add_subparsers(dest="command", required=True, title="命令", metavar="命令", help="以下之一：",
                                parser_class=_Parser)
    run = sub.add_parser("run", help="执行一个周期的全部笔记本并生成报告")
    _add_folder_options(run)
    run.set_defaults(func=run_cycle)
    templates = sub.add_parser("templates", help="生成下期各单位的填报模板（预填计划任务和上期进展）")
    _add_folder_options(templates)
    templates.set_defaults(func=write_templates_cmd)
    demo = sub.add_parser("demo", help="生成演示台账（确定性）")
    demo.add_argument("--plan", metavar="文件", help="计划文件")
    demo.add_argument("--out", metavar="目录", default="data/demo/raw", help="演示台账输出目录")
    demo.add_argument("--force", action="store_true", help="即使已存在也重新生成")
    demo.set_defaults(func=build_demo)
    from .pipeline.plan_commands import add_plan_parser   # `taizhang plan import|check|diff`

    add_plan_parser(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NotebookFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("已中断", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
