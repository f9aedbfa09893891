"""Ctrl-C reaches a main thread blocked in every waiting call, with no time slices.

Each case runs ``bench/_idle_targets.py`` in a fresh interpreter: it sets one blocking
call up (a Queue get with nobody putting for 10 minutes, a Process join of a child that
sleeps as long, a Pool apply of a long task...), writes a byte to a pipe just before it
blocks, and blocks.  The test then sends it SIGINT, as Ctrl-C does, and expects
KeyboardInterrupt out of the call: the script reports it on stdout and exits with code 3.
gompx waits in one system call that a signal interrupts (``gompx.EnableInterrupts``), so
this checks that no wait of the core resumes after EINTR on the main thread.

The bound (:data:`BOUND`) only keeps a broken implementation from hanging the suite: it
is no timing assertion (a working one answers in milliseconds).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = os.path.join(os.path.dirname(HERE), "bench", "_idle_targets.py")

BOUND = 10.0      # seconds the blocked process may take to raise after SIGINT
START = 120.0     # seconds it may take to set its case up (children start meanwhile)
WAIT = "600"      # how long the call would block if nothing interrupted it

CASES = ["Queue.get", "SimpleQueue.get", "JoinableQueue.join", "Connection.recv",
         "Connection.poll(t)", "Process.join", "Event.wait", "Lock.acquire",
         "Semaphore.acquire", "Condition.wait", "Pool.apply", "Pool.map"]


def _impl(mp):
    return "stdlib" if mp.__name__ == "multiprocessing" else "gompx"


@pytest.mark.parametrize("case", CASES)
def test_sigint_interrupts_blocked_call(mp, case):
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, TARGETS, "--ready-fd", str(w), _impl(mp), case,
                             WAIT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            pass_fds=(w,))
    os.close(w)
    try:
        ready = os.read(r, 1) if _readable(r, START) else b""
        assert ready == b"r", f"{case}: the child never got to its wait (exit code {proc.poll()})"
        time.sleep(0.5)  # well inside the call (a signal before it raises all the same)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{case}: SIGINT did not end the blocked call within {BOUND} s")
    finally:
        os.close(r)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    report = json.loads(out.decode().splitlines()[0]) if out.strip() else {}
    assert report.get("interrupted") and proc.returncode == 3, (
        f"{case}: exit code {proc.returncode}, stdout {out!r}, stderr:\n{err.decode()}")


def _readable(fd, timeout):
    import select
    return bool(select.select([fd], [], [], timeout)[0])
