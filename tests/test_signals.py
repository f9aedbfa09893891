"""Signals while blocked: Ctrl-C raises KeyboardInterrupt promptly, other handlers run and
the wait resumes, and the stream stays in step afterwards.

Each case runs in a fresh interpreter whose main thread blocks in one call; a timer thread
sends the signal.  gompx blocks inside Go; these tests prove the interpreter still gets
control back the way ``os.read`` gives it (PEP 475).
"""

import pytest

BLOCKERS = {
    "recv": "a.recv()",
    "recv_bytes": "a.recv_bytes()",
    "poll_forever": "a.poll(None)",
    "wait_forever": "connection.wait([a])",
    "join": "p.join()",
}

SCRIPT = """
import os, signal, sys, threading, time
import {mod} as mp
from {mod} import connection
import mp_targets

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    a, b = ctx.Pipe()
    p = ctx.Process(target=mp_targets.{target}, args=({args}))
    p.start()
    threading.Timer(0.5, os.kill, (os.getpid(), signal.{sig})).start()
    handled = []
    if "{sig}" != "SIGINT":
        signal.signal(signal.{sig}, lambda *_: handled.append(time.monotonic()))
    start = time.monotonic()
    try:
        result = {blocker}
        outcome = "returned"
    except KeyboardInterrupt:
        outcome = "KeyboardInterrupt"
    print(outcome, round(time.monotonic() - start, 2), len(handled), flush=True)
    if "{check_stream}" == "yes":
        b.send("in step")
        print(a.recv(), flush=True)
    p.kill()
    p.join()
"""


@pytest.mark.parametrize("blocker", sorted(BLOCKERS))
def test_ctrl_c_interrupts_a_blocked_call(run_script, modname, blocker):
    # The child sleeps and never sends: only the signal can end the wait.
    source = SCRIPT.format(mod=modname, target="sleep", args="60,",
                           sig="SIGINT", blocker=BLOCKERS[blocker],
                           check_stream="yes" if blocker != "join" else "no")
    proc = run_script(source, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    outcome, elapsed, _ = lines[0].split()
    assert outcome == "KeyboardInterrupt"
    assert 0.4 <= float(elapsed) < 2.0, proc.stdout
    if blocker != "join":
        assert lines[1] == "in step"


@pytest.mark.parametrize("blocker", ["recv", "join"])
def test_other_handlers_run_and_the_wait_resumes(run_script, modname, blocker):
    # SIGUSR1's handler records the signal; the call keeps waiting until the child acts
    # (sends after 1.5 s, or exits after 1.5 s).
    target, args = ("send_after", "b, 'late', 1.5") if blocker == "recv" else ("sleep", "1.5,")
    source = SCRIPT.format(mod=modname, target=target, args=args, sig="SIGUSR1",
                           blocker=BLOCKERS[blocker], check_stream="no")
    proc = run_script(source, timeout=30)
    assert proc.returncode == 0, proc.stderr
    outcome, elapsed, handled = proc.stdout.split("\n")[0].split()
    assert outcome == "returned"
    assert int(handled) == 1
    assert float(elapsed) >= 1.2
