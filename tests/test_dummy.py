"""gompx.dummy against multiprocessing.dummy: the same API on threads."""

import gc
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


def _finishes(fn, *args, timeout=10):
    """Run fn(*args) in a daemon thread; return or raise what it does, or fail if it hangs."""
    out = []

    def call():
        try:
            out.append((True, fn(*args)))
        except BaseException as e:
            out.append((False, e))

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "%s%r did not return within %ss" % (fn.__name__, args, timeout)
    ok, value = out[0]
    if not ok:
        raise value
    return value


def _connected_pairs(dummy):
    yield dummy.Pipe()
    conn = importlib.import_module(dummy.__name__ + ".connection")
    listener = conn.Listener()
    client = conn.Client(listener.address)
    yield listener.accept(), client


def test_poll_timeout_waits_then_answers(dummy):
    for a, b in _connected_pairs(dummy):
        start = time.monotonic()
        assert _finishes(a.poll, 0.2) is False  # waited, nothing came
        assert 0.15 <= time.monotonic() - start < 5
        for empty in ((), (0,), (-1,), (-1.5,)):
            start = time.monotonic()
            assert a.poll(*empty) is False and time.monotonic() - start < 0.1
        b.send("x")
        assert a.poll() is True and a.poll(1) is True and a.recv() == "x"


def test_poll_wakes_when_the_peer_sends(dummy):
    for a, b in _connected_pairs(dummy):
        sender = threading.Timer(0.1, b.send_bytes, (b"late",))
        sender.start()
        start = time.monotonic()
        assert _finishes(a.poll, 5) is True  # the sender is not locked out while we wait
        assert time.monotonic() - start < 4
        sender.join(5)
        assert not sender.is_alive() and a.recv_bytes() == b"late"


@pytest.mark.gompx_only
def test_poll_none_waits_and_bad_timeouts_raise(dummy):
    a, b = dummy.Pipe()
    threading.Timer(0.1, b.send, (1,)).start()
    assert _finishes(a.poll, None) is True and a.recv() == 1
    with pytest.raises(ValueError, match="NaN"):
        _finishes(a.poll, float("nan"))
    with pytest.raises(TypeError):
        a.poll("1")
    with pytest.raises(OverflowError):
        a.poll(float("inf"))


def _running_pool_threads(dummy, closed):
    workers = []
    pool = dummy.Pool(2, initializer=lambda: workers.append(threading.current_thread()))
    assert pool.map(abs, [-1, -2]) == [1, 2] and len(workers) == 2
    if closed:
        pool.close()
    return pool, workers


def test_dropped_running_pool_warns_and_its_threads_exit(dummy):
    pool, workers = _running_pool_threads(dummy, closed=False)
    with pytest.warns(ResourceWarning, match="unclosed running multiprocessing pool"):
        del pool
        gc.collect()
    for t in workers:
        t.join(10)
        assert not t.is_alive()


def test_dropped_closed_pool_is_quiet_and_its_threads_exit(dummy):
    import warnings
    pool, workers = _running_pool_threads(dummy, closed=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del pool
        gc.collect()
    for t in workers:
        t.join(10)
        assert not t.is_alive()


def test_terminate_right_after_map_async(mp, dummy):
    # As CPython's test_terminate: the pool hands the tasks over after map_async() returns,
    # so at most the few a worker picked up meanwhile still run; the rest never start.
    p = dummy.Pool(3)
    started = []
    result = p.map_async(lambda x: started.append(x) or time.sleep(x), [0.3] * 10_000,
                         chunksize=1)
    p.terminate()
    _finishes(p.join)
    assert len(started) <= 3
    if mp.__name__ == "gompx":
        with pytest.raises(mp.pool.WorkerLostError):
            result.get(1)


@pytest.mark.gompx_only
def test_terminate_ends_an_endless_imap(mp, dummy):
    p = dummy.Pool(2)
    it = p.imap(slow_square, iter(int, 1))  # zeros for ever
    assert next(it) == 0
    _finishes(p.terminate)  # the feeder must not refill the queue as terminate() drains it
    with pytest.raises(mp.pool.WorkerLostError):
        for _ in range(100_000):
            _finishes(it.next, 5)
    _finishes(p.join)
