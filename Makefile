# Contributor shortcuts; CI runs .ci/run (lint, then the README's test command).
PYTHON ?= python
JOBS ?= 2

.PHONY: install test fast lint format format-check typecheck docs docs-check bench

install:  ## the package, every command and the test dependencies, editable
	$(PYTHON) -m pip install -q -e '.[dev]'

test:  ## the whole suite, real Celery and SAQ workers included (as CI runs it)
	$(PYTHON) -m pytest -n $(JOBS) -q

fast:  ## skip the slow real-service tests (@pytest.mark.slow)
	SAQMIGRATE_FAST=1 $(PYTHON) -m pytest -n $(JOBS) -q

lint:  ## the [tool.ruff] rules, as .ci/run checks them
	$(PYTHON) -m ruff check saqmigrate tests

format:  ## reformat with ruff's formatter ([tool.ruff]: line length 120; fixtures and golden trees excluded)
	$(PYTHON) -m ruff format saqmigrate tests

format-check:  ## fail when a file is not formatted (writes nothing)
	$(PYTHON) -m ruff format --check saqmigrate tests

typecheck:  ## mypy on what [tool.mypy] lists (index/, translate/, runtime/), as .ci/run runs it
	$(PYTHON) -m mypy

docs:  ## regenerate docs/cli.md (click help) and docs/rules/ (rule TOMLs)
	$(PYTHON) -m saqmigrate.cli.docs
	$(PYTHON) -m saqmigrate.rules_docs docs/rules

docs-check:  ## fail when a generated doc is stale
	$(PYTHON) -m saqmigrate.cli.docs --check
	$(PYTHON) -m saqmigrate.rules_docs docs/rules --check

bench:  ## scan, dispatch, rewrite and verify benchmarks (figures in docs/performance.md)
	$(PYTHON) bench/bench_scan.py
	$(PYTHON) bench/bench_dispatch.py
	$(PYTHON) bench/bench_rewrite.py
	$(PYTHON) bench/bench_verify.py
