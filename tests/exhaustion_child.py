"""Run by test_exhaustion.py in a fresh interpreter: exhaust one resource, try every
operation, report each outcome as one JSON line, then free the resource and try again.

argv: the resource ("nofile", "as" or "fsize").  Outcomes: "ok", or the exception's type, errno
and message."""
import json
import os
import resource
import sys

import gompx
from gompx import shared_memory

ctx = gompx.get_context("spawn")


def noop():
    pass


def outcome(fn):
    try:
        fn()
        return "ok"
    except BaseException as e:  # everything is reported: a crash is what the test looks for
        return {"type": type(e).__name__, "errno": getattr(e, "errno", None), "msg": str(e)}


def shm():
    s = shared_memory.SharedMemory(create=True, size=1 << 20)
    s.buf[0] = 1
    s.close()
    s.unlink()


def shm_big():
    s = shared_memory.SharedMemory(create=True, size=32 << 20)
    s.buf[-1] = 1
    s.close()
    s.unlink()


def process():
    p = ctx.Process(target=noop)
    p.start()
    p.join(30)
    assert p.exitcode == 0, p.exitcode


def pool():
    with ctx.Pool(1) as p:
        assert p.apply(abs, (-3,)) == 3


def queue():
    q = ctx.Queue()
    q.put(b"x" * 1000)
    assert q.get(timeout=10) == b"x" * 1000
    q.close()


def pipe():
    a, b = ctx.Pipe()
    a.send(1)
    assert b.recv() == 1
    a.close()
    b.close()


def big_queue_message():
    q = ctx.Queue()
    q.put(b"y" * (64 << 20))
    assert len(q.get(timeout=30)) == 64 << 20
    q.close()


OPS = {"queue": queue, "pipe": pipe, "lock": lambda: ctx.Lock().acquire(),
       "value": lambda: ctx.Value("i", 1), "shared_memory": shm, "shared_memory_big": shm_big,
       "process": process,
       "pool": pool, "big_queue_message": big_queue_message}


def report(phase, old=None):
    res = {name: outcome(fn) for name, fn in OPS.items()}
    if old is not None:
        res["old_queue"] = outcome(lambda: (old.put(1), old.get(timeout=10)))
        res["old_queue_big"] = outcome(lambda: (old.put(b"z" * (16 << 20)), old.get(timeout=30)))
    print(json.dumps({"phase": phase, "results": res}), flush=True)


def main():
    what = sys.argv[1]
    old = ctx.Queue()  # made while the resource was there: it must keep working
    old.put(0)
    old.get(timeout=10)
    report("before")
    if what == "nofile":
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        held = []
        try:
            while True:
                held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            pass
        report("exhausted", old)
        for fd in held:
            os.close(fd)
    elif what == "as":
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/status") as f:
            vm = [int(line.split()[1]) for line in f if line.startswith("VmSize:")][0]
        resource.setrlimit(resource.RLIMIT_AS, ((vm << 10) + (48 << 20), hard))
        report("exhausted", old)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    elif what == "fsize":
        # Memory files cannot grow past RLIMIT_FSIZE (EFBIG; CPython ignores SIGXFSZ).
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, hard))
        report("exhausted", old)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    report("after", old)


if __name__ == "__main__":
    main()
