"""Findings: every problem met while reading and reconciling, in Chinese, with its place.

A finding never stops a cycle. Stages return findings beside their frames; the pipeline collects them into
`findings.parquet` (columns `FINDING_COLUMNS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    import pandas as pd

SEVERITIES = ("error", "warning", "info")
SEVERITY_LABELS = {"error": "错误", "warning": "警告", "info": "提示"}
FINDING_COLUMNS = ["severity", "code", "file", "sheet", "row", "column", "unit", "message"]


@dataclass(frozen=True)
class Finding:
    """One problem. `row` is the 1-based row in the sheet as Excel shows it; `file` is relative to the raw folder."""

    severity: str
    code: str
    message: str
    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")


def error(code: str, message: str, **place) -> Finding:
    return Finding("error", code, message, **place)


def warning(code: str, message: str, **place) -> Finding:
    return Finding("warning", code, message, **place)


def info(code: str, message: str, **place) -> Finding:
    return Finding("info", code, message, **place)


def to_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """Findings as a frame with `FINDING_COLUMNS`, sorted for a stable, readable order."""
    import pandas as pd   # here, not above: checking a run's arguments needs no pandas (`runs`)

    # attribute by attribute: dataclasses.asdict deep-copies each finding, which costs more than the frame
    rows = [(f.severity, f.code, f.file, f.sheet, f.row, f.column, f.unit, f.message) for f in findings]
    frame = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    frame = frame.astype({"row": "Int64"})
    for col in ("severity", "code", "file", "sheet", "column", "unit", "message"):
        frame[col] = frame[col].astype("string")
    order = frame["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    return (
        frame.assign(_order=order)
        .sort_values(["_order", "file", "sheet", "row", "code", "message"], na_position="last", kind="stable")
        .drop(columns="_order")
        .drop_duplicates()
        .reset_index(drop=True)
    )


def place_text(finding: Finding) -> str:
    """'文件 › 工作表 › 第 5 行 › 列' for messages shown to people."""
    parts = []
    if finding.file:
        parts.append(finding.file)
    if finding.sheet:
        parts.append(f"工作表「{finding.sheet}」")
    if finding.row is not None:
        parts.append(f"第 {finding.row} 行")
    if finding.column:
        parts.append(f"「{finding.column}」列")
    return " › ".join(parts)
