"""Process: lifecycle, attributes, exit codes and the errors CPython raises."""

import os
import pickle
import re
import signal
import threading
import time

import pytest

import mp_targets as t
from mp_targets import join_within, recv_within

METHODS = ["default", "spawn", "forkserver"]


def context(mp, method):
    return mp if method == "default" else mp.get_context(method)


# --- lifecycle ------------------------------------------------------------------------

def test_start_join_exit_zero(anyctx):
    p = anyctx.Process(target=t.noop)
    assert p.pid is None and p.ident is None
    assert p.exitcode is None
    assert p.is_alive() is False
    p.start()
    assert isinstance(p.pid, int) and p.pid > 0 and p.pid != os.getpid()
    assert p.ident == p.pid
    assert p.join(10) is None
    assert p.exitcode == 0
    assert p.is_alive() is False


def test_args_and_kwargs_reach_target(anyctx):
    r, w = anyctx.Pipe(duplex=False)
    p = anyctx.Process(target=t.send_args, args=(w, 1, "two", [3.0]),
                       kwargs={"k": t.Point(4, 5), "none": None})
    p.start()
    w.close()
    assert recv_within(r) == ((1, "two", [3.0]), {"k": t.Point(4, 5), "none": None})
    assert join_within(p) == 0


def test_target_none_exits_zero(ctx):
    p = ctx.Process()
    p.start()
    assert join_within(p) == 0


@pytest.mark.parametrize("method", METHODS)
def test_subclass_overrides_run(mp, modname, method):
    cls = t.worker_class(modname, method)
    r, w = context(mp, method).Pipe(duplex=False)
    p = cls(w, 21)
    assert isinstance(p, context(mp, method).Process)
    p.start()
    w.close()
    assert recv_within(r) == ("run", 42, True)
    assert join_within(p) == 0


def test_run_in_parent_calls_target(ctx):
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.send, args=(w, "ran here"))
    p.run()
    assert recv_within(r, 1) == "ran here"
    assert p.exitcode is None  # run() is not start(): nothing was started


def test_is_alive_transitions(ctx):
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.wait_for_go, args=(w,))
    assert p.is_alive() is False
    p.start()
    assert p.is_alive() is True
    assert p.exitcode is None
    r.send("go")
    assert join_within(p) == 0
    assert p.is_alive() is False


def test_child_pid_matches_parent_view(ctx, modname):
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.report, args=(w, modname))
    p.start()
    w.close()
    info = recv_within(r)
    assert join_within(p) == 0
    assert info["pid"] == p.pid == p.ident
    assert info["cur_pid"] == info["cur_ident"] == info["pid"]


def test_connection_args_work_in_child(anyctx):
    mine, theirs = anyctx.Pipe()
    p = anyctx.Process(target=t.echo, args=(theirs, 3))
    p.start()
    theirs.close()
    for value in (1, "two", {"three": [3]}):
        mine.send(value)
        assert recv_within(mine) == value
    assert join_within(p) == 0
    # The child closed its end and exited: the parent sees EOF, not a hang.
    assert mine.poll(10)
    with pytest.raises(EOFError):
        mine.recv()


def test_both_simplex_ends_as_args(anyctx):
    to_child_r, to_child_w = anyctx.Pipe(duplex=False)
    from_child_r, from_child_w = anyctx.Pipe(duplex=False)
    p = anyctx.Process(target=t.digest_received, args=(to_child_r, from_child_w, 2))
    p.start()
    to_child_r.close()
    from_child_w.close()
    for data in (b"first", t.pattern(100_000)):
        to_child_w.send_bytes(data)
        assert recv_within(from_child_r) == (len(data), t.digest(data))
    assert join_within(p) == 0


# --- exit codes -----------------------------------------------------------------------

