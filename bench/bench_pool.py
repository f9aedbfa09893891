"""Process pools: gompx.Pool against stdlib multiprocessing.Pool, side by side.

Cases and the issue's targets (ratio = stdlib time / gompx time; above 1, gompx is faster):

1. imap_unordered chunksize=1   n tiny tasks (x*x), results drained     ratio >= 10
2. apply round trip             one apply(x*x) at a time                  ratio >= 10
3. map, default chunk size      one map of 100,000 tiny tasks             ratio >= 1.5
4. N x 10 ms CPU, P processes   map(chunksize=1) of N tasks of the same fixed work (calibrated
                                once, ~10 ms here, passed to both), N in 60, 200 and P in 1, 2:
                                CPU-bound work must never be slower     ratio >= 0.98
5. Pool(2) start-up             constructor until both workers answered a task   informational
After the table: RSS and PSS per worker (the Go runtime in each gompx worker must not cost
more than ~15 MB).

Both implementations use ``mp.get_context("spawn")``; each timed run makes its own pool
(start-up outside the clock, except in case 5) and terminates it afterwards.

    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_pool.py --rounds 5
    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_pool.py --quick

Options are described in ``_harness.py``.
"""

import functools
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _pool_targets as T


def _pool(mp, processes=2):
    p = mp.get_context("spawn").Pool(processes)
    p.map(T.square, range(4 * processes), chunksize=1)  # every worker up and warm
    return p


def imap_unordered(mp, n):
    p = _pool(mp)
    try:
        t0 = time.perf_counter()
        total = sum(p.imap_unordered(T.square, range(n)))
        elapsed = time.perf_counter() - t0
    finally:
        p.terminate()
        p.join()
    if total != sum(x * x for x in range(n)):
        raise AssertionError("imap_unordered lost or changed results")
    return elapsed / n


def apply_round_trip(mp, n):
    p = _pool(mp)
    try:
        t0 = time.perf_counter()
        for i in range(n):
            if p.apply(T.square, (i,)) != i * i:
                raise AssertionError("wrong apply result")
        elapsed = time.perf_counter() - t0
    finally:
        p.terminate()
        p.join()
    return elapsed / n


def map_default_chunks(mp, n):
    p = _pool(mp)
    data = list(range(100_000))
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            out = p.map(T.square, data)
        elapsed = time.perf_counter() - t0
    finally:
        p.terminate()
        p.join()
    if out[-1] != 99_999 ** 2 or len(out) != 100_000:
        raise AssertionError("wrong map result")
    return elapsed / n


_CPU_WORK = []  # iterations of about 10 ms of cpu_work, calibrated once per run


def cpu_tasks(tasks, processes):
    def run(mp, n):
        if not _CPU_WORK:
            _CPU_WORK.append(T.calibrate_cpu_work(0.010))
        work = functools.partial(T.cpu_work, iterations=_CPU_WORK[0])
        p = _pool(mp, processes)
        try:
            t0 = time.perf_counter()
            for _ in range(n):
                p.map(work, range(tasks), chunksize=1)
            elapsed = time.perf_counter() - t0
        finally:
            p.terminate()
            p.join()
        return elapsed / n
    return run


def start_up(mp, n):
    total = 0.0
    for _ in range(n):
        t0 = time.perf_counter()
        p = mp.get_context("spawn").Pool(2)
        pids = set(p.map(T.pid, range(2), chunksize=1))
        while len(pids) < 2:  # both workers must have answered
            pids |= set(p.map(T.pid, range(2), chunksize=1))
        total += time.perf_counter() - t0
        p.terminate()
        p.join()
    return total / n


def _memory(pid):
    """(RSS, PSS) of a process in MB."""
    rss = pss = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    return rss, pss


def worker_memory(impls):
    """Print the median RSS and PSS of a worker after 1,000 tasks, per implementation."""
    print()
    print("memory per worker (Pool(2), after 1,000 tasks; median of the workers)")
    for name, mp in impls.items():
        p = _pool(mp)
        try:
            p.map(T.square, range(1000))
            mem = [_memory(w.pid) for w in p._pool]
        finally:
            p.terminate()
            p.join()
        print("  %-7s RSS %.1f MB   PSS %.1f MB" % (
            name, statistics.median(m[0] for m in mem), statistics.median(m[1] for m in mem)))


def cases():
    from _harness import Case
    return [
        Case("imap_unordered chunksize=1", "µs/task", "10x stdlib", 10.0,
             imap_unordered, n=50_000, quick_n=2_000),
        Case("apply round trip", "µs/apply", "10x stdlib", 10.0,
             apply_round_trip, n=2_000, quick_n=200),
        Case("map 100,000 tiny, default chunks", "ms/map", "1.5x stdlib", 1.5,
             map_default_chunks, n=5, quick_n=1),
        Case("200 x 10 ms CPU, 2 processes", "ms/map", ">= 0.98x stdlib", 0.98,
             cpu_tasks(200, 2), n=2, quick_n=1),
        Case("60 x 10 ms CPU, 2 processes", "ms/map", ">= 0.98x stdlib", 0.98,
             cpu_tasks(60, 2), n=3, quick_n=1),
        Case("200 x 10 ms CPU, 1 process", "ms/map", ">= 0.98x stdlib", 0.98,
             cpu_tasks(200, 1), n=1, quick_n=1),
        Case("60 x 10 ms CPU, 1 process", "ms/map", ">= 0.98x stdlib", 0.98,
             cpu_tasks(60, 1), n=2, quick_n=1),
        Case("Pool(2) start-up", "ms/pool", "informational", 1.0,
             start_up, n=3, quick_n=1),
    ]


if __name__ == "__main__":
    from _harness import load_impls, main
    status = main(cases(), description=__doc__)
    if status == 0 and "--json" not in sys.argv:
        impl = "both"
        if "--impl" in sys.argv:
            impl = sys.argv[sys.argv.index("--impl") + 1]
        worker_memory(load_impls(impl))
    raise SystemExit(status)
