"""Deterministic demo ledgers: realistic, deliberately messy workbooks for every cycle of a plan.

`write_demo(plan, out)` writes `out/<cycle>/<file>.xlsx` as units really send them: task-progress ledgers from
every responsible unit, and, when the plan expects them, lending ledgers from every bank, no-loan lists from the
counties and guarantee ledgers from the guarantee institutions. Everything comes from the plan (units, aliases,
lists and their columns, milestones, bank plans); the names of borrowers, contacts and figures are fictional.

Same plan and cycles → byte-identical files: all randomness is `random.Random` seeded from the plan id, the cycle
and a topic; workbook timestamps and zip entry dates are derived from the cycle. The mess (late and missing
ledgers, copy-pasted progress, an edited task text, a wrong 序号, odd file names, two versions of one ledger, …) is
listed in `out/.demo-manifest.json` under `mess`, with the cycle, file and unit where each item sits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.core.cycles import cycles_between, parse_cycle
from helpers.ingest.sources import file_sha256
from helpers.plan.model import Plan, Unit
from .guarantee import GuaranteeLedgers
from .lending import LendingLedgers
from .tasks import TaskLedgers
from .workbooks import _safe


DEMO_VERSION = 3   # bump when the generated ledgers change, so that `make demo` writes them again
MANIFEST_NAME = ".demo-manifest.json"


# ---------------------------------------------------------------------------------------------------------------
# Public verbs


@dataclass(frozen=True)
class DemoSet:
    """The demo in memory: relative path → workbook bytes, and the deliberate mess with its place."""

    cycles: tuple[str, ...]
    files: dict[str, bytes]
    units: dict[str, str]                      # relative path → unit id that sent it
    kinds: dict[str, tuple[str, ...]]          # relative path → ledger kinds it holds
    mess: tuple[dict[str, str], ...]


def default_cycles(plan: Plan) -> list[str]:
    """The report dates from 10 April to 25 June of the plan year (six cycles with report days 10 and 25)."""
    start, end = dt.date(plan.year, 4, 10), dt.date(plan.year, 6, 25)
    return [d.isoformat() for d in cycles_between(start, end, plan.report_days)]


def build_demo(plan: Plan, cycles: Sequence[str] | None = None) -> DemoSet:
    """Generate every demo workbook in memory (nothing is written)."""
    names = sorted(dict.fromkeys(cycles if cycles is not None else default_cycles(plan)))
    if not names:
        raise ValueError("演示数据至少需要一个周期")
    dates = [parse_cycle(name, plan.report_days) for name in names]
    return _Generator(plan, dates).run()


def write_demo(plan: Plan, out: Path, *, cycles: list[str] | None = None, force: bool = False) -> str:
    """Write the demo ledgers to `out/<cycle>/…` and a manifest `out/.demo-manifest.json`; return a summary.

    Idempotent: when the manifest says `out` already holds exactly this demo (same generator version, plan and
    cycles, every file present with its sha256), nothing is written unless `force`. Never writes outside `out`;
    files listed in an older manifest and no longer generated are removed, nothing else is touched.
    """
    names = sorted(dict.fromkeys(cycles if cycles is not None else default_cycles(plan)))
    for name in names:
        parse_cycle(name, plan.report_days)   # a CycleError (ValueError) before anything is written
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    fingerprint = _plan_fingerprint(plan)
    manifest_path = _inside(root, MANIFEST_NAME)
    old = _read_manifest(manifest_path)
    if not force and old and _manifest_current(root, old, fingerprint, names):
        return f"{len(names)} 个周期，共 {len(old['files'])} 个文件，已存在且一致，未重写"

    demo = build_demo(plan, names)
    new_paths = set(demo.files)
    for entry in (old or {}).get("files", []):
        rel = entry.get("path") if isinstance(entry, dict) else None
        if rel and rel not in new_paths:
            try:
                stale = _inside(root, rel)
            except ValueError:
                continue
            if stale.is_file():
                stale.unlink()
                _prune_empty_dirs(stale.parent, root)
    for rel, data in demo.files.items():
        target = _inside(root, rel)
        if target.is_file() and target.read_bytes() == data:
            continue
        _write_atomic(target, data, root)
    manifest = {
        "version": DEMO_VERSION,
        "generator": "helpers.demo",
        "plan": plan.id,
        "plan_sha256": fingerprint,
        "cycles": list(demo.cycles),
        "files": [
            {"path": rel, "sha256": _sha256(data), "unit": demo.units.get(rel), "kinds": list(demo.kinds.get(rel, ()))}
            for rel, data in demo.files.items()
        ],
        "mess": list(demo.mess),
    }
    _write_atomic(manifest_path, (json.dumps(manifest, ensure_ascii=False, indent=1) + "\n").encode("utf-8"), root)
    return f"{len(demo.cycles)} 个周期，共 {len(demo.files)} 个文件"


# ---------------------------------------------------------------------------------------------------------------
# Files: safe paths, manifest, deterministic workbooks


def _inside(root: Path, rel: str) -> Path:
    """`root/rel`, refusing anything that would land outside `root` (absolute paths, `..`, symlinks)."""
    rel_path = Path(rel)
    if rel_path.is_absolute() or ".." in rel_path.parts:
        raise ValueError(f"拒绝写到演示目录之外：{rel}")
    target = (root / rel_path).resolve()
    try:
        target.relative_to(root)
    except ValueError:
        raise ValueError(f"拒绝写到演示目录之外：{target}") from None
    return target


def _write_atomic(target: Path, data: bytes, root: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    _inside(root, str(target.parent.relative_to(root)) if target.parent != root else ".")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _prune_empty_dirs(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plan_fingerprint(plan: Plan) -> str:
    parts = (plan.id, plan.title, plan.year, plan.report_days, plan.units, plan.lists, plan.ledgers,
             plan.bank_plans, sorted(plan.collectives.items()))
    return _sha256(repr(parts).encode("utf-8"))


def _read_manifest(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _manifest_current(root: Path, manifest: dict, fingerprint: str, cycles: list[str]) -> bool:
    if (manifest.get("version"), manifest.get("plan_sha256"), manifest.get("cycles")) != (
        DEMO_VERSION, fingerprint, cycles
    ):
        return False
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        return False
    for entry in files:
        try:
            path = _inside(root, entry["path"])
            if not path.is_file() or file_sha256(path) != entry["sha256"]:
                return False
        except (KeyError, TypeError, ValueError, OSError):
            return False
    return True


class _Generator(TaskLedgers, LendingLedgers, GuaranteeLedgers):
    def __init__(self, plan: Plan, dates: list[dt.date]):
        self.plan = plan
        self.dates = dates
        self.names = [d.isoformat() for d in dates]
        self.files: dict[str, bytes] = {}
        self.file_units: dict[str, str] = {}
        self.file_kinds: dict[str, tuple[str, ...]] = {}
        self.mess: list[dict[str, str]] = []
        self.city = self._city_name()
        county_units = plan.units_of(kind="county")
        self.counties = [u.county or u.name for u in county_units] or [self.city]
        self.expected = {kind: plan.expected_units(kind) for kind in plan.ledgers}
        both = [c for c in self.expected.get("noloan", ()) if c in self.expected.get("task", ())]
        self.embedding_county = both[1].id if len(both) >= 2 else None

    # ----- helpers -----
    def expected_units(self, kind: str) -> tuple[Unit, ...]:
        return self.expected.get(kind, ())

    def rng(self, *parts: Any) -> random.Random:
        return random.Random("|".join((self.plan.id, *map(str, parts))))

    def _city_name(self) -> str:
        match = re.match(r"^(.{2,4}?市)", self.plan.title)
        return match.group(1) if match else ""

    def note(self, cycle: dt.date | str, file: str | None, unit: Unit | None, code: str, text: str) -> None:
        self.mess.append({
            "cycle": str(cycle), "file": file or "", "unit": unit.id if unit else "",
            "code": code, "note": text,
        })

    def add_file(self, cycle: dt.date, name: str, data: bytes, unit: Unit, kinds: Iterable[str],
                 folder: str | None = None) -> str:
        base = _safe(name.removesuffix(".xlsx"))
        prefix = f"{cycle.isoformat()}/" + (f"{folder}/" if folder else "")
        rel = f"{prefix}{base}.xlsx"
        n = 2
        while rel in self.files:
            rel = f"{prefix}{base}({n}).xlsx"
            n += 1
        self.files[rel] = data
        self.file_units[rel] = unit.id
        self.file_kinds[rel] = tuple(kinds)
        return rel

    def stamps(self, cycle: dt.date, filled: dt.date) -> tuple[dt.datetime, dt.datetime]:
        created = dt.datetime.combine(cycle - dt.timedelta(days=6), dt.time(9, 0))
        modified = dt.datetime.combine(max(filled, cycle - dt.timedelta(days=5)), dt.time(17, 30))
        return created, modified

    def run(self) -> DemoSet:
        kinds = self.plan.ledgers
        if {"lending", "noloan", "guarantee"} & set(kinds):
            self.lending_world()
        if "task" in kinds:
            self.task_ledgers()
        if "noloan" in kinds:
            self.noloan_lists()
        if "lending" in kinds:
            self.lending_ledgers()
        if "guarantee" in kinds:
            self.guarantee_ledgers()
        order = sorted(self.files)
        return DemoSet(
            cycles=tuple(self.names),
            files={k: self.files[k] for k in order},
            units={k: self.file_units[k] for k in order},
            kinds={k: self.file_kinds[k] for k in order},
            mess=tuple(sorted(self.mess, key=lambda m: (m["cycle"], m["code"], m["file"], m["unit"], m["note"]))),
        )
