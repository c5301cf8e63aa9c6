# Internet10 developer and CI entry points.
#
#   make demo      the service on http://127.0.0.1:8000 with SQLite and demo data
#   make test      lint, typecheck, import contracts, then pytest on SQLite (with the browser
#                  tests) and on PostgreSQL + Redis
#   make bench     benchmarks against throwaway PostgreSQL + Redis
#   make services-up / services-down   throwaway PostgreSQL + Redis for manual runs
#   make clean     remove .venv, var/ and caches
#
# Everything runs from .venv (created with $(PYTHON), which must be >= 3.11).
# Test servers are started by scripts/services.sh into $(SERVICES_DIR); its env
# file exports INTERNET10_TEST_POSTGRES_URL and INTERNET10_TEST_REDIS_URL.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TRANSLATIONS := internet10/translations
SERVICES := scripts/services.sh
SERVICES_DIR ?= var/test-services
# The browser tests run axe-core (from the npm registry, kept out of git) inside Debian's Chromium.
BROWSER_DIR := var/browser
AXE_VERSION := 4.14.1
AXE_STAMP := $(BROWSER_DIR)/.axe-core-$(AXE_VERSION)

# Start the services, stop them when the recipe's shell exits (success, failure
# or interrupt), and load their env.  Used at the start of a one-shell recipe.
with_services = \
	trap '$(SERVICES) stop $(SERVICES_DIR)' EXIT; \
	trap 'exit 130' INT TERM; \
	echo "==> services: start PostgreSQL + Redis in $(SERVICES_DIR)"; \
	$(SERVICES) start $(SERVICES_DIR) >/dev/null; \
	. $(SERVICES_DIR)/env;

.PHONY: help venv install system-libs browser-deps translations lint typecheck imports test demo bench \
	screenshots \
	services-up services-down clean

help:
	@sed -n '3,8s/^# \{0,1\}//p' Makefile

# ---------------------------------------------------------------- install

venv: $(STAMP)

$(STAMP): pyproject.toml
	@echo "==> install: $(VENV) from $(PYTHON)"
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
		"Python >= 3.11 is required, found " + sys.version.split()[0] + " (set PYTHON=...)")'
	@# Debian's python3 needs python3-venv for ensurepip; install it when we can.
	@if ! $(PYTHON) -c 'import ensurepip' 2>/dev/null && [ "$$(id -u)" -eq 0 ] \
		&& command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -U pip
	$(VENV)/bin/pip install -q -e '.[test]'
	@touch $@

# Compiled catalogs (*.mo) are not in git: compile on every install, it is quick.
translations: $(STAMP)
	@if compgen -G '$(TRANSLATIONS)/*/LC_MESSAGES/*.po' >/dev/null; then \
		echo "==> translations: compile"; \
		$(VENV)/bin/pybabel compile -d $(TRANSLATIONS); \
	fi

# PDF and PNG reports load Pango, HarfBuzz and Cairo and draw with the DejaVu fonts: installed
# with apt-get (as root) when missing, like the test servers.
system-libs:
	@scripts/system-libs.sh

install: system-libs $(STAMP) translations

# The browser tests drive Debian's Chromium (apt-get, as root, when missing) and run axe-core,
# installed with npm into $(BROWSER_DIR) (MPL-2.0; not vendored, so not in git).
browser-deps: $(AXE_STAMP)
	@scripts/system-libs.sh browser

$(AXE_STAMP):
	@scripts/system-libs.sh browser
	@echo "==> browser tests: axe-core $(AXE_VERSION) into $(BROWSER_DIR)"
	npm install --prefix $(BROWSER_DIR) --no-save --no-audit --no-fund --silent \
		axe-core@$(AXE_VERSION)
	@touch $@

# ---------------------------------------------------------------- checks

lint: $(STAMP)
	@echo "==> lint: ruff"
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	@echo "==> typecheck: mypy --strict"
	$(VENV)/bin/mypy --strict internet10 scheduler integrations

imports: $(STAMP)
	@echo "==> imports: import-linter contracts"
	$(VENV)/bin/lint-imports

