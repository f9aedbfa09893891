"""Pool: every method and error path, on stdlib and gompx; the never-hang cases on gompx.

The never-hang cases (a worker that dies at each stage, Ctrl-C, terminate with work in
flight) hang stdlib's Pool, so they run on gompx alone.  Every case runs on a cluster pool
too (id "cluster", cluster_variant.py) but those marked no_cluster, with the reason.
"""

import functools
import os
import signal
import sys
import time

import pytest

import pool_targets as T

CLUSTER_VARIANT = True
# A cluster pool's worker processes belong to `gompx worker`, not to the pool.
OWN_WORKERS = pytest.mark.no_cluster(
    "looks at or kills the pool's own worker processes (pool._pool); a cluster pool's "
    "workers belong to `gompx worker` on the worker machines")


@pytest.fixture
def pool(ctx):
    p = ctx.Pool(2)
    yield p
    p.terminate()
    p.join()


# --- the API on both implementations -----------------------------------------------------

def test_apply_and_apply_async(pool):
    assert pool.apply(T.square, (7,)) == 49
    assert pool.apply(T.kw, (1,), {"b": 2, "c": 3}) == (1, 2, 3)
    r = pool.apply_async(T.add, (2, 3))
    assert r.get(10) == 5
    assert r.ready() and r.successful()


def test_map_starmap_and_chunksizes(pool):
    data = list(range(100))
    want = [x * x for x in data]
    assert pool.map(T.square, data) == want
    assert pool.map(T.square, data, chunksize=1) == want
    assert pool.map(T.square, data, chunksize=7) == want
    assert pool.map(T.square, data, chunksize=1000) == want
    assert pool.map(T.square, iter(data)) == want  # no len(): made a list first
    assert pool.map(T.square, []) == []
    assert pool.starmap(T.add, [(1, 2), (3, 4)]) == [3, 7]
    assert pool.starmap_async(T.add, [(5, 6)]).get(10) == [11]
    assert pool.map_async(T.square, [3]).get(10) == [9]


def test_map_of_long_chunks(mp, pool):
    """Chunks long enough to stream (submitted one by one, results taken as they come):
    the values, a failure anywhere (the first chunk, the last, two of them), and a get()
    that times out before a later one takes the whole result."""
    data = list(range(3000))
    assert pool.map(T.square, data, chunksize=300) == [x * x for x in data]
    assert pool.starmap(T.add, [(x, 1) for x in data], chunksize=400) == [x + 1 for x in data]
    for bad in (0, 2999, 1500):
        with pytest.raises(ValueError, match="task %d failed" % bad):
            pool.map(functools.partial(T.fail_on, bad=bad), data, chunksize=300)
    r = pool.map_async(T.fail_on, data, chunksize=300)  # fails on 3: the first chunk
    with pytest.raises(ValueError, match="task 3 failed"):
        r.get(10)
    # 4 chunks of 256 x 1 ms: two rounds of ~0.26 s on 2 workers.
    r = pool.map_async(functools.partial(T.sleep_then, seconds=0.001), range(1024), chunksize=256)
    with pytest.raises(mp.TimeoutError):
        r.get(0.01)
    assert r.get(60) == list(range(1024))


def test_automatic_chunksize_is_stdlibs(pool):
    # divmod(len, processes * 4), rounded up: 100 items on 2 processes -> 13.
    assert pool.map_async(T.square, range(100))._chunksize == 13
    assert pool.map_async(T.square, range(8))._chunksize == 1
    assert pool.map_async(T.square, range(9))._chunksize == 2


def test_imap_and_imap_unordered(pool):
    data = list(range(50))
    assert list(pool.imap(T.square, data)) == [x * x for x in data]
    assert list(pool.imap(T.square, data, chunksize=4)) == [x * x for x in data]
    assert list(pool.imap(T.square, iter(data))) == [x * x for x in data]
    assert sorted(pool.imap_unordered(T.square, data)) == [x * x for x in data]
    assert sorted(pool.imap_unordered(T.square, iter(data), chunksize=3)) == \
        [x * x for x in data]
    assert list(pool.imap(T.square, [])) == []
    big = (x for x in range(3000))  # a generator past one submission batch
    assert list(pool.imap(T.square, big)) == [x * x for x in range(3000)]


def test_imap_next_timeout(mp, pool):
    it = pool.imap(T.sleep_then, [1], )
    with pytest.raises(mp.TimeoutError):
        it.next(timeout=0.001)
    assert it.next(timeout=10) == 1
    with pytest.raises(StopIteration):
        it.next(timeout=10)


def test_imap_chunksize_must_be_positive(pool):
    with pytest.raises(ValueError, match="Chunksize must be 1"):
        pool.imap(T.square, [1], chunksize=0)


def test_imap_raises_at_the_failing_position_and_goes_on(pool):
    it = pool.imap(T.fail_on, range(6))
    assert [next(it), next(it), next(it)] == [0, 10, 20]
    with pytest.raises(ValueError, match="task 3 failed"):
        next(it)
    assert list(it) == [40, 50]


def test_imap_of_a_failing_iterable(pool):
    def gen():
        yield 1
        yield 2
        raise KeyError("iterable broke")
    it = pool.imap(T.square, gen())
    assert next(it) == 1
    assert next(it) == 4
    with pytest.raises(KeyError):
        next(it)


def test_worker_exception_carries_the_remote_traceback(mp, pool):
    with pytest.raises(ValueError, match="bad value 3") as info:
        pool.apply(T.raise_value_error, (3,))
    cause = info.value.__cause__
    assert type(cause).__name__ == "RemoteTraceback"
    assert "raise_value_error" in str(cause) and "Traceback" in str(cause)
    with pytest.raises(ValueError, match="task 3 failed"):
        pool.map(T.fail_on, range(6))
    r = pool.map_async(T.fail_on, range(6), chunksize=1)
    r.wait(10)
    assert r.ready() and not r.successful()


def test_unpicklable_result_fails_only_its_task(mp, pool):
    r1 = pool.apply_async(T.unpicklable_result, (1,))
    r2 = pool.apply_async(T.unpicklable_result, (2,))
    with pytest.raises(Exception) as info:
        r1.get(10)
    assert type(info.value).__name__ == "MaybeEncodingError"
    assert "Error sending result" in str(info.value)
    assert r2.get(10) == 2
    assert pool.apply(T.square, (4,)) == 16


def test_unpicklable_function_or_arguments(pool):
    import pickle
    r = pool.apply_async(lambda: 1)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        r.get(10)
    with pytest.raises(TypeError, match="refuses to be pickled"):
        pool.map(T.identity, [1, T.Unpicklable(), 3])
    assert pool.apply(T.square, (5,)) == 25


def test_async_result_states(mp, pool):
    r = pool.apply_async(T.sleep_then, (1, 0.3))
    assert not r.ready()
    with pytest.raises(ValueError, match="not ready"):
        r.successful()
    with pytest.raises(mp.TimeoutError):
        r.get(timeout=0.01)
    r.wait(0.01)
    assert not r.ready()
    r.wait()
    assert r.ready() and r.successful() and r.get() == 1


def test_callbacks(pool):
    import threading
    got, errors = [], []
    done = threading.Event()
    r = pool.apply_async(T.square, (6,), callback=got.append)
    assert r.get(10) == 36 and got == [36]  # the callback ran before get returned
    r = pool.apply_async(T.raise_value_error, (1,), error_callback=errors.append)
    r.wait(10)
    assert r.ready() and isinstance(errors[0], ValueError)
    r = pool.map_async(T.square, [1, 2], callback=lambda v: (got.append(v), done.set()))
    assert r.get(10) == [1, 4] and done.wait(10) and got[-1] == [1, 4]
    r = pool.map_async(T.fail_on, [3], error_callback=errors.append)
    r.wait(10)
    assert isinstance(errors[-1], ValueError)


def test_initializer_runs_in_every_worker(ctx):
    with ctx.Pool(2, initializer=T.init_global, initargs=("ready",)) as p:
        assert set(p.map(T.read_global, range(8), chunksize=1)) == {"ready"}


def test_maxtasksperchild_recycles_workers(ctx):
    with ctx.Pool(2, maxtasksperchild=2) as p:
        pids = p.map(T.pid, range(12), chunksize=1)
        assert len(set(pids)) >= 6
        assert p.map(T.square, range(30), chunksize=1) == [x * x for x in range(30)]


def test_maxtasksperchild_map_sent_to_starting_workers(ctx):
    # gompx sends the tasks before the workers start; the first to answer took back the
    # unread tasks of the other, which then waited forever for tasks the pool believed
    # it had sent (it counted the tasks taken back): the map never finished.
    for _ in range(3):
        with ctx.Pool(2, maxtasksperchild=2) as p:
            assert len(p.map_async(T.pid, range(4), chunksize=1).get(60)) == 4


def test_constructor_errors(ctx):
    with pytest.raises(ValueError, match="Number of processes must be at least 1"):
        ctx.Pool(0)
    with pytest.raises(ValueError, match="maxtasksperchild must be a positive int or None"):
        ctx.Pool(1, maxtasksperchild=0)
    with pytest.raises(TypeError, match="initializer must be a callable"):
        ctx.Pool(1, initializer=3)


def test_closed_pool_refuses_work(pool):
    pool.close()
    for call in (lambda: pool.apply(T.square, (1,)), lambda: pool.apply_async(T.square, (1,)),
                 lambda: pool.map(T.square, [1]), lambda: pool.imap(T.square, [1]),
                 lambda: pool.imap_unordered(T.square, [1]),
                 lambda: pool.starmap(T.add, [(1, 2)])):
        with pytest.raises(ValueError, match="Pool not running"):
            call()
    pool.join()


def test_join_needs_close(pool):
    with pytest.raises(ValueError, match="Pool is still running"):
        pool.join()


@OWN_WORKERS
def test_close_lets_submitted_work_finish(ctx):
    p = ctx.Pool(2)
    r = p.map_async(T.sleep_then, range(6), chunksize=1)
    p.close()
    p.join()
    assert r.get(0) == list(range(6))
    assert all(w.exitcode == 0 for w in p._pool)


def test_context_manager(ctx):
    with ctx.Pool(2) as p:
        assert p.apply(T.square, (3,)) == 9
    with pytest.raises(ValueError, match="Pool not running"):
        p.apply(T.square, (3,))
    with pytest.raises(ValueError):
        with p:
            pass


@OWN_WORKERS
def test_terminate_returns_promptly_with_work_in_flight(ctx):
    p = ctx.Pool(2)
    p.map_async(T.sleep_long, range(4), chunksize=1)
    time.sleep(0.3)
    start = time.monotonic()
    p.terminate()
    p.join()
    assert time.monotonic() - start < 5
    assert all(w.exitcode is not None for w in p._pool)


def test_pool_cannot_be_pickled(pool):
    import pickle
    with pytest.raises(NotImplementedError):
        pickle.dumps(pool)


def test_repr(pool):
    assert "state=RUN" in repr(pool) and "pool_size=2" in repr(pool)


# --- never hang: gompx only (stdlib's Pool waits forever in each case) -------------------

def _lost(exc, code):
    return type(exc).__name__ == "WorkerLostError" and "exited with code %d" % code in str(exc)


@OWN_WORKERS
@pytest.mark.gompx_only
def test_worker_killed_mid_task_fails_that_task_only(mp, pool):
    start = time.monotonic()
    rs = [pool.apply_async(T.kill_self, (i,)) for i in range(6)]
    for i, r in enumerate(rs):
        if i == 2:
            with pytest.raises(mp.pool.WorkerLostError) as info:
                r.get(10)
            assert _lost(info.value, -signal.SIGKILL)
            assert "while running this task" in str(info.value)
        else:
            assert r.get(10) == i
    assert time.monotonic() - start < 5
    # The pool replaced the worker and goes on.
    assert pool.map(T.square, range(20)) == [x * x for x in range(20)]
    deadline = time.monotonic() + 5  # the replacement starts in the background
    while len([w for w in pool._pool if w.is_alive()]) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len([w for w in pool._pool if w.is_alive()]) == 2


@pytest.mark.gompx_only
def test_os_exit_in_map_names_the_exit_code(mp, pool):
    with pytest.raises(mp.pool.WorkerLostError) as info:
        pool.map(T.exit_with, range(8), chunksize=1)
    assert _lost(info.value, 3)
    assert pool.map(T.square, range(5)) == [0, 1, 4, 9, 16]


@pytest.mark.gompx_only
def test_death_while_sending_the_result(mp, pool):
    rs = [pool.apply_async(T.exit_while_sending, (i,)) for i in range(4)]
    with pytest.raises(mp.pool.WorkerLostError) as info:
        rs[1].get(10)
    assert _lost(info.value, 7)
    assert [rs[i].get(10) for i in (0, 2, 3)] == [0, 2, 3]


@pytest.mark.gompx_only
def test_segfault_in_a_task(mp, pool):
    rs = pool.map_async(T.segfault, range(4), chunksize=1)
    with pytest.raises(mp.pool.WorkerLostError) as info:
        rs.get(10)
    assert _lost(info.value, -signal.SIGSEGV)


