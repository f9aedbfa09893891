"""gompx queue extras and guarantees the stdlib does not give.

put_many/get_many, the shared ring's ``capacity``, serialisation at put() (errors in the
caller, buffers copied at once), no exit-time deadlock (the "join trap"), exact
qsize/empty/full in one process, robustness when a producer or consumer is SIGKILLed,
stress with many producers and consumers, and resources (descriptors, /dev/shm,
processes) released.
"""

import gc
import os
import pickle
import queue
import random
import signal
import threading
import time

import pytest

import mp_targets as t
from mp_targets import (Background, join_within, leaked_shm, open_fds, recv_within,
                        shm_entries, sigkill_scenario)

pytestmark = pytest.mark.gompx_only

HERE = os.path.dirname(os.path.abspath(__file__))
GET = 10  # seconds a get() may wait for an item that must arrive
KIB, MIB = 1024, 1024 * 1024
SMALL = 64 * KIB  # the smallest ring capacity


def start(ctx, target, *args):
    p = ctx.Process(target=target, args=args)
    p.start()
    return p


def get_all(q, count, timeout=GET):
    return [q.get(timeout=timeout) for _ in range(count)]


def get_item(q, what, timeout=GET):
    """q.get(timeout=...) that names the missing item when it fails."""
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("%s did not arrive within %s s (qsize %s)" % (
            what, timeout, q.qsize())) from None


def drain(q, timeout=0.5):
    out = []
    while True:
        try:
            out.append(q.get(timeout=timeout))
        except queue.Empty:
            return out


def make(mp, kind, **kw):
    return getattr(mp, kind)(**kw)


def pickle_error(obj):
    try:
        pickle.dumps(obj)
    except Exception as e:
        return type(e)
    raise AssertionError("%r pickles" % (obj,))


KINDS = ["Queue", "JoinableQueue", "SimpleQueue"]


def qget(q, kind, **kw):
    if kind == "SimpleQueue":
        return q.get()
    return q.get(timeout=kw.get("timeout", GET))


# --- put_many / get_many --------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_put_many_then_get_in_order(mp, kind):
    q = make(mp, kind)
    q.put_many([1, "two", (3,)])
    q.put_many(iter([4, 5]))
    q.put_many(x * 10 for x in range(3))
    q.put_many([])
    assert [qget(q, kind) for _ in range(8)] == [1, "two", (3,), 4, 5, 0, 10, 20]
    assert q.empty()


@pytest.mark.parametrize("kind", KINDS)
def test_put_then_get_many(mp, kind):
    q = make(mp, kind)
    for i in range(5):
        q.put(i)
    assert q.get_many(2) == [0, 1]
    t0 = time.monotonic()
    assert q.get_many(10, timeout=5) == [2, 3, 4]  # what is there, no waiting for more
    assert time.monotonic() - t0 < 1.0
    assert q.empty()
    q.put_many(range(100))
    got = []
    while len(got) < 100:
        batch = q.get_many(7, timeout=GET)
        assert 1 <= len(batch) <= 7
        got.extend(batch)
    assert got == list(range(100))


@pytest.mark.parametrize("kind", KINDS)
def test_get_many_returns_a_list(mp, kind):
    q = make(mp, kind)
    q.put("only")
    got = q.get_many(1)
    assert type(got) is list and got == ["only"]
    q.put_many(["a", "b"])
    assert q.get_many(max_messages=5) == ["a", "b"]


@pytest.mark.parametrize("kind", KINDS)
def test_get_many_empty_nonblocking_and_timeout(mp, kind):
    q = make(mp, kind)
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get_many(10, block=False)
    with pytest.raises(queue.Empty):
        q.get_many(10, False)
    assert time.monotonic() - t0 < 1.0
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get_many(10, timeout=0.2)
    elapsed = time.monotonic() - t0
    assert 0.19 <= elapsed < 2.0, elapsed
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get_many(10, True, 0.3)
    elapsed = time.monotonic() - t0
    assert 0.29 <= elapsed < 2.0, elapsed


