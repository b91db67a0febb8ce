# ccpulse: one entry point for people and CI. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KAFKACTL := $(PYTHON) deploy/kafka/kafkactl.py
STAMP := $(VENV)/.installed

.PHONY: help setup lint typecheck test test-unit test-integration bench demo kafka-up kafka-down kafka-status clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,speed]'
	@touch $(STAMP)

setup: $(STAMP) ## create .venv, install ccpulse and dev tools, fetch the Kafka jars
	@$(KAFKACTL) fetch >/dev/null
	@$(PY) tools/fetch_deploy_linters.py --quiet  # kubeconform, kustomize, hadolint, schemas -> .cache/deploy-tools
	@command -v promtool >/dev/null || echo "note: promtool not found; alert-rule tests need Debian's 'prometheus' package (apt-get install prometheus)"
	@echo "setup done: $(VENV) ready, Kafka jars cached in .cache/kafka"

lint: $(STAMP) ## ruff, mypy --strict on src/, and the pure-core import check
	$(VENV)/bin/ruff check src tests deploy tools examples
	$(VENV)/bin/ruff format --check src tests deploy tools examples
	$(VENV)/bin/mypy
	$(PY) tools/check_pure_core.py

typecheck: $(STAMP) ## mypy --strict on src/
	$(VENV)/bin/mypy

test: setup lint ## everything: lint, unit tests, integration tests on a real local Kafka broker
	$(PY) -m pytest

test-unit: $(STAMP) ## unit tests only (no broker)
	$(PY) -m pytest tests/unit

test-integration: setup ## integration tests only (starts a local broker unless CCPULSE_KAFKA_BOOTSTRAP is set)
	$(PY) -m pytest -m integration

BENCH_KAFKA_DIR := .cache/kafka/bench

bench: setup ## engine + a local broker: floor, empty Faust agent, worker -> table and build/bench.json
	@port=$$($(PYTHON) -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	version=$$(sed -n 's/^DEFAULT_VERSION = "\(.*\)"/\1/p' deploy/kafka/kafkactl.py); \
	trap '$(KAFKACTL) reset --run-dir $(BENCH_KAFKA_DIR) >/dev/null' EXIT; \
	$(KAFKACTL) reset --run-dir $(BENCH_KAFKA_DIR) >/dev/null; \
	$(KAFKACTL) up --port $$port --run-dir $(BENCH_KAFKA_DIR) >&2 || exit 2; \
	$(VENV)/bin/ccpulse bench --kafka 127.0.0.1:$$port --kafka-version $$version

demo: setup ## start Kafka, a worker and the simulator; watch per-queue counters; Ctrl-C stops all
	$(PY) deploy/demo.py

kafka-up: ## start the local Apache Kafka broker (KRaft, loopback) and print its address
	@$(KAFKACTL) up

kafka-down: ## stop the local Kafka broker started by kafka-up
	@$(KAFKACTL) down

kafka-status: ## is the local broker running, and where
	@$(KAFKACTL) status

clean: ## remove build output and caches (keeps .venv and the Kafka jar cache)
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis .ccpulse-data .cache/demo .cache/kafka/run
