# idproof: `make run` serves on 127.0.0.1:8000 with an embedded data dir; `make test` runs
# the whole suite. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install install-test run services test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/idproof serve

# tools/dev-services.sh installs the browser, fonts and SoftHSM2 and starts PostgreSQL and
# Redis where it can (root on Debian), and writes their URLs to .cache/test-services.env;
# variables already set win. Two xdist workers: this is a 2-core machine.
services:
	@tools/dev-services.sh

test: install-test services
	$(BIN)/ruff check $(wildcard src tests bench tools)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	set -a; . ./.cache/test-services.env; set +a; $(BIN)/pytest -n 2 $(PYTEST_ARGS)

# ruff, mypy (strict for core, crypto, audit, verification.document) and the layer contracts.
lint: install-test
	$(BIN)/ruff check $(wildcard src tests bench tools)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# mypy over src/idproof and the layer contracts only.
typecheck: install-test
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The token bench runs on PostgreSQL too when a server is known (IDPROOF_BENCH_DATABASE_URL,
# or the test services' IDPROOF_TEST_DATABASE_URL from `make services`).
bench: install-test
	set -a; if [ -f .cache/test-services.env ]; then . ./.cache/test-services.env; fi; set +a; \
		$(BIN)/python bench/oauth_token.py
	@for b in bench/merkle.py bench/audit.py bench/audit_sequencer.py bench/crypto_primitives.py bench/crypto.py bench/documents.py bench/biometrics.py bench/pose_probe.py bench/webhooks.py bench/uploads.py bench/workflows.py bench/screening.py bench/signals.py bench/privacy.py bench/console.py bench/hosted.py bench/scale_drill.py; do \
		if [ -f $$b ]; then $(BIN)/python $$b || exit 1; fi; done
	@if [ -d ../shared/testdata/crs-3.3.4 ] && command -v nginx >/dev/null 2>&1; then \
		$(BIN)/python tools/crs_replay.py ../shared/testdata/crs-3.3.4 || exit 1; \
	else echo "CRS replay skipped: it needs ../shared/testdata/crs-3.3.4 and apt-get install -y nginx libnginx-mod-http-modsecurity modsecurity-crs; then: $(BIN)/python tools/crs_replay.py ../shared/testdata/crs-3.3.4"; fi

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
