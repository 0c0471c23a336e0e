"""The cycle's stages as calls a notebook makes: set up a run, ingest the year's raw cycles, reconcile.

Each stage reads what earlier stages wrote through the `Catalog` and writes its own tables, so a notebook
can be rerun on its own and the notebooks can run in separate kernels (Papermill).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import findings as fd
from . import guarantee, ledgers, lending, reconcile, sources
from .catalog import Catalog
from .cycles import CycleError, parse_cycle
from .paths import DEFAULT_PROCESSED, DEFAULT_RAW, DEFAULT_REPORTS, REPO, Folders, resolve_plan
from .plan import Plan, PlanError, load_plan

INGEST_VERSION = 1   # bump when ingest output changes, so cached cycles are read again
DEMO_RAW = Path("data/demo/raw")
DEMO_PROCESSED = Path("data/demo/processed")


class RunError(RuntimeError):
    """The cycle cannot run at all; the message is one Chinese line for the analyst."""


@dataclass(frozen=True)
class Run:
    plan: Plan
    folders: Folders
    cycle: str
    catalog: Catalog
    note: str | None = None   # e.g. that the demo data was used because data/raw holds no cycle

    @property
    def date(self) -> dt.date:
        return dt.date.fromisoformat(self.cycle)

    @property
    def previous(self) -> str:
        return self.catalog.previous(self.cycle)


def _repo_path(path: str | Path) -> Path:
    """Relative paths are taken from the repository root, so notebooks behave the same from any folder."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else REPO / path


def open_run(
    cycle: str | None = None,
    plan: str | Path | None = None,
    raw: str | Path = DEFAULT_RAW,
    processed: str | Path = DEFAULT_PROCESSED,
    reports: str | Path = DEFAULT_REPORTS,
) -> Run:
    """Validate the run's arguments: the plan file, the folders and the cycle (default: the latest cycle folder).

    When the default raw folder holds no cycle, the demo folders are used instead and `Run.note` says so, so a
    notebook opened on a fresh clone still runs top to bottom."""
    try:
        plan_obj = load_plan(resolve_plan(str(_repo_path(plan)) if plan else None))
    except (PlanError, FileNotFoundError) as exc:
        raise RunError(str(exc)) from exc
    folders = Folders.of(_repo_path(raw), _repo_path(processed), _repo_path(reports))
    catalog = Catalog(folders, plan_obj.report_days)
    note = None
    if not catalog.raw_cycles() and Path(raw) == DEFAULT_RAW and Path(processed) == DEFAULT_PROCESSED:
        demo = Folders.of(_repo_path(DEMO_RAW), _repo_path(DEMO_PROCESSED), folders.reports)
        if Catalog(demo, plan_obj.report_days).raw_cycles():
            folders, catalog = demo, Catalog(demo, plan_obj.report_days)
            note = f"{DEFAULT_RAW} 中还没有周期文件夹，以下使用演示数据（{DEMO_RAW}）"
    if not cycle:
        cycles = catalog.raw_cycles()
        if not cycles:
            raise RunError(f"原始数据目录 {folders.raw} 中没有周期文件夹（应为 YYYY-MM-DD，如 2022-06-25）")
        cycle = cycles[-1]
    try:
        parse_cycle(cycle, plan_obj.report_days)
    except CycleError as exc:
        raise RunError(str(exc)) from exc
    if not folders.cycle_raw(cycle).is_dir():
        raise RunError(f"找不到周期文件夹 {folders.cycle_raw(cycle)}")
    return Run(plan_obj, folders, cycle, catalog, note)


# ---------------------------------------------------------------------------------------------------------------
# Ingest


def _plan_digest(plan: Plan) -> str:
    return hashlib.sha256(plan.path.read_bytes()).hexdigest() if plan.path else plan.id


def ingest(run: Run) -> pd.DataFrame:
    """Ingest every raw cycle of the year up to this one whose files changed since they were last ingested
    (so a user who skipped a cycle still gets year-to-date figures). Within a changed cycle only workbooks whose
    content changed are parsed again (a unit resending one file costs one file). Returns one row per cycle."""
    rows = []
    plan_digest = _plan_digest(run.plan)
    for cycle in run.catalog.year_cycles(run.cycle):
        cycle_dir = run.folders.cycle_raw(cycle)
        paths, listing_findings = sources.list_cycle_files(cycle_dir)
        hashes = {sources.relative_name(p, cycle_dir): _sha256(p) for p in paths}
        fingerprint = {"version": INGEST_VERSION, "plan": plan_digest, "files": hashes}
        manifest = run.catalog.read_json(cycle, "ingest")
        if manifest == fingerprint and run.catalog.exists(cycle, "files"):
            rows.append({"cycle": cycle, "files": len(paths), "action": "未变化，沿用上次结果"})
            continue
        read = [_read_ledger(run, p, cycle_dir, name, sha, plan_digest) for p, (name, sha) in zip(paths, hashes.items())]
        ingest_cycle(run, cycle, read, listing_findings)
        run.catalog.write_json(cycle, "ingest", fingerprint)
        rows.append({"cycle": cycle, "files": len(paths), "action": "已读取"})
    return pd.DataFrame(rows, columns=["cycle", "files", "action"])


def _read_ledger(run: Run, path: Path, cycle_dir: Path, name: str, sha: str, plan_digest: str
                 ) -> ledgers.WorkbookLedger:
    """One workbook's reading, from the cache when the same content under the same name was read before with
    this plan and ingest version. A fresh reading takes the same Parquet round trip as a cached one, so cold and
    warm runs write identical tables."""
    key = hashlib.sha256(f"{INGEST_VERSION}|{plan_digest}|{name}|{sha}".encode()).hexdigest()
    cached = run.catalog.read_cached_ledger(key)
    if cached is None:
        led = ledgers.read_ledger(sources.read_workbook(path, root=cycle_dir), run.plan)
        run.catalog.write_cached_ledger(key, *ledgers.ledger_parts(led))
        cached = run.catalog.read_cached_ledger(key)
    return ledgers.ledger_from_parts(*cached)


def ingest_cycle(run: Run, cycle: str, read: list[ledgers.WorkbookLedger], listing_findings: list[fd.Finding]
                 ) -> ledgers.CycleLedgers:
    """Combine one cycle's workbook readings and write `files`, `progress` and the lending/no-loan/guarantee
    tables."""
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Reconcile


RECONCILE_VERSION = 1   # bump when reconcile output changes, so cached cycles are reconciled again


def reconcile_cycle(run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write `submissions` and `task_status` for every cycle of the year up to the run's (each light compares
    with the cycle before it) and return the run cycle's two tables. A cycle whose inputs (its ingested files,
    the cycle before it and that cycle's reconciliation) are unchanged since last time is not recomputed."""
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
        "version": RECONCILE_VERSION,
        "ingest_version": INGEST_VERSION,
        "plan": _plan_digest(run.plan),
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
    cycle changed since last time. Returns the run cycle's indicators."""
    cat = run.catalog
    cycles = [c for c in cat.year_cycles(run.cycle) if cat.exists(c, "files")]
    inputs: list[dict] = []
    for cycle in cycles:
        inputs.append(cat.read_json(cycle, "ingest") or {})
        fingerprint = {"version": INGEST_VERSION, "plan": _plan_digest(run.plan), "inputs": inputs}
        if cat.read_json(cycle, "indicators") == fingerprint and cat.exists(cycle, "indicators"):
            continue
        _indicators(run, cycle, _clean_cycle(run, cycle))
        cat.write_json(cycle, "indicators", fingerprint)
    result = cat.read(run.cycle, "indicators")
    return result if result is not None else pd.DataFrame(columns=lending.INDICATOR_COLUMNS)


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
        out += found + guarantee.reconcile_guarantees(summary, detail, date)
    for name, frame in tables.items():
        cat.write(cycle, name, frame)
    return out


def _indicators(run: Run, cycle: str, cleaning_findings: list[fd.Finding]) -> None:
    """Year-to-date indicators of one cycle from the cleaned tables of the year so far."""
    plan, cat = run.plan, run.catalog
    date = dt.date.fromisoformat(cycle)
    frames = []
    out = list(cleaning_findings)
    if "lending" in plan.ledgers or "noloan" in plan.ledgers:
        year = {name: cat.load_year(name, cycle) for name in ("bank_summary", "loans", "applications", "noloan_list")}
        found_frame, found = lending.lending_indicators(plan, date, year["bank_summary"], year["loans"],
                                                        year["applications"], year["noloan_list"])
        frames.append(found_frame)
        out += found
    if "guarantee" in plan.ledgers:
        summary = cat.read(cycle, "guarantee_summary")
        detail = cat.read(cycle, "guarantees")
        if summary is not None and detail is not None:
            frames.append(guarantee.guarantee_indicators(plan, date, summary, detail))
    frames = [f for f in frames if len(f)]
    indicators = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=lending.INDICATOR_COLUMNS)
    cat.write(cycle, "indicators", indicators)
    cat.write_findings(cycle, "indicators", out)


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
