"""Where the repository is, for the files the code reads by a path relative to it."""

from __future__ import annotations

from pathlib import Path


REPO = Path(__file__).resolve().parents[3]


def repo_path(path: str | Path) -> Path:
    """Relative paths are taken from the repository root, so notebooks and commands behave the same from any
    folder."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else REPO / path
