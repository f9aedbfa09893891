"""Children's lifetime tied to the parent's, observed from outside in a script.

The script is the parent: it starts children, prints their pids and then exits (or is
SIGKILLed by the test).  A pid counts as gone when /proc has no entry or the entry is a
zombie (orphans are reparented to an init that may reap them late).
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from mp_targets import pid_gone

HERE = os.path.dirname(os.path.abspath(__file__))


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(pid_gone(pid) for pid in pids):
            return []
        time.sleep(0.05)
    return [pid for pid in pids if not pid_gone(pid)]


def kill_leftovers(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


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


def start_parent(modname, method, source=PARENT):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (HERE, env.get("PYTHONPATH")) if x)
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


@pytest.mark.gompx_only
@pytest.mark.parametrize("method", ["default", "spawn", "forkserver"])
def test_children_die_when_parent_is_sigkilled(mp, modname, method):
    parent = start_parent(modname, method)
    try:
        pids = read_pids(parent)
        assert len(pids) == 2 and all(pid > 0 for pid in pids)
        assert not any(pid_gone(pid) for pid in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        survivors = wait_gone(pids, 2.0)
        assert survivors == [], "children still alive 2 s after the parent was SIGKILLed"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        kill_leftovers(pids if "pids" in locals() else [])


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
    parent = start_parent(modname, method, DAEMON_PARENT)
    pids = []
    try:
        pids = read_pids(parent)
        _, err = parent.communicate(timeout=30)
        assert parent.returncode == 0, err
        assert wait_gone(pids, 2.0) == [], "daemon child outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        kill_leftovers(pids)


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
