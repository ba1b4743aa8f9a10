# The README's two commands are `make demo` and `make test`; each installs and builds what it
# needs first (hack/setup.sh), so after `git clone` either one is enough. CI runs .ci/run, which
# calls `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHON

.PHONY: help setup venv lint test test-unit demo deploy clean
help:
	@echo "make demo        set up, bring up the test-bed cluster, deploy kaudit, enable audit logging, show events"
	@echo "make test        set up, then run every test (unit, integration, end-to-end)"
	@echo "make setup       what both need: Debian packages, .venv, Kubernetes and etcd builds, bed images"
	@echo "make deploy      build the image, load it into the bed, apply deploy/"
	@echo "make test-unit   run the fast tests only (no cluster)"
	@echo "make lint        ruff, mypy --strict and the import-layering contracts"
	@echo "make testbed-up | testbed-down | testbed-env   manage the local control plane"

## Idempotent: a second run only checks (seconds).
setup:
	bash hack/setup.sh

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	bash hack/setup.sh --python-only

## lint-imports checks the layering contracts in pyproject.toml on this checkout's package (the
## PYTHONPATH), not on whichever copy .venv installed in editable mode.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PYTHONPATH=$(CURDIR)/operator $(BIN)/lint-imports --no-logo

## The README's test command: set up, bring the bed up where it can run, pytest, and a loud
## summary when tests were skipped. Extra pytest arguments: make test PYTEST_ARGS='-k rollout'.
test:
	bash hack/test.sh $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/pytest -m unit

## Build the image from the Dockerfile, load it into the bed, apply deploy/, wait until ready.
deploy:
	bash hack/deploy.sh

## The README's first command: set up, bed up, kaudit deployed, audit logging on, events shown.
demo:
	bash hack/demo.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

-include hack/testbed/testbed.mk
