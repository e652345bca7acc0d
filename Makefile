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

.PHONY: all build venv install upstream-venv demo lint fmt test test-go test-py test-compat test-integrations test-faults bench wheel clean fuzz fuzz-short

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
# EXTRAS: the package's optional dependency groups to install with it.
EXTRAS ?= test,demo
install: venv
	$(UV) pip install -q --python $(VPY) --reinstall-package osstorchconnector ".[$(EXTRAS)]"

# Upstream osstorchconnector 1.2.3, torch, numpy and pillow in .venv-upstream
# (uv, the same cache): what the compatibility suite (tests/compat) and the
# benchmark compare with. scripts/upstream.py does it, the same code the
# bench and the suite call. It never fails the build: without network it
# records why in build/upstream-venv.reason, the suite skips with that
# reason and `make bench` stops (unless BENCH_ARGS has --no-upstream).
upstream-venv: venv
	UV="$(UV)" UPSTREAM_BASE_PYTHON="$(PYTHON)" $(PYTHON) scripts/upstream.py venv

demo: install
	$(VPY) scripts/demo.py

# Linters and formatters, pinned: ruff (the test extra) for Python; gofmt,
# go vet, staticcheck (a go.mod tool) and go mod tidy -diff for Go. Each
# side runs all its checks and fails if any failed.
LINT_PY := python tests scripts
lint: install
	$(VPY) -m ruff check $(LINT_PY); c=$$?; $(VPY) -m ruff format --check $(LINT_PY) || c=1; exit $$c
	bash scripts/lint_go.sh

# `make fmt`: apply the formatters (ruff format, gofmt) and ruff's safe fixes.
fmt: install
	$(VPY) -m ruff check --fix $(LINT_PY)
	$(VPY) -m ruff format $(LINT_PY)
	gofmt -w $$(git ls-files '*.go')

test-go:
	go test $(GO_TEST_FLAGS) ./...
	bash scripts/fuzz.sh --go-only $(FUZZ_SHORT)

test-py: install upstream-venv
	$(VPY) -m pytest tests

# The compatibility suite alone: the same snippets under upstream 1.2.3 and
# ours against one local server (needs root for a private mount namespace,
# else it edits /etc/hosts for the session; skips with the reason where
# upstream cannot be had).
test-compat: install upstream-venv
	$(VPY) -m pytest tests/compat

# make test installs the frameworks tests/integrations trains with (the
# integrations-test extra: Ultralytics, mmdet, mmengine, mmcv-lite) beside
# the test extra, so their tests run there too.
TEST_EXTRAS := test,demo,integrations-test
test test-py: EXTRAS := $(TEST_EXTRAS)
test: lint test-go test-py

# The framework integrations alone (YOLO and MMDetection training one epoch).
test-integrations: EXTRAS := $(TEST_EXTRAS)
test-integrations: install
	$(VPY) -m pytest tests/integrations

# The full fault matrix (issue #8): every fault against datasets with DataLoader
# workers, checkpoints and tar shards, with more objects, repetitions and worker
# configurations than the bounded run in `make test`. Prints the table and
# writes it as markdown to build/fault-table.md.
test-faults: install
	OSSTORCH_FAULTS_FULL=1 $(VPY) -m pytest tests/faults/test_faults.py -s

# Fuzzing (go test -fuzz, and atheris for the manifest parser): FUZZTIME per
# target, one target after another, then a summary table. FUZZ_FLAGS may add
# --save-corpus (keep what was found in testdata/fuzz) or target names.
# fuzz-short is the brief run CI does (test-go runs its Go part). It is a
# count of inputs, not a duration: Go 1.26's fuzz coordinator can report a
# spurious "context deadline exceeded" failure when a -fuzztime duration
# expires while a worker is mid-input (golang/go#75804, fixed in Go 1.27);
# CI failed on it once. A count has no deadline to race. 20000 inputs take
# 1-12 s per target here.
FUZZTIME ?= 10m
FUZZ_SHORT ?= 20000x
FUZZ_FLAGS ?=

fuzz:
	bash scripts/fuzz.sh $(FUZZ_FLAGS) $(FUZZTIME)

fuzz-short:
	bash scripts/fuzz.sh $(FUZZ_FLAGS) $(FUZZ_SHORT)

# The benchmark suite (scripts/bench/run.py): D1 small objects, C1
# checkpoints, L1 listing, M1 memory, ours against the seed's oss2 dataset,
# the plain v2 SDK, upstream 1.2.3 (its own .venv-upstream) and the raw and
# memory limits, behind 35 ms of emulated OSS latency. Writes
# bench/results/latest.{json,md} and PNGs; the full run (about 30 minutes)
# also updates README's Performance section. BENCH_QUICK=1: a few minutes on
# small data, results in bench/results/quick/ (gitignored), README untouched.
# BENCH_ARGS passes more flags (--only d1, --no-upstream, ...). Fails when
# upstream cannot be measured, unless BENCH_ARGS has --no-upstream.
BENCH_QUICK ?=
BENCH_ARGS ?=
bench:
	$(MAKE) install EXTRAS=test,demo,bench
	$(if $(findstring --no-upstream,$(BENCH_ARGS)),,$(MAKE) upstream-venv)
	$(VPY) scripts/bench/run.py $(if $(BENCH_QUICK),--quick) $(BENCH_ARGS)

# A wheel that installs and works without Go.
wheel: venv
	$(VPY) -m build --wheel --outdir dist .

clean:
	rm -rf build dist python/osstorchconnector/_lib python/osstorchconnector/_bin *.egg-info python/*.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
