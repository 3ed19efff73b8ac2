# Invites: `make run` serves the app, `make test` runs the whole suite, `make bench` measures it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-fast lint audit install install-dev migrate clean bench wrk screenshots

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Invites needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Apply migrations to DATABASE_URL (default: the SQLite file under instance/).
migrate: install
	INVITES_ENV=development $(BIN)/flask --app app db upgrade

## Development server on http://127.0.0.1:5000
run: migrate
	INVITES_ENV=development $(BIN)/flask --app app run --host $(HOST) --port $(PORT)

## The whole suite. Under CI=true: once on SQLite, once on PostgreSQL (PG_TEST_URL).
test: install-dev
ifeq ($(CI),true)
	env -u TEST_DATABASE_URL $(BIN)/python -m pytest
	TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest
else
	$(BIN)/python -m pytest
endif

## The suite without the slow tests (browser, multi-process, gunicorn, 10,000 rows): for
## a quick check while developing. CI runs everything (`make test`).
test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow"

## ruff: lint and formatting (configured in pyproject.toml).
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Known vulnerabilities in the pinned dependencies (pip-audit). Fails only when one is
## found; an audit the vulnerability service could not answer is reported as incomplete
## (and fails only with AUDIT_STRICT=1). See README, "Dependency audit".
audit: install-dev
	$(BIN)/python tools/dependency_audit.py $(AUDIT_FLAGS)

## Load benchmark (docs/performance.md): Invites against a bare Flask floor (benchmarks/floor.py),
## run alternately under gunicorn + wrk, on SQLite, and on PostgreSQL
## (database "bench" next to TEST_DATABASE_URL, or BENCH_DATABASE_URL) when one is set.
## Threads per worker: BENCH_THREADS on PostgreSQL, BENCH_SQLITE_THREADS on SQLite (why: see
## docs/performance.md, "Workers and threads").
BENCH_WORKERS ?= 2
BENCH_THREADS ?= 1
BENCH_SQLITE_THREADS ?= 1
BENCH_DURATION ?= 10
BENCH_CONNECTIONS ?= 8
BENCH_PAIRS ?= 3
BENCH_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench: install wrk
	$(BIN)/python -m benchmarks.run --workers $(BENCH_WORKERS) --threads $(BENCH_THREADS) \
		--sqlite-threads $(BENCH_SQLITE_THREADS) --duration $(BENCH_DURATION) \
		--connections $(BENCH_CONNECTIONS) --pairs $(BENCH_PAIRS) $(BENCH_ARGS)

## wrk, the load generator, from Debian.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "Installing wrk (apt-get install -y wrk)"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	@command -v wrk >/dev/null 2>&1 || { echo "wrk is missing: apt-get install -y wrk"; exit 1; }

## The README's screenshots (docs/images/), from a freshly seeded instance in Chromium.
screenshots: install-dev
	$(BIN)/python -m tools.screenshots

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
