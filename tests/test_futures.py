"""ProcessPoolExecutor: stdlib's concurrent.futures and gompx.futures side by side."""

import concurrent.futures as cf
import importlib
import sys
import time

import pytest

import pool_targets as T


@pytest.fixture
def Executor(impl, ctx):
    if impl == "stdlib":
        from concurrent.futures import ProcessPoolExecutor as cls
    else:
        cls = importlib.import_module("gompx.futures").ProcessPoolExecutor

    def make(*args, **kwargs):
        kwargs.setdefault("mp_context", ctx)
        return cls(*args, **kwargs)
    return make


@pytest.fixture
def BrokenProcessPool(impl):
    if impl == "stdlib":
        from concurrent.futures.process import BrokenProcessPool
        return BrokenProcessPool
    return importlib.import_module("gompx.futures").BrokenProcessPool


def test_submit_result_and_exception(Executor):
    with Executor(2) as ex:
        assert ex.submit(T.square, 6).result(10) == 36
        assert ex.submit(T.kw, 1, b=2, c=3).result(10) == (1, 2, 3)
        f = ex.submit(T.raise_value_error, 5)
        with pytest.raises(ValueError, match="bad value 5") as info:
            f.result(10)
        assert "raise_value_error" in str(info.value.__cause__)
        assert isinstance(f.exception(10), ValueError)


def test_map_with_chunksize_and_timeout(Executor):
    with Executor(2) as ex:
        assert list(ex.map(T.square, range(20))) == [x * x for x in range(20)]
        assert list(ex.map(T.add, range(10), range(10), chunksize=3)) == \
            [2 * x for x in range(10)]
        assert list(ex.map(T.square, [])) == []
        with pytest.raises(ValueError, match="chunksize must be >= 1"):
            ex.map(T.square, [1], chunksize=0)
        with pytest.raises(cf.TimeoutError):
            list(ex.map(T.sleep_then, [1, 2], [1, 1], timeout=0.05))


def test_as_completed_and_wait(Executor):
    with Executor(2) as ex:
        fs = [ex.submit(T.sleep_then, i, 0.01) for i in range(8)]
        assert sorted(f.result() for f in cf.as_completed(fs, timeout=10)) == list(range(8))
        done, not_done = cf.wait(fs, timeout=10)
        assert len(done) == 8 and not not_done


def test_shutdown_rules(Executor):
    ex = Executor(1)
    f = ex.submit(T.square, 3)
    ex.shutdown(wait=True)
    assert f.result(0) == 9
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        ex.submit(T.square, 1)
    ex.shutdown()  # twice is harmless


def test_shutdown_cancel_futures(Executor):
    ex = Executor(1)
    fs = [ex.submit(T.sleep_then, i, 0.2) for i in range(12)]
    time.sleep(0.1)
    ex.shutdown(wait=True, cancel_futures=True)
    assert fs[0].result(0) == 0
    cancelled = [f for f in fs if f.cancelled()]
    assert len(cancelled) >= 6
    assert all(f.done() for f in fs)


def test_cancel_pending_future(Executor):
    with Executor(1) as ex:
        first = ex.submit(T.sleep_then, 0, 0.3)
        fs = [ex.submit(T.square, i) for i in range(10)]
        assert fs[-1].cancel() and fs[-1].cancelled()
        assert first.result(10) == 0
        assert [f.result(10) for f in fs[:-1]] == [i * i for i in range(9)]


def _needs_max_tasks(impl):
    if impl == "stdlib" and sys.version_info < (3, 11):
        pytest.skip("stdlib's max_tasks_per_child is new in CPython 3.11")


def test_initializer(Executor):
    with Executor(2, initializer=T.init_global, initargs=("x",)) as ex:
        assert {ex.submit(T.read_global).result(10) for _ in range(4)} == {"x"}


def test_max_tasks_per_child(Executor, impl):
    _needs_max_tasks(impl)
    with Executor(1, max_tasks_per_child=2) as ex:
        pids = [ex.submit(T.pid).result(10) for _ in range(6)]
        assert len(set(pids)) == 3


def test_constructor_errors(Executor):
    with pytest.raises(ValueError, match="max_workers must be greater than 0"):
        Executor(0)
    with pytest.raises(TypeError, match="initializer must be a callable"):
        Executor(1, initializer=5)


def test_max_tasks_per_child_errors(Executor, impl):
    _needs_max_tasks(impl)
    with pytest.raises(TypeError, match="max_tasks_per_child must be an integer"):
        Executor(1, max_tasks_per_child="2")
    with pytest.raises(ValueError, match="max_tasks_per_child must be >= 1"):
        Executor(1, max_tasks_per_child=0)


def test_worker_death_breaks_the_executor(Executor, BrokenProcessPool):
    ex = Executor(2)
    try:
        start = time.monotonic()
        f = ex.submit(T.exit_with, 1)
        with pytest.raises(BrokenProcessPool):
            f.result(10)
        assert time.monotonic() - start < 5
        with pytest.raises(BrokenProcessPool):
            ex.submit(T.square, 1)
    finally:
        ex.shutdown(wait=True)


def test_failing_initializer_breaks_the_executor(Executor, BrokenProcessPool):
    ex = Executor(1, initializer=T.init_fail)
    try:
        with pytest.raises(BrokenProcessPool):
            ex.submit(T.square, 2).result(10)
    finally:
        ex.shutdown(wait=True)


@pytest.mark.gompx_only
def test_dropped_executor_stops_its_workers(Executor):
    import gc
    ex = Executor(2)
    assert [f.result(10) for f in [ex.submit(T.square, i) for i in range(4)]] == [0, 1, 4, 9]
    workers = list(ex._pool._pool)
    del ex
    gc.collect()
    deadline = time.monotonic() + 5
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(w.is_alive() for w in workers)
