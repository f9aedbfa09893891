"""gompx's C fast path for queues (``gompx._gompxsync.QueueCore``, pyext/csrc/gompxqueue.c).

Small puts and gets touch the shared ring from C and leave everything that waits or
repairs to the Go core.  These tests check that the C side reads the ring's layout as
Go defines it, that the two paths interoperate message for message, that C never
overtakes this process's messages still waiting in Go for room, and that a producer or
consumer SIGKILLed in the middle of fast-path calls leaves a queue the others go on
using, with nothing duplicated, reordered or counted twice.
"""

import os
import queue
import random
import signal
import time

import pytest

import queue_fast_targets as ft
from mp_targets import join_within, recv_within

pytestmark = pytest.mark.gompx_only

SMALL = 64 * 1024  # the smallest ring
GET = 10           # seconds a get() may wait for an item that must arrive
KILLS = 6


def go_layout(mp):
    from gompx import _native
    text = _native.ext.gompxcore_QueueLayout()
    return {name: int(value) for name, value in (kv.split("=") for kv in text.split(";"))}


def test_c_layout_is_go_layout(mp):
    from gompx import _gompxsync
    assert _gompxsync.queue_layout() == go_layout(mp)


@pytest.mark.parametrize("kind", ["Queue", "SimpleQueue", "JoinableQueue"])
def test_fast_path_on_after_first_put_and_off_after_close(mp, kind):
    q = getattr(mp, kind)()
    assert q._fast_state() == (True, False)  # gets at once; puts after one through Go
    q.put(1)
    assert q._fast_state() == (True, True)
    q.put(b"two")
    assert q.get() == 1 and q.get() == b"two"
    q.close()
    assert q._fast_state() == (False, False)


def test_c_and_go_paths_interleave(mp):
    q = mp.Queue()
    q.put("warm")  # arms the C put
    assert q.get() == "warm"
    big = b"x" * (100 * 1024)  # through Go: longer than the C path takes
    items = [1, b"b", big, "s", (1, 2), None, 2.5, True, big, b""]
    for x in items:
        q.put(x)  # plain objects and small bytes from C, the rest through Go
    assert q.get_many(3, timeout=GET) == items[:3]  # Go reads what C wrote
    assert [q.get(timeout=GET) for _ in items[3:]] == items[3:]
    q.put_many([7, 8, 9])  # Go writes, C reads
    assert [q.get(), q.get(), q.get()] == [7, 8, 9]
    assert q.qsize() == 0


def test_puts_never_overtake_messages_waiting_for_room(mp):
    # An unbounded queue on the smallest ring, a child reading as fast as it can and a
    # parent putting faster: the ring keeps filling, puts keep going to the backlog in
    # Go's memory, and Go's flusher keeps moving them in as the child makes room.  The
    # lock is free between two of the flusher's messages; a C put that ignored the
    # backlog would land there, ahead of the backlog (with the backlog flag ignored,
    # 4 of 5 such runs of 100,000 items saw an item out of order).
    n = 100000
    for _ in range(3):
        q = mp.Queue(capacity=SMALL)
        r, w = mp.Pipe(duplex=False)
        p = _start(mp, ft.get_in_order, q, n, w)
        w.close()
        for i in range(n):
            q.put(ft.item(i))
        first_wrong = recv_within(r, 60)
        assert join_within(p) == 0
        assert first_wrong is None, "item %d came out of order" % first_wrong


def _start(ctx, target, *args):
    p = ctx.Process(target=target, args=args, daemon=True)
    p.start()
    return p


def _kill_after(p, seconds):
    time.sleep(seconds)
    os.kill(p.pid, signal.SIGKILL)
    code = join_within(p)
    assert code == -signal.SIGKILL, "child exited by itself (code %s)" % code


