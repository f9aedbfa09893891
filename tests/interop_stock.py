"""The stock-CPython side of the manager interop tests: imports the standard library only.

test_managers_interop.py runs it with ``python -I -S`` (no site-packages, so no gompx)
under each CPython it finds:

    interop_stock.py serve HOST AUTHKEY_HEX     serve a manager at (HOST, any port);
                                                prints the port, serves until shutdown
    interop_stock.py client HOST PORT AUTHKEY_HEX
                                                run the client scenario against a manager
                                                there; print the results as one JSON line

The registrations match ``interop_manager_class`` in manager_targets.py.
"""

import importlib.util
import json
import sys
import multiprocessing
from multiprocessing import managers

if importlib.util.find_spec("gompx") is not None:
    raise SystemExit("interop_stock.py must run where gompx cannot be imported (-I -S)")

SHARED_DICT = {}
SHARED_LIST = []


class Counter:
    def __init__(self, start=0):
        self.value = start

    def incr(self, by=1):
        self.value += by
        return self.value


class InteropManager(managers.BaseManager):
    pass


InteropManager.register("get_dict", lambda: SHARED_DICT, managers.DictProxy)
InteropManager.register("get_list", lambda: SHARED_LIST, managers.ListProxy)
InteropManager.register("dict", dict, managers.DictProxy)
InteropManager.register("Namespace", managers.Namespace, managers.NamespaceProxy)
InteropManager.register("Value", managers.Value, managers.ValueProxy)
InteropManager.register("Counter", Counter)
InteropManager.register("Iterator", proxytype=managers.IteratorProxy, create_method=False)


def serve(host, authkey):
    server = InteropManager(address=(host, 0), authkey=authkey).get_server()
    print(server.address[1], flush=True)
    server.serve_forever()


def client(host, port, authkey):
    """The scenario test_managers_interop.py also runs with gompx against a stock server."""
    r = {"python": "%d.%d" % sys.version_info[:2]}
    # Proxies that arrive inside values authenticate with the process's authkey.
    multiprocessing.current_process().authkey = authkey
    m = InteropManager(address=(host, port), authkey=authkey)
    m.connect()
    d = m.get_dict()
    d["from stock"] = list(sys.version_info[:2])
    r["dict"] = sorted(d.keys())
    r["iter"] = sorted(iter(d))
    try:
        d["missing"]
    except KeyError as e:
        r["error"] = ["KeyError", list(e.args)]
    try:
        d._callmethod("nonexistent")
    except managers.RemoteError as e:
        r["traceback"] = [type(e).__module__, "AttributeError" in str(e)]
    inner = m.dict(x=1)
    l = m.get_list()
    l.append(inner)  # a stdlib proxy pickled to the server
    back = l[-1]     # and the server's own proxy pickled back
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
    auto = managers.AutoProxy(c._token, "pickle", authkey=authkey)  # asks get_methods
    r["auto"] = [auto.incr(5), sorted(auto._exposed_)]
    r["token"] = [type(c._token).__module__, list(c._token.address)]
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "serve":
        serve(sys.argv[2], bytes.fromhex(sys.argv[3]))
    elif mode == "client":
        client(sys.argv[2], int(sys.argv[3]), bytes.fromhex(sys.argv[4]))
    else:
        raise SystemExit("usage: interop_stock.py serve HOST KEY | client HOST PORT KEY")
