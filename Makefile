# The single entry point. `make help` lists the targets.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
LOCKER := $(VENV)-lock
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: help install lock system-packages run test test-unit test-integration lint fmt bench clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# The exact versions of requirements.lock (hash-checked), then the project's packages (editable, no dependencies:
# the lock has them all), then a check that nothing is missing or conflicting.
$(BIN)/registry: $(LOCK) requirements.in shared/pyproject.toml services/*/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install -q --no-deps $$(grep '^-e ' requirements.in)
	$(BIN)/pip check
	touch $@

install: $(BIN)/registry  ## build .venv/ from requirements.lock: every package (editable) and the dev tools

lock:  ## re-resolve requirements.in (and the packages' pyproject.toml) to the newest versions: requirements.lock
	test -x $(LOCKER)/bin/uv || { $(PYTHON) -m venv $(LOCKER) && $(LOCKER)/bin/pip install -q uv; }
	@# --universal: one lock for every Python 3.11.x (redis needs async-timeout before 3.11.3, Debian 12 has 3.11.2)
	$(LOCKER)/bin/uv pip compile -q --upgrade --universal --python-version 3.11 --generate-hashes \
	  --custom-compile-command "make lock" -o $(LOCK).new requirements.in
	@# the project's own packages are installed editable, from the tree: no pinned line, no hash
	awk '/^-e / {own = 1; next} own && /^    #/ {next} {own = 0; print}' $(LOCK).new >$(LOCK)
	rm -f $(LOCK).new

system-packages:  ## install the Debian packages the tests run (skopeo, redis-server, nginx, the Go registry...)
	bash tests/install-system-packages.sh

run: install  ## serve the whole registry on 127.0.0.1:5000, filesystem storage under ./data
	$(BIN)/registry serve all --config deploy/config.dev.yml --host $(HOST) --port $(PORT)

test: install system-packages  ## run every test (unit, API, drivers incl. S3 on a moto server, integration)
	$(BIN)/pytest

test-unit: install  ## only the tests that start no server
	$(BIN)/pytest -m "not integration and not s3 and not redis"

lint: install  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install  ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install  ## ours, the compose stack (when Docker answers) and the Go registry 2.8, interleaved, 5 repeats (~10 min)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:  ## remove the virtualenv and local data
	rm -rf $(VENV) $(LOCKER) data

# -- the scaled deployment (deploy/compose.yml; on this machine with deploy/compose.local.yml: nothing is pulled) --
.PHONY: images up down e2e
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
STACK = $(COMPOSE) -p $(or $(E2E_PROJECT),registry) -f deploy/compose.yml -f deploy/compose.local.yml
READERS ?= 2
WRITERS ?= 2

images: install  ## build the stack's images offline: debootstrap base, moto S3, the registry from host wheels
	bash deploy/build-local-base.sh
	bash deploy/build-image.sh --local

up: images  ## start the stack (READERS=2 WRITERS=2), gateway on 127.0.0.1:5000 (REGISTRY_PUBLISH=host:port)
	$(STACK) up -d --no-build --scale blob-read=$(READERS) --scale blob-write=$(WRITERS)

down:  ## stop the stack, remove its containers, network and S3 volume
	$(STACK) down -v --remove-orphans --timeout 10

e2e: install  ## build offline, start the stack with 2 readers and 2 writers, run tests/integration/e2e, tear down
	bash deploy/e2e.sh
