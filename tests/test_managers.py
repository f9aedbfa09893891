"""Managers: every test runs against stdlib multiprocessing and gompx (the ``mp`` fixture).

Covers each SyncManager proxy type from the parent and from a child, nested proxies,
the error replies (#ERROR, #TRACEBACK, #UNSERIALIZABLE), ``register`` with ``exposed``,
``method_to_typeid`` and ``create_method``, ``connect()`` from a second process,
``get_server().serve_forever()`` in a child, authentication, and a manager that dies.
Registered classes and child targets live in ``manager_targets.py``.  Managers start
through the spawn context: stdlib's default, fork, copies this multi-threaded pytest
process (locks held by other threads included) into the server.
"""

import copy
import importlib
import os
import queue
import threading
import time

import pytest

import manager_targets as mt

WAIT = 30


@pytest.fixture
def mgrs(mp):
    return importlib.import_module(mp.__name__ + ".managers")


@pytest.fixture
def manager(ctx):
    m = ctx.Manager()
    yield m
    m.shutdown()


def auth_error(mp, mpconn):
    """The AuthenticationError a failed handshake raises.

    TEMPORARY: until branch conn lands, gompx.connection.Client is stdlib's and raises
    stdlib's AuthenticationError; afterwards it is gompx's own (mp.AuthenticationError).
    """
    if mpconn.Client.__module__ == "multiprocessing.connection":
        import multiprocessing
        return multiprocessing.AuthenticationError
    return mp.AuthenticationError


def test_manager_is_a_started_sync_manager(mp, ctx, mgrs):
    with ctx.Manager() as m:
        assert isinstance(m, mgrs.SyncManager)
        assert m._state.value == mgrs.State.STARTED
        assert m._process.is_alive()
        proc = m._process
    assert m._state.value == mgrs.State.SHUTDOWN
    proc.join(WAIT)
    assert proc.exitcode == 0
    with pytest.raises(mp.ProcessError):
        m.start()


def test_dict_proxy(manager):
    d = manager.dict({"a": 1}, b=2)
    d["c"] = 3
    assert d["a"] == 1 and len(d) == 3 and "b" in d and "z" not in d
    assert sorted(d.keys()) == ["a", "b", "c"]
    assert sorted(d.values()) == [1, 2, 3]
    assert sorted(d.items()) == [("a", 1), ("b", 2), ("c", 3)]
    assert sorted(iter(d)) == ["a", "b", "c"]  # __iter__ returns an Iterator proxy
    assert d.get("z", 9) == 9 and d.setdefault("z", 26) == 26
    d.update({"y": 25}, x=24)
    assert d.pop("x") == 24 and d.popitem() in {("y", 25), ("z", 26)}
    del d["a"]
    assert d.copy() == {k: v for k, v in d.items()}
    assert copy.deepcopy(d) == d._getvalue() and type(d._getvalue()) is dict
    with pytest.raises(KeyError) as info:  # #ERROR: the method's own exception
        d["missing"]
    assert info.value.args == ("missing",)
    d.clear()
    assert len(d) == 0 and str(d) == "{}"


def test_list_proxy(manager):
    l = manager.list([3, 1])
    l.append(2)
    l.extend([5, 4])
    l.insert(0, 0)
    assert l[0] == 0 and l[-1] == 4 and len(l) == 6
    l.sort()
    assert list(l) == [0, 1, 2, 3, 4, 5]
    l.reverse()
    assert l[:] == [5, 4, 3, 2, 1, 0]
    assert list(reversed(l)) == [0, 1, 2, 3, 4, 5]
    assert l.index(3) == 2 and l.count(3) == 1 and 3 in l
    assert l.pop() == 0 and l.pop(0) == 5
    l.remove(4)
    l[0] = 30
    del l[1]
    assert l + [7] == [30, 1, 7] and l * 2 == [30, 1, 30, 1] and 2 * l == [30, 1, 30, 1]
    l += [8]
    l *= 2
    assert list(l) == [30, 1, 8, 30, 1, 8]
    with pytest.raises(ValueError):
        l.remove(99)
    with pytest.raises(IndexError):
        l[100]


