# gompx developer entry points.
#
# PYTHON is the interpreter to build, test and bench with.  Not given, it is the project's
# virtual environment .venv, made (with pytest) from python3 on PATH on first use: pip never
# installs into a system interpreter, which PEP 668 forbids on "externally managed" ones.
# Given (PYTHON=/path/to/python3.x), gompx is installed into that interpreter as it is; use
# its real path, not a pyenv shim (the shim adds ~0.5 s to every process start).
VENV = $(CURDIR)/.venv
ifeq ($(origin PYTHON),undefined)
PYTHON = $(VENV)/bin/python
PYTHON_ENV = $(PYTHON)
endif
GO ?= go
PYTESTFLAGS ?=
# The project's Go packages (not ./...: that would include gopy's output under build/).
GOPKGS = ./gompx/... ./pickle/... ./pyext/... ./examples/... ./internal/... ./tests/goworker/... ./tests/goclusterworker/... ./cmd/...
GODIRS = gompx pickle pyext examples internal tests/goworker tests/goclusterworker cmd
# Developer tools (scripts/tools-requirements.txt) live in a venv of their own.
TOOLS = $(CURDIR)/build/venv-tools/bin
# The quick pytest subset `make check` runs, both implementations (~50 s here): module
# functions, start methods, python -m gompx, connections and their wire format, wait,
# listeners, queues, shared ctypes and the heap, hygiene.  Not in it: process lifetimes,
# locks under contention, pools, managers, shared memory, Go workers, interop, slow tests.
QUICK_TESTS = test_module_functions.py test_start_methods.py test_main.py test_wire_compat.py \
	test_connection.py test_wait.py test_listener.py test_queues.py test_sharedctypes.py \
	test_heap.py test_hygiene.py

.PHONY: api-parity install test test-go test-py fuzz fuzz-diff matrix conformance conformance-ci demo bench \
	bench-loaded bench-loaded-run bench-report vet lint check tools stubs sdist wheels clean distclean soak failpoints failpoints-ci failpoints-venv

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$@ -m pip install --quiet pytest

install: $(PYTHON_ENV)
	$(PYTHON) -m pip install --quiet .

tools: $(TOOLS)/.installed
$(TOOLS)/.installed: scripts/tools-requirements.txt | $(PYTHON_ENV)
	rm -rf build/venv-tools
	$(PYTHON) -m venv build/venv-tools
	$(TOOLS)/python -m pip install --quiet -r scripts/tools-requirements.txt
	touch $@

# Linters: ruff (pyproject's [tool.ruff]), gofmt, go vet, staticcheck (a Go tool pinned in
# go.mod), mypy --strict over the stubs and tests/typecheck/sample.py ([tool.mypy]).  CI runs
# them as part of `make test`.
lint: tools
	$(TOOLS)/ruff check .
	@unformatted=$$(gofmt -l $(GODIRS)); [ -z "$$unformatted" ] || \
		{ echo "gofmt -l: not formatted:"; echo "$$unformatted"; exit 1; }
	$(GO) vet $(GOPKGS)
	$(GO) tool staticcheck $(GOPKGS)
	$(TOOLS)/mypy

# The type stubs, regenerated from the typeshed bundled with the pinned mypy.
stubs: tools
	$(TOOLS)/python scripts/gen_stubs.py

# Before a commit: the linters and the quick pytest subset, in under 2 minutes.
check: lint install
	cd tests && $(PYTHON) -m pytest -q -p no:cacheprovider $(QUICK_TESTS) $(PYTESTFLAGS)

# The sdist, checked against what the build compiles, installed into a clean venv of
# $(PYTHON)'s version (built there: Go and a C compiler needed) and tested.
sdist: tools
	PYTHON=$(PYTHON) scripts/sdist.sh $(MATRIX_PYTEST) $(PYTESTFLAGS)

# A manylinux wheel per CPython 3.10-3.13 on the machine (dist/), each installed and
# tested in a fresh venv whose PATH has no Go and no C compiler.
wheels: tools
	scripts/wheels.sh $(MATRIX_PYTEST) $(PYTESTFLAGS)

