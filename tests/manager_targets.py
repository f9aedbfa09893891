"""Manager classes, registered callables and child targets for the manager tests.

Spawned children and manager server processes unpickle what they run by name, so it all
lives in this importable module.  Functions that need the implementation under test take
its module name ("multiprocessing" or "gompx").
"""

import importlib
import os
import sys

WAIT = 30  # seconds any child waits for its parent


def impl(modname):
    return importlib.import_module(modname)


def managers(modname):
    return importlib.import_module(modname + ".managers")


# -- registered types ----------------------------------------------------------------

class Counter:
    """A shared object with public and private methods and one that returns a child."""

    def __init__(self, start=0):
        self.value = start

    def incr(self, by=1):
        self.value += by
        return self.value

    def get(self):
        return self.value

    def fail(self, message):
        raise ValueError(message)

    def unpicklable(self):
        return lambda: None

    def spawn_child(self, start):
        return Counter(start)

    def _secret(self):
        return "secret"


def make_counter(start=0):
    return Counter(start)


_SHARED = {}


def shared_dict():
    """The one dict a served manager hands to every client that connects."""
    return _SHARED


def manager_class(modname):
    """A BaseManager subclass of *modname* with the registrations the tests use.

    Made per implementation and cached, under a module-level name so that spawned
    server processes find it again by pickle.
    """
    name = "Manager_" + modname.replace(".", "_")
    cls = globals().get(name)
    if cls is not None:
        return cls
    mgrs = managers(modname)

    class CounterProxy(mgrs.BaseProxy):
        _exposed_ = ("incr", "get", "fail", "unpicklable", "spawn_child", "_secret")
        _method_to_typeid_ = {"spawn_child": "ChildCounter"}

        def incr(self, by=1):
            return self._callmethod("incr", (by,))

        def get(self):
            return self._callmethod("get")

    CounterProxy.__name__ = CounterProxy.__qualname__ = "CounterProxy_" + name
    globals()[CounterProxy.__name__] = CounterProxy

    cls = type(name, (mgrs.BaseManager,), {"__module__": __name__})
    cls.register("Counter", make_counter, CounterProxy)
    # what spawn_child returns: no callable, the server shares the returned object as is
    cls.register("ChildCounter", proxytype=CounterProxy, create_method=False)
    # exposed limits AutoProxy's methods; no create_method: made only via another method
    cls.register("LimitedCounter", make_counter, exposed=("get",))
    cls.register("HiddenCounter", make_counter, create_method=False)
    cls.register("shared_dict", shared_dict, mgrs.DictProxy)
    cls.register("auto_counter", make_counter)
    globals()[name] = cls
    return cls


def __getattr__(name):
    # A spawned process unpickles Manager_<impl> and its CounterProxy by name before
    # anything made them: make them on that first lookup.
    for modname in ("multiprocessing", "gompx"):
        if name in ("Manager_" + modname, "CounterProxy_Manager_" + modname):
            manager_class(modname)
            return globals()[name]
        if name == "Interop_" + modname:
            return interop_manager_class(modname)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def initializer(path, text):
    """A manager-process initializer: leaves a mark the test can see."""
    with open(path, "w") as f:
        f.write("%s %d" % (text, os.getpid()))


# -- child targets -----------------------------------------------------------------------

def use_everything(modname, p, out):
    """In a child: call every proxy in the dict *p* and report the results in *out*."""
    results = {}
    d, l, ns = p["dict"], p["list"], p["ns"]
    d["child"] = 1
    d.update(x=10)
    results["dict"] = (d["parent"], d.get("nope", "dflt"), len(d), "x" in d,
                       sorted(d.keys()), d.pop("x"))
    l.append("c")
    l.extend([3, 1, 2])
    l.sort(key=str)
    results["list"] = (l[0], len(l), l.index("c"), l.count(1), list(l))
    ns.child = "set by child"
    results["ns"] = ns.parent
    v, a = p["value"], p["array"]
    v.value += 1
    a[0] = a[0] + 100
    results["value"] = (v.value, v.get(), len(a), a[1])
    q, jq = p["queue"], p["jqueue"]
    results["queue"] = q.get(timeout=WAIT)
    q.put("from child")
    item = jq.get(timeout=WAIT)
    jq.task_done()
    results["jqueue"] = item
    lock, rlock = p["lock"], p["rlock"]
    results["lock"] = (lock.acquire(timeout=WAIT), lock.release())
    with rlock:
        with rlock:
            results["rlock"] = True
    sem, bsem = p["sem"], p["bsem"]
    results["sem"] = (sem.acquire(), bsem.acquire(), bsem.release())
    try:
        bsem.release()
    except ValueError:
        results["bsem_over"] = "ValueError"
    p["event"].set()
    cond = p["cond"]
    with cond:
        cond.notify_all()
    results["barrier"] = p["barrier"].wait(WAIT) in (0, 1)
    try:
        d["missing"]
    except KeyError as e:
        results["keyerror"] = e.args
    out.put(results)


