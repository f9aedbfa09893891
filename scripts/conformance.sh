#!/usr/bin/env bash
# CPython's own multiprocessing (and concurrent.futures process-pool) test suite against
# gompx, checked against tests/conformance/expected and known_failures.txt.
#
#   scripts/conformance.sh SUITE:VERSION:METHOD...   e.g. multiprocessing:3.11:spawn
#   scripts/conformance.sh all                       every suite, version and method
#
# SUITE is multiprocessing or futures; METHOD spawn or forkserver. The interpreter of a
# VERSION is $PYTHON when it is that version (gompx installed by `make install`),
# otherwise the venv `make matrix` made under build/matrix (built here if missing). A
# configuration whose interpreter or baseline is missing fails: nothing is skipped.
set -uo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
cd "$scripts/.."
work=${MATRIX_DIR:-build/matrix}
mkdir -p "$work"
source "$scripts/pythons.sh"

configs=("$@")
if [ "${configs[*]:-}" = "all" ]; then
	configs=()
	for suite in multiprocessing futures; do
		for f in tests/conformance/expected/"$suite"-*.txt; do
			[ -e "$f" ] || continue
			name=$(basename "$f" .txt)
			rest=${name#"$suite"-}
			configs+=("$suite:${rest%-*}:${rest##*-}")
		done
	done
fi
[ ${#configs[@]} -gt 0 ] || { echo "usage: $0 SUITE:VERSION:METHOD... | all" >&2; exit 2; }

# python_for VERSION: an interpreter of that X.Y with gompx installed.
python_for() {
	local want=$1 py
	if [ -n "${PYTHON:-}" ] && [ "$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$want" ]; then
		echo "$PYTHON"
		return
	fi
	for venv in "$work"/venv-"$want".*; do
		[ -x "$venv/bin/python" ] && { echo "$venv/bin/python"; return; }
	done
	for py in $(find_pythons); do
		if [ "$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$want" ]; then
			prepare_venv "$py"
			return
		fi
	done
	return 1
}

status=0
summary=()
for config in "${configs[@]}"; do
	IFS=: read -r suite version method <<<"$config"
	echo "=== $suite $version $method"
	if ! py=$(python_for "$version"); then
		summary+=("$config: FAILED: no CPython $version with gompx (see above)")
		status=1
		continue
	fi
	out=$(mktemp)
	"$py" tests/conformance/run.py --python "$py" --suite "$suite" --method "$method" | tee "$out"
	code=${PIPESTATUS[0]}
	line=$(grep -E "tests stdlib passes pass" "$out" | tail -n 1)
	rm -f "$out"
	if [ "$code" -eq 0 ]; then
		summary+=("$config: ${line:-passed}")
	else
		summary+=("$config: FAILED: ${line:-see above}")
		status=1
	fi
done
printf '%s\n' "--- conformance" "${summary[@]}"
exit $status
