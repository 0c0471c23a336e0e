"""The files besides the report (consolidated.xlsx, the unit pages, next cycle's templates),
written by worker processes while the report runs; each kept when its inputs did not change.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

import pandas as pd

from . import charts
from ..core.cycles import next_cycle as _next_cycle, parse_cycle, previous_cycle
from ..core.fingerprints import code_digest, plan_digest
from ..indicators.reported_targets import clean_reported
from ..ingest.formats import LEDGER_KIND_LABELS
from ..present.feedback import (CONSOLIDATED_NAME, UNITS_DIR, FindingsByUnit, build_consolidated, feedback_units,
                                unit_label, unit_page, unit_page_name)
from ..present.analyst import ANALYST_PAGE, analyst_page
from ..present.notices import (BULLETIN_NAME, NOTICES_DIR, bulletin_document, notice_document, notice_file_name,
                               notices)
from ..present.report import esc
from ..present.templates import build_template, gc_paused, template_specs
from ..reconcile.lights import sparse_cycle
from .catalog import Catalog
from .paths import DEFAULT_PROCESSED, DEFAULT_RAW, DEFAULT_REPORTS, atomic_dir
from .run import Run, RunError, open_run, report_date, run_folders, run_plan
from .workers import _worker_folders, _worker_run, can_use_workers, chained, stop_workers, submit


def write_consolidated(run: Run) -> Path:
    """`reports/<cycle>/consolidated.xlsx` from the cycle's `task_status` and `progress` (kept as it is when it
    was built from the same inputs)."""
    if not run.catalog.exists(run.cycle, "task_status"):
        raise RunError(f"周期 {run.cycle} 尚未对照计划（缺少 task_status），请先运行 02_reconcile")
    final = run.folders.cycle_reports(run.cycle) / CONSOLIDATED_NAME
    fingerprint = output_fingerprint(run, ("task_status", "progress", "indicators"), what="consolidated")
    if run.catalog.read_json(run.cycle, "consolidated") == fingerprint and final.is_file():
        return final
    status = run.catalog.read(run.cycle, "task_status")
    progress = run.catalog.read(run.cycle, "progress")
    with gc_paused():
        wb = build_consolidated(run.plan, status, progress, run.cycle, run.catalog.read(run.cycle, "indicators"))
        path = run.catalog.save_workbook(wb, final)
    run.catalog.write_json(run.cycle, "consolidated", fingerprint)
    return path


def write_unit_pages(run: Run) -> list[Path]:
    """`reports/<cycle>/units/<official name>.html` for every unit expected to report (the folder is replaced as a
    whole, so no stale page survives)."""
    cat = run.catalog
    if not (cat.exists(run.cycle, "submissions") and cat.exists(run.cycle, "task_status")):
        raise RunError(f"周期 {run.cycle} 尚未对照计划（缺少 submissions 或 task_status），请先运行 02_reconcile")
    final = run.folders.cycle_reports(run.cycle) / UNITS_DIR
    expected = [final / unit_page_name(unit) for unit in feedback_units(run.plan)]
    fingerprint = output_fingerprint(run, ("submissions", "task_status", "findings", "indicators"), what="unit_pages")
    if cat.read_json(run.cycle, "unit_pages") == fingerprint and _exactly(final, expected):
        return expected
    submissions = cat.read(run.cycle, "submissions")
    status = cat.read(run.cycle, "task_status")
    findings = cat.read(run.cycle, "findings")
    indicators = cat.read(run.cycle, "indicators")
    names = []
    # each unit's rows split off once: a page then filters small frames (the same rows `_mine` and
    # `unit_findings` would pick out of the whole tables)
    subs_by, status_by = _by_unit(submissions), _by_unit(status)
    findings_of = FindingsByUnit(findings, submissions)
    with atomic_dir(final, run.folders) as staging, gc_paused():
        for unit in feedback_units(run.plan):
            name = unit_page_name(unit)
            subs = subs_by.get(unit.id, submissions.iloc[0:0]) if subs_by is not None else submissions
            mine = status_by.get(unit.id, status.iloc[0:0]) if status_by is not None else status
            found = findings_of.of(unit)
            html = unit_page(run.plan, unit, run.cycle, subs, mine, found, indicators)
            cat.save_text(html, staging / name)
            names.append(name)
    cat.write_json(run.cycle, "unit_pages", fingerprint)
    return [final / n for n in names]


def _by_unit(frame: pd.DataFrame | None) -> dict[str, pd.DataFrame] | None:
    """unit_id → that unit's rows (as `_mine` selects them), or None when the frame has no unit_id column."""
    if frame is None or not len(frame) or "unit_id" not in frame:
        return None
    return {unit_id: part for unit_id, part in frame.groupby("unit_id", sort=False)}


