"""Child targets and helpers for test_synchronize.py, test_sharedctypes.py and the heap
tests (test_heap.py, test_heap_gompx.py).

Spawn and forkserver children unpickle ``sync_targets.<name>`` and re-import this module,
so everything a child runs lives here, at module level.  The synchronization objects
themselves arrive as Process arguments.  Every wait in a child is bounded (WAIT seconds),
so a broken implementation makes the child give up and report instead of hanging; the
parent then fails on its own timeout.  Results travel back on Pipe ends as plain values
(exception class names rather than exceptions); the reporting end is the last argument.
"""

import contextlib
import ctypes
import gc
import os
import threading
import time

from mp_targets import WAIT, digest, impl


class Point(ctypes.Structure):
    """A ctypes structure for Value/RawValue; importable, so children can rebuild it."""
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_double)]


def outcome(call, *args, **kwargs):
    """call(*args, **kwargs) as ("ok", result) or (exception class name, message)."""
    try:
        return ("ok", call(*args, **kwargs))
    except Exception as e:
        return (type(e).__name__, str(e))


# --- locks and semaphores -------------------------------------------------------------

def hold_until_told(lock, conn):
    """Acquire `lock`, say "held", keep it until the parent sends anything, release, say
    "released".  conn is one end of a duplex Pipe."""
    if not lock.acquire(timeout=WAIT):
        conn.send("not acquired")
        return
    conn.send("held")
    try:
        if conn.poll(WAIT):
            conn.recv()
    finally:
        lock.release()
    conn.send("released")


def release_and_report(lock, conn):
    """Release a lock this process never acquired; report what happened."""
    conn.send(outcome(lock.release))
    conn.close()


def try_acquire_and_report(lock, timeout, conn):
    """Report lock.acquire(timeout=timeout) (releasing again if it succeeded)."""
    got = lock.acquire(timeout=timeout)
    if got:
        lock.release()
    conn.send(got)
    conn.close()


def count_under_value_lock(value, passes, gate):
    """value.value += 1, `passes` times, each under value.get_lock()."""
    gate.wait(WAIT)
    for _ in range(passes):
        with value.get_lock():
            value.value += 1


def count_under_lock(array, lock, passes, gate):
    """Increment every slot of a lock-free Array, `passes` times, each pass under `lock`
    (a read-modify-write over all slots, so any overlap loses counts)."""
    gate.wait(WAIT)
    for _ in range(passes):
        with lock:
            for i in range(len(array)):
                array[i] += 1


def semaphore_holder(sem, lock, state, passes, gate):
    """Pass through `sem` `passes` times.  state (a lock-free Array('i', 3)) holds
    [holders now, most holders ever seen, passes done], updated under `lock`."""
    gate.wait(WAIT)
    for _ in range(passes):
        if not sem.acquire(timeout=WAIT):
            raise SystemExit(3)
        try:
            with lock:
                state[0] += 1
                state[1] = max(state[1], state[0])
                state[2] += 1
            # Hold the slot a moment so the other children pile up behind the semaphore.
            time.sleep(0.003)
            with lock:
                state[0] -= 1
        finally:
            sem.release()


# --- conditions -----------------------------------------------------------------------

def cond_waiter(cond, sleeping, timeout, conn):
    """Wait on `cond` once; send what wait() returned.  `sleeping` is released while the
    lock is still held, so the parent knows this child is inside wait() once it gets both
    the semaphore and the lock."""
    if not cond.acquire(timeout=WAIT):
        conn.send("no lock")
        return
    try:
        sleeping.release()
        conn.send(cond.wait(timeout))
    finally:
        cond.release()
    conn.close()


def cond_wait_for_value(cond, sleeping, state, target, timeout, conn):
    """wait_for(state.value == target, timeout); send (result, state seen, seconds)."""
    if not cond.acquire(timeout=WAIT):
        conn.send("no lock")
        return
    try:
        sleeping.release()
        t0 = time.monotonic()
        result = cond.wait_for(lambda: state.value == target, timeout)
        conn.send((result, state.value, time.monotonic() - t0))
    finally:
        cond.release()
    conn.close()


def cond_notify_after_ready(cond, conn):
    """Wait for the parent's go, then notify() under the lock (the parent waits on cond)."""
    if conn.poll(WAIT):
        conn.recv()
        with held(cond, WAIT):
            cond.notify()


# --- events ---------------------------------------------------------------------------

def event_set(event):
    event.set()


def event_clear(event):
    event.clear()


def event_wait_report(event, timeout, conn):
    """Say "ready", then send what event.wait(timeout) returned."""
    conn.send("ready")
    conn.send(event.wait(timeout))
    conn.close()


# --- barriers -------------------------------------------------------------------------

def bump(counter):
    """A Barrier action: counter.value += 1 under its lock."""
    with counter.get_lock():
        counter.value += 1


def barrier_result(barrier, timeout):
    """barrier.wait(timeout) as its index, or "broken" on BrokenBarrierError."""
    try:
        return barrier.wait(timeout)
    except threading.BrokenBarrierError:
        return "broken"


def barrier_rounds(barrier, rounds, conn):
    """Pass `barrier` `rounds` times; send each index (or "broken") as it comes."""
    for _ in range(rounds):
        conn.send(barrier_result(barrier, WAIT))
    conn.close()


def barrier_on_command(barrier, conn):
    """For each timeout the parent sends, wait on `barrier` once and send the result;
    stop on None.  The parent decides when each wait starts."""
    while conn.poll(WAIT):
        timeout = conn.recv()
        if timeout is None:
            break
        conn.send(barrier_result(barrier, timeout))
    conn.close()


