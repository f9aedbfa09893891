"""connection.wait over connections, process sentinels, sockets and raw descriptors."""

import os
import socket
import time

import pytest

import mp_targets as t
from mp_targets import Background, join_within, recv_within


def test_wait_timeout_with_nothing_ready(mp, mpconn):
    a, b = mp.Pipe()
    c, d = mp.Pipe()
    t0 = time.monotonic()
    ready = mpconn.wait([b, d], 0.2)
    assert ready == [] and isinstance(ready, list)
    assert 0.15 <= time.monotonic() - t0 < 5
    assert mpconn.wait([b, d], 0) == []


def test_wait_returns_exactly_the_ready_objects(mp, mpconn):
    pairs = [mp.Pipe() for _ in range(20)]
    readers = [b for _, b in pairs]
    chosen = {3, 7, 19}
    for i in chosen:
        pairs[i][0].send(i)
    ready = mpconn.wait(readers, 5)
    assert sorted(readers.index(r) for r in ready) == sorted(chosen)
    assert all(any(r is x for x in readers) for r in ready)  # the same objects
    for r in ready:
        assert r.recv() == readers.index(r)
    assert mpconn.wait(readers, 0) == []


def test_wait_none_blocks_until_ready(mp, mpconn):
    a, b = mp.Pipe()
    bg = Background(lambda: (time.sleep(0.3), a.send("late")))
    t0 = time.monotonic()
    assert mpconn.wait([b], None) == [b]
    assert time.monotonic() - t0 >= 0.2
    assert b.recv() == "late"
    bg.finish()
    bg2 = Background(lambda: (time.sleep(0.2), a.send("again")))
    assert mpconn.wait([b]) == [b]  # timeout defaults to None
    bg2.finish()


def test_wait_sees_eof_as_ready(mp, mpconn):
    a, b = mp.Pipe()
    a.close()
    assert mpconn.wait([b], 5) == [b]
    with pytest.raises(EOFError):
        b.recv()


def test_wait_on_empty_list(mpconn):
    t0 = time.monotonic()
    assert mpconn.wait([], 0.1) == []
    assert time.monotonic() - t0 < 5


def test_wait_mixes_connections_and_sentinels(ctx, mpconn):
    data_r, data_w = ctx.Pipe(duplex=False)
    go_r, go_w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.send_then_wait_go, args=(data_w, go_r, "hello"))
    p.start()
    data_w.close()
    go_r.close()
    assert mpconn.wait([data_r, p.sentinel], 10) == [data_r]
    assert data_r.recv() == "hello"
    assert mpconn.wait([data_r, p.sentinel], 0.1) == []
    go_w.send("go")
    assert mpconn.wait([p.sentinel], 10) == [p.sentinel]
    assert join_within(p) == 0
    # The child held the only other copy of data_w: EOF now makes data_r ready too.
    assert set(mpconn.wait([data_r, p.sentinel], 10)) == {data_r, p.sentinel}


def test_wait_on_several_sentinels(ctx, mpconn):
    fast = ctx.Process(target=t.sys_exit, args=(0,))
    slow_r, slow_w = ctx.Pipe()
    slow = ctx.Process(target=t.wait_for_go, args=(slow_w,))
    fast.start()
    slow.start()
    assert mpconn.wait([fast.sentinel, slow.sentinel], 10) == [fast.sentinel]
    slow_r.send("go")
    deadline = time.monotonic() + 10
    ready = []
    while slow.sentinel not in ready and time.monotonic() < deadline:
        ready = mpconn.wait([fast.sentinel, slow.sentinel], 1)
    assert set(ready) == {fast.sentinel, slow.sentinel}
    assert join_within(fast) == 0 and join_within(slow) == 0


def test_wait_on_sockets(mp, mpconn):
    s1, s2 = socket.socketpair()
    a, b = mp.Pipe()
    try:
        assert mpconn.wait([s2, b], 0.1) == []
        s1.sendall(b"ping")
        assert mpconn.wait([s2, b], 5) == [s2]
        assert s2.recv(4) == b"ping"
        a.send("conn")
        assert mpconn.wait([s2, b], 5) == [b]
        s1.sendall(b"x")
        assert set(mpconn.wait([s2, b], 5)) == {s2, b}
    finally:
        s1.close()
        s2.close()


def test_wait_on_raw_descriptor(mpconn):
    rfd, wfd = os.pipe()
    try:
        assert mpconn.wait([rfd], 0.1) == []
        os.write(wfd, b"!")
        assert mpconn.wait([rfd], 5) == [rfd]
    finally:
        os.close(rfd)
        os.close(wfd)


def test_wait_on_connection_from_child(ctx, mpconn):
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.send_after, args=(w, "from child", 0.3))
    p.start()
    w.close()
    assert mpconn.wait([r], 0.05) == []
    assert mpconn.wait([r], 10) == [r]
    assert recv_within(r, 1) == "from child"
    assert join_within(p) == 0
