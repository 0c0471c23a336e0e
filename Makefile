# Taizhang: `make demo` sets everything up and runs the latest demo cycle; `make test` runs the tests.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL := $(VENV)/share/jupyter/kernels/taizhang/kernel.json
DEMO_RAW := data/demo/raw
DEMO_PROCESSED := data/demo/processed

.PHONY: help setup demo-data demo test test-fast lab bench notebooks clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "需要 Python 3.11 或更高版本")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	@touch $(STAMP)

$(KERNEL): $(STAMP) tools/install_kernel.py
	$(PY) tools/install_kernel.py

setup: $(STAMP) $(KERNEL) ## create .venv with the pinned dependencies, the CJK chart font and the taizhang kernel

demo-data: setup ## build the deterministic demo ledgers under data/demo/raw (idempotent)
	$(VENV)/bin/taizhang demo --out $(DEMO_RAW)

demo: demo-data ## set up, then run the latest demo cycle and print where the report is
	$(VENV)/bin/taizhang run --raw $(DEMO_RAW) --processed $(DEMO_PROCESSED) --reports reports

test: setup ## run the test suite
	$(PY) -m pytest

test-fast: setup ## run the tests without the slow end-to-end ones (notebooks, worker processes), for the edit-test loop
	$(PY) -m pytest -m "not slow"

lab: setup demo-data ## open JupyterLab on 127.0.0.1 with the taizhang kernel
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --notebook-dir notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

bench: setup ## benchmark cold, warm and one-file-resend runs on a generated stress year (cached in bench/data; ~10 min)
	$(PY) bench/run.py

notebooks: setup ## rewrite the notebooks from tools/make_notebooks.py (without outputs)
	$(PY) tools/make_notebooks.py

clean: ## remove derived data and reports (never data/raw)
	rm -rf $(DEMO_PROCESSED) data/processed/* reports/20*
