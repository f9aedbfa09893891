"""Targets and helpers that children run.

Everything a child runs must be importable by name: under spawn and forkserver the child
unpickles ``mp_targets.<name>`` and re-imports this module.  Functions that need the
implementation under test take its module name (``"multiprocessing"`` or ``"gompx"``) so the
child asks the same implementation the parent uses.
"""

import hashlib
import importlib
import os
import signal
import sys
import time

# A module global the parent may change: spawn children re-import the module and see the
# original value, fork children inherit the parent's change.
GLOBAL = "original"

WAIT = 30  # seconds a child waits for its parent before giving up


def impl(modname):
    return importlib.import_module(modname)


def pattern(size, seed=0):
    """Deterministic, non-repeating bytes (so a misplaced chunk changes the content)."""
    return hashlib.shake_128(b"gompx-%d" % seed).digest(size)


def digest(data):
    return hashlib.sha256(data).hexdigest()


# --- plain targets --------------------------------------------------------------------

def noop():
    pass


def sleep(seconds):
    time.sleep(seconds)


def raise_value_error(message):
    raise ValueError(message)


def sys_exit(code):
    sys.exit(code)


def os_exit(code):
    os._exit(code)


def kill_self(signum):
    os.kill(os.getpid(), signum)
    time.sleep(WAIT)


def ready_then_sleep(conn, seconds):
    conn.send("ready")
    time.sleep(seconds)


def ignore_sigterm_ready_then_sleep(conn, seconds):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn.send("ready")
    time.sleep(seconds)


def hold(conn, seconds):
    """Keep `conn` open for `seconds`, send nothing, exit 0."""
    time.sleep(seconds)


def send(conn, value):
    conn.send(value)
    conn.close()


def send_args(conn, *args, **kwargs):
    conn.send((args, kwargs))
    conn.close()


def send_global(conn):
    conn.send(GLOBAL)
    conn.close()


def wait_for_go(conn):
    """Block until the parent sends anything (or WAIT seconds pass), then exit 0."""
    if conn.poll(WAIT):
        conn.recv()


def send_then_wait_go(conn, go, value):
    """Send `value` (keeping `conn` open), wait for the parent's go, exit 0."""
    conn.send(value)
    if go.poll(WAIT):
        go.recv()


def send_after(conn, value, delay):
    time.sleep(delay)
    conn.send(value)
    conn.close()


def report(conn, modname):
    """Send what the child knows about itself and its parent."""
    mp = impl(modname)
    me = mp.current_process()
    parent = mp.parent_process()
    conn.send({
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "name": me.name,
        "cur_pid": me.pid,
        "cur_ident": me.ident,
        "daemon": me.daemon,
        "authkey": bytes(me.authkey),
        "parent_pid": None if parent is None else parent.pid,
        "parent_name": None if parent is None else parent.name,
        "parent_alive": None if parent is None else parent.is_alive(),
        "start_method": mp.get_start_method(allow_none=True),
        "global": GLOBAL,
    })
    conn.close()


def try_start_grandchild(conn, modname, method):
    """A daemonic process may not have children: report what start() raised."""
    ctx = impl(modname).get_context(method)
    try:
        ctx.Process(target=noop).start()
    except BaseException as e:
        conn.send((type(e).__name__, str(e)))
    else:
        conn.send(("no error", ""))
    conn.close()


def try_join_self(conn, modname):
    mp = impl(modname)
    try:
        mp.current_process().join(0)
    except BaseException as e:
        conn.send((type(e).__name__, str(e)))
    else:
        conn.send(("no error", ""))
    conn.close()


# --- connection workers ---------------------------------------------------------------

def echo(conn, count):
    """Receive `count` objects and send each back; stop early on EOF."""
    for _ in range(count):
        if not conn.poll(WAIT):
            return
        try:
            obj = conn.recv()
        except EOFError:
            return
        conn.send(obj)
    conn.close()


def echo_bytes(conn, count):
    for _ in range(count):
        if not conn.poll(WAIT):
            return
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        conn.send_bytes(data)
    conn.close()


