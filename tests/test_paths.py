"""Writers refuse the raw folder and anything outside processed/ and reports/; failures leave old files."""

from __future__ import annotations

import pytest

from helpers.pipeline.paths import Folders, UnsafeWrite, atomic_dir, atomic_path, restore_on_failure


@pytest.fixture
def folders(tmp_path):
    for name in ("raw", "processed", "reports"):
        (tmp_path / name).mkdir()
    return Folders.of(tmp_path / "raw", tmp_path / "processed", tmp_path / "reports")


def test_refuses_raw_and_outside(folders, tmp_path):
    with pytest.raises(UnsafeWrite, match="原始数据目录"):
        folders.check_writable(folders.raw / "2022-06-25" / "x.parquet")
    with pytest.raises(UnsafeWrite, match="之外"):
        folders.check_writable(tmp_path / "elsewhere.txt")
    assert folders.check_writable(folders.reports / "a" / "b.html")


def test_atomic_path_keeps_old_file_on_failure(folders):
    target = folders.reports / "report.html"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_path(target, folders) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in folders.reports.iterdir()] == ["report.html"]
    with atomic_path(target, folders) as tmp:
        tmp.write_text("new", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "new"
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_atomic_dir_swaps_whole_folder(folders):
    target = folders.reports / "nb"
    target.mkdir()
    (target / "a.ipynb").write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_dir(target, folders) as tmp:
            (tmp / "b.ipynb").write_text("new", encoding="utf-8")
            raise RuntimeError("boom")
    assert sorted(p.name for p in target.iterdir()) == ["a.ipynb"]
    with atomic_dir(target, folders) as tmp:
        (tmp / "b.ipynb").write_text("new", encoding="utf-8")
    assert sorted(p.name for p in target.iterdir()) == ["b.ipynb"]


def test_restore_on_failure_puts_processed_back(folders):
    cycle = folders.processed / "2022-06-25"
    cycle.mkdir()
    (cycle / "t.parquet").write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with restore_on_failure(folders.processed, folders):
            with atomic_path(cycle / "t.parquet", folders) as tmp:
                tmp.write_bytes(b"new")
            (folders.processed / "2022-07-10").mkdir()
            raise RuntimeError("boom")
    assert (cycle / "t.parquet").read_bytes() == b"old"
    assert sorted(p.name for p in folders.processed.iterdir()) == ["2022-06-25"]
    with restore_on_failure(folders.processed, folders):
        with atomic_path(cycle / "t.parquet", folders) as tmp:
            tmp.write_bytes(b"new")
    assert (cycle / "t.parquet").read_bytes() == b"new"
    assert not (folders.processed / ".snapshot").exists()
