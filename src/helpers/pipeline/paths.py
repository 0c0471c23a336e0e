"""Where things live. The raw folder is read-only for the suite; writers accept only the processed and reports
folders, and write through a temporary name so a failed run leaves the previous outputs intact.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..core.locations import REPO


DEFAULT_RAW = Path("data/raw")
DEFAULT_PROCESSED = Path("data/processed")
DEFAULT_REPORTS = Path("reports")
DEFAULT_PLAN_GLOB = "data/plan/datong-2022.*"
NOTEBOOKS = REPO / "notebooks"


class UnsafeWrite(PermissionError):
    """Raised when code tries to write outside the processed and reports folders."""


@dataclass(frozen=True)
class Folders:
    """The three folders of a run, resolved to absolute paths."""

    raw: Path
    processed: Path
    reports: Path

    @classmethod
    def of(cls, raw: str | Path, processed: str | Path, reports: str | Path) -> "Folders":
        return cls(*(Path(p).expanduser().resolve() for p in (raw, processed, reports)))

    def cycle_raw(self, cycle: str) -> Path:
        return self.raw / cycle

    def cycle_processed(self, cycle: str) -> Path:
        return self.processed / cycle

    def cycle_reports(self, cycle: str) -> Path:
        return self.reports / cycle

    def check_writable(self, path: Path) -> Path:
        """Refuse any path that is not inside processed/ or reports/, or that lies inside raw/."""
        target = Path(path).resolve()
        if _inside(target, self.raw):
            raise UnsafeWrite(f"拒绝写入原始数据目录：{target}")
        if not (_inside(target, self.processed) or _inside(target, self.reports)):
            raise UnsafeWrite(f"拒绝写入处理结果和报告目录之外的位置：{target}")
        return target


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def resolve_plan(plan: str | Path | None) -> Path:
    """The plan file: as given, or the default `data/plan/datong-2022.*` relative to the working folder or repo."""
    if plan:
        candidates = sorted(Path().glob(str(plan))) if any(c in str(plan) for c in "*?[") else [Path(plan)]
    else:
        candidates = sorted(Path().glob(DEFAULT_PLAN_GLOB)) or sorted(REPO.glob(DEFAULT_PLAN_GLOB))
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise FileNotFoundError(f"找不到计划文件：{plan or DEFAULT_PLAN_GLOB}")


@contextmanager
def atomic_path(final: Path, folders: Folders) -> Iterator[Path]:
    """Yield a temporary path beside `final`; move it into place only when the block succeeds."""
    final = folders.check_writable(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)  # mkstemp makes 0600; reports are meant to be shared
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


class KeptFiles:
    """Files a run keeps for the next ones in a folder of the processed tree, one per key (`<key><suffix>`),
    written atomically. `read` gives a file's bytes and `keep` marks a key used once its content proved usable;
    `write` marks it too; `prune` removes the files of the keys this run did not use."""

    def __init__(self, folder: Path, suffix: str, folders: Folders):
        self.folder = folder
        self.suffix = suffix
        self.folders = folders
        self.used: set[str] = set()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}{self.suffix}"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def read(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except OSError:
            return None

    def keep(self, key: str) -> None:
        self.used.add(key)

    def write(self, key: str, data: bytes) -> None:
        with atomic_path(self.path(key), self.folders) as tmp:
            tmp.write_bytes(data)
        self.keep(key)

    def prune(self) -> None:
        if self.folder.is_dir():
            for path in self.folder.glob(f"*{self.suffix}"):
                if path.name.removesuffix(self.suffix) not in self.used:
                    path.unlink()


@contextmanager
def atomic_dir(final: Path, folders: Folders) -> Iterator[Path]:
    """Build a whole folder under a temporary name, then swap it in; on failure the old folder stays."""
    final = folders.check_writable(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        old = final.with_name(f".{final.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


SNAPSHOT = ".snapshot"


@contextmanager
def restore_on_failure(folder: Path, folders: Folders) -> Iterator[None]:
    """Keep a hard-linked snapshot of `folder` inside it (cheap: writers replace files, never edit them in place)
    and put it back if the block fails, so a failed run leaves the previous processed tables as they were."""
    folder = folders.check_writable(folder)
    snapshot = folder / SNAPSHOT
    if snapshot.exists():
        shutil.rmtree(snapshot)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder, snapshot, copy_function=os.link, ignore=shutil.ignore_patterns(SNAPSHOT))
    try:
        yield
    except BaseException:
        for child in folder.iterdir():
            if child.name != SNAPSHOT:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        for child in snapshot.iterdir():
            os.replace(child, folder / child.name)
        raise
    finally:
        if snapshot.exists():
            shutil.rmtree(snapshot)
