# udprouter: every target sets up what it needs on a fresh clone (.venv, engine build, codecs).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ENGINE_BUILD := build/engine
ENGINE_TYPE  ?= Release
ENGINE_BIN   := $(ENGINE_BUILD)/udprouter-engine
PYTEST_ARGS  ?=

.PHONY: setup run test test-python test-engine test-engine-debug bench bench-quick bench-engine lint generate fuzz soak clean engine engine-debug

setup: $(STAMP) engine

$(STAMP): pyproject.toml setup.py src/udprouter/_ffi_build.py $(wildcard src/udprouter/c/*.[ch])
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

engine:
	cmake -S engine -B $(ENGINE_BUILD) -DCMAKE_BUILD_TYPE=$(ENGINE_TYPE) -DUDR_WERROR=ON > /dev/null
	cmake --build $(ENGINE_BUILD) --parallel 2

# Debug build with sanitizers: CI runs the engine tests under it too.
engine-debug:
	cmake -S engine -B build/engine-debug -DCMAKE_BUILD_TYPE=Debug -DUDR_SANITIZE=ON -DUDR_WERROR=ON > /dev/null
	cmake --build build/engine-debug --parallel 2

test-engine-debug: engine-debug
	ctest --test-dir build/engine-debug --output-on-failure

run: setup
	$(VENV)/bin/udprouter serve

test: setup test-engine test-python

test-engine: engine
	ctest --test-dir $(ENGINE_BUILD) --output-on-failure

test-python: $(STAMP) engine
	$(PY) -m pytest -m "not perf" $(PYTEST_ARGS)

generate: $(STAMP)
	$(PY) -m tools.gen
	$(PY) -m tools.gen.vectors
	$(PY) -m tools.gen.dissector
	$(PY) -m tools.gen.grpc_stubs
	$(PY) -m tools.gen.admin_stubs

lint: $(STAMP)
	$(VENV)/bin/ruff check src tools tests bench

bench: setup
	$(PY) -m bench.run

bench-quick: setup
	$(PY) -m bench.run --quick

bench-engine: engine
	$(ENGINE_BUILD)/bench_lobflow
	$(ENGINE_BUILD)/bench_journal
	$(ENGINE_BUILD)/bench_ring

fuzz: setup
	$(PY) -m tests.fuzz

soak: setup
	$(PY) -m bench.soak

clean:
	rm -rf build $(VENV) src/*.egg-info .pytest_cache .hypothesis bench/results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find src tools -name '*.so' -delete
