# The two commands: `make run` (the local stack) and `make test` (the whole suite).
# Both set up whatever is missing first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup browser run test bench lint typecheck check-infra smoke clean

setup: $(STAMP) node_modules/.bin/azurite

# Debian's Chromium for the dashboard's browser tests (needs root or sudo; without it
# those tests are skipped outside CI and the rest still run).
browser:
	bash scripts/install-browser.sh || echo "Chromium not installed: the browser tests will be skipped."

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

node_modules/.bin/azurite: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(PY) -m local.run

test: setup browser lint typecheck
	$(PY) -m pytest -q

# Figures against their targets, each on a local stack of its own (free ports, temporary
# folders; a running `make run` is not touched). Slow (several minutes), so not in `test`.
bench: setup
	$(PY) -m benchmarks

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

check-infra:
	bash scripts/check-infra.sh

smoke:
	MANAGEMENT_TOKEN=$$(cat .local/management-token) $(PYTHON) ../shared/tools/contract-smoke.py

clean:
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache
