# osstorchconnector: `make demo` and `make test` set up everything they need
# (a virtualenv in .venv with uv, torch from PyPI, the Go core built by pip).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
UV := $(PYTHON) -m uv
export UV_CACHE_DIR ?= $(HOME)/.cache/uv
export UV_LINK_MODE ?= copy
GO_TEST_FLAGS ?= -race -count=1 -timeout 15m

.PHONY: all build venv install demo test test-go test-py bench wheel clean

all: build

# Compile the core and the server into python/osstorchconnector (for work in
# the source tree; `pip install .` does this itself).
build:
	$(PYTHON) scripts/build_native.py python/osstorchconnector

$(VENV)/.uv:
	$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q --user uv || $(PYTHON) -m pip install -q uv
	$(UV) venv -q --allow-existing --python $(PYTHON) $(VENV)
	touch $@

venv: $(VENV)/.uv

# Install the package (building its Go core) with test and demo extras.
install: venv
	$(UV) pip install -q --python $(VPY) --reinstall-package osstorchconnector ".[test,demo]"

demo: install
	$(VPY) scripts/demo.py

test-go:
	go vet ./...
	go test $(GO_TEST_FLAGS) ./...

test-py: install
	$(VPY) -m pytest tests

test: test-go test-py

# The raw limit: the Go core's concurrent GET loop (no Python) against an
# in-process local server with 30 ms first-byte latency. The full suite of
# side-by-side benchmarks is still to come.
bench:
	go run ./go/cmd/rawget --emulate --objects 4000 --size 102400 --latency-ms 30 --concurrency 24
	go run ./go/cmd/rawget --emulate --objects 4000 --size 102400 --latency-ms 30 --concurrency 64

# A wheel that installs and works without Go.
wheel: venv
	$(VPY) -m build --wheel --outdir dist .

clean:
	rm -rf build dist python/osstorchconnector/_lib python/osstorchconnector/_bin *.egg-info python/*.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
