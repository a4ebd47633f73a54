# The two commands of the README are `make demo` and `make test`; each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help venv demo test lint lint-ts typecheck pytest clean

help:
	@echo "make demo   # the main job: PagerDuty simulator + JupyterLab on notebooks/"
	@echo "make test   # every check: ruff, mypy, pytest (unit, integration, notebooks, browser)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# jupysql (tests/pagerduty/test_store_jupysql.py) without jupysql-plugin: see pyproject's [dev]
	$(BIN)/python -m pip install -q --no-deps 'jupysql==0.11.1' 'ploomber-core==0.2.27'
	touch $(STAMP)

venv: $(STAMP)

# Options pass through, e.g. `make demo DEMO_ARGS="--no-browser --port 8899"`.
demo: venv
	$(BIN)/mom demo $(DEMO_ARGS)

lint: venv
	$(BIN)/ruff check atlas_canvas tests benchmarks
	$(BIN)/ruff format --check atlas_canvas tests benchmarks

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest

test: lint lint-ts typecheck pytest

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache

# ---- JupyterLab extension (labextension/ -> atlas_canvas/labextension/) and browser ----
# Rebuilt only when its sources are newer than the build; needs Node 20 (jlpm comes with
# the venv). Without Node an existing build is used as is. The core package file pins the
# build to the JupyterLab installed in the venv (no network lookup of @jupyterlab/core-meta).
LABEXT_SRC := $(wildcard labextension/src/*.ts labextension/style/*.css labextension/style/*.js) \
	labextension/package.json labextension/tsconfig.json labextension/yarn.lock labextension/.yarnrc.yml
LABEXT_OUT := atlas_canvas/labextension/package.json
LABEXT_LINK := $(VENV)/.labextension-stamp

.PHONY: labextension browser-deps

$(LABEXT_OUT): $(LABEXT_SRC) | $(STAMP)
	@if ! command -v node >/dev/null 2>&1; then \
		if [ -f $(LABEXT_OUT) ]; then echo "labextension: Node not found, using the existing build"; \
		else echo "labextension: Node 20 is needed to build labextension/ (apt-get install nodejs)" >&2; exit 1; fi; \
	else \
		set -e; export PATH="$(abspath $(BIN)):$$PATH"; cd labextension; \
		jlpm install; \
		jlpm build:lib; \
		jupyter-builder build --core-package-file \
			"$$(python -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging", "package.json"))')" .; \
		touch ../$(LABEXT_OUT); \
	fi

# Editable installs get the build linked into the venv (wheels carry a copy instead).
$(LABEXT_LINK): $(LABEXT_OUT)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter-builder develop --overwrite . >/dev/null
	touch $(LABEXT_LINK)

labextension: $(LABEXT_LINK)

# The TypeScript is linted and formatted as the JupyterLab extension template does: eslint
# with @typescript-eslint and prettier, settings in labextension/package.json (`jlpm lint`
# fixes what it can). Needs the node_modules the labextension build installs.
lint-ts: $(LABEXT_OUT)
	@if [ ! -x labextension/node_modules/.bin/eslint ]; then \
		echo "lint-ts: Node 20 and labextension/node_modules are needed (rm $(LABEXT_OUT); make labextension)" >&2; exit 1; \
	fi
	cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm lint:check

venv: labextension

# The browser tests drive Debian's chromium (Playwright cannot download a browser here).
browser-deps:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "browser tests need /usr/bin/chromium: run 'sudo apt-get install -y chromium'" >&2; \
	fi

pytest: browser-deps
