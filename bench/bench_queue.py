"""Queues: gompx against stdlib multiprocessing, side by side.

Cases and the issue's targets (ratio = stdlib time / gompx time; above 1, gompx is faster):

1. Queue 1->1 int             a child puts 0..n-1, the parent gets them     ratio >= 10
2. Queue 1->1 bytes 100 B     same, one 100-byte bytes object n times       ratio >= 10
3. Queue 1->1 bytes 64 KiB    same, 64 KiB, reported per MiB moved          informational
   Queue 1->1 bytes 1 MiB     same, 1 MiB, per MiB moved                    ratio >= 10
4. Queue 4->1 int             4 producer children, n/4 ints each            ratio >= 8
5. Queue 1->1 / 4->1 int batched: gompx producers call ``put_many`` with 1000 items and
   the parent ``get_many(1000)``; stdlib, which has neither, runs the plain put()/get()
   loop, the same code as 1 and 4: the user's goal is moving n items    ratio >= 60
6. JoinableQueue get+task_done  the parent puts n ints, a child gets each and calls
   task_done, the parent's ``join()`` returns after the last            ratio >= 10
7. SimpleQueue 1->1 int       as 1, with SimpleQueue                        ratio >= 6

What is timed: the transfer only. Each producer child starts, puts 100 warm-up items and a
"ready" marker, then waits on a Pipe; the parent gets the warm-up items and the markers,
starts the clock, tells the producers to go, and stops it when it has got the n-th item.
In case 6 the parent first puts 100 warm-up items and joins, then times its n puts and
the join. Process start-up and shut-down are outside the clock. Times are per message
(µs/msg) or per MiB moved (ms/MiB); MB/s = 1.048576 / (ms/MiB) * 1000.

Both implementations use ``mp.get_context("spawn")`` (stdlib's Linux default is fork).
Child targets live in ``_targets.py`` beside this file. The parent's blocking loop is the
plain ``get()`` (no timeout, as a program would write it); it runs in a helper thread that
the main thread waits for with a deadline, so a lost item fails the case with
``TimeoutError`` instead of hanging the run (join() has no timeout in stdlib either).

Run with the interpreter's real path, not a pyenv shim (see bench_process_pipe.py)::

    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_queue.py --rounds 5   # ~1.5 min
    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_queue.py --quick      # ~10 s
    ... --impl stdlib   --only "4->1"   --cpus 0   --json out.json

Options are described in ``_harness.py``.
"""

# Spawned children re-import this module as __mp_main__: keep its top level to the
# standard library's cheapest imports so that they pay nothing for the harness.
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _targets

KiB = 1 << 10
MiB = 1 << 20
WARM = 100          # warm-up items per producer, outside the clock
BATCH = 1000        # put_many / get_many batch in the batched cases
DEADLINE = 120.0    # seconds any one timed transfer may take before the case fails
START_DEADLINE = 60.0  # seconds for children to start and hand over their warm-up items


def _bounded(fn, seconds, procs, what):
    """Return ``fn()``, run in a helper thread; after *seconds*, kill *procs* and raise.

    A child of *procs* exiting with a non-zero code fails it at once (RuntimeError).

    The helper is a daemon thread: if it stays blocked in get() or join() after the
    deadline, it does not keep the interpreter from exiting on the TimeoutError.
    """
    out = []

    def body():
        try:
            out.append((True, fn()))
        except BaseException as exc:  # re-raised in the caller's thread
            out.append((False, exc))

    t = threading.Thread(target=body, name=f"bench_queue {what}", daemon=True)
    t.start()
    deadline = time.monotonic() + seconds
    failed = False
    while t.is_alive() and not failed:
        t.join(min(0.2, max(0.0, deadline - time.monotonic())))
        failed = time.monotonic() >= deadline or any(p.exitcode for p in procs)
    if t.is_alive():
        codes = [(p.pid, p.exitcode) for p in procs]  # before the kills below
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
        if any(code for _, code in codes):
            raise RuntimeError(f"{what}: a child failed; (pid, exit code): {codes}")
        raise TimeoutError(f"{what}: not done after {seconds:g} s; (pid, exit code): {codes}")
    ok, value = out[0]
    if not ok:
        raise value
    return value


def _finish(q, procs, what):
    """Join *procs* (each must exit 0) and close *q*; kill any child left on failure."""
    try:
        for p in procs:
            p.join(START_DEADLINE)
            if p.exitcode is None:
                raise TimeoutError(f"{what}: child {p.pid} still running "
                                   f"{START_DEADLINE:g} s after the transfer")
            if p.exitcode != 0:
                raise RuntimeError(f"{what}: child {p.pid} exited with code {p.exitcode}")
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
        close = getattr(q, "close", None)
        if close is not None:
            close()


