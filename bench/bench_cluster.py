"""Pools over a NATS JetStream cluster: 1 node x 2 workers against 3 nodes x 2 workers.

Each node is a ``gompx server`` plus a ``gompx worker --processes 2`` on its own loopback
address (127.0.0.1, .2, .3; tests/cluster_nodes.py).  The job is issue #13's: 1,200 tasks
that each sleep 20 ms (a sleep stands in for work, since every node shares this machine's
cores), through ``Pool.map`` with the default chunk size (``processes`` = the cluster's
worker processes: 2 or 6) and with ``chunksize=1``; then the throughput of tiny tasks
(``map(square, range(200000), 256)``; issue #13's target: 50,000 tasks/s over 3
replicas).  The two set-ups run interleaved,
round by round, after one warm-up round each; the table shows medians (± median absolute
deviation) and speed-up = 1-node time / 3-node time (issue #13's target: >= 2.5x).

Then two fault figures on one node with two ``gompx worker`` machines (``--ack-wait``,
5 s by default): the time from the SIGKILL of the worker machine running a task to that
task's result from the other machine (the chunk waits out its ack wait, which restarts at
each progress ack, every ack wait / 3), and the time from a task's ``os._exit`` in its
remote worker process to the caller's ``WorkerLostError`` (issue #13's target: within 1 s).
``--faults-only`` runs just these.

    python bench/bench_cluster.py [--rounds 5] [--tasks 1200] [--sleep 0.02] [--ack-wait 5]
"""

import argparse
import binascii
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import cluster_fault_targets as F  # noqa: E402
import pool_targets as T  # noqa: E402
from cluster_nodes import Nodes  # noqa: E402

KEY = b"bench cluster key"


def run(pool, processes, tasks, sleep, chunksize):
    items = [(None, i, sleep) for i in range(tasks)]
    start = time.perf_counter()
    out = pool.starmap(T.sleep_return, items, chunksize)
    elapsed = time.perf_counter() - start
    assert out == list(range(tasks)), "wrong results"
    return elapsed


def tiny(pool, n):
    """Tasks per second of map(square) over n ints at chunksize 256."""
    start = time.perf_counter()
    out = pool.map(T.square, range(n), 256)
    elapsed = time.perf_counter() - start
    assert out == [x * x for x in range(n)], "wrong results"
    return n / elapsed


def mad(xs, m):
    """Median absolute deviation, as a percentage of the median m."""
    return statistics.median(abs(x - m) for x in xs) / m * 100


