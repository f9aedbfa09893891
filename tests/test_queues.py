"""multiprocessing queues, the stdlib API: Queue, JoinableQueue, SimpleQueue.

Every case runs against stdlib and gompx.  The stdlib Queue hands put() items to a feeder
thread, so an item is not necessarily visible to get_nowait()/empty() the instant put()
returns: tests that must pass on the stdlib read with get(timeout=...) or poll with a
deadline.  The exact-count behaviour gompx promises is in test_queues_gompx.py.

Queue and JoinableQueue cases run a third time on named cluster queues (id "cluster",
cluster_variant.py); the SimpleQueue cases and those marked no_cluster say why not.
"""

import gc
import importlib
import pickle
import queue
import threading
import time

import pytest

import mp_targets as t
from mp_targets import Background, eventually, join_within, recv_within

CLUSTER_VARIANT = True
# SimpleQueue has no cluster form: its cluster case would be the gompx case again.
SIMPLE = pytest.mark.no_cluster("SimpleQueue has no cluster form (the gompx case tests it)")
KINDS = ["Queue", "JoinableQueue", pytest.param("SimpleQueue", marks=SIMPLE)]

GET = 10  # seconds any get() in a test may wait for an item that must arrive


def get_all(q, count, timeout=GET):
    return [q.get(timeout=timeout) for _ in range(count)]


def start(ctx, target, *args):
    p = ctx.Process(target=target, args=args)
    p.start()
    return p


@pytest.mark.no_cluster("a cluster queue is gompx._clusterqueue.Queue, not a subclass of "
                        "gompx.queues.Queue: it has no pipe or feeder thread")
# --- module surface -------------------------------------------------------------------

def test_queues_module_classes(mp):
    queues = importlib.import_module(mp.__name__ + ".queues")
    assert issubclass(queues.JoinableQueue, queues.Queue)
    q, jq, sq = mp.Queue(), mp.JoinableQueue(), mp.SimpleQueue()
    assert isinstance(q, queues.Queue)
    assert isinstance(jq, queues.JoinableQueue)
    assert isinstance(sq, queues.SimpleQueue)
    assert queues.Empty is queue.Empty and queues.Full is queue.Full
    for obj in (q, jq):
        for name in ("put", "get", "put_nowait", "get_nowait", "qsize", "empty", "full",
                     "close", "join_thread", "cancel_join_thread"):
            assert callable(getattr(obj, name)), name
    assert callable(jq.task_done) and callable(jq.join)
    for name in ("put", "get", "empty", "close"):
        assert callable(getattr(sq, name)), name
    for obj in (q, jq, sq):
        obj.close()


@pytest.mark.no_cluster("a cluster queue pickles anywhere by design: it reopens by name "
                        "where it is unpickled")
@pytest.mark.parametrize("kind", KINDS)
def test_queue_cannot_be_pickled_outside_spawning(mp, kind):
    q = getattr(mp, kind)()
    with pytest.raises(RuntimeError, match="inheritance"):
        pickle.dumps(q)
    q.close()


@pytest.mark.parametrize("kind", KINDS)
def test_context_factories(anyctx, kind):
    q = getattr(anyctx, kind)()
    q.put(("ctx", kind))
    assert (q.get(timeout=GET) if kind != "SimpleQueue" else q.get()) == ("ctx", kind)
    q.close()


# --- put / get in one process ---------------------------------------------------------

VALUES = [
    None, True, 0, -7, 2 ** 1000, -(2 ** 70), 1.25, 3 + 4j, "", "héllo ✓ 世界",
    b"", b"\x00\xff" * 5, bytearray(b"ba"), [1, [2, [3, []]]], (), (1, "a"),
    {"a": {1: (2, 3)}, (1, 2): [None]}, {1, 2}, frozenset({"x"}), t.Point(1, "y"),
    range(3, 9, 2), ValueError("boom"),
]


def _same(got, want):
    if isinstance(want, BaseException):
        return type(got) is type(want) and got.args == want.args
    return type(got) is type(want) and got == want


@pytest.mark.parametrize("kind", KINDS)
def test_values_roundtrip(mp, kind):
    q = getattr(mp, kind)()
    for v in VALUES:
        q.put(v)
    got = [q.get(timeout=GET) if kind != "SimpleQueue" else q.get() for _ in VALUES]
    for g, v in zip(got, VALUES):
        assert _same(g, v), (g, v)
    q.close()


