# One task runner with conventional verbs. Every verb installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BUF := tools/buf/node_modules/.bin/buf
PYTEST_ARGS ?=

.PHONY: setup generate lint typecheck test check demo up mesh bench clean

setup: $(VENV)/.installed $(BUF)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(BUF): tools/buf/package.json
	cd tools/buf && npm ci --no-audit --no-fund --silent
	touch $@

generate: setup ## regenerate stubs/ from protos/
	$(PY) scripts/generate_stubs.py

lint: setup ## ruff + buf lint + buf format
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(BUF) lint
	$(BUF) format --diff --exit-code

typecheck: setup ## mypy on orchestrator/
	$(VENV)/bin/mypy

test: lint typecheck ## everything CI checks
	$(PY) -m pytest $(PYTEST_ARGS)

demo: $(VENV)/.installed ## the mesh, the orchestrator and a complete_style_analysis run with live progress
	$(VENV)/bin/aura demo

up: $(VENV)/.installed ## the mesh and the orchestrator until Ctrl-C
	$(VENV)/bin/aura up

mesh: $(VENV)/.installed ## only the five mock services until Ctrl-C
	$(VENV)/bin/aura mesh

bench: $(VENV)/.installed ## limit vs orchestrator, throughput, 10,000 runs, DBOS and Prefect, SQLite vs PostgreSQL, takeover, the event bus (BENCH_ARGS=--smoke for a quick run)
	bash benchmarks/peers/setup.sh
	$(PY) -m benchmarks $(BENCH_ARGS)
	$(PY) -m benchmarks.transactions

clean:
	rm -rf $(VENV) tools/buf/node_modules .aura .pytest_cache .mypy_cache .ruff_cache
