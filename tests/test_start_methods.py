"""Start methods: contexts, set/get_start_method, and gompx's spawn/forkserver-only table."""

import json
import sys

import pytest

import mp_targets as t
from mp_targets import join_within, recv_within


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_get_context_by_name(mp, method):
    ctx = mp.get_context(method)
    assert ctx.get_start_method() == method
    for name in ("Process", "Pipe", "active_children", "cpu_count", "current_process",
                 "parent_process", "freeze_support", "get_context"):
        assert callable(getattr(ctx, name)), name


def test_get_context_unknown_name(mp):
    with pytest.raises(ValueError):
        mp.get_context("no-such-method")


def test_get_all_start_methods_includes_ours(mp):
    methods = mp.get_all_start_methods()
    assert isinstance(methods, list)
    assert "spawn" in methods and "forkserver" in methods


@pytest.mark.gompx_only
def test_gompx_start_methods_exactly(mp):
    assert mp.get_all_start_methods() == ["spawn", "forkserver"]


@pytest.mark.gompx_only
def test_gompx_default_is_spawn(mp):
    assert mp.get_context().get_start_method() == "spawn"
    assert mp.get_start_method() == "spawn"


@pytest.mark.gompx_only
def test_gompx_get_context_fork_names_alternatives(mp):
    with pytest.raises(ValueError) as info:
        mp.get_context("fork")
    assert "spawn" in str(info.value) and "forkserver" in str(info.value)


def assert_child_reimports_modules(ctx):
    """A child of ctx sees the module global as imported, not as the parent changed it."""
    t.GLOBAL = "changed in parent"
    try:
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=t.send_global, args=(w,))
        p.start()
        w.close()
        assert recv_within(r) == "original"
        assert join_within(p) == 0
    finally:
        t.GLOBAL = "original"


@pytest.mark.gompx_only
def test_gompx_default_process_is_spawned(mp):
    """The default context re-imports modules in the child, as spawn does."""
    assert_child_reimports_modules(mp)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_spawned_child_reimports_modules(mp, method):
    assert_child_reimports_modules(mp.get_context(method))


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_child_reports_its_start_method(mp, modname, method):
    ctx = mp.get_context(method)
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=t.report, args=(w, modname))
    p.start()
    w.close()
    info = recv_within(r)
    assert join_within(p) == 0
    assert info["start_method"] == method


# set_start_method changes process-wide state: exercise it in a fresh interpreter.
SET_START_METHOD = r'''
import json, sys
import mp_targets as t
mp = __import__(sys.argv[1])

def run(code):
    p = mp.Process(target=t.sys_exit, args=(code,))
    p.start()
    p.join(20)
    return p.exitcode

if __name__ == "__main__":
    out = {"initial": mp.get_start_method(allow_none=True)}
    mp.set_start_method("forkserver")
    out["after_set"] = mp.get_start_method()
    out["run_forkserver"] = run(3)
    try:
        mp.set_start_method("spawn")
    except RuntimeError as e:
        out["set_again"] = "RuntimeError"
    else:
        out["set_again"] = "no error"
    out["still"] = mp.get_start_method()
    mp.set_start_method("spawn", force=True)
    out["forced"] = mp.get_start_method()
    out["run_spawn"] = run(4)
    print(json.dumps(out))
'''


def test_set_start_method(mp, modname, run_script):
    res = run_script(SET_START_METHOD, modname)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {
        "initial": None,
        "after_set": "forkserver",
        "run_forkserver": 3,
        "set_again": "RuntimeError",
        "still": "forkserver",
        "forced": "spawn",
        "run_spawn": 4,
    }


SET_FORK = r'''
import sys
mp = __import__(sys.argv[1])
for kwargs in ({}, {"force": True}):
    try:
        mp.set_start_method("fork", **kwargs)
    except ValueError as e:
        print("ValueError", str(e).replace("\n", " "))
    else:
        print("accepted")
print("now", mp.get_start_method())
'''


@pytest.mark.gompx_only
def test_gompx_set_start_method_fork_raises(mp, run_script):
    res = run_script(SET_FORK, "gompx")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 3, res.stdout
    for line in lines[:2]:
        assert line.startswith("ValueError "), line
        assert "spawn" in line and "forkserver" in line, line
    assert lines[2] == "now spawn"


MAIN_TARGET = r'''
import sys
mp = __import__(sys.argv[1])
method = sys.argv[2]
ctx = mp if method == "default" else mp.get_context(method)

def work(conn, x):
    conn.send((__name__, x * 2))
    conn.close()

print("top level of", __name__, flush=True)

if __name__ == "__main__":
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=work, args=(w, 21))
    p.start()
    w.close()
    assert r.poll(20)
    print("got", r.recv(), flush=True)
    p.join(20)
    print("exitcode", p.exitcode, flush=True)
'''


@pytest.mark.parametrize("method", ["default", "spawn", "forkserver"])
def test_target_defined_in_main_script(mp, modname, method, run_script):
    """The usual user program: target in __main__, guarded by if __name__ == "__main__"."""
    res = run_script(MAIN_TARGET, modname, method)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "top level of __main__"
    assert "exitcode 0" == lines[-1]
    got = [line for line in lines if line.startswith("got ")]
    assert len(got) == 1
    if method == "default" and modname == "multiprocessing" and sys.platform == "linux":
        assert got[0] == "got ('__main__', 42)"  # fork: the child is a copy of __main__
    else:
        assert got[0] == "got ('__mp_main__', 42)"  # re-imported as __mp_main__
    # The guarded block ran once; only spawn-style children re-run the top level.
    assert lines.count("exitcode 0") == 1


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_children_start_under_a_default_socket_timeout(mp, method):
    # CPython's TestTimeouts: socket.setdefaulttimeout() must not reach the sockets the
    # start method makes (a timeout makes them non-blocking in the child too).
    import socket
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(0.05)
    try:
        ctx = mp.get_context(method)
        procs = [ctx.Process(target=t.sleep, args=(0.01,)) for _ in range(8)]
        for p in procs:
            p.start()
        assert [join_within(p) for p in procs] == [0] * 8
    finally:
        socket.setdefaulttimeout(old)
