# Dashboard: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8050
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help run test lint unit integration e2e browser services bench lock clean gcp-setup

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The runtime set; skipped when the dev set (a superset) is installed and current.
$(VENV)/.runtime-stamp: project/requirements.txt | $(BIN)/python
	@if [ -f $(VENV)/.dev-stamp ] && [ $(VENV)/.dev-stamp -nt project/requirements-dev.txt ]; then \
		echo "dev requirements installed: they include the runtime set"; \
	else \
		$(BIN)/python -m pip install --quiet -r project/requirements.txt; \
	fi
	@touch $@

$(VENV)/.dev-stamp: project/requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r project/requirements-dev.txt
	@touch $@

run: $(VENV)/.runtime-stamp ## Serve the app with gunicorn on http://127.0.0.1:$PORT
	cd project && PORT=$(PORT) ../$(BIN)/gunicorn --config gunicorn.conf.py "app.app:create_server()"

browser: ## Install Chromium and chromedriver for the browser tests (apt, when missing)
	@if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

services: ## Install redis-server for the multi-instance tests (apt, when missing)
	@if ! command -v redis-server >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	fi

lint: $(VENV)/.dev-stamp ## Run every pre-commit hook on every file
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pre-commit run --all-files --show-diff-on-failure

unit: $(VENV)/.dev-stamp ## The fast tier: no server, Redis, browser or slow test
	$(BIN)/pytest -m "not e2e and not integration and not slow" -n auto $(PYTEST_ARGS)

integration: $(VENV)/.dev-stamp services ## Tests that start gunicorn, app instances or Redis
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

e2e: $(VENV)/.dev-stamp browser ## Run the browser tests (headless Chromium)
	$(BIN)/pytest -m e2e --headless $(PYTEST_ARGS)

test: $(VENV)/.dev-stamp browser services lint ## Lint, then the whole test suite with browser tests
	$(BIN)/pytest --headless $(PYTEST_ARGS)

bench: $(VENV)/.dev-stamp browser ## Benchmark the app against a one-div Dash app (needs wrk, Chromium)
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	@# Bytecode for both apps, as the production image ships it (PYTHONDONTWRITEBYTECODE).
	$(BIN)/python -m compileall -q project/app project/tools project/gunicorn.conf.py
	$(BIN)/python project/tools/bench.py $(BENCH_ARGS)

lock: $(BIN)/python ## Re-pin project/requirements*.txt from the .in files
	$(BIN)/python -m pip install --quiet pip-tools
	cd project && ../$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in
	cd project && ../$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements-dev.txt requirements-dev.in

gcp-setup: ## Create or update the Google Cloud set-up (deploy/setup.py; ARGS="--project ... --dry-run")
	$(PYTHON) deploy/setup.py $(ARGS)

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache project/.pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Containers (README, "Docker"): Docker when an engine answers, else podman with
# stand-in base images made from Debian's packages.
.PHONY: container-test base-image
container-test: ## Build both images, check them from outside (health, non-root, PORT, SIGTERM, size)
	bash deploy/container-test.sh

base-image: ## Make the stand-in python base images for podman (when Docker Hub is out of reach)
	bash deploy/standin-base.sh

# Many instances (README, "Many instances: Redis and Celery").
.PHONY: run-distributed worker
run-distributed: $(VENV)/.runtime-stamp ## Redis, two instances on $PORT and $PORT+1 and a Celery worker (Ctrl-C stops all)
	PORT=$(PORT) $(BIN)/python project/tools/run_distributed.py

worker: $(VENV)/.runtime-stamp ## A Celery worker for the multi-instance mode (needs REDIS_URL)
	@if [ -z "$$REDIS_URL" ]; then \
		echo "make worker needs REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379/0 make worker"; exit 2; \
	fi
	cd project && ../$(BIN)/celery --app app.worker worker --loglevel INFO

# Load and faults (README, "Load and fault tests").
.PHONY: loadtest
LOADTEST_ARGS ?=
loadtest: $(VENV)/.dev-stamp ## Simulated visitors on gunicorn (loopback), without then with an abuser; a worker SIGKILLed, SIGTERM drain
	cd project && ../$(BIN)/python -m tools.loadtest $(LOADTEST_ARGS)
