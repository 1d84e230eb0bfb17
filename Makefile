# The single entry point. `make help` lists the targets.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PACKAGES := -e shared -e services/blob-read -e services/blob-write -e services/descriptor-cache \
            -e services/purger -e services/all-in-one
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: help install run test test-unit test-integration lint fmt bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/registry: shared/pyproject.toml services/*/pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(PACKAGES) -r requirements-dev.txt
	touch $@

install: $(BIN)/registry  ## build .venv/ with every package (editable) and the dev tools

run: install  ## serve the whole registry on 127.0.0.1:5000, filesystem storage under ./data
	$(BIN)/registry serve all --config deploy/config.dev.yml --host $(HOST) --port $(PORT)

test: install  ## run every test (unit, API, drivers incl. S3 on a moto server, integration)
	$(BIN)/pytest

test-unit: install  ## only the tests that start no server
	$(BIN)/pytest -m "not integration and not s3 and not redis"

lint: install  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install  ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install  ## RSS growth and throughput across a 1 GiB push and pull (the Go comparison is issue 8)
	$(BIN)/python -m bench.memory

clean:  ## remove the virtualenv and local data
	rm -rf $(VENV) data