@pytest.mark.parametrize("kind", KINDS)
def test_get_many_blocks_until_one_item(mp, kind):
    q = make(mp, kind)
    timer = threading.Timer(0.3, q.put, args=("late",))
    t0 = time.monotonic()
    timer.start()
    try:
        assert q.get_many(10, timeout=GET) == ["late"]
    finally:
        timer.join(5)
    assert time.monotonic() - t0 >= 0.25
    # block=True with no timeout waits too
    timer = threading.Timer(0.2, q.put_many, args=(["x", "y"],))
    timer.start()
    try:
        got = Background(q.get_many, 10).finish(GET)
    finally:
        timer.join(5)
    assert got in (["x", "y"], ["x"])
    if got == ["x"]:
        assert qget(q, kind) == "y"


@pytest.mark.parametrize("kind", ["Queue", "JoinableQueue"])
def test_put_many_bounded(mp, kind):
    q = make(mp, kind, maxsize=4)
    q.put_many([1, 2])
    assert q.qsize() == 2
    q.put_many([3, 4])
    assert q.full()
    t0 = time.monotonic()
    with pytest.raises(queue.Full):
        q.put_many([5], block=False)
    with pytest.raises(queue.Full):
        q.put_many([5], timeout=0.2)
    elapsed = time.monotonic() - t0
    assert 0.19 <= elapsed < 2.0, elapsed
    assert q.get_many(10) == [1, 2, 3, 4]
    q.put_many([5])
    assert q.get(timeout=GET) == 5


@pytest.mark.parametrize("kind", KINDS)
def test_put_many_after_close_raises(mp, kind):
    q = make(mp, kind)
    q.close()
    with pytest.raises((ValueError, OSError)):
        q.put_many([1])
    with pytest.raises((ValueError, OSError)):
        q.get_many(1, **({} if kind == "SimpleQueue" else {"timeout": 0.1}))


@pytest.mark.parametrize("kind", KINDS)
def test_child_put_many_parent_get_many(mp, kind):
    q = make(mp, kind)
    items = [(i, "x" * (i % 50)) for i in range(3000)]
    p = start(mp, t.q_put_many_all, q, items, 7)
    got = []
    deadline = time.monotonic() + 30
    while len(got) < len(items) and time.monotonic() < deadline:
        batch = q.get_many(50, timeout=GET)
        assert 1 <= len(batch) <= 50
        got.extend(batch)
    assert got == items
    assert join_within(p, 20) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_parent_put_many_child_get_many(mp, kind):
    q = make(mp, kind)
    r, w = mp.Pipe(duplex=False)
    n = 3000
    p = start(mp, t.q_get_many_n, q, n, 64, w)
    w.close()
    for i in range(0, n, 10):
        q.put_many(range(i, i + 10))
    got, batches = recv_within(r, 30)
    assert got == list(range(n))
    assert all(1 <= b <= 64 for b in batches), batches
    assert join_within(p) == 0


def test_mixed_put_and_put_many_from_children(mp):
    q = mp.Queue()
    items_a = [("a", i) for i in range(1000)]
    pa = start(mp, t.q_put_many_all, q, items_a, 13)
    pb = start(mp, t.q_put_range_tagged, q, "b", 1000)
    got = []
    while len(got) < 2000:
        got.extend(q.get_many(100, timeout=GET) if len(got) % 2 else [q.get(timeout=GET)])
    assert [x for x in got if x[0] == "a"] == items_a
    assert [x for x in got if x[0] == "b"] == [("b", i) for i in range(1000)]
    assert join_within(pa, 20) == 0 and join_within(pb, 20) == 0


# --- exact counts in one process ------------------------------------------------------

@pytest.mark.parametrize("kind", ["Queue", "JoinableQueue"])
def test_qsize_empty_full_exact(mp, kind):
    q = make(mp, kind, maxsize=3)
    assert (q.qsize(), q.empty(), q.full()) == (0, True, False)
    q.put("a")
    assert (q.qsize(), q.empty(), q.full()) == (1, False, False)
    assert q.get_nowait() == "a"  # visible the moment put() returned
    assert (q.qsize(), q.empty(), q.full()) == (0, True, False)
    q.put_many(["b", "c"])
    assert (q.qsize(), q.empty(), q.full()) == (2, False, False)
    q.put_nowait("d")
    assert (q.qsize(), q.empty(), q.full()) == (3, False, True)
    assert q.get_many(2) == ["b", "c"]
    assert (q.qsize(), q.empty(), q.full()) == (1, False, False)
    assert q.get_nowait() == "d"
    assert (q.qsize(), q.empty(), q.full()) == (0, True, False)

    u = make(mp, kind)
    for i in range(1000):
        u.put(i)
        assert u.qsize() == i + 1
    assert not u.full() and not u.empty()
    u.get_many(400)
    assert u.qsize() == 600
    drain(u, 0.1)
    assert (u.qsize(), u.empty()) == (0, True)


