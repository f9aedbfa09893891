"""ProcessPoolExecutor: stdlib's concurrent.futures and gompx.futures side by side.

Every case runs on a cluster executor too (id "cluster", cluster_variant.py) but those
marked no_cluster, with the reason.
"""

import concurrent.futures as cf
import importlib
import sys
import time

import pytest

import pool_targets as T

CLUSTER_VARIANT = True
# The executor's own worker processes and its manager thread: a cluster executor has
# neither (`gompx worker` on the worker machines runs the calls).
OWN_WORKERS = pytest.mark.no_cluster(
    "looks at the executor's own worker processes or manager thread (_processes, "
    "_executor_manager_thread); a cluster executor's workers belong to `gompx worker`")
# ClusterExecutor's documented differences (gompx/cluster.py): a lost worker process or a
# call that cannot run fails that call with WorkerLostError (other machines' workers run
# on) instead of breaking the executor; a submitted call is already queued in the cluster,
# so it cannot be cancelled.
NOT_BROKEN = pytest.mark.no_cluster(
    "a cluster executor fails the one call (WorkerLostError) and does not break: the other "
    "machines' workers run on")
NO_CANCEL = pytest.mark.no_cluster(
    "a cluster call is queued in the cluster once submitted: it cannot be cancelled")


@pytest.fixture
def Executor(impl, ctx):
    if impl == "stdlib":
        from concurrent.futures import ProcessPoolExecutor as cls
    else:
        cls = importlib.import_module("gompx.futures").ProcessPoolExecutor

    def make(*args, **kwargs):
        kwargs.setdefault("mp_context", ctx)
        if impl == "cluster":
            kwargs.update(ctx.options())
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


@NO_CANCEL
def test_shutdown_cancel_futures(Executor):
    ex = Executor(1)
    fs = [ex.submit(T.sleep_then, i, 0.2) for i in range(12)]
    time.sleep(0.1)
    ex.shutdown(wait=True, cancel_futures=True)
    assert fs[0].result(0) == 0
    cancelled = [f for f in fs if f.cancelled()]
    assert len(cancelled) >= 6
    assert all(f.done() for f in fs)


@NO_CANCEL
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
        if impl == "cluster":
            # max_workers does not bound the worker machines' processes: the calls may
            # be spread over more than one, each retiring after 2.
            assert max(pids.count(p) for p in pids) <= 2 and len(set(pids)) >= 3
        else:
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


@NOT_BROKEN
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


@NOT_BROKEN
def test_failing_initializer_breaks_the_executor(Executor, BrokenProcessPool, capfd):
    ex = Executor(2, initializer=T.init_fail)
    try:
        with pytest.raises(BrokenProcessPool):
            ex.submit(T.square, 2).result(10)
        assert ex._broken  # at once, not at the next submit
        with pytest.raises(BrokenProcessPool):
            ex.submit(T.square, 3)
    finally:
        ex.shutdown(wait=True)
    # The worker logs it on the concurrent.futures logger (stderr: no handler there).
    err = capfd.readouterr().err
    assert "Exception in initializer:" in err
    assert "RuntimeError: initializer failed on purpose" in err


# --- where a call can go wrong: the exception CPython's executor gives -------------------

def test_call_raising_system_exit_fails_only_its_future(Executor):
    with Executor(1) as ex:
        with pytest.raises(SystemExit) as info:
            ex.submit(T.call_sys_exit, 5).result(10)
        assert info.value.code == 5
        assert ex.submit(T.square, 4).result(10) == 16


def test_result_that_cannot_be_pickled_fails_with_the_pickling_error(Executor):
    with Executor(1) as ex:
        with pytest.raises(TypeError, match="refuses to be pickled"):
            ex.submit(T.result_refuses_pickling).result(10)
        with pytest.raises(SystemExit):
            ex.submit(T.result_exits_when_pickled).result(10)
        assert ex.submit(T.square, 5).result(10) == 25


@NOT_BROKEN
def test_task_that_cannot_be_unpickled_breaks_the_executor(Executor, BrokenProcessPool):
    ex = Executor(1)
    try:
        with pytest.raises(BrokenProcessPool):
            ex.submit(T.identity, T.LoadFails()).result(30)
        with pytest.raises(BrokenProcessPool):
            ex.submit(T.square, 1)
    finally:
        ex.shutdown(wait=True)


@NOT_BROKEN
@pytest.mark.parametrize("target", ["result_load_fails", "result_exits_when_loaded"])
def test_result_the_parent_cannot_unpickle_breaks_the_executor(Executor, BrokenProcessPool,
                                                               target):
    # The unpickling error (or SystemExit) happens in the parent's result thread: it must
    # break the executor, not hang it or kill that thread.
    ex = Executor(2)
    try:
        waiting = ex.submit(T.sleep_then, 1, 30)
        with pytest.raises(BrokenProcessPool) as info:
            ex.submit(getattr(T, target)).result(30)
        assert info.value.__cause__ is not None
        with pytest.raises(BrokenProcessPool):
            waiting.result(30)
        assert ex._broken
        with pytest.raises(BrokenProcessPool):
            ex.submit(T.square, 1)
    finally:
        ex.shutdown(wait=True)


@OWN_WORKERS
# --- workers on demand --------------------------------------------------------------------

def test_calls_one_after_another_reuse_one_worker(Executor):
    with Executor(4) as ex:
        assert ex._processes == {}
        pids = {ex.submit(T.pid).result(10) for _ in range(5)}
        assert len(pids) == 1
        assert len(ex._processes) == 1


@OWN_WORKERS
def test_calls_that_wait_start_a_worker_each_up_to_max_workers(Executor, ctx):
    with ctx.Manager() as manager:
        event = manager.Event()
        with Executor(3) as ex:
            fs = [ex.submit(T.wait_for, event) for _ in range(5)]
            assert len(ex._processes) == 3
            event.set()
            assert {f.result(30) for f in fs} <= set(ex._processes)


def assert_finished(manager, workers, fs):
    """The manager thread ended, every worker exited cleanly, every call returned."""
    manager.join(30)
    assert not manager.is_alive()
    for w in workers:
        w.join(10)
        assert w.exitcode == 0
    assert [f.result(0) for f in fs] == [0, 1, 2, 3]


@OWN_WORKERS
def test_shutdown_without_wait_lets_the_manager_thread_finish(Executor):
    ex = Executor(2)
    fs = [ex.submit(T.sleep_then, i, 0.1) for i in range(4)]
    manager = ex._executor_manager_thread
    workers = list(ex._processes.values())
    ex.shutdown(wait=False)
    assert_finished(manager, workers, fs)


def test_interpreter_exit_finishes_the_submitted_calls(impl, run_script):
    module = "concurrent.futures" if impl == "stdlib" else "gompx.futures"
    context = "multiprocessing" if impl == "stdlib" else "gompx"
    cluster = ', cluster="local"' if impl == "cluster" else ""
    result = run_script(f"""if 1:
        import {context} as mp
        from {module} import ProcessPoolExecutor
        import pool_targets as T
        if __name__ == "__main__":
            ex = ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"){cluster})
            ex.submit(T.print_after, "apple", 0.5)
        """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "apple"
    assert result.stderr == ""


@OWN_WORKERS
def test_dropped_executor_finishes_its_calls_and_stops_its_workers(Executor):
    import gc
    ex = Executor(2)
    fs = [ex.submit(T.sleep_then, i, 0.1) for i in range(4)]
    workers = list(ex._processes.values())
    manager = ex._executor_manager_thread
    del ex
    gc.collect()
    assert_finished(manager, workers, fs)
