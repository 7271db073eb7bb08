# Alchemi Studio Console — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The test-suite's OpenID Connect provider (npm oidc-provider, tests/oidc/), installed from its lockfile.
OIDC := tests/oidc
OIDC_STAMP := $(OIDC)/node_modules/.installed

.PHONY: run test install bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(OIDC_STAMP): $(OIDC)/package.json $(OIDC)/package-lock.json
	npm ci --prefix $(OIDC) --no-audit --no-fund --loglevel=error
	touch $(OIDC_STAMP)

install: $(STAMP) $(OIDC_STAMP)

## Start everything (API + worker, embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set).
run: $(STAMP)
	$(BIN)/alchemi up

## The whole test-suite against real PostgreSQL, Redis, worker processes and SDK clients.
test: $(STAMP) $(OIDC_STAMP)
	$(BIN)/python -m pytest

## Gateway vs direct vs LiteLLM, as ratios from one run (see bench/overhead/README.md).
bench: $(STAMP)
	$(BIN)/python -m bench.overhead.run

clean:
	rm -rf $(VENV) .alchemi .pytest_cache $(OIDC)/node_modules
