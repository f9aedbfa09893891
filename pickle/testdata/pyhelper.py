"""Python side of the pickle package tests.

Reads one JSON request on stdin and writes one JSON reply on stdout:

  {"cases": [{"name": ..., "expr": ...}],       # Python values to pickle
   "load": [{"name": ..., "proto": p, "hex": ...}],  # Go pickles to load
   "pickletester": true}                        # CPython's own test pickles

Every value is described by desc(), a canonical text form that the Go test
computes the same way for Go values (see describe in python_test.go).
"""

import collections
import copyreg
import datetime
import decimal
import json
import pickle
import struct
import sys

__all__ = ["desc", "main"]


class C:
    """Stands for __main__.C, the class CPython's pickletester data names."""

    def __eq__(self, other):
        return self.__dict__ == other.__dict__


class Point:
    """A user class pickled by NEWOBJ and BUILD."""

    def __init__(self, x, y):
        self.x = x
        self.y = y


def _cls(c):
    return "%s.%s" % (c.__module__, c.__qualname__)


def desc(x, seen=None):
    """Return the canonical description of x."""
    if seen is None:
        seen = {}
    t = type(x)
    if x is None:
        return "None"
    if t is bool:
        return "True" if x else "False"
    if t is int:
        return "i%d" % x
    if t is float:
        return "f" + struct.pack(">d", x).hex()
    if t is complex:
        return "c" + struct.pack(">dd", x.real, x.imag).hex()
    if t is str:
        return "s" + x.encode("utf-8", "surrogatepass").hex()
    if t is bytes:
        return "b" + x.hex()
    if t is bytearray:
        return "B" + x.hex()
    if t is tuple:
        return "(" + ",".join(desc(e, seen) for e in x) + ")"
    if t is pickle.PickleBuffer:
        m = x.raw()
        return "P%s%s" % ("r" if m.readonly else "w", bytes(m).hex())
    if isinstance(x, type):
        return "C" + _cls(x)
    mark = t in (list, dict, collections.OrderedDict, set, frozenset) and len(x) == 0
    if id(x) in seen:
        return "@%d" % seen[id(x)]
    if not mark:
        seen[id(x)] = len(seen)
    if t is list:
        return "[" + ",".join(desc(e, seen) for e in x) + "]"
    if t in (dict, collections.OrderedDict):
        return "{" + ",".join(desc(k, seen) + ":" + desc(v, seen) for k, v in x.items()) + "}"
    if t is set:
        return "set{" + ",".join(sorted(desc(e, seen) for e in x)) + "}"
    if t is frozenset:
        return "fset{" + ",".join(sorted(desc(e, seen) for e in x)) + "}"
    return desc_object(x, seen)


def desc_object(x, seen):
    r = x.__reduce_ex__(2)
    func, args = r[0], r[1]
    state = r[2] if len(r) > 2 else None
    listitems = list(r[3]) if len(r) > 3 and r[3] is not None else []
    dictitems = list(r[4]) if len(r) > 4 and r[4] is not None else []
    new = False
    if func is copyreg.__newobj__:
        func, args, new = args[0], args[1:], True
    name = _cls(func)
    out = "O(%s,new=%d,args=%s" % (name, new, desc(tuple(args), seen))
    if state is not None:
        out += ",state=" + desc(state, seen)
    if listitems:
        out += ",list=[" + ",".join(desc(e, seen) for e in listitems) + "]"
    if dictitems:
        out += ",dict={" + ",".join(desc(k, seen) + ":" + desc(v, seen) for k, v in dictitems) + "}"
    return out + ")"


def pickletester_data():
    """CPython's own test pickles, from the running interpreter."""
    from test import pickletester as pt
    out = []
    for name in ("DATA0", "DATA1", "DATA2", "DATA3", "DATA4",
                 "DATA_SET", "DATA_SET2", "DATA_XRANGE", "DATA_UEERR", "DATA_COOKIE"):
        data = getattr(pt, name, None)
        if data is not None:
            out.append((name, data))
    for exc in pt.python2_exceptions_without_args:
        # IOError and EnvironmentError are OSError aliases in Python 3: the
        # loaded class has a name the pickle does not say.
        # AttributeError reduces with a state dict since 3.12 although the
        # pickle holds none; desc() would report state the data lacks.
        if exc in (IOError, EnvironmentError) or len(exc().__reduce_ex__(2)) > 2:
            continue
        if True:
            out.append(("exception_pickle:" + exc.__name__,
                        pt.exception_pickle.replace(b"?", exc.__name__.encode())))
    return out


def main():
    req = json.load(sys.stdin)
    reply = {"version": sys.version.split()[0], "cases": [], "load": [], "pickletester": []}
    env = {"collections": collections, "datetime": datetime, "decimal": decimal,
           "Point": Point, "pickle": pickle}
    for case in req.get("cases", []):
        v = eval(case["expr"], env)
        reply["cases"].append({
            "name": case["name"],
            "desc": desc(v),
            "pickles": [pickle.dumps(v, p).hex() for p in range(6)],
        })
    for item in req.get("load", []):
        out = {"name": item["name"], "proto": item["proto"]}
        try:
            v = pickle.loads(bytes.fromhex(item["hex"]))
            out["desc"] = desc(v)
            out["redump"] = pickle.dumps(v, item["proto"]).hex()
        except Exception as e:  # reported to the Go test, which fails
            out["error"] = repr(e)
        reply["load"].append(out)
    if req.get("pickletester"):
        import __main__
        __main__.C = C
        for name, data in pickletester_data():
            out = {"name": name, "hex": data.hex()}
            try:
                out["desc"] = desc(pickle.loads(data))
            except Exception as e:
                out["error"] = repr(e)
            reply["pickletester"].append(out)
    json.dump(reply, sys.stdout)


if __name__ == "__main__":
    main()