def test_namespace_value_array(mp, manager):
    ns = manager.Namespace(x=1)
    ns.y = "two"
    assert (ns.x, ns.y) == (1, "two")
    del ns.x
    with pytest.raises(AttributeError):
        ns.x
    assert "y='two'" in str(ns)
    v = manager.Value("i", 7)
    v.value += 1
    assert v.get() == 8
    v.set(10)
    assert v.value == 10
    a = manager.Array("d", [1.5, 2.5])
    a[1] = 4.0
    assert len(a) == 2 and a[0] == 1.5 and a[1] == 4.0 and list(a[:]) == [1.5, 4.0]


def test_queue_proxies(manager):
    q = manager.Queue(2)
    q.put(1)
    q.put_nowait(2)
    assert q.qsize() == 2 and q.full()
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.05)
    assert q.get() == 1 and q.get_nowait() == 2 and q.empty()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    jq = manager.JoinableQueue()
    jq.put("job")
    assert jq.get() == "job"
    jq.task_done()
    jq.join()
    with pytest.raises(ValueError):
        jq.task_done()


def test_lock_proxies(manager):
    for lock in (manager.Lock(), manager.RLock()):
        assert lock.acquire() is True
        lock.release()
        with lock:
            pass
    lock = manager.Lock()
    lock.acquire()
    assert lock.acquire(True, 0.05) is False
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
    sem = manager.Semaphore(2)
    assert sem.acquire() and sem.acquire() and not sem.acquire(timeout=0.05)
    sem.release()
    bsem = manager.BoundedSemaphore(1)
    bsem.acquire()
    bsem.release()
    with pytest.raises(ValueError):
        bsem.release()


def test_event_condition_barrier(ctx, manager):
    ev = manager.Event()
    assert not ev.is_set() and ev.wait(0.05) is False
    out = ctx.Queue()
    p = ctx.Process(target=mt.wait_event, args=(ev, out))
    p.start()
    ev.set()
    assert out.get(timeout=WAIT) is True
    p.join(WAIT)
    ev.clear()
    assert not ev.is_set()

    cond, flag = manager.Condition(), manager.Value("i", 0)
    p = ctx.Process(target=mt.condition_waiter, args=(cond, flag, out))
    p.start()
    time.sleep(0.1)
    with cond:
        flag.value = 1
        cond.notify()
    assert out.get(timeout=WAIT) is True
    p.join(WAIT)
    with cond:
        assert cond.wait(0.01) is False
        assert cond.wait_for(lambda: True) is True

    b = manager.Barrier(2)
    assert (b.parties, b.n_waiting, b.broken) == (2, 0, False)
    t = threading.Thread(target=b.wait, args=(WAIT,))
    t.start()
    assert b.wait(WAIT) in (0, 1)
    t.join()
    b.abort()
    assert b.broken
    with pytest.raises(threading.BrokenBarrierError):
        b.wait(0.1)
    b.reset()
    assert not b.broken


