# Consent Wallet — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# What is installed is stamped by the hash of what pinned it: serving needs only the runtime
# lock; the suite, lint and bench need the development lock (the same runtime pins, and more).
STAMP := $(VENV)/.installed-run-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat requirements-dev.lock pyproject.toml | sha256sum | cut -c1-16)
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: run test lint format bench install install-dev lock translations clean

define pip_install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-virtualenv -r $(1)
	$(BIN)/python -m pip install --quiet --require-virtualenv --no-deps -e .
endef

$(STAMP): requirements.lock pyproject.toml
	$(call pip_install,requirements.lock)
	rm -f $(VENV)/.installed-run-*
	touch $@

$(DEV_STAMP): requirements-dev.lock requirements.lock pyproject.toml
	$(call pip_install,requirements-dev.lock)
	rm -f $(VENV)/.installed-*
	touch $@ $(STAMP)

install: $(STAMP)  ## create .venv with exactly what requirements.lock pins (serving only)

install-dev: $(DEV_STAMP)  ## the same and the development tools, as requirements-dev.lock pins

# Webhooks of the demo may go to a receiver on this machine (http, 127.0.0.1).
run: export WEBHOOK_ALLOW_LOCAL ?= 1
run: install  ## migrate and seed the embedded database, then serve the API and the worker
	@mkdir -p var
	$(BIN)/consent-wallet db upgrade
	$(BIN)/consent-wallet demo --quiet
	@echo "Starting http://$(HOST):$(PORT) with the worker (Ctrl-C stops both); the demo's credentials follow once it answers."
	@$(BIN)/consent-wallet worker & worker=$$!; \
	  $(BIN)/consent-wallet demo-banner & banner=$$!; \
	  trap 'kill -TERM $$worker $$banner 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	  trap 'exit 0' INT TERM; \
	  $(BIN)/consent-wallet serve

# The suite on every core (pytest-xdist: each worker has its own database, see tests/conftest.py),
# and with compiled bytecode kept between runs even where the shell turns that off.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -n auto --dist worksteal

test: install-dev lint  ## the whole suite on SQLite, then on TEST_DATABASE_URL if set
	CW_TEST_DB=sqlite $(PYTEST)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== PostgreSQL: $$TEST_DATABASE_URL"; \
	  CW_TEST_DB="$$TEST_DATABASE_URL" $(PYTEST); \
	else echo "TEST_DATABASE_URL is unset: the PostgreSQL run was skipped"; fi

lint: install-dev  ## ruff lint and format check; the import contracts (layers, no cycles)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install-dev  ## load benchmarks against PostgreSQL under gunicorn with wrk (not part of test)
	@command -v wrk >/dev/null 2>&1 || { apt-get update && apt-get install -y wrk; }
	$(BIN)/python -m bench.run

lock:  ## re-resolve both locks from pyproject.toml (needs uv in .venv); the dev lock keeps the runtime pins
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev -c requirements.lock --python-version 3.11 \
	  -o requirements-dev.lock

translations: install  ## compile the login page's catalogs (.po into the committed .mo)
	$(BIN)/pybabel compile -d consent_api/auth/translations

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