def test_simplequeue_empty_exact(mp):
    q = mp.SimpleQueue()
    assert q.empty()
    q.put_many([1, 2])
    assert not q.empty()
    assert q.get_many(1) == [1]
    assert not q.empty()
    assert q.get() == 2
    assert q.empty()


# --- serialisation at put() -----------------------------------------------------------

def _local_function():
    def inner():
        pass
    return inner


UNPICKLABLE = [
    ("lambda", lambda: lambda: None),
    ("local", _local_function),
    ("lock", threading.Lock),
    ("reduce-raises", t.Unpicklable),
    ("memoryview", lambda: memoryview(b"abc")),
    ("generator", lambda: (i for i in range(3))),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name,factory", UNPICKLABLE, ids=[n for n, _ in UNPICKLABLE])
def test_unpicklable_raises_at_put(mp, kind, name, factory):
    obj = factory()
    want = pickle_error(obj)
    q = make(mp, kind)
    with pytest.raises(want):
        q.put(obj)
    assert q.empty()
    if kind != "SimpleQueue":
        assert q.qsize() == 0
        with pytest.raises(queue.Empty):
            q.get(timeout=0.1)
    q.put("after")
    assert qget(q, kind) == "after"
    assert q.empty()


@pytest.mark.parametrize("kind", KINDS)
def test_unpicklable_in_put_many(mp, kind):
    q = make(mp, kind)
    with pytest.raises(TypeError):
        q.put_many([1, 2, threading.Lock(), 4])
    left = []
    while not q.empty():
        left.append(qget(q, kind))
    assert left in ([], [1, 2]), left
    q.put_many(["ok"])
    assert qget(q, kind) == "ok"


def test_unpicklable_does_not_disturb_a_child(mp):
    q = mp.Queue()
    r, w = mp.Pipe(duplex=False)
    p = start(mp, t.q_get_n, q, 2, w)
    w.close()
    q.put("one")
    with pytest.raises(TypeError):
        q.put(threading.Lock())
    q.put("two")
    assert recv_within(r, GET) == ["one", "two"]
    assert join_within(p) == 0


@pytest.mark.parametrize("capacity", [None, SMALL])
def test_big_bytearray_roundtrip(mp, capacity):
    q = mp.Queue(capacity=capacity)
    data = bytearray(t.pattern(8 * MIB, 8))
    q.put(data)
    snapshot = bytes(data)
    data[:] = b"\0" * len(data)  # a mutation after put() must not reach the queued copy
    got = q.get(timeout=GET)
    assert type(got) is bytearray
    t.assert_same(bytes(got), snapshot)
    big = t.pattern(8 * MIB, 9)
    q.put(("mixed", bytearray(b"small"), big, bytearray(big)))
    tag, small, b1, b2 = q.get(timeout=GET)
    assert (tag, small, type(b2)) == ("mixed", bytearray(b"small"), bytearray)
    t.assert_same(b1, big)
    t.assert_same(bytes(b2), big)


def test_big_bytearray_across_processes(mp):
    inq, outq = mp.Queue(), mp.Queue()
    data = bytearray(t.pattern(8 * MIB, 10))
    p = start(mp, t.q_echo, inq, outq, 2)
    inq.put(data)
    inq.put(memoryview(b"viewed").tobytes())
    got = outq.get(timeout=30)
    assert type(got) is bytearray
    t.assert_same(bytes(got), bytes(data))
    assert outq.get(timeout=GET) == b"viewed"
    assert join_within(p) == 0


def test_memoryview_raises_like_pickle(mp):
    mv = memoryview(t.pattern(1 * MIB, 1))
    want = pickle_error(mv)
    assert want is TypeError
    q = mp.Queue()
    with pytest.raises(want, match="memoryview"):
        q.put(mv)
    with pytest.raises(want):
        q.put_many([mv])
    q.put(mv.tobytes())
    t.assert_same(q.get(timeout=GET), mv.tobytes())


# --- capacity: messages larger than the ring, unbounded puts never block ---------------

def test_capacity_accepted(mp):
    for cap in (None, SMALL, 1 * MIB, 16 * MIB):
        q = mp.Queue(capacity=cap)
        q.put(cap)
        assert q.get(timeout=GET) == cap
        q.close()
    q = mp.Queue(5, capacity=SMALL)
    q.put_many(range(5))
    assert q.full()


@pytest.mark.parametrize("size", [1 * MIB, 10 * MIB])
def test_small_ring_large_message_in_process(mp, size):
    q = mp.Queue(capacity=SMALL)
    data = t.pattern(size, size)
    t0 = time.monotonic()
    q.put(data)
    assert time.monotonic() - t0 < 5
    q.put("after")
    t.assert_same(q.get(timeout=GET), data)
    assert q.get(timeout=GET) == "after"


def test_small_ring_large_messages_child_to_parent(mp):
    q = mp.Queue(capacity=SMALL)
    sizes = [1 * MIB, 10 * MIB, 5, 64 * KIB, 64 * KIB + 1, 3 * MIB]
    p = start(mp, t.q_put_patterns, q, sizes)
    for i, size in enumerate(sizes):
        j, data = get_item(q, "item %d (%d bytes)" % (i, size), 30)
        assert j == i
        t.assert_same(data, t.pattern(size, i))
    assert join_within(p, 20) == 0


def test_small_ring_large_messages_parent_to_child(mp):
    q = mp.Queue(capacity=SMALL)
    r, w = mp.Pipe(duplex=False)
    sizes = [1 * MIB, 10 * MIB, 7, 3 * MIB]
    p = start(mp, t.q_digest_patterns, q, len(sizes), w)
    w.close()
    for i, size in enumerate(sizes):
        t0 = time.monotonic()
        q.put((i, t.pattern(size, i)))
        assert time.monotonic() - t0 < 5
    got = recv_within(r, 60)
    assert got == [(i, "bytes", size, t.digest(t.pattern(size, i)))
                   for i, size in enumerate(sizes)]
    assert join_within(p) == 0


def test_small_ring_big_dict_both_ways(mp):
    inq, outq = mp.Queue(capacity=SMALL), mp.Queue(capacity=SMALL)
    big = {i: t.pattern(1024, i) for i in range(3072)}  # ~3 MiB pickled
    assert len(pickle.dumps(big)) > 3 * MIB
    p = start(mp, t.q_echo, inq, outq, 2)
    inq.put(big)
    inq.put({"small": 1})
    got = outq.get(timeout=30)
    assert got == big
    assert outq.get(timeout=GET) == {"small": 1}
    assert join_within(p) == 0


def _fill_small_ring(mp, count=200, size=8 * KIB):
    """Put `count` messages of `size` bytes into a 64 KiB ring nobody reads (in a thread,
    so a put that blocks fails the test instead of hanging it)."""
    q = mp.Queue(capacity=SMALL)
    items = [(i, t.pattern(size, i)) for i in range(count)]
    done = []

    def fill():
        for item in items:
            t1 = time.monotonic()
            q.put(item)
            done.append(time.monotonic() - t1)

    bg = Background(fill)
    bg.thread.join(10)
    assert not bg.thread.is_alive(), \
        "put %d of %d blocked on an unbounded queue with a full ring" % (len(done), count)
    bg.finish(0)
    assert max(done) < 1.0, "a put took %.2f s" % max(done)
    assert sum(done) < 5.0
    return q


def test_unbounded_small_ring_put_never_blocks(mp):
    q = _fill_small_ring(mp)
    assert q.qsize() == 200
    for i in range(200):
        j, data = q.get(timeout=GET)
        assert j == i
        t.assert_same(data, t.pattern(8 * KIB, i))
    assert q.empty()


def test_unbounded_small_ring_read_by_child(mp):
    q = _fill_small_ring(mp)
    r, w = mp.Pipe(duplex=False)
    p = start(mp, t.q_digest_patterns, q, 200, w)
    w.close()
    got = recv_within(r, 30)
    assert got == [(i, "bytes", 8 * KIB, t.digest(t.pattern(8 * KIB, i)))
                   for i in range(200)]
    assert join_within(p) == 0


def test_bounded_small_ring_put_nowait_until_maxsize(mp):
    q = mp.Queue(20, capacity=SMALL)
    for i in range(20):
        assert not q.full() and q.qsize() == i
        try:
            q.put_nowait((i, t.pattern(8 * KIB, i)))  # 160 KiB > ring: still not Full
        except queue.Full:
            raise AssertionError("put_nowait %d raised Full with qsize() %d, full() %s, "
                                 "maxsize 20" % (i, q.qsize(), q.full())) from None
    with pytest.raises(queue.Full):
        q.put_nowait("one too many")
    assert [q.get(timeout=GET)[0] for _ in range(20)] == list(range(20))


# --- the join trap --------------------------------------------------------------------

def test_join_child_before_getting_does_not_deadlock(mp):
    """stdlib: the child blocks at exit flushing to a full pipe, the parent blocks in join."""
    q = mp.Queue()
    n, size = 1000, 10 * KIB
    p = start(mp, t.q_put_patterns, q, [size] * n)
    p.join(30)
    assert not p.is_alive(), "child could not exit with its items unread"
    assert p.exitcode == 0
    for i in range(n):
        j, data = get_item(q, "item %d of %d" % (i, n))
        assert j == i
        assert data == t.pattern(size, i), "item %d corrupt" % i
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)


