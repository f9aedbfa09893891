"""gompx-only: Pool(cluster=...) over NATS JetStream (gompx/cluster, cmd/gompx).

Every server here is a private one on 127.0.0.1 (``cluster="local"``, or ``gompx server
--port 0``); nothing leaves the machine.  stdlib has no cluster pools, so these tests run
for gompx alone.
"""

import binascii
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import pool_targets as T

pytestmark = pytest.mark.gompx_only
CLUSTER_SUITE = True  # --impl=cluster runs these too


@pytest.fixture(scope="module")
def cpool():
    import gompx
    pool = gompx.Pool(2, cluster="local")
    yield pool
    pool.terminate()


def _gompx_command():
    from gompx.cluster import command_path
    return command_path()


def test_map_in_order(mp, cpool):
    for chunksize in (None, 1, 7, 100):
        assert cpool.map(T.square, range(50), chunksize) == [x * x for x in range(50)]
    assert cpool.map(T.square, []) == []


def test_starmap_apply_kwargs(mp, cpool):
    assert cpool.starmap(T.add, [(1, 2), (3, 4)], chunksize=1) == [3, 7]
    assert cpool.apply(T.kw, (1,), {"b": 2, "c": 3}) == (1, 2, 3)
    r = cpool.apply_async(T.add, (5, 6))
    assert r.get(30) == 11 and r.ready() and r.successful()


def test_imap_and_unordered(mp, cpool):
    assert list(cpool.imap(T.square, range(20))) == [x * x for x in range(20)]
    assert list(cpool.imap(T.square, iter(range(20)), chunksize=3)) == [x * x for x in range(20)]
    assert sorted(cpool.imap_unordered(T.square, range(20), chunksize=2)) == \
        sorted(x * x for x in range(20))
    it = cpool.imap(T.square, [])
    with pytest.raises(StopIteration):
        it.next(30)


def test_callbacks(mp, cpool):
    got, errors = [], []
    r1 = cpool.map_async(T.square, range(5), callback=got.append)
    r2 = cpool.apply_async(T.raise_value_error, (7,), error_callback=errors.append)
    r1.wait(30)
    r2.wait(30)
    assert got == [[0, 1, 4, 9, 16]]
    assert len(errors) == 1 and isinstance(errors[0], ValueError)
    assert not r2.successful()


def test_remote_exception_keeps_its_traceback(mp, cpool):
    with pytest.raises(ValueError, match="task 3 failed") as info:
        cpool.map(T.fail_on, range(6), chunksize=2)
    cause = info.value.__cause__
    assert type(cause).__name__ == "RemoteTraceback"
    assert "fail_on" in str(cause) and "raise ValueError" in str(cause)
    # The failing chunk fails the map; later ones are unaffected.
    assert cpool.map(T.square, range(3)) == [0, 1, 4]


def test_worker_crash_is_worker_lost_and_replaced(mp, cpool):
    r = cpool.apply_async(T.kill_self, (2,))
    with pytest.raises(mp.pool.WorkerLostError,
                       match=r"exited with code -9 while running this task"):
        r.get(60)
    assert cpool.map(T.square, range(10), chunksize=1) == [x * x for x in range(10)]


def test_unimportable_module_names_it(mp, cpool, tmp_path):
    (tmp_path / "only_here_mod.py").write_text("def f(x):\n    return x\n")
    sys.path.insert(0, str(tmp_path))  # the caller's, after the workers started
    try:
        import only_here_mod
        with pytest.raises(ModuleNotFoundError,
                           match=r"cannot import module 'only_here_mod'") as info:
            cpool.apply(only_here_mod.f, (1,))
        assert "importable on every worker machine" in str(info.value)
    finally:
        sys.path.remove(str(tmp_path))


def _main_function(x):
    return x


def test_main_functions_refused(mp, cpool):
    _main_function.__module__ = "__main__"
    with pytest.raises(ValueError, match="__main__"):
        cpool.apply(_main_function, (1,))


def test_large_payloads_go_through_the_object_store(mp, cpool):
    blob = os.urandom(3 << 20)
    assert cpool.map(T.identity, [blob, b"small", blob], chunksize=1) == [blob, b"small", blob]