def test_every_proxy_from_a_child(ctx, modname, manager):
    m = manager
    p = {"dict": m.dict(parent="p"), "list": m.list(["b"]), "ns": m.Namespace(parent=1),
         "value": m.Value("i", 1), "array": m.Array("i", [1, 2]), "queue": m.Queue(),
         "jqueue": m.JoinableQueue(), "lock": m.Lock(), "rlock": m.RLock(),
         "sem": m.Semaphore(1), "bsem": m.BoundedSemaphore(1), "event": m.Event(),
         "cond": m.Condition(), "barrier": m.Barrier(2)}
    p["queue"].put("to child")
    p["jqueue"].put("job")
    out = ctx.Queue()
    child = ctx.Process(target=mt.use_everything, args=(modname, p, out))
    child.start()
    assert p["event"].wait(WAIT)
    assert p["barrier"].wait(WAIT) in (0, 1)
    r = out.get(timeout=WAIT)
    child.join(WAIT)
    assert child.exitcode == 0
    assert r["dict"] == ("p", "dflt", 3, True, ["child", "parent", "x"], 10)
    assert r["list"] == (1, 5, 4, 1, [1, 2, 3, "b", "c"])
    assert r["ns"] == 1 and p["ns"].child == "set by child"
    assert r["value"] == (2, 2, 2, 2) and p["array"][0] == 101
    assert r["queue"] == "to child" and p["queue"].get(timeout=WAIT) == "from child"
    assert r["jqueue"] == "job"
    p["jqueue"].join()
    assert r["lock"] == (True, None) and r["rlock"] is True
    assert r["sem"] == (True, True, None) and r["bsem_over"] == "ValueError"
    assert r["barrier"] is True and r["keyerror"] == ("missing",)
    assert p["dict"]["child"] == 1


def test_nested_proxies(ctx, modname, manager):
    inner, log = manager.dict(), manager.list()
    outer = manager.list([inner, log])
    inner["parent"] = 1
    got = outer[0]  # a proxy for the same dict, rebuilt from the server's reply
    assert got["parent"] == 1
    got["again"] = 2
    assert inner["again"] == 2
    child = ctx.Process(target=mt.nested, args=(modname, outer, "k"))
    child.start()
    child.join(WAIT)
    assert child.exitcode == 0
    assert inner["k"] == "child wrote" and list(log) == ["k"]
    # a dict of lists, made inside the server and reached only through the outer proxy
    d = manager.dict()
    d["l"] = manager.list([1])
    d["l"].append(2)
    assert list(d["l"]) == [1, 2]


def test_error_replies(mgrs, manager):
    d = manager.dict()
    with pytest.raises(mgrs.RemoteError) as info:  # #TRACEBACK: not exposed
        d._callmethod("nonexistent")
    assert "AttributeError" in str(info.value) and "nonexistent" in str(info.value)
    assert str(info.value).startswith("\n" + "-" * 75)
    with pytest.raises(TypeError):  # #ERROR: the call itself raised
        d._callmethod("__getitem__", (1, 2))
    b = manager.Barrier(1)
    with pytest.raises(mgrs.RemoteError) as info:  # #UNSERIALIZABLE: result cannot pickle
        b._callmethod("__getattribute__", ("_cond",))
    assert "Unserializable message" in str(info.value)
    assert d.get("missing") is None  # the connection still works after each error
    assert mgrs.convert_to_error("#ERROR", KeyError("k")).args == ("k",)
    assert isinstance(mgrs.convert_to_error("#weird", None), ValueError)
    with pytest.raises(TypeError):
        mgrs.convert_to_error("#TRACEBACK", 5)


def test_register_options(ctx, mgrs, modname):
    cls = mt.manager_class(modname)
    assert not hasattr(cls, "HiddenCounter") and hasattr(cls, "Counter")
    with cls(ctx=ctx) as m:
        c = m.Counter(1)
        assert c.incr() == 2 and c.incr(5) == 7 and c.get() == 7
        assert c._callmethod("_secret") == "secret"  # exposed explicitly
        with pytest.raises(ValueError) as info:
            c._callmethod("fail", ("boom",))
        assert info.value.args == ("boom",)
        with pytest.raises(mgrs.RemoteError, match="Unserializable"):
            c._callmethod("unpicklable")
        child = c._callmethod("spawn_child", (40,))  # method_to_typeid: a proxy back
        assert type(child).__name__.startswith("CounterProxy") and child.incr() == 41
        limited = m.LimitedCounter(3)  # AutoProxy with exposed=("get",)
        assert limited.get() == 3 and not hasattr(limited, "incr")
        with pytest.raises(mgrs.RemoteError, match="not in exposed"):
            limited._callmethod("incr")
        auto = m.auto_counter(10)  # AutoProxy exposing the public methods
        assert auto.incr(1) == 11 and not hasattr(auto, "_secret")
        assert hasattr(auto, "fail") and hasattr(auto, "spawn_child")
        token, exposed = m._create("HiddenCounter", 8)
        hidden = mgrs.AutoProxy(token, "pickle", manager=m, authkey=m._authkey,
                                exposed=exposed)
        assert hidden.get() == 8
        m._create("Counter", 0)  # the server keeps it until someone decrefs
        assert m._number_of_objects() >= 4


