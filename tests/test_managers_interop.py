"""gompx managers and stock CPython managers talk to each other over TCP with an authkey.

Every test is gompx-only: the other side is stock CPython, or gompx again.

A stock CPython 3.11, 3.12 and 3.13 (each found as scripts/pythons.sh finds them, see
pythons.py: GOMPX_PYTHONS, pyenv, PATH; else skipped with the reason in the summary)
runs ``interop_stock.py`` with ``-I -S``, so gompx cannot be
imported there: every class gompx sends must load from the standard library alone.

- gompx client, stock server: the server listens on 127.0.0.2; the scenario runs in this
  process and in a spawned gompx child (a third process reaching the server by TCP).
- stock client, gompx server: a gompx manager process serves on 127.0.0.2 and the stock
  interpreter runs the same scenario against it.
Both directions go through nested proxies, #PROXY replies, #ERROR and #TRACEBACK
replies, a Namespace and a Value copied back (#GETVALUE), and a get_methods request
carrying a Token.  Then the same between two gompx processes, with the server on
127.0.0.2 and the client's own manager on 127.0.0.1.  Last, two hosts: network
namespaces made by the test and joined by a veth pair, a server on one and a client on
the other, stock CPython and gompx both ways (skipped, with the reason, where ``ip netns``
cannot make namespaces).
"""

import importlib
import json
import os
import subprocess
import sys

import pytest

import manager_targets as mt
import pythons

pytestmark = pytest.mark.gompx_only

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "interop_stock.py")
WAIT = 60


@pytest.fixture
def gompx(mp):
    """gompx (the ``mp`` fixture's gompx case), with gompx.managers imported."""
    importlib.import_module("gompx.managers")
    return mp


STOCK = pythons.find_pythons()


def _stock(version):
    """The stock CPython *version*; the test skips, saying where it looked, if there is none."""
    if version not in STOCK:
        pytest.skip("no CPython %s found (looked for %s)" % (version, pythons.where()))
    return STOCK[version]


@pytest.fixture(params=["3.11", "3.12", "3.13"])
def stock(request):
    return _stock(request.param)


def _expect_common(r):
    assert r["iter"] == r["dict"]
    assert r["error"] == ["KeyError", ["missing"]]
    assert r["traceback"][1] is True
    assert r["nested"][1:] == ["DictProxy", 2]
    assert r["namespace"][1:] == [1, "two"]
    assert r["value"][0] == 6
    assert r["auto"] == [15, ["incr"]]


def _shutdown(gompx, address, authkey):
    conn = gompx.connection.Client(address, authkey=authkey)
    try:
        gompx.managers.dispatch(conn, None, "shutdown")
    finally:
        conn.close()


def test_gompx_client_stock_server(gompx, stock):
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
        _shutdown(gompx, ("127.0.0.2", port), authkey)
        assert server.wait(WAIT) == 0, server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdout.close()
        server.stderr.close()


def test_stock_client_gompx_server(gompx, stock, request):
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
        assert r["python"] == request.node.callspec.params["stock"]
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
        assert type(m.get_list()[-1]) is gompx.managers.DictProxy
        process = m._process
    process.join(WAIT)
    assert process.exitcode == 0


def test_stock_client_wrong_authkey(gompx, stock):
    cls = mt.interop_manager_class("gompx")
    with cls(address=("127.0.0.2", 0), authkey=b"right key") as m:
        host, port = m.address
        done = subprocess.run([stock, "-I", "-S", SCRIPT, "client", host, str(port),
                               b"wrong key".hex()], capture_output=True, text=True,
                              timeout=WAIT)
        assert done.returncode != 0
        assert "AuthenticationError" in done.stderr
        assert m.get_dict() is not None  # the server goes on serving


def test_gompx_both_sides_across_loopback_addresses(gompx):
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
        with gompx.managers.SyncManager(address=("127.0.0.1", 0), ctx=ctx) as local:
            assert local.address[0] == "127.0.0.1"
            l = local.list()
            l.append(served.get_dict())  # a proxy of one server stored in the other
            assert l[0]["from gompx"] == [sys.version_info[0], sys.version_info[1]]


