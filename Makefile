# gompx developer entry points.  PYTHON is the interpreter to build, test and bench with;
# use its real path, not a pyenv shim (the shim adds ~0.5 s to every process start).
PYTHON ?= $(shell command -v python3)
GO ?= go
PYTESTFLAGS ?=
# The project's Go packages (not ./...: that would include gopy's output under build/).
GOPKGS = ./gompx/... ./pickle/... ./pyext/... ./examples/... ./tests/goworker/... ./cmd/...

.PHONY: install test test-go test-py fuzz fuzz-diff matrix conformance conformance-ci demo bench vet clean

install:
	$(PYTHON) -m pip install --quiet .

# Every test, as CI runs them: Go vet, Go tests under the race detector, a short fuzz of
# each decoder, pytest against the installed package (gompx and stdlib side by side), then
# the same suite against a wheel built for, and installed into a venv of, every CPython
# 3.10-3.13 on the machine, then CPython's own multiprocessing suite under gompx (3.11
# spawn, 3.13 forkserver; `make conformance` runs every version and start method).
test: install vet test-go fuzz test-py matrix conformance-ci

vet:
	$(GO) vet $(GOPKGS)

# GOMPX_PYTHON: the Go tests that run CPython with gompx on the other end use this
# interpreter, and fail (rather than skip) if it cannot import gompx.
test-go:
	GOMPX_PYTHON=$(PYTHON) $(GO) test -race -count=1 $(GOPKGS)

# A short run of every fuzz target that guards hostile input (no panic, no broken
# invariant), 15 s each. The differential target against gopickle is not among them: a
# new corner where two decoders differ is a finding to table (gopickle_diff_test.go), not
# a regression, so it runs over its corpus in test-go and at length in fuzz-diff.
FUZZ_SKIP = FuzzAgainstGopickle
fuzz:
	@for pkg in ./pickle/ ./gompx/internal/frame/ ./gompx/; do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' | grep -vx '$(FUZZ_SKIP)'); do \
			echo "fuzz $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime 15s $$pkg || exit 1; \
		done; \
	done

fuzz-diff:
	$(GO) test -run '^$$' -fuzz '^FuzzAgainstGopickle$$' -fuzztime 5m ./pickle/

test-py:
	cd tests && $(PYTHON) -m pytest -q $(PYTESTFLAGS)

# A wheel per CPython 3.10-3.13 on the machine other than $(PYTHON) (test-py covers it),
# each installed into a fresh venv and tested: the gompx side of the suite (the stdlib
# side tests the tests), without the interop suites, which already pair every CPython
# on the machine with gompx from one run.
MATRIX_PYTEST = -q --impl=gompx --ignore=test_listener_interop.py --ignore=test_managers_interop.py
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

demo: install
	$(PYTHON) examples/demo.py

bench: install
	$(PYTHON) bench/bench_process_pipe.py
	$(PYTHON) bench/bench_queue.py
	$(PYTHON) bench/bench_pool.py
	$(PYTHON) bench/bench_shared_memory.py
	$(PYTHON) bench/bench_sync.py
	$(PYTHON) bench/bench_goworkers.py
	$(PYTHON) bench/bench_listener.py
	$(PYTHON) bench/bench_managers.py

clean:
	rm -rf build dist pyext/*.egg-info