def test_wrong_authkey_is_an_authentication_error(mp, cpool):
    import gompx
    with gompx.Pool(1, cluster=cpool._url, authkey=b"not the workers' key") as other:
        with pytest.raises(mp.AuthenticationError, match="authkey differs"):
            other.apply(T.square, (3,))


def test_insecure_remote_refused(mp):
    import gompx
    with pytest.raises(ValueError,
                       match="refusing to connect to gompx.invalid:4222 without credentials"):
        gompx.Pool(1, cluster="nats://gompx.invalid:4222", authkey=b"k")
    with pytest.raises(ValueError, match="authkey"):
        gompx.Pool(1, cluster="nats://127.0.0.1:1")


def test_close_join_terminate(mp):
    import gompx
    pool = gompx.Pool(1, cluster="local")
    rs = [pool.apply_async(T.sleep_then, (i, 0.05)) for i in range(4)]
    pool.close()
    with pytest.raises(ValueError, match="Pool not running"):
        pool.apply_async(T.square, (1,))
    pool.join()
    assert [r.get(0) for r in rs] == [0, 1, 2, 3]

    pool = gompx.Pool(1, cluster="local")
    r = pool.apply_async(T.sleep_long)
    pool.terminate()
    with pytest.raises(mp.pool.WorkerLostError, match="terminated"):
        r.get(30)
    pool.join()


