"""The cycle's stages as calls a notebook makes: set up a run, ingest the year's raw cycles, reconcile.

Each stage reads what earlier stages wrote through the `Catalog` and writes its own tables, so a notebook
can be rerun on its own and the notebooks can run in separate kernels (Papermill).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pickle
import sys
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import pandas as pd
import pyarrow.parquet as pq

from . import findings as fd
from . import (analyst, feedback, guarantee, ledgers, lending, notices, reconcile, report, reported_targets, sources,
               templates)
from .catalog import Catalog
from .fingerprints import code_digest, file_sha256, plan_digest
from .workcalendar import calendar_digest
from .paths import DEFAULT_PROCESSED, DEFAULT_RAW, Folders, KeptFiles
from .plan import Plan, load_plan
from .runs import DEMO_PROCESSED, DEMO_RAW, Run, RunError, open_run  # noqa: F401 - the notebooks' entry points


# ---------------------------------------------------------------------------------------------------------------
# Ingest


def ingest(run: Run) -> pd.DataFrame:
    """Ingest every raw cycle of the year up to this one whose files, the plan or the helpers' code changed since
    it was last ingested (so a user who skipped a cycle still gets year-to-date figures, and one who upgraded the
    suite gets the new code's tables). Returns one row per cycle: what was done.

    When there is much to read (a first run on a year of ledgers), the workbooks are read by worker processes
    (`submit`) while this one combines and writes each cycle in turn."""
    rows = []
    todo = []
    for cycle in run.catalog.year_cycles(run.cycle):
        cycle_dir = run.folders.cycle_raw(cycle)
        paths, listing_findings = sources.list_cycle_files(cycle_dir)
        digests = {sources.relative_name(p, cycle_dir): file_sha256(p) for p in paths}
        fingerprint = {
            "code": code_digest(),
            "plan": plan_digest(run.plan),
            "files": digests,
        }
        manifest = run.catalog.read_json(cycle, "ingest")
        if manifest == fingerprint and run.catalog.exists(cycle, "files"):
            rows.append({"cycle": cycle, "files": len(paths), "action": "未变化，沿用上次结果"})
            continue
        todo.append((cycle, paths, listing_findings, digests, fingerprint))
        rows.append({"cycle": cycle, "files": len(paths), "action": "已读取"})
    # the cycle with the most to read first: this process combines and writes it while the workers read the
    # others, instead of after every read has finished
    todo.sort(key=lambda item: -sum(p.stat().st_size for p in item[1]))
    with _Readers(run, todo) as readers:
        for cycle, paths, listing_findings, digests, fingerprint in todo:
            ingest_cycle(run, cycle, paths, listing_findings, digests, readers=readers)
            run.catalog.write_json(cycle, "ingest", fingerprint)
    _give_back_memory()
    return pd.DataFrame(rows, columns=["cycle", "files", "action"])


def ingest_cycle(run: Run, cycle: str, paths: list[Path], listing_findings: list[fd.Finding],
                 digests: dict[str, str] | None = None, readers: _Readers | None = None) -> ledgers.CycleLedgers:
    """Read one cycle's workbooks and write `files`, `progress` and the lending/no-loan/guarantee tables.

    A workbook that took a while to read is kept, as read, in `processed/<cycle>/workbooks/` under a key of its
    content, name, the plan and the suite's code: when one unit resends its file, only that file is read again.
    `digests`: relative name → sha256 of each file, when the caller has them already."""
    read = readers.ledgers(cycle) if readers is not None and readers.has(cycle) else \
        _read_cycle(run, cycle, paths, digests)
    combined = ledgers.combine(read, run.plan, dt.date.fromisoformat(cycle))
    run.catalog.write(cycle, "files", combined.files)
    progress = combined.tables.get("progress")
    if progress is None:
        progress = pd.DataFrame(columns=ledgers.PROGRESS_COLUMNS)
    run.catalog.write(cycle, "progress", progress)
    for name in ledgers.TABLE_NAMES.values():
        frame = combined.tables.get(name)
        if frame is not None:
            run.catalog.write(cycle, f"{name}_raw", frame)
        elif run.catalog.exists(cycle, f"{name}_raw"):
            run.catalog.path(cycle, f"{name}_raw").unlink()
    run.catalog.write_findings(cycle, "ingest", [*listing_findings, *combined.findings])
    return combined


CACHE_MIN_SECONDS = 0.05    # workbooks read faster than this are read again rather than kept
WORKERS = 2                 # worker processes shared by the stages (TAIZHANG_WORKERS overrides; 1: none)
PARALLEL_MIN_WORK = 8 * 2**20   # bytes to read (+ 32 KiB per file) before worker processes pay off


def _read_cycle(run: Run, cycle: str, paths: list[Path], digests: dict[str, str] | None) -> list:
    """The cycle's workbooks read one by one here, each from the cache when it is there."""
    cycle_dir = run.folders.cycle_raw(cycle)
    cache = WorkbookCache(run, cycle)
    read = []
    for p in paths:
        name = sources.relative_name(p, cycle_dir)
        key = cache.key(name, (digests or {}).get(name) or file_sha256(p))
        ledger = cache.get(key)
        if ledger is None:
            started = time.perf_counter()
            ledger = ledgers.read_ledger(sources.read_workbook(p, root=cycle_dir), run.plan,
                                         dt.date.fromisoformat(cycle))
            if time.perf_counter() - started >= CACHE_MIN_SECONDS:
                cache.put(key, ledger)
        read.append(ledger)
    cache.files.prune()
    return read


class _Readers:
    """Worker processes that read the workbooks of the cycles to ingest, all submitted at once (so reading runs
    ahead while this process combines and writes), or nothing when there is too little to read to pay for
    starting them (then `has` is False and the cycle is read in this process)."""

    def __init__(self, run: Run, todo: list[tuple]):
        self.run = run
        self.jobs: dict[str, list] = {}
        self.caches: dict[str, WorkbookCache] = {}
        self.todo = todo
        work = sum(p.stat().st_size + 32 * 1024 for _, paths, *_ in todo for p in paths)
        self.parallel = bool(todo) and work >= PARALLEL_MIN_WORK and can_use_workers(run)

    def __enter__(self) -> Self:
        if self.parallel:
            self._submit()
        return self

    def _submit(self) -> None:
        folders = _worker_folders(self.run)
        for cycle, paths, _, digests, _ in self.todo:
            cycle_dir = self.run.folders.cycle_raw(cycle)
            cache = self.caches[cycle] = WorkbookCache(self.run, cycle)
            jobs = []
            for p in paths:
                name = sources.relative_name(p, cycle_dir)
                key = cache.key(name, digests.get(name) or file_sha256(p))
                if cache.files.has(key):
                    jobs.append(("cached", key))
                    continue
                jobs.append(("read", key, submit(self.run, _worker_read, folders, cycle, str(p), key)))
            self.jobs[cycle] = jobs

    def has(self, cycle: str) -> bool:
        return cycle in self.jobs

    def ledgers(self, cycle: str) -> list:
        cache = self.caches[cycle]
        read = []
        for job in self.jobs.pop(cycle):
            if job[0] == "cached":
                ledger = cache.get(job[1])
                if ledger is None:
                    raise RuntimeError(f"缓存的工作簿读取结果丢失：{job[1]}")
            else:
                data, kept = job[2].result()
                ledger = pickle.loads(data)
                if kept:
                    cache.files.keep(job[1])
            read.append(ledger)
        cache.files.prune()
        return read

    def __exit__(self, *exc) -> None:
        # after a failure: the remaining reads are not needed, and those under way finish before the caller goes
        # on (they write into the processed folder, which a failed run restores)
        from concurrent.futures import wait

        running = [job[2] for jobs in self.jobs.values() for job in jobs if job[0] == "read" and not job[2].cancel()]
        wait(running)


# ---------------------------------------------------------------------------------------------------------------
# Worker processes, shared by the stages

_POOL = None       # concurrent.futures.ProcessPoolExecutor, started on first use


def worker_count() -> int:
    """Worker processes allowed: WORKERS, or TAIZHANG_WORKERS (1: everything in this process), at most the CPUs."""
    return max(1, min(int(os.environ.get("TAIZHANG_WORKERS", WORKERS) or 1), os.cpu_count() or 1))


def can_use_workers(run: Run) -> bool:
    """Workers load the plan from its file, so a plan built in memory stays in this process."""
    return worker_count() >= 2 and getattr(run.plan, "path", None) is not None


def submit(run: Run, fn, *args):
    """`fn(*args)` in a worker process, given the run's plan (`_worker_plan`). The processes are started on first
    use (or by `start_workers`) and kept for the stages that follow (each start costs about a second of
    imports), until `stop_workers`."""
    return _submit(_in_worker, str(run.plan.path), fn, args)


def start_workers() -> None:
    """Start the worker processes now, so that the first stage needing them finds them ready (`taizhang run` has
    the kernel do this while it is otherwise waiting). Nothing when only one process is allowed."""
    if worker_count() >= 2:
        for _ in range(worker_count()):    # each task submitted to a busy pool starts one more process
            _submit(_import_helpers)


def start_workers_for_first_run(cycle: str | None, plan: str | None, raw: str | None, processed: str | None,
                                reports: str | None) -> bool:
    """`start_workers` when the run's cycle was never ingested into its processed folder (a first run reads the
    year's workbooks with them); a rerun may need none, and the stage that does starts them. True for a first
    run."""
    try:
        run = open_run(cycle, plan, raw, processed, reports)
    except RunError:
        return False      # the run itself says what is wrong
    if run.catalog.read_json(run.cycle, "ingest") is not None:
        return False
    start_workers()
    return True


def _submit(fn, *args):
    """spawn, not fork: a fork of a Jupyter kernel would copy its threads' locks."""
    global _POOL
    if _POOL is None or getattr(_POOL, "_broken", False):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        _POOL = ProcessPoolExecutor(worker_count(), mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_watch_parent, initargs=(os.getpid(),))
    with _main_not_rerun():      # processes are started as tasks are submitted
        return _POOL.submit(fn, *args)


def _import_helpers() -> None:
    """In a worker: nothing to do; unpickling this function imported `pipeline`, and with it all its tasks use."""


def stop_workers() -> None:
    """End the worker processes once the tasks given to them are done (they hold memory from their last tasks);
    the next `submit` starts new ones."""
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(wait=True)
        _POOL = None


def _watch_parent(parent: int) -> None:
    """In a worker: end this process when its parent is gone (a kernel that was killed cannot shut its workers
    down, and an idle worker would otherwise wait for tasks forever). Ctrl-C and a kernel's interrupt reach the
    whole process group: the parent decides what becomes of its workers, so they ignore it."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="taizhang-parent-watch", daemon=True).start()


def _in_worker(plan_path: str, fn, args: tuple):
    global _WORKER_PLAN
    _WORKER_PLAN = load_plan(plan_path)    # parsed once per worker while the file stays the same
    try:
        return fn(*args)
    finally:
        _give_back_memory()


def _give_back_memory() -> None:
    """Return freed memory to the system (glibc's heap and Arrow's memory pool both keep it otherwise), so that an
    idle worker does not hold on to the memory of the largest workbook it read or cycle it cleaned, nor the kernel
    to that of a stage it finished."""
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass     # not glibc: nothing to do


@contextmanager
def _main_not_rerun() -> Iterator[None]:
    """While worker processes start: a `__main__` without a file, so that spawn does not run the caller's script
    again in each worker (the workers need only `helpers`; a script without a main guard would run twice)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


_WORKER_PLAN: Plan | None = None   # in a worker: the plan of the task being run


def _worker_read(folders: tuple[str, str, str], cycle: str, path: str, key: str) -> tuple[bytes, bool]:
    """Read one workbook of `cycle` in a worker; keep it in the cycle's `WorkbookCache` under `key` when that took
    a while. Returns the pickled `WorkbookLedger`: pickled once, for the cache file and for the way back alike."""
    run = _worker_run(folders, cycle)
    started = time.perf_counter()
    ledger = ledgers.read_ledger(sources.read_workbook(Path(path), root=run.folders.cycle_raw(cycle)), run.plan,
                                dt.date.fromisoformat(cycle))
    kept = time.perf_counter() - started >= CACHE_MIN_SECONDS
    data = pickle.dumps(ledger, protocol=pickle.HIGHEST_PROTOCOL)
    if kept:
        WorkbookCache(run, cycle).files.write(key, data)
    return data, kept


class WorkbookCache:
    """Read workbooks (`ledgers.WorkbookLedger`) kept per cycle as pickles in `processed/<cycle>/workbooks/`,
    keyed by file content and name, the plan and the helpers' source. The folder is written only by the suite
    (atomically, like every processed file); entries no file of the cycle uses any more are removed."""

    def __init__(self, run: Run, cycle: str):
        self.files = KeptFiles(run.folders.cycle_processed(cycle) / "workbooks", ".pickle", run.folders)
        self.salt = f"{plan_digest(run.plan)}|{code_digest()}"

    def key(self, name: str, sha256: str) -> str:
        return hashlib.sha256(f"{self.salt}|{name}|{sha256}".encode()).hexdigest()[:40]

    def get(self, key: str) -> ledgers.WorkbookLedger | None:
        data = self.files.read(key)
        if data is None:
            return None
        try:
            ledger = pickle.loads(data)
        except (EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError,
                pickle.UnpicklingError):          # a damaged or foreign entry: the file is read again
            return None
        if not isinstance(ledger, ledgers.WorkbookLedger):
            return None
        self.files.keep(key)
        return ledger

    def put(self, key: str, ledger: ledgers.WorkbookLedger) -> None:
        self.files.write(key, pickle.dumps(ledger, protocol=pickle.HIGHEST_PROTOCOL))


# ---------------------------------------------------------------------------------------------------------------
# Reconcile


def reconcile_cycle(run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write `submissions` and `task_status` for every cycle of the year up to the run's (each light compares
    with the cycle before it) and return the run cycle's two tables. A cycle whose inputs (its ingested files,
    the cycle before it and that cycle's reconciliation), plan and helpers' code are unchanged since last time is
    not recomputed."""
    cat = run.catalog
    result = None
    for cycle in cat.year_cycles(run.cycle):
        if not cat.exists(cycle, "files"):
            continue
        fingerprint = _reconcile_fingerprint(run, cycle)
        if cat.read_json(cycle, "reconcile") == fingerprint and all(
                cat.exists(cycle, name) for name in ("submissions", "task_status", "findings_reconcile")):
            result = (cycle, None)
            continue
        result = (cycle, _reconcile(run, cycle))
        cat.write_json(cycle, "reconcile", fingerprint)
    if result is None:
        raise RunError(f"周期 {run.cycle} 尚未读取台账，请先运行 01_ingest")
    cycle, tables = result
    return tables if tables is not None else (cat.read(cycle, "submissions"), cat.read(cycle, "task_status"))


def _reconcile_fingerprint(run: Run, cycle: str) -> dict:
    cat = run.catalog
    previous = cat.previous(cycle)
    return {
        "code": code_digest(),
        "plan": plan_digest(run.plan),
        "ingest": cat.read_json(cycle, "ingest"),
        "previous": {"cycle": previous, "ingest": cat.read_json(previous, "ingest"),
                     "reconcile": cat.read_json(previous, "reconcile")},
    }


def _reconcile(run: Run, cycle: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    cat = run.catalog
    date = dt.date.fromisoformat(cycle)
    previous = cat.previous(cycle)
    files = cat.read(cycle, "files")
    progress = cat.read(cycle, "progress")
    summary = cat.read(cycle, "bank_summary_raw", columns=["bank", "file"])
    tables = {}
    if summary is not None and "bank" in summary:
        # a bank named in someone else's 主要指标 (人行's consolidated ledger) has sent its lending figures
        resolved = [run.plan.find_unit(str(b)) or run.plan.find_unit_in(str(b)) for b in summary["bank"]]
        tables["bank_summary"] = summary.assign(bank_id=[u.id if u else None for u in resolved])
    subs = reconcile.submissions(run.plan, files, tables, date)
    status = reconcile.task_status(
        run.plan,
        progress,
        date,
        previous_progress=cat.read(previous, "progress"),
        previous_status=cat.read(previous, "task_status"),
    )
    cat.write(cycle, "submissions", subs)
    cat.write(cycle, "task_status", status)
    cat.write_findings(cycle, "reconcile", reconcile.submission_findings(run.plan, subs, files))
    return subs, status


# ---------------------------------------------------------------------------------------------------------------
# Indicators

CLEAN_TABLES = ("bank_summary", "loans", "applications", "noloan_list", "guarantee_summary", "guarantees")


def indicators_cycle(run: Run) -> pd.DataFrame:
    """Clean the lending and guarantee tables and compute `indicators` for every cycle of the year up to the
    run's (trends need each cycle's figures). A cycle is recomputed only when its inputs or those of an earlier
    cycle, the plan or the helpers' code changed since last time. Returns the run cycle's indicators.

    The cycles to recompute are cleaned first (by worker processes when there are many), then their lending
    figures are computed in one pass over the year's loans (`lending.year_figures`), and the targets applied cycle
    after cycle."""
    cat = run.catalog
    cycles = [c for c in cat.year_cycles(run.cycle) if cat.exists(c, "files")]
    inputs: list[dict] = []
    todo: list[tuple[str, dict]] = []
    for cycle in cycles:
        inputs.append(cat.read_json(cycle, "ingest") or {})
        fingerprint = {"code": code_digest(), "plan": plan_digest(run.plan), "calendar": calendar_digest(),
                       "inputs": list(inputs)}
        if cat.read_json(cycle, "indicators") == fingerprint and cat.exists(cycle, "indicators"):
            continue
        todo.append((cycle, fingerprint))
    cleaned = _clean_cycles(run, [c for c, _ in todo])
    lending_year: dict[str, pd.DataFrame] = {}
    figures: dict[str, tuple] = {}
    earlier: dict[str, list[dict]] = {}
    if todo and ("lending" in run.plan.ledgers or "noloan" in run.plan.ledgers):
        lending_year = {name: _load_year(run, name, todo[-1][0], lending.INPUT_COLUMNS.get(name))
                        for name in ("bank_summary", "loans", "applications", "noloan_list")}
        wanted = [c for c, _ in todo]
        # recomputed from the first changed cycle on: the figures of the cycle before it (for ``rising`` targets)
        # are those kept by the run that computed it, or computed again in the same pass
        first = cycles.index(wanted[0])
        if first > 0:
            earlier = _stored_figures(run, cycles[first - 1])
            if not earlier:
                wanted.insert(0, cycles[first - 1])
        figures = lending.year_figures(run.plan, [dt.date.fromisoformat(c) for c in wanted], *lending_year.values())
    for cycle, fingerprint in todo:
        _indicators(run, cycle, cleaned[cycle], lending_year, figures, earlier)
        cat.write_json(cycle, "indicators", fingerprint)
    del lending_year, figures
    _give_back_memory()      # the year's loans: the report stage that follows needs none of it
    result = cat.read(run.cycle, "indicators")
    return result if result is not None else pd.DataFrame(columns=lending.INDICATOR_COLUMNS)


PARALLEL_MIN_LOAN_BYTES = 4 * 2**20   # loans_raw Parquet bytes to clean before worker processes pay off


def _clean_cycles(run: Run, cycles: list[str]) -> dict[str, list[fd.Finding]]:
    """`_clean_cycle` of each cycle (its findings), by worker processes when there is enough to clean."""
    if not _parallel_cleaning(run, cycles):
        return {c: _clean_cycle(run, c) for c in cycles}
    folders = _worker_folders(run)
    try:
        cleaning = {c: submit(run, _worker_clean, folders, c) for c in reversed(cycles)}   # the largest first
        return {c: cleaning[c].result() for c in cycles}
    finally:
        stop_workers()   # nothing after this stage needs them before the report, and they hold memory


def _parallel_cleaning(run: Run, cycles: list[str]) -> bool:
    if len(cycles) < 3 or not can_use_workers(run):
        return False
    if not ({"lending", "noloan"} & set(run.plan.ledgers)):
        return False
    size = sum(run.catalog.path(c, "loans_raw").stat().st_size for c in cycles if run.catalog.exists(c, "loans_raw"))
    return size >= PARALLEL_MIN_LOAN_BYTES


def _worker_folders(run: Run) -> tuple[str, str, str]:
    """The run's folders as a worker task takes them (`_worker_run`)."""
    return str(run.folders.raw), str(run.folders.processed), str(run.folders.reports)


