"""A digest of a processed folder, to check that a speed change left every output as it was.

Every Parquet table (each cycle's processed tables and findings) is read, its rows put in a canonical order
(sorted on all columns, rendered as text) and hashed with its column names and dtypes; every chart PNG by its
bytes. Fingerprints (`*.json`) and kept workbook readings are left out: they name the code, which a speed change
alters by design. Prints one line per file and a total digest.

    .venv/bin/python bench/digest.py data/demo/processed > before.txt
    ... change, rerun ...
    .venv/bin/python bench/digest.py data/demo/processed > after.txt && diff before.txt after.txt
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pandas as pd


def table_digest(path: Path) -> str:
    frame = pd.read_parquet(path)
    text = frame.astype(str)
    order = text.sort_values(list(text.columns), kind="stable").index if len(text.columns) else text.index
    canon = text.loc[order].reset_index(drop=True)
    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(canon, index=False).values.tobytes())
    return h.hexdigest()[:16]


def folder_digest(root: Path) -> list[str]:
    lines = []
    for path in sorted(root.rglob("*.parquet")):
        lines.append(f"{path.relative_to(root)} {table_digest(path)}")
    charts = sorted(hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in root.rglob("charts/*.png"))
    lines.append(f"charts ({len(charts)}) {hashlib.sha256(' '.join(charts).encode()).hexdigest()[:16]}")
    return lines


def main(argv: list[str]) -> int:
    lines = folder_digest(Path(argv[0]))
    print("\n".join(lines))
    print(f"total {hashlib.sha256(chr(10).join(lines).encode()).hexdigest()[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
