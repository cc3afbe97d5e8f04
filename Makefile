# vanphong: `make run` brings everything up and prints a report; `make test` proves it.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
VP := $(BIN)/vanphong
RUN_DIR := $(HOME)/.cache/vanphong/run
WORKER_PID := $(RUN_DIR)/worker.pid
WORKER_LOG := $(RUN_DIR)/worker.log
REPORT_UNIT ?= vptu
REPORT_FROM ?= 2019-01-01
REPORT_TO ?= 2024-09-30

.PHONY: browser venv stack init worker-start worker-stop run stop test test-sweep lint unit bench bench-read clean tools

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is missing: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

stack: venv
	$(VP) stack up

init: stack
	$(VP) init

worker-start: init
	@mkdir -p $(RUN_DIR)
	@if [ -f $(WORKER_PID) ] && kill -0 $$(cat $(WORKER_PID)) 2>/dev/null; then \
		echo "worker already running (pid $$(cat $(WORKER_PID)))"; \
	else \
		nohup $(VP) worker >$(WORKER_LOG) 2>&1 & echo $$! >$(WORKER_PID); \
		echo "worker started (pid $$(cat $(WORKER_PID)), log $(WORKER_LOG))"; \
	fi

worker-stop:
	@if [ -f $(WORKER_PID) ] && kill -0 $$(cat $(WORKER_PID)) 2>/dev/null; then \
		kill -TERM $$(cat $(WORKER_PID)); \
		for i in $$(seq 1 100); do kill -0 $$(cat $(WORKER_PID)) 2>/dev/null || break; sleep 0.2; done; \
		kill -0 $$(cat $(WORKER_PID)) 2>/dev/null && kill -KILL $$(cat $(WORKER_PID)); \
		echo "worker stopped"; \
	fi; rm -f $(WORKER_PID)

run: worker-start
	$(VP) demo
	$(VP) wait --timeout 900
	$(VP) report --unit $(REPORT_UNIT) --from $(REPORT_FROM) --to $(REPORT_TO)

stop: worker-stop
	$(VP) stack down

# ruff, mypy, and the layers' import contracts ([tool.importlinter] in pyproject.toml). mypy
# checks the product (vanphong follows its linked folders), the benchmark and testkit.
lint: venv
	$(BIN)/ruff check vanphong streams schemas sinks deploy tests bench testkit
	$(BIN)/ruff format --check vanphong streams schemas sinks deploy tests bench testkit
	$(BIN)/mypy vanphong bench testkit
	$(BIN)/lint-imports

unit: venv tools
	$(BIN)/pytest -q -m "not integration"

# Tools the offline checks of deploy/ need (tests/test_deploy_artifacts.py; kubernetes-validate
# comes with the dev extra): promtool, from the Go module github.com/prometheus/prometheus at a
# pinned version, built once into .tools/ (minutes cold; then nothing to do). Prometheus' own
# build tags leave out every service discovery but Kubernetes' (deploy/production/prometheus/prometheus.yml
# uses it): less than half the CPU and a third of the memory of a full build. The test runs
# .tools/bin/promtool, a link to the pinned version's build (relinked by every run).
PROMETHEUS_VERSION := v0.316.0
TOOLS := $(CURDIR)/.tools
PROMTOOL := $(TOOLS)/bin/promtool
PROMTOOL_BUILD := $(TOOLS)/prometheus-$(PROMETHEUS_VERSION)/promtool

tools: $(PROMTOOL_BUILD)
	@mkdir -p $(TOOLS)/bin && ln -sfn ../prometheus-$(PROMETHEUS_VERSION)/promtool $(PROMTOOL)

$(PROMTOOL_BUILD):
	@command -v go >/dev/null || { echo "go is missing: promtool $(PROMETHEUS_VERSION) is built with it (Go >= 1.26.7)"; exit 1; }
	GOBIN=$(dir $@) GOFLAGS=-buildvcs=false go install -tags remove_all_sd,enable_kubernetes_sd \
		github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)

# Chromium for the operator-page test (Debian's package, driven by playwright from the dev
# extras; `playwright install` is never run). A failed install fails here: the test never skips.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] \
		|| { echo "chromium is missing; as root: apt-get install -y chromium"; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		>/dev/null && command -v chromium >/dev/null \
		|| { echo "installing chromium (apt-get install -y chromium) failed"; exit 1; }; }

# The fault tests stop and restart the stack's PostgreSQL and Kafka: they run last, on their own.
# -rs prints every skip's reason, and tests/check_skips.py fails the run on any skip that is not
# on its (empty) allow-list: a skipped test must not pass for a green one.
# The local stack's Schema Registry (deploy/local/apicurio.py): `make test` registers every shipped
# schema version in it and fails on an incompatible change (`vanphong schemas check`).
STACK_REGISTRY_URL ?= http://127.0.0.1:8081/apis/ccompat/v7

test: venv lint stack browser tools
	$(VP) stack up --keycloak  # the reporting page's logins (tests/test_serve_login.py)
	VANPHONG_SCHEMA_REGISTRY_URL=$(STACK_REGISTRY_URL) $(VP) init
	VANPHONG_SCHEMA_REGISTRY_URL=$(STACK_REGISTRY_URL) $(VP) schemas check
	$(BIN)/pytest -q -rs -p no:cacheprovider -m "not faults" --junitxml=$(RUN_DIR)/junit-main.xml \
		&& $(BIN)/python tests/check_skips.py $(RUN_DIR)/junit-main.xml
	$(BIN)/pytest -q -rs -p no:cacheprovider -m faults --junitxml=$(RUN_DIR)/junit-faults.xml \
		&& $(BIN)/python tests/check_skips.py $(RUN_DIR)/junit-faults.xml

# The model-based property test with many more random histories than `make test` runs.
test-sweep: venv stack
	$(VP) init
	VANPHONG_MODEL_EXAMPLES=200 $(BIN)/pytest -q -p no:cacheprovider tests/test_model_based.py

# Throughput, latency and memory beside a ceiling, a naive service and a peer (bench/README.md).
# BENCH_EVENTS (500000), BENCH_LATENCY_S (60), BENCH_SYSTEMS, BENCH_PROFILE=1 ... tune a run.
# The peer (Quix Streams) gets its own virtualenv: its pins would downgrade the product's pydantic.
PEER_VENV := bench/.venv-peer

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

$(PEER_VENV)/.installed: bench/requirements-peer.txt
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install -q --upgrade pip
	$(PEER_VENV)/bin/pip install -q -r bench/requirements-peer.txt
	touch $@

bench: venv stack
	$(VP) init
	$(MAKE) --no-print-directory $(VENV)/.bench-installed $(PEER_VENV)/.installed
	$(BIN)/python -m bench.run
	VANPHONG_SCHEMA_REGISTRY_URL=$(STACK_REGISTRY_URL) $(BIN)/python -m bench.wire_throughput 200000

# The read side: the reporting role's typical queries on a national history (34 provinces,
# 2018-2025, ~2.2 million events), each beside its floor (bench/README.md, "make bench-read").
# The history is generated once into the database vanphong_benchread and reused.
bench-read: venv stack
	$(BIN)/python -m bench.read

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
