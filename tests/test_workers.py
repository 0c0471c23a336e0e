"""The worker processes a run shares between its stages: they end with the process that started them, and the files
they write besides the report are the files the run would write by itself."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import REPO
from tests.test_pipeline_e2e import small_cycle  # noqa: F401 - the module's cycle, run once

pytestmark = pytest.mark.slow

STARTER = """
import sys, time
from helpers.pipeline import workers as pipeline
pipeline.start_workers()
pool = pipeline._POOL
while len(pool._processes) < pipeline.worker_count():
    time.sleep(0.05)
print(" ".join(str(pid) for pid in pool._processes), flush=True)
time.sleep(120)
"""


def _ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")     # a zombie has ended; reaping it is its new parent's business


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_workers_end_when_the_process_that_started_them_is_killed():
    """A kernel killed outright cannot shut its workers down; they notice and end instead of waiting forever."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "TAIZHANG_WORKERS": "2"}
    starter = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE, text=True, env=env)
    try:
        pids = [int(p) for p in starter.stdout.readline().split()]
        assert len(pids) == min(2, os.cpu_count() or 1) and not any(_ended(p) for p in pids)
    finally:
        starter.send_signal(signal.SIGKILL)
        starter.wait()
    deadline = time.monotonic() + 10
    while not all(_ended(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(_ended(p) for p in pids)


def _outputs(reports: Path, cycle: str, next_cycle: str) -> dict[str, object]:
    """Every file the outputs wrote: unit pages as bytes, workbooks as their cell values (an xlsx file carries
    the time it was written)."""
    found: dict[str, object] = {}
    for path in sorted([*(reports / cycle).rglob("*"), *(reports / next_cycle).rglob("*")]):
        if not path.is_file() or path.suffix not in (".html", ".xlsx") or path.name == "report.html":
            continue
        if path.suffix == ".html":
            found[str(path.relative_to(reports))] = path.read_bytes()
        else:
            book = openpyxl.load_workbook(path)
            found[str(path.relative_to(reports))] = [[list(row) for row in ws.iter_rows(values_only=True)]
                                                      for ws in book.worksheets]
    return found


@pytest.mark.parametrize("workers", ["2", "1"])
def test_outputs_written_by_workers_are_those_written_here(small_cycle: Path, tmp_path: Path,  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch, workers: str):
    """consolidated.xlsx, the unit pages and next cycle's templates, started after the reconciliation and waited
    for in the report (as the notebooks do), are the files the first run wrote; with one process allowed they
    are written in this process, the same."""
    from helpers.pipeline import outputs as pipeline_outputs
    from helpers.pipeline import run as pipeline_run
    from helpers.pipeline import workers as pipeline_workers

    monkeypatch.setenv("TAIZHANG_WORKERS", workers)
    processed = tmp_path / "processed"
    shutil.copytree(small_cycle / "processed", processed)
    for name in ("templates", "unit_pages", "consolidated"):     # nothing kept: every file is written again
        (processed / "2022-06-25" / f"{name}.json").unlink()
    run = pipeline_run.open_run("2022-06-25", None, small_cycle / "raw", processed, tmp_path / "reports")
    pipeline_outputs.start_outputs(run, pipeline_outputs.AFTER_RECONCILE)
    outputs = pipeline_outputs.start_outputs(run)
    outputs.wait()
    pipeline_workers.stop_workers()
    written = _outputs(tmp_path / "reports", "2022-06-25", "2022-07-10")
    assert written == _outputs(small_cycle / "reports", "2022-06-25", "2022-07-10")
    assert any(name.endswith("consolidated.xlsx") for name in written)
    assert any("/units/" in name for name in written) and any("/templates/" in name for name in written)
