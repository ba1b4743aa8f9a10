# The README's two commands are `make demo` and `make test`; CI runs .ci/run, which calls them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help venv lint test test-unit demo deploy clean
help:
	@echo "make demo        bring up the test-bed cluster, deploy kaudit, enable audit logging, show events"
	@echo "make deploy      build the image, load it into the bed, apply deploy/"
	@echo "make test        run every test (unit, integration, end-to-end)"
	@echo "make test-unit   run the fast tests only (no cluster)"
	@echo "make lint        ruff and mypy --strict"
	@echo "make testbed-up | testbed-down | testbed-env   manage the local control plane"

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: venv
	$(BIN)/pytest

test-unit: venv
	$(BIN)/pytest -m unit

## Build the image from the Dockerfile, load it into the bed, apply deploy/, wait until ready.
deploy:
	bash hack/deploy.sh

## The README's first command: bed up, kaudit deployed, audit logging on, events shown.
demo:
	bash hack/demo.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

-include hack/testbed/testbed.mk