def test_refcounts_follow_proxies(manager):
    base = manager._number_of_objects()
    d = manager.dict()
    l = manager.list([d])
    assert manager._number_of_objects() == base + 2
    again = l[0]
    assert manager._number_of_objects() == base + 2
    del d, again
    # Only the list's proxy (inside the server) keeps the dict now: not counted.
    assert manager._number_of_objects() == base + 1
    l[0]["x"] = 1
    del l
    deadline = time.monotonic() + WAIT
    while manager._number_of_objects() != base and time.monotonic() < deadline:
        time.sleep(0.01)
    assert manager._number_of_objects() == base


def test_start_initializer(ctx, mgrs, tmp_path):
    mark = tmp_path / "mark"
    m = mgrs.SyncManager(ctx=ctx)
    with pytest.raises(TypeError):
        m.start(initializer=5)
    m.start(mt.initializer, (str(mark), "ran"))
    try:
        text, pid = mark.read_text().split()
        assert text == "ran" and int(pid) == m._process.pid
    finally:
        m.shutdown()


def test_connect_from_second_process(ctx, modname, mgrs):
    authkey = b"second process"
    with mt.manager_class(modname)(address=("127.0.0.1", 0), authkey=authkey, ctx=ctx) as m:
        d = m.shared_dict()
        d["first"] = "from parent"
        out = ctx.Queue()
        p = ctx.Process(target=mt.connect_and_use, args=(modname, m.address, authkey, out))
        p.start()
        assert out.get(timeout=WAIT) == ("ok", "from parent", 7)
        p.join(WAIT)
        assert p.exitcode == 0 and d["second"] == p.pid


def test_serve_forever_in_a_child_and_shutdown(ctx, modname, mgrs):
    authkey = b"served by a child"
    ready = ctx.Queue()
    p = ctx.Process(target=mt.serve, args=(modname, ("127.0.0.1", 0), authkey, ready))
    p.start()
    try:
        address = ready.get(timeout=WAIT)
        m = mt.manager_class(modname)(address=address, authkey=authkey)
        m.connect()
        c = m.Counter(1)
        assert c.incr() == 2
        conn = m._Client(address, authkey=authkey)
        mgrs.dispatch(conn, None, "shutdown")
        conn.close()
        p.join(WAIT)
        assert p.exitcode == 0
    finally:
        if p.exitcode is None:
            p.kill()
            p.join()


def test_wrong_authkey(mp, ctx, mpconn, modname, mgrs):
    with mt.manager_class(modname)(address=("127.0.0.1", 0), authkey=b"right",
                                   ctx=ctx) as m:
        wrong = mt.manager_class(modname)(address=m.address, authkey=b"wrong")
        with pytest.raises(auth_error(mp, mpconn)):
            wrong.connect()
        assert m.shared_dict() is not None


def test_proxy_through_a_queue(ctx, manager):
    d = manager.dict(a=1)
    q, out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=mt.proxy_from_queue, args=(q, out))
    p.start()
    q.put(d)
    assert out.get(timeout=WAIT) == ["a", "via queue"]
    p.join(WAIT)
    assert p.exitcode == 0


