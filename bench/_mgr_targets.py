"""Child-process targets for bench_managers.py (kept apart from _targets.py so that a
child imports nothing the benchmark does not use)."""

import time

__all__ = ["dict_set_get"]


def dict_set_get(d, n, warm, out):
    """Alternate ``d[k] = i`` and ``d[k]`` n/2 times each; send seconds per operation.

    *warm* operations first, outside the clock (the child's connection to the manager,
    caches).  The last value read is checked so that a lost update cannot go unnoticed.
    """
    for i in range(warm):
        d["k"] = i
        d["k"]
    half = n // 2
    t0 = time.perf_counter()
    for i in range(half):
        d["k"] = i
        got = d["k"]
    elapsed = time.perf_counter() - t0
    if got != half - 1:
        raise RuntimeError("read %r, wrote %r" % (got, half - 1))
    out.send(elapsed / (2 * half))
    out.close()
