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