def test_backlog_beyond_a_small_ring_waits_at_exit_and_is_not_lost(mp):
    """A ring chosen too small for what is left unread: the child's exit waits for a reader
    (as stdlib's does), and nothing is lost once one comes."""
    q = mp.Queue(capacity=SMALL)
    n, size = 300, 10 * KIB
    p = start(mp, t.q_put_patterns, q, [size] * n)
    p.join(1.5)
    assert p.is_alive(), "the child exited with 3 MiB that a 64 KiB ring cannot hold"
    for i in range(n):
        j, data = get_item(q, "item %d of %d" % (i, n))
        assert j == i
        assert data == t.pattern(size, i), "item %d corrupt" % i
    assert join_within(p, 20) == 0


def test_join_trap_joinable_and_simple(mp):
    for kind in ("JoinableQueue", "SimpleQueue"):
        q = make(mp, kind)
        p = start(mp, t.q_put_all, q, [b"y" * (10 * KIB)] * 1000)
        p.join(30)
        assert not p.is_alive(), kind
        assert p.exitcode == 0
        got = Background(lambda q=q, kind=kind: [qget(q, kind) for _ in range(1000)]).finish(30)
        assert got == [b"y" * (10 * KIB)] * 1000


# --- fault injection ------------------------------------------------------------------

