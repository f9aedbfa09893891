#!/usr/bin/env bash
# Build a wheel with every CPython 3.10-3.13 on this machine, install each into a fresh
# virtual environment (no rebuild there), and run the test suite against it.
#
#   scripts/matrix.sh [PYTEST ARGS...]      e.g. scripts/matrix.sh -x -q
#
# Interpreters come from $GOMPX_PYTHONS (colon-separated paths) or, failing that, from
# python3.10 ... python3.13 on PATH and under $(pyenv root)/versions. Real paths only: a
# pyenv shim adds ~0.5 s to every process start. $MATRIX_SKIP names an interpreter to
# leave out (make test has just tested it from `pip install .`).
set -uo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
cd "$scripts/.."
work=${MATRIX_DIR:-build/matrix}
mkdir -p "$work"

source "$scripts/pythons.sh"

status=0
summary=()
skip=""
[ -n "${MATRIX_SKIP:-}" ] && skip=$(real_executable "$MATRIX_SKIP")
for py in $(find_pythons); do
	version=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
	if [ -n "$skip" ] && [ "$(real_executable "$py")" = "$skip" ]; then
		summary+=("$version: tested by test-py")
		continue
	fi
	echo "=== CPython $version ($py)"
	venv_python=$(prepare_venv "$py") || { summary+=("$version: BUILD OR INSTALL FAILED"); status=1; continue; }
	# From tests/, so the installed wheel is what `import gompx` finds.
	if (cd tests && "../$venv_python" -m pytest "$@"); then
		summary+=("$version: passed")
	else
		summary+=("$version: FAILED")
		status=1
	fi
done
[ ${#summary[@]} -gt 0 ] || { echo "no CPython 3.10-3.13 found" >&2; exit 1; }
printf '%s\n' "--- matrix" "${summary[@]}"
exit $status
