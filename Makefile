# Every target creates or reuses the virtual environment itself, so a fresh machine needs only
# Python 3.11 and pip. The stamp is keyed on pyproject.toml: change a dependency and the next
# target reinstalls.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo airflow bench test lint unit integration system clean

# Lint what exists: benchmarks/ and dags/ arrive with later work, and ruff fails on a missing path.
LINT_PATHS := $(wildcard airflow_databricks_clusters tests benchmarks dags scripts)

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

# The example DAG end to end against the embedded emulator (see scripts/demo.py).
demo: $(STAMP)
	$(PY) scripts/demo.py

# Speed and memory figures, each as a ratio against a baseline measured in the same run (see benchmarks/).
bench: $(STAMP)
	$(PY) benchmarks/dag_parse_cost.py
	$(PY) benchmarks/emulator_throughput.py
	$(PY) benchmarks/trigger_fleet.py
	$(PY) benchmarks/worker_seconds.py
	$(PY) benchmarks/dag_test_speed.py
	$(PY) benchmarks/capacity_soak.py

# A local Airflow (on the machine's PostgreSQL) with the example DAGs and the emulator, until Ctrl-C.
airflow: $(STAMP)
	$(PY) scripts/local_airflow.py

# The suite runs on TEST_WORKERS pytest-xdist workers: most of its tests wait on a clock, a deployment or a
# subprocess, so more workers than cores pay. Tests that share a deployment (or the soak) run on one worker
# (tests/conftest.py). TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 4
XDIST = $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS))

test: lint
	$(PY) -m pytest tests $(XDIST) --durations=25

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP)
	$(PY) -m pytest tests/integration

system: $(STAMP)
	$(PY) -m pytest tests/system

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