@pytest.mark.gompx_only
def test_iterating_in_a_child(ctx, manager):
    # stdlib: AttributeError("'NoneType' object has no attribute '_registry'")
    d = manager.dict(a=1, b=2)
    out = ctx.Queue()
    p = ctx.Process(target=mt.iterate_in_child, args=(d, out))
    p.start()
    assert out.get(timeout=WAIT) == ["a", "b"]
    p.join(WAIT)


def test_dead_manager(ctx, mgrs):
    m = ctx.Manager()
    d = m.dict(a=1)
    assert d["a"] == 1
    m._process.kill()
    m._process.join(WAIT)
    with pytest.raises((EOFError, OSError)):
        d["a"]
    with pytest.raises((EOFError, OSError)):
        m.dict()
    t0 = time.monotonic()
    m.shutdown()
    assert time.monotonic() - t0 < 5
    assert m._state.value == mgrs.State.SHUTDOWN


@pytest.mark.gompx_only
def test_hung_manager_shutdown_returns(ctx, mgrs):
    # stdlib blocks forever in the authentication of its shutdown request.
    import signal
    m = mgrs.SyncManager(ctx=ctx, shutdown_timeout=0.2)
    m.start()
    os.kill(m._process.pid, signal.SIGSTOP)  # accepts connections, never answers
    t0 = time.monotonic()
    with m:
        pass
    assert time.monotonic() - t0 < 5
    assert m._process.exitcode is not None


@pytest.mark.gompx_only
def test_connected_manager_as_context_manager(ctx, modname, mgrs):
    # stdlib: AttributeError, a connect()ed manager has no shutdown().
    with mt.manager_class(modname)(address=("127.0.0.1", 0), authkey=b"k",
                                   ctx=ctx) as served:
        m = mt.manager_class(modname)(address=served.address, authkey=b"k")
        m.connect()
        c = m.Counter(1)
        with m:
            pass
        assert c.incr() == 2  # the server is still there


def test_forkserver_manager(mp):
    with mp.get_context("forkserver").Manager() as m:
        l = m.list([1])
        l.append(2)
        assert l[:] == [1, 2]


def test_pool_proxy(mp, manager):
    if mp.__name__ == "gompx" and importlib.util.find_spec("gompx.pool") is None:
        pytest.skip("gompx.pool is not in this build (branch pool)")
    with manager.Pool(2) as pool:
        assert pool.map(abs, [-1, -2, 3]) == [1, 2, 3]
        assert pool.apply_async(abs, (-4,)).get(WAIT) == 4
        assert sorted(pool.imap_unordered(abs, [-5, 6])) == [5, 6]


def test_threads_each_have_a_connection(manager):
    d = manager.dict()
    errors = []

    def work(t):
        try:
            for i in range(50):
                d[(t, i)] = i * t
        except BaseException as e:
            errors.append(e)
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not errors
    assert len(d) == 200 and d[(3, 49)] == 147
    assert "refcount=" in manager._debug_info()
    assert repr(d).startswith("<DictProxy object, typeid 'dict' at ")


@pytest.mark.gompx_only
def test_wire_names(mgrs):
    """On a manager connection gompx's classes pickle under stdlib's names, and load back
    as gompx's; anywhere else they keep gompx's names."""
    import pickle
    import multiprocessing.managers as stdlib_managers
    token = mgrs.Token("dict", ("127.0.0.1", 5), "7f")
    wire = mgrs._dumps(("#PROXY", (("get",), token)))
    assert b"multiprocessing.managers" in wire and b"gompx" not in wire
    _, (_, plain) = pickle.loads(wire)
    assert type(plain) is stdlib_managers.Token
    assert (plain.typeid, plain.address, plain.id) == ("dict", ("127.0.0.1", 5), "7f")
    _, (_, ours) = mgrs._loads(wire)
    assert type(ours) is mgrs.Token and ours.id == "7f"
    assert type(pickle.loads(pickle.dumps(token))) is mgrs.Token
    ns = mgrs.Namespace(a=1)
    assert type(pickle.loads(mgrs._dumps(ns))) is stdlib_managers.Namespace
    assert type(mgrs._loads(mgrs._dumps(ns))) is mgrs.Namespace
    err = mgrs._loads(mgrs._dumps(mgrs.RemoteError("tb")))
    assert type(err) is mgrs.RemoteError and err.args == ("tb",)
    assert mgrs._loads(mgrs._dumps({"a": 1}.keys())) == ["a"]  # dict views as lists