@pytest.mark.parametrize("batched", [False, True], ids=["put", "put_many"])
@pytest.mark.parametrize("maxsize", [0, 40], ids=["unbounded", "bounded"])
def test_sigkilled_fast_producers_leave_queue_usable(mp, maxsize, batched):
    q = mp.Queue(maxsize)
    rnd = random.Random(1414 + maxsize)
    last = {}  # per producer: the last number got, so each one's items stay in order
    for k in range(KILLS):
        tag = (k + 1) << 40
        r, w = mp.Pipe(duplex=False)
        p = _start(mp, ft.put_many_forever if batched else ft.put_forever, q, w, tag)
        w.close()
        assert recv_within(r, 30) == "ready"
        r.close()
        deadline = time.monotonic() + rnd.uniform(0.01, 0.1)
        while time.monotonic() < deadline:  # consume while it produces
            try:
                x = ft.number(q.get(timeout=0.01))
            except queue.Empty:
                continue
            who = x >> 40
            assert x > last.get(who, -1), "item %#x after %#x" % (x, last[who])
            last[who] = x
        _kill_after(p, 0)
        while True:  # what it published before it died
            try:
                x = ft.number(q.get(timeout=0.5))
            except queue.Empty:
                break
            who = x >> 40
            assert x > last.get(who, -1)
            last[who] = x
    assert len(last) > 0
    # Messages the dead admitted but never published are counted out (its slot is
    # reclaimed), so the queue is empty and a bounded one takes maxsize items again.
    deadline = time.monotonic() + 5
    while q.qsize() != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert q.qsize() == 0
    for i in range(maxsize or 100):
        q.put_nowait(i)
    assert [q.get(timeout=GET) for _ in range(maxsize or 100)] == list(range(maxsize or 100))


@pytest.mark.parametrize("batched", [False, True], ids=["get", "get_many"])
def test_sigkilled_fast_consumers_lose_nothing_out_of_order(mp, batched):
    q = mp.Queue()
    rnd = random.Random(2718)
    n = 0
    for _ in range(KILLS):
        for _ in range(20000):
            q.put(ft.item(n))
            n += 1
        r, w = mp.Pipe(duplex=False)
        p = _start(mp, ft.get_many_forever if batched else ft.get_forever, q, w)
        w.close()
        assert recv_within(r, 30) == "ready"
        r.close()
        _kill_after(p, rnd.uniform(0.001, 0.02))
    # A last batch behind the dead consumers: a fast machine's consumers may have taken
    # every earlier item before their SIGKILL, and then this is what the check sees.
    for _ in range(1000):
        q.put(ft.item(n))
        n += 1
    # The consumers took a prefix; what is left is the rest, each item once, in order.
    rest = []
    while True:
        try:
            rest.append(ft.number(q.get(timeout=0.5)))
        except queue.Empty:
            break
    assert rest and rest == list(range(rest[0], n)), "items lost, repeated or out of order"
    q.put(b"after")
    assert q.get(timeout=GET) == b"after"


SMALL_ITEMS = [0, 1, 255, 256, 65535, 65536, -1, -255, -256, 2**31 - 1, -2**31, None, True, False]
NOT_SMALL = [2**31, -2**31 - 1, 2**100, 1.5, "s", b"b", (1,), [1], {}, 10**40]


def test_c_writes_small_items_as_pickle_does(mp):
    from gompx import _gompxsync
    import pickle
    for x in SMALL_ITEMS:
        assert _gompxsync._small_pickle(x) == pickle.dumps(x, 5), x
    for x in NOT_SMALL:
        assert _gompxsync._small_pickle(x) is None, x


def test_c_reads_small_pickles_as_pickle_does(mp):
    from gompx import _gompxsync
    import pickle
    for x in SMALL_ITEMS:
        ok, item = _gompxsync._small_unpickle(pickle.dumps(x, 5))
        assert ok and item == x and type(item) is type(x), x
    for x in NOT_SMALL:
        assert _gompxsync._small_unpickle(pickle.dumps(x, 5)) == (False, None), x
    for proto in (2, 3, 4):  # other protocols: left to pickle.loads
        assert _gompxsync._small_unpickle(pickle.dumps(70000, proto)) == (False, None)
    for data in (b"", b"\x80\x05K", b"\x80\x05K\x01", b"\x80\x05X\x01.", b"\x80\x05N\x00"):
        assert _gompxsync._small_unpickle(data) == (False, None), data


def test_small_items_round_trip_through_a_child(mp):
    inq, outq = mp.Queue(), mp.Queue()
    p = _start(mp, ft.echo_items, inq, outq, len(SMALL_ITEMS))
    for x in SMALL_ITEMS:
        inq.put(x)
    # the child gets each item and puts back (item, type name)
    back = [outq.get(timeout=GET) for _ in SMALL_ITEMS]
    assert join_within(p) == 0
    assert back == [(x, type(x).__name__) for x in SMALL_ITEMS]