def digest_received(inbox, outbox, count):
    """Receive `count` byte messages on `inbox`, answer (len, sha256) for each on `outbox`."""
    for _ in range(count):
        if not inbox.poll(WAIT):
            return
        data = inbox.recv_bytes()
        outbox.send((len(data), digest(data)))
    outbox.close()


def send_patterns(conn, sizes):
    """Send pattern(size, seed=i) for each size, with send_bytes."""
    for i, size in enumerate(sizes):
        conn.send_bytes(pattern(size, i))
    conn.close()


def send_pattern_objects(conn, sizes):
    """Send (i, pattern(size, seed=i)) tuples with send()."""
    for i, size in enumerate(sizes):
        conn.send((i, pattern(size, i)))
    conn.close()


def recv_until_eof(conn, outbox):
    """Count messages until EOF, then report the count."""
    n = 0
    while conn.poll(WAIT):
        try:
            conn.recv_bytes()
        except EOFError:
            break
        n += 1
    outbox.send(n)
    outbox.close()


# --- picklable values -----------------------------------------------------------------

class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)

    def __repr__(self):
        return "Point(%r, %r)" % (self.x, self.y)


class Unpicklable:
    def __reduce__(self):
        raise TypeError("Unpicklable refuses to be pickled")


# --- Process subclasses, one per implementation and start method -----------------------
# Worker_<module>__<method> (e.g. Worker_gompx__spawn) is made on first use (PEP 562), so
# importing this module never imports an implementation, and a spawned child finds the
# class by name.

def _make_worker(modname, method):
    mp = impl(modname)
    base = mp.Process if method == "default" else mp.get_context(method).Process

    def __init__(self, conn, value):
        base.__init__(self)
        self.conn = conn
        self.value = value

    def run(self):
        me = impl(modname).current_process()
        self.conn.send(("run", self.value * 2, me.name == self.name))
        self.conn.close()

    name = "Worker_%s__%s" % (modname, method)
    cls = type(name, (base,), {"__init__": __init__, "run": run, "__module__": __name__})
    cls.__qualname__ = name
    globals()[name] = cls
    return cls


def __getattr__(name):
    if name.startswith("Worker_") and "__" in name:
        modname, method = name[len("Worker_"):].split("__", 1)
        return _make_worker(modname, method)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def worker_class(modname, method):
    return getattr(sys.modules[__name__], "Worker_%s__%s" % (modname, method))


# --- helpers for the tests themselves ---------------------------------------------------

def recv_within(conn, timeout=10):
    """recv() that fails instead of hanging when nothing arrives in `timeout` seconds."""
    assert conn.poll(timeout), "nothing arrived within %s s" % timeout
    return conn.recv()


def join_within(p, timeout=10):
    """join() that fails instead of hanging; returns the exit code."""
    p.join(timeout)
    assert p.exitcode is not None, "process still running %s s after join()" % timeout
    return p.exitcode


class Background:
    """Run fn(*args) in a daemon thread (a pipe's buffer cannot hold a large message, so the
    sender must not be the receiving thread); finish() re-raises what it raised."""

    def __init__(self, fn, *args):
        import threading
        self.error = None
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(fn, args), daemon=True)
        self.thread.start()

    def _run(self, fn, args):
        try:
            self.result = fn(*args)
        except BaseException as e:
            self.error = e

    def finish(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "background call still running after %s s" % timeout
        if self.error is not None:
            raise self.error
        return self.result


def send_all_bytes(conn, messages):
    for m in messages:
        conn.send_bytes(m)


def assert_same(got, want):
    """Compare big byte strings without pytest diffing megabytes."""
    assert type(got) is bytes, type(got)
    if got == want:
        return
    if len(got) != len(want):
        raise AssertionError("length %d, want %d" % (len(got), len(want)))
    first = next(i for i in range(len(want)) if got[i] != want[i])
    raise AssertionError("content differs from byte %d of %d" % (first, len(want)))
