# `make demo` and `make test` each set everything up on a bare machine (a .venv when missing).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export TOLLGATE_HOME ?= $(CURDIR)/.tollgate

.PHONY: install demo test ui emulator lint clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tollgate demo

# Test files run in parallel on PYTEST_WORKERS processes (pytest-xdist, a file stays on one
# worker: its module fixtures build a warehouse once); PYTEST_WORKERS=0 runs in this process.
PYTEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

# The Dagster UI on 127.0.0.1:3000, with the demo's runs (Dagster storage under $TOLLGATE_HOME).
ui: $(STAMP)
	mkdir -p $(TOLLGATE_HOME)/dagster
	DAGSTER_HOME=$(TOLLGATE_HOME)/dagster $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

emulator: $(STAMP)
	$(BIN)/tollgate emulator

lint: $(STAMP)
	$(BIN)/ruff check dagster_project tests

clean:
	rm -rf .tollgate dbt/target dbt/logs

# Throughput and memory benchmark (not part of `make test`): `make bench SIZES=1000000`.
SIZES ?= 1000000,10000000,50000000
HISTORY_DAYS ?= 0
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_bench --sizes $(SIZES) --history-days $(HISTORY_DAYS) --out benchmarks/RESULTS.md
