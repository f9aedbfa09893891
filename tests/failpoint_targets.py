"""Child targets for test_failpoints.py (spawned children import them by name)."""


# Padding that puts an item above the C fast path's limits (16 KiB each way): the puts
# and gets of items made by item() go through the Go core, where the failpoints are.
PAD = b"x" * (20 * 1024)


def item(i):
    return (i, PAD)


def produce(q, done, n, small=False):
    """Put item(0)..item(n-1) (0..n-1 if small: the C fast path puts those), counting in
    done each put that returned."""
    for i in range(n):
        q.put(i if small else item(i))
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
