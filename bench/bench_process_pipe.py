"""Process start and Pipe transfer: gompx against stdlib multiprocessing, side by side.

Cases and the issue's targets (ratio = stdlib time / gompx time; above 1, gompx is faster):

1. spawn start+join       Process with a no-op target, "spawn" context       ratio >= 1.0
2. forkserver start+join  same, "forkserver" context, server warmed first    ratio >= 2.0
3. pipe round trip        send (1, "x", 2.0) to a child echo, recv it back   ratio >= 2.0
4. send_bytes 1 MiB       one way to a child's recv_bytes, per MiB,          ratio >= 5.0
                          the final acknowledgement included, a warm Pipe
5. the same on a fresh Pipe: 60 MiB, the first transfer's set-up inside     ratio >= 5.0
6. send_bytes 1 MiB child -> parent: a child sends 60 MiB on a fresh Pipe   ratio >= 5.0
                          (the parent's recv_bytes of each), per MiB
7. the same sent as bytes objects (send, pickled) and received with recv    ratio >= 5.0
8. as 6 with 16 MiB messages (larger than gompx's ring), 128 MiB            ratio >= 5.0

Targets are issue #14's (Pipe 1 MiB send_bytes >= 5x in both directions, Pipe round trip
of an object >= 2x; with ``--hogs 2`` no case below 1.0x). Both implementations use
``mp.get_context("spawn")`` (stdlib's Linux default is fork) for every case but 2, which
uses ``mp.get_context("forkserver")``. Child targets live in
``_targets.py`` beside this file, because spawned children re-import them by name.

Run with the interpreter's real path, not a pyenv shim: a shim is a script that picks the
interpreter from PYENV_VERSION and the current directory's ``.python-version``, so the one
measured (and the one gompx must be installed into) may not be the one meant. The header
prints ``sys.executable``, the interpreter that spawned children run too::

    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_process_pipe.py            # ~1.5 min
    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_process_pipe.py --quick    # ~15 s
    ... --impl stdlib   (gompx not installed)   --only pipe   --rounds 11   --json out.json
    ... --cpus 0        (pin everything to CPU 0: the stable numbers for the pipe cases)

On 2 cores the pipe cases are bimodal unpinned (parent and child on one CPU or on two);
``--cpus 0`` removes that noise. Options are described in ``_harness.py``.
"""

# Spawned children re-import this module as __mp_main__: keep its top level to the
# standard library's cheapest imports so that they pay nothing for the harness.
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _targets

MiB = 1 << 20
SMALL_OBJECT = (1, "x", 2.0)


def _start_join(method, warm_server):
    def run(mp, n):
        ctx = mp.get_context(method)
        if warm_server:  # the forkserver's one-time start is not what is measured
            p = ctx.Process(target=_targets.noop)
            p.start()
            p.join()
        t0 = time.perf_counter()
        for _ in range(n):
            p = ctx.Process(target=_targets.noop)
            p.start()
            p.join()
            if p.exitcode != 0:
                raise RuntimeError(f"{method} child exited with code {p.exitcode}")
        return (time.perf_counter() - t0) / n
    return run


def pipe_round_trip(mp, n):
    """Seconds per send+recv of a small tuple through a child that echoes it."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_targets.echo, args=(child,), daemon=True)  # no hang on error
    p.start()
    child.close()
    try:
        for _ in range(50):  # child started and both ends warm
            parent.send(SMALL_OBJECT)
            parent.recv()
        t0 = time.perf_counter()
        for _ in range(n):
            parent.send(SMALL_OBJECT)
            got = parent.recv()
        elapsed = time.perf_counter() - t0
        if got != SMALL_OBJECT:
            raise RuntimeError(f"echo returned {got!r}, sent {SMALL_OBJECT!r}")
        parent.send(None)
        p.join()
    finally:
        parent.close()
    return elapsed / n


def _send_batch(conn, payload, n):
    for _ in range(n):
        conn.send_bytes(payload)
    conn.send_bytes(b"")
    total = conn.recv()
    if total != n * len(payload):
        raise RuntimeError(f"child acknowledged {total} bytes, {n * len(payload)} were sent")


def send_bytes_mib(mp, n):
    """Seconds per 1 MiB send_bytes to a child's recv_bytes, its final ack included."""
    ctx = mp.get_context("spawn")
    payload = bytes(range(256)) * (MiB // 256)
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_targets.sink_bytes, args=(child,), daemon=True)  # no hang on error
    p.start()
    child.close()
    try:
        _send_batch(parent, payload, 4)  # child started and both ends warm
        parent.send(True)
        t0 = time.perf_counter()
        _send_batch(parent, payload, n)
        elapsed = time.perf_counter() - t0
        parent.send(None)
        p.join()
    finally:
        parent.close()
    return elapsed / n


