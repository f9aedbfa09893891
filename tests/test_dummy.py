"""gompx.dummy against multiprocessing.dummy: the same API on threads."""

import importlib
import threading
import time

import pytest


@pytest.fixture
def dummy(mp):
    return importlib.import_module(mp.__name__ + ".dummy")


def slow_square(x):
    time.sleep(0.01)
    return x * x


def fail_on_3(x):
    if x == 3:
        raise ValueError("three")
    return x


def test_thread_pool_api(dummy):
    local = []  # threads share memory: an unpicklable closure is fine
    with dummy.Pool(3) as p:
        assert p.apply(lambda a, b=0: a + b, (1,), {"b": 2}) == 3
        assert p.map(lambda x: x * 2, range(20)) == [x * 2 for x in range(20)]
        assert p.map(slow_square, range(10), chunksize=3) == [x * x for x in range(10)]
        assert p.starmap(pow, [(2, 3), (3, 2)]) == [8, 9]
        assert list(p.imap(slow_square, range(10))) == [x * x for x in range(10)]
        assert list(p.imap(slow_square, iter(range(10)), chunksize=4)) == \
            [x * x for x in range(10)]
        assert sorted(p.imap_unordered(slow_square, range(10))) == [x * x for x in range(10)]
        r = p.map_async(slow_square, [1, 2], callback=local.append)
        assert r.get(10) == [1, 4]
        r = p.apply_async(local.append, ("x",))
        r.wait(10)
        assert r.ready() and r.successful() and "x" in local
        assert p.map(slow_square, []) == []


def test_thread_pool_errors(mp, dummy):
    with dummy.Pool(2) as p:
        with pytest.raises(ValueError, match="three"):
            p.map(fail_on_3, range(5))
        it = p.imap(fail_on_3, range(5))
        assert [next(it), next(it), next(it)] == [0, 1, 2]
        with pytest.raises(ValueError, match="three"):
            next(it)
        assert list(it) == [4]
        r = p.apply_async(time.sleep, (0.3,))
        with pytest.raises(ValueError, match="not ready"):
            r.successful()
        with pytest.raises(mp.TimeoutError):
            r.get(0.01)
        with pytest.raises(ValueError, match="Chunksize must be 1"):
            p.imap(fail_on_3, [1], chunksize=0)
    with pytest.raises(ValueError, match="Pool not running"):
        p.apply(fail_on_3, (1,))
    with pytest.raises(ValueError, match="Number of processes must be at least 1"):
        dummy.Pool(0)


def test_thread_pool_close_join_and_initializer(dummy):
    seen = []
    p = dummy.Pool(2, initializer=seen.append, initargs=("init",))
    r = p.map_async(slow_square, range(8), chunksize=1)
    p.close()
    p.join()
    assert r.get(0) == [x * x for x in range(8)] and seen == ["init", "init"]
    with pytest.raises(ValueError, match="Pool is still running"):
        q = dummy.Pool(1)
        try:
            q.join()
        finally:
            q.terminate()


def test_pool_module_thread_pool(mp):
    pool_mod = importlib.import_module(mp.__name__ + ".pool")
    with pool_mod.ThreadPool(2) as p:
        assert p.map(abs, [-1, -2]) == [1, 2]


def test_process_queue_pipe_and_friends(dummy):
    q = dummy.Queue()
    out = []
    t = dummy.Process(target=lambda: out.append(q.get()))
    t.start()
    q.put("hello")
    t.join(5)
    assert out == ["hello"] and t.exitcode == 0 and not t.is_alive()
    a, b = dummy.Pipe()
    a.send({"k": 1})
    assert b.poll(1) and b.recv() == {"k": 1}
    assert not a.poll()
    from importlib import import_module
    conn = import_module(dummy.__name__ + ".connection")
    with conn.Listener() as listener:
        client = conn.Client(listener.address)
        server = listener.accept()
        client.send("ping")
        assert server.recv() == "ping"
    for name in ("Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event",
                 "Barrier", "JoinableQueue", "Manager", "current_process",
                 "active_children", "freeze_support"):
        assert hasattr(dummy, name), name
    assert dummy.current_process() is threading.current_thread()


def test_terminate_does_not_wait_for_pending_tasks(mp, dummy):
    p = dummy.Pool(1)
    p.apply_async(time.sleep, (0.5,))
    pending = p.apply_async(slow_square, (2,))
    time.sleep(0.05)
    start = time.monotonic()
    p.terminate()
    assert time.monotonic() - start < 0.4
    p.join()
    if mp.__name__ == "gompx":  # stdlib leaves it pending for ever
        with pytest.raises(mp.pool.WorkerLostError):
            pending.get(1)
