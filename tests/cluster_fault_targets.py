"""Tasks for the cluster fault tests and ``bench/bench_cluster.py``'s fault cases: the
worker machines import them by name, as they would a user's module."""

import os
import time

__all__ = ["crash_noting_when", "slow_first_run"]


def slow_first_run(directory, x, seconds):
    """Leave ``x-PID`` in directory, then sleep ``seconds`` on the task's first run only
    (a redelivered run finds the first one's file and returns at once); return x."""
    first = not any(name.split("-")[0] == str(x) for name in os.listdir(directory))
    open(os.path.join(directory, "%d-%d" % (x, os.getpid())), "w").close()
    if first:
        time.sleep(seconds)
    return x


def crash_noting_when(directory):
    """Write the time to directory/crash, then end this worker process at once."""
    with open(os.path.join(directory, "crash"), "w") as f:
        f.write(repr(time.time()))
    os._exit(3)