def _fresh_pipe_from_child(size, objects):
    def run(mp, n):
        """Seconds per MiB a child sends in *n* messages of *size* bytes on a fresh Pipe,
        received by the parent (recv_bytes, or recv with *objects*): the clock starts
        when the parent tells the child, once it is up, to go, and stops at the last
        byte, so the first transfer's one-time costs (a ring's set-up) are inside."""
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_targets.source_bytes, args=(child, n, size, objects),
                        daemon=True)
        p.start()
        child.close()
        recv = parent.recv if objects else parent.recv_bytes
        try:
            if parent.recv() != "ready":  # the child is up: its start is not timed
                raise RuntimeError("the child did not say ready")
            t0 = time.perf_counter()
            parent.send(True)
            total = 0
            for _ in range(n):
                total += len(recv())
            elapsed = time.perf_counter() - t0
            p.join()
        finally:
            parent.close()
        if total != n * size:
            raise RuntimeError(f"received {total} bytes, the child sent {n * size}")
        return elapsed / (n * size / MiB)
    return run


def _fresh_pipe_to_child(size):
    def run(mp, n):
        """Seconds per MiB the parent sends in *n* send_bytes of *size* bytes on a fresh
        Pipe to a child's recv_bytes, from the first send to the child's acknowledgement."""
        ctx = mp.get_context("spawn")
        payload = bytes(range(256)) * (size // 256)
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_targets.sink_once, args=(child,), daemon=True)
        p.start()
        child.close()
        try:
            if parent.recv() != "ready":
                raise RuntimeError("the child did not say ready")
            t0 = time.perf_counter()
            _send_batch(parent, payload, n)
            elapsed = time.perf_counter() - t0
            p.join()
        finally:
            parent.close()
        return elapsed / (n * size / MiB)
    return run


def cases():
    """The cases of this benchmark, counts calibrated for a 2-core machine."""
    from _harness import Case
    return [
        Case("spawn start+join", "ms/start", "no slower than stdlib spawn", 1.0,
             _start_join("spawn", warm_server=False), n=30, quick_n=10),
        Case("forkserver start+join", "ms/start", "<= half of stdlib forkserver", 2.0,
             _start_join("forkserver", warm_server=True), n=300, quick_n=100),
        Case("pipe round trip (1, 'x', 2.0)", "µs/round trip", "2x stdlib", 2.0,
             pipe_round_trip, n=25000, quick_n=8000),
        Case("send_bytes 1 MiB parent -> child", "ms/MiB", "5x stdlib", 5.0,
             send_bytes_mib, n=2000, quick_n=700),
        Case("send_bytes 1 MiB parent -> child, fresh Pipe", "ms/MiB", "5x stdlib", 5.0,
             _fresh_pipe_to_child(MiB), n=60, quick_n=20),
        Case("send_bytes 1 MiB child -> parent, fresh Pipe", "ms/MiB", "5x stdlib", 5.0,
             _fresh_pipe_from_child(MiB, objects=False), n=60, quick_n=20),
        Case("send 1 MiB bytes object child -> parent, fresh Pipe", "ms/MiB", "5x stdlib",
             5.0, _fresh_pipe_from_child(MiB, objects=True), n=60, quick_n=20),
        Case("send_bytes 16 MiB child -> parent, fresh Pipe", "ms/MiB", "5x stdlib", 5.0,
             _fresh_pipe_from_child(16 * MiB, objects=False), n=8, quick_n=3),
    ]


if __name__ == "__main__":
    from _harness import main
    raise SystemExit(main(cases(), description=__doc__))