def test_task_done_from_c_counts_and_refuses_past_the_items(mp):
    q = mp.JoinableQueue()
    for i in range(3):
        q.put(i)
    assert [q.get(timeout=GET) for _ in range(3)] == [0, 1, 2]
    assert q._fast_task_done() and q._fast_task_done()
    q.task_done()
    q.join()  # returns: every item is done
    assert not q._fast_task_done()  # one too many: left to Go, which raises
    with pytest.raises(ValueError):
        q.task_done()
    q.close()
    assert not q._fast_task_done()


def _armed(mp, **kw):
    q = mp.Queue(**kw)
    q.put(0)  # through Go: arms the C put
    assert q.get(timeout=GET) == 0
    return q


def test_batches_from_c_interleave_with_go(mp):
    q = _armed(mp)
    big = b"x" * (100 * 1024)  # longer than C takes: Go's
    items = [1, b"b", "s", 2.5, 2**40, None, True, -7, (1, 2), big, "t", 7]
    assert q._fast_put_many(items, 0) == 2  # up to the str, which C leaves to Go
    assert q._fast_put_many(items, 2) == 0
    assert q._fast_get_many(100) == items[:2] and not q._fast_more  # it ran dry
    q.put_many(items)  # C for the leading items, Go from the tuple on
    q.put(b"last")
    got = q._fast_get_many(100)  # C stops before the str: Go's to read
    assert got == items[:2] and q._fast_more
    while len(got) < len(items) + 1:
        got += q.get_many(100, timeout=GET)  # Go reads what C wrote, and the reverse
    assert got == items + [b"last"]
    assert q.qsize() == 0


def test_get_many_returns_the_go_part_of_a_batch_too(mp):
    q = _armed(mp)
    big = b"x" * (100 * 1024)
    q.put_many([1, 2])
    q.put(big)
    q.put(3)
    assert q.get_many(10, timeout=GET) == [1, 2, big, 3]


def test_batches_from_c_meet_the_bound_and_raise_full(mp):
    q = _armed(mp, maxsize=50)
    assert q._fast_put_many(list(range(80)), 0) == 50  # admitted up to maxsize, no wait
    assert q._fast_put_many([80], 0) == 0
    with pytest.raises(queue.Full):
        q.put_many(range(50, 60), timeout=0.05)
    assert q.qsize() == 50
    assert q.get_many(1000) == list(range(50))
    q.put_many(range(100, 140), block=False)
    assert q.get_many(1000) == list(range(100, 140))


def test_batches_from_c_fill_a_small_ring_and_go_waits_for_room(mp):
    # 64 KiB ring: put_many batches larger than the room left go in C as far as they fit,
    # the rest through Go (backlog, wrap, skip records); a child reads them in order.
    q = _armed(mp, capacity=SMALL)
    r, w = mp.Pipe(duplex=False)
    n = 60000
    p = _start(mp, ft.get_many_in_order, q, n, w)
    w.close()
    for start in range(0, n, 1000):
        q.put_many([ft.item(i) for i in range(start, start + 1000)])
    first_wrong = recv_within(r, 60)
    assert join_within(p) == 0
    assert first_wrong is None, "item %d came out of order" % first_wrong


@pytest.mark.parametrize("then", ["get", "get_many", "get_nowait"])
def test_get_many_keeps_its_c_part_when_its_go_part_raises(mp, then):
    # C takes the small items, Go the rest of the batch, whose unpickling fails: the
    # C part is returned, the exception comes next, by any get, and the queue goes on.
    # (What Go's part took along with the failing item is lost, as on the Go path.)
    q = _armed(mp)
    q.put_many([1, 2, ft.Unloadable()])
    assert q.get_many(10, timeout=GET) == [1, 2]
    q.put(3)
    q.put(4)
    take = {"get": lambda: [q.get(timeout=GET)],
            "get_many": lambda: q.get_many(10, timeout=GET),
            "get_nowait": lambda: [q.get_nowait()]}[then]
    with pytest.raises(ft.LoadError):
        take()
    assert q._fast_state() == (True, True) and q._stash is None
    got = []
    while len(got) < 2:
        got += take()
    assert got == [3, 4]


def test_c_takes_small_items_and_bytes_and_leaves_other_pickles_to_go(mp):
    q = _armed(mp)
    assert q._fast_put_many([1, None, b"b", "s", 2], 0) == 3  # stops at the str
    q.put_many(["s", 2])
    assert q._fast_get_many(10) == [1, None, b"b"] and q._fast_more
    assert q.get_many(10, timeout=GET) == ["s", 2]
