# Townsquare: `make run` starts the sandbox gateway, `make test` installs everything and tests.
SHELL := /bin/bash
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PYTEST_ARGS ?=
# Test processes: most of a test's time is spent waiting on servers, so two share the two cores well.
TEST_WORKERS ?= 2
KECCAK_LIB := wallet/native/libkeccak.so
SIMHASH_LIB := engagement/native/libsimhash.so
# The interpreter of the project's environment (`.venv`): Debian's python3.11 where the machine
# has it. Debian builds it with profile-guided and link-time optimisation, and the gateway's
# Python runs on it with a sixth to a third less CPU than on the same CPython built without
# them (as pyenv builds it by default). Any CPython 3.11 or 3.12 works the same: `make
# PYTHON=...` picks another, `make PYTHON=` lets uv choose. uv makes `.venv` again when the
# interpreter changes.
PYTHON ?= $(wildcard /usr/bin/python3.11)
ifneq ($(PYTHON),)
export UV_PYTHON := $(PYTHON)
endif

.PHONY: run test lint format bench i18n contracts deps py-deps node-deps browser clean help

help:
	@echo "make run    - start the sandbox gateway on http://127.0.0.1:8080"
	@echo "make test   - install everything and run the test suite"
	@echo "make lint   - ruff, mypy and the import contracts"
	@echo "make bench  - run the benchmarks and print the table"

run: deps
	$(UV) run townsquare sandbox

test: deps browser
	$(UV) run pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: py-deps
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run lint-imports

format: py-deps
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench: deps
	$(UV) run python -m benchmarks $(BENCH)

i18n: py-deps
	$(UV) run pybabel extract --no-location -k _ --project=townsquare -o bot/locales/messages.pot bot/texts.py
	$(UV) run pybabel update -i bot/locales/messages.pot -d bot/locales -D messages
	$(UV) run pybabel compile -d bot/locales -D messages

contracts: deps
	$(UV) run python -m wallet.contracts.build

deps: py-deps node-deps

# uv itself, installed with pip when the machine has none.
.uv-installed:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet "uv==$(UV_VERSION)"
	@touch $@

# The project's own bytecode too: the machines run with PYTHONDONTWRITEBYTECODE, and compiling
# it again in every process costs `townsquare sandbox` a tenth of its start-up.
py-deps: .uv-installed $(KECCAK_LIB) $(SIMHASH_LIB)
	$(UV) sync --frozen --quiet --compile-bytecode
	$(UV) run --no-sync python -m compileall -q core engagement wallet miniapps bot

# Our batch Keccak-256 for the Merkle builds (wallet/keccak_native.py). Without a C compiler the
# hashing stays on pycryptodome, with the same results, so a failed build only says so.
$(KECCAK_LIB): wallet/native/keccak.c
	@$(CC) -O3 -shared -fPIC -Wall -o $@.tmp $< && mv $@.tmp $@ \
		|| { rm -f $@ $@.tmp; echo "no native Keccak-256 ($(CC) failed): hashing with pycryptodome"; }

# Our simhash of message texts (engagement/simhash_native.py). Without a C compiler
# engagement.text computes it in Python, with the same results, so a failed build only says so.
$(SIMHASH_LIB): engagement/native/simhash.c
	@$(CC) -O3 -shared -fPIC -Wall -o $@.tmp $< && mv $@.tmp $@ \
		|| { rm -f $@ $@.tmp; echo "no native simhash ($(CC) failed): message hashes in Python"; }

node-deps: node_modules/.package-lock.json

# `npm install` with the committed lock (npm ci refuses anvil's per-platform optional packages).
node_modules/.package-lock.json: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		$(if $(shell [ $$(id -u) -eq 0 ] || echo no),sudo) apt-get update -qq && \
		$(if $(shell [ $$(id -u) -eq 0 ] || echo no),sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf .venv node_modules .uv-installed .pytest_cache .mypy_cache .ruff_cache var artifacts $(KECCAK_LIB) $(SIMHASH_LIB)