# -- the 'xmlrpclib' serializer ------------------------------------------------------------

def xml_manager(modname, ctx=None, address=("127.0.0.1", 0)):
    return mt.manager_class(modname)(address=address, authkey=b"xml",
                                     serializer="xmlrpclib", ctx=ctx)


def test_xmlrpclib_serializer(ctx, modname, mgrs):
    with xml_manager(modname, ctx) as m:
        c = m.Counter(1)
        assert c.incr(2) == 3 and c.get() == 3
        d = m.shared_dict()
        d["t"] = (1, "x", b"by", None, 2.5, True, [1], {"k": "v"})
        got = d["t"]
        # Tuples arrive as lists, bytes as xmlrpc.client.Binary (which equals them).
        assert got == [1, "x", b"by", None, 2.5, True, [1], {"k": "v"}]
        assert type(got[2]).__name__ == "Binary"
        with pytest.raises(OverflowError):
            d["big"] = 2 ** 40  # XML-RPC integers are 32-bit: refused before sending
        with pytest.raises(TypeError):
            d["f"] = time.sleep
        assert len(d) == 1  # the connection is still in step
        with pytest.raises(mgrs.RemoteError, match="Unserializable"):
            c._callmethod("spawn_child", (5,))  # a proxy cannot travel as XML-RPC
        other = xml_manager(modname, address=m.address)
        other.connect()
        assert other.Counter(5).get() == 5
        assert repr(d).startswith("<DictProxy object, typeid 'shared_dict' at ")


@pytest.mark.gompx_only
@pytest.mark.parametrize("server", ["multiprocessing", "gompx"])
def test_xmlrpclib_with_stdlib(server):
    client = "gompx" if server == "multiprocessing" else "multiprocessing"
    server_ctx = importlib.import_module(server).get_context("spawn")
    with xml_manager(server, server_ctx) as served:
        m = xml_manager(client, address=served.address)
        m.connect()
        c = m.Counter(3)
        assert c.incr() == 4
        d = m.shared_dict()
        d["k"] = ("v", b"b")
        assert d["k"] == ["v", b"b"] and len(d) == 1
        del c, d


@pytest.mark.gompx_only
def test_xml_connections_talk_to_stdlib(mgrs):
    import multiprocessing.connection as std
    ours = mgrs.listener_client["xmlrpclib"]
    for Listener, Client in ((std.XmlListener, ours[1]), (ours[0], std.XmlClient)):
        with Listener(("127.0.0.1", 0), authkey=b"k") as listener:
            accepted = []
            t = threading.Thread(target=lambda accepted=accepted, listener=listener:
                                 accepted.append(listener.accept()))
            t.start()
            c = Client(listener.address, authkey=b"k")
            t.join(WAIT)
            s = accepted[0]
            c.send((1, "two", b"3", None, {"k": [2.5, True]}))
            assert s.recv() == [1, "two", b"3", None, {"k": [2.5, True]}]
            s.send("back")
            assert c.recv() == "back"
            raw = b"\x00raw"
            c.send_bytes(raw)
            assert s.recv_bytes() == raw and s.poll(0) is False and s.fileno() >= 0
            c.close()
            s.close()


def test_unknown_serializer(mgrs):
    with pytest.raises((ValueError, KeyError)):
        mgrs.BaseManager(serializer="json")
