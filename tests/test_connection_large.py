"""Large messages: 1, 16 and 64 MiB with content checks, runs of them, mixed sizes, and
between processes in both directions.  gompx moves these through shared memory; the
stdlib through the pipe -- the observable behaviour must be the same."""

import pytest

import mp_targets as t
from mp_targets import Background, assert_same, join_within, recv_within

MiB = 1 << 20
SIZES = [1 * MiB, 16 * MiB, 64 * MiB]
SIZE_IDS = ["1MiB", "16MiB", "64MiB"]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("duplex", [True, False], ids=["duplex", "simplex"])
def test_large_send_bytes_in_process(mp, size, duplex):
    r, w = mp.Pipe(duplex=duplex)
    data = t.pattern(size, seed=size)
    bg = Background(w.send_bytes, data)
    assert r.poll(30)
    assert_same(r.recv_bytes(), data)
    bg.finish()
    assert r.poll(0) is False


@pytest.mark.parametrize("size", SIZES[:2], ids=SIZE_IDS[:2])
def test_large_object_send_recv(mp, size):
    a, b = mp.Pipe()
    obj = {"head": "h", "blob": t.pattern(size, 1), "tail": list(range(10))}
    bg = Background(a.send, obj)
    got = recv_within(b, 30)
    bg.finish()
    assert got["head"] == "h" and got["tail"] == list(range(10))
    assert_same(got["blob"], obj["blob"])


def test_large_recv_bytes_into(mp):
    a, b = mp.Pipe()
    data = t.pattern(16 * MiB, 2)
    buf = bytearray(16 * MiB + 100)
    bg = Background(a.send_bytes, data)
    assert b.poll(30)
    assert b.recv_bytes_into(buf, 100) == len(data)
    bg.finish()
    assert buf[:100] == bytearray(100)
    assert_same(bytes(buf[100:]), data)


def test_large_recv_bytes_into_too_short(mp):
    a, b = mp.Pipe()
    data = t.pattern(4 * MiB, 3)
    bg = Background(t.send_all_bytes, a, [data, b"after"])
    assert b.poll(30)
    with pytest.raises(mp.BufferTooShort) as info:
        b.recv_bytes_into(bytearray(MiB))
    assert_same(info.value.args[0], data)
    assert b.recv_bytes() == b"after"
    bg.finish()


def test_large_message_over_maxlength(mp):
    a, b = mp.Pipe()
    bg = Background(a.send_bytes, t.pattern(4 * MiB, 4))
    assert b.poll(30)
    with pytest.raises(OSError, match="bad message length"):
        b.recv_bytes(MiB)
    b.close()  # releases a sender still blocked on the unread rest (stdlib)
    bg.thread.join(30)
    assert not bg.thread.is_alive()


@pytest.mark.gompx_only
def test_gompx_large_message_over_maxlength_then_next(mp):
    a, b = mp.Pipe()
    nxt = t.pattern(2 * MiB, 6)
    bg = Background(t.send_all_bytes, a, [t.pattern(16 * MiB, 5), nxt, b"small"])
    assert b.poll(30)
    with pytest.raises(OSError):
        b.recv_bytes(MiB)
    assert_same(b.recv_bytes(), nxt)
    assert b.recv_bytes(5) == b"small"
    bg.finish()


def test_many_large_messages_in_a_row(mp):
    a, b = mp.Pipe()
    sizes = [4 * MiB] * 12 + [8 * MiB] * 4
    bg = Background(t.send_patterns, a, sizes)
    for i, size in enumerate(sizes):
        assert b.poll(30), i
        assert_same(b.recv_bytes(), t.pattern(size, i))
    bg.finish()  # send_patterns closed its end
    assert b.poll(10)
    with pytest.raises(EOFError):
        b.recv_bytes()


MIXED = [0, 10, 3 * MiB, 1, 200 * 1024, 17 * MiB, 5, 65536, 65537, 16383, 16384, 16385,
         2 * MiB, 0, 64 * MiB, 7]