# Every test, as CI runs them: the linters, Go tests under the race detector, a short fuzz of
# each decoder, pytest against the installed package (gompx and stdlib side by side), then
# the same suite against a wheel built for, and installed into a venv of, every CPython
# 3.10-3.13 on the machine, then CPython's own multiprocessing suite under gompx (3.11
# spawn, 3.13 forkserver; `make conformance` runs every version and start method).
# failpoints-ci: the kill tests at the failpoints, a few times each (make failpoints: all).
test: install lint test-go fuzz test-py failpoints-ci matrix conformance-ci

vet:
	$(GO) vet $(GOPKGS)

# GOMPX_PYTHON: the Go tests that run CPython with gompx on the other end use this
# interpreter, and fail (rather than skip) if it cannot import gompx.
test-go:
	GOMPX_PYTHON=$(PYTHON) $(GO) test -race -count=1 $(GOPKGS)

# A short run of every fuzz target that guards hostile input (no panic, no broken
# invariant), 15 s each: the pickle decoder, the framing, the handshake and a Listener's
# accept path, a queue's records as another process could corrupt them, and both ends
# of the shared-memory name protocol. The differential target against gopickle is not
# among them: a new corner where two decoders differ is a finding to table
# (gopickle_diff_test.go), not a regression, so it runs over its corpus in test-go and at
# length in fuzz-diff.
FUZZ_SKIP = FuzzAgainstGopickle
fuzz:
	@for pkg in ./pickle/ ./gompx/internal/frame/ ./gompx/ ./gompx/internal/mpq/ ./gompx/internal/shmname/; do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' | grep -vx '$(FUZZ_SKIP)'); do \
			echo "fuzz $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime 15s $$pkg || exit 1; \
		done; \
	done

fuzz-diff:
	$(GO) test -run '^$$' -fuzz '^FuzzAgainstGopickle$$' -fuzztime 5m ./pickle/

test-py:
	cd tests && $(PYTHON) -m pytest -q $(PYTESTFLAGS)

# Failpoints (gompx/internal/failpoint, the table in docs/design.md): every Go kill test
# 100 times under the race detector, then the extension built with the tag into a venv of
# its own (build/venv-failpoints) and every Python kill test 20 times, none skipped.
# failpoints-ci, part of `make test`, runs each once (the Go ones 3 times).
FP_VENV = $(CURDIR)/build/venv-failpoints
FP_GOPKGS = ./gompx/internal/failpoint/ ./gompx/internal/mpq/ ./gompx/internal/psync/ \
	./gompx/internal/arena/ ./gompx/internal/shmring/ ./gompx/internal/shmname/
FP_GOCOUNT ?= 100
FP_REPEAT ?= 20
failpoints: failpoints-venv
	GORACE=atexit_sleep_ms=0 $(GO) test -tags gompx_failpoints -race -count=$(FP_GOCOUNT) \
		-run 'Failpoint|^TestParse$$|^TestErrorOnNthHit$$|^TestBadSpecExits$$|^TestKill$$' $(FP_GOPKGS)
	cd tests && GOMPX_FP_REPEAT=$(FP_REPEAT) GOMPX_FP_REQUIRED=1 $(FP_VENV)/bin/python -m pytest -q \
		-p no:cacheprovider -rs --impl=gompx test_failpoints.py $(PYTESTFLAGS)

failpoints-ci:
	$(MAKE) failpoints FP_GOCOUNT=3 FP_REPEAT=1

failpoints-venv: | $(PYTHON_ENV)
	test -x $(FP_VENV)/bin/python || { $(PYTHON) -m venv $(FP_VENV) && \
		$(FP_VENV)/bin/python -m pip install --quiet pytest; }
	GOMPX_GOTAGS=gompx_failpoints $(FP_VENV)/bin/python -m pip install --quiet .