def test_env_default_and_command(mp, tmp_path):
    code = textwrap.dedent("""
        import gompx, gompx.futures, pool_targets as T
        with gompx.Pool(2) as p:
            print(type(p).__name__, p.map(T.square, range(5)))
        with gompx.futures.ProcessPoolExecutor(1) as ex:
            print(type(ex).__name__, ex.submit(T.square, 4).result())
    """)
    env = dict(os.environ, GOMPX_CLUSTER="local",
               PYTHONPATH=os.pathsep.join([os.path.dirname(T.__file__),
                                           os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["ClusterPool [0, 1, 4, 9, 16]", "ClusterExecutor 16"]
    script = os.path.join(os.path.dirname(sys.executable), "gompx")
    out = subprocess.run([script, "version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("gompx "), out.stderr


def _start_worker(url, key, processes=1):
    env = dict(os.environ, GOMPX_AUTHKEY=binascii.hexlify(key).decode(),
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.Popen([_gompx_command(), "worker", url, "--processes", str(processes),
                             "--python", sys.executable], env=env)


def test_worker_machine_killed_mid_map(mp, tmp_path):
    """SIGKILL of one of two gompx workers mid-map: its chunks are redelivered after the
    ack wait, every task has a result, each exactly once."""
    import gompx
    key = b"shared key"
    with gompx.Pool(1, cluster="local", authkey=key, ack_wait=2) as pool:
        other = _start_worker(pool._url, key)
        try:
            n = 30
            r = pool.starmap_async(T.touch_then_sleep, [(str(tmp_path), i) for i in range(n)],
                                   chunksize=1)
            local_pid = gompx._native.call(gompx._native.ext.gompxcore_ClusterLocalWorkerPid,
                                           pool._local)
            for _ in range(3000):  # until tasks are running on both sides
                if len(os.listdir(tmp_path)) >= 4:
                    break
                time.sleep(0.01)
            os.kill(local_pid, signal.SIGKILL)
            assert r.get(120) == [i * 2 for i in range(n)]
            runs = [int(name.split("-")[0]) for name in os.listdir(tmp_path)]
            assert sorted(set(runs)) == list(range(n))  # every task ran
            duplicates, forged = map(int, gompx._native.call(
                gompx._native.ext.gompxcore_ClusterStats, pool._handle).split())
            assert forged == 0
            # A task that ran twice (its worker died after running it) counted once.
            assert duplicates <= len(runs) - n
        finally:
            other.kill()
            other.wait(30)


def _stats(pool):
    import gompx
    duplicates, forged = map(int, gompx._native.call(gompx._native.ext.gompxcore_ClusterStats,
                                                     pool._handle).split())
    return duplicates, forged


def _wait_files(directory, n):
    for _ in range(6000):  # bounded: 60 s
        if len(os.listdir(directory)) >= n:
            return
        time.sleep(0.01)
    raise AssertionError("fewer than %d tasks started" % n)


def _parent(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.slow
def test_three_nodes_lose_a_worker_machine_then_the_leader(mp, tmp_path):
    """gompx server + gompx worker (2 processes) on each of 127.0.0.1, .2, .3; replicas 3.
    SIGKILL a worker machine's gompx worker mid-map, then the whole node leading the task
    stream (server and worker) mid-map: every task has its result, in order, once. Then
    both come back, and the restarted node takes work again."""
    import gompx
    from cluster_nodes import Nodes
    key = b"three nodes"
    # An ack wait longer than a leader election on this (busy, shared) machine: with 2 s
    # a chunk could spend its 3 deliveries on one election and fail, as designed.
    with Nodes(3, 2, key, ack_wait="6s") as nodes:
        with gompx.Pool(6, cluster=nodes.url, authkey=key, replicas=3, ack_wait=6) as pool:
            def run(directory, kill=None):
                directory.mkdir()
                n = 60
                r = pool.starmap_async(T.touch_pid_then_sleep,
                                       [(str(directory), i, 0.1) for i in range(n)], chunksize=1)
                if kill is not None:
                    _wait_files(directory, 10)
                    kill()
                assert r.get(180) == [i * 2 for i in range(n)]
                names = [name.split("-") for name in os.listdir(directory)]
                assert sorted(set(int(x) for x, _, _ in names)) == list(range(n))
                return {int(pid) for _, pid, _ in names}

            worker_victim = 1
            run(tmp_path / "a", lambda: nodes.kill_worker(worker_victim))
            leader = nodes.settled("GOMPX_TASKS")
            run(tmp_path / "b", lambda: nodes.kill_node(leader))
            nodes.workers[worker_victim] = nodes._start_worker(worker_victim, 2, "6s")
            nodes.restart_node(leader, 2, "6s")
            nodes.settled("GOMPX_TASKS")
            back = {nodes.workers[worker_victim].pid, nodes.workers[leader].pid}
            pids = set()
            for i in range(5):  # each restarted worker takes work (bounded: 5 maps)
                pids |= run(tmp_path / ("c%d" % i))
                if back <= {_parent(p) for p in pids if os.path.exists("/proc/%d" % p)}:
                    break
            else:
                raise AssertionError("a restarted node's worker took no task")
            assert _stats(pool)[1] == 0


def test_executor(mp, cpool):
    import gompx.futures
    with gompx.futures.ProcessPoolExecutor(2, cluster=cpool._url, authkey=_local_key()) as ex:
        assert type(ex).__name__ == "ClusterExecutor"
        f = ex.submit(T.kw, 1, b=2, c=3)
        assert f.result(60) == (1, 2, 3)
        assert list(ex.map(T.add, range(10), range(10), chunksize=3)) == [2 * x for x in range(10)]
        bad = ex.submit(T.raise_value_error, 4)
        with pytest.raises(ValueError, match="bad value 4"):
            bad.result(60)
        crash = ex.submit(T.kill_self, 2)
        with pytest.raises(mp.pool.WorkerLostError):
            crash.result(60)
        assert ex.submit(T.square, 9).result(60) == 81  # not broken: other calls run on
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(T.square, 1)


def _local_key():
    from gompx.process import current_process
    return bytes(current_process().authkey)


def test_initializer_runs_on_the_workers(mp):
    import gompx
    with gompx.Pool(2, T.init_global, ("ready",), cluster="local") as pool:
        assert pool.map(T.read_global, range(8), chunksize=1) == ["ready"] * 8
    with gompx.Pool(1, T.init_fail, cluster="local") as pool:
        with pytest.raises(RuntimeError, match="initializer failed on purpose"):
            pool.apply(T.square, (2,))
    _main_function.__module__ = "__main__"
    with pytest.raises(ValueError, match="__main__"):
        gompx.Pool(1, _main_function, cluster="local")


def test_executor_initializer(mp):
    import gompx.futures
    with gompx.futures.ProcessPoolExecutor(1, initializer=T.init_global, initargs=("ex",),
                                           cluster="local") as ex:
        assert ex.submit(T.read_global).result(60) == "ex"


def test_maxtasksperchild_retires_worker_processes_per_pool(mp, cpool):
    """maxtasksperchild=2: each `gompx worker` process runs at most 2 of the pool's
    chunks, then a fresh one takes its place; a pool without it (cpool) on the same
    workers keeps its processes."""
    import collections
    import gompx
    with gompx.Pool(2, cluster=cpool._url, authkey=_local_key(), maxtasksperchild=2) as p:
        pids = p.map(T.pid, range(12), chunksize=1)
        assert max(collections.Counter(pids).values()) <= 2, pids
        assert len(set(pids)) >= 6
        # A chunk counts once, whatever its size (as stdlib's tasks).
        pids = p.map(T.pid, range(12), chunksize=6)
        assert pids[:6] == [pids[0]] * 6 and pids[6:] == [pids[6]] * 6
    pids = cpool.map(T.pid, range(8), chunksize=1) + cpool.map(T.pid, range(8), chunksize=1)
    assert len(set(pids)) <= 2  # the local cluster's 2 processes, none retired
    with pytest.raises(ValueError, match="maxtasksperchild must be a positive int or None"):
        gompx.Pool(1, cluster=cpool._url, authkey=_local_key(), maxtasksperchild=0)


@pytest.fixture(scope="module")
def go_cluster_worker(tmp_path_factory):
    from test_goworkers import _go_build
    return _go_build("./tests/goclusterworker",
                     str(tmp_path_factory.mktemp("go") / "goclusterworker"))


def test_python_pool_go_worker(mp, go_cluster_worker, tmp_path):
    """A Python ClusterPool and executor call Go functions served by a Go program
    (cluster.Serve with GoHandler) over a private server: gofuncs.square is a stub
    here, and the Go worker runs the function of that name."""
    import gompx
    import gompx.futures
    import gofuncs
    key = b"python calls go"
    server = subprocess.Popen([_gompx_command(), "server", "--port", "0", "--store",
                               str(tmp_path / "store")], stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("nats://127.0.0.1:"), url
        worker = subprocess.Popen([go_cluster_worker, url], stdout=subprocess.PIPE, text=True,
                                  env=dict(os.environ,
                                           GOMPX_AUTHKEY=binascii.hexlify(key).decode()))
        assert worker.stdout.readline().strip() == "serving"
        with gompx.Pool(2, cluster=url, authkey=key) as pool:
            assert pool.map(gofuncs.square, range(20), chunksize=3) == [x * x for x in range(20)]
            assert pool.starmap(gofuncs.add, [(1, 2), (3, 4, 5)]) == [3, 12]
            assert pool.apply(gofuncs.square, (9,)) == 81
            assert sorted(pool.imap_unordered(gofuncs.square, range(5))) == [0, 1, 4, 9, 16]
            assert pool.starmap(gofuncs.pid, [()] * 4) == [worker.pid] * 4  # ran in Go
            with pytest.raises(RuntimeError, match="failed on purpose"):
                pool.apply(gofuncs.fail)
            with pytest.raises(RuntimeError, match="square wants an int"):
                pool.apply(gofuncs.square, ("x",))
        with gompx.futures.ProcessPoolExecutor(2, cluster=url, authkey=key) as ex:
            assert ex.submit(gofuncs.square, 12).result(60) == 144
            assert list(ex.map(gofuncs.add, range(4), range(4))) == [0, 2, 4, 6]
    finally:
        for p in (worker, server):
            if p is not None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
                p.stdout.close()


def test_dropped_pool_warns_and_terminates(mp, cpool):
    """As stdlib's: a running pool that is dropped warns (ResourceWarning) and is
    terminated, without a second warning about its cleanup."""
    import gc
    import warnings
    import gompx
    p = gompx.Pool(1, cluster=cpool._url, authkey=_local_key())
    assert p.map(T.square, range(3)) == [0, 1, 4]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del p
        gc.collect()
    assert [type(w.message) for w in caught] == [ResourceWarning], caught
    assert "unclosed running multiprocessing pool" in str(caught[0].message)
