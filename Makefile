# `make run` and `make test` are the only commands a new user types: each
# creates .venv and installs Corral into it when the project files changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint docs bench bench-classifier chaos clean lock audit

# Every dependency at the version and with the hashes of requirements-dev.lock
# (pip refuses a file whose hash differs); then Corral itself, editable.
$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/corral up $(if $(CONFIG),--config $(CONFIG))

# Tests wait on a broker, a subprocess or a browser more than on the CPU, so
# four test processes share two cores well; each starts its own embedded
# broker. Against your own broker they run one at a time: some tests share
# consumer group names.
TEST_PROCESSES ?= $(if $(KAFKA_BOOTSTRAP_SERVERS),0,4)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_PROCESSES) --dist worksteal

# Corral behind the real Prometheus and Alertmanager (Debian packages, installed
# when missing); `make test` runs these too.
.PHONY: e2e
e2e: $(STAMP)
	$(BIN)/python -m pytest -q -s tests/e2e

# ruff, then mypy (strict for shared/; see [tool.mypy] in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The configuration reference in docs/configuration.md, from the config models.
docs: $(STAMP)
	$(BIN)/python -m services.corral.reference --write docs/configuration.md

# Throughput, latency and memory against the embedded broker's own limit
# (several minutes; prints the figures and writes bench/results/perf-*.json).
bench: $(STAMP)
	$(BIN)/python -m bench.perf

# Fault campaign: an alert storm through all three workers while each is
# killed, the broker stalls and poison records arrive; checks that nothing was
# lost or paged twice (about two minutes; docs/reliability.md).
chaos: $(STAMP)
	$(BIN)/python -m bench.chaos $(if $(SEED),--seed $(SEED))

# Which rules page, leave-one-corpus-out and in-organisation over nine rule
# corpora (two read from ../shared/data/rules/, seven in bench/classifier/corpora/),
# against a strong TF-IDF baseline, with intervals over seeds; and throughput.
bench-classifier: $(STAMP)
	$(BIN)/python -m bench.classifier.run

# The issue's catastrophic silence regex, Python re against RE2 (seconds).
.PHONY: bench-regex
bench-regex: $(STAMP)
	$(BIN)/python -m bench.regex

# The incidents service: store fill rate, action to store latency, rebuild time
# (embedded broker, SQLite; --store postgresql://... for PostgreSQL).
.PHONY: bench-incidents
bench-incidents: $(STAMP)
	$(BIN)/python -m bench.incidents

# Webhook to the row on an open board, and an acknowledgement to the row saying
# so, in headless Chromium against `corral up` (Debian's chromium).
.PHONY: bench-board
bench-board: $(STAMP)
	$(BIN)/python -m bench.board

# Replays an alert storm through ingest, Kafka and triage; prints grouping quality.
.PHONY: bench-triage
bench-triage: $(STAMP)
	$(BIN)/python -m bench.storm $(if $(SEED),--seed $(SEED))

# Rules suggested from a history period against defaults and hand-written
# rules on a harder storm, and triage.causes.hold, offline (corral replay's code).
.PHONY: bench-learning
bench-learning: $(STAMP)
	$(BIN)/python -m bench.storm.learning

# Known advisories (PyPI's vulnerability data) against both locks. Fails, never
# passes quietly, when a package cannot be checked: an unreachable advisory
# service is a failed audit.
audit: $(STAMP)
	$(BIN)/pip-audit --strict --progress-spinner off --disable-pip --require-hashes \
		-r requirements.lock -r requirements-dev.lock \
	|| { echo "make audit: FAILED: a known vulnerability, or packages the advisory service could not check (see above)" >&2; exit 1; }

# Re-resolve both locks from pyproject.toml, with every file's hash.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --extra dev --extra embedded --output-file requirements-dev.lock \
		pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