EXITS = [
    ("return", t.noop, (), 0),
    ("exception", t.raise_value_error, ("boom",), 1),
    ("sys.exit()", t.sys_exit, (None,), 0),
    ("sys.exit(0)", t.sys_exit, (0,), 0),
    ("sys.exit(3)", t.sys_exit, (3,), 3),
    ("sys.exit(255)", t.sys_exit, (255,), 255),
    ("sys.exit(message)", t.sys_exit, ("bye",), 1),
    ("os._exit(7)", t.os_exit, (7,), 7),
    ("SIGKILL self", t.kill_self, (signal.SIGKILL,), -signal.SIGKILL),
    ("SIGTERM self", t.kill_self, (signal.SIGTERM,), -signal.SIGTERM),
]


@pytest.mark.parametrize("how,target,args,code", EXITS, ids=[e[0] for e in EXITS])
def test_exit_code(anyctx, how, target, args, code):
    p = anyctx.Process(target=target, args=args)
    p.start()
    assert join_within(p) == code


STDERR_SCRIPT = r'''
import sys
import mp_targets as t
mp = __import__(sys.argv[1])
method = sys.argv[2]
ctx = mp if method == "default" else mp.get_context(method)
if __name__ == "__main__":
    for target, arg in ((t.raise_value_error, "boom-7d1e"), (t.sys_exit, "bye-c0ffee")):
        p = ctx.Process(target=target, args=(arg,))
        p.start()
        p.join(20)
        sys.stderr.flush()
        print("exitcode", p.exitcode, flush=True)
'''


@pytest.mark.parametrize("method", METHODS)
def test_child_stderr_on_exception_and_exit_message(modname, method, run_script):
    res = run_script(STDERR_SCRIPT, modname, method)
    assert res.stdout == "exitcode 1\nexitcode 1\n", res.stderr
    err = res.stderr
    assert "Traceback (most recent call last)" in err
    assert "ValueError: boom-7d1e" in err
    assert "bye-c0ffee" in err
    # sys.exit("message") prints the message, not a traceback.
    assert "SystemExit" not in err
    assert err.count("Traceback (most recent call last)") == 1


@pytest.mark.parametrize("method", METHODS)
def test_terminate_gives_minus_sigterm(mp, method):
    ctx = context(mp, method)
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.ready_then_sleep, args=(w, 60))
    p.start()
    assert recv_within(r) == "ready"
    p.terminate()
    assert join_within(p) == -signal.SIGTERM
    p.terminate()  # terminating a dead process is harmless
    assert p.exitcode == -signal.SIGTERM


@pytest.mark.parametrize("method", METHODS)
def test_kill_gives_minus_sigkill(mp, method):
    ctx = context(mp, method)
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.ignore_sigterm_ready_then_sleep, args=(w, 60))
    p.start()
    assert recv_within(r) == "ready"
    p.terminate()  # ignored by the child
    p.join(0.5)
    assert p.is_alive() and p.exitcode is None
    p.kill()
    assert join_within(p) == -signal.SIGKILL
    p.kill()  # harmless
    assert p.exitcode == -signal.SIGKILL


# --- join -----------------------------------------------------------------------------

def test_join_timeout_leaves_process_running(ctx):
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.ready_then_sleep, args=(w, 60))
    p.start()
    assert recv_within(r) == "ready"
    t0 = time.monotonic()
    assert p.join(0.3) is None
    elapsed = time.monotonic() - t0
    assert 0.25 <= elapsed < 5
    assert p.is_alive() is True
    assert p.exitcode is None
    assert p.join(0) is None and p.exitcode is None
    p.kill()
    assert join_within(p) == -signal.SIGKILL


def test_join_finished_process_returns_at_once(ctx):
    p = ctx.Process(target=t.sys_exit, args=(4,))
    p.start()
    assert join_within(p) == 4
    t0 = time.monotonic()
    p.join()
    p.join(5)
    assert time.monotonic() - t0 < 1
    assert p.exitcode == 4


