"""The benchmark: `make bench`.

For each volume (loan rows in the current cycle's 贷款明细; default 30,000, 100,000 and 300,000) it builds the
stress year with `bench/generate.py` (cached under `bench/data/`), then runs, one after the other in this process
tree:

  year_cold  `taizhang run` on an empty processed folder (all twelve cycles of the year are ingested)
  warm    the same run again, nothing changed
  resend  the same run after one bank resends its lending ledger (the largest bank that had not sent a corrected
          version already; a few amounts corrected, a later 填报日期), in place, under the same file name
  cold    the usual run: the current cycle's ledgers arrive on a year whose earlier cycles are processed (the
          current cycle's processed folder and the reports removed, so none of its files was read before)
  bare    the issue's yardstick: python-calamine alone turning every sheet of every workbook of the current cycle
          into Python values, in one process, with nothing else (no checks, no types, nothing written); the time
          of the reading itself (interpreter start and imports not counted)
  naive   a baseline that merely reads every workbook of the current cycle with `pandas.read_excel` defaults
          (`sheet_name=None`, so every sheet, as the suite does; engine openpyxl)
  naive_year  the same baseline over every workbook a cold run reads (the year's twelve cycles)
  readers python-calamine alone over every workbook the whole-year cold run reads, in as many processes as the
          run's workers: what the year's cold run costs beyond it is the suite's own work

Each run is a subprocess whose whole process tree (the CLI, the Jupyter kernel, …) is sampled every 50 ms from
/proc for the sum of its resident memory. Stage times are the CLI's per-notebook lines
("01_ingest.ipynb 完成（x 秒）"); `overhead` is the rest of the wall time (start-up, imports before the first
notebook, rendering report.html). It prints a table and writes `reports/benchmark.json`.

    .venv/bin/python bench/run.py [--scales 30000,100000,300000] [--src path/to/other/src] [--label after]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import generate
from helpers.pipeline.workers import worker_count

VENV = REPO / ".venv"
PYTHON = VENV / "bin" / "python"
STAGES = {"01": "ingest", "02": "reconcile", "03": "indicators", "04": "report"}
_STAGE_LINE = re.compile(r"^\s*(\d\d)_\w+\.ipynb 完成（([0-9.]+) 秒）")
PAGE = os.sysconf("SC_PAGE_SIZE")
# the targets (issue 19), each measured in one sitting against the bare reader or the naive read of the same
# files; year_cold_vs_naive_year and year_cold_vs_readers are shown beside them for comparison only
TARGETS = {"cold_vs_bare": 2.5, "warm_vs_bare": 1.0, "resend_vs_bare": 1.5, "year_cold_vs_naive": 0.4,
           "peak_gib": 1.5, "demo_cold_s": 6.0}

NAIVE = r"""
import sys, time, warnings
from pathlib import Path
import pandas as pd
warnings.simplefilter("ignore")   # pandas' notice that the default engine will change
t0 = time.perf_counter()
rows = 0
files = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.suffix.lower() in (".xlsx", ".xls", ".xlsm"))
for path in files:
    for frame in pd.read_excel(path, sheet_name=None).values():
        rows += len(frame)
print(f"naive: {len(files)} files, {rows} rows, {time.perf_counter() - t0:.1f} s")
"""

BARE = r"""
import sys, time
from pathlib import Path
import python_calamine

files = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.suffix.lower() in (".xlsx", ".xls", ".xlsm"))
t0 = time.perf_counter()
rows = 0
for path in files:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    rows += sum(len(book.get_sheet_by_name(name).to_python()) for name in book.sheet_names)
print(f"bare: {len(files)} files, {rows} rows, {time.perf_counter() - t0:.3f} s")
"""
_BARE_LINE = re.compile(r"^bare: .* ([0-9.]+) s$", re.M)

READERS = r"""
import sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import python_calamine


def rows_of(path):
    book = python_calamine.CalamineWorkbook.from_path(path)
    return sum(len(book.get_sheet_by_name(name).to_python()) for name in book.sheet_names)


if __name__ == "__main__":
    files = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.suffix.lower() in (".xlsx", ".xls", ".xlsm"))
    files.sort(key=lambda p: -p.stat().st_size)           # the largest first, as the suite's ingest does
    with ProcessPoolExecutor(int(sys.argv[2])) as pool:
        list(pool.map(abs, range(int(sys.argv[2]))))      # started before the clock, like the run's workers
        t0 = time.perf_counter()
        rows = sum(pool.map(rows_of, map(str, files), chunksize=4))
    print(f"readers: {len(files)} files, {rows} rows, {time.perf_counter() - t0:.1f} s")