@pytest.mark.gompx_only
def test_result_the_parent_cannot_unpickle_fails_its_task(mp, pool):
    # stdlib's result handler thread dies on this and the pool hangs.
    import pickle
    with pytest.raises(pickle.UnpicklingError, match="refuses to be unpickled"):
        pool.apply(T.result_load_fails)
    errors = []
    r = pool.apply_async(T.result_exits_when_loaded, error_callback=errors.append)
    r.wait(10)
    assert r.ready() and not r.successful()
    assert len(errors) == 1 and isinstance(errors[0], SystemExit)
    it = pool.imap(T.load_fails_on, [0, 1, 2])
    assert next(it) == 0
    with pytest.raises(pickle.UnpicklingError):
        next(it)
    assert next(it) == 2
    with pytest.raises(pickle.UnpicklingError):
        pool.map(T.load_fails_on, range(40), chunksize=1)
    assert pool.map(T.square, range(5)) == [0, 1, 4, 9, 16]


@OWN_WORKERS
@pytest.mark.gompx_only
def test_idle_worker_killed_before_a_task(pool):
    pool.apply(T.square, (1,))
    victim = pool._pool[0]
    victim.kill()
    victim.join(5)
    deadline = time.monotonic() + 5
    while pool._pool[0] is victim and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool._pool[0] is not victim
    assert pool.map(T.square, range(40), chunksize=1) == [x * x for x in range(40)]


@OWN_WORKERS
@pytest.mark.gompx_only
def test_killed_worker_gives_back_its_queued_tasks(mp, ctx, tmp_path):
    running = str(tmp_path / "task0-running")
    with ctx.Pool(1) as p:
        rs = [p.apply_async(T.mark_then_sleep, (running, 0, 5))]
        rs += [p.apply_async(T.sleep_then, (i, 0.2)) for i in range(1, 4)]
        deadline = time.monotonic() + 30
        while not os.path.exists(running):  # the worker runs task 0, holds task 1
            assert time.monotonic() < deadline, "task 0 never started"
            time.sleep(0.01)
        p._pool[0].kill()
        with pytest.raises(mp.pool.WorkerLostError):
            rs[0].get(10)
        assert [r.get(10) for r in rs[1:]] == [1, 2, 3]


@pytest.mark.gompx_only
def test_maxtasksperchild_with_deaths_loses_nothing(mp, ctx):
    with ctx.Pool(2, maxtasksperchild=3) as p:
        rs = [p.apply_async(T.kill_self, (i, 5)) for i in range(20)]
        for i, r in enumerate(rs):
            if i == 5:
                with pytest.raises(mp.pool.WorkerLostError):
                    r.get(10)
            else:
                assert r.get(10) == i


@pytest.mark.gompx_only
def test_terminate_fails_pending_results_instead_of_hanging(mp, ctx):
    p = ctx.Pool(1)
    r = p.apply_async(T.sleep_long)
    time.sleep(0.2)
    p.terminate()
    with pytest.raises(mp.pool.WorkerLostError, match="terminated"):
        r.get(5)
    p.join()


@pytest.mark.no_cluster(
    "`gompx worker` processes serve every pool, so a pool's failing initializer fails "
    "its chunk with the initializer's exception instead of breaking the pool "
    "(test_cluster.py::test_initializer_runs_on_the_workers)")
@pytest.mark.gompx_only
def test_failing_initializer_breaks_instead_of_respawning_forever(mp, ctx):
    p = ctx.Pool(1, initializer=T.init_fail)
    try:
        with pytest.raises(mp.pool.WorkerLostError, match="initializer"):
            p.apply(T.square, (2,))
    finally:
        p.terminate()
        p.join()


@pytest.mark.gompx_only
def test_forkserver_pool_and_worker_death(mp):
    ctx = mp.get_context("forkserver")
    with ctx.Pool(2) as p:
        assert p.map(T.square, range(10)) == [x * x for x in range(10)]
        with pytest.raises(mp.pool.WorkerLostError) as info:
            p.apply(T.exit_with, (1,))
        assert _lost(info.value, 3)
        assert p.apply(T.square, (9,)) == 81


CTRL_C_SCRIPT = """
import os, sys, time
import {mod} as mp
import pool_targets as T
if __name__ == "__main__":
    p = mp.get_context("spawn").Pool(2)
    p.apply(T.square, (1,))
    print(" ".join(str(w.pid) for w in p._pool), flush=True)
    start = time.monotonic()
    try:
        p.map(T.sleep_long, range(8), chunksize=1)
    except KeyboardInterrupt:
        print("KeyboardInterrupt after %.2f s" % (time.monotonic() - start), flush=True)
        for w in p._pool:
            print("worker", w.exitcode, flush=True)
"""


@pytest.mark.gompx_only
def test_ctrl_c_during_map_terminates_the_workers(tmp_path):
    import subprocess
    here = os.path.dirname(os.path.abspath(__file__))
    path = tmp_path / "ctrl_c.py"
    path.write_text(CTRL_C_SCRIPT.format(mod="gompx"))
    env = dict(os.environ, PYTHONPATH=here)
    child = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=str(tmp_path))
    try:
        pids = [int(x) for x in child.stdout.readline().split()]
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=10)
    finally:
        child.kill()
    assert "KeyboardInterrupt after" in out, err
    assert float(out.split("after ")[1].split()[0]) < 5
    assert out.count("worker ") == 2 and "worker None" not in out
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.no_cluster("300,000 tasks, 100,000 of them one per message: minutes on a "
                        "cluster, past the CI budget; bench/bench_cluster.py measures that")
@pytest.mark.gompx_only
def test_stress_100k_tasks(ctx):
    n = 100_000
    with ctx.Pool(2) as p:
        got = sorted(p.imap_unordered(T.square, range(n)))
        assert got == [x * x for x in range(n)]
        assert p.map(T.square, range(n)) == [x * x for x in range(n)]
        assert list(p.imap(T.identity, range(n), chunksize=10)) == list(range(n))


@pytest.mark.no_cluster(
    "3,000 one-task chunks are 3,000 cluster messages, more than the 3 s of the long "
    "task on this machine's one free worker process; test_cluster.py checks that chunks "
    "go to any free worker")
def test_long_task_does_not_hold_up_short_ones(pool):
    slow = pool.apply_async(T.sleep_then, (0, 3))
    time.sleep(0.1)
    # Short tasks arrive while one worker is busy; then more, mixed in one job.
    assert list(pool.imap(T.square, (x for x in range(3000)))) == [x * x for x in range(3000)]
    mixed = pool.map_async(T.sleep_then, [(0)] + list(range(1, 40)), chunksize=1)
    assert not slow.ready()
    assert slow.get(10) == 0 and mixed.get(10) == list(range(40))


@OWN_WORKERS
@pytest.mark.gompx_only
def test_terminate_kills_a_worker_that_ignores_sigterm(ctx, tmp_path):
    ignoring = str(tmp_path / "ignoring-sigterm")
    p = ctx.Pool(1)
    p.apply_async(T.ignore_sigterm_and_sleep, (ignoring,))
    deadline = time.monotonic() + 30
    while not os.path.exists(ignoring):  # a worker still starting would die of SIGTERM
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.01)
    start = time.monotonic()
    p.terminate()
    p.join()
    assert time.monotonic() - start < 5
    assert p._pool[0].exitcode == -signal.SIGKILL


@pytest.mark.gompx_only
def test_imap_position_of_a_dead_worker_raises_and_the_rest_come(mp, pool):
    it = pool.imap(T.kill_self, range(8))
    got = []
    for i in range(8):
        try:
            got.append(next(it))
        except mp.pool.WorkerLostError:
            got.append("lost")
    assert got == [0, 1, "lost", 3, 4, 5, 6, 7]
    assert sorted(pool.imap_unordered(T.square, range(100))) == [x * x for x in range(100)]


def test_large_arguments_and_results(pool):
    big = bytes(range(256)) * 20_000  # 5 MB: more than a worker reads at once
    assert pool.apply(len, (big,)) == len(big)
    assert pool.apply(T.identity, (big,)) == big
    items = [b"s", big, b"t", big[:3_000_000]]
    assert list(pool.imap(T.identity, items)) == items
    assert pool.map(T.identity, items, chunksize=2) == items


@OWN_WORKERS
def test_dropped_pool_terminates_its_workers(ctx):
    import gc
    p = ctx.Pool(2)
    p.map(T.square, range(4))
    workers = list(p._pool)
    with pytest.warns(ResourceWarning):
        del p
        gc.collect()
    deadline = time.monotonic() + 5
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(w.is_alive() for w in workers)