# --- several primitives at once -------------------------------------------------------

def use_everything(objs, conn):
    """Touch each primitive received as a Process argument; report what was seen.
    The parent checks the effects: sem released once, event set, values written."""
    seen = {name: type(obj).__name__ for name, obj in objs.items()}
    ok = {}
    for name in ("lock", "rlock", "bsem"):
        ok[name] = objs[name].acquire(timeout=WAIT)
        objs[name].release()
    ok["rlock-twice"] = objs["rlock"].acquire(timeout=WAIT) and objs["rlock"].acquire(False)
    objs["rlock"].release()
    objs["rlock"].release()
    objs["sem"].release()
    with held(objs["cond"], WAIT):
        objs["cond"].notify_all()
    objs["event"].set()
    ok["barrier"] = barrier_result(objs["barrier"], WAIT)
    objs["value"].value = 99
    objs["array"][:] = [7, 8, 9]
    objs["raw_value"].value = 2.5
    objs["raw_array"][2] = b"z"
    conn.send((seen, ok))
    conn.close()


# --- shared ctypes --------------------------------------------------------------------

def set_values(values, new):
    """values[i].value = new[i] for each shared value."""
    for v, x in zip(values, new):
        v.value = x


def add_under_lock(value, n):
    """Add 1 to *value* n times, each under its lock."""
    for _ in range(n):
        with value.get_lock():
            value.value += 1


def prefix_sums(seq):
    """Turn `seq` (Array or RawArray) into its running sums, in place."""
    for i in range(1, len(seq)):
        seq[i] += seq[i - 1]


def set_point(point, x, y):
    point.x = x
    point.y = y


def set_string(s, data):
    """s.value = data for a c_char Array."""
    s.value = data


def digest_raw(raw, conn):
    """Send the sha256 of a RawArray's bytes, then overwrite its first 16 bytes."""
    view = memoryview(raw).cast("B")
    conn.send(digest(bytes(view)))
    view[:16] = b"\xa5" * 16
    conn.close()


def make_and_report(modname, conn):
    """Create Value and Array in the child with the parent's implementation; report."""
    mp = impl(modname)
    v = mp.Value("q", 2 ** 40)
    a = mp.Array("h", [-1, 2, -3])
    conn.send((v.value, list(a), a[::-1]))
    conn.close()


# --- gompx-only victims -------------------------------------------------------------

def die_holding(lock, how, depth, conn):
    """Acquire `lock` `depth` times (depth > 1 for an RLock), send the pid, then die
    without releasing it: os._exit(0) at once ("exit"), or wait to be SIGKILLed."""
    for _ in range(depth):
        if not lock.acquire(timeout=WAIT):
            conn.send("not acquired")
            return
    conn.send(os.getpid())
    if how == "exit":
        os._exit(0)
    time.sleep(WAIT)
    os._exit(0)


def wait_forever_in_condition(cond, sleeping):
    """Sit in cond.wait() until killed (the parent SIGKILLs it there)."""
    with held(cond, WAIT):
        sleeping.release()
        cond.wait(WAIT)


def wait_forever_in_barrier(barrier):
    """Sit in barrier.wait() until killed."""
    barrier_result(barrier, WAIT)


def victim(role, objs, conn):
    """A child of the SIGKILL-everything scenario: use the shared objects, send the pid,
    then sit in a wait of its role until it is killed."""
    objs["value"].value += 1
    objs["array"][0] = 1.5
    objs["raw"][0] = 1
    conn.send(os.getpid())
    if role == "holder":
        objs["rlock"].acquire()
        objs["rlock"].acquire()
        objs["sem"].acquire()
        time.sleep(2 * WAIT)
    elif role == "blocked":
        objs["lock"].acquire(timeout=2 * WAIT)  # the scenario's parent holds it
    elif role == "cond":
        with held(objs["cond"], WAIT):
            objs["cond"].wait(2 * WAIT)
    elif role == "barrier":
        barrier_result(objs["barrier"], 2 * WAIT)
    else:
        objs["event"].wait(2 * WAIT)


# --- helpers for the tests themselves -------------------------------------------------

@contextlib.contextmanager
def held(lock, timeout=10):
    """`with lock:` that fails instead of hanging when the lock does not come."""
    assert lock.acquire(timeout=timeout), "lock not acquired within %s s" % timeout
    try:
        yield
    finally:
        lock.release()


def timed(call, *args, **kwargs):
    """(result, seconds) of call(*args, **kwargs)."""
    t0 = time.monotonic()
    result = call(*args, **kwargs)
    return result, time.monotonic() - t0


def fill_buffers(wrappers, conn):
    """Fill the i-th heap.BufferWrapper with byte i+1; report each one's length."""
    lengths = []
    for i, wrapper in enumerate(wrappers):
        view = wrapper.create_memoryview()
        view[:] = bytes([i + 1]) * len(view)
        lengths.append(len(view))
        view.release()
    conn.send(lengths)


def hold_then_drop_buffer(box, conn):
    """Hold the BufferWrapper in the list *box* until told, then drop this process's
    reference to it (the list, not the Process's arguments, holds it) and report."""
    view = box[0].create_memoryview()
    view[0] = 0x5a
    view.release()
    conn.send("holding")
    if not conn.poll(WAIT):
        conn.send("never told to drop")
        return
    conn.recv()
    box.clear()
    gc.collect()
    conn.send("dropped")