KILLS = 10


@pytest.mark.parametrize("capacity", [None, SMALL], ids=["default", "small"])
def test_sigkilled_producers_leave_queue_intact(mp, capacity):
    q = mp.Queue(capacity=capacity)
    rnd = random.Random(20240 + (capacity or 0))
    expected = {}  # tag -> next sequence number
    stop = threading.Event()

    def consume():
        count = 0
        while True:
            try:
                item = q.get(timeout=0.3)
            except queue.Empty:
                if stop.is_set():
                    return count
                continue
            tag, i, size, data = item
            want = expected.get(tag, 0)
            assert i == want, "producer %d: item %d after %d (lost or repeated)" % (
                tag, i, want - 1)
            assert len(data) == size, "producer %d item %d: %d bytes, want %d" % (
                tag, i, len(data), size)
            assert data == t.pattern(size, tag * 1000003 + i), \
                "producer %d item %d corrupt" % (tag, i)
            expected[tag] = i + 1
            count += 1

    bg = Background(consume)
    t0 = time.monotonic()
    for tag in range(KILLS):
        r, w = mp.Pipe(duplex=False)
        p = start(mp, t.q_fault_producer, q, tag, w)
        w.close()
        assert recv_within(r, 30) == "ready"
        time.sleep(rnd.uniform(0, 0.2))
        os.kill(p.pid, signal.SIGKILL)
        code = join_within(p)
        assert code == -signal.SIGKILL, \
            "producer died on its own (exit code %s) before it was killed" % code
        if bg.error is not None:
            break
    stop.set()
    received = bg.finish(30)
    assert received > 0
    assert time.monotonic() - t0 < 30

    # The queue still works, in this process and with a new child.
    q.put(("after", t.pattern(300 * KIB, 1)))
    tag, data = q.get(timeout=GET)
    assert tag == "after"
    t.assert_same(data, t.pattern(300 * KIB, 1))
    p = start(mp, t.q_put_patterns, q, [10, 300 * KIB, 20])
    for i, size in enumerate([10, 300 * KIB, 20]):
        j, data = q.get(timeout=GET)
        assert j == i
        t.assert_same(data, t.pattern(size, i))
    assert join_within(p) == 0


