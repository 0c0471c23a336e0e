"""A rerun with nothing changed: recognised before the kernel starts, answered with the last run's outputs.

A finished `taizhang run` keeps, in `processed/<cycle>/run.json`, what it was made from (the content of every
file of the raw cycles up to the cycle, earlier years' included, the plan folder, the helpers' code, the notebooks, the work
calendar, the versions of the libraries that shape the outputs) and what it left (name, size and modification
time of every file in the processed and reports folders), with the lines it printed. A rerun whose inputs and
outputs are both exactly as recorded would redo every stage to write the same bytes again, so it prints the
recorded lines instead; any difference at all (a file resent, added, opened and saved, an output deleted, another
cycle run meanwhile, a library upgraded) and the run is done in full.

Imports no pandas: the check is what a warm rerun costs (hashing the raw files, listing the outputs).
"""

from __future__ import annotations

import json
import os
import sys
from importlib import metadata
from pathlib import Path

from ..core.fingerprints import PACKAGE, code_digest, file_sha256, plan_digest
from ..core.workcalendar import calendar_digest
from .paths import NOTEBOOKS, atomic_path
from .run import Run

RUN_FILE = "run.json"
# libraries whose version can change an output's bytes (tables, charts, workbooks, documents, the notebooks)
_LIBRARIES = ("pandas", "numpy", "pyarrow", "python-calamine", "xlrd", "openpyxl", "matplotlib", "python-docx",
              "nbconvert", "nbformat", "papermill", "ipykernel")


def _contents(root: Path, skip: tuple[str, ...] = ()) -> list[list[str]]:
    """[relative path, sha256] of every file below `root` (hidden and lock files included: anything there counts),
    but for names ending in `skip`."""
    if not root.is_dir():
        return []
    return sorted([p.relative_to(root).as_posix(), file_sha256(p)] for p in root.rglob("*")
                  if p.is_file() and not p.name.endswith(skip))


def _versions() -> dict[str, str]:
    out = {"python": sys.version}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def run_inputs(run: Run) -> dict:
    """Everything a run's outputs are made from."""
    return {
        "cycle": run.cycle,
        "folders": [str(run.folders.raw), str(run.folders.processed), str(run.folders.reports)],
        # earlier years' cycles too: the first-loan rule looks back at them
        "raw": {c: _contents(run.folders.cycle_raw(c))
                for c in [*run.catalog.earlier_years_cycles(run.cycle), *run.catalog.year_cycles(run.cycle)]},
        "plan": plan_digest(run.plan),
        "plan_folder": _contents(Path(run.plan.path).parent) if run.plan.path else [],
        "code": code_digest(),
        "package_data": _contents(PACKAGE, skip=(".py", ".pyc")),   # templates, styles, fonts beside the code
        "notebooks": _contents(NOTEBOOKS),
        "calendar": calendar_digest(),
        "versions": _versions(),
    }


def run_outputs(run: Run) -> list[list]:
    """[relative path, size, modification time] of every file in the processed and reports folders, the run
    record itself excepted."""
    out = []
    record = _record_path(run)
    for top in (run.folders.processed, run.folders.reports):
        for here, _, files in os.walk(top):
            for name in files:
                path = Path(here) / name
                if path == record:
                    continue
                stat = path.stat()
                out.append([path.as_posix(), stat.st_size, stat.st_mtime_ns])
    return sorted(out)


def _record_path(run: Run) -> Path:
    return run.folders.cycle_processed(run.cycle) / RUN_FILE


def unchanged_lines(run: Run, inputs: dict) -> tuple[list[str], list[str]] | None:
    """The (stdout, stderr) lines the last run printed when nothing changed since it ended (`inputs`: the run's
    `run_inputs` now), else None."""
    path = _record_path(run)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["inputs"] != json.loads(json.dumps(inputs)) or record["outputs"] != run_outputs(run):
            return None
        return list(record["stdout"]), list(record["stderr"])
    except (OSError, ValueError, KeyError, TypeError):   # no record, or one this code cannot read: run in full
        return None


def keep_record(run: Run, inputs: dict, stdout: list[str], stderr: list[str]) -> None:
    """After a finished run: what it was made from (`inputs`, taken before it started, so that a file changed
    while it ran makes the next run a full one), what it left and what it printed."""
    record = {"inputs": inputs, "outputs": run_outputs(run), "stdout": stdout, "stderr": stderr}
    with atomic_path(_record_path(run), run.folders) as tmp:
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=0), encoding="utf-8")

