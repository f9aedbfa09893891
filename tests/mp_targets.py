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


def touch_then_sleep(path, seconds):
    """Mark *path* once running, then sleep: ready without a Pipe (which would load the
    Go core in a fork-served child, which this one must not need)."""
    open(path, "w").close()
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


# --- a child's view of its parent's death ----------------------------------------------

def start_parent_reporter(conn, modname, method):
    """CPython's test_parent_process, middle generation: start a grandchild that reports on
    `conn` whether this process lives, then sleep until the test ends this process."""
    mp = impl(modname)
    ctx = mp if method == "default" else mp.get_context(method)
    ctx.Process(target=report_parent_status, args=(conn, modname)).start()
    time.sleep(300)


def report_parent_status(conn, modname):
    """Report whether the parent lives, wait for it to end, report again, exit 0."""
    parent = impl(modname).parent_process()
    conn.send(("alive" if parent.is_alive() else "not alive", os.getpid()))
    parent.join(timeout=60)
    conn.send(("alive" if parent.is_alive() else "not alive", os.getpid()))


def clean_up_when_parent_dies(conn, modname, path):
    """Report ready, wait for the parent to die, then write `path` ("cleaned") and exit."""
    parent = impl(modname).parent_process()
    conn.send("ready")
    parent.join(timeout=120)
    time.sleep(0.2)  # cleanup that takes a while
    with open(path, "w") as f:
        f.write("cleaned")


def ready_then_busy_in_c(conn):
    """Report ready, then stay in C code holding the GIL for a long time (a builtin's loop
    that runs no Python code and looks at no signal)."""
    conn.send("ready")
    sum(range(10 ** 13))


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


# --- queue workers ----------------------------------------------------------------------
# Every blocking get() here has a timeout so a broken queue makes the child exit instead of
# hanging; a parent that expects an item then fails on its own timeout.

def q_put_all(q, items):
    """Put each of `items` in order, then exit (no close(): exit must flush)."""
    for item in items:
        q.put(item)


def q_put_range_tagged(q, tag, count):
    """Put (tag, i) for i in range(count)."""
    for i in range(count):
        q.put((tag, i))


def q_put_close_join(q, items):
    """Put `items`, close() and join_thread() before returning."""
    for item in items:
        q.put(item)
    q.close()
    q.join_thread()


def q_put_patterns(q, sizes):
    """Put (i, pattern(size, seed=i)) for each size."""
    for i, size in enumerate(sizes):
        q.put((i, pattern(size, i)))


def q_put_big_then_cancel(q, size):
    """Put one message larger than any pipe buffer, nobody reading, then cancel_join_thread:
    the child must still exit promptly."""
    q.put(b"\x01" * size)
    q.cancel_join_thread()


def _get_up_to(q, count):
    """`count` items from q (WAIT s each at most), "<Empty>" last if one did not come."""
    import queue as _queue
    got = []
    try:
        for _ in range(count):
            got.append(q.get(timeout=WAIT))
    except _queue.Empty:
        got.append("<Empty>")
    return got


def q_get_n(q, count, outbox):
    """Get `count` items (WAIT s each at most) and send them as one list on `outbox`."""
    outbox.send(_get_up_to(q, count))
    outbox.close()


def q_get_n_to_queue(q, count, results):
    """Get `count` items and put them, as one list, on the queue `results`."""
    results.put(_get_up_to(q, count))


def q_echo(inq, outq, count):
    """Get `count` items from `inq`, put each on `outq`."""
    import queue as _queue
    for _ in range(count):
        try:
            item = inq.get(timeout=WAIT)
        except _queue.Empty:
            return
        outq.put(item)


def q_digest_patterns(q, count, outbox):
    """Get `count` (i, data) items; send [(i, len, digest)] on `outbox`."""
    import queue as _queue
    out = []
    try:
        for _ in range(count):
            i, data = q.get(timeout=WAIT)
            out.append((i, type(data).__name__, len(data), digest(data)))
    except _queue.Empty:
        out.append("<Empty>")
    outbox.send(out)
    outbox.close()


