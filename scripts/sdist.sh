#!/usr/bin/env bash
# Build the sdist, check that it ships every file the build compiles, install it into a
# clean venv (Go and a C compiler build it there) and run the gompx side of the suite.
#
#   PYTHON=/path/to/python3.x scripts/sdist.sh [PYTEST ARGS...]
#
# Needs the tools venv (make tools). Prints how long the install from source took, with
# an empty Go build cache.
set -euo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
cd "$scripts/.."
PYTHON=${PYTHON:-$(command -v python3)}
TOOLS=${TOOLS:-build/venv-tools/bin}
work=build/sdist
# A stale egg-info's SOURCES.txt would put files into the sdist that MANIFEST.in leaves out.
rm -rf "$work" dist/gompx-*.tar.gz pyext/*.egg-info
mkdir -p "$work" dist

"$TOOLS/python" -m build --sdist -o dist . >"$work/build.log" 2>&1 \
	|| { tail -n 20 "$work/build.log"; echo "sdist build failed (see $work/build.log)" >&2; exit 1; }
sdist=$(ls dist/gompx-*.tar.gz)
tar tzf "$sdist" | sed 's|^[^/]*/||' | sort >"$work/contents"

# Every file of every package of this module the extension and the gompx command are built
# from, as go sees them.
missing=0
for file in go.mod go.sum LICENSE setup.py pyproject.toml pyext/csrc/gompxsync.c $(go list -deps \
	-f '{{if and .Module .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}} {{end}}{{range .CgoFiles}}{{$d}}/{{.}} {{end}}{{range .CFiles}}{{$d}}/{{.}} {{end}}{{range .HFiles}}{{$d}}/{{.}} {{end}}{{range .EmbedFiles}}{{$d}}/{{.}} {{end}}{{end}}' \
	./pyext/gompxcore ./cmd/gompx | tr ' ' '\n' | sed "s|^$PWD/||" | grep -v '^$'); do
	grep -qxF "$file" "$work/contents" || { echo "sdist lacks $file" >&2; missing=1; }
done
[ $missing -eq 0 ] || exit 1
echo "$sdist: $(wc -l <"$work/contents") entries, $(du -k "$sdist" | cut -f1) KiB; every file the build compiles is in it"

"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet pytest
# An empty Go build cache, as on a user's machine: the time is that of a real build.
start=$EPOCHREALTIME
GOCACHE=$PWD/$work/gocache "$work/venv/bin/python" -m pip install --no-cache-dir "$sdist" \
	>"$work/install.log" 2>&1 \
	|| { tail -n 30 "$work/install.log"; echo "install from the sdist failed" >&2; exit 1; }
echo "install from the sdist, empty Go build cache: $(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }') s"
"$work/venv/bin/python" -m gompx --version
# From tests/, so that `import gompx` is the installed package.
cd tests && "../$work/venv/bin/python" -m pytest "$@"
