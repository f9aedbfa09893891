"""Kill tests through Python: a gompx child process dies at a named failpoint inside the
Go core's critical sections, and the test checks what the survivors see.

They need the extension built with failpoints (``GOMPX_GOTAGS=gompx_failpoints``;
``make failpoints`` builds one into build/venv-failpoints and runs these 20 times each).
Against an extension without them every test here is skipped, with that reason, which
``pytest -rs`` reports; with ``GOMPX_FP_REQUIRED=1`` (make failpoints) they fail
instead.  The failpoint is armed in the child alone, through the ``GOMPX_FAILPOINTS``
environment variable it is spawned with (this process read its own when it loaded the
extension).  The points and the invariants each test checks are
tabled in docs/design.md ("Failpoints").
"""

import json
import os
import threading
import time
import warnings

import pytest

import failpoint_targets as ft
from mp_targets import join_within

pytestmark = pytest.mark.gompx_only

BOUND = 30  # seconds: every wait is bounded; reaching the bound is a wedge
REPEAT = int(os.environ.get("GOMPX_FP_REPEAT", "1"))  # make failpoints: 20
rounds = pytest.mark.parametrize("round", range(REPEAT))


@pytest.fixture
def ctx(mp):
    from gompx import _native
    info = json.loads(_native.call(_native.ext.gompxcore_BuildInfo))
    if "gompx_failpoints" not in info.get("-tags", "").split(","):
        why = ("the gompx extension was built without failpoints: build it with "
               "GOMPX_GOTAGS=gompx_failpoints (make failpoints does)")
        if os.environ.get("GOMPX_FP_REQUIRED"):
            pytest.fail(why)  # make failpoints: nothing may be skipped
        pytest.skip(why)
    return mp.get_context("spawn")


class armed:
    """Children started inside the block are spawned with spec armed."""

    def __init__(self, spec):
        self.spec = spec

    def __enter__(self):
        self.old = os.environ.get("GOMPX_FAILPOINTS")
        os.environ["GOMPX_FAILPOINTS"] = self.spec

    def __exit__(self, *exc):
        if self.old is None:
            del os.environ["GOMPX_FAILPOINTS"]
        else:
            os.environ["GOMPX_FAILPOINTS"] = self.old


def start_killed(ctx, spec, target, *args):
    """Run target in a child armed with spec; check the failpoint killed it."""
    with armed(spec):
        p = ctx.Process(target=target, args=args)
        p.start()
    assert join_within(p, BOUND) == -9, "the child was not killed at %s" % spec
    return p


def drain_until(q, sentinel):
    """The numbers of the ft.item()s got before sentinel."""
    got = []
    while True:
        item = q.get(timeout=BOUND)
        if item == sentinel:
            return got
        got.append(item if isinstance(item, int) else item[0])


def joins(q):
    """JoinableQueue.join() returns (in a thread, bounded)."""
    t = threading.Thread(target=q.join, daemon=True)
    t.start()
    t.join(BOUND)
    return not t.is_alive()


def small(point):
    """Items for a test at point: small ints for the C fast path's points (it puts and
    gets them), else ft.item()s, which only the Go core puts and gets."""
    return point.startswith("cqueue/")


@rounds
@pytest.mark.parametrize("point,published", [
    ("mpq/admit-locked", False),
    ("mpq/admit-claimed", False),
    ("mpq/admitted", False),
    ("mpq/producer-locked", False),
    ("mpq/produce-write", False),
    ("mpq/produce-publish", True),
    ("cqueue/admit-claimed", False),
    ("cqueue/put-written", False),
    ("cqueue/put-published", True),
])
def test_queue_producer_killed(ctx, point, published, round):
    q, done = ctx.JoinableQueue(), ctx.Value("i", 0, lock=False)
    start_killed(ctx, point + "=kill@3", ft.produce, q, done, 50, small(point))
    committed = done.value
    q.put("end")  # the survivor puts: no wedge behind the dead producer
    got = drain_until(q, "end")
    want = list(range(committed + (1 if published else 0)))
    assert got == want, "put returned for %d items; got %s" % (committed, got)
    for _ in range(len(got) + 1):
        q.task_done()
    assert q.qsize() == 0 and q.empty()
    assert joins(q), "join() wedged: the dead producer's share was not counted out"
    q.put(7)  # the queue still works, the C fast path included
    assert q.get(timeout=BOUND) == 7