# Three lanes run side by side, each with its own PostgreSQL and Redis (keys and pub/sub channels
# never meet): the whole suite on SQLite; the suite on PostgreSQL, production's database, but for
# the tests that use no database (marked `unit` or `dbfree`: run once is enough); and, also on
# PostgreSQL, the fuzzing, hostile-input, attack and fault tests (marked `reliability`,
# docs/reliability.md) and the browser tests (marked `browser`: they test pages, not the
# database), each run once. Each lane waits on servers, subprocesses and timers for much of its
# time, so three fill a 2-core machine better than two; the browser tests sit in the third lane
# to even the lanes out. The target fails if any lane does; each log ends with its 15 slowest
# tests.
LANES := sqlite postgresql reliability

test: install browser-deps lint typecheck imports
	@trap 'for lane in $(LANES); do $(SERVICES) stop $(SERVICES_DIR)-$$lane; done' EXIT; \
	trap 'exit 130' INT TERM; \
	echo "==> services: PostgreSQL + Redis for each lane, in $(SERVICES_DIR)-<lane>"; \
	for lane in $(LANES); do $(SERVICES) start $(SERVICES_DIR)-$$lane >/dev/null; done; \
	export INTERNET10_TEST_AXE="$(CURDIR)/$(BROWSER_DIR)/node_modules/axe-core/axe.min.js"; \
	echo "==> pytest: $(LANES), side by side"; \
	lane() { \
		( . $(SERVICES_DIR)-$$1/env; INTERNET10_TEST_DATABASE=$$2 \
			$(VENV)/bin/pytest -q -p no:cacheprovider --durations=15 -m "$$3" \
				>var/pytest-$$1.log 2>&1; \
			echo $$? >var/pytest-$$1.rc ) & \
	}; \
	lane sqlite sqlite "not reliability and not browser"; \
	lane postgresql postgresql "not browser and not reliability and not unit and not dbfree"; \
	lane reliability postgresql "reliability or browser"; \
	wait; \
	failed=""; \
	for lane in $(LANES); do \
		echo "==> pytest: $$lane"; cat var/pytest-$$lane.log; \
		[ "$$(cat var/pytest-$$lane.rc)" = 0 ] || failed="$$failed $$lane"; \
	done; \
	echo "==> services: stop"; \
	if [ -n "$$failed" ]; then echo "==> FAILED: pytest lanes:$$failed"; exit 1; fi; \
	echo "==> all checks passed"

# The README's screenshots (docs/screenshots/), taken by the browser tests when asked; `make test`
# never writes them, so it leaves the tree as it found it.
screenshots: install browser-deps
	@echo "==> screenshots: docs/screenshots/ from the browser tests"
	INTERNET10_SCREENSHOTS=1 INTERNET10_TEST_DATABASE=sqlite \
		INTERNET10_TEST_AXE="$(CURDIR)/$(BROWSER_DIR)/node_modules/axe-core/axe.min.js" \
		$(VENV)/bin/pytest -q -m browser tests/browser/test_pages.py tests/browser/test_journey.py

# ---------------------------------------------------------------- run

demo: install
	@echo "==> demo: internet10 demo"
	$(VENV)/bin/internet10 demo

bench: install
	@$(with_services) \
	echo "==> bench: python -m bench"; \
	$(PY) -m bench; \
	echo "==> services: stop"

services-up:
	@echo "==> services: start PostgreSQL + Redis in $(SERVICES_DIR)"
	@$(SERVICES) start $(SERVICES_DIR)
	@echo "==> load them with: . $(SERVICES_DIR)/env   (stop with: make services-down)"

services-down:
	@echo "==> services: stop ($(SERVICES_DIR))"
	@$(SERVICES) stop $(SERVICES_DIR)

# ---------------------------------------------------------------- clean

clean: services-down
	@echo "==> clean"
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis \
		.import_linter_cache build dist *.egg-info
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find $(TRANSLATIONS) -name '*.mo' -delete 2>/dev/null || true
