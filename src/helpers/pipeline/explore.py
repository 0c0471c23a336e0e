"""The finished tables for the report, and the year's tables for exploring between cycles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..indicators import targets
from .paths import DEFAULT_PROCESSED, DEFAULT_RAW
from .run import Run, RunError, open_run


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
        indicators=_or_empty(cat.read(run.cycle, "indicators"), targets.INDICATOR_COLUMNS),
        indicator_history=_or_empty(cat.load_year("indicators", run.cycle), [*targets.INDICATOR_COLUMNS]),
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