@rounds
@pytest.mark.parametrize("point,again", [
    ("mpq/consume-read", True),
    ("mpq/consume-journal", False),
    ("mpq/consume-applied", False),
    ("cqueue/get-read", True),
    ("cqueue/get-journaled", False),
])
def test_queue_consumer_killed(ctx, point, again, round):
    q, done = ctx.Queue(), ctx.Value("i", 0, lock=False)
    for i in range(10):
        q.put(i if small(point) else ft.item(i))
    q.put("end")
    start_killed(ctx, point + "=kill@4", ft.consume, q, done, 11)
    taken = done.value
    got = drain_until(q, "end")  # the dead consumer's lock is taken over
    lost = [] if again else [taken]
    assert got == [i for i in range(taken, 10) if i not in lost], \
        "the child took %d items; the rest came as %s" % (taken, got)
    q.put(1)
    assert q.get(timeout=BOUND) == 1


@rounds
@pytest.mark.parametrize("point", ["csync/lock-claimed", "csync/lock-held"])
def test_lock_c_holder_killed(ctx, point, round):
    # The victim takes the free lock in C and dies there, holding it; the peer must
    # take it over (in Go) and count every one of its rounds.
    lock, counter = ctx.Lock(), ctx.Value("q", 0, lock=False)
    start_killed(ctx, point + "=kill@1", ft.hammer, lock, counter, 10)
    peer = ctx.Process(target=ft.hammer, args=(lock, counter, 1000))
    peer.start()
    assert join_within(peer, BOUND) == 0, "the peer wedged behind the dead holder"
    assert counter.value == 1000, "a count made under the lock was lost"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the owner-died warning, if the lock was still held
        assert lock.acquire(timeout=BOUND), "the lock wedged after its holder died"
    lock.release()


@rounds
@pytest.mark.parametrize("point", ["psync/mutex-claimed", "psync/mutex-held"])
def test_lock_holder_killed(ctx, point, round):
    # The C fast path takes an uncontended lock without the Go core: the failpoint is
    # reached when the victim takes the lock after waiting in Go. So this process holds
    # the lock while the victim starts to take it, and a peer contends all along.
    lock, counter = ctx.Lock(), ctx.Value("q", 0, lock=False)
    asking = ctx.Event()
    peer = ctx.Process(target=ft.hammer, args=(lock, counter, 10 ** 6))
    with armed(point + "=kill@1"):
        victim = ctx.Process(target=ft.hammer, args=(lock, counter, 10 ** 7, asking))
        lock.acquire()
        victim.start()
    assert asking.wait(BOUND)
    time.sleep(0.5)  # the victim is past its fast path: waiting in Go
    lock.release()
    peer.start()
    assert join_within(victim, BOUND) == -9, "the victim was not killed at " + point
    assert join_within(peer, BOUND) == 0, "the peer wedged behind the dead holder"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the owner-died warning, if the lock was still held
        assert lock.acquire(timeout=BOUND), "the lock wedged after its holder died"
    lock.release()


@rounds
def test_pool_worker_killed_after_taking_tasks(ctx, round):
    # The first workers die after taking a batch of tasks and before starting one
    # (the board still names their last finished task): the pool gives the batch to
    # the others, and every task gets its result once. The one exception, by design
    # (docs/design.md, under the failpoint table): a worker that found the result
    # queue held by the other worker left its last results to its flusher goroutine
    # and took the next batch; killed then, it loses them, and the last task it
    # started fails with WorkerLostError. So: each task has its result or that
    # error, at most one such error per dead worker, and nothing waits for good.
    from gompx.pool import WorkerLostError
    with armed("mpq/consume-applied=kill@2"):
        pool = ctx.Pool(2)
    with pool:
        pending = [pool.apply_async(ft.square_pid, (x,)) for x in range(300)]
        results, lost = {}, []
        deadline = time.monotonic() + BOUND
        for x, r in enumerate(pending):
            try:
                results[x] = r.get(max(0.1, deadline - time.monotonic()))
            except WorkerLostError:
                lost.append(x)
    assert all(results[x][0] == x * x for x in results)
    assert len(results) + len(lost) == 300
    assert len(lost) <= 2, "more tasks failed than workers died: %s" % lost
    # The armed workers died there: their replacements computed the rest.
    assert len({r[1] for r in results.values()}) > 2, "no worker died at the failpoint"

