"""The cycle's stages as calls a notebook makes: set up a run, ingest the year's raw cycles, reconcile.

Each stage reads what earlier stages wrote through the `Catalog` and writes its own tables, so a notebook
can be rerun on its own and the notebooks can run in separate kernels (Papermill).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Self

import pandas as pd
import pyarrow.parquet as pq

from ..core import findings as fd
from ..core.fingerprints import code_digest, plan_digest
from ..core.workcalendar import calendar_digest
from ..indicators import guarantee, lending, lending_clean, reported_targets, targets
from ..ingest import ledgers, sources
from ..ingest.sources import file_sha256
from ..reconcile import lights as reconcile
from .paths import KeptFiles
from .run import Run, RunError
from .workers import _give_back_memory, _worker_folders, _worker_run, can_use_workers, chained, stop_workers, submit


# ---------------------------------------------------------------------------------------------------------------
# Ingest


def ingest(run: Run) -> pd.DataFrame:
    """Ingest every raw cycle up to this one whose files, the plan or the helpers' code changed since it was last
    ingested (so a user who skipped a cycle still gets year-to-date figures, and one who upgraded the suite gets
    the new code's tables); earlier years' cycles too, since a 首贷户 is a borrower's first loan ever. Returns one
    row per cycle: what was done.

    When there is much to read (a first run on a year of ledgers), the workbooks are read by worker processes
    (`submit`) while this one combines and writes each cycle in turn."""
    rows = []
    todo = []
    for cycle in [*run.catalog.earlier_years_cycles(run.cycle), *run.catalog.year_cycles(run.cycle)]:
        cycle_dir = run.folders.cycle_raw(cycle)
        paths, listing_findings = sources.list_cycle_files(cycle_dir)
        # by path: two files may show the same name (one named in GBK, one in UTF-8), and each must be read as itself
        digests = {p: file_sha256(p) for p in paths}
        fingerprint = {
            "code": code_digest(),
            "plan": plan_digest(run.plan),
            "files": sorted([sources.relative_name(p, cycle_dir), d] for p, d in digests.items()),
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
                 digests: dict[Path, str] | None = None, readers: _Readers | None = None) -> ledgers.CycleLedgers:
    """Read one cycle's workbooks and write `files`, `progress` and the lending/no-loan/guarantee tables.

    A workbook that took a while to read is kept, as read, in `processed/<cycle>/workbooks/` under a key of its
    content, name, the plan and the suite's code: when one unit resends its file, only that file is read again.
    `digests`: path → sha256 of each file, when the caller has them already."""
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
PARALLEL_MIN_WORK = 8 * 2**20   # bytes to read (+ 32 KiB per file) before worker processes pay off


def _read_cycle(run: Run, cycle: str, paths: list[Path], digests: dict[Path, str] | None) -> list:
    """The cycle's workbooks read one by one here, each from the cache when it is there."""
    cycle_dir = run.folders.cycle_raw(cycle)
    cache = WorkbookCache(run, cycle)
    read = []
    for p in paths:
        name = sources.relative_name(p, cycle_dir)
        key = cache.key(name, (digests or {}).get(p) or file_sha256(p))
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
            jobs: list[list] = []
            for p in paths:
                name = sources.relative_name(p, cycle_dir)
                key = cache.key(name, digests.get(p) or file_sha256(p))
                jobs.append(["cached", key] if cache.files.has(key) else ["read", key, p])
            # the largest workbooks first: a large one submitted last would keep one worker reading it while the
            # other has nothing left to do (the results are still taken in the files' order)
            for job in sorted((j for j in jobs if j[0] == "read"), key=lambda j: -j[2].stat().st_size):
                job[2] = submit(self.run, _worker_read, folders, cycle, str(job[2]), job[1])
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


_INDICATOR_JOBS: dict[tuple[str, str], Future] = {}   # (processed folder, cycle) → its indicators job, this process


def _job_key(run: Run) -> tuple[str, str]:
    return str(run.folders.processed), run.cycle


def start_indicators(run: Run) -> None:
    """When `taizhang run` chains the notebooks: begin the indicators stage of the run's cycle in a worker process
    now, while this kernel reconciles (both stages read only what ingest wrote); `indicators_cycle` waits for it.
    Not when many cycles are to be cleaned: `indicators_cycle` has both workers clean them at once."""
    if not chained() or not can_use_workers(run):
        return
    _, _, todo = _indicators_todo(run)
    if todo and not _parallel_cleaning(run, [c for c, _ in todo]):
        _INDICATOR_JOBS[_job_key(run)] = submit(run, _worker_indicators, _worker_folders(run), run.cycle)


def _worker_indicators(folders: tuple[str, str, str], cycle: str) -> list[str]:
    """`indicators_cycle` in a worker; returns the cycles it computed."""
    run = _worker_run(folders, cycle)
    _, _, todo = _indicators_todo(run)
    indicators_cycle(run)
    return [c for c, _ in todo]


def indicators_cycle(run: Run) -> pd.DataFrame:
    """Clean the lending and guarantee tables and compute `indicators` for every cycle of the year up to the
    run's (trends need each cycle's figures). A cycle is recomputed only when its inputs or those of an earlier
    cycle, the plan or the helpers' code changed since last time. Returns the run cycle's indicators.

    The cycles to recompute are cleaned first (by worker processes when there are many), then their lending
    figures are computed in one pass over the year's loans (`lending.year_figures`), and the targets applied cycle
    after cycle. When `start_indicators` began this in a worker, this waits for it (and raises what it raised)."""
    cat = run.catalog
    job = _INDICATOR_JOBS.pop(_job_key(run), None)
    if job is not None:
        for cycle in job.result():
            # the reconciliation wrote its findings meanwhile, each stage combining the stages' files it found:
            # combined again now that both are written
            cat.combine_findings(cycle)
    cycles, history, todo = _indicators_todo(run)
    cleaned = _clean_cycles(run, [c for c, _ in todo])
    lending_year: dict[str, pd.DataFrame] = {}
    figures: dict[str, tuple] = {}
    earlier: dict[str, list[dict]] = {}
    if todo and ("lending" in run.plan.ledgers or "noloan" in run.plan.ledgers):
        lending_year = {name: _load_year(run, name, todo[-1][0], lending.INPUT_COLUMNS.get(name))
                        for name in ("bank_summary", "loans", "applications", "noloan_list")}
        lending_year["earlier_loans"] = _earlier_borrowers(run, history)
        wanted = [c for c, _ in todo]
        # recomputed from the first changed cycle on: the figures of the cycle before it (for ``rising`` targets)
        # are those kept by the run that computed it, or computed again in the same pass
        first = cycles.index(wanted[0])
        if first > 0:
            earlier = _stored_figures(run, cycles[first - 1])
            if not earlier:
                wanted.insert(0, cycles[first - 1])
        figures = lending.year_figures(run.plan, [dt.date.fromisoformat(c) for c in wanted],
                                       lending_year["bank_summary"], lending_year["loans"], lending_year["applications"],
                                       lending_year["noloan_list"], lending_year["earlier_loans"])
    for cycle, fingerprint in todo:
        _indicators(run, cycle, cleaned[cycle], lending_year, figures, earlier)
        cat.write_json(cycle, "indicators", fingerprint)
    del lending_year, figures
    _give_back_memory()      # the year's loans: the report stage that follows needs none of it
    result = cat.read(run.cycle, "indicators")
    return result if result is not None else pd.DataFrame(columns=targets.INDICATOR_COLUMNS)


def _indicators_todo(run: Run) -> tuple[list[str], list[str], list[tuple[str, dict]]]:
    """The year's ingested cycles up to the run's, the earlier years' cycles with loans (inputs of the first-loan
    figures), and the cycles whose indicators are to be computed again, each with its new fingerprint."""
    cat = run.catalog
    cycles = [c for c in cat.year_cycles(run.cycle) if cat.exists(c, "files")]
    history = [c for c in cat.earlier_years_cycles(run.cycle, processed_too=True) if cat.exists(c, "loans_raw")]
    # every earlier year's ledgers are inputs of this year's first-loan figures
    inputs: list[dict] = [{"cycle": c, **(cat.read_json(c, "ingest") or {})} for c in history]
    todo: list[tuple[str, dict]] = []
    for cycle in cycles:
        inputs.append(cat.read_json(cycle, "ingest") or {})
        fingerprint = {"code": code_digest(), "plan": plan_digest(run.plan), "calendar": calendar_digest(),
                       "inputs": list(inputs)}
        if cat.read_json(cycle, "indicators") == fingerprint and cat.exists(cycle, "indicators"):
            continue
        todo.append((cycle, fingerprint))
    return cycles, history, todo


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
        tables["bank_summary"], found = lending_clean.clean_bank_summary(_raw(run, cycle, "bank_summary"), plan)
        out += found
        tables["loans"], found = lending_clean.clean_loans(_raw(run, cycle, "loans"), plan, date, previous)
        out += found
        tables["applications"], found = lending_clean.clean_applications(_raw(run, cycle, "applications"), plan, date,
                                                                    previous)
        out += found
        tables["noloan_list"], found = lending_clean.clean_noloan(_raw(run, cycle, "noloan_list"), plan)
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


def _earlier_borrowers(run: Run, cycles: list[str]) -> pd.DataFrame:
    """`lending.earlier_borrowers` of the `cycles` of earlier years, from the loans their ingest wrote."""
    frames = []
    for c in cycles:
        path = run.catalog.path(c, "loans_raw")
        if path.is_file():
            present = set(pq.read_schema(path).names)
            frames.append(lending.earlier_borrowers(
                run.catalog.read(c, "loans_raw", [col for col in ("borrower", "borrower_id") if col in present]), c))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["borrower_key", "cycle"])


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
                                                        cache=figures, earlier=earlier,
                                                        earlier_loans=lending_year["earlier_loans"])
        frames.append(found_frame)
        out += found
        cat.write(cycle, "lending_figures", lending.figure_values(figures[cycle][0]))
    if "guarantee" in plan.ledgers:
        summary = cat.read(cycle, "guarantee_summary")
        detail = cat.read(cycle, "guarantees")
        if summary is not None and detail is not None:
            frames.append(guarantee.guarantee_indicators(plan, date, summary, detail))
    frames = [f for f in frames if len(f)]
    indicators = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=targets.INDICATOR_COLUMNS)
    # every target of the plan: the reported ones' rows, and one headline row per target
    reports = _load_year(run, "reported_targets", cycle) if plan.reported_targets() else None
    indicators, found = reported_targets.with_targets(plan, date, indicators, reports)
    out += found
    cat.write(cycle, "indicators", indicators)
    cat.write_findings(cycle, "indicators", out)
