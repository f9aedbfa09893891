"""Functions pool workers run in bench_pool.py (importable by name in spawned children)."""

import os
import time

__all__ = ["square", "cpu_10ms", "pid"]


def square(x):
    return x * x


def cpu_10ms(x):
    """About 10 ms of CPU, measured on the CPU clock so that waiting does not count."""
    end = time.process_time() + 0.01
    n = 0
    while time.process_time() < end:
        n += 1
    return x


def pid(_=None):
    return os.getpid()
