"""Benchmark gompx's Go pickle package against CPython's C pickle.

Runs the Go benchmarks (go test -bench in pickle/) and times CPython's
_pickle on the same values in the same run, then prints ns per value for
both and the ratio Go / CPython (below 1 means Go is faster). Go and
CPython take turns for --runs rounds, and each number is the median of its
rounds: the machine is shared and noisy.

DecodeAlias is Go's decode with DecoderOptions.AliasInput (bytes values are
slices of the input); it is set beside the same CPython pickle.loads, which
copies. Memcpy1MiB (a fresh 1 MiB allocation filled by one copy) is Go's
floor for decoding the 1 MiB value with a copy; Copy1MiB (a copy into a warm
buffer) is the bare memory bandwidth.

Usage: python3 bench/pickle_bench.py [--benchtime 1s] [--runs 5]   (from the repo root)
"""

import argparse
import os
import pickle
import re
import statistics
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
    number = max(n, int(n * min_time / 0.2))
    return min(timer.repeat(repeat=3, number=number)) / number * 1e9


def time_cpython():
    """Return {(op, name): ns per call} for CPython's C pickle, protocol 5."""
    assert pickle.Pickler.__module__ == "_pickle", "CPython's C pickle is not in use"
    out = {}
    for name, v in values().items():
        data = pickle.dumps(v, 5)
        out[("Encode", name)] = _per_call(lambda v=v: pickle.dumps(v, 5))
        out[("Decode", name)] = _per_call(lambda data=data: pickle.loads(data))
    return out


def time_go(benchtime):
    """Return {(op, name): ns per op} from one run of go test -bench."""
    cmd = ["go", "test", "-run", "^$",
           "-bench", "^Benchmark(Encode|Decode|DecodeAlias|Memcpy1MiB|Copy1MiB)$",
           "-benchtime", benchtime, "./pickle/"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    out = {}
    for line in res.stdout.splitlines():
        m = re.match(r"Benchmark(\w+?)(?:/(\w+))?(?:-\d+)?\s+\d+\s+([\d.]+) ns/op", line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def medians(rounds):
    """Return the median of each key over a list of {key: ns}."""
    return {key: statistics.median(r[key] for r in rounds if key in r) for key in rounds[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchtime", default="1s")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    go_rounds, py_rounds = [], []
    for _ in range(args.runs):
        go_rounds.append(time_go(args.benchtime))
        py_rounds.append(time_cpython())
    go, py = medians(go_rounds), medians(py_rounds)
    print("Python %s, protocol 5, medians of %d rounds" % (sys.version.split()[0], args.runs))
    print("%-11s %-11s %14s %14s %8s" % ("op", "value", "Go ns", "CPython ns", "Go/Py"))
    for (op, name), py_ns in sorted(py.items()):
        for go_op in (op, "DecodeAlias") if op == "Decode" else (op,):
            go_ns = go.get((go_op, name))
            if go_ns is not None:
                print("%-11s %-11s %14.0f %14.0f %8.2f"
                      % (go_op, name, go_ns, py_ns, go_ns / py_ns))
    for key, what in ((("Memcpy1MiB", ""), "allocate and copy 1 MiB in Go"),
                      (("Copy1MiB", ""), "copy 1 MiB into a warm buffer in Go")):
        if key in go:
            print("%s: %.0f ns" % (what, go[key]))


if __name__ == "__main__":
    main()
