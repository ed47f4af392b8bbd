# The two commands of the README. Each bootstraps .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AXE := tests/browser-deps/node_modules/axe-core/axe.min.js

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ballot demo

$(AXE): tests/browser-deps/package.json tests/browser-deps/package-lock.json
	npm ci --prefix tests/browser-deps --no-audit --no-fund --silent
	touch $(AXE)

test: $(STAMP) $(AXE)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check ledger counter ballot booth tests
	$(BIN)/ruff format --check ledger counter ballot booth tests
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/ballot bench count

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