def test_join_from_other_thread(ctx):
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.wait_for_go, args=(w,))
    p.start()
    codes = []
    th = threading.Thread(target=lambda: (p.join(20), codes.append(p.exitcode)))
    th.start()
    time.sleep(0.2)
    assert codes == []
    r.send("go")
    th.join(20)
    assert codes == [0]


# --- errors as CPython raises them ----------------------------------------------------

def test_start_twice_raises(ctx):
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.wait_for_go, args=(w,))
    p.start()
    with pytest.raises(AssertionError, match="cannot start a process twice"):
        p.start()
    r.send("go")
    assert join_within(p) == 0
    with pytest.raises(AssertionError, match="cannot start a process twice"):
        p.start()


def test_join_unstarted_raises(ctx):
    p = ctx.Process(target=t.noop)
    with pytest.raises(AssertionError, match="can only join a started process"):
        p.join()
    with pytest.raises(AssertionError, match="can only join a started process"):
        p.join(1)


def test_sentinel_unstarted_raises(ctx):
    p = ctx.Process(target=t.noop)
    with pytest.raises(ValueError, match="process not started"):
        p.sentinel


def test_close_while_running_raises(ctx):
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.wait_for_go, args=(w,))
    p.start()
    with pytest.raises(ValueError, match="Cannot close a process while it is still running"):
        p.close()
    # The failed close() left the process usable.
    assert p.is_alive() is True
    r.send("go")
    assert join_within(p) == 0
    p.close()


USES_AFTER_CLOSE = {
    "start": lambda p: p.start(),
    "join": lambda p: p.join(1),
    "is_alive": lambda p: p.is_alive(),
    "terminate": lambda p: p.terminate(),
    "kill": lambda p: p.kill(),
    "pid": lambda p: p.pid,
    "ident": lambda p: p.ident,
    "exitcode": lambda p: p.exitcode,
    "sentinel": lambda p: p.sentinel,
}


@pytest.mark.parametrize("use", sorted(USES_AFTER_CLOSE))
def test_use_after_close_raises(ctx, use):
    p = ctx.Process(target=t.sys_exit, args=(5,))
    p.start()
    assert join_within(p) == 5
    p.close()
    with pytest.raises(ValueError, match="process object is closed"):
        USES_AFTER_CLOSE[use](p)


def test_close_is_idempotent_and_keeps_name(ctx):
    p = ctx.Process(target=t.noop, name="closing")
    p.close()  # never started: allowed
    p.close()
    assert p.name == "closing"
    q = ctx.Process(target=t.noop, name="closing-2")
    q.start()
    assert join_within(q) == 0
    q.close()
    q.close()
    assert q.name == "closing-2"
    with pytest.raises(ValueError, match="process object is closed"):
        q.exitcode


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("kind", ["lambda", "local function"])
def test_unpicklable_target_raises_in_parent(mp, method, kind):
    ctx = mp.get_context(method)

    def local():
        pass

    target = (lambda: None) if kind == "lambda" else local
    p = ctx.Process(target=target)
    with pytest.raises((pickle.PicklingError, AttributeError)) as info:
        p.start()
    assert "local" in str(info.value) or "lambda" in str(info.value)
    assert p not in mp.active_children()


@pytest.mark.gompx_only
def test_unpicklable_target_raises_under_gompx_default(mp):
    p = mp.Process(target=lambda: None)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        p.start()
    assert p not in mp.active_children()


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_unpicklable_args_raise_in_parent(mp, method):
    ctx = mp.get_context(method)
    p = ctx.Process(target=t.noop, args=(t.Unpicklable(),))
    with pytest.raises(TypeError, match="Unpicklable refuses to be pickled"):
        p.start()
    q = ctx.Process(target=t.noop, args=(threading.Lock(),))
    with pytest.raises(TypeError, match="pickle"):
        q.start()
    assert p not in mp.active_children() and q not in mp.active_children()


# --- name, daemon, authkey ------------------------------------------------------------