def test_shared_references_survive(mp):
    q = mp.Queue()
    shared = [1, 2]
    q.put({"x": shared, "y": shared})
    got = q.get(timeout=GET)
    assert got["x"] == [1, 2] and got["x"] is got["y"]


def test_five_mib_bytes(mp):
    q = mp.Queue()
    data = t.pattern(5 * 1024 * 1024, 5)
    q.put(data)
    q.put("after")
    t.assert_same(q.get(timeout=GET), data)
    assert q.get(timeout=GET) == "after"


def test_fifo_order_single_process(mp):
    q = mp.Queue()
    for i in range(2000):
        q.put(i)
    assert get_all(q, 2000) == list(range(2000))


def test_put_nowait_get_nowait(mp):
    q = mp.Queue()
    q.put_nowait("a")
    q.put_nowait("b")
    assert q.get(timeout=GET) == "a"
    # The second item must become visible to get_nowait (stdlib: once the feeder flushed).
    assert eventually(lambda: not q.empty())
    assert q.get_nowait() == "b"
    with pytest.raises(queue.Empty):
        q.get_nowait()


def test_get_nonblocking_on_empty_raises_at_once(mp):
    q = mp.Queue()
    for call in (q.get_nowait, lambda: q.get(False), lambda: q.get(block=False),
                 lambda: q.get(False, 10), lambda: q.get(timeout=0)):
        t0 = time.monotonic()
        with pytest.raises(queue.Empty):
            call()
        assert time.monotonic() - t0 < 1.0


@pytest.mark.parametrize("kind", ["Queue", "JoinableQueue"])
def test_get_timeout_honoured(mp, kind):
    q = getattr(mp, kind)()
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)
    elapsed = time.monotonic() - t0
    assert 0.19 <= elapsed < 2.0, elapsed
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(True, 0.3)
    elapsed = time.monotonic() - t0
    assert 0.29 <= elapsed < 2.0, elapsed


def test_get_blocks_until_put_from_thread(mp):
    q = mp.Queue()
    timer = threading.Timer(0.3, q.put, args=("late",))
    t0 = time.monotonic()
    timer.start()
    try:
        assert q.get(timeout=GET) == "late"
    finally:
        timer.join(5)
    assert time.monotonic() - t0 >= 0.25


def test_empty_and_qsize(mp):
    q = mp.Queue()
    assert q.empty() is True
    assert q.qsize() == 0
    for i in range(3):
        q.put(i)
    assert eventually(lambda: q.qsize() == 3)
    assert eventually(lambda: q.empty() is False)
    q.get(timeout=GET)
    assert q.qsize() == 2
    get_all(q, 2)
    assert q.qsize() == 0
    assert q.empty() is True


# --- bounded queues -------------------------------------------------------------------

def test_full_and_put_nowait_raises_full(mp):
    q = mp.Queue(maxsize=2)
    assert q.full() is False
    q.put(1)
    assert q.full() is False
    q.put(2)
    assert q.full() is True
    assert q.qsize() == 2
    t0 = time.monotonic()
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    with pytest.raises(queue.Full):
        q.put(3, block=False)
    with pytest.raises(queue.Full):
        q.put(3, False, 10)  # timeout ignored when not blocking
    assert time.monotonic() - t0 < 1.0
    assert q.get(timeout=GET) == 1
    assert q.full() is False
    q.put_nowait(3)
    assert get_all(q, 2) == [2, 3]
    assert q.full() is False


@pytest.mark.parametrize("kind", ["Queue", "JoinableQueue"])
def test_put_timeout_raises_full(mp, kind):
    q = getattr(mp, kind)(1)
    q.put("only")
    t0 = time.monotonic()
    with pytest.raises(queue.Full):
        q.put("more", timeout=0.2)
    elapsed = time.monotonic() - t0
    assert 0.19 <= elapsed < 2.0, elapsed
    assert q.get(timeout=GET) == "only"
    q.put("more", timeout=0.2)
    assert q.get(timeout=GET) == "more"


