# gompx developer entry points.  PYTHON is the interpreter to build, test and bench with;
# use its real path, not a pyenv shim (the shim adds ~0.5 s to every process start).
PYTHON ?= $(shell command -v python3)
GO ?= go
PYTESTFLAGS ?=

.PHONY: install test test-go test-py fuzz demo bench vet clean

install:
	$(PYTHON) -m pip install --quiet .

# Everything CI runs: Go vet, Go tests under the race detector, a short fuzz of the pickle
# decoder, then pytest against the installed package (both gompx and stdlib).
test: install vet test-go fuzz test-py

vet:
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 ./...

fuzz:
	@for target in $$($(GO) test -list '^Fuzz' ./pickle/ 2>/dev/null | grep '^Fuzz'); do \
		echo "fuzz $$target"; \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime 15s ./pickle/ || exit 1; \
	done

test-py:
	cd tests && $(PYTHON) -m pytest -q $(PYTESTFLAGS)

demo: install
	$(PYTHON) examples/demo.py

bench: install
	$(PYTHON) bench/bench_process_pipe.py

clean:
	rm -rf build dist pyext/*.egg-info