def _worker_machine(url, ack_wait):
    from gompx.cluster import command_path
    env = dict(os.environ, GOMPX_AUTHKEY=binascii.hexlify(KEY).decode(),
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.Popen([command_path(), "worker", url, "--processes", "1", "--python",
                             sys.executable, "--ack-wait", "%gs" % ack_wait], env=env)


def _machine_of(pid, machines):
    """The worker machine (a Popen of machines) that pid descends from."""
    by_pid = {m.pid: m for m in machines}
    while pid > 1:
        if pid in by_pid:
            return by_pid[pid]
        with open("/proc/%d/stat" % pid) as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("the task does not run under a worker machine of ours")


def faults(rounds, ack_wait):
    """Medians of: SIGKILL of a task's worker machine -> its result from the other one;
    os._exit of a remote worker process -> WorkerLostError."""
    import gompx
    nodes = Nodes(1, 1, KEY, ack_wait="%gs" % ack_wait)
    machines = [_worker_machine(nodes.url, ack_wait)]
    pool = gompx.Pool(2, cluster=nodes.url, authkey=KEY, ack_wait=ack_wait)
    kills, crashes, dispatch = [], [], []
    try:
        pool.map(T.square, range(10), 1)  # both machines up and importing
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as d:
                r = pool.apply_async(F.slow_first_run, (d, 0, 3 * ack_wait))
                for _ in range(6000):  # bounded: 60 s
                    if os.listdir(d):
                        break
                    time.sleep(0.01)
                pid = int(os.listdir(d)[0].split("-")[1])
                victim = _machine_of(pid, machines + nodes.workers)
                start = time.perf_counter()
                victim.send_signal(signal.SIGKILL)
                assert r.get(10 * ack_wait + 60) == 0
                kills.append(time.perf_counter() - start)
                victim.wait(30)
                if victim in nodes.workers:
                    nodes.workers.remove(victim)
                else:
                    machines.remove(victim)
                machines.append(_worker_machine(nodes.url, ack_wait))
            with tempfile.TemporaryDirectory() as d:
                submitted = time.time()
                try:
                    pool.apply(F.crash_noting_when, (d,))
                    raise AssertionError("the crash did not fail the task")
                except gompx.pool.WorkerLostError:
                    now = time.time()
                with open(os.path.join(d, "crash")) as f:
                    crashed = float(f.read())
                crashes.append(now - crashed)
                dispatch.append(now - submitted)
        print("faults, %d rounds, ack wait %g s, medians" % (rounds, ack_wait))
        print("| fault | time | target |")
        print("|---|---|---|")
        print("| worker machine SIGKILLed mid-task -> the task's result from another machine "
              "| %.2f s (min %.2f, max %.2f) | ack wait + 15 s |"
              % (statistics.median(kills), min(kills), max(kills)))
        print("| remote worker process os._exit -> WorkerLostError | %.3f s (max %.3f; "
              "%.3f s from submission) | <= 1 s |"
              % (statistics.median(crashes), max(crashes), statistics.median(dispatch)))
    finally:
        pool.terminate()
        for m in machines:
            m.kill()
            m.wait(30)
        nodes.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tasks", type=int, default=1200)
    ap.add_argument("--sleep", type=float, default=0.02)
    ap.add_argument("--tiny", type=int, default=200000, help="tasks of the throughput case")
    ap.add_argument("--ack-wait", type=float, default=5.0, help="ack wait of the fault cases (s)")
    ap.add_argument("--faults-only", action="store_true", help="run only the fault cases")
    args = ap.parse_args()
    if args.faults_only:
        faults(args.rounds, args.ack_wait)
        return
    import gompx
    setups = {}
    try:
        for n in (1, 3):
            nodes = Nodes(n, 2, KEY)
            pool = gompx.Pool(2 * n, cluster=nodes.url, authkey=KEY, replicas=n)
            setups[n] = (nodes, pool)
        cases = [("default chunks", None), ("chunksize=1", 1)]
        times = {(n, c): [] for n in setups for c, _ in cases}
        rates = {n: [] for n in setups}
        for rnd in range(args.rounds + 1):
            for name, chunksize in cases:
                for n, (_, pool) in setups.items():
                    t = run(pool, 2 * n, args.tasks, args.sleep, chunksize)
                    if rnd > 0:  # round 0 warms up
                        times[(n, name)].append(t)
            for n, (_, pool) in setups.items():
                r = tiny(pool, args.tiny)
                if rnd > 0:
                    rates[n].append(r)
        print("%d tasks of %.0f ms, %d rounds, medians"
              % (args.tasks, args.sleep * 1000, args.rounds))
        print("| case | 1 node x 2 | 3 nodes x 2 | speed-up | target |")
        print("|---|---|---|---|---|")
        for name, _ in cases:
            one, three = times[(1, name)], times[(3, name)]
            m1, m3 = statistics.median(one), statistics.median(three)
            print("| %s | %.2f s ±%.0f%% | %.2f s ±%.0f%% | %.2fx | >= 2.5x |"
                  % (name, m1, mad(one, m1), m3, mad(three, m3), m1 / m3))
        r1, r3 = statistics.median(rates[1]), statistics.median(rates[3])
        print("| %d tiny tasks (square), chunksize 256: tasks/s | %.0f | %.0f (replicas 3) "
              "| | >= 50,000 on 3 replicas |" % (args.tiny, r1, r3))
    finally:
        for nodes, pool in setups.values():
            pool.terminate()
            nodes.stop()
    faults(args.rounds, args.ack_wait)


if __name__ == "__main__":
    main()
