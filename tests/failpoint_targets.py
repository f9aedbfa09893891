"""Child targets for test_failpoints.py (spawned children import them by name)."""


def produce(q, done, n):
    """Put 0..n-1, counting in done each put that returned."""
    for i in range(n):
        q.put(i)
        done.value = i + 1


def consume(q, done, n):
    """Get n items, counting in done each get that returned."""
    for _ in range(n):
        q.get(timeout=60)
        done.value += 1


def hammer(lock, counter, n, asking=None):
    """Take the lock n times, counting under it (first setting asking, if given)."""
    if asking is not None:
        asking.set()
    for _ in range(n):
        with lock:
            counter.value += 1


def square_pid(x):
    """x squared, and which worker computed it."""
    import os
    return x * x, os.getpid()
