# Siyu entry points: setup run worker test lint fmt bench. `make test` is what .ci/run calls.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SIYU   := $(BIN)/siyu
export SIYU_VAR_DIR ?= $(CURDIR)/var
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup locales run worker test lint fmt bench migrations-check pytest pytest-sqlite pytest-browser pytest-postgres clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# Every context's zh-hans catalogue (src/siyu/*/locale, nested channel packages too) compiled to .mo (not committed).
locales: $(BIN)/.installed
	@for d in $$(find src/siyu -type d -name locale); do \
	  if ls $$d/*/LC_MESSAGES/django.po >/dev/null 2>&1; then $(BIN)/pybabel -q compile -d $$d -D django || exit 1; fi; \
	done

setup: $(BIN)/.installed node_modules/.installed locales

run: setup
	$(SIYU) migrate --verbosity 0
	$(SIYU) demo --url http://$(HOST):$(PORT)/
	$(SIYU) bench-data --org demo-co --size XS --profiles 3000 --events 30000 --if-empty
	@echo "Siyu is starting at http://$(HOST):$(PORT)/  (Ctrl-C stops the web server and the worker)"
	SIYU_RUN_EXTRA="wecom-sim serve;once:wecom-demo --public-url http://$(HOST):$(PORT)" $(SIYU) run --host $(HOST) --port $(PORT)

worker: setup
	$(SIYU) worker

lint: setup
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/lint-imports

fmt: setup
	$(BIN)/ruff check --fix src tests bench scripts
	$(BIN)/ruff format src tests bench scripts

migrations-check: setup
	SIYU_VAR_DIR=$$(mktemp -d) $(SIYU) makemigrations --check --dry-run

# The SQLite and PostgreSQL gates run on PYTEST_WORKERS processes (pytest-xdist; each worker has its own test
# database). On a 2-core machine of the slower kind `make test` took 32 min in one process; with two workers the
# SQLite gate went from 9:03 to 6:18 and the PostgreSQL gate from 15:08 to 9:27 (2026-11-23).
PYTEST_WORKERS ?= 2

pytest-sqlite: setup
	SIYU_VAR_DIR=$$(mktemp -d) $(BIN)/pytest -q -n $(PYTEST_WORKERS) -m "not browser" $(PYTEST_ARGS)

# The browser gate runs on its own, on a file-based SQLite test database, so that the live server thread has a
# connection of its own instead of sharing the in-memory one with the test thread.
pytest-browser: setup
	d=$$(mktemp -d) && SIYU_VAR_DIR=$$d SIYU_TEST_SQLITE_NAME=$$d/test-browser.sqlite3 $(BIN)/pytest -q -m browser $(PYTEST_ARGS)

pytest-postgres: setup
	SIYU_VAR_DIR=$$(mktemp -d) $(BIN)/python scripts/with_postgres.py $(BIN)/pytest -q -n $(PYTEST_WORKERS) -m "not browser" $(PYTEST_ARGS)

test: lint migrations-check pytest-sqlite pytest-browser pytest-postgres

bench: setup
	$(BIN)/python -m bench $(NAME)

clean:
	rm -rf $(VENV) node_modules var
