"""Runs: the folders, the catalogue of processed tables, the stages with their fingerprints, worker
processes and the files written besides the report. The only stage that writes to processed/ and
reports/. The names below are what the notebooks call.
"""

from __future__ import annotations

from .explore import cycle_tables as cycle_tables, load_year as load_year
from .outputs import AFTER_RECONCILE as AFTER_RECONCILE, start_outputs as start_outputs, start_report as start_report
from .outputs import wait_unless_chained as wait_unless_chained
from .run import open_run as open_run
from .stages import indicators_cycle as indicators_cycle, ingest as ingest, reconcile_cycle as reconcile_cycle