# -- across network namespaces: two hosts joined by a veth pair ----------------------------

def _ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def hosts():
    """Two network namespaces made here, joined by a veth pair: (ns_a, addr_a, ns_b,
    addr_b).  Skipped, with the reason, where ip netns cannot make them."""
    tag = "%d" % (os.getpid() % 100000)
    ns_a, ns_b = "gompx-mgr-a" + tag, "gompx-mgr-b" + tag
    va, vb = "gmA" + tag, "gmB" + tag
    addr_a, addr_b = "10.213.%d.1" % (os.getpid() % 250), "10.213.%d.2" % (os.getpid() % 250)
    steps = [("netns", "add", ns_a), ("netns", "add", ns_b),
             ("link", "add", va, "type", "veth", "peer", "name", vb),
             ("link", "set", va, "netns", ns_a), ("link", "set", vb, "netns", ns_b),
             ("-n", ns_a, "addr", "add", addr_a + "/30", "dev", va),
             ("-n", ns_b, "addr", "add", addr_b + "/30", "dev", vb),
             ("-n", ns_a, "link", "set", va, "up"), ("-n", ns_b, "link", "set", vb, "up"),
             ("-n", ns_a, "link", "set", "lo", "up"), ("-n", ns_b, "link", "set", "lo", "up")]
    try:
        for step in steps:
            try:
                done = _ip(*step)
            except FileNotFoundError:
                pytest.skip("no `ip` command: cannot make network namespaces")
            if done.returncode != 0:
                pytest.skip("cannot make network namespaces here: ip %s: %s"
                            % (" ".join(step), done.stderr.strip()))
        yield ns_a, addr_a, ns_b, addr_b
    finally:
        _ip("netns", "del", ns_a)  # takes the veth pair with it
        _ip("netns", "del", ns_b)


def _in_ns(ns, argv):
    return ["ip", "netns", "exec", ns, *argv]


def _py_targets(call):
    return [sys.executable, "-c", "import sys; sys.path.insert(0, %r); import manager_targets "
            "as mt; %s" % (HERE, call)]


@pytest.mark.parametrize("server_side", ["stock", "gompx"])
def test_across_network_namespaces(gompx, hosts, server_side):
    """A server on one host, a client on the other: stock 3.11 and gompx, both ways."""
    ns_a, addr_a, ns_b, addr_b = hosts
    stock = _stock("3.11")
    key = os.urandom(16).hex()
    if server_side == "stock":
        serve = [stock, "-I", "-S", SCRIPT, "serve", addr_a, key]
    else:
        serve = _py_targets("mt.serve_interop('gompx', %r, %r)" % (addr_a, key))
    server = subprocess.Popen(_in_ns(ns_a, serve), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert line.strip().isdigit(), server.stderr.read()
        port = line.strip()
        if server_side == "stock":
            client = _py_targets("mt.run_interop_client('gompx', %r, %s, %r)"
                                 % (addr_a, port, key))
        else:
            client = [stock, "-I", "-S", SCRIPT, "client", addr_a, port, key]
        done = subprocess.run(_in_ns(ns_b, client), capture_output=True, text=True,
                              timeout=WAIT)
        assert done.returncode == 0, done.stderr
        r = json.loads(done.stdout.strip().splitlines()[-1])
        _expect_common(r)
        assert r["token"][1] == [addr_a, int(port)]
        client_module = "gompx.managers" if server_side == "stock" else "multiprocessing.managers"
        assert r["nested"][0] == client_module and r["namespace"][0] == client_module
        # shut the server down from the client's host (this namespace has no route there)
        shutdown = _py_targets(
            "import gompx.managers as g, gompx.connection as c; "
            "conn = c.Client((%r, %s), authkey=bytes.fromhex(%r)); "
            "g.dispatch(conn, None, 'shutdown')" % (addr_a, port, key))
        done = subprocess.run(_in_ns(ns_b, shutdown), capture_output=True, text=True,
                              timeout=WAIT)
        assert done.returncode == 0, done.stderr
        assert server.wait(WAIT) == 0, server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdout.close()
        server.stderr.close()