def test_mixed_small_and_large(mp):
    a, b = mp.Pipe()

    def sender():
        for i, size in enumerate(MIXED):
            a.send_bytes(t.pattern(size, i))
            a.send(("marker", i, t.pattern(size // 3, i + 100)))

    bg = Background(sender)
    for i, size in enumerate(MIXED):
        assert b.poll(30), i
        assert_same(b.recv_bytes(), t.pattern(size, i))
        kind, n, blob = recv_within(b, 30)
        assert (kind, n) == ("marker", i)
        assert_same(blob, t.pattern(size // 3, i + 100))
    bg.finish()


def test_large_both_directions_at_once(mp):
    a, b = mp.Pipe()
    to_b = [t.pattern(16 * MiB, 7), t.pattern(MiB, 8)]
    to_a = [t.pattern(16 * MiB, 9), t.pattern(MiB, 10)]
    bg_a = Background(t.send_all_bytes, a, to_b)
    bg_b = Background(t.send_all_bytes, b, to_a)
    for want in to_b:
        assert b.poll(30)
        assert_same(b.recv_bytes(), want)
    for want in to_a:
        assert a.poll(30)
        assert_same(a.recv_bytes(), want)
    bg_a.finish()
    bg_b.finish()


# --- between processes ----------------------------------------------------------------

def context(mp, method):
    return mp if method == "default" else mp.get_context(method)


@pytest.mark.parametrize("method", ["default", "spawn", "forkserver"])
def test_large_parent_to_child(mp, method):
    ctx = context(mp, method)
    inbox_r, inbox_w = ctx.Pipe(duplex=False)
    out_r, out_w = ctx.Pipe(duplex=False)
    sizes = SIZES + [0, 100, 5 * MiB]
    p = ctx.Process(target=t.digest_received, args=(inbox_r, out_w, len(sizes)))
    p.start()
    inbox_r.close()
    out_w.close()
    for i, size in enumerate(sizes):
        data = t.pattern(size, i)
        bg = Background(inbox_w.send_bytes, data)
        assert recv_within(out_r, 60) == (size, t.digest(data)), i
        bg.finish()
    assert join_within(p, 30) == 0


@pytest.mark.parametrize("method", ["default", "spawn", "forkserver"])
def test_large_child_to_parent(mp, method):
    ctx = context(mp, method)
    r, w = ctx.Pipe(duplex=False)
    sizes = SIZES + [0, 100, 5 * MiB, 16 * MiB]
    p = ctx.Process(target=t.send_patterns, args=(w, sizes))
    p.start()
    w.close()
    for i, size in enumerate(sizes):
        assert r.poll(60), i
        assert_same(r.recv_bytes(), t.pattern(size, i))
    assert join_within(p, 30) == 0
    assert r.poll(10)
    with pytest.raises(EOFError):
        r.recv_bytes()


def test_large_objects_child_to_parent(ctx):
    r, w = ctx.Pipe(duplex=False)
    sizes = [16 * MiB, 10, 4 * MiB]
    p = ctx.Process(target=t.send_pattern_objects, args=(w, sizes))
    p.start()
    w.close()
    for i, size in enumerate(sizes):
        n, blob = recv_within(r, 60)
        assert n == i
        assert_same(blob, t.pattern(size, i))
    assert join_within(p, 30) == 0


def test_large_echo_through_child(ctx):
    mine, theirs = ctx.Pipe()
    sizes = [16 * MiB, 1, 16 * MiB]
    p = ctx.Process(target=t.echo_bytes, args=(theirs, len(sizes)))
    p.start()
    theirs.close()
    for i, size in enumerate(sizes):
        data = t.pattern(size, 50 + i)
        bg = Background(mine.send_bytes, data)
        assert mine.poll(60), i
        assert_same(mine.recv_bytes(), data)
        bg.finish()
    assert join_within(p, 30) == 0
