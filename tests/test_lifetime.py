"""Children's lifetime tied to the parent's, observed from outside in a script.

The script is the parent: it starts children, prints their pids and then exits (or is
SIGKILLed by the test); its children are the test's grandchildren.  A pid counts as gone
when /proc has no entry or the entry is a zombie (orphans are reparented to an init that
may reap them late).
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from mp_targets import pid_gone, sigkill

HERE = os.path.dirname(os.path.abspath(__file__))
GRACE_ENV = "GOMPX_ORPHAN_GRACE"


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(pid_gone(pid) for pid in pids):
            return []
        time.sleep(0.05)
    return [pid for pid in pids if not pid_gone(pid)]


PARENT = r'''
import sys, time
import mp_targets as t
mp = __import__(sys.argv[1])
method = sys.argv[2]
ctx = mp if method == "default" else mp.get_context(method)

if __name__ == "__main__":
    procs = []
    for daemon in (True, False):
        r, w = ctx.Pipe()
        p = ctx.Process(target=t.ready_then_sleep, args=(w, 60), daemon=daemon)
        p.start()
        assert r.poll(30) and r.recv() == "ready"
        procs.append((p, r))
    print(" ".join(str(p.pid) for p, _ in procs), flush=True)
    time.sleep(60)
'''


def start_parent(modname, method, source=PARENT, env_extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (HERE, env.get("PYTHONPATH")) if x)
    env.pop(GRACE_ENV, None)
    env.update(env_extra or {})
    return subprocess.Popen([sys.executable, "-c", source, modname, method],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def read_pids(parent):
    line = parent.stdout.readline()
    if not line:
        parent.kill()
        _, err = parent.communicate(timeout=10)
        pytest.fail("parent script printed no pids; its stderr:\n" + err)
    return [int(x) for x in line.split()]


@contextlib.contextmanager
def parent_and_children(modname, method, source=PARENT, env_extra=None):
    """Start a parent script; yield it and the pids of the children it printed; kill
    whatever is left of them afterwards, whatever the test did."""
    parent = start_parent(modname, method, source, env_extra)
    pids = []
    try:
        pids.extend(read_pids(parent))
        yield parent, pids
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        sigkill(pids)


def sigkill_and_watch(parent, pids, grace):
    """SIGKILL the parent; return how long each child outlived it (None: still alive
    grace + 2 s later)."""
    killed = time.monotonic()
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    lived = dict.fromkeys(pids)
    while time.monotonic() < killed + grace + 2 and None in lived.values():
        for pid in pids:
            if lived[pid] is None and pid_gone(pid):
                lived[pid] = time.monotonic() - killed
        time.sleep(0.02)
    return lived


# gompx's rule: a child whose parent died sees it at once, may run on for the grace period
# (GOMPX_ORPHAN_GRACE seconds, 5 by default) and is killed when it ends. The children
# here sleep on and ignore the death, so they must live through the grace, then go.
@pytest.mark.gompx_only
@pytest.mark.parametrize("method", ["default", "spawn", "forkserver"])
def test_children_killed_a_grace_after_parent_is_sigkilled(mp, modname, method):
    grace = 1.0
    grace_env = {GRACE_ENV: str(grace)}
    with parent_and_children(modname, method, env_extra=grace_env) as (parent, pids):
        assert len(pids) == 2 and all(pid > 0 for pid in pids)
        assert not any(pid_gone(pid) for pid in pids)
        lived = sigkill_and_watch(parent, pids, grace)
        for pid, t in lived.items():
            assert t is not None, "child %d alive %.1f s after its parent was SIGKILLed" % (
                pid, grace + 2)
            assert grace - 0.05 <= t <= grace + 1, (
                "child %d gone %.2f s after its parent's SIGKILL; grace %.1f s" % (pid, t, grace))


@pytest.mark.gompx_only
def test_default_orphan_grace_is_five_seconds(mp, modname):
    with parent_and_children(modname, "spawn") as (parent, pids):
        lived = sigkill_and_watch(parent, pids, 5.0)
        for pid, t in lived.items():
            assert t is not None and 4.95 <= t <= 6.0, (
                "child %d gone %s s after its parent's SIGKILL; default grace 5 s" % (pid, t))


# A grace of 0 brings back the instant kill (the watch kills as soon as it sees the death).
@pytest.mark.gompx_only
def test_zero_grace_kills_at_once(mp, modname):
    with parent_and_children(modname, "spawn", env_extra={GRACE_ENV: "0"}) as (parent, pids):
        lived = sigkill_and_watch(parent, pids, 0.0)
        assert all(t is not None and t < 0.5 for t in lived.values()), lived


CLEANUP_PARENT = r'''
import sys, time
import mp_targets as t
mp = __import__(sys.argv[1])
method = sys.argv[2]
ctx = mp if method == "default" else mp.get_context(method)

if __name__ == "__main__":
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.clean_up_when_parent_dies, args=(w, sys.argv[1], sys.argv[3]))
    p.start()
    assert r.poll(30) and r.recv() == "ready"
    print(p.pid, flush=True)
    time.sleep(60)
'''


# What users write: a child that watches parent_process() and cleans up when it dies.
# stdlib lets it (and leaves it running if it does not exit); gompx must too.
@pytest.mark.parametrize("method", ["default", "spawn", "forkserver"])
def test_child_cleans_up_after_parent_is_sigkilled(mp, modname, method, tmp_path):
    marker = tmp_path / "cleaned"
    with parent_and_children(modname, method, CLEANUP_PARENT.replace(
        "sys.argv[3]", repr(str(marker)))) as (parent, pids):
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_gone(pids, 10.0) == [], "the child did not exit after cleaning up"
        assert marker.read_text() == "cleaned"


BUSY_PARENT = r'''
import sys, time
import mp_targets as t
mp = __import__(sys.argv[1])
ctx = mp.get_context(sys.argv[2])

if __name__ == "__main__":
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.ready_then_busy_in_c, args=(w,))
    p.start()
    assert r.poll(30) and r.recv() == "ready"
    print(p.pid, flush=True)
    time.sleep(60)
'''


# The watch lives in the Go core: a child stuck in C code that holds the GIL is killed on
# time all the same.
@pytest.mark.gompx_only
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_child_busy_in_c_killed_a_grace_after_parent_dies(mp, modname, method):
    grace = 1.0
    grace_env = {GRACE_ENV: str(grace)}
    with parent_and_children(modname, method, BUSY_PARENT, grace_env) as (parent, pids):
        time.sleep(0.2)  # well inside sum()
        lived = sigkill_and_watch(parent, pids, grace)
        assert all(t is not None and t <= grace + 1 for t in lived.values()), lived


SERVED_PARENT = r'''
import os, sys, time
import mp_targets as t
mp = __import__(sys.argv[1])
from importlib import import_module
forkserver = import_module(sys.argv[1] + ".forkserver")

if __name__ == "__main__":
    marker = sys.argv[3]
    p = mp.get_context("forkserver").Process(target=t.touch_then_sleep, args=(marker, 60))
    p.start()
    while not os.path.exists(marker):
        time.sleep(0.01)
    print(p.pid, forkserver._forkserver._forkserver_pid, flush=True)
    time.sleep(60)
'''


# A fork-served child runs on when its fork server is SIGKILLed under it (as stdlib's
# do), and still never outlives its parent for good: it watches the parent itself.
# The child here never loads the Go core.
@pytest.mark.parametrize("method", ["forkserver"])
def test_fork_served_child_outlives_its_killed_server_not_its_parent(mp, impl, modname,
                                                                   method, tmp_path):
    grace = 1.0
    source = SERVED_PARENT.replace("sys.argv[3]", repr(str(tmp_path / "running")))
    with parent_and_children(modname, method, source, {GRACE_ENV: str(grace)}) as (
            parent, pids):
        child, server = pids
        os.kill(server, signal.SIGKILL)
        assert wait_gone([server], 10.0) == []
        # Not a timing claim: a child tied to its server is gone the instant it is.
        time.sleep(0.5)
        assert not pid_gone(child), "the child died with its fork server"
        if impl == "stdlib":
            return  # its orphans run on forever (the helper kills it)
        lived = sigkill_and_watch(parent, [child], grace)
        assert lived[child] is not None and grace - 0.05 <= lived[child] <= grace + 1, lived


DAEMON_PARENT = r'''
import sys
import mp_targets as t
mp = __import__(sys.argv[1])
method = sys.argv[2]
ctx = mp if method == "default" else mp.get_context(method)

if __name__ == "__main__":
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.ready_then_sleep, args=(w, 60), daemon=True)
    p.start()
    assert r.poll(30) and r.recv() == "ready"
    print(p.pid, flush=True)
    # Return from the main module with the daemon child still sleeping.
'''


@pytest.mark.parametrize("method", ["default", "spawn", "forkserver"])
def test_daemon_children_terminated_at_parent_exit(mp, modname, method):
    with parent_and_children(modname, method, DAEMON_PARENT) as (parent, pids):
        _, err = parent.communicate(timeout=30)
        assert parent.returncode == 0, err
        assert wait_gone(pids, 2.0) == [], "daemon child outlived its parent"


NONDAEMON_PARENT = r'''
import sys, time
import mp_targets as t
mp = __import__(sys.argv[1])
method = sys.argv[2]
ctx = mp if method == "default" else mp.get_context(method)

if __name__ == "__main__":
    p = ctx.Process(target=t.sys_exit, args=(0,))
    q = ctx.Process(target=t.sleep, args=(1.0,))
    p.start(); q.start()
    print(q.pid, time.monotonic(), flush=True)
    # Return at once: the interpreter must wait for the non-daemon child q before exiting.
'''


@pytest.mark.parametrize("method", ["default", "spawn"])
def test_parent_waits_for_non_daemon_children_at_exit(mp, modname, method):
    parent = start_parent(modname, method, NONDAEMON_PARENT)
    out, err = parent.communicate(timeout=30)
    ended = time.monotonic()
    assert parent.returncode == 0, err
    pid, started = out.split()
    assert ended - float(started) >= 0.9, "parent exited before its non-daemon child finished"
    assert pid_gone(int(pid))