# A mixed workload (queues, pools with maxtasksperchild, managers, locks, shared memory,
# processes SIGKILLed at random) for MINUTES minutes, sampling the parent's descriptors,
# memfds, threads, children and RSS each minute (tests/soak.py). Not in CI.
MINUTES ?= 2
soak: install
	cd tests && $(PYTHON) soak.py --minutes $(MINUTES)

# A wheel per CPython 3.10-3.13 on the machine other than $(PYTHON) (test-py covers it),
# each installed into a fresh venv and tested: the gompx side of the suite (the stdlib
# side tests the tests), without the interop suites, which already pair every CPython
# on the machine with gompx from one run, and without the cluster cases of the stdlib
# suites (test-py runs them; test_cluster*.py still run here).
MATRIX_PYTEST = -q --impl=gompx --no-cluster-variant --ignore=test_listener_interop.py \
	--ignore=test_managers_interop.py
matrix:
	MATRIX_SKIP=$(PYTHON) scripts/matrix.sh $(MATRIX_PYTEST) $(PYTESTFLAGS)

# CPython's own test suites with multiprocessing served by gompx (python -m gompx), each
# test checked against what stdlib passes (tests/conformance/expected) and the known
# failures with their reasons (tests/conformance/known_failures.txt).
CONFORMANCE_CI = multiprocessing:3.11:spawn multiprocessing:3.13:forkserver
conformance-ci:
	PYTHON=$(PYTHON) scripts/conformance.sh $(CONFORMANCE_CI)

conformance: install
	PYTHON=$(PYTHON) scripts/conformance.sh all

# docs/api-parity.md: stdlib's public names against gompx's, on $(PYTHON) and every venv
# `make matrix` made (tests/test_api_parity.py is the gate; this is the page).
api-parity: install
	$(PYTHON) scripts/api_parity.py $(PYTHON) $(wildcard build/matrix/venv-*/bin/python) \
		> docs/api-parity.md

demo: install
	$(PYTHON) examples/demo.py

# Every benchmark side by side with stdlib, quiet and then loaded (BENCH_HOGS CPU-bound
# busy loops beside it, issue #14: no loaded case below 1.0x; BENCH_HOGS=0 skips that
# pass), then bench/README.md and bench/ratios.svg written from their JSON
# (bench/report.py; matplotlib, for the chart, goes into the tools venv from
# scripts/bench-requirements.txt).  bench-loaded reruns only the loaded pass.
BENCHES = process_pipe queue pool shared_memory sync goworkers listener managers idle
BENCHFLAGS ?=  # e.g. --rounds 3
BENCH_HOGS ?= 2
BENCH_QUIET_JSON = $(patsubst %,build/bench/%.json,$(BENCHES))
BENCH_LOADED_JSON = $(patsubst %,build/bench-loaded/%.json,$(BENCHES))
bench: install tools
	mkdir -p build/bench
	for b in $(BENCHES); do \
		$(PYTHON) bench/bench_$$b.py --json build/bench/$$b.json $(BENCHFLAGS) || exit 1; \
	done
	if [ "$(BENCH_HOGS)" != 0 ]; then $(MAKE) --no-print-directory bench-loaded-run; fi
	$(MAKE) --no-print-directory bench-report

bench-loaded: install tools
	$(MAKE) --no-print-directory bench-loaded-run
	$(MAKE) --no-print-directory bench-report

bench-loaded-run:
	mkdir -p build/bench-loaded
	for b in $(BENCHES); do \
		$(PYTHON) bench/bench_$$b.py --json build/bench-loaded/$$b.json --hogs $(BENCH_HOGS) \
			$(BENCHFLAGS) || exit 1; \
	done

# The page from whichever JSON exists (a quiet run, a loaded run, or both).
bench-report:
	$(TOOLS)/python -m pip install --quiet -r scripts/bench-requirements.txt
	$(TOOLS)/python bench/report.py bench $(wildcard $(BENCH_QUIET_JSON) $(BENCH_LOADED_JSON))

clean:
	rm -rf build dist pyext/*.egg-info

# The project venv too (clean keeps it: it takes a build to fill).
distclean: clean
	rm -rf $(VENV)