def _exactly(folder: Path, paths: list[Path]) -> bool:
    """The folder holds these files and nothing else (a kept folder must be what a rebuild would write)."""
    try:
        return folder.is_dir() and sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths) \
            and all(p.is_file() for p in paths)
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------------------------
# Links for the cycle report


def _href(relative: str) -> str:
    return esc(quote(relative, safe="/-._~"))


def links_html(run: Run, next_cycle: str | None = None) -> str:
    """An HTML block for the cycle report linking, relatively, to the files of its own folder (the consolidated
    lists, the unit pages, the 督办单, the 情况通报 draft, the analyst's page), and naming the folder of next
    cycle's templates; only files that exist are named."""
    from ..core.cycles import next_cycle as _next_cycle

    base = run.folders.cycle_reports(run.cycle)
    parts = []
    if (base / CONSOLIDATED_NAME).is_file():
        parts.append(f'<p>汇总表（报送上级用）：<a href="{_href(CONSOLIDATED_NAME)}">{esc(CONSOLIDATED_NAME)}</a>'
                     f"（{'、'.join(esc(l.name) for l in run.plan.lists)}，按官方格式，状态灯为单元格底色）</p>")
    pages = [(unit, f"{UNITS_DIR}/{unit_page_name(unit)}") for unit in feedback_units(run.plan)]
    pages = [(unit, rel) for unit, rel in pages if (base / rel).is_file()]
    if pages:
        links = "、".join(f'<a href="{_href(rel)}" title="{esc(unit.name)}">{esc(unit_label(run.plan, unit.id))}</a>'
                         for unit, rel in pages)
        parts.append(f"<p>各单位反馈页（{len(pages)} 个，可分别发给各单位）：{links}</p>")
    notices_dir = base / NOTICES_DIR
    notice_files = sorted(notices_dir.glob("*.docx")) if notices_dir.is_dir() else []
    if notice_files:
        links = "、".join(f'<a href="{_href(f"{NOTICES_DIR}/{p.name}")}">{esc(p.stem)}</a>' for p in notice_files)
        parts.append(f"<p>三色督办单（{len(notice_files)} 份，Word 文件，可修改后盖章发出）：{links}</p>")
    if (base / BULLETIN_NAME).is_file():
        parts.append(f'<p>情况通报草稿：<a href="{_href(BULLETIN_NAME)}">{esc(BULLETIN_NAME)}</a>（Word 文件，审定后印发）</p>')
    if (base / ANALYST_PAGE).is_file():
        parts.append(f'<p>分析人员工作页：<a href="{_href(ANALYST_PAGE)}">{esc(ANALYST_PAGE)}</a>'
                     "（催报名单和逐条数据质量问题，仅供内部核对）</p>")
    # named, not linked: the report is sent on its own, and a link into another cycle's folder would break
    nxt = next_cycle or _next_cycle(run.date, run.plan.report_days).isoformat()
    folder = run.folders.cycle_reports(nxt) / "templates"
    specs = [s for s in template_specs(run.plan, nxt) if (folder / s.file_name).is_file()] if folder.is_dir() else []
    if specs:
        kinds = "、".join(f"{label} {sum(s.kind == kind for s in specs)} 个" for kind, label in LEDGER_KIND_LABELS.items()
                          if any(s.kind == kind for s in specs))
        parts.append(f"<p>下期（{esc(nxt)}）填报模板 {len(specs)} 个（{esc(kinds)}），位于报告目录的 "
                     f"{esc(nxt)}/templates/ 文件夹，按单位分发。</p>")
    if not parts:
        return '<p class="muted">本期尚未生成汇总表、单位反馈页和下期模板。</p>'
    return "".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# The files shared besides the report: consolidated.xlsx, the unit pages, next cycle's templates

OUTPUTS = ("templates", "unit_pages", "consolidated", "documents", "analyst")   # the longest first
# next cycle's templates need only `progress` and `task_status`; the files of this cycle's report folder are
# left to the report notebook, so that a run failing before it leaves that folder as it was
AFTER_RECONCILE = ("templates",)
_OUTPUT_JOBS: dict[tuple[str, str, str], object] = {}    # (processed folder, cycle, output) → its job, this process