def _fault_sizes(rnd, n):
    return [256 * KIB if rnd.random() < 0.02 else rnd.randrange(2048) for _ in range(n)]


@pytest.mark.parametrize("capacity", [None, SMALL], ids=["default", "small"])
def test_sigkilled_consumers_lose_at_most_one_item_each(mp, capacity):
    q = mp.Queue(capacity=capacity)
    rnd = random.Random(777 + (capacity or 0))
    produced = 0
    reported = []  # what the killed consumers got, in order
    t0 = time.monotonic()
    for _ in range(KILLS):
        for size in _fault_sizes(rnd, 1500):
            q.put((produced, size, t.pattern(size, produced)))
            produced += 1
        r, w = mp.Pipe(duplex=False)
        p = start(mp, t.q_fault_consumer, q, w)
        w.close()
        assert recv_within(r, 30) == "ready"
        deadline = time.monotonic() + rnd.uniform(0, 0.2)
        eof = False
        while not eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if r.poll(left):
                try:
                    reported.append(r.recv())
                except EOFError:
                    eof = True
        os.kill(p.pid, signal.SIGKILL)
        code = join_within(p)
        assert code == -signal.SIGKILL, \
            "consumer died on its own (exit code %s) before it was killed" % code
        while True:  # what the consumer reported before it died
            try:
                if not r.poll(5):
                    break
                reported.append(r.recv())
            except (EOFError, OSError):
                break
        r.close()
    assert time.monotonic() - t0 < 30
    bad = [x for x in reported if isinstance(x, tuple)]
    assert bad == [], "consumers got corrupt items"

    rest = []
    for item in drain(q, 1.0):
        i, size, data = item
        assert len(data) == size and data == t.pattern(size, i), "item %d corrupt" % i
        rest.append(i)
    everything = reported + rest
    assert all(a < b for a, b in zip(everything, everything[1:])), \
        "items out of order or repeated"
    missing = sorted(set(range(produced)) - set(everything))
    assert len(missing) <= KILLS, "%d items lost to %d kills: %s" % (
        len(missing), KILLS, missing[:20])

    q.put("after")
    assert q.get(timeout=GET) == "after"
    q.put_many([1, 2])
    assert q.get_many(5, timeout=GET) in ([1, 2], [1])


# --- stress ---------------------------------------------------------------------------

STRESS_MODES = [(0, 0), (100, 100), (100, 0), (0, 100)]
STRESS_IDS = ["put-get", "put_many-get_many", "put_many-get", "put-get_many"]