def _worker_run(folders: tuple[str, str, str], cycle: str) -> Run:
    assert _WORKER_PLAN is not None
    f = Folders.of(*folders)
    return Run(_WORKER_PLAN, f, cycle, Catalog(f, _WORKER_PLAN.report_days))


def _worker_clean(folders: tuple[str, str, str], cycle: str) -> list[fd.Finding]:
    return _clean_cycle(_worker_run(folders, cycle), cycle)


def _raw(run: Run, cycle: str, name: str) -> pd.DataFrame:
    frame = run.catalog.read(cycle, f"{name}_raw")
    return frame if frame is not None else pd.DataFrame()


def _clean_cycle(run: Run, cycle: str) -> list[fd.Finding]:
    """Clean one cycle's lending and guarantee tables; their findings go with the indicators stage."""
    plan, cat = run.plan, run.catalog
    date = dt.date.fromisoformat(cycle)
    previous = dt.date.fromisoformat(cat.previous(cycle))
    out: list[fd.Finding] = []
    tables: dict[str, pd.DataFrame] = {}
    if "lending" in plan.ledgers or "noloan" in plan.ledgers:
        tables["bank_summary"], found = lending.clean_bank_summary(_raw(run, cycle, "bank_summary"), plan)
        out += found
        tables["loans"], found = lending.clean_loans(_raw(run, cycle, "loans"), plan, date, previous)
        out += found
        tables["applications"], found = lending.clean_applications(_raw(run, cycle, "applications"), plan, date,
                                                                    previous)
        out += found
        tables["noloan_list"], found = lending.clean_noloan(_raw(run, cycle, "noloan_list"), plan)
        out += found
    if "guarantee" in plan.ledgers:
        summary, detail, found = guarantee.clean_guarantees(_raw(run, cycle, "guarantee_summary"),
                                                            _raw(run, cycle, "guarantees"), plan, date)
        tables["guarantee_summary"], tables["guarantees"] = summary, detail
        out += found + guarantee.reconcile_guarantees(summary, detail, date,
                                                     tolerance=guarantee.balance_tolerance(plan))
    if plan.reported_targets():
        tables["reported_targets"], found = reported_targets.clean_reported(_raw(run, cycle, "reported_targets"), plan)
        out += found
    for name, frame in tables.items():
        cat.write(cycle, name, frame)
    return out