class Outputs:
    """Files besides the report being written by worker processes (`start_outputs`); `wait` returns when they
    are all written and raises what a worker raised. With one worker allowed (TAIZHANG_WORKERS=1) or a plan
    without a file, `wait` writes them here, one after the other."""

    def __init__(self, run: Run, which: tuple[str, ...]):
        self.run = run
        self.which = which
        self.jobs: list | None = None
        self.earlier: list[tuple[str, object]] = []   # jobs an earlier notebook started, still under way
        if not can_use_workers(run):
            return
        folders = _worker_folders(run)
        self.jobs = []
        for what in which:
            key = (str(run.folders.processed), run.cycle, what)
            job = _OUTPUT_JOBS.get(key)
            if job is not None and not job.done():   # never two writers of one folder at once
                self.earlier.append((what, job))
                continue
            job = _OUTPUT_JOBS[key] = submit(run, _worker_output, folders, run.cycle, what)
            self.jobs.append(job)

    def wait(self) -> None:
        """Block until the files are written."""
        if self.jobs is None:
            for what in self.which:
                write_output(self.run, what)
            return
        for job in self.jobs:
            job.result()
        for what, job in self.earlier:
            job.result()
            write_output(self.run, what)   # kept as it is when nothing changed since that job started


def start_outputs(run: Run, which: tuple[str, ...] = OUTPUTS) -> Outputs:
    """Start writing, in worker processes, consolidated.xlsx, the unit pages and next cycle's templates (each
    kept as it is when its inputs did not change); call `wait()` on the result before linking them. 02_reconcile
    starts next cycle's templates (`AFTER_RECONCILE`), so they are written while 03_indicators runs."""
    missing = [name for name in ("submissions", "task_status") if not run.catalog.exists(run.cycle, name)]
    if missing:
        raise RunError(f"周期 {run.cycle} 尚未对照计划（缺少 {'、'.join(missing)}），请先运行 02_reconcile")
    return Outputs(run, which)


def wait_unless_chained(outputs: Outputs) -> None:
    """Wait for `outputs` unless this kernel runs the whole cycle (`taizhang run`; 04_report waits for what
    02_reconcile started). A notebook run alone (papermill, JupyterLab) must not end while its workers write: its
    kernel would be shut down under them, leaving a worker's KeyboardInterrupt and no files."""
    if not chained():
        outputs.wait()


def write_output(run: Run, what: str) -> None:
    writers = {"consolidated": write_consolidated, "unit_pages": write_unit_pages,
               "templates": write_templates, "documents": write_documents, "analyst": write_analyst_page}
    writers[what](run)


def write_documents(run: Run) -> list[Path]:
    """`reports/<cycle>/督办单/<颜色>督办单-<单位>.docx` for every unit with an item, and
    `reports/<cycle>/情况通报（草稿）.docx`. Returns the paths written (the notices' folder is replaced whole)."""
    cat = run.catalog
    submissions, status = cat.read(run.cycle, "submissions"), cat.read(run.cycle, "task_status")
    indicators = cat.read(run.cycle, "indicators")
    base = run.folders.cycle_reports(run.cycle)
    written = []
    with atomic_dir(base / NOTICES_DIR, run.folders) as staging:
        for number, notice in enumerate(notices(run.plan, status), start=1):
            name = notice_file_name(notice)
            cat.save_document(notice_document(run.plan, notice, run.cycle, number), staging / name)
            written.append(base / NOTICES_DIR / name)
    bulletin = base / BULLETIN_NAME
    cat.save_document(bulletin_document(run.plan, run.cycle, submissions, status, indicators), bulletin)
    return written + [bulletin]


def write_analyst_page(run: Run) -> Path:
    """Write `reports/<cycle>/analyst.html` from the cycle's `submissions` and `findings`; the year's `files`
    tables say which ledger each unit sent last and whom to call there."""
    submissions = run.catalog.read(run.cycle, "submissions")
    findings = run.catalog.read(run.cycle, "findings")
    year_files = run.catalog.load_year("files", run.cycle,
                                       columns=["unit_id", "file", "report_date", "contact", "phone"])
    html = analyst_page(run.plan, run.cycle, submissions, findings, year_files)
    return run.catalog.save_text(html, run.folders.cycle_reports(run.cycle) / ANALYST_PAGE)