def test_put_blocks_until_a_thread_gets(mp):
    q = mp.Queue(maxsize=1)
    q.put("first")
    done = threading.Event()

    def producer():
        q.put("second")  # blocks: the queue is full
        done.set()

    bg = Background(producer)
    assert not done.wait(0.3), "put() on a full queue returned without blocking"
    assert q.get(timeout=GET) == "first"
    bg.finish(10)
    assert done.is_set()
    assert q.get(timeout=GET) == "second"


def test_put_blocks_until_a_child_gets(mp):
    q = mp.Queue(maxsize=1)
    r, w = mp.Pipe(duplex=False)
    q.put("first")
    p = start(mp, t.q_get_n, q, 2, w)
    w.close()
    t0 = time.monotonic()
    q.put("second", timeout=GET)  # room appears once the child got "first"
    assert time.monotonic() - t0 < GET
    assert recv_within(r, GET) == ["first", "second"]
    assert join_within(p) == 0


def test_maxsize_zero_and_negative_are_unbounded(mp):
    for maxsize in (0, -1):
        q = mp.Queue(maxsize)
        for i in range(500):
            q.put_nowait(i)
        assert q.full() is False
        assert get_all(q, 500) == list(range(500))
        q.close()


# --- close / join_thread / cancel_join_thread -----------------------------------------

@pytest.mark.parametrize("used", [False, True], ids=["fresh", "used"])
@pytest.mark.parametrize("kind", ["Queue", "JoinableQueue"])
def test_put_and_get_after_close_raise_valueerror(mp, kind, used):
    q = getattr(mp, kind)()
    if used:
        q.put("x")
        assert q.get(timeout=GET) == "x"
    q.close()
    with pytest.raises(ValueError, match="is closed"):
        q.put("y")
    with pytest.raises(ValueError, match="is closed"):
        q.put_nowait("y")
    with pytest.raises(ValueError, match="is closed"):
        q.get()
    with pytest.raises(ValueError, match="is closed"):
        q.get(timeout=0.1)
    with pytest.raises(ValueError, match="is closed"):
        q.get_nowait()
    q.close()  # a second close is harmless


@pytest.mark.parametrize("kind", ["Queue", "JoinableQueue"])
def test_empty_after_close_depends_on_use(mp, kind):
    # CPython: close() closes the pipe only once a put started the feeder thread.
    unused = getattr(mp, kind)()
    unused.close()
    unused.join_thread()
    assert unused.empty()
    used = getattr(mp, kind)()
    used.put("foo")
    used.close()
    used.join_thread()
    with pytest.raises(OSError, match="is closed"):
        used.empty()


def test_close_then_join_thread_flushes_to_reader(mp):
    q = mp.Queue()
    r, w = mp.Pipe(duplex=False)
    p = start(mp, t.q_get_n, q, 3, w)
    w.close()
    for item in ("a", b"b" * 200000, "c"):
        q.put(item)
    q.close()
    q.join_thread()
    got = recv_within(r, GET)
    assert got == ["a", b"b" * 200000, "c"]
    assert join_within(p) == 0


def test_join_thread_on_unused_closed_queue_returns(mp):
    q = mp.Queue()
    q.close()
    bg = Background(q.join_thread)
    bg.finish(5)


def test_child_close_and_join_thread(mp):
    q = mp.Queue()
    items = list(range(100)) + [b"z" * 100000]
    p = start(mp, t.q_put_close_join, q, items)
    assert get_all(q, len(items)) == items
    assert join_within(p, 20) == 0


def test_child_exit_flushes_small_items(mp):
    q = mp.Queue()
    p = start(mp, t.q_put_all, q, ["x", "y", "z"])
    assert join_within(p, 20) == 0  # small items: exit does not wait on a reader
    assert get_all(q, 3) == ["x", "y", "z"]


def test_cancel_join_thread_lets_a_blocked_child_exit(mp):
    q = mp.Queue()
    p = start(mp, t.q_put_big_then_cancel, q, 8 * 1024 * 1024)
    assert join_within(p, 20) == 0


def test_cancel_join_thread_in_parent_is_harmless(mp):
    q = mp.Queue()
    q.cancel_join_thread()
    q.put("still works")
    assert q.get(timeout=GET) == "still works"
    q.close()
    q.join_thread()