def nested(modname, outer, key):
    """In a child: write through a proxy held inside another proxy."""
    inner = outer[0]
    inner[key] = "child wrote"
    outer[1].append(key)


def iterate_in_child(d, out):
    out.put(sorted(iter(d)))


def proxy_from_queue(q, out):
    """In a child: take a proxy out of a queue and use it."""
    d = q.get(timeout=WAIT)
    d["via queue"] = True
    out.put(sorted(d.keys()))


def connect_and_use(modname, address, authkey, out):
    """In a second process: connect() to a running manager and use its shared dict."""
    try:
        m = manager_class(modname)(address=address, authkey=authkey)
        m.connect()
        d = m.shared_dict()
        d["second"] = os.getpid()
        c = m.Counter(5)
        out.put(("ok", d["first"], c.incr(2)))
    except BaseException as e:
        out.put(("error", type(e).__name__, str(e)))


def serve(modname, address, authkey, ready):
    """A child that runs a manager's server itself: get_server().serve_forever()."""
    server = manager_class(modname)(address=address, authkey=authkey).get_server()
    ready.put(server.address)
    server.serve_forever()


def wait_event(ev, out):
    out.put(ev.wait(WAIT))


def condition_waiter(cond, flag, out):
    with cond:
        ok = cond.wait_for(lambda: flag.value == 1, WAIT)
    out.put(ok)


# -- interop with stock CPython (see interop_stock.py, which registers the same) ---------

_SHARED_LIST = []


def shared_list():
    return _SHARED_LIST


class InteropCounter:
    def __init__(self, start=0):
        self.value = start

    def incr(self, by=1):
        self.value += by
        return self.value


def interop_manager_class(modname):
    name = "Interop_" + modname.replace(".", "_")
    cls = globals().get(name)
    if cls is not None:
        return cls
    mgrs = managers(modname)
    cls = type(name, (mgrs.BaseManager,), {"__module__": __name__})
    cls.register("get_dict", shared_dict, mgrs.DictProxy)
    cls.register("get_list", shared_list, mgrs.ListProxy)
    cls.register("dict", dict, mgrs.DictProxy)
    cls.register("Namespace", mgrs.Namespace, mgrs.NamespaceProxy)
    cls.register("Value", mgrs.Value, mgrs.ValueProxy)
    cls.register("Counter", InteropCounter)
    cls.register("Iterator", proxytype=mgrs.IteratorProxy, create_method=False)
    globals()[name] = cls
    return cls


def interop_client(modname, host, port, authkey):
    """interop_stock.py's client scenario, with *modname*'s managers; returns the results."""
    mgrs = managers(modname)
    r = {"python": "%d.%d" % sys.version_info[:2]}
    # Proxies that arrive inside values authenticate with the process's authkey.
    impl(modname).current_process().authkey = authkey
    m = interop_manager_class(modname)(address=(host, port), authkey=authkey)
    m.connect()
    d = m.get_dict()
    d["from " + modname] = list(sys.version_info[:2])
    r["dict"] = sorted(d.keys())
    r["iter"] = sorted(iter(d))
    try:
        d["missing"]
    except KeyError as e:
        r["error"] = ["KeyError", list(e.args)]
    try:
        d._callmethod("nonexistent")
    except mgrs.RemoteError as e:
        r["traceback"] = [type(e).__module__, "AttributeError" in str(e)]
    inner = m.dict(x=1)
    l = m.get_list()
    l.append(inner)
    back = l[-1]
    back["y"] = 2
    r["nested"] = [type(back).__module__, type(back).__name__, inner["y"]]
    ns = m.Namespace(a=1)
    ns.b = "two"
    value = ns._getvalue()
    r["namespace"] = [type(value).__module__, value.a, value.b]
    v = m.Value("i", 5)
    v.value += 1
    r["value"] = [v.value, type(v._getvalue()).__module__]
    c = m.Counter(10)
    auto = mgrs.AutoProxy(c._token, "pickle", authkey=authkey)
    r["auto"] = [auto.incr(5), sorted(auto._exposed_)]
    r["token"] = [type(c._token).__module__, list(c._token.address)]
    return r


def interop_client_in_child(modname, host, port, authkey, out):
    try:
        out.put(interop_client(modname, host, port, authkey))
    except BaseException as e:
        out.put({"exception": "%s: %s" % (type(e).__name__, e)})
        raise


def serve_interop(modname, host, authkey_hex):
    """Run interop_manager_class(modname)'s server in this process; print its port first.

    For a server started in another network namespace (``ip netns exec``)."""
    cls = interop_manager_class(modname)
    server = cls(address=(host, 0), authkey=bytes.fromhex(authkey_hex)).get_server()
    print(server.address[1], flush=True)
    server.serve_forever()


def run_interop_client(modname, host, port, authkey_hex):
    """interop_client in this process, its results printed as one JSON line."""
    import json
    print(json.dumps(interop_client(modname, host, int(port), bytes.fromhex(authkey_hex))),
          flush=True)