def terminal_summary(run: Run) -> list[str]:
    """Lines for the terminal after a run: what was read (files, unreadable ones with their senders), what needs
    the analyst's attention, and where each output went."""
    cat = run.catalog
    files, subs = cat.read(run.cycle, "files"), cat.read(run.cycle, "submissions")
    findings, status = cat.read(run.cycle, "findings"), cat.read(run.cycle, "task_status")
    lines = []
    if files is not None:
        unread = files[~files["used"].astype(bool) | files["kinds"].isna() | (files["kinds"].fillna("") == "")]
        lines.append(f"读取：本期 {len(files)} 个文件，{len(files) - len(unread)} 个识别为台账")
        for row in unread.head(10).itertuples():
            sender = row.unit if isinstance(row.unit, str) and row.unit else "单位未识别"
            lines.append(f"  无法读取或未识别：{row.file}（{sender}）")
        if len(unread) > 10:
            lines.append(f"  另有 {len(unread) - 10} 个，见 {ANALYST_PAGE}")
    attention = []
    if subs is not None and len(subs):
        received = subs["received"].astype(bool)
        late = int((received & (subs["on_time"] == False)).sum())  # noqa: E712
        if (~received).sum():
            attention.append(f"未报送 {int((~received).sum())} 份")
        if late:
            attention.append(f"迟报 {late} 份")
    if status is not None and len(status):
        red = int((status["light"] == "red").sum())
        if red:
            attention.append(f"红灯 {red} 项")
    if findings is not None and len(findings):
        errors = int((findings["severity"] == "error").sum())
        warnings = int((findings["severity"] == "warning").sum())
        if errors or warnings:
            attention.append(f"数据问题：错误 {errors} 条、警告 {warnings} 条")
    lines.append("需要注意：" + ("；".join(attention) + f"（明细见 {ANALYST_PAGE}）" if attention else "无"))
    base = run.folders.cycle_reports(run.cycle)
    outputs = [("报告（领导阅）", base / "report.html"), ("分析人员工作页", base / ANALYST_PAGE),
               ("汇总表（报上级）", base / CONSOLIDATED_NAME), ("单位反馈页", base / UNITS_DIR),
               ("三色督办单", base / NOTICES_DIR), ("情况通报草稿", base / BULLETIN_NAME)]
    lines.append("输出：")
    for label, path in outputs:
        if path.is_dir():
            lines.append(f"  {label}：{path}/（{sum(1 for p in path.iterdir() if p.is_file())} 个文件）")
        elif path.is_file():
            lines.append(f"  {label}：{path}")
    nxt = sorted(p for p in run.folders.reports.glob("*/templates") if p.parent.name > run.cycle)
    if nxt:
        lines.append(f"  下期填报模板：{nxt[0]}/（{sum(1 for _ in nxt[0].iterdir())} 个文件）")
    return lines


def _worker_output(folders: tuple[str, str, str], cycle: str, what: str) -> None:
    write_output(_worker_run(folders, cycle), what)


class ReportOutputs:
    """What the report notebook runs beside its sections: the files besides the report, written in worker
    processes (`start_outputs`), and the charts, kept in the processed folder and shown again when their data did
    not change (`report.keep_charts`). `finish` ends the report."""

    def __init__(self, run: Run):
        self.run = run
        self.outputs = start_outputs(run)
        self.charts = charts.keep_charts(run.folders.cycle_processed(run.cycle) / "charts", run.folders)

    def finish(self) -> str:
        """Wait for the files, end the worker processes (nothing after the report needs them), remove the kept
        charts this report did not show, and return the HTML block linking the files."""
        self.outputs.wait()
        stop_workers()
        self.charts.prune()
        return links_html(self.run)


def start_report(run: Run) -> ReportOutputs:
    """Begin the report of the run's cycle: start its files in the background and keep its charts."""
    return ReportOutputs(run)


