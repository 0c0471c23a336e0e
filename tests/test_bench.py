"""The benchmark's stress-ledger generator (bench/generate.py) is deterministic and caches what it made."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

generate = pytest.importorskip("generate")

TINY = generate.Spec(loans=600, loans_earlier=200, progress_ledgers=48, bank_ledgers=22, noloan_current=40,
                     noloan_earlier=(10, 20), guarantees_current=30, guarantees_earlier=(10, 20), first="2022-06-10",
                     parties=500)


def digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_spec_gives_byte_identical_ledgers(tmp_path):
    a = generate.scenario(TINY, tmp_path / "a", root=tmp_path / "cache-a", log=lambda _: None)
    b = generate.scenario(TINY, tmp_path / "b", root=tmp_path / "cache-b", log=lambda _: None)
    assert a["rows"] == b["rows"]
    assert digests(a["raw"]) == digests(b["raw"])
    current = a["rows"]["2022-06-25"]
    assert current["loans"] == TINY.loans                       # the cycle's 贷款明细 rows, exactly
    files = list((a["raw"] / "2022-06-25").iterdir())
    assert len(files) == TINY.progress_ledgers + TINY.bank_ledgers + 10 + 1
    assert all(p.suffix == ".xlsx" for p in files)


def test_cached_cycles_are_reused_and_earlier_cycles_shared(tmp_path):
    log: list[str] = []
    generate.scenario(TINY, tmp_path / "a", root=tmp_path / "cache", log=log.append)
    assert any("generated 2022-06-10" in line for line in log)
    log.clear()
    bigger = generate.Spec(**{**TINY.__dict__, "loans": 900})
    generate.scenario(bigger, tmp_path / "b", root=tmp_path / "cache", log=log.append)
    assert not any("generated 2022-06-10" in line for line in log)   # the earlier cycle is shared
    assert any("generated 2022-06-25" in line for line in log)       # the current one depends on the volume


def test_resend_replaces_one_file_and_keeps_the_cache(tmp_path):
    info = generate.scenario(TINY, tmp_path / "a", root=tmp_path / "cache", log=lambda _: None)
    cycle = info["raw"] / "2022-06-25"
    before = digests(cycle)
    path = generate.resend(TINY, cycle, root=tmp_path / "cache", log=lambda _: None)
    after = digests(cycle)
    assert [name for name in before if before[name] != after[name]] == [path.name]
    again = generate.scenario(TINY, tmp_path / "b", root=tmp_path / "cache", log=lambda _: None)
    assert digests(again["raw"] / "2022-06-25") == before       # the cached original is untouched