def _stress(mp, producers, consumers, per_producer, put_batch, get_batch, timeout):
    q = mp.Queue()
    readers, procs = [], []
    for _ in range(consumers):
        r, w = mp.Pipe(duplex=False)
        procs.append(start(mp, t.q_stress_consumer, q, w, get_batch))
        w.close()
        readers.append(r)
    prods = [start(mp, t.q_stress_producer, q, tag, per_producer, put_batch)
             for tag in range(producers)]
    deadline = time.monotonic() + timeout
    for p in prods:
        p.join(max(0.1, deadline - time.monotonic()))
        assert p.exitcode == 0, "producer exit code %s" % p.exitcode
    for _ in range(consumers):
        q.put(None)
    results = [recv_within(r, max(1, deadline - time.monotonic())) for r in readers]
    for p in procs:
        assert join_within(p) == 0
    for res in results:
        assert "<Empty>" not in res, "a consumer timed out waiting"
        assert "<after sentinel>" not in res, res.get("<after sentinel>")[:10]
        for tag, seqs in res.items():
            bad = [(k, a, b) for k, (a, b) in enumerate(zip(seqs, seqs[1:])) if a >= b]
            assert not bad, ("producer %d's order broken in one consumer (%d of %d items): "
                             "at position %d seq %d came before seq %d" % (
                                 tag, len(seqs), per_producer, *bad[0]))
    for tag in range(producers):
        seqs = sorted(s for res in results for s in res.get(tag, []))
        assert len(seqs) == per_producer and seqs == list(range(per_producer)), \
            "producer %d: %d items received, %d distinct, want %d" % (
                tag, len(seqs), len(set(seqs)), per_producer)
    assert q.empty()


