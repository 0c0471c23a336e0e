"""The processed tables and report files: where each lives, reading them back, and writing them atomically.

Raw inputs are opened only by `sources`; everything the suite writes goes through here, into the processed
and reports folders and nowhere else (`Folders.check_writable`). pandas is imported where a table is read or
written: checking a run's arguments (`runs`) needs none of it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..core import findings as fd
from ..core.cycles import DEFAULT_REPORT_DAYS, cycle_folders, parse_cycle, previous_cycle
from .paths import Folders, atomic_path

if TYPE_CHECKING:
    import pandas as pd

FINDING_STAGES = ("ingest", "reconcile", "indicators")

# Every table a run keeps under processed/<cycle>/ (`<name>.parquet`), with the stage that writes it. A name not
# listed here is refused, so a new table is declared once, here, and a misspelt name fails at once.
_LEDGER_TABLES = ("bank_summary", "loans", "applications", "noloan_list", "guarantee_summary", "guarantees",
                  "reported_targets")   # the last: the 指标 sheets of task ledgers (targets units report)
TABLES = {
    "files": "ingest",             # one row per raw file: what was read, which ledger and unit it is, the 联系人 and
                                   # 电话 it gives (ledgers.FILES_COLUMNS; a phone is shown on the analyst's page only)
    "progress": "ingest",          # task ledgers' rows
    **{f"{name}_raw": "ingest" for name in _LEDGER_TABLES},   # the fixed ledgers' rows as read
    **{f"findings_{stage}": stage for stage in FINDING_STAGES},
    "findings": "ingest, reconcile, indicators",   # every stage's findings together
    "submissions": "reconcile",    # unit × ledger kind: received, on time
    "task_status": "reconcile",    # unit × task: light and reason
    **{name: "indicators" for name in _LEDGER_TABLES},        # the fixed ledgers' rows cleaned
    "lending_figures": "indicators",
    "indicators": "indicators",
}
# The fingerprints (`<name>.json`) saying what a stage's tables or an output were made from.
FINGERPRINTS = ("ingest", "reconcile", "indicators", "consolidated", "unit_pages", "templates")


def _declared(name: str, names) -> str:
    if name not in names:
        raise KeyError(f"{name!r} is not declared in catalog.TABLES / catalog.FINGERPRINTS")
    return name


class Catalog:
    """Named Parquet tables per cycle under `<processed>/<cycle>/<name>.parquet`."""

    def __init__(self, folders: Folders, report_days: Iterable[int] = DEFAULT_REPORT_DAYS):
        self.folders = folders
        self.report_days = tuple(report_days)

    def path(self, cycle: str, name: str) -> Path:
        return self.folders.cycle_processed(cycle) / f"{_declared(name, TABLES)}.parquet"

    def exists(self, cycle: str, name: str) -> bool:
        return self.path(cycle, name).is_file()

    def read(self, cycle: str, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
        import pandas as pd

        path = self.path(cycle, name)
        if not path.is_file():
            return None
        return pd.read_parquet(path, columns=columns)

    def write(self, cycle: str, name: str, frame: pd.DataFrame) -> Path:
        """Write deterministically (no pandas index, fixed row order as given) through a temporary file."""
        final = self.path(cycle, name)
        with atomic_path(final, self.folders) as tmp:
            # snappy: read and written faster than zstd; the files are rebuildable, their size matters less
            frame.reset_index(drop=True).to_parquet(tmp, index=False, compression="snappy")
        return final

    def write_json(self, cycle: str, name: str, data: dict) -> Path:
        final = self.folders.cycle_processed(cycle) / f"{_declared(name, FINGERPRINTS)}.json"
        with atomic_path(final, self.folders) as tmp:
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True, default=str), encoding="utf-8")
        return final

    def read_json(self, cycle: str, name: str) -> dict | None:
        path = self.folders.cycle_processed(cycle) / f"{_declared(name, FINGERPRINTS)}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    # ----- report files -----
    def save_workbook(self, workbook, final: Path) -> Path:
        """Save an openpyxl workbook under processed/ or reports/ through a temporary file."""
        with atomic_path(Path(final), self.folders) as tmp:
            workbook.save(tmp)
        return Path(final)

    def save_document(self, document, final: Path) -> Path:
        """Save a python-docx document under processed/ or reports/ through a temporary file."""
        with atomic_path(Path(final), self.folders) as tmp:
            document.save(str(tmp))
        return Path(final)

    def save_text(self, text: str, final: Path) -> Path:
        """Save a text file (an HTML page) under processed/ or reports/ through a temporary file."""
        with atomic_path(Path(final), self.folders) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return Path(final)

    # ----- findings -----
    def write_findings(self, cycle: str, stage: str, items: Iterable[fd.Finding]) -> pd.DataFrame:
        """Write this stage's findings and rebuild `findings.parquet` from every stage's file, so rerunning a
        stage replaces its findings instead of adding to them."""
        if stage not in FINDING_STAGES:
            raise ValueError(stage)
        self.write(cycle, f"findings_{stage}", fd.to_frame(items).assign(stage=stage))
        return self.combine_findings(cycle)

    def combine_findings(self, cycle: str) -> pd.DataFrame:
        """Rebuild `findings.parquet` from every stage's file (again after two stages wrote theirs at once)."""
        import pandas as pd

        parts = [self.read(cycle, f"findings_{s}") for s in FINDING_STAGES]
        frames = [p for p in parts if p is not None and len(p)]
        combined = pd.concat(frames, ignore_index=True) if frames else fd.to_frame([]).assign(stage=pd.Series(dtype="string"))
        self.write(cycle, "findings", combined)
        return combined

    # ----- cycles -----
    def raw_cycles(self) -> list[str]:
        if not self.folders.raw.is_dir():
            return []
        return cycle_folders((p.name for p in self.folders.raw.iterdir() if p.is_dir()), self.report_days)

    def year_cycles(self, cycle: str) -> list[str]:
        """Raw cycle folders of the same year up to and including `cycle`, oldest first."""
        year = cycle[:4]
        return [c for c in self.raw_cycles() if c[:4] == year and c <= cycle]

    def earlier_years_cycles(self, cycle: str, processed_too: bool = False) -> list[str]:
        """Cycles of the years before `cycle`'s, oldest first (the first-loan rule looks back at them): the raw
        folders, and with `processed_too` also cycles whose ledgers only the processed folder still holds (their raw
        folder archived away)."""
        names = set(self.raw_cycles())
        if processed_too and self.folders.processed.is_dir():
            kept = (p.name for p in self.folders.processed.iterdir() if (p / "loans_raw.parquet").is_file())
            names |= set(cycle_folders(kept, self.report_days))
        return sorted(c for c in names if c[:4] < cycle[:4])

    def previous(self, cycle: str) -> str:
        return previous_cycle(parse_cycle(cycle, self.report_days), self.report_days).isoformat()

    def load_year(self, name: str, cycle: str, columns: list[str] | None = None) -> pd.DataFrame:
        """`name` from every processed cycle of the year up to `cycle`, with a `cycle` column, oldest first."""
        import pandas as pd

        frames = []
        for c in self.year_cycles(cycle):
            frame = self.read(c, name, columns)
            if frame is not None:
                frames.append(frame.assign(cycle=c))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def latest_cycle(folders: Folders, report_days: Iterable[int] = DEFAULT_REPORT_DAYS) -> str | None:
    cycles = Catalog(folders, report_days).raw_cycles()
    return cycles[-1] if cycles else None


def as_date(cycle: str) -> dt.date:
    return dt.date.fromisoformat(cycle)
