"""gompx managers and stock CPython managers talk to each other over TCP with an authkey.

A stock CPython 3.11, 3.12 and 3.13 (each found under /root/.pyenv/versions, else
skipped with the reason) runs ``interop_stock.py`` with ``-I -S``, so gompx cannot be
imported there: every class gompx sends must load from the standard library alone.

- gompx client, stock server: the server listens on 127.0.0.2; the scenario runs in this
  process and in a spawned gompx child (a third process reaching the server by TCP).
- stock client, gompx server: a gompx manager process serves on 127.0.0.2 and the stock
  interpreter runs the same scenario against it.
Both directions go through nested proxies, #PROXY replies, #ERROR and #TRACEBACK
replies, a Namespace and a Value copied back (#GETVALUE), and a get_methods request
carrying a Token.  The gompx-only run at the end checks the same between two gompx
processes with the server on 127.0.0.2 and the client's manager started on 127.0.0.1.
"""

import glob
import json
import os
import subprocess
import sys

import pytest

import gompx
import gompx.managers as gmgrs
import manager_targets as mt

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "interop_stock.py")
WAIT = 60


def _stock(version):
    found = sorted(glob.glob("/root/.pyenv/versions/%s.*/bin/python%s" % (version, version)))
    return found[-1] if found else None


@pytest.fixture(params=["3.11", "3.12", "3.13"])
def stock(request):
    path = _stock(request.param)
    if path is None:
        pytest.skip("no CPython %s under /root/.pyenv/versions" % request.param)
    return path


def _expect_common(r):
    assert r["iter"] == r["dict"]
    assert r["error"] == ["KeyError", ["missing"]]
    assert r["traceback"][1] is True
    assert r["nested"][1:] == ["DictProxy", 2]
    assert r["namespace"][1:] == [1, "two"]
    assert r["value"][0] == 6
    assert r["auto"] == [15, ["incr"]]


def _shutdown(address, authkey):
    conn = gompx.connection.Client(address, authkey=authkey)
    try:
        gmgrs.dispatch(conn, None, "shutdown")
    finally:
        conn.close()


def test_gompx_client_stock_server(stock):
    authkey = os.urandom(16)
    server = subprocess.Popen([stock, "-I", "-S", SCRIPT, "serve", "127.0.0.2", authkey.hex()],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert line.strip().isdigit(), server.stderr.read()
        port = int(line)
        saved = gompx.current_process().authkey
        try:
            r = mt.interop_client("gompx", "127.0.0.2", port, authkey)
        finally:
            gompx.current_process().authkey = saved
        _expect_common(r)
        # what the stock server sent back loads as gompx's classes here
        assert r["nested"][0] == "gompx.managers"
        assert r["namespace"][0] == "gompx.managers" and r["value"][1] == "gompx.managers"
        assert r["traceback"][0] == "gompx.managers"
        assert r["token"] == ["gompx.managers", ["127.0.0.2", port]]

        ctx = gompx.get_context("spawn")
        out = ctx.Queue()
        child = ctx.Process(target=mt.interop_client_in_child,
                            args=("gompx", "127.0.0.2", port, authkey, out))
        child.start()
        rc = out.get(timeout=WAIT)
        child.join(WAIT)
        assert "exception" not in rc, rc["exception"]
        _expect_common(rc)
        assert rc["dict"] == ["from gompx"]
        _shutdown(("127.0.0.2", port), authkey)
        assert server.wait(WAIT) == 0, server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdout.close()
        server.stderr.close()


def test_stock_client_gompx_server(stock):
    # This process's authkey: it reads a nested proxy back at the end, which
    # authenticates with the process authkey.
    authkey = bytes(gompx.current_process().authkey)
    cls = mt.interop_manager_class("gompx")
    with cls(address=("127.0.0.2", 0), authkey=authkey) as m:
        host, port = m.address
        assert host == "127.0.0.2"
        done = subprocess.run([stock, "-I", "-S", SCRIPT, "client", host, str(port),
                               authkey.hex()], capture_output=True, text=True, timeout=WAIT)
        assert done.returncode == 0, done.stderr
        r = json.loads(done.stdout)
        assert r["python"] == os.path.basename(stock)[len("python"):]
        _expect_common(r)
        # what gompx sent loaded in a CPython without gompx, as the stdlib's classes
        assert r["nested"][0] == "multiprocessing.managers"
        assert r["namespace"][0] == "multiprocessing.managers"
        assert r["value"][1] == "multiprocessing.managers"
        assert r["traceback"][0] == "multiprocessing.managers"
        assert r["token"] == ["multiprocessing.managers", [host, port]]
        # the stock client's writes are visible through gompx proxies
        d = m.get_dict()
        assert d["from stock"] == list(map(int, r["python"].split(".")))
        assert type(m.get_list()[-1]) is gmgrs.DictProxy
        process = m._process
    process.join(WAIT)
    assert process.exitcode == 0


def test_stock_client_wrong_authkey(stock):
    cls = mt.interop_manager_class("gompx")
    with cls(address=("127.0.0.2", 0), authkey=b"right key") as m:
        host, port = m.address
        done = subprocess.run([stock, "-I", "-S", SCRIPT, "client", host, str(port),
                               b"wrong key".hex()], capture_output=True, text=True,
                              timeout=WAIT)
        assert done.returncode != 0
        assert "AuthenticationError" in done.stderr
        assert m.get_dict() is not None  # the server goes on serving


def test_gompx_both_sides_across_loopback_addresses():
    # The process authkey for both managers: the second server rebuilds the first one's
    # proxy and authenticates to it with its own process authkey, as in stdlib.
    authkey = bytes(gompx.current_process().authkey)
    cls = mt.interop_manager_class("gompx")
    with cls(address=("127.0.0.2", 0)) as served:
        ctx = gompx.get_context("spawn")
        out = ctx.Queue()
        child = ctx.Process(target=mt.interop_client_in_child,
                            args=("gompx", "127.0.0.2", served.address[1], authkey, out))
        child.start()
        r = out.get(timeout=WAIT)
        child.join(WAIT)
        assert "exception" not in r, r["exception"]
        _expect_common(r)
        assert r["nested"][0] == "gompx.managers"
        # the parent's own manager, on the other loopback address, is independent of it
        with gmgrs.SyncManager(address=("127.0.0.1", 0), ctx=ctx) as local:
            assert local.address[0] == "127.0.0.1"
            l = local.list()
            l.append(served.get_dict())  # a proxy of one server stored in the other
            assert l[0]["from gompx"] == [sys.version_info[0], sys.version_info[1]]
