"""Pipe and Connection semantics: framing, flags, errors, poll, close, EOF."""

import array
import math
import os
import pickle
import select
import socket
import time

import pytest

import mp_targets as t
from mp_targets import Background, join_within, recv_within


# --- Pipe shapes ----------------------------------------------------------------------

def test_duplex_pipe_both_ways(mp):
    a, b = mp.Pipe()
    assert (a.readable, a.writable, b.readable, b.writable) == (True, True, True, True)
    assert (a.closed, b.closed) == (False, False)
    a.send("a to b")
    assert recv_within(b, 5) == "a to b"
    b.send("b to a")
    assert recv_within(a, 5) == "b to a"
    a2, b2 = mp.Pipe(duplex=True)
    a2.send_bytes(b"x")
    assert b2.recv_bytes() == b"x"


def test_simplex_pipe_flags(mp):
    r, w = mp.Pipe(duplex=False)
    assert (r.readable, r.writable) == (True, False)
    assert (w.readable, w.writable) == (False, True)
    w.send(123)
    assert recv_within(r, 5) == 123


def test_simplex_wrong_direction_raises(mp):
    r, w = mp.Pipe(duplex=False)
    with pytest.raises(OSError, match="connection is read-only"):
        r.send(1)
    with pytest.raises(OSError, match="connection is read-only"):
        r.send_bytes(b"x")
    with pytest.raises(OSError, match="connection is write-only"):
        w.recv()
    with pytest.raises(OSError, match="connection is write-only"):
        w.recv_bytes()
    with pytest.raises(OSError, match="connection is write-only"):
        w.recv_bytes_into(bytearray(4))
    with pytest.raises(OSError, match="connection is write-only"):
        w.poll()
    # The misuse did not break the pipe.
    w.send("still fine")
    assert recv_within(r, 5) == "still fine"


# --- send / recv ----------------------------------------------------------------------

VALUES = [
    None, True, False, 0, -1, 2 ** 100, -(2 ** 70), 1.5, math.inf, 3 + 4j,
    "", "héllo ✓ 世界", b"", b"\x00\xff" * 3, bytearray(b"ba"),
    [1, [2, [3, []]]], (1,), (), {"a": {1: (2, 3)}}, {1, 2, 3}, frozenset({"x"}),
    t.Point(1, "y"), range(3, 9, 2), slice(1, 2),
]


@pytest.mark.parametrize("value", VALUES, ids=[type(v).__name__ + str(i)
                                               for i, v in enumerate(VALUES)])
def test_send_recv_roundtrip(mp, value):
    a, b = mp.Pipe()
    a.send(value)
    got = recv_within(b, 5)
    assert type(got) is type(value)
    assert got == value


def test_nan_and_shared_references(mp):
    a, b = mp.Pipe()
    shared = [1, 2]
    a.send({"nan": math.nan, "x": shared, "y": shared})
    got = recv_within(b, 5)
    assert math.isnan(got["nan"])
    assert got["x"] == [1, 2] and got["x"] is got["y"]


def test_send_unpicklable_raises_and_pipe_survives(mp):
    a, b = mp.Pipe()

    def local():
        pass

    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        a.send(local)
    with pytest.raises(TypeError, match="Unpicklable refuses"):
        a.send(t.Unpicklable())
    assert b.poll(0.1) is False  # nothing half-written
    a.send("after")
    assert recv_within(b, 5) == "after"


def test_many_small_messages_keep_order(mp):
    a, b = mp.Pipe()
    n = 5000
    bg = Background(lambda: [a.send(i) for i in range(n)])
    got = [recv_within(b, 10) for _ in range(n)]
    bg.finish()
    assert got == list(range(n))
    assert b.poll(0) is False


def test_send_and_send_bytes_interleave(mp):
    a, b = mp.Pipe()
    a.send_bytes(b"raw")
    a.send(("obj", 1))
    a.send_bytes(b"")
    assert b.recv_bytes() == b"raw"
    assert b.recv() == ("obj", 1)
    assert b.recv_bytes() == b""
    # recv_bytes sees the pickle send() framed; recv loads what send_bytes framed.
    a.send({"k": "v"})
    assert pickle.loads(b.recv_bytes()) == {"k": "v"}
    a.send_bytes(pickle.dumps([4, 5]))
    assert b.recv() == [4, 5]