def _load_year(run: Run, name: str, cycle: str, columns: list[str] | None = None) -> pd.DataFrame:
    """`Catalog.load_year`, only the `columns` each cycle's file has when given."""
    frames = []
    for c in run.catalog.year_cycles(cycle):
        path = run.catalog.path(c, name)
        if not path.is_file():
            continue
        wanted = None
        if columns is not None:
            present = set(pq.read_schema(path).names)
            wanted = [col for col in columns if col in present]
        frames.append(run.catalog.read(c, name, wanted).assign(cycle=c))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _stored_figures(run: Run, cycle: str) -> dict[str, list[dict]]:
    """{cycle: its lending figures as the run that computed its indicators kept them}, or {} when not kept."""
    frame = run.catalog.read(cycle, "lending_figures")
    return {} if frame is None else {cycle: lending.stored_figures(frame)}


def _indicators(run: Run, cycle: str, cleaning_findings: list[fd.Finding], lending_year: dict[str, pd.DataFrame],
                figures: dict[str, tuple], earlier: dict[str, list[dict]]) -> None:
    """Year-to-date indicators of one cycle: its lending figures (computed already in `figures`, by cycle) with
    their targets applied, from the year's cleaned tables (`lending_year`, up to the last cycle recomputed; later
    rows are ignored), and its guarantee indicators."""
    plan, cat = run.plan, run.catalog
    date = dt.date.fromisoformat(cycle)
    frames = []
    out = list(cleaning_findings)
    if "lending" in plan.ledgers or "noloan" in plan.ledgers:
        found_frame, found = lending.lending_indicators(plan, date, lending_year["bank_summary"], lending_year["loans"],
                                                        lending_year["applications"], lending_year["noloan_list"],
                                                        cache=figures, earlier=earlier)
        frames.append(found_frame)
        out += found
        cat.write(cycle, "lending_figures", lending.figure_values(figures[cycle][0]))
    if "guarantee" in plan.ledgers:
        summary = cat.read(cycle, "guarantee_summary")
        detail = cat.read(cycle, "guarantees")
        if summary is not None and detail is not None:
            frames.append(guarantee.guarantee_indicators(plan, date, summary, detail))
    frames = [f for f in frames if len(f)]
    indicators = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=lending.INDICATOR_COLUMNS)
    # every target of the plan: the reported ones' rows, and one headline row per target
    reports = _load_year(run, "reported_targets", cycle) if plan.reported_targets() else None
    indicators, found = reported_targets.with_targets(plan, date, indicators, reports)
    out += found
    cat.write(cycle, "indicators", indicators)
    cat.write_findings(cycle, "indicators", out)


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


