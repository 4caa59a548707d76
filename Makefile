# udprouter: every target sets up what it needs on a fresh clone (.venv, engine build, codecs).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ENGINE_BUILD := build/engine
ENGINE_TYPE  ?= Release
ENGINE_BIN   := $(ENGINE_BUILD)/udprouter-engine
CLIENT_C_BUILD := build/client-c
PYTEST_ARGS  ?=

BUF_VERSION := 1.75.0
BUF := build/buf/node_modules/.bin/buf

.PHONY: lint-proto setup run test test-python test-engine test-engine-debug bench bench-quick bench-engine bench-engine-ab lint generate fuzz soak chaos clean engine engine-debug client-c test-client-c client-c-debug test-client-c-debug

setup: $(STAMP) engine

$(STAMP): pyproject.toml constraints.txt setup.py src/udprouter/_ffi_build.py engine/include/udprouter/engine/ring_abi.h $(wildcard src/udprouter/fastpath/*.[ch]) src/udprouter/loadgen/_loadgen_build.py $(wildcard src/udprouter/loadgen/*.[ch])
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# PIP_CONSTRAINT also pins the isolated build environment (setuptools, cffi, cmake)
	PIP_CONSTRAINT=constraints.txt $(PY) -m pip install --quiet -e '.[dev]'
	touch $@

engine:
	cmake -S engine -B $(ENGINE_BUILD) -DCMAKE_BUILD_TYPE=$(ENGINE_TYPE) -DUDR_WERROR=ON > /dev/null
	cmake --build $(ENGINE_BUILD) --parallel 2

# The C client library (clients/c), its example and test programs; the Python tests run them.
client-c:
	cmake -S clients/c -B $(CLIENT_C_BUILD) -DCMAKE_BUILD_TYPE=Release > /dev/null
	cmake --build $(CLIENT_C_BUILD) --parallel 2

test-client-c: client-c
	ctest --test-dir $(CLIENT_C_BUILD) --output-on-failure

# The C client under AddressSanitizer + UndefinedBehaviorSanitizer: its unit tests and every Python
# test that runs its programs (CI runs this after make test).
client-c-debug:
	cmake -S clients/c -B build/client-c-debug -DCMAKE_BUILD_TYPE=Debug -DUDR_CLIENT_SANITIZE=ON > /dev/null
	cmake --build build/client-c-debug --parallel 2

test-client-c-debug: $(STAMP) engine client-c-debug
	ctest --test-dir build/client-c-debug --output-on-failure
	UDR_C_CLIENT_BUILD=build/client-c-debug $(PY) -m pytest -q tests/protocol/test_c_client_codecs.py tests/system/test_c_client.py
	UDR_C_CLIENT_BUILD=build/client-c-debug $(PY) -m pytest -q tests/system/test_drop_copy.py -k c_drop_copy

# Debug build with sanitizers: CI runs the engine tests under it too.
engine-debug:
	cmake -S engine -B build/engine-debug -DCMAKE_BUILD_TYPE=Debug -DUDR_SANITIZE=ON -DUDR_WERROR=ON > /dev/null
	cmake --build build/engine-debug --parallel 2

test-engine-debug: engine-debug
	ctest --test-dir build/engine-debug --output-on-failure

run: setup
	$(VENV)/bin/udprouter serve

test: setup test-engine test-client-c test-python

test-engine: engine
	ctest --test-dir $(ENGINE_BUILD) --output-on-failure

test-python: $(STAMP) engine client-c
	$(PY) -m pytest -m "not perf" $(PYTEST_ARGS)

generate: $(STAMP)
	$(PY) -m tools.gen
	$(PY) -m tools.gen.vectors
	$(PY) -m tools.gen.dissector
	$(PY) -m tools.gen.proto_stubs

lint: $(STAMP)
	$(VENV)/bin/ruff check src tools tests bench

# buf (Google's API rules for the gRPC proto), from the npm registry's package of it.
$(BUF):
	npm install --prefix build/buf --no-audit --no-fund --silent @bufbuild/buf@$(BUF_VERSION)

lint-proto: $(BUF)
	cd protocol/proto && $(CURDIR)/$(BUF) lint

bench: setup
	$(PY) -m bench.run

bench-quick: setup
	$(PY) -m bench.run --quick

bench-engine: engine
	$(ENGINE_BUILD)/bench_lobflow
	$(ENGINE_BUILD)/bench_journal
	$(ENGINE_BUILD)/bench_ring

# This engine against an older build, interleaved on one core: BEFORE=<old build dir>/bench_lobflow
# (build it from `git worktree add <dir> <commit>`, cmake Release). ROUNDS, CORE, SYMBOLS to change.
ROUNDS ?= 5
CORE ?= 1
SYMBOLS ?= 100
bench-engine-ab: engine
	@test -n "$(BEFORE)" || { echo "bench-engine-ab: set BEFORE=<old build>/bench_lobflow"; exit 2; }
	$(PYTHON) -m bench.engine_ab --before $(BEFORE) --after $(ENGINE_BUILD)/bench_lobflow --rounds $(ROUNDS) --core $(CORE) --symbols $(SYMBOLS)

fuzz: setup
	$(PY) -m tests.fuzz

soak: setup
	$(PY) -m bench.soak

# Longer seeded runs of the hostile-client scenarios (tests/chaos.py); CHAOS_MINUTES=N to change.
CHAOS_MINUTES ?= 10
chaos: setup
	$(PY) -m tests.chaos --minutes $(CHAOS_MINUTES)

clean:
	rm -rf build $(VENV) src/*.egg-info .pytest_cache .hypothesis bench/results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find src tools -name '*.so' -delete