# --- send_bytes / recv_bytes ----------------------------------------------------------

def test_send_bytes_accepts_buffers(mp):
    a, b = mp.Pipe()
    for buf, want in [
        (b"bytes", b"bytes"),
        (bytearray(b"bytearray"), b"bytearray"),
        (memoryview(b"memoryview"), b"memoryview"),
        (array.array("i", [1, 2]), array.array("i", [1, 2]).tobytes()),
    ]:
        a.send_bytes(buf)
        got = b.recv_bytes()
        assert type(got) is bytes
        assert got == want


def test_send_bytes_offset_and_size(mp):
    a, b = mp.Pipe()
    buf = b"0123456789"
    cases = [((2,), b"23456789"), ((2, 3), b"234"), ((10,), b""), ((0, 0), b""),
             ((0, 10), buf), ((9, 1), b"9")]
    for args, want in cases:
        a.send_bytes(buf, *args)
        assert b.recv_bytes() == want, args
    a.send_bytes(buf, offset=1, size=2)
    assert b.recv_bytes() == b"12"
    ints = array.array("i", [10, 20, 30])
    a.send_bytes(ints, ints.itemsize, ints.itemsize)  # offset and size count bytes
    assert b.recv_bytes() == array.array("i", [20]).tobytes()


@pytest.mark.parametrize("args,message", [
    ((-1,), "offset is negative"),
    ((11,), "buffer length < offset"),
    ((0, -1), "size is negative"),
    ((5, 6), "buffer length < offset \\+ size"),
])
def test_send_bytes_bad_offset_or_size(mp, args, message):
    a, b = mp.Pipe()
    with pytest.raises(ValueError, match=message):
        a.send_bytes(b"0123456789", *args)
    assert b.poll(0.1) is False
    a.send_bytes(b"ok")
    assert b.recv_bytes() == b"ok"


def test_empty_message_is_a_message(mp):
    a, b = mp.Pipe()
    a.send_bytes(b"")
    assert b.poll(5) is True
    assert b.recv_bytes() == b""
    assert b.poll(0) is False


def test_recv_bytes_maxlength(mp):
    a, b = mp.Pipe()
    a.send_bytes(b"x" * 100)
    assert b.recv_bytes(100) == b"x" * 100  # exactly at the limit
    a.send_bytes(b"y" * 101)
    with pytest.raises(OSError, match="bad message length"):
        b.recv_bytes(100)


def test_recv_bytes_negative_maxlength(mp):
    a, b = mp.Pipe()
    a.send_bytes(b"kept")
    with pytest.raises(ValueError, match="negative maxlength"):
        b.recv_bytes(-1)
    assert b.recv_bytes() == b"kept"


@pytest.mark.gompx_only
def test_gompx_connection_usable_after_maxlength_error(mp):
    a, b = mp.Pipe()
    a.send_bytes(b"z" * 1000)
    a.send_bytes(b"next")
    a.send("object after")
    with pytest.raises(OSError):
        b.recv_bytes(10)
    assert b.closed is False
    assert b.recv_bytes(10) == b"next"
    assert recv_within(b, 5) == "object after"
    b.send("reply")
    assert recv_within(a, 5) == "reply"


# --- recv_bytes_into ------------------------------------------------------------------

def test_recv_bytes_into(mp):
    a, b = mp.Pipe()
    buf = bytearray(10)
    a.send_bytes(b"hello")
    assert b.recv_bytes_into(buf) == 5
    assert buf == bytearray(b"hello\0\0\0\0\0")
    a.send_bytes(b"abc")
    assert b.recv_bytes_into(buf, 7) == 3
    assert buf == bytearray(b"hello\0\0abc")
    a.send_bytes(b"0123456789")
    assert b.recv_bytes_into(buf) == 10  # exact fit
    assert buf == bytearray(b"0123456789")
    a.send_bytes(b"")
    assert b.recv_bytes_into(buf, 10) == 0