# Set by `taizhang run` in its kernel's environment: the cycle's notebooks run one after the other in that kernel,
# and 04_report waits for what 02_reconcile started
CHAINED_ENV = "TAIZHANG_CHAINED"


def wait_unless_chained(outputs: Outputs) -> None:
    """Wait for `outputs` unless this kernel runs the whole cycle (`taizhang run`). A notebook run alone (papermill,
    JupyterLab) must not end while its workers write: its kernel would be shut down under them, leaving a worker's
    KeyboardInterrupt and no files."""
    if os.environ.get(CHAINED_ENV) != "1":
        outputs.wait()


def write_output(run: Run, what: str) -> None:
    writers = {"consolidated": feedback.write_consolidated, "unit_pages": feedback.write_unit_pages,
               "templates": templates.write_templates, "documents": notices.write_documents,
               "analyst": analyst.write_analyst_page}
    writers[what](run)


def _worker_output(folders: tuple[str, str, str], cycle: str, what: str) -> None:
    write_output(_worker_run(folders, cycle), what)


class ReportOutputs:
    """What the report notebook runs beside its sections: the files besides the report, written in worker
    processes (`start_outputs`), and the charts, kept in the processed folder and shown again when their data did
    not change (`report.keep_charts`). `finish` ends the report."""

    def __init__(self, run: Run):
        self.run = run
        self.outputs = start_outputs(run)
        self.charts = report.keep_charts(run.folders.cycle_processed(run.cycle) / "charts", run.folders)

    def finish(self) -> str:
        """Wait for the files, end the worker processes (nothing after the report needs them), remove the kept
        charts this report did not show, and return the HTML block linking the files."""
        self.outputs.wait()
        stop_workers()
        self.charts.prune()
        return feedback.links_html(self.run)


