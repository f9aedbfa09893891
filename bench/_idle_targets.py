"""The waits of bench_idle.py, each run in a fresh interpreter.

``python _idle_targets.py IMPL CASE SECONDS`` imports IMPL (``gompx`` or ``stdlib``
``multiprocessing``), sets the case up, then blocks the main thread in the case's call
for about SECONDS and prints one JSON line: the CPU time (user + system, every thread of
this process: ``time.process_time()``, CLOCK_PROCESS_CPUTIME_ID, which unlike
``os.times()`` is not rounded to 10 ms ticks) and the wall time spent from just before
the call to just after it returned.

What wakes the call is another process, started before the clock: a child that sleeps
until an agreed moment (``time.monotonic()`` is one clock for every process), then puts,
sends, releases, sets or notifies, and exits a second later (so that its exit falls
outside the measured wait); for ``Process.join`` and the pools, a child whose task
sleeps.  Before the clock, each case does the operation once without waiting (a put and
a get, a set and a wait...), for both implementations alike, so that first-use costs (lazy
imports, buffers: a first gompx ``Queue.get`` costs ~2-4 ms of CPU that way) fall outside
the measured wait.  So the process measured does nothing but wait.
``Connection.poll(t)`` has no waker: it times out.

With ``--ready-fd N`` the script writes one byte to fd N just before it blocks, so that a
test can send it SIGINT while it waits (tests/test_idle_interrupt.py).
"""

import json
import os
import sys
import time

__all__ = ["CASES", "sleeper", "wake_at"]

LEAD = 1.0  # seconds from setting up to the start of the wait: the waker starts meanwhile


def sleeper(seconds):
    """A pool task or Process target that only sleeps."""
    time.sleep(seconds)
    return seconds


def wake_at(when, action, obj):
    """A waker child: sleep until time.monotonic() reaches *when*, act on *obj*, linger."""
    time.sleep(max(0.0, when - time.monotonic()))
    if action == "put":
        obj.put(1)
    elif action == "send":
        obj.send(1)
    elif action == "release":
        obj.release()
    elif action == "set":
        obj.set()
    elif action == "notify":
        with obj:
            obj.notify()
    elif action == "drain":
        obj.get()
        obj.task_done()
    time.sleep(1.0)


def _waker(ctx, s, action, obj):
    when = time.monotonic() + LEAD + s
    p = ctx.Process(target=wake_at, args=(when, action, obj), daemon=True)
    p.start()
    return when - s, p


# Each case: setup(ctx, seconds) -> (start, block, cleanup): the clock starts at
# time.monotonic() == start, then block() waits until woken.
def _queue(kind):
    def setup(ctx, s):
        q = getattr(ctx, kind)()
        q.put(0)
        q.get()
        start, p = _waker(ctx, s, "put", q)
        return start, q.get, p.join
    return setup


def _joinable_join(ctx, s):
    q = ctx.JoinableQueue()
    q.put(0)
    q.get()
    q.task_done()
    q.join()
    q.put(1)
    start, p = _waker(ctx, s, "drain", q)
    return start, q.join, p.join


def _pipe_recv(ctx, s):
    r, w = ctx.Pipe(duplex=False)
    w.send(0)
    r.recv()
    start, p = _waker(ctx, s, "send", w)
    return start, r.recv, p.join


def _pipe_poll(ctx, s):
    r, w = ctx.Pipe(duplex=False)
    r.poll(0)
    return time.monotonic() + LEAD, (lambda: r.poll(s)), w.close


def _join(ctx, s):
    p = ctx.Process(target=sleeper, args=(LEAD + s,))
    p.start()
    p.join(0)
    return time.monotonic() + LEAD, p.join, lambda: None


def _event(ctx, s):
    e = ctx.Event()
    e.set()
    e.wait()
    e.clear()
    start, p = _waker(ctx, s, "set", e)
    return start, e.wait, p.join


def _lock(kind):
    def setup(ctx, s):
        lock = ctx.Lock() if kind == "Lock" else ctx.Semaphore(0)
        lock.release() if kind == "Semaphore" else None
        lock.acquire(timeout=1)
        lock.release() if kind == "Lock" else None
        if kind == "Lock":
            lock.acquire()  # a Lock can be released by another process, as a semaphore
        start, p = _waker(ctx, s, "release", lock)
        # lock stays referenced: stdlib's acquire is the C semaphore's bound method, and
        # the Python object's finalizer would unlink the semaphore under the child
        return start, lock.acquire, lambda: (p.join(), lock)
    return setup


def _condition(ctx, s):
    cond = ctx.Condition()
    with cond:
        cond.wait(0.001)
    start, p = _waker(ctx, s, "notify", cond)

    def wait():
        with cond:
            cond.wait()
    return start, wait, p.join


def _pool(method):
    def setup(ctx, s):
        pool = ctx.Pool(2)
        pool.map(sleeper, [0, 0])  # workers up and answering before the clock starts
        pool.apply(sleeper, (0,))
        if method == "apply":
            call = lambda: pool.apply(sleeper, (s,))  # noqa: E731
        else:
            call = lambda: pool.map(sleeper, [s, s])  # noqa: E731
        return time.monotonic() + LEAD, call, lambda: (pool.close(), pool.join())
    return setup


CASES = {
    "Queue.get": _queue("Queue"),
    "SimpleQueue.get": _queue("SimpleQueue"),
    "JoinableQueue.join": _joinable_join,
    "Connection.recv": _pipe_recv,
    "Connection.poll(t)": _pipe_poll,
    "Process.join": _join,
    "Event.wait": _event,
    "Lock.acquire": _lock("Lock"),
    "Semaphore.acquire": _lock("Semaphore"),
    "Condition.wait": _condition,
    "Pool.apply": _pool("apply"),
    "Pool.map": _pool("map"),
}


def _main(argv):
    ready_fd = None
    if argv[:1] == ["--ready-fd"]:
        ready_fd, argv = int(argv[1]), argv[2:]
    impl, case, seconds = argv[0], argv[1], float(argv[2])
    mp = __import__("multiprocessing" if impl == "stdlib" else "gompx")
    start, block, cleanup = CASES[case](mp.get_context("spawn"), seconds)
    time.sleep(max(0.0, start - time.monotonic()))
    if ready_fd is not None:
        os.write(ready_fd, b"r")
    t0, c0 = time.monotonic(), time.process_time()
    try:
        block()
    except KeyboardInterrupt:
        print(json.dumps({"interrupted": True, "after": time.monotonic() - t0}), flush=True)
        for child in mp.active_children():  # wakers, pool workers: nothing to wait for
            child.kill()
        os._exit(3)
    c1, t1 = time.process_time(), time.monotonic()
    cpu = c1 - c0
    print(json.dumps({"cpu": cpu, "wall": t1 - t0}), flush=True)
    cleanup()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _main(sys.argv[1:])