"""


# ---------------------------------------------------------------------------------------------------------------
# Measuring a process tree


def _children_map() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        out.setdefault(int(fields[1]), []).append(int(entry.name))
    return out


TICK = os.sysconf("SC_CLK_TCK")


def tree_rss(root: int, cpu: dict[int, float] | None = None) -> int:
    """Sum of the resident set sizes of `root` and all its descendants, in bytes; `cpu` gets each one's CPU seconds
    so far (a process reaped by one that is not waited for, like a fork server's workers, is missing from the
    rusage of the tree)."""
    children = _children_map()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
            if cpu is not None:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    stat = f.read()
                fields = stat[stat.rfind(b")") + 2:].split()
                cpu[pid] = (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(children.get(pid, ()))
    return total


def measured(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run `cmd`, sampling its process tree's RSS every 50 ms; wall time, peak, output, rusage of the tree."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd, text=True)
    peak = 0
    cpu: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid, cpu))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    # CPU: the most of the tree's rusage (processes waited for) and the sampled sum (every process seen)
    return {"wall": wall, "peak_rss": peak, "output": output, "returncode": proc.returncode,
            "cpu": max(usage.ru_utime + usage.ru_stime, sum(cpu.values())), "max_single_rss": usage.ru_maxrss * 1024}


def taizhang_run(raw: Path, processed: Path, reports: Path, env: dict, *, stress: bool = True) -> dict:
    """One `taizhang run`: the stress year's current cycle with its plan, or (stress=False) the latest cycle
    of `raw` with the default plan (the demo)."""
    cmd = [str(PYTHON), "-m", "helpers.cli", "run"]
    if stress:
        cmd += ["--cycle", generate.CURRENT, "--plan", str(generate.PLAN_FILE)]
    cmd += ["--raw", str(raw), "--processed", str(processed), "--reports", str(reports)]
    result = measured(cmd, env=env, cwd=REPO)
    if result["returncode"] != 0:
        raise SystemExit(f"taizhang run failed ({result['returncode']}):\n{result['output'][-4000:]}")
    stages = {name: 0.0 for name in STAGES.values()}
    for line in result["output"].splitlines():
        m = _STAGE_LINE.match(line)
        if m and m.group(1) in STAGES:
            stages[STAGES[m.group(1)]] = float(m.group(2))
    result["stages"] = stages
    result["overhead"] = result["wall"] - sum(stages.values())
    return result


# ---------------------------------------------------------------------------------------------------------------
# One volume


def run_scale(loans: int, env: dict, work: Path, *, runs: tuple[str, ...], log) -> dict:
    spec = generate.Spec(loans=loans)
    target = work / f"loans-{loans}"
    t0 = time.perf_counter()
    info = generate.scenario(spec, target, log=log)
    log(f"  data ready ({time.perf_counter() - t0:.1f} s): {target}")
    raw = info["raw"]
    processed, reports = target / "processed", target / "reports"
    for folder in (processed, reports):
        if folder.exists():
            shutil.rmtree(folder)
    rows = info["rows"]
    year_rows = sum(sum(r.values()) for r in rows.values())
    current_rows = sum(rows[generate.CURRENT].values())
    files = sorted((raw / generate.CURRENT).iterdir())
    largest = max(files, key=lambda p: p.stat().st_size)
    out: dict = {
        "loans": loans,
        "rows": {"year": year_rows, "current_cycle": current_rows, "current_loans": rows[generate.CURRENT]["loans"],
                 "per_cycle": rows},
        "files": {"current_cycle": len(files), "current_bytes": sum(p.stat().st_size for p in files),
                  "largest": largest.name, "largest_bytes": largest.stat().st_size},
        "runs": {},
    }

    def record(name: str, result: dict, ingested_rows: int | None) -> None:
        entry = {k: result[k] for k in ("wall", "peak_rss", "max_single_rss", "cpu")}
        if "stages" in result:
            entry["stages"] = result["stages"]
            entry["overhead"] = result["overhead"]
            ingest = result["stages"]["ingest"]
            entry["ingest_rows"] = ingested_rows
            entry["ingest_rows_per_s"] = (ingested_rows / ingest) if ingested_rows and ingest else None
        out["runs"][name] = entry
        log(f"  {name:<10} {result['wall']:7.1f} s  cpu {result['cpu']:6.1f} s  peak {result['peak_rss'] / 2**20:7.0f} MiB"
            + ("  " + " ".join(f"{k} {v:.1f}" for k, v in result["stages"].items()) if "stages" in result else ""))

    if "year_cold" in runs:
        record("year_cold", taizhang_run(raw, processed, reports, env), year_rows)
    if "warm" in runs:
        record("warm", taizhang_run(raw, processed, reports, env), 0)
    if "resend" in runs:
        resent = generate.resend(spec, raw / generate.CURRENT, log=log)
        out["files"]["resent"] = resent.name
        record("resend", taizhang_run(raw, processed, reports, env), None)
    if "cold" in runs:
        for folder in (processed / generate.CURRENT, reports):
            if folder.exists():
                shutil.rmtree(folder)
        record("cold", taizhang_run(raw, processed, reports, env), current_rows)
    if "bare" in runs:
        result = measured([str(PYTHON), "-c", BARE, str(raw / generate.CURRENT)], env=env, cwd=REPO)
        said = _BARE_LINE.search(result["output"])
        if result["returncode"] != 0 or not said:
            raise SystemExit(f"bare reader failed:\n{result['output'][-4000:]}")
        result["process_wall"], result["wall"] = result["wall"], float(said.group(1))
        record("bare", result, None)
    # the baseline of the issue: every workbook of the cycle; and the same over every workbook a cold run reads
    for name, folder in (("naive", raw / generate.CURRENT), ("naive_year", raw)):
        if name in runs:
            result = measured([str(PYTHON), "-c", NAIVE, str(folder)], env=env, cwd=REPO)
            if result["returncode"] != 0:
                raise SystemExit(f"{name} baseline failed:\n{result['output'][-4000:]}")
            record(name, result, None)
    if "readers" in runs:
        result = measured([str(PYTHON), "-c", READERS, str(raw), str(worker_count())], env=env, cwd=REPO)
        if result["returncode"] != 0:
            raise SystemExit(f"readers baseline failed:\n{result['output'][-4000:]}")
        record("readers", result, None)
    r = out["runs"]
    ratios = {}
    for run, base in (("cold", "bare"), ("warm", "bare"), ("resend", "bare"), ("year_cold", "naive"),
                      ("year_cold", "naive_year"), ("year_cold", "readers")):
        if run in r and base in r:
            ratios[f"{run}_vs_{base}"] = r[run]["wall"] / r[base]["wall"]
    out["ratios"] = ratios
    out["peak_rss"] = max((x["peak_rss"] for k, x in r.items() if k in ("year_cold", "cold", "warm", "resend")),
                          default=None)
    return out


def demo_cold(env: dict, work: Path, log) -> dict:
    """The demo cycle (`taizhang demo` data), run cold."""
    target = work / "demo"
    raw = target / "raw"
    subprocess.run([str(PYTHON), "-m", "helpers.cli", "demo", "--out", str(raw)], env=env, cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    for folder in (target / "processed", target / "reports"):
        if folder.exists():
            shutil.rmtree(folder)
    result = taizhang_run(raw, target / "processed", target / "reports", env, stress=False)
    log(f"  demo cold {result['wall']:.1f} s  peak {result['peak_rss'] / 2**20:.0f} MiB  "
        + " ".join(f"{k} {v:.1f}" for k, v in result["stages"].items()))
    return {k: result[k] for k in ("wall", "peak_rss", "stages", "overhead", "cpu")}


# ---------------------------------------------------------------------------------------------------------------
# Report


def _fit(points: list[tuple[float, float]]) -> dict | None:
    """Least-squares line time = a + b·rows, and the worst relative deviation from it."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    a = my - b * mx
    dev = max(abs(y - (a + b * x)) / y for x, y in points if y)
    return {"fixed_s": a, "s_per_100k_rows": b * 1e5, "max_rel_deviation": dev}