# --- unpicklable items ----------------------------------------------------------------

@pytest.mark.parametrize("obj", [lambda: None, threading.Lock(), t.Unpicklable()],
                         ids=["lambda", "lock", "reduce-raises"])
def test_queue_survives_an_unpicklable_item(mp, obj, capfd):
    """stdlib reports the error from its feeder thread, gompx raises at put(); either way
    the item never arrives and the queue keeps working."""
    q = mp.Queue()
    try:
        q.put(obj)
    except (pickle.PicklingError, TypeError, AttributeError):
        pass
    q.put("after")
    assert q.get(timeout=GET) == "after"
    q.put("again")
    assert q.get(timeout=GET) == "again"


@SIMPLE
def test_simplequeue_put_unpicklable_raises_at_put(mp):
    q = mp.SimpleQueue()
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        q.put(lambda: None)
    with pytest.raises(TypeError, match="Unpicklable refuses"):
        q.put(t.Unpicklable())
    assert q.empty()
    q.put("after")
    assert q.get() == "after"


@SIMPLE
def test_memoryview_is_not_picklable(mp):
    """A memoryview fails as pickle.dumps fails: TypeError (SimpleQueue pickles in put)."""
    with pytest.raises(TypeError):
        pickle.dumps(memoryview(b"abc"))
    q = mp.SimpleQueue()
    with pytest.raises(TypeError, match="memoryview"):
        q.put(memoryview(b"abc"))
    q.put(bytes(memoryview(b"abc")))
    assert q.get() == b"abc"


# --- across processes -----------------------------------------------------------------

def test_child_gets(anyctx):
    q = anyctx.Queue()
    r, w = anyctx.Pipe(duplex=False)
    p = start(anyctx, t.q_get_n, q, 3, w)
    w.close()
    q.put(1)
    q.put("two")
    q.put(t.Point(3, 3))
    assert recv_within(r, GET) == [1, "two", t.Point(3, 3)]
    assert join_within(p) == 0


def test_child_puts_fifo(anyctx):
    q = anyctx.Queue()
    n = 3000
    p = start(anyctx, t.q_put_range_tagged, q, "c", n)
    assert get_all(q, n) == [("c", i) for i in range(n)]
    assert join_within(p, 20) == 0


def test_child_puts_large_patterns(anyctx):
    q = anyctx.Queue()
    sizes = [0, 1, 65535, 65536, 65537, 1 << 20, 5 << 20, 10]
    p = start(anyctx, t.q_put_patterns, q, sizes)
    for i, size in enumerate(sizes):
        j, data = q.get(timeout=GET)
        assert j == i
        t.assert_same(data, t.pattern(size, i))
    assert join_within(p, 20) == 0


def test_parent_puts_large_child_digests(mp):
    q = mp.Queue()
    r, w = mp.Pipe(duplex=False)
    sizes = [5 << 20, 3, 1 << 20]
    p = start(mp, t.q_digest_patterns, q, len(sizes), w)
    w.close()
    for i, size in enumerate(sizes):
        q.put((i, t.pattern(size, i)))
    got = recv_within(r, 30)
    assert got == [(i, "bytes", size, t.digest(t.pattern(size, i)))
                   for i, size in enumerate(sizes)]
    assert join_within(p) == 0


def test_echo_through_a_child(anyctx):
    inq, outq = anyctx.Queue(), anyctx.Queue()
    values = VALUES + [b"x" * (1 << 20)]
    p = start(anyctx, t.q_echo, inq, outq, len(values))
    for v in values:
        inq.put(v)
    for v in values:
        assert _same(outq.get(timeout=GET), v)
    assert join_within(p) == 0


def test_several_producers(mp):
    q = mp.Queue()
    n, k = 300, 4
    procs = [start(mp, t.q_put_range_tagged, q, tag, n) for tag in range(k)]
    got = get_all(q, n * k)
    for tag in range(k):
        assert [i for g, i in got if g == tag] == list(range(n)), tag
    for p in procs:
        assert join_within(p, 20) == 0
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)


