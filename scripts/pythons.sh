# Shared by matrix.sh and conformance.sh: finding CPython 3.10-3.13 and a virtual
# environment per interpreter with gompx installed from a wheel built here.
# shellcheck shell=bash

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

# An interpreter is known by its real path: python3 and python3.11 are links to one file.
real_executable() { "$1" -c 'import os, sys; print(os.path.realpath(sys.executable))' 2>/dev/null; }

# prepare_venv PY: build a wheel with PY and install it, with pytest, into a fresh venv
# under $work; print the venv's python. Build output goes to $work/build-VERSION.log.
prepare_venv() {
	local py=$1 version wheels venv
	version=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
	wheels="$work/wheels-$version"
	venv="$work/venv-$version"
	rm -rf "$wheels" "$venv"
	if ! "$py" -m pip wheel --quiet --no-deps -w "$wheels" . >"$work/build-$version.log" 2>&1; then
		tail -n 20 "$work/build-$version.log" >&2
		echo "BUILD FAILED (see $work/build-$version.log)" >&2
		return 1
	fi
	"$py" -m venv "$venv" && "$venv/bin/python" -m pip install --quiet "$wheels"/gompx-*.whl pytest \
		|| { echo "INSTALL FAILED" >&2; return 1; }
	echo "$venv/bin/python"
}
