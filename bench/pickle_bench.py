"""Benchmark gompx's Go pickle package against CPython's C pickle.

Runs the Go benchmarks (go test -bench in pickle/) and times CPython's
_pickle on the same values in the same run, then prints ns per value for
both and the ratio Go / CPython (below 1 means Go is faster).

Usage: python3 bench/pickle_bench.py [--benchtime 1s]   (from the repo root)
"""

import argparse
import os
import pickle
import re
import subprocess
import sys
import timeit

__all__ = ["values", "time_cpython", "time_go", "main"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def values():
    """The benchmark values, as pickle/bench_test.go builds them."""
    return {
        "SmallTuple": (1, 2, "abc", "defg", 300),
        "Bytes1MiB": b"x" * (1 << 20),
        "Dict10000": {str(i): i for i in range(10000)},
    }


def _per_call(stmt, min_time=0.5):
    timer = timeit.Timer(stmt)
    n, _ = timer.autorange()
    best = min(timer.repeat(repeat=5, number=max(n, int(n * min_time / 0.2))))
    return best / max(n, int(n * min_time / 0.2)) * 1e9


def time_cpython():
    """Return {(op, name): ns per call} for CPython's C pickle, protocol 5."""
    assert pickle.Pickler.__module__ == "_pickle", "CPython's C pickle is not in use"
    out = {}
    for name, v in values().items():
        data = pickle.dumps(v, 5)
        out[("Encode", name)] = _per_call(lambda: pickle.dumps(v, 5))
        out[("Decode", name)] = _per_call(lambda: pickle.loads(data))
    return out


def time_go(benchtime):
    """Return {(op, name): ns per op} from go test -bench."""
    cmd = ["go", "test", "-run", "^$", "-bench", "^Benchmark(Encode|Decode|Memcpy1MiB)$",
           "-benchtime", benchtime, "-count", "3", "./pickle/"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    out = {}
    for line in res.stdout.splitlines():
        m = re.match(r"Benchmark(\w+?)(?:/(\w+))?(?:-\d+)?\s+\d+\s+([\d.]+) ns/op", line)
        if m:
            key = (m.group(1), m.group(2) or "")
            out[key] = min(out.get(key, float("inf")), float(m.group(3)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchtime", default="1s")
    args = ap.parse_args()
    go = time_go(args.benchtime)
    py = time_cpython()
    print("Python %s, protocol 5, best of runs" % sys.version.split()[0])
    print("%-8s %-11s %14s %14s %8s" % ("op", "value", "Go ns", "CPython ns", "Go/Py"))
    for (op, name), py_ns in sorted(py.items()):
        go_ns = go.get((op, name))
        if go_ns is None:
            continue
        print("%-8s %-11s %14.0f %14.0f %8.2f" % (op, name, go_ns, py_ns, go_ns / py_ns))
    if ("Memcpy1MiB", "") in go:
        print("memcpy of 1 MiB in Go: %.0f ns" % go[("Memcpy1MiB", "")])


if __name__ == "__main__":
    main()