def q_consume_until_none(q, results):
    """Get items until None; put the list of items got on `results`."""
    import queue as _queue
    got = []
    while True:
        try:
            item = q.get(timeout=WAIT)
        except _queue.Empty:
            got.append("<Empty>")
            break
        if item is None:
            break
        got.append(item)
    results.put(got)


def q_task_consumer(q, count, outbox):
    """JoinableQueue consumer: get `count` items, call task_done() after each (slowly)."""
    got = []
    for _ in range(count):
        got.append(q.get(timeout=WAIT))
        time.sleep(0.01)
        q.task_done()
    outbox.send(got)
    outbox.close()


def q_simple_get_n(q, count, outbox):
    """SimpleQueue consumer (its get() has no timeout: the parent puts first)."""
    outbox.send([q.get() for _ in range(count)])
    outbox.close()


def q_simple_put_all(q, items):
    for item in items:
        q.put(item)


# --- gompx queue workers ----------------------------------------------------------------

def q_put_many_all(q, items, chunk):
    """put_many the `items` in chunks of `chunk`."""
    for i in range(0, len(items), chunk):
        q.put_many(items[i:i + chunk])


def q_get_many_n(q, count, max_messages, outbox):
    """get_many(max_messages) until `count` items are in; send them and the batch sizes."""
    import queue as _queue
    got, batches = [], []
    try:
        while len(got) < count:
            batch = q.get_many(max_messages, timeout=WAIT)
            batches.append(len(batch))
            got.extend(batch)
    except _queue.Empty:
        got.append("<Empty>")
    outbox.send((got, batches))
    outbox.close()


def q_fault_producer(q, tag, ready):
    """Put (tag, i, size, pattern(size, seed)) forever, big and small, until killed."""
    import random
    rnd = random.Random(tag)
    ready.send("ready")
    i = 0
    while True:
        if i % 3 == 0:
            size = 256 * 1024 + rnd.randrange(1024)
        else:
            size = rnd.randrange(64)
        q.put((tag, i, size, pattern(size, tag * 1000003 + i)))
        i += 1


def q_fault_consumer(q, report):
    """get() forever; report each item's number on `report` (a Pipe end) until killed.
    A corrupt item is reported as ("bad", number)."""
    report.send("ready")
    while True:
        i, size, data = q.get(timeout=WAIT)
        if len(data) != size or data != pattern(size, i):
            report.send(("bad", i))
        else:
            report.send(i)


def q_stress_producer(q, tag, count, batch):
    """Put (tag, seq) for seq in range(count); batch=0 uses put(), else put_many(batch)."""
    if batch:
        for start in range(0, count, batch):
            q.put_many([(tag, s) for s in range(start, min(count, start + batch))])
    else:
        for s in range(count):
            q.put((tag, s))


def q_stress_consumer(q, outbox, batch):
    """Get until a None sentinel (extra sentinels in a batch are put back); send
    {tag: [seq, ...]} in arrival order on `outbox`."""
    import queue as _queue
    seen = {}
    done = False
    while not done:
        try:
            items = q.get_many(batch, timeout=WAIT) if batch else [q.get(timeout=WAIT)]
        except _queue.Empty:
            seen["<Empty>"] = True
            break
        extra = 0
        for item in items:
            if item is None:
                if done:
                    extra += 1
                done = True
            elif done:
                seen.setdefault("<after sentinel>", []).append(item)
            else:
                seen.setdefault(item[0], []).append(item[1])
        for _ in range(extra):
            q.put(None)
    outbox.send(seen)
    outbox.close()


def q_hold_and_wait(q, ready, seconds):
    """Use the queue a little, report ready, then sleep (a victim for parent SIGKILL)."""
    q.put("from child")
    ready.send(os.getpid())
    time.sleep(seconds)


def pid_gone(pid):
    """True once process pid has exited (gone, or a zombie): a test helper, not a target."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


# --- resource hygiene checks ------------------------------------------------------------

def open_fds():
    """How many descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


def shm_entries():
    """The names in /dev/shm now."""
    try:
        return set(os.listdir("/dev/shm"))
    except FileNotFoundError:
        return set()


