# The two commands of the README are `make demo` and `make test`; each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help venv demo test lint typecheck pytest clean

help:
	@echo "make demo   # the main job: PagerDuty simulator + JupyterLab on notebooks/"
	@echo "make test   # every check: ruff, mypy, pytest (unit, integration, notebooks, browser)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/mom demo

lint: venv
	$(BIN)/ruff check atlas_canvas tests benchmarks
	$(BIN)/ruff format --check atlas_canvas tests benchmarks

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