def start_report(run: Run) -> ReportOutputs:
    """Begin the report of the run's cycle: start its files in the background and keep its charts."""
    return ReportOutputs(run)


# ---------------------------------------------------------------------------------------------------------------
# What the report reads


@dataclass(frozen=True)
class CycleTables:
    submissions: pd.DataFrame
    task_status: pd.DataFrame
    findings: pd.DataFrame
    files: pd.DataFrame
    light_history: pd.DataFrame   # cycle, light, count over the year's cycles
    indicators: pd.DataFrame      # this cycle's indicators (empty when the plan has none)
    indicator_history: pd.DataFrame  # the year's indicators with a `cycle` column


def cycle_tables(run: Run) -> CycleTables:
    """The finished tables of the run's cycle, for presentation."""
    cat = run.catalog
    missing = [name for name in ("submissions", "task_status", "findings", "files") if not cat.exists(run.cycle, name)]
    if missing:
        raise RunError(f"周期 {run.cycle} 缺少处理结果 {'、'.join(missing)}，请先运行前面的笔记本")
    year = cat.load_year("task_status", run.cycle, columns=["light"])
    history = (
        year.groupby(["cycle", "light"]).size().reset_index(name="count")
        if len(year) else pd.DataFrame(columns=["cycle", "light", "count"])
    )
    return CycleTables(
        submissions=cat.read(run.cycle, "submissions"),
        task_status=cat.read(run.cycle, "task_status"),
        findings=cat.read(run.cycle, "findings"),
        files=cat.read(run.cycle, "files"),
        light_history=history,
        indicators=_or_empty(cat.read(run.cycle, "indicators"), lending.INDICATOR_COLUMNS),
        indicator_history=_or_empty(cat.load_year("indicators", run.cycle), [*lending.INDICATOR_COLUMNS]),
    )