def test_default_names_are_distinct(mp, ctx):
    a, b = mp.Process(target=t.noop), ctx.Process(target=t.noop)
    assert re.fullmatch(r"Process-\d+(:\d+)*", a.name), a.name
    assert re.fullmatch(r"\w*Process-\d+(:\d+)*", b.name), b.name
    assert a.name != b.name


def test_name_reaches_child(ctx, modname):
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.report, args=(w, modname), name="given-name")
    assert p.name == "given-name"
    p.name = "renamed-before-start"
    p.start()
    w.close()
    assert recv_within(r)["name"] == "renamed-before-start"
    assert join_within(p) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("method", METHODS)
def test_grandchild_sees_its_parent_die(mp, modname, method, sig):
    """CPython's test_parent_process: a child starts a grandchild, the test ends the child,
    and the grandchild sees its parent_process() die (is_alive() turns False, join()
    returns) and can still report it before it exits on its own."""
    ctx = context(mp, method)
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.start_parent_reporter, args=(w, modname, method))
    p.start()
    w.close()
    status, grandchild = recv_within(r, 60)
    assert status == "alive"
    try:
        os.kill(p.pid, sig)
        assert join_within(p) == -sig
        assert recv_within(r, 30) == ("not alive", grandchild)
        deadline = time.monotonic() + 10
        while not t.pid_gone(grandchild) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert t.pid_gone(grandchild), "the grandchild did not exit after its report"
    finally:
        if not t.pid_gone(grandchild):
            os.kill(grandchild, signal.SIGKILL)


@pytest.mark.gompx_only
@pytest.mark.parametrize("value", ["soon", "-1", "inf"])
def test_bad_orphan_grace_raises_at_start(mp, monkeypatch, value):
    monkeypatch.setenv("GOMPX_ORPHAN_GRACE", value)
    p = mp.get_context("spawn").Process(target=t.noop)
    with pytest.raises(ValueError, match="GOMPX_ORPHAN_GRACE"):
        p.start()


def test_daemon_flag(ctx, modname):
    assert ctx.Process(target=t.noop).daemon is False
    assert ctx.Process(target=t.noop, daemon=True).daemon is True
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.report, args=(w, modname))
    p.daemon = True
    p.start()
    w.close()
    assert recv_within(r)["daemon"] is True
    with pytest.raises(AssertionError, match="process has already started"):
        p.daemon = False
    assert join_within(p) == 0


def test_daemon_cannot_have_children(ctx, modname):
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.try_start_grandchild, args=(w, modname, "spawn"), daemon=True)
    p.start()
    w.close()
    assert recv_within(r) == ("AssertionError",
                              "daemonic processes are not allowed to have children")
    assert join_within(p) == 0


def test_authkey_inherited_and_settable(mp, ctx, modname):
    mine = mp.current_process().authkey
    assert isinstance(mine, bytes) and len(mine) == 32
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.report, args=(w, modname))
    assert p.authkey == mine
    p.start()
    w.close()
    assert recv_within(r)["authkey"] == bytes(mine)
    assert join_within(p) == 0

    r, w = ctx.Pipe(duplex=False)
    q = ctx.Process(target=t.report, args=(w, modname))
    q.authkey = b"a-key-of-our-own"
    assert q.authkey == b"a-key-of-our-own"
    q.start()
    w.close()
    assert recv_within(r)["authkey"] == b"a-key-of-our-own"
    assert join_within(q) == 0
    assert mp.current_process().authkey == mine


def test_sentinel_is_fd_that_becomes_ready(ctx, mpconn):
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.wait_for_go, args=(w,))
    p.start()
    s = p.sentinel
    assert isinstance(s, int) and s >= 0
    assert mpconn.wait([s], 0.2) == []
    r.send("go")
    assert mpconn.wait([s], 10) == [s]
    assert join_within(p) == 0
    assert p.sentinel == s