def test_recv_bytes_into_array_offset_in_bytes(mp):
    a, b = mp.Pipe()
    arr = array.array("i", [0] * 5)
    a.send_bytes(array.array("i", [42, 1729]))
    assert b.recv_bytes_into(arr) == 2 * arr.itemsize
    assert arr.tolist() == [42, 1729, 0, 0, 0]
    a.send_bytes(array.array("i", [7]))
    assert b.recv_bytes_into(arr, 3 * arr.itemsize) == arr.itemsize
    assert arr.tolist() == [42, 1729, 0, 7, 0]
    view = memoryview(bytearray(8))
    a.send_bytes(b"mv")
    assert b.recv_bytes_into(view, 6) == 2
    assert view.tobytes() == b"\0" * 6 + b"mv"


def test_recv_bytes_into_too_short(mp):
    a, b = mp.Pipe()
    buf = bytearray(b"----")
    a.send_bytes(b"too long message")
    a.send_bytes(b"fits")
    with pytest.raises(mp.BufferTooShort) as info:
        b.recv_bytes_into(buf)
    assert isinstance(info.value, mp.ProcessError)
    assert info.value.args[0] == b"too long message"
    assert buf == bytearray(b"----")
    # The long message was consumed; the next one arrives normally.
    assert b.recv_bytes_into(buf) == 4 and buf == bytearray(b"fits")
    a.send_bytes(b"abc")
    with pytest.raises(mp.BufferTooShort) as info:
        b.recv_bytes_into(bytearray(5), 3)  # offset leaves room for 2 bytes only
    assert info.value.args[0] == b"abc"


def test_recv_bytes_into_bad_offset(mp):
    a, b = mp.Pipe()
    a.send_bytes(b"queued")
    with pytest.raises(ValueError, match="negative offset"):
        b.recv_bytes_into(bytearray(8), -1)
    with pytest.raises(ValueError, match="offset too large"):
        b.recv_bytes_into(bytearray(8), 9)
    # Argument errors are raised before reading: the message is still there.
    assert b.recv_bytes() == b"queued"


# --- poll -----------------------------------------------------------------------------

def test_poll(mp):
    a, b = mp.Pipe()
    assert b.poll() is False
    assert b.poll(0) is False
    t0 = time.monotonic()
    assert b.poll(0.2) is False
    assert 0.15 <= time.monotonic() - t0 < 5
    a.send(1)
    assert b.poll() is True
    assert b.poll(0) is True
    assert b.poll(5) is True
    assert b.poll() is True  # poll does not consume
    assert b.recv() == 1
    assert b.poll() is False


def test_poll_none_blocks_until_data(mp):
    a, b = mp.Pipe()
    bg = Background(lambda: (time.sleep(0.3), a.send("late")))
    t0 = time.monotonic()
    assert b.poll(None) is True
    assert time.monotonic() - t0 >= 0.2
    bg.finish()
    assert b.recv() == "late"


def test_poll_reports_eof(mp):
    a, b = mp.Pipe()
    a.close()
    assert b.poll(5) is True
    with pytest.raises(EOFError):
        b.recv()


# --- EOF, broken pipe, closed handles -------------------------------------------------

@pytest.mark.parametrize("duplex", [True, False], ids=["duplex", "simplex"])
def test_eof_after_other_end_closed(mp, duplex):
    r, w = mp.Pipe(duplex=duplex)
    w.send("last words")
    w.send_bytes(b"raw last")
    w.close()
    assert recv_within(r, 5) == "last words"
    assert r.recv_bytes() == b"raw last"
    with pytest.raises(EOFError):
        r.recv()
    with pytest.raises(EOFError):
        r.recv_bytes()
    with pytest.raises(EOFError):
        r.recv_bytes_into(bytearray(10))


@pytest.mark.parametrize("duplex", [True, False], ids=["duplex", "simplex"])
def test_send_to_closed_peer_raises(mp, duplex):
    r, w = mp.Pipe(duplex=duplex)
    r.close()
    with pytest.raises(OSError):
        w.send("nobody listens")
    with pytest.raises(OSError):
        w.send_bytes(b"x" * 100_000)


