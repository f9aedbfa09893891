"""Child targets of test_queue_fastpath.py: loops of the puts and gets that gompx's C
fast path serves (bytes and plain objects), run until the test SIGKILLs them."""

import struct


def item(i):
    """Item i: 8 bytes of its number, then padding to 40 bytes (a fast-path payload)."""
    return struct.pack("<Q", i) + b"." * 32


def number(data):
    return struct.unpack_from("<Q", data)[0]


def put_forever(q, ready, tag):
    """Put item(tag + i) for i = 0, 1, ... until killed; report on *ready* first."""
    ready.send("ready")
    i = 0
    put = q.put
    while True:
        put(item(tag + i))
        i += 1


def get_forever(q, ready):
    """Get items until killed; report on *ready* first."""
    ready.send("ready")
    get = q.get
    while True:
        get()


def get_in_order(q, n, out):
    """Get *n* items and send on *out* the first number out of sequence, or None."""
    for expected in range(n):
        x = number(q.get(timeout=30))
        if x != expected:
            out.send(x)
            return
    out.send(None)


def echo_items(inq, outq, n):
    """Get *n* items from *inq* and put back (item, its type's name) on *outq*."""
    got = [inq.get(timeout=30) for _ in range(n)]
    for x in got:
        outq.put((x, type(x).__name__))


def put_many_forever(q, ready, tag):
    """As put_forever, in put_many batches of 100 items."""
    ready.send("ready")
    i = 0
    put_many = q.put_many
    while True:
        put_many([item(tag + i + k) for k in range(100)])
        i += 100


def get_many_forever(q, ready):
    """As get_forever, with get_many(100)."""
    ready.send("ready")
    get_many = q.get_many
    while True:
        get_many(100)


def get_many_in_order(q, n, out):
    """Get *n* items with get_many and send on *out* the first number out of sequence,
    or None."""
    expected = 0
    while expected < n:
        for x in q.get_many(1000, timeout=30):
            if number(x) != expected:
                out.send(number(x))
                return
            expected += 1
    out.send(None)


class LoadError(Exception):
    pass


def _refuse():
    raise LoadError("refused to unpickle")


class Unloadable:
    """Pickles fine; unpickling it raises LoadError."""

    def __reduce__(self):
        return _refuse, ()