def write_templates(run, next_cycle: str | None = None) -> list[Path]:
    """Write next cycle's templates under `reports/<next>/templates/` (the folder is replaced as a whole) and
    return their paths. Previous progress and lights come from the run cycle's processed `progress` and
    `task_status` (missing tables: templates without previous progress). When the templates already there were
    built from the same inputs (`output_fingerprint`), they are kept as they are."""
    nxt = next_cycle or _next_cycle(run.date, run.plan.report_days).isoformat()
    parse_cycle(nxt, run.plan.report_days)
    final = run.folders.cycle_reports(nxt) / "templates"
    specs = template_specs(run.plan, nxt)
    names: list[str] = []
    for spec in specs:
        name = spec.file_name
        if name in names:                             # two units whose names sanitise alike
            name = name[:-5] + f"-{spec.unit.id}.xlsx"
        names.append(name)
    paths = [final / name for name in names]
    fingerprint = output_fingerprint(run, ("progress", "task_status", "reported_targets_raw"), what="templates",
                                     next_cycle=nxt)
    if run.catalog.read_json(run.cycle, "templates") == fingerprint and final.is_dir() \
            and sorted(p.name for p in final.iterdir()) == sorted(names) and all(p.is_file() for p in paths):
        return paths
    progress = run.catalog.read(run.cycle, "progress")
    status = run.catalog.read(run.cycle, "task_status")
    # straight from what the ingest read: the templates are written before the indicators stage cleans it
    targets = clean_reported(run.catalog.read(run.cycle, "reported_targets_raw"), run.plan)[0]
    submissions = run.catalog.read(run.cycle, "submissions")
    if submissions is not None and sparse_cycle(run.plan, submissions):
        # a cycle folder with few of its ledgers would give every unit an all-red picture: templates already
        # written from a fuller one are kept, and new ones carry no lights of this cycle
        kept = sorted(final.glob("*.xlsx")) if final.is_dir() else []
        if kept:
            return kept
        progress = status = None
    # each unit's rows split off once, as for the unit pages (a template picks out the unit's rows itself)
    by_unit = [(frame, _by_unit(frame)) for frame in (progress, status, targets)]
    with atomic_dir(final, run.folders) as staging, gc_paused():
        built = {}    # kind → its last template, saved: the next unit's of a data kind is made from it
        for spec, name in zip(specs, names):
            mine = [frame if parts is None else parts.get(spec.unit.id, frame.iloc[0:0]) for frame, parts in by_unit]
            wb = built[spec.kind] = build_template(run.plan, spec.unit, spec.kind, nxt, *mine,
                                                   like=built.get(spec.kind))
            run.catalog.save_workbook(wb, staging / name)
    run.catalog.write_json(run.cycle, "templates", fingerprint)
    return paths


def output_fingerprint(run, tables: Sequence[str], **extra: Any) -> dict:
    """What a report file of the run's cycle is built from: the processed `tables` (their bytes), the plan file,
    the helpers' code and `extra`. Writers keep an existing output whose recorded fingerprint is the same, so a
    rerun in which nothing it depends on changed does not build it again."""
    files = {}
    for name in tables:
        path = run.catalog.path(run.cycle, name)
        files[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return {"tables": files, "plan": plan_digest(run.plan), "code": code_digest(), "cycle": run.cycle,
            **{k: str(v) for k, v in extra.items()}}


def open_for_next(
    next_cycle: str | None = None,
    plan: str | Path | None = None,
    raw: str | Path = DEFAULT_RAW,
    processed: str | Path = DEFAULT_PROCESSED,
    reports: str | Path = DEFAULT_REPORTS,
):
    """The run whose processed tables pre-fill the templates of `next_cycle`, and the next cycle's name.

    Without `next_cycle`: the latest raw cycle and the report date after it. With it: the report date before
    it; when that cycle has no raw folder (the first templates of the year), a run on it all the same, whose
    templates carry no previous progress. `Run.note` says when nothing can be pre-filled. Raises
    `pipeline.RunError` (one Chinese line) for a bad plan or a date that is not a report date."""
    if not next_cycle:
        run = open_run(None, plan, raw, processed, reports)
        nxt = _next_cycle(run.date, run.plan.report_days).isoformat()
    else:
        plan_obj = run_plan(plan)
        date = report_date(next_cycle, plan_obj)
        nxt = date.isoformat()
        base = previous_cycle(date, plan_obj.report_days).isoformat()
        try:
            run = open_run(base, plan, raw, processed, reports)
        except RunError:
            folders = run_folders(raw, processed, reports)
            run = Run(plan_obj, folders, base, Catalog(folders, plan_obj.report_days),
                      note=f"上期（{base}）没有原始台账，模板未预填上期进展")
    if run.note is None and not run.catalog.exists(run.cycle, "progress"):
        run = dataclasses.replace(run, note=f"上期（{run.cycle}）的台账尚未处理（请先运行 taizhang run），模板未预填上期进展")
    return run, nxt