def _or_empty(frame: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
    return frame if frame is not None and len(frame.columns) else pd.DataFrame(columns=columns)


# ---------------------------------------------------------------------------------------------------------------
# Exploration between cycles

YEAR_TABLES = ("task_status", "submissions", "progress", "findings", "indicators", "bank_summary", "loans",
               "applications", "noloan_list", "guarantee_summary", "guarantees")


@dataclass(frozen=True)
class YearTables:
    """Every processed table of the year up to a cycle, each with a `cycle` column (empty when never written).
    These hold the units' full data (names, identifiers): for analysis in JupyterLab, not for sharing."""

    run: Run
    tables: dict[str, pd.DataFrame]

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    def indicator(self, indicator: str, scope: str = "city", scope_id: str | None = None) -> pd.DataFrame:
        """One indicator over the year's cycles: cycle × scope_id → value (a frame ready to plot)."""
        rows = self.tables["indicators"]
        if not len(rows):
            return pd.DataFrame()
        rows = rows[(rows["indicator"] == indicator) & (rows["scope"] == scope)]
        if scope_id is not None:
            rows = rows[rows["scope_id"] == scope_id]
        return rows.pivot_table(index="cycle", columns="scope_id", values="value", aggfunc="first")


def load_year(
    cycle: str | None = None,
    plan: str | Path | None = None,
    raw: str | Path = DEFAULT_RAW,
    processed: str | Path = DEFAULT_PROCESSED,
) -> YearTables:
    """One call for exploration: the year's processed tables up to `cycle` (default: the latest)."""
    run = open_run(cycle, plan, raw, processed)
    if not run.catalog.exists(run.cycle, "task_status"):
        raise RunError(f"周期 {run.cycle} 还没有处理结果，请先运行 taizhang run --cycle {run.cycle}")
    return YearTables(run, {name: run.catalog.load_year(name, run.cycle) for name in YEAR_TABLES})
