"""Tasks for the cluster fault tests: the worker machines import them by name, as they
would a user's module."""

import os
import time

__all__ = ["slow_first_run"]


def slow_first_run(directory, x, seconds):
    """Leave ``x-PID`` in directory, then sleep ``seconds`` on the task's first run only
    (a redelivered run finds the first one's file and returns at once); return x."""
    first = not any(name.split("-")[0] == str(x) for name in os.listdir(directory))
    open(os.path.join(directory, "%d-%d" % (x, os.getpid())), "w").close()
    if first:
        time.sleep(seconds)
    return x

