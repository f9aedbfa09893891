"""current_process, parent_process, active_children, cpu_count, freeze_support, exceptions."""

import os

import pytest

import mp_targets as t
from mp_targets import join_within, recv_within


def test_current_process_in_parent(mp):
    me = mp.current_process()
    assert me.name == "MainProcess"
    assert me.pid == os.getpid() == me.ident
    assert me.daemon is False
    assert me.is_alive() is True
    assert me is mp.current_process()


def test_parent_process_in_parent_is_none(mp):
    assert mp.parent_process() is None


@pytest.mark.parametrize("method", ["default", "spawn", "forkserver"])
def test_current_and_parent_process_in_child(mp, modname, method):
    ctx = mp if method == "default" else mp.get_context(method)
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.report, args=(w, modname), name="reporter")
    p.start()
    w.close()
    info = recv_within(r)
    assert join_within(p) == 0
    assert info["name"] == "reporter"
    assert info["cur_pid"] == p.pid
    assert info["parent_pid"] == os.getpid()
    assert info["parent_name"] == "MainProcess"
    assert info["parent_alive"] is True


def test_active_children(ctx):
    before = set(ctx.active_children())
    pipes = [ctx.Pipe() for _ in range(2)]
    procs = [ctx.Process(target=t.wait_for_go, args=(w,)) for _, w in pipes]
    assert not any(p in ctx.active_children() for p in procs)  # not started yet
    for p in procs:
        p.start()
    children = ctx.active_children()
    assert isinstance(children, list)
    assert set(children) - before == set(procs)
    # A child that exited is reaped by active_children() even without join().
    pipes[0][0].send("go")
    deadline = 100
    while procs[0] in ctx.active_children() and deadline:
        procs[0].join(0.1)
        deadline -= 1
    assert procs[0] not in ctx.active_children()
    assert procs[0].exitcode == 0
    assert procs[1] in ctx.active_children()
    pipes[1][0].send("go")
    assert join_within(procs[1]) == 0
    assert set(ctx.active_children()) - before == set()


def test_active_children_same_through_module_and_context(mp, ctx):
    r, w = ctx.Pipe()
    p = ctx.Process(target=t.wait_for_go, args=(w,))
    p.start()
    assert p in mp.active_children()
    r.send("go")
    assert join_within(p) == 0
    assert p not in mp.active_children()


def test_cpu_count(mp):
    n = mp.cpu_count()
    assert isinstance(n, int)
    assert n == os.cpu_count()
    assert n >= 1


def test_freeze_support_is_noop(mp, ctx):
    assert mp.freeze_support() is None
    assert ctx.freeze_support() is None


def test_exception_classes(mp):
    assert issubclass(mp.ProcessError, Exception)
    for name in ("BufferTooShort", "AuthenticationError", "TimeoutError"):
        assert issubclass(getattr(mp, name), mp.ProcessError), name
    e = mp.BufferTooShort(b"payload")
    assert e.args == (b"payload",)
