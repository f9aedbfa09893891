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
cd "$(dirname "$0")/.."
work=${MATRIX_DIR:-build/matrix}
mkdir -p "$work"

find_pythons() {
	if [ -n "${GOMPX_PYTHONS:-}" ]; then
		tr ':' '\n' <<<"$GOMPX_PYTHONS"
		return
	fi
	local root
	root=$(pyenv root 2>/dev/null || true)
	for minor in 10 11 12 13; do
		local found=""
		for cand in "$root"/versions/3."$minor".*/bin/python3."$minor"; do
			[ -x "$cand" ] && { found=$cand; break; }
		done
		if [ -z "$found" ]; then
			found=$(command -v python3."$minor" 2>/dev/null || true)
			# Resolve a shim to the interpreter it runs.
			[ -n "$found" ] && found=$("$found" -c 'import sys; print(sys.executable)' 2>/dev/null)
		fi
		[ -n "$found" ] && echo "$found"
	done
}

status=0
summary=()
# An interpreter is known by its real path: python3 and python3.11 are links to one file.
real_executable() { "$1" -c 'import os, sys; print(os.path.realpath(sys.executable))' 2>/dev/null; }
skip=""
[ -n "${MATRIX_SKIP:-}" ] && skip=$(real_executable "$MATRIX_SKIP")
for py in $(find_pythons); do
	version=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
	if [ -n "$skip" ] && [ "$(real_executable "$py")" = "$skip" ]; then
		summary+=("$version: tested by test-py")
		continue
	fi
	echo "=== CPython $version ($py)"
	wheels="$work/wheels-$version"
	venv="$work/venv-$version"
	rm -rf "$wheels" "$venv"
	if ! "$py" -m pip wheel --quiet --no-deps -w "$wheels" . >"$work/build-$version.log" 2>&1; then
		tail -n 20 "$work/build-$version.log"
		summary+=("$version: BUILD FAILED (see $work/build-$version.log)")
		status=1
		continue
	fi
	"$py" -m venv "$venv" && "$venv/bin/python" -m pip install --quiet "$wheels"/gompx-*.whl pytest \
		|| { summary+=("$version: INSTALL FAILED"); status=1; continue; }
	# From tests/, so the installed wheel is what `import gompx` finds.
	if (cd tests && "../$venv/bin/python" -m pytest "$@"); then
		summary+=("$version: passed")
	else
		summary+=("$version: FAILED")
		status=1
	fi
done
[ ${#summary[@]} -gt 0 ] || { echo "no CPython 3.10-3.13 found" >&2; exit 1; }
printf '%s\n' "--- matrix" "${summary[@]}"
exit $status
