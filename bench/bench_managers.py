"""Managers: gompx against stdlib multiprocessing, side by side.

Cases (ratio = stdlib time / gompx time; above 1, gompx is faster):

1. dict set/get from a child      a spawned child alternates ``d["k"] = i`` and
   ``d["k"]`` on a manager dict (default address: a Unix socket); time per call
                                                                      ratio >= 3 (issue)
2. dict set/get from the parent   the same loop in the process that started the manager
                                                                      informational
3. dict set/get from a child, TCP the manager listens on 127.0.0.1    informational
4. new dict proxy                 ``m.dict()`` and dropping it: create, proxy, decref
                                                                      informational

What is timed: the loop only. The manager is started and the child has made its
connection and done 200 warm-up calls before its clock starts; the child reports its own
time. Both implementations use ``mp.get_context("spawn")``; op/s = 1e6 / (µs/op).

Run with the interpreter's real path, not a pyenv shim::

    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_managers.py --rounds 5
    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_managers.py --quick

Options are described in ``_harness.py``.
"""

import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _mgr_targets
from _harness import Case, main

JOIN = 120.0  # seconds a child may take before the case fails
WARM = 200


def _manager(mp, address=None):
    """A started SyncManager of *mp* on the spawn context, at *address* (None: the
    default, a Unix socket)."""
    ctx = mp.get_context("spawn")
    m = importlib.import_module(mp.__name__ + ".managers").SyncManager(address=address,
                                                                       ctx=ctx)
    m.start()
    return ctx, m


def _from_child(address):
    def run(mp, n):
        ctx, m = _manager(mp, address)
        try:
            d = m.dict()
            reader, writer = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_mgr_targets.dict_set_get, args=(d, n, WARM, writer))
            p.start()
            writer.close()
            if not reader.poll(JOIN):
                raise TimeoutError(f"{mp.__name__}: child gave no result in {JOIN:g} s")
            per_op = reader.recv()
            p.join(JOIN)
            if p.exitcode != 0:
                raise RuntimeError(f"{mp.__name__}: child exited with {p.exitcode}")
            return per_op
        finally:
            m.shutdown()
    return run


def from_parent(mp, n):
    _, m = _manager(mp)
    try:
        d = m.dict()
        for i in range(WARM):
            d["k"] = i
            d["k"]
        half = n // 2
        t0 = time.perf_counter()
        for i in range(half):
            d["k"] = i
            got = d["k"]
        elapsed = time.perf_counter() - t0
        if got != half - 1:
            raise RuntimeError(f"{mp.__name__}: read {got!r}, wrote {half - 1!r}")
        return elapsed / (2 * half)
    finally:
        m.shutdown()


def new_proxy(mp, n):
    _, m = _manager(mp)
    try:
        m.dict()
        t0 = time.perf_counter()
        for _ in range(n):
            d = m.dict()
            del d
        elapsed = time.perf_counter() - t0
        left = m._number_of_objects()
        if left != 0:
            raise RuntimeError(f"{mp.__name__}: {left} objects left after dropping proxies")
        return elapsed / n
    finally:
        m.shutdown()


CASES = [
    Case("dict set/get from a child", "µs/call", ">= 3x stdlib", 3.0,
         _from_child(None), n=20000, quick_n=400),
    Case("dict set/get from the parent", "µs/call", "informational", 1.0,
         from_parent, n=20000, quick_n=400),
    Case("dict set/get from a child, TCP", "µs/call", "informational", 1.0,
         _from_child(("127.0.0.1", 0)), n=20000, quick_n=400),
    Case("new dict proxy", "µs/proxy", "informational", 1.0, new_proxy, n=300, quick_n=20),
]

if __name__ == "__main__":
    raise SystemExit(main(CASES, description=__doc__))