def table(result: dict) -> str:
    lines = []
    head = f"{'loans':>8} {'run':<10} {'wall s':>7} {'cpu s':>6} {'ingest':>7} {'recon':>6} {'indic':>6} {'report':>7} {'other':>6} " \
           f"{'rows/s':>9} {'peak MiB':>9}"
    lines.append(head)
    lines.append("-" * len(head))
    for scale in result["scales"]:
        for name, run in scale["runs"].items():
            st = run.get("stages")
            rate = run.get("ingest_rows_per_s")
            lines.append(
                f"{scale['loans']:>8,} {name:<10} {run['wall']:7.1f} {run['cpu']:6.1f} "
                + (f"{st['ingest']:7.1f} {st['reconcile']:6.1f} {st['indicators']:6.1f} {st['report']:7.1f} "
                   f"{run['overhead']:6.1f} " if st else f"{'':7} {'':6} {'':6} {'':7} {'':6} ")
                + (f"{rate:9,.0f} " if rate else f"{'':9} ")
                + f"{run['peak_rss'] / 2**20:9.0f}")
        ratios = scale["ratios"]
        if scale.get("peak_rss"):
            ratios = {**ratios, "peak_gib": scale["peak_rss"] / 2**30}
        lines.append("         ratios: " + "  ".join(
            f"{k} {v:.2f} " + (f"(target ≤ {TARGETS[k]})" if k in TARGETS else "(for comparison)")
            for k, v in ratios.items()))
    if result.get("demo"):
        d = result["demo"]
        lines.append(f"demo cold: {d['wall']:.1f} s (target ≤ {TARGETS['demo_cold_s']:.0f} s), peak "
                     f"{d['peak_rss'] / 2**20:.0f} MiB")
    if result.get("growth"):
        for run, fit in result["growth"].items():
            if fit:
                lines.append(f"growth {run}: {fit['fixed_s']:.1f} s + {fit['s_per_100k_rows']:.1f} s per 100k loan rows "
                             f"(worst deviation from a line {fit['max_rel_deviation']:.0%})")
    return "\n".join(lines)


