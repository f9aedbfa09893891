"""gompx hygiene, each check in a fresh interpreter (gompx-only)."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.gompx_only


def run_code(code, timeout=60):
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, "exit %d, stderr:\n%s" % (res.returncode, res.stderr)
    return res.stdout


def test_import_does_not_import_stdlib_multiprocessing(mp):
    out = run_code(
        "import sys, json\n"
        "before = sorted(m for m in sys.modules if m.split('.')[0] == 'multiprocessing')\n"
        "import gompx\n"
        "after = sorted(m for m in sys.modules if m.split('.')[0] == 'multiprocessing')\n"
        "print(json.dumps([before, after, gompx.__name__]))\n")
    assert json.loads(out) == [[], [], "gompx"]


DROP_IN = r'''
import sys
import gompx
sys.modules["multiprocessing"] = gompx
import multiprocessing
from multiprocessing import Pipe, Process

def child(conn, x):
    conn.send((multiprocessing.current_process().name, x * 2))
    conn.close()

if __name__ == "__main__":
    assert multiprocessing is gompx
    r, w = Pipe(duplex=False)
    p = Process(target=child, args=(w, 21), name="drop-in")
    p.start()
    w.close()
    assert r.poll(20), "no message from the child"
    print("got", r.recv())
    p.join(20)
    print("exitcode", p.exitcode)
'''


def test_sys_modules_alias_runs_a_program(mp, run_script):
    res = run_script(DROP_IN)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "got ('drop-in', 42)\nexitcode 0\n"


def test_no_gopy_gc_hook(mp):
    out = run_code(
        "import gc, json\n"
        "import gompx\n"
        "r, w = gompx.Pipe()\n"
        "w.send([1, 2]); assert r.poll(10) and r.recv() == [1, 2]\n"
        "p = gompx.Process(); p.start(); p.join(20); assert p.exitcode == 0\n"
        "gc.collect()\n"
        "names = [getattr(cb, '__qualname__', repr(cb)) for cb in gc.callbacks]\n"
        "print(json.dumps({'names': names, 'reprs': [repr(cb) for cb in gc.callbacks]}))\n")
    found = json.loads(out)
    assert not any("_gopy_gc_cb" in s for s in found["names"] + found["reprs"]), found


BAD_INPUT = r'''
import gompx, gompx.connection as C, json, socket

def outcome(fn):
    try:
        fn()
    except Exception as e:
        return type(e).__name__
    return "no error"

def closed_conn():
    a, b = gompx.Pipe()
    a.close()
    return a

def closed_peer():
    a, b = gompx.Pipe()
    b.close()
    return a

def never_opened_fd():
    s = socket.socket()
    fd = s.detach()
    import os
    os.close(fd)
    return fd

def unstarted():
    return gompx.Process()

cases = {
    "Connection(-1)": lambda: C.Connection(-1),
    "send on closed": lambda: closed_conn().send(1),
    "send_bytes on closed": lambda: closed_conn().send_bytes(b"x"),
    "recv on closed": lambda: closed_conn().recv(),
    "poll on closed": lambda: closed_conn().poll(0),
    "send to closed peer": lambda: closed_peer().send_bytes(b"x" * 1000),
    "recv from closed peer": lambda: closed_peer().recv(),
    "send on a closed fd": lambda: C.Connection(never_opened_fd()).send(1),
    "recv_bytes(-1)": lambda: gompx.Pipe()[0].recv_bytes(-1),
    "send_bytes offset -1": lambda: gompx.Pipe()[0].send_bytes(b"abc", -1),
    "join unstarted": lambda: unstarted().join(1),
    "get_context(fork)": lambda: gompx.get_context("fork"),
    "wait on closed fd":
        lambda: __import__("gompx.connection").connection.wait([never_opened_fd()], 0.1),
}
print(json.dumps({name: outcome(fn) for name, fn in cases.items()}))
'''


def test_bad_input_raises_python_exceptions(mp):
    got = json.loads(run_code(BAD_INPUT))
    assert got["Connection(-1)"] == "ValueError"
    assert got["send on closed"] == "OSError"
    assert got["send_bytes on closed"] == "OSError"
    assert got["recv on closed"] == "OSError"
    assert got["poll on closed"] == "OSError"
    assert got["send to closed peer"] in ("BrokenPipeError", "ConnectionResetError", "OSError")
    assert got["recv from closed peer"] == "EOFError"
    assert got["send on a closed fd"] in ("OSError", "ValueError")
    assert got["recv_bytes(-1)"] == "ValueError"
    assert got["send_bytes offset -1"] == "ValueError"
    assert got["join unstarted"] == "AssertionError"
    assert got["get_context(fork)"] == "ValueError"
    assert got["wait on closed fd"] in ("OSError", "ValueError")
