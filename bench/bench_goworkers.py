"""Python calling Go workers (gompx.goworkers.GoPool) against stdlib Pool calling Python.

There is no stdlib equivalent of a Go worker, so each case runs the same job both ways:
stdlib ``multiprocessing.Pool`` calling a Python function (``_gw_targets.sha256``) and
gompx's ``GoPool`` calling the Go function of the same name in the example worker
``examples/python_calls_go`` (built with ``go build`` once per run).  The ratio is stdlib
time / GoPool time.

- call round trip: ``Pool(1).apply(sha256, (b"x",))`` against ``GoPool(1).call("sha256", b"x")``.
- map: 20,000 items of 64 bytes over 2 workers, default chunk size both sides.
- imap, chunksize=1: one request per item, 2 workers: the cost of dispatching a task.

The Go-to-Python direction (gompx/pyworker) is measured in Go:
``GOMPX_PYTHON=... go test -run '^$' -bench . ./gompx/pyworker/``.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _gw_targets

HERE = os.path.dirname(os.path.abspath(__file__))

_binary = None


def worker_binary():
    """The example Go worker, built once into a temporary directory."""
    global _binary
    if _binary is None:
        out = tempfile.mkdtemp(prefix="gompx-bench-")
        atexit.register(shutil.rmtree, out, True)
        _binary = os.path.join(out, "wordworker")
        subprocess.run(["go", "build", "-o", _binary, "./examples/python_calls_go"],
                       cwd=os.path.dirname(HERE), check=True)
    return _binary


def _pool(mp, processes):
    if mp.__name__ == "gompx":
        from gompx.goworkers import GoPool
        return GoPool(worker_binary(), processes=processes)
    return mp.get_context("spawn").Pool(processes)


def call_round_trip(mp, n):
    """Seconds per call of sha256(b"x") in one worker."""
    with _pool(mp, 1) as pool:
        if mp.__name__ == "gompx":
            def call():
                return pool.call("sha256", b"x")
        else:
            def call():
                return pool.apply(_gw_targets.sha256, (b"x",))
        for _ in range(100):
            call()
        t0 = time.perf_counter()
        for _ in range(n):
            got = call()
        elapsed = time.perf_counter() - t0
    if got != _gw_targets.sha256(b"x"):
        raise RuntimeError(f"sha256 returned {got!r}")
    return elapsed / n


def _map_case(lazy):
    def run(mp, n):
        items = [os.urandom(64) for _ in range(n)]
        with _pool(mp, 2) as pool:
            fn = "sha256" if mp.__name__ == "gompx" else _gw_targets.sha256
            pool.map(fn, items[:100])  # workers warm
            t0 = time.perf_counter()
            if lazy:
                got = list(pool.imap(fn, items, chunksize=1))
            else:
                got = pool.map(fn, items)
            elapsed = time.perf_counter() - t0
        if got[-1] != _gw_targets.sha256(items[-1]) or len(got) != n:
            raise RuntimeError("wrong map result")
        return elapsed / n
    return run


def cases():
    """The cases of this benchmark, counts calibrated for a 2-core machine."""
    from _harness import Case
    return [
        Case("call round trip sha256(b'x')", "µs/call", "no slower than stdlib Pool.apply", 1.0,
             call_round_trip, n=5000, quick_n=500),
        Case("map sha256, 64-byte items, 2 workers", "µs/item", "no slower than stdlib Pool.map",
             1.0, _map_case(lazy=False), n=20000, quick_n=2000),
        Case("imap chunksize=1, 2 workers", "µs/item", "no slower than stdlib Pool.imap", 1.0,
             _map_case(lazy=True), n=3000, quick_n=500),
    ]


if __name__ == "__main__":
    from _harness import main
    raise SystemExit(main(cases(), description=__doc__))