def _git() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "notebooks"], cwd=REPO,
                               capture_output=True, text=True, check=False).stdout.strip()
        return {"commit": commit, "dirty": bool(dirty)}
    except OSError:
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="benchmark taizhang run on a generated stress year")
    parser.add_argument("--scales", default="30000,100000,300000", help="loan rows of the current cycle, comma-separated")
    parser.add_argument("--runs", default="year_cold,warm,resend,cold,bare,naive,naive_year,readers",
                        help="which runs, comma-separated (cold needs year_cold before it)")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo cold run")
    parser.add_argument("--src", type=Path, help="run another source tree (its src/ first on PYTHONPATH)")
    parser.add_argument("--label", default="", help="a label stored in the JSON")
    parser.add_argument("--work", type=Path, default=generate.DATA / "work", help="scratch folder for runs")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "benchmark.json")
    args = parser.parse_args(argv)

    # as installed: Python keeps the compiled helpers (__pycache__) between runs; a shell that forbids it would
    # have every process of every run compile them again (about 0.3 s of CPU each)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join([str(args.src.resolve()), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    runs = tuple(r.strip() for r in args.runs.split(",") if r.strip())
    scales = [int(s) for s in args.scales.split(",") if s.strip()]

    def log(text: str) -> None:
        print(text, flush=True)

    started = time.perf_counter()
    for src in {REPO / "src", *([args.src] if args.src else [])}:
        subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(src)], env=env, check=False,
                       stdout=subprocess.DEVNULL)
    result: dict = {
        "label": args.label,
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "memory_gib": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1)},
        "git": _git(),
        "src": str(args.src) if args.src else str(REPO / "src"),
        "generator_version": generate.GEN_VERSION,
        "targets": TARGETS,
        "scales": [],
    }
    if not args.no_demo:
        log("demo cycle")
        result["demo"] = demo_cold(env, args.work, log)
    for loans in scales:
        log(f"{loans:,} loan rows in the current cycle")
        result["scales"].append(run_scale(loans, env, args.work, runs=runs, log=log))
    by_run: dict[str, list[tuple[float, float]]] = {}
    for scale in result["scales"]:
        for name, run in scale["runs"].items():
            by_run.setdefault(name, []).append((scale["loans"], run["wall"]))
    result["growth"] = {name: _fit(points) for name, points in by_run.items()}
    result["total_seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print()
    print(table(result))
    print(f"\n{args.out} (benchmark took {result['total_seconds'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