def shm_holders(names):
    """pid -> the /dev/shm names among `names` that process has open or mapped."""
    paths = {"/dev/shm/" + n: n for n in names}
    held_by = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        found = set()
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                try:
                    target = os.readlink("/proc/%s/fd/%s" % (pid, fd))
                except OSError:
                    continue
                target = target.replace(" (deleted)", "")
                if target in paths:
                    found.add(paths[target])
            with open("/proc/%s/maps" % pid) as f:
                for line in f:
                    fields = line.split(None, 5)
                    if len(fields) == 6:
                        path = fields[5].strip().replace(" (deleted)", "")
                        if path in paths:
                            found.add(paths[path])
        except OSError:
            continue
        if found:
            held_by[int(pid)] = found
    return held_by


def leaked_shm(before, ours=(), timeout=5.0):
    """New /dev/shm entries (since the set `before`) that are ours: held by one of the
    pids `ours` or by nobody; entries another live process holds belong to someone else's
    concurrent run. Waits up to `timeout` for them to go before reporting them."""
    deadline = time.monotonic() + timeout
    while True:
        new = shm_entries() - before
        holders = shm_holders(new)
        foreign = set().union(*(n for pid, n in holders.items() if pid not in ours))
        mine = set().union(*(n for pid, n in holders.items() if pid in ours))
        leaked = (new - foreign) | mine
        if not leaked or time.monotonic() > deadline:
            return leaked
        time.sleep(0.1)


# -- SIGKILL scenarios: a parent script in its own interpreter, killed from outside --------

SCENARIO_MARKER = "GOMPX_TEST_MARKER"


def marked_processes(marker):
    """Live (non-zombie) processes whose environment carries `marker`: a scenario's parent
    and everything it started, whatever became of the parent."""
    needle = ("%s=%s" % (SCENARIO_MARKER, marker)).encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if needle in f.read().split(b"\0") and not pid_gone(int(pid)):
                    found.append(int(pid))
        except OSError:
            continue
    return found


def eventually(predicate, timeout=10.0):
    """Poll `predicate` (for state nobody signals, such as Barrier.n_waiting or a file
    a dead process leaves for others to remove)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def sigkill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def sigkill_scenario(source, modname, method, children, kill_children, env=None,
                     gone_within=5.0):
    """Run the script `source` (argv: modname, method) in a fresh interpreter; it prints the
    pids of the `children` it started, on one line, once they hold what they should.
    SIGKILL its parent (and the children too if `kill_children`), then fail the test
    unless every process it started is gone within `gone_within` seconds and no
    /dev/shm entry of theirs is left.  Whatever happens, nothing it started outlives
    the test."""
    import select
    import subprocess
    import uuid
    import pytest
    here = os.path.dirname(os.path.abspath(__file__))
    marker = uuid.uuid4().hex
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(
        x for x in (here, full_env.get("PYTHONPATH")) if x)
    full_env[SCENARIO_MARKER] = marker
    full_env.update(env or {})
    shm = shm_entries()
    parent = subprocess.Popen([sys.executable, "-c", source, modname, method],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=full_env)
    try:
        ready, _, _ = select.select([parent.stdout], [], [], 60)
        line = parent.stdout.readline() if ready else ""
        if not line:
            parent.kill()
            _, err = parent.communicate(timeout=10)
            pytest.fail("the scenario printed no pids; its stderr:\n" + err)
        pids = [int(x) for x in line.split()]
        assert len(pids) == children and not any(pid_gone(pid) for pid in pids)
        # Only what the scenario's processes hold counts: other test runs on the machine
        # come and go in /dev/shm too.
        scenario = set([parent.pid] + pids)
        held = set().union(*(names for pid, names in shm_holders(shm_entries() - shm).items()
                             if pid in scenario))
        sigkill([parent.pid] + (pids if kill_children else []))
        parent.wait(10)
        deadline = time.monotonic() + gone_within
        while marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = marked_processes(marker)
        assert left == [], "processes outlived the SIGKILL: %s" % left
        assert eventually(lambda: not held & shm_entries(), 5.0), \
            "/dev/shm entries left behind: %s" % sorted(held & shm_entries())
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        sigkill(marked_processes(marker))
