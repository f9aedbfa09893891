"""Typed use of gompx's public API, checked by mypy --strict in `make check` (never run).

It must type-check as written; the ``reveal_type``-free asserts below are what a user's
editor would infer.  Each gompx-only name appears at least once.
"""

import warnings
from typing import Any

import gompx
from gompx import queues
from gompx.connection import Connection
from gompx.futures import ProcessPoolExecutor
from gompx.goworkers import GoError, GoPool, WorkerExitedError
from gompx.pool import WorkerLostError
from gompx.shared_memory import SharedMemory
from gompx.synchronize import LockOwnerDiedWarning


def square(x: int) -> int:
    return x * x


def queues_and_batches() -> list[int]:
    q: queues.Queue[int] = gompx.Queue(maxsize=10, capacity=1 << 20)
    q.put(1)
    q.put_many([2, 3, 4], timeout=1.0)
    first: int = q.get()
    rest: list[int] = q.get_many(100, block=False)
    jq: queues.JoinableQueue[str] = gompx.JoinableQueue(capacity=1 << 20)
    jq.put("x")
    jq.task_done()
    sq: queues.SimpleQueue[bytes] = gompx.SimpleQueue(capacity=1 << 20)
    sq.put_many([b"a", b"b"])
    got: list[bytes] = sq.get_many()
    attached: queues.Queue[Any] = queues.attach(3)
    joinable: queues.JoinableQueue[Any] = queues.attach(4, 0, queues.JoinableQueue)
    attached.close()
    joinable.close()
    return [first, *rest, len(got)]


def pools() -> int:
    with gompx.Pool(2) as pool:
        try:
            squares: list[int] = pool.map(square, range(10))
        except WorkerLostError as e:
            print("a worker died:", e)
            return -1
    with ProcessPoolExecutor(max_workers=2) as ex:
        total: int = sum(ex.map(square, range(10)))
    with gompx.Pool(2, cluster="local") as cluster_pool:  # pools over NATS JetStream
        total += sum(cluster_pool.map(square, range(10), chunksize=5))
    return sum(squares) + total


def go_workers(binary: str) -> list[Any]:
    with GoPool(binary, processes=2, start_timeout=5.0) as pool:
        names: tuple[str, ...] = pool.functions
        pids: list[int] = pool.pids
        try:
            return [names, pids, pool.call("sha256", b"x"), pool.map("sha256", [b"a", b"b"])]
        except GoError as e:
            return [e.kind, e.function, e.index]
        except WorkerExitedError as e:
            return [e.pid, e.exitcode]


def locks_and_pipes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", LockOwnerDiedWarning)
        lock = gompx.Lock()
        with lock:
            pass
    a, b = gompx.Pipe()
    assert isinstance(a, Connection)
    a.send({"k": 1})
    print(b.recv())
    ctx = gompx.get_context("forkserver")
    p = ctx.Process(target=square, args=(3,))
    p.start()
    p.join(5.0)
    shm = SharedMemory(create=True, size=16)
    assert shm.buf is not None  # None once closed
    shm.buf[0] = 1
    shm.close()
    shm.unlink()
    v = gompx.Value("i", 0)
    with v.get_lock():
        v.value += 1


if __name__ == "__main__":
    print(queues_and_batches(), pools())
