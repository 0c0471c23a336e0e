"""Worker processes shared by the stages: started on first use, given the plan by its file,
stopped when the run no longer needs them.
"""

from __future__ import annotations

import os
import sys
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager

from ..plan.model import Plan, load_plan
from .catalog import Catalog
from .paths import Folders
from .run import Run, RunError, open_run


WORKERS = 2                 # worker processes shared by the stages (TAIZHANG_WORKERS overrides; 1: none)


# ---------------------------------------------------------------------------------------------------------------
# Worker processes, shared by the stages

_POOL = None       # concurrent.futures.ProcessPoolExecutor, started on first use


def worker_count() -> int:
    """Worker processes allowed: WORKERS, or TAIZHANG_WORKERS (1: everything in this process), at most the CPUs."""
    return max(1, min(int(os.environ.get("TAIZHANG_WORKERS", WORKERS) or 1), os.cpu_count() or 1))


def can_use_workers(run: Run) -> bool:
    """Workers load the plan from its file, so a plan built in memory stays in this process; a worker itself
    starts no workers of its own."""
    return _WORKER_PLAN is None and worker_count() >= 2 and getattr(run.plan, "path", None) is not None


# Set by `taizhang run` in its kernel's environment: the cycle's notebooks run one after the other in that kernel,
# so work one notebook starts in the background may be waited for by a later one
CHAINED_ENV = "TAIZHANG_CHAINED"


def chained() -> bool:
    """This kernel runs the whole cycle (`taizhang run`), not one notebook alone (papermill, JupyterLab)."""
    return os.environ.get(CHAINED_ENV) == "1"


def submit(run: Run, fn, *args):
    """`fn(*args)` in a worker process, given the run's plan (`_worker_plan`). The processes are started on first
    use (or by `start_workers`) and kept for the stages that follow (each start costs about a second of
    imports), until `stop_workers`."""
    return _submit(_in_worker, str(run.plan.path), fn, args)


def start_workers() -> None:
    """Start the worker processes now, so that the first stage needing them finds them ready (`taizhang run` has
    the kernel do this while it is otherwise waiting). Nothing when only one process is allowed."""
    if worker_count() >= 2:
        for _ in range(worker_count()):    # each task submitted to a busy pool starts one more process
            _submit(_import_helpers)


def start_workers_for_first_run(cycle: str | None, plan: str | None, raw: str | None, processed: str | None,
                                reports: str | None) -> bool:
    """`start_workers` when the run's cycle was never ingested into its processed folder (a first run reads the
    year's workbooks with them); a rerun may need none, and the stage that does starts them. True for a first
    run."""
    try:
        run = open_run(cycle, plan, raw, processed, reports)
    except RunError:
        return False      # the run itself says what is wrong
    if run.catalog.read_json(run.cycle, "ingest") is not None:
        return False
    start_workers()
    return True


# imported once by the fork server, so that each worker starts with them (about a second of imports per worker)
_PRELOAD = ["helpers.pipeline.stages", "helpers.pipeline.outputs"]


def _submit(fn, *args):
    """forkserver, not fork: a fork of a Jupyter kernel would copy its threads' locks. The fork server is a fresh
    process that imports the helpers once (`_PRELOAD`) and forks each worker from itself, so workers started
    again for a later stage (after `stop_workers`) cost no imports."""
    global _POOL
    if _POOL is None or getattr(_POOL, "_broken", False):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        _POOL = ProcessPoolExecutor(worker_count(), mp_context=context, initializer=_watch_parent,
                                    initargs=(os.getpid(),))
    with _main_not_rerun():      # processes are started as tasks are submitted
        return _POOL.submit(fn, *args)


def _import_helpers() -> None:
    """In a worker: nothing to do; unpickling this function imported `pipeline`, and with it all its tasks use."""


def stop_workers() -> None:
    """End the worker processes once the tasks given to them are done (they hold memory from their last tasks);
    the next `submit` starts new ones."""
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(wait=True)
        _POOL = None


def _watch_parent(parent: int) -> None:
    """In a worker: end this process when `parent`, the process that submits its tasks, is gone (a kernel that
    was killed cannot shut its workers down, and an idle worker would otherwise wait for tasks forever; the fork
    server that forked it keeps running while any worker does). Ctrl-C and a kernel's interrupt reach the whole
    process group: the parent decides what becomes of its workers, so they ignore it."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while _alive(parent):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="taizhang-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    """The process runs (a zombie, killed but not yet reaped by its own parent, has ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True      # no /proc: the signal test above is all there is


def _in_worker(plan_path: str, fn, args: tuple):
    global _WORKER_PLAN
    _WORKER_PLAN = load_plan(plan_path)    # parsed once per worker while the file stays the same
    try:
        return fn(*args)
    finally:
        _give_back_memory()


def _give_back_memory() -> None:
    """Return freed memory to the system (glibc's heap and Arrow's memory pool both keep it otherwise), so that an
    idle worker does not hold on to the memory of the largest workbook it read or cycle it cleaned, nor the kernel
    to that of a stage it finished."""
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass     # not glibc: nothing to do


@contextmanager
def _main_not_rerun() -> Iterator[None]:
    """While worker processes start: a `__main__` without a file, so that spawn does not run the caller's script
    again in each worker (the workers need only `helpers`; a script without a main guard would run twice)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


_WORKER_PLAN: Plan | None = None   # in a worker: the plan of the task being run


def _worker_folders(run: Run) -> tuple[str, str, str]:
    """The run's folders as a worker task takes them (`_worker_run`)."""
    return str(run.folders.raw), str(run.folders.processed), str(run.folders.reports)


def _worker_run(folders: tuple[str, str, str], cycle: str) -> Run:
    assert _WORKER_PLAN is not None
    f = Folders.of(*folders)
    return Run(_WORKER_PLAN, f, cycle, Catalog(f, _WORKER_PLAN.report_days))
