"""Functions pool workers run in bench_pool.py (importable by name in spawned children)."""

import os
import time

__all__ = ["square", "cpu_10ms", "cpu_work", "calibrate_cpu_work", "pid"]


def square(x):
    return x * x


def cpu_10ms(x):
    """About 10 ms of CPU, measured on the CPU clock so that waiting does not count."""
    end = time.process_time() + 0.01
    n = 0
    while time.process_time() < end:
        n += 1
    return x


def cpu_work(x, iterations):
    """A fixed amount of CPU work: *iterations* turns of a small arithmetic loop."""
    n = 0
    for i in range(iterations):
        n += i & 7
    return x


def calibrate_cpu_work(seconds):
    """The iterations of cpu_work that take about *seconds* of CPU here: measured once
    and passed to both implementations, so that they do the same work (a task that ran
    for a fixed CPU time would hide a slower worker). Timed on the thread's CPU clock,
    the fastest of three, so that other load on the machine does not shrink the work."""
    import time as _time
    iterations = 20_000
    while True:
        t0 = _time.thread_time()
        cpu_work(0, iterations)
        elapsed = _time.thread_time() - t0
        if elapsed > 0.05:
            best = elapsed
            for _ in range(2):
                t0 = _time.thread_time()
                cpu_work(0, iterations)
                best = min(best, _time.thread_time() - t0)
            return max(1, int(iterations * seconds / best))
        iterations *= 2


def pid(_=None):
    return os.getpid()
