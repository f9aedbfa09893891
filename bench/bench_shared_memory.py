"""shared_memory: gompx against stdlib multiprocessing, side by side.

Cases (ratio = stdlib time / gompx time; above 1, gompx is faster):

1. write 64 MiB       ``shm.buf[:] = payload`` into a segment whose pages are already
                      in memory                                       target: = stdlib (memcpy)
2. read 64 MiB        ``bytes(shm.buf)``, a new 64 MiB object each time (so the copy and
                      the fresh pages it lands in)                    target: = stdlib
3. first write 64 MiB the same write into a new segment: the kernel finds a page for
                      every 4 KiB as it goes (memfd against a /dev/shm file)  informational
4. create+attach+close  create a 4 KiB segment, attach to it by name, close both and
                      unlink it, all in this process                   informational

Both sides of 1-3 are one memcpy through a MAP_SHARED mapping of a tmpfs page cache
(a memfd in gompx, a /dev/shm file in stdlib): the bytes never go near the Go core, so
the target is equality. After the table, the same copies into and out of a plain
``bytearray`` (private memory, no sharing) show what memcpy alone costs here. Case 4 is
where the two differ: stdlib opens a file and tells its resource tracker (a pipe write)
on create and on attach; gompx makes a memfd and binds an abstract socket on create, and
an attach is a connect and one message carrying the descriptor (SCM_RIGHTS), answered by
a goroutine.

Run with the interpreter's real path, not a pyenv shim::

    /root/.pyenv/versions/3.11.7/bin/python3.11 bench/bench_shared_memory.py --rounds 7
    ... --quick   --only write   --impl gompx   --cpus 0   --json out.json

Options are described in ``_harness.py``.
"""

import importlib
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MiB = 1 << 20
SIZE = 64 * MiB
PAYLOAD = (bytes(range(256)) * (SIZE // 256))


def _sm(mp):
    return importlib.import_module(mp.__name__ + ".shared_memory")


def _fresh(mp, size):
    return _sm(mp).SharedMemory("bench_" + uuid.uuid4().hex[:8], create=True, size=size)


def _done(shm):
    shm.close()
    shm.unlink()


def write(mp, n):
    shm = _fresh(mp, SIZE)
    try:
        shm.buf[:] = PAYLOAD  # every page in place before the clock starts
        t0 = time.perf_counter()
        for _ in range(n):
            shm.buf[:] = PAYLOAD
        elapsed = time.perf_counter() - t0
        if bytes(shm.buf[-256:]) != PAYLOAD[-256:]:
            raise AssertionError("the write did not land")
    finally:
        _done(shm)
    return elapsed / n


def read(mp, n):
    shm = _fresh(mp, SIZE)
    try:
        shm.buf[:] = PAYLOAD
        t0 = time.perf_counter()
        for _ in range(n):
            data = bytes(shm.buf)
        elapsed = time.perf_counter() - t0
        if data[-256:] != PAYLOAD[-256:]:
            raise AssertionError("read the wrong bytes")
        del data
    finally:
        _done(shm)
    return elapsed / n


def first_write(mp, n):
    elapsed = 0.0
    for _ in range(n):
        shm = _fresh(mp, SIZE)
        try:
            t0 = time.perf_counter()
            shm.buf[:] = PAYLOAD
            elapsed += time.perf_counter() - t0
        finally:
            _done(shm)
    return elapsed / n


def create_attach_close(mp, n):
    sm = _sm(mp)
    names = ["bench_" + uuid.uuid4().hex[:8] for _ in range(n)]
    t0 = time.perf_counter()
    for name in names:
        a = sm.SharedMemory(name, create=True, size=4096)
        b = sm.SharedMemory(name)
        b.buf[0] = 1
        b.close()
        a.close()
        a.unlink()
    return (time.perf_counter() - t0) / n


def memcpy_reference(rounds=5, n=10):
    """Medians of the same copies through a memoryview of a private bytearray."""
    target = memoryview(bytearray(SIZE))
    target[:] = PAYLOAD
    writes, reads = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            target[:] = PAYLOAD
        writes.append((time.perf_counter() - t0) / n)
        t0 = time.perf_counter()
        for _ in range(n):
            data = bytes(target)
        reads.append((time.perf_counter() - t0) / n)
        del data
    return statistics.median(writes), statistics.median(reads)


def cases():
    """The cases of this benchmark, counts calibrated for a 2-core machine."""
    from _harness import Case
    return [
        Case("SharedMemory write 64 MiB", "ms/64 MiB", "= stdlib (memcpy)", 1.0,
             write, n=20, quick_n=2),
        Case("SharedMemory read 64 MiB", "ms/64 MiB", "= stdlib", 1.0,
             read, n=10, quick_n=2),
        Case("SharedMemory first write 64 MiB", "ms/64 MiB", "informational", 1.0,
             first_write, n=5, quick_n=1),
        Case("create+attach+close 4 KiB", "µs/segment", "informational", 1.0,
             create_attach_close, n=300, quick_n=10),
    ]


if __name__ == "__main__":
    from _harness import main
    status = main(cases(), description=__doc__)
    if status == 0:
        w, r = memcpy_reference(rounds=3 if "--quick" in sys.argv else 5)
        print(f"\nmemcpy reference (a memoryview of a bytearray, same copies): write 64 MiB "
              f"{w * 1e3:.2f} ms ({SIZE / w / 1e9:.1f} GB/s), read 64 MiB {r * 1e3:.2f} ms "
              f"({SIZE / r / 1e9:.1f} GB/s)")
    raise SystemExit(status)
