"""Locks, events, barriers and shared values: gompx against stdlib, side by side.

Cases and the issue's targets (ratio = stdlib time / gompx time; above 1, gompx is faster):

1. Value += 1 under its lock, 2 processes   two children each run ``with v.get_lock():
   v.value += 1`` n/2 times at once; time per increment                 ratio >= 6
2. Lock acquire+release, uncontended        one process, ``acquire(); release()`` n times
                                                                         ratio >= 1.5
3. RLock acquire+release, uncontended       the same with an RLock       informational
4. Event set/wait round trip, 2 processes   the parent sets ping and waits for pong; the
   child waits for ping, clears it, sets pong; the parent clears pong    ratio >= 3
5. Barrier round, 2 processes               parent and child pass a Barrier(2) n times
                                                                         informational
6. Condition notify/wait in one process     informational: wait(0) + notify under the lock

What is timed: the operations only; children are started and waiting on an Event (case 1:
a Semaphore tells the parent they are ready) before the clock starts. Both
implementations use ``mp.get_context("spawn")``. Shared-memory bandwidth is in
bench_shared_memory.py.

Run with the interpreter's real path, not a pyenv shim::

    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_sync.py --rounds 5
    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_sync.py --quick
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _targets

JOIN = 120.0  # seconds a child may take to finish its part before the case fails


def _join_all(procs, what):
    for p in procs:
        p.join(JOIN)
    bad = [(p.pid, p.exitcode) for p in procs if p.exitcode != 0]
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(5)
    if bad:
        raise RuntimeError(f"{what}: children failed; (pid, exit code): {bad}")


def value_increments(mp, n):
    ctx = mp.get_context("spawn")
    value, ready, go = ctx.Value("i", 0), ctx.Semaphore(0), ctx.Event()
    n -= n % 2
    procs = [ctx.Process(target=_targets.sync_increment, args=(value, ready, go, n // 2),
                         daemon=True) for _ in range(2)]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=JOIN):
            raise TimeoutError("value increments: children did not start")
    start = time.perf_counter()
    go.set()
    for p in procs:
        p.join(JOIN)
    elapsed = time.perf_counter() - start
    _join_all(procs, f"{mp.__name__} value increments")
    if value.value != n:
        raise RuntimeError(f"{mp.__name__}: value is {value.value}, want {n}: lost updates")
    return elapsed / n


def _uncontended(kind):
    def run(mp, n):
        lock = getattr(mp.get_context("spawn"), kind)()
        acquire, release = lock.acquire, lock.release
        start = time.perf_counter()
        for _ in range(n):
            acquire()
            release()
        return (time.perf_counter() - start) / n
    return run


def event_round_trip(mp, n):
    ctx = mp.get_context("spawn")
    ping, pong = ctx.Event(), ctx.Event()
    warm = 50
    p = ctx.Process(target=_targets.sync_event_echo, args=(ping, pong, n + warm), daemon=True)
    p.start()
    for i in range(n + warm):
        if i == warm:
            start = time.perf_counter()
        ping.set()
        if not pong.wait(JOIN):
            p.kill()
            raise TimeoutError(f"{mp.__name__} event round trip: no answer")
        pong.clear()
    elapsed = time.perf_counter() - start
    _join_all([p], f"{mp.__name__} event round trip")
    return elapsed / n


def barrier_round(mp, n):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2, timeout=JOIN)
    warm = 50
    p = ctx.Process(target=_targets.sync_barrier_rounds, args=(barrier, n + warm), daemon=True)
    p.start()
    for i in range(n + warm):
        if i == warm:
            start = time.perf_counter()
        barrier.wait()
    elapsed = time.perf_counter() - start
    _join_all([p], f"{mp.__name__} barrier")
    return elapsed / n


def condition_notify(mp, n):
    cond = mp.get_context("spawn").Condition()
    start = time.perf_counter()
    for _ in range(n):
        with cond:
            cond.notify()
            cond.wait(0)
    return (time.perf_counter() - start) / n


def cases():
    from _harness import Case
    return [
        Case("Value += 1 under lock, 2 procs", "µs/op", "6x stdlib", 6.0,
             value_increments, n=200_000, quick_n=4_000),
        Case("Lock acquire+release", "ns/op", "1.5x stdlib", 1.5,
             _uncontended("Lock"), n=2_000_000, quick_n=50_000),
        Case("RLock acquire+release", "ns/op", "informational", 1.0,
             _uncontended("RLock"), n=2_000_000, quick_n=50_000),
        Case("Event set/wait round trip", "µs/round trip", "3x stdlib", 3.0,
             event_round_trip, n=5_000, quick_n=200),
        Case("Barrier(2) round", "µs/round", "informational", 1.0,
             barrier_round, n=5_000, quick_n=200),
        Case("Condition notify+wait(0)", "µs/op", "informational", 1.0,
             condition_notify, n=50_000, quick_n=2_000),
    ]


if __name__ == "__main__":
    from _harness import main
    raise SystemExit(main(cases(), description=__doc__))
