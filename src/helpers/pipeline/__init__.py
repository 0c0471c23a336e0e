"""Runs: the folders, the catalogue of processed tables, the stages with their fingerprints, worker
processes and the files written besides the report. The only stage that writes to processed/ and
reports/. The names below are what the notebooks call.

They are imported when first used (PEP 562): `taizhang run` imports `pipeline.paths` to start the kernel, and
would otherwise import pandas and the whole computing stack (about a second) before the kernel is even started.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_NAMES = {
    "cycle_tables": ".explore", "load_year": ".explore",
    "AFTER_RECONCILE": ".outputs", "start_outputs": ".outputs", "start_report": ".outputs",
    "wait_unless_chained": ".outputs",
    "open_run": ".run",
    "indicators_cycle": ".stages", "ingest": ".stages", "reconcile_cycle": ".stages", "start_indicators": ".stages",
}

if TYPE_CHECKING:
    from .explore import cycle_tables as cycle_tables, load_year as load_year
    from .outputs import AFTER_RECONCILE as AFTER_RECONCILE, start_outputs as start_outputs
    from .outputs import start_report as start_report, wait_unless_chained as wait_unless_chained
    from .run import open_run as open_run
    from .stages import indicators_cycle as indicators_cycle, ingest as ingest, reconcile_cycle as reconcile_cycle
    from .stages import start_indicators as start_indicators


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_NAMES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_NAMES])
