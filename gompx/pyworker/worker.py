"""A gompx Python worker: runs the calls a Go program sends it (gompx/pyworker).

The Go pool starts ``python -c <this file> 3``; fd 3 is its end of a socket. Only the
standard library is used, so any CPython >= 3.8 can serve, with or without gompx installed.
The frame layout is in gompx/internal/workproto/doc.go.
"""

import importlib
import io
import os
import pickle
import signal
import struct
import sys
import traceback
from multiprocessing.connection import Connection

_HEAD = struct.Struct(">cHI")


def resolve(target, cache):
    """The callable named "package.module:qualname"."""
    fn = cache.get(target)
    if fn is not None:
        return fn
    module, sep, qualname = target.partition(":")
    if not sep or not module or not qualname:
        raise ValueError("target must be 'package.module:function', got %r" % target)
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError("%s is not callable" % target)
    cache[target] = obj
    return obj


def error_reply(exc, index):
    # The worker's own frame is dropped: the traceback starts in the user's code.
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_code is run.__code__:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    cls = type(exc)
    try:
        message = str(exc)
    except Exception as e:  # a broken __str__ must not kill the worker
        message = "<str() failed: %r>" % e
    return b"E" + pickle.dumps((cls.__module__, cls.__qualname__, message, text, index), 5)


def run(frame, cache):
    """Answer one request frame."""
    op, n, a = _HEAD.unpack_from(frame)
    view = memoryview(frame)
    name = bytes(view[7:7 + n]).decode()
    index = -1
    try:
        fn = resolve(name, cache)
        args = pickle.loads(view[7 + n:7 + n + a])
        kwargs = pickle.loads(view[7 + n + a:]) if len(frame) > 7 + n + a else {}
        if op == b"C":
            result = fn(*args, **kwargs)
        elif op == b"M":
            result = []
            for index, item in enumerate(args):
                result.append(fn(*item, **kwargs))
            index = -1
        else:
            raise ValueError("unknown op %r" % op)
        out = io.BytesIO()
        out.write(b"R")
        pickle.Pickler(out, 5).dump(result)
        return out.getbuffer()
    except BaseException as exc:  # SystemExit too: it is the call's outcome, not ours
        return error_reply(exc, index)


def main():
    fd = int(sys.argv[1])
    os.set_inheritable(fd, False)
    # Ctrl-C reaches the whole process group; the Go parent decides what it means.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    hello = {"pid": os.getpid(), "impl": "python", "functions": []}
    conn.send_bytes(b"GOMPXW1" + pickle.dumps(hello, 5))
    cache = {}
    while True:
        try:
            frame = conn.recv_bytes()
        except EOFError:
            return
        conn.send_bytes(run(frame, cache))


main()