@pytest.mark.parametrize("put_batch,get_batch", STRESS_MODES, ids=STRESS_IDS)
def test_stress_8_producers_4_consumers(mp, put_batch, get_batch):
    _stress(mp, 8, 4, 100_000 // 8, put_batch, get_batch, timeout=60)


@pytest.mark.parametrize("put_batch,get_batch", STRESS_MODES, ids=STRESS_IDS)
def test_stress_8_producers_4_consumers_million(mp, put_batch, get_batch):
    # 1-3 s each: not `slow`, and it finds what 10^5 messages may not
    _stress(mp, 8, 4, 1_000_000 // 8, put_batch, get_batch, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("put_batch,get_batch", STRESS_MODES, ids=STRESS_IDS)
def test_stress_16_producers_8_consumers_4_million(mp, put_batch, get_batch):
    _stress(mp, 16, 8, 4_000_000 // 16, put_batch, get_batch, timeout=300)


# --- JoinableQueue --------------------------------------------------------------------

def test_joinable_task_done_too_many(mp):
    q = mp.JoinableQueue()
    q.put_many([1, 2])
    assert q.get_many(2, timeout=GET) == [1, 2]
    q.task_done()
    q.task_done()
    with pytest.raises(ValueError):
        q.task_done()
    Background(q.join).finish(5)


def test_joinable_join_across_several_consumers(mp):
    q = mp.JoinableQueue()
    n, k = 60, 3
    q.put_many(range(n))
    readers, procs = [], []
    for _ in range(k):
        r, w = mp.Pipe(duplex=False)
        procs.append(start(mp, t.q_task_consumer, q, n // k, w))
        w.close()
        readers.append(r)
    joined = threading.Event()
    bg = Background(lambda: (q.join(), joined.set()))
    bg.finish(30)
    got = sorted(x for r in readers for x in recv_within(r, GET))
    assert got == list(range(n))
    for p in procs:
        assert join_within(p) == 0
    with pytest.raises(ValueError):
        q.task_done()


def test_joinable_join_blocks_while_child_works(mp):
    q = mp.JoinableQueue()
    r, w = mp.Pipe(duplex=False)
    q.put_many(range(30))  # the child takes >= 0.3 s (10 ms per task)
    joined = threading.Event()
    bg = Background(lambda: (q.join(), joined.set()))
    p = start(mp, t.q_task_consumer, q, 30, w)
    w.close()
    assert not joined.wait(0.1)
    bg.finish(30)
    assert recv_within(r, GET) == list(range(30))
    assert join_within(p) == 0


# --- start-method contexts ------------------------------------------------------------

@pytest.mark.parametrize("qmethod", ["spawn", "forkserver"])
@pytest.mark.parametrize("pmethod", ["spawn", "forkserver"])
def test_queue_from_one_context_used_by_another(mp, qmethod, pmethod):
    qctx, pctx = mp.get_context(qmethod), mp.get_context(pmethod)
    inq, outq = qctx.Queue(), qctx.Queue()
    items = [1, "two", b"3" * (1 * MIB), t.Point(4, 4)]
    p = start(pctx, t.q_echo, inq, outq, len(items))
    inq.put_many(items)
    got = get_all(outq, len(items))
    assert got == items
    assert join_within(p) == 0

    jq = qctx.JoinableQueue()
    r, w = pctx.Pipe(duplex=False)
    jq.put_many(range(5))
    p = start(pctx, t.q_task_consumer, jq, 5, w)
    w.close()
    Background(jq.join).finish(30)
    assert recv_within(r, GET) == list(range(5))
    assert join_within(p) == 0


# --- resources ------------------------------------------------------------------------

def _use_and_close(mp, kinds, count):
    for i in range(count):
        kind = kinds[i % len(kinds)]
        q = mp.Queue(capacity=SMALL) if kind == "small" else make(mp, kind)
        q.put(("x", i))
        if kind == "small":
            q.put(b"z" * (200 * KIB))  # larger than the ring
        assert qget(q, "SimpleQueue" if kind == "SimpleQueue" else "Queue") == ("x", i)
        if kind == "small":
            assert len(q.get(timeout=GET)) == 200 * KIB
        q.close()
        if kind != "SimpleQueue":
            q.join_thread()
    gc.collect()


def test_fds_and_shm_released_after_closing_queues(mp):
    kinds = ["Queue", "JoinableQueue", "SimpleQueue", "small"]
    _use_and_close(mp, kinds, 4)  # warm: the Go core opens what it keeps once
    fds, shm = open_fds(), shm_entries()
    _use_and_close(mp, kinds, 50)
    assert open_fds() <= fds
    assert leaked_shm(shm, ours=(os.getpid(),)) == set()


def test_fds_and_shm_released_after_child_used_queue(mp):
    def round_trip():
        q = mp.Queue()
        small = mp.Queue(capacity=SMALL)
        inq = mp.Queue()
        p = start(mp, t.q_echo, inq, small, 2)
        inq.put("a")
        inq.put(b"b" * (300 * KIB))
        assert small.get(timeout=GET) == "a"
        assert small.get(timeout=GET) == b"b" * (300 * KIB)
        assert join_within(p) == 0
        p.close()
        for x in (q, small, inq):
            x.close()
            x.join_thread()
        gc.collect()

    round_trip()
    fds, shm = open_fds(), shm_entries()
    for _ in range(5):
        round_trip()
    assert open_fds() <= fds
    # Queues make no SharedMemory: a "psm_" name (SharedMemory's generated ones) that
    # nobody holds is another run's, closed and not yet unlinked (stdlib's resource
    # tracker unlinks at its exit), not this test's.
    leaked = leaked_shm(shm, ours=(os.getpid(),))
    assert {n for n in leaked if not n.startswith("psm_")} == set(), leaked


def test_dropped_queues_without_close_release_fds(mp):
    def batch(n):
        for i in range(n):
            q = mp.Queue()
            q.put(i)
            assert q.get(timeout=GET) == i
            del q
        gc.collect()

    batch(3)
    fds = open_fds()
    batch(50)
    assert open_fds() <= fds


PARENT = r'''
import sys, time
import mp_targets as t
mp = __import__(sys.argv[1])
method = sys.argv[2]
ctx = mp if method == "default" else mp.get_context(method)

if __name__ == "__main__":
    qs = [ctx.Queue(), ctx.Queue(capacity=65536), ctx.JoinableQueue(), ctx.SimpleQueue()]
    for q in qs[:3]:
        q.put(b"x" * 300000)
    qs[3].put(b"x" * 1000)
    pids = []
    for q in qs[:2]:
        r, w = ctx.Pipe()
        p = ctx.Process(target=t.q_hold_and_wait, args=(q, w, 60))
        p.start()
        assert r.poll(30)
        pids.append(r.recv())
    print(" ".join(str(pid) for pid in pids), flush=True)
    time.sleep(60)
'''




@pytest.mark.parametrize("method", ["default", "forkserver"])
def test_parent_sigkilled_leaves_no_shm_and_no_processes(mp, modname, method):
    # The children outlive their SIGKILLed parent by the grace period, then are killed.
    sigkill_scenario(PARENT, modname, method, children=2, kill_children=False,
                     env={"GOMPX_ORPHAN_GRACE": "1"})