def _producers_to_parent(kind, producers, size=0, batched=False, per_mib=False):
    """A case: *producers* children put n items on a *kind* queue, the parent gets them.

    *size* 0 moves ints, else bytes of *size*. *batched* uses put_many/get_many where the
    queue has them (gompx) and the plain loop where it does not (stdlib). Returns seconds
    per item, or per MiB moved with *per_mib*.
    """
    def run(mp, n):
        ctx = mp.get_context("spawn")
        n -= n % producers
        what = f"{mp.__name__} {kind} {producers}->1"
        q = getattr(ctx, kind)()
        batch = 0
        if batched and mp.__name__ != "multiprocessing":
            if not (hasattr(q, "put_many") and hasattr(q, "get_many")):
                raise RuntimeError(f"{what}: {type(q).__name__} has no put_many/get_many")
            batch = BATCH
        procs, gos = [], []
        try:
            for _ in range(producers):
                go_recv, go_send = ctx.Pipe(duplex=False)
                p = ctx.Process(target=_targets.queue_produce,
                                args=(q, go_recv, n // producers, size, batch, WARM),
                                daemon=True)
                p.start()
                go_recv.close()
                procs.append(p)
                gos.append(go_send)

            def warm_up():
                ready = 0
                while ready < producers:
                    if batch:
                        items = q.get_many(BATCH)
                    else:
                        items = (q.get(),)
                    ready += sum(1 for x in items
                                 if isinstance(x, str) and x == _targets.QUEUE_READY)
                return ready

            _bounded(warm_up, START_DEADLINE, procs, f"{what} start")

            def transfer():
                t0 = time.perf_counter()
                for go in gos:
                    go.send(True)
                if batch:
                    get_many = q.get_many
                    got = 0
                    while got < n:
                        items = get_many(BATCH)
                        got += len(items)
                    item = items[-1]
                    if got != n:
                        raise RuntimeError(f"{what}: got {got} items, {n} were put")
                else:
                    get = q.get
                    for _ in range(n):
                        item = get()
                elapsed = time.perf_counter() - t0
                return elapsed, item

            elapsed, last = _bounded(transfer, DEADLINE, procs, f"{what} transfer")
        except BaseException:
            for p in procs:
                if p.is_alive():
                    p.kill()
            raise
        finally:
            for go in gos:
                go.close()
        _finish(q, procs, what)
        if size:
            if not isinstance(last, bytes) or len(last) != size:
                raise RuntimeError(f"{what}: last item {type(last).__name__} "
                                   f"of length {len(last)}, expected {size} bytes")
        elif not isinstance(last, int) or (producers == 1 and last != n - 1):
            raise RuntimeError(f"{what}: last item {last!r}, expected {n - 1}")
        return elapsed / (n * size / MiB) if per_mib else elapsed / n
    return run


def joinable_task_done(mp, n):
    """Seconds per item: the parent puts n ints, a child gets + task_done each, join()."""
    ctx = mp.get_context("spawn")
    what = f"{mp.__name__} JoinableQueue"
    q = ctx.JoinableQueue()
    p = ctx.Process(target=_targets.queue_task_consume, args=(q,), daemon=True)
    p.start()
    clean = False
    try:
        def batch(count):
            put = q.put
            t0 = time.perf_counter()
            for i in range(count):
                put(i)
            q.join()
            return time.perf_counter() - t0

        _bounded(lambda: batch(WARM), START_DEADLINE, [p], f"{what} start")
        elapsed = _bounded(lambda: batch(n), DEADLINE, [p], f"{what} transfer")
        q.put(None)
        _bounded(q.join, START_DEADLINE, [p], f"{what} stop")
        clean = True
    finally:
        if not clean:
            # Items the dead child will never get must not hold up this process's exit
            # (stdlib's feeder thread otherwise flushes them to a pipe nobody reads).
            cancel = getattr(q, "cancel_join_thread", None)
            if cancel is not None:
                cancel()
            if p.is_alive():
                p.kill()
    _finish(q, [p], what)
    return elapsed / n


def cases():
    """The cases of this benchmark, counts calibrated for a 2-core machine."""
    from _harness import Case
    P = _producers_to_parent
    return [
        Case("Queue 1->1 int", "µs/msg", "10x stdlib", 10.0,
             P("Queue", 1), n=250_000, quick_n=5_000),
        Case("Queue 1->1 bytes 100 B", "µs/msg", "10x stdlib", 10.0,
             P("Queue", 1, size=100), n=250_000, quick_n=5_000),
        Case("Queue 1->1 bytes 64 KiB", "ms/MiB", "informational", 1.0,
             P("Queue", 1, size=64 * KiB, per_mib=True), n=16_000, quick_n=400),
        Case("Queue 1->1 bytes 1 MiB", "ms/MiB", "10x stdlib", 10.0,
             P("Queue", 1, size=MiB, per_mib=True), n=500, quick_n=20),
        Case("Queue 4->1 int", "µs/msg", "8x stdlib", 8.0,
             P("Queue", 4), n=200_000, quick_n=8_000),
        Case("Queue 1->1 int batched 1000", "µs/msg", "60x stdlib", 60.0,
             P("Queue", 1, batched=True), n=250_000, quick_n=10_000),
        Case("Queue 4->1 int batched 1000", "µs/msg", "60x stdlib", 60.0,
             P("Queue", 4, batched=True), n=200_000, quick_n=16_000),
        Case("JoinableQueue get+task_done 1->1", "µs/msg", "10x stdlib", 10.0,
             joinable_task_done, n=200_000, quick_n=3_000),
        Case("SimpleQueue 1->1 int", "µs/msg", "6x stdlib", 6.0,
             P("SimpleQueue", 1), n=250_000, quick_n=5_000),
    ]


if __name__ == "__main__":
    from _harness import main
    raise SystemExit(main(cases(), description=__doc__))