def test_several_consumers(mp):
    q, results = mp.Queue(), mp.Queue()
    n, k = 400, 4
    procs = [start(mp, t.q_consume_until_none, q, results) for _ in range(k)]
    for i in range(n):
        q.put(i)
    for _ in range(k):
        q.put(None)
    lists = get_all(results, k, timeout=30)
    for lst in lists:
        assert "<Empty>" not in lst
        assert lst == sorted(lst)  # each consumer sees the items in queue order
    assert sorted(i for lst in lists for i in lst) == list(range(n))
    for p in procs:
        assert join_within(p) == 0


def test_qsize_after_child_put(mp):
    q = mp.Queue()
    p = start(mp, t.q_put_all, q, list(range(5)))
    assert join_within(p, 20) == 0
    assert eventually(lambda: q.qsize() == 5)
    assert get_all(q, 5) == list(range(5))
    assert q.qsize() == 0


# --- JoinableQueue --------------------------------------------------------------------

def test_task_done_too_many_times(mp):
    q = mp.JoinableQueue()
    with pytest.raises(ValueError, match="called too many times"):
        q.task_done()
    q.put("a")
    q.put("b")
    q.get(timeout=GET)
    q.task_done()
    q.get(timeout=GET)
    q.task_done()
    with pytest.raises(ValueError, match="called too many times"):
        q.task_done()


def test_join_with_nothing_put_returns(mp):
    q = mp.JoinableQueue()
    Background(q.join).finish(5)


def test_join_waits_for_task_done(mp):
    q = mp.JoinableQueue()
    for i in range(3):
        q.put(i)
    joined = threading.Event()
    bg = Background(lambda: (q.join(), joined.set()))
    for i in range(3):
        assert q.get(timeout=GET) == i
        assert not joined.wait(0.1), "join() returned with a task not done"
        q.task_done()
    bg.finish(5)
    assert joined.is_set()
    Background(q.join).finish(5)  # nothing outstanding: returns at once


def test_join_across_processes(anyctx):
    q = anyctx.JoinableQueue()
    r, w = anyctx.Pipe(duplex=False)
    n = 20
    for i in range(n):
        q.put(i)
    p = start(anyctx, t.q_task_consumer, q, n, w)
    w.close()
    bg = Background(q.join)
    bg.finish(30)
    assert recv_within(r, GET) == list(range(n))
    assert join_within(p) == 0
    with pytest.raises(ValueError):
        q.task_done()


def test_joinable_bounded(mp):
    q = mp.JoinableQueue(2)
    q.put(1)
    q.put(2)
    assert q.full()
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    assert get_all(q, 2) == [1, 2]
    q.task_done()
    q.task_done()
    Background(q.join).finish(5)


@SIMPLE
# --- SimpleQueue ----------------------------------------------------------------------

def test_simplequeue_basics(mp):
    q = mp.SimpleQueue()
    assert q.empty() is True
    q.put("a")
    assert q.empty() is False  # SimpleQueue.put writes before it returns
    q.put(["b"])
    assert q.get() == "a"
    assert q.get() == ["b"]
    assert q.empty() is True


@SIMPLE
def test_simplequeue_close(mp):
    q = mp.SimpleQueue()
    q.put(1)
    assert q.get() == 1
    q.close()
    q.close()  # idempotent
    with pytest.raises(OSError):
        q.put(2)
    with pytest.raises(OSError):
        q.get()


@SIMPLE
def test_simplequeue_across_processes(anyctx):
    q = anyctx.SimpleQueue()
    r, w = anyctx.Pipe(duplex=False)
    items = [1, "x", b"y" * 300000, t.Point(0, 0)]
    p = start(anyctx, t.q_simple_get_n, q, len(items), w)
    w.close()
    for item in items:
        q.put(item)
    assert recv_within(r, GET) == items
    assert join_within(p) == 0

    back = anyctx.SimpleQueue()
    p = start(anyctx, t.q_simple_put_all, back, items)
    got = Background(lambda: [back.get() for _ in items]).finish(GET)
    assert got == items
    assert join_within(p) == 0


# --- hygiene --------------------------------------------------------------------------

def test_many_queues_created_and_dropped(mp):
    for _ in range(3):
        qs = [mp.Queue() for _ in range(20)]
        for i, q in enumerate(qs):
            q.put(i)
        assert [q.get(timeout=GET) for q in qs] == list(range(20))
        for q in qs:
            q.close()
            q.join_thread()
        del qs
        gc.collect()
