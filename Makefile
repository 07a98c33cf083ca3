# `make run` and `make test` are the only commands a new user types: each
# creates .venv and installs Corral into it when the project files changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/corral up $(if $(CONFIG),--config $(CONFIG))

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Replays an alert storm through ingest, Kafka and triage; prints grouping quality.
.PHONY: bench-triage
bench-triage: $(STAMP)
	$(BIN)/python -m bench.storm $(if $(SEED),--seed $(SEED))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
