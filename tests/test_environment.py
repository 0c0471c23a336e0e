"""environment.yml gives conda users the same pinned dependencies as pyproject.toml; the notebooks are committed
without outputs and start with a tagged parameters cell; the Makefile documents its targets."""

from __future__ import annotations

import json
import re
import tomllib

import yaml

from tests.conftest import REPO


def _pins(requirements: list[str]) -> dict[str, str]:
    out = {}
    for req in requirements:
        name, _, version = req.partition("==")
        out[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
    return out


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = _pins(project["dependencies"] + project["optional-dependencies"]["test"])
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert _pins(pip_section) == wanted
    assert all(v for v in wanted.values()), "every dependency is pinned"


def test_constraints_agree_with_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    constraints = _pins([l for l in (REPO / "constraints.txt").read_text().splitlines() if "==" in l])
    for name, version in _pins(project["dependencies"]).items():
        assert constraints.get(name) == version, name


def test_notebooks_are_clean_and_parameterised():
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert [n.name for n in notebooks if n.name[0].isdigit()] == [
        "01_ingest.ipynb", "02_reconcile.ipynb", "03_indicators.ipynb", "04_report.ipynb"]
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), path.name
        assert "parameters" in code[0]["metadata"].get("tags", []), path.name
        assert not any(re.search(r"^\s*(def|class) ", "".join(c["source"]), re.M) for c in code), path.name


def test_makefile_targets_are_documented():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for target in ("help", "setup", "demo", "test", "lab", "bench"):
        assert re.search(rf"^{target}:.*## ", makefile, re.M), target
    assert ".DEFAULT_GOAL := help" in makefile
    assert "make test" in (REPO / ".ci/run").read_text(encoding="utf-8")
