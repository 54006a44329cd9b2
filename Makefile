# The two commands: `make run` (the demo) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Two workers: most e2e tests wait on real daemons' cycles, so they overlap well even on 2 cores
# (the suite: 17.9 min serial in CI, 5.9 min with two workers). PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2

.PHONY: run test lint typecheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

## run the daemon on the embedded demo (simulated provider, SQLite, metrics on 127.0.0.1:9464)
run: $(STAMP)
	$(VENV)/bin/killswitch run -c config/demo.yaml

## set up everything the suite needs, then run it all
test: $(TEST_STAMP)
	@if [ -x scripts/ops-setup.sh ]; then VENV=$(VENV) scripts/ops-setup.sh; fi
	$(PY) -m ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports

typecheck: $(TEST_STAMP)
	$(PY) -m mypy

bench: $(TEST_STAMP)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .killswitch .pytest_cache .mypy_cache .ruff_cache
