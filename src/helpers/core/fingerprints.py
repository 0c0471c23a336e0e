"""Digests that say whether something a run keeps was made from the same inputs: a file's content, the helpers'
source code and the plan. They sit below every stage, so any stage can key what it keeps without importing the
pipeline.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[1]   # src/helpers


@lru_cache(maxsize=1)
def code_digest() -> str:
    """The helpers' source code, in every fingerprint and key of what a run keeps for the next: a table, cached
    workbook, chart or output made by other code is not reused. Every module of the package counts, in any
    subfolder."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode("utf-8") + path.read_bytes())
    return digest.hexdigest()


def plan_digest(plan) -> str:
    """The plan in every fingerprint and key of what a run keeps: its file's sha256, or its id for a plan built in
    memory."""
    return plan.file_digest or plan.id


def file_sha256(path: Path) -> str:
    """The sha256 of a file's content, read in blocks (ledgers can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