def test_eof_when_child_exits_without_sending(ctx):
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.hold, args=(w, 0.2))
    p.start()
    w.close()  # the parent's copy; the child's copy is the last writer
    assert r.poll(10) is True  # EOF once the child exits
    with pytest.raises(EOFError):
        r.recv()
    assert join_within(p) == 0


def test_eof_after_child_sent_and_exited(ctx):
    mine, theirs = ctx.Pipe()
    p = ctx.Process(target=t.send, args=(theirs, "only message"))
    p.start()
    theirs.close()
    assert recv_within(mine) == "only message"
    assert join_within(p) == 0
    assert mine.poll(10) is True
    with pytest.raises(EOFError):
        mine.recv()


CLOSED_USES = {
    "send": lambda c: c.send(1),
    "send_bytes": lambda c: c.send_bytes(b"x"),
    "recv": lambda c: c.recv(),
    "recv_bytes": lambda c: c.recv_bytes(),
    "recv_bytes_into": lambda c: c.recv_bytes_into(bytearray(4)),
    "poll": lambda c: c.poll(),
    "fileno": lambda c: c.fileno(),
}


@pytest.mark.parametrize("use", sorted(CLOSED_USES))
def test_closed_handle_raises(mp, use):
    a, b = mp.Pipe()
    b.send("pending")  # data waiting does not make a closed handle usable
    a.close()
    assert a.closed is True
    with pytest.raises(OSError, match="handle is closed"):
        CLOSED_USES[use](a)


def test_close_is_idempotent(mp):
    a, b = mp.Pipe()
    a.close()
    a.close()
    assert a.closed is True and b.closed is False


def test_context_manager(mp):
    a, b = mp.Pipe()
    with a as entered:
        assert entered is a
        a.send("inside")
    assert a.closed is True
    assert recv_within(b, 5) == "inside"
    r, w = mp.Pipe(duplex=False)
    with r, w:
        w.send_bytes(b"both")
        assert r.recv_bytes() == b"both"
    assert r.closed and w.closed
    c, d = mp.Pipe()
    with pytest.raises(KeyError):
        with c:
            raise KeyError("propagates")
    assert c.closed is True


def test_fileno_is_a_live_descriptor(mp):
    a, b = mp.Pipe()
    fa, fb = a.fileno(), b.fileno()
    assert isinstance(fa, int) and isinstance(fb, int)
    assert fa >= 0 and fb >= 0 and fa != fb
    os.fstat(fa)
    os.fstat(fb)
    assert select.select([b], [], [], 0)[0] == []
    a.send("wake")
    assert select.select([b], [], [], 5)[0] == [b]
    assert b.recv() == "wake"
    assert a.fileno() == fa  # stable


# --- Connection objects built from descriptors ----------------------------------------

def test_connection_from_socketpair(mpconn):
    s1, s2 = socket.socketpair()
    a, b = mpconn.Connection(s1.detach()), mpconn.Connection(s2.detach())
    a.send({"over": "socketpair"})
    assert recv_within(b, 5) == {"over": "socketpair"}
    b.send_bytes(b"back")
    assert a.recv_bytes() == b"back"
    a.close()
    with pytest.raises(EOFError):
        b.recv()
    b.close()


def test_connection_constructor_errors(mpconn):
    with pytest.raises(ValueError, match="invalid handle"):
        mpconn.Connection(-1)
    s1, s2 = socket.socketpair()
    try:
        with pytest.raises(ValueError, match="at least one of `readable` and `writable`"):
            mpconn.Connection(s1.fileno(), readable=False, writable=False)
    finally:
        s1.close()
        s2.close()


def test_connection_readable_writable_flags(mpconn):
    s1, s2 = socket.socketpair()
    ro = mpconn.Connection(s1.detach(), writable=False)
    wo = mpconn.Connection(s2.detach(), readable=False)
    assert (ro.readable, ro.writable, wo.readable, wo.writable) == (True, False, False, True)
    with pytest.raises(OSError, match="connection is read-only"):
        ro.send(1)
    wo.send(2)
    assert recv_within(ro, 5) == 2
    ro.close()
    wo.close()
