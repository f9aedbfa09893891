"""multiprocessing.synchronize, the stdlib API: Lock, RLock, Semaphore, BoundedSemaphore,
Condition, Event, Barrier -- in one process (threads), across processes, under contention.

Every case runs against stdlib and gompx.  Children are spawned from the spawn context
(``ctx``) and the primitives come from that context too: the stdlib refuses to hand a
primitive made in a fork context to a spawned child.  Every wait has a timeout, so a broken
implementation fails a case instead of hanging the suite.

What the stdlib does not promise (a lock whose owner died is taken over, killed waiters
wedge nothing, nothing is left behind) is in test_synchronize_gompx.py.
"""

import functools
import importlib
import os
import pickle
import signal
import threading
import time
import types

import pytest

import sync_targets as st
from mp_targets import Background, eventually, join_within, recv_within
from sync_targets import held, timed

HERE = os.path.dirname(os.path.abspath(__file__))
GET = 10  # seconds anything that must happen may take
FAST = 1.0  # an acquire or wait that must not block returns well within this

KINDS = ["Lock", "RLock", "Semaphore", "BoundedSemaphore"]
ALL_KINDS = KINDS + ["Condition", "Event", "Barrier"]


def start(ctx, target, *args):
    p = ctx.Process(target=target, args=args)
    p.start()
    return p


def start_reporting(ctx, target, *args):
    """Start target(*args, conn) and return (process, the parent's read end)."""
    r, w = ctx.Pipe(duplex=False)
    p = start(ctx, target, *args, w)
    w.close()
    return p, r


def synchronize(mp):
    return importlib.import_module(mp.__name__ + ".synchronize")


def make(mp, kind):
    return getattr(mp, kind)(2) if kind == "Barrier" else getattr(mp, kind)()


def timed_false(call, *args, **kwargs):
    """Assert call(...) returns False without blocking."""
    result, elapsed = timed(call, *args, **kwargs)
    assert result is False, (args, kwargs, result)
    assert elapsed < FAST, (args, kwargs, elapsed)


def assert_times_out(call, seconds, *args, **kwargs):
    """Assert call(...) returns False after about `seconds`."""
    result, elapsed = timed(call, *args, **kwargs)
    assert result is False
    assert seconds - 0.01 <= elapsed < seconds + 2.0, elapsed


@pytest.fixture(params=["spawn", "forkserver"])
def pctx(request, mp):
    """spawn and forkserver contexts, for cases where the start method matters."""
    if not isinstance(mp, types.ModuleType):
        return mp
    return mp.get_context(request.param)


# --- module surface -------------------------------------------------------------------

def test_synchronize_module_classes(mp, ctx):
    sync = synchronize(mp)
    for kind in ALL_KINDS:
        cls = getattr(sync, kind)
        assert isinstance(make(mp, kind), cls), kind
        assert isinstance(make(ctx, kind), cls), kind
    assert issubclass(sync.BoundedSemaphore, sync.Semaphore)
    for name in ("Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event"):
        assert name in sync.__all__, name


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_repr_names_the_class(mp, kind):
    obj = make(mp, kind)
    assert kind in repr(obj)
    if kind in KINDS:
        with held(obj):
            assert kind in repr(obj)


def test_event_repr_says_set_or_unset(mp):
    ev = mp.Event()
    assert repr(ev).endswith("unset>")
    ev.set()
    assert repr(ev).endswith(" set>")
    ev.clear()
    assert repr(ev).endswith("unset>")


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_pickling_outside_spawning_raises(mp, kind):
    with pytest.raises(RuntimeError, match="inheritance"):
        pickle.dumps(make(mp, kind))


# --- acquire: blocking, non-blocking, timeouts ----------------------------------------

def contended(mp, kind):
    """A `kind` the calling thread cannot acquire now, and a function that frees it."""
    if kind == "Semaphore":
        sem = mp.Semaphore(0)
        return sem, sem.release
    if kind == "BoundedSemaphore":
        sem = mp.BoundedSemaphore(1)
        assert sem.acquire(False)
        return sem, sem.release
    if kind == "Lock":
        lock = mp.Lock()
        assert lock.acquire(False)
        return lock, lock.release
    # The owner of an RLock may acquire it again, so another thread holds it.
    rlock, taken, go = mp.RLock(), threading.Event(), threading.Event()

    def owner():
        with rlock:
            taken.set()
            go.wait(GET)

    thread = threading.Thread(target=owner, daemon=True)
    thread.start()
    assert taken.wait(GET)

    def free():
        go.set()
        thread.join(GET)
    return rlock, free


@pytest.mark.parametrize("kind", KINDS)
def test_acquire_nonblocking_and_timeouts(mp, kind):
    obj, free = contended(mp, kind)
    timed_false(obj.acquire, False)
    timed_false(obj.acquire, block=False)
    timed_false(obj.acquire, False, 10)  # the timeout is ignored when not blocking
    timed_false(obj.acquire, block=False, timeout=None)
    timed_false(obj.acquire, timeout=0)
    timed_false(obj.acquire, True, 0)
    timed_false(obj.acquire, timeout=-1)  # a negative timeout is a zero one
    timed_false(obj.acquire, True, -5.0)
    assert_times_out(obj.acquire, 0.2, timeout=0.2)
    assert_times_out(obj.acquire, 0.3, True, 0.3)
    assert_times_out(obj.acquire, 0.25, block=True, timeout=0.25)
    free()

    def take():
        got = obj.acquire(block=True, timeout=None)
        obj.release()
        return got

    assert Background(take).finish(GET) is True
    assert obj.acquire() is True
    obj.release()


@pytest.mark.parametrize("kind", KINDS)
def test_acquire_waits_until_freed_by_another_thread(mp, kind):
    obj, free = contended(mp, kind)
    timer = threading.Timer(0.2, free)
    timer.start()
    try:
        got, elapsed = timed(obj.acquire, timeout=GET)
    finally:
        timer.join(GET)
    assert got is True
    assert 0.15 <= elapsed < GET
    obj.release()


@pytest.mark.parametrize("kind", KINDS)
def test_acquire_timeout_of_wrong_type_raises_typeerror(mp, kind):
    obj = make(mp, kind)
    with pytest.raises(TypeError):
        obj.acquire(timeout="soon")
    with pytest.raises(TypeError):
        obj.acquire(True, "soon")
    assert obj.acquire(False) is True  # the failed calls took nothing
    obj.release()


@pytest.mark.parametrize("kind", KINDS)
def test_context_manager(mp, kind):
    obj = make(mp, kind)
    with obj as entered:
        assert entered is True
        if kind == "RLock":
            assert Background(obj.acquire, True, 0.05).finish(GET) is False
        else:
            assert obj.acquire(False) is False
    with pytest.raises(KeyError):
        with obj:
            raise KeyError("released on the way out")
    assert obj.acquire(False) is True
    obj.release()


def blocked_call(mp, kind):
    """A call on a `kind` that blocks for GET seconds unless interrupted, its arguments,
    and what undoes the blocking afterwards."""
    if kind in KINDS:
        obj, free = contended(mp, kind)
        return obj.acquire, (True, GET), free
    if kind == "Condition":
        cond = mp.Condition()
        assert cond.acquire(False)
        return cond.wait, (GET,), cond.release
    if kind == "Event":
        return mp.Event().wait, (GET,), lambda: None
    return mp.Barrier(2).wait, (GET,), lambda: None


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_blocking_call_is_interrupted_by_ctrl_c(mp, kind):
    """SIGINT raises KeyboardInterrupt out of a blocked wait in the main thread (CPython's
    semaphore wait fails with EINTR and runs the handler)."""
    call, args, undo = blocked_call(mp, kind)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call(*args)
    finally:
        timer.cancel()
        timer.join(GET)
        undo()
    # A wait that ignored the signal would raise only when it timed out.
    assert time.monotonic() - t0 < GET / 2


# --- Lock -----------------------------------------------------------------------------

def test_lock_basics(mp):
    lock = mp.Lock()
    assert lock.acquire() is True
    assert lock.acquire(False) is False
    assert lock.release() is None
    with pytest.raises(ValueError):
        lock.release()
    assert lock.acquire(False) is True  # the failed release changed nothing
    lock.release()


def test_lock_released_by_another_thread(mp):
    lock = mp.Lock()
    assert lock.acquire(False)
    Background(lock.release).finish(GET)
    assert lock.acquire(False) is True
    lock.release()


def test_lock_released_by_a_child(ctx):
    lock = ctx.Lock()
    assert lock.acquire(False)
    p, r = start_reporting(ctx, st.release_and_report, lock)
    assert recv_within(r, GET) == ("ok", None)
    assert join_within(p) == 0
    assert lock.acquire(False) is True
    lock.release()


@pytest.mark.parametrize("kind", ["Lock", "RLock"])
def test_lock_held_by_a_child_excludes_the_parent(ctx, kind):
    lock = getattr(ctx, kind)()
    mine, theirs = ctx.Pipe()
    p = start(ctx, st.hold_until_told, lock, theirs)
    theirs.close()
    assert recv_within(mine, GET) == "held"
    timed_false(lock.acquire, False)
    assert_times_out(lock.acquire, 0.2, timeout=0.2)
    mine.send("go")
    assert recv_within(mine, GET) == "released"
    assert lock.acquire(timeout=GET) is True
    lock.release()
    assert join_within(p) == 0


# --- RLock ----------------------------------------------------------------------------

def test_rlock_recursion(mp):
    rlock = mp.RLock()
    for _ in range(3):
        assert rlock.acquire() is True
    assert Background(rlock.acquire, True, 0.1).finish(GET) is False
    for _ in range(2):
        assert rlock.release() is None
    assert Background(rlock.acquire, True, 0.1).finish(GET) is False  # still held once
    rlock.release()

    def take_and_release():
        got = rlock.acquire(timeout=GET)
        rlock.release()
        return got

    assert Background(take_and_release).finish(GET) is True
    with pytest.raises(AssertionError):
        rlock.release()


def test_rlock_release_unowned_raises(mp):
    with pytest.raises(AssertionError):
        mp.RLock().release()


def test_rlock_release_by_another_thread_raises(mp):
    rlock = mp.RLock()
    assert rlock.acquire()
    assert Background(st.outcome, rlock.release).finish(GET)[0] == "AssertionError"
    assert Background(rlock.acquire, True, 0.05).finish(GET) is False  # still ours
    rlock.release()


def test_rlock_release_by_a_child_raises(ctx):
    rlock = ctx.RLock()
    assert rlock.acquire()
    p, r = start_reporting(ctx, st.release_and_report, rlock)
    assert recv_within(r, GET)[0] == "AssertionError"
    assert join_within(p) == 0
    p, r = start_reporting(ctx, st.try_acquire_and_report, rlock, 0.1)
    assert recv_within(r, GET) is False
    assert join_within(p) == 0
    rlock.release()


# --- Semaphore / BoundedSemaphore -----------------------------------------------------

@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
def test_semaphore_counts(mp, kind):
    sem = getattr(mp, kind)(2)
    assert sem.get_value() == 2
    assert sem.acquire() is True
    assert sem.get_value() == 1
    assert sem.acquire(timeout=GET) is True
    assert sem.get_value() == 0
    assert sem.acquire(False) is False
    assert sem.get_value() == 0
    assert sem.release() is None
    assert sem.get_value() == 1
    sem.release()
    assert sem.get_value() == 2
    assert getattr(mp, kind)().get_value() == 1  # value=1 by default


def test_semaphore_release_beyond_initial_value(mp):
    sem = mp.Semaphore(1)
    for expected in (2, 3, 4):
        sem.release()
        assert sem.get_value() == expected
    for _ in range(4):
        assert sem.acquire(False) is True
    assert sem.acquire(False) is False


def test_bounded_semaphore_released_too_often_raises(mp):
    sem = mp.BoundedSemaphore(2)
    with pytest.raises(ValueError):
        sem.release()
    assert sem.get_value() == 2
    assert sem.acquire(False)
    sem.release()
    with pytest.raises(ValueError):
        sem.release()
    assert sem.get_value() == 2


@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
def test_semaphore_negative_value_raises(mp, kind):
    with pytest.raises(OSError):  # CPython: sem_open fails with EINVAL
        getattr(mp, kind)(-1)


def test_semaphore_released_by_children(ctx):
    sem = ctx.Semaphore(0)
    started = [start_reporting(ctx, st.release_and_report, sem) for _ in range(3)]
    for _ in range(3):
        assert sem.acquire(timeout=GET) is True
    assert sem.acquire(False) is False
    for p, r in started:
        assert recv_within(r, GET) == ("ok", None)
        assert join_within(p) == 0


# --- Condition ------------------------------------------------------------------------

def test_condition_default_lock_is_recursive(mp):
    cond = mp.Condition()
    assert cond.acquire() is True
    assert cond.acquire(False) is True
    cond.release()
    cond.release()
    with pytest.raises(AssertionError):
        cond.release()


def test_condition_uses_the_given_lock(mp):
    lock = mp.Lock()
    cond = mp.Condition(lock)
    with cond:
        assert lock.acquire(False) is False
        assert cond.wait(0.01) is False
    assert lock.acquire(False) is True
    assert cond.acquire(False) is False
    lock.release()


def test_condition_requires_the_lock(mp):
    cond = mp.Condition()
    with pytest.raises(AssertionError):
        cond.wait()
    with pytest.raises(AssertionError):
        cond.wait(0.1)
    with pytest.raises(AssertionError):
        cond.wait_for(lambda: False, 0.1)
    with pytest.raises(AssertionError):
        cond.notify()
    with pytest.raises(AssertionError):
        cond.notify_all()
    with held(cond):
        assert cond.wait(0) is False  # the failures left the condition usable


def test_condition_wait_timeout_returns_false(mp):
    cond = mp.Condition()
    with held(cond):
        timed_false(cond.wait, 0)
        timed_false(cond.wait, -1)
        assert_times_out(cond.wait, 0.2, 0.2)
        assert_times_out(cond.wait, 0.2, timeout=0.2)


def test_condition_wait_restores_recursion_level(mp):
    cond = mp.Condition()
    cond.acquire()
    cond.acquire()
    assert cond.wait(0.05) is False
    assert Background(cond.acquire, True, 0.1).finish(GET) is False
    cond.release()
    assert Background(cond.acquire, True, 0.1).finish(GET) is False
    cond.release()
    with pytest.raises(AssertionError):
        cond.release()


def test_condition_wait_for_in_one_process(mp):
    cond = mp.Condition()
    with held(cond):
        result, elapsed = timed(cond.wait_for, lambda: 42)
        assert result == 42 and elapsed < FAST  # true at once: no waiting
        assert cond.wait_for(lambda: 0, 0) == 0
        result, elapsed = timed(cond.wait_for, lambda: [], 0.2)
        assert result == []
        assert 0.19 <= elapsed < 2.2

    state = []

    def producer():
        for i in range(3):
            time.sleep(0.02)
            with held(cond):
                state.append(i)
                cond.notify()

    bg = Background(producer)
    with held(cond):
        assert cond.wait_for(lambda: len(state) == 3, GET) is True
    bg.finish(GET)


def test_condition_notify_without_waiters_is_a_no_op(mp):
    cond = mp.Condition()
    with held(cond):
        cond.notify()
        cond.notify(5)
        cond.notify_all()
        assert cond.wait(0.05) is False  # nothing was stored for a later waiter


def thread_waiters(cond, count):
    """Start `count` threads waiting on cond; return the semaphore each releases on waking.
    Returns once all of them are inside wait()."""
    sleeping, woken = threading.Semaphore(0), threading.Semaphore(0)

    def waiter():
        with held(cond):
            sleeping.release()
            if cond.wait(GET):
                woken.release()

    threads = [threading.Thread(target=waiter, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for _ in range(count):
        assert sleeping.acquire(timeout=GET)
    with held(cond):
        pass  # the last waiter let the lock go inside wait()
    return woken, threads


def woke(sem, count):
    """True if exactly `count` wake-ups arrive (each within GET s) and no more."""
    got = sum(1 for _ in range(count) if sem.acquire(timeout=GET))
    return got == count and not sem.acquire(timeout=0.3)


def test_condition_notify_n_threads(mp):
    cond = mp.Condition()
    woken, threads = thread_waiters(cond, 4)
    with held(cond):
        cond.notify()
    assert woke(woken, 1)
    with held(cond):
        cond.notify(2)
    assert woke(woken, 2)
    with held(cond):
        cond.notify_all()
    assert woke(woken, 1)
    for thread in threads:
        thread.join(GET)


def process_waiters(ctx, cond, count, timeout=st.WAIT):
    """Start `count` children waiting on cond; return (processes, read ends).
    Returns once all of them are inside wait()."""
    sleeping = ctx.Semaphore(0)
    procs, readers = [], []
    for _ in range(count):
        p, r = start_reporting(ctx, st.cond_waiter, cond, sleeping, timeout)
        procs.append(p)
        readers.append(r)
    for _ in range(count):
        assert sleeping.acquire(timeout=GET), "a child did not reach wait()"
    with held(cond):
        pass
    return procs, readers


def reports(mpconn, readers, count):
    """Read the reports of exactly `count` of `readers`; assert the rest stay silent.
    Returns (values, silent readers)."""
    got = []
    pending = list(readers)
    deadline = time.monotonic() + GET
    while len(got) < count and time.monotonic() < deadline:
        for r in mpconn.wait(pending, timeout=max(0.0, deadline - time.monotonic())):
            got.append(r.recv())
            pending.remove(r)
    assert len(got) == count, "%d of %d waiters woke" % (len(got), count)
    assert mpconn.wait(pending, timeout=0.3) == [], "more waiters woke than notified"
    return got, pending


def test_condition_notify_n_across_processes(ctx, mpconn):
    cond = ctx.Condition()
    procs, readers = process_waiters(ctx, cond, 3)
    with held(cond):
        cond.notify(1)
    got, readers = reports(mpconn, readers, 1)
    assert got == [True]
    with held(cond):
        cond.notify(5)  # more than there are waiters
    got, readers = reports(mpconn, readers, 2)
    assert got == [True, True]
    for p in procs:
        assert join_within(p) == 0


def test_condition_notify_all_across_processes(ctx, mpconn):
    cond = ctx.Condition(ctx.Lock())
    procs, readers = process_waiters(ctx, cond, 3)
    with held(cond):
        cond.notify_all()
    got, _ = reports(mpconn, readers, 3)
    assert got == [True] * 3
    for p in procs:
        assert join_within(p) == 0


def test_condition_timed_out_waiters_do_not_take_notifications(ctx, mpconn):
    cond = ctx.Condition()
    procs, readers = process_waiters(ctx, cond, 2, timeout=0.2)
    assert sorted(recv_within(r, GET) for r in readers) == [False, False]
    more, readers = process_waiters(ctx, cond, 2)
    with held(cond):
        cond.notify()
    got, _ = reports(mpconn, readers, 1)
    assert got == [True]
    with held(cond):
        cond.notify()
    for p in procs + more:
        assert join_within(p) == 0


def test_condition_wait_for_across_processes(ctx):
    cond, state, sleeping = ctx.Condition(), ctx.Value("i", 0), ctx.Semaphore(0)
    p, r = start_reporting(ctx, st.cond_wait_for_value, cond, sleeping, state, 4, GET)
    assert sleeping.acquire(timeout=GET)
    for _ in range(4):
        with held(cond):
            state.value += 1
            cond.notify()
    result, seen, elapsed = recv_within(r, GET)
    assert (result, seen) == (True, 4)
    assert join_within(p) == 0


def test_condition_wait_for_timeout_across_processes(ctx):
    cond, state, sleeping = ctx.Condition(), ctx.Value("i", 0), ctx.Semaphore(0)
    p, r = start_reporting(ctx, st.cond_wait_for_value, cond, sleeping, state, 4, 0.3)
    assert sleeping.acquire(timeout=GET)
    for _ in range(3):  # 4 is never reached
        with held(cond):
            state.value += 1
            cond.notify()
    result, seen, elapsed = recv_within(r, GET)
    assert result is False
    assert 0.29 <= elapsed < 3.0
    assert join_within(p) == 0


def test_condition_notified_by_a_child(ctx):
    cond = ctx.Condition()
    mine, theirs = ctx.Pipe()
    p = start(ctx, st.cond_notify_after_ready, cond, theirs)
    theirs.close()
    with held(cond):
        assert cond.wait(0) is False
        mine.send("go")  # the child can take the lock only once we wait
        assert cond.wait(GET) is True
    assert join_within(p) == 0


# --- Event ----------------------------------------------------------------------------

def test_event_in_one_process(mp):
    ev = mp.Event()
    assert ev.is_set() is False
    timed_false(ev.wait, 0)
    timed_false(ev.wait, timeout=0)
    assert_times_out(ev.wait, 0.2, 0.2)
    ev.set()
    assert ev.is_set() is True
    assert Background(ev.wait).finish(GET) is True
    result, elapsed = timed(ev.wait, GET)
    assert result is True and elapsed < FAST
    ev.set()  # setting twice keeps it set
    assert ev.is_set() is True
    ev.clear()
    assert ev.is_set() is False
    timed_false(ev.wait, 0.01)
    ev.clear()
    assert ev.is_set() is False


def test_event_set_wakes_every_thread(mp):
    ev = mp.Event()
    waiters = [Background(ev.wait, GET) for _ in range(4)]
    timer = threading.Timer(0.1, ev.set)
    timer.start()
    assert [w.finish(GET) for w in waiters] == [True] * 4
    timer.join(GET)


def test_event_set_by_a_child(ctx):
    ev = ctx.Event()
    p = start(ctx, st.event_set, ev)
    assert ev.wait(GET) is True
    assert join_within(p) == 0
    assert ev.is_set()


def test_event_cleared_by_a_child(ctx):
    ev = ctx.Event()
    ev.set()
    p = start(ctx, st.event_clear, ev)
    assert join_within(p) == 0
    assert ev.is_set() is False


def test_event_set_wakes_waiting_children(ctx, mpconn):
    ev = ctx.Event()
    started = [start_reporting(ctx, st.event_wait_report, ev, GET) for _ in range(3)]
    readers = [r for _, r in started]
    for r in readers:
        assert recv_within(r, GET) == "ready"
    assert mpconn.wait(readers, timeout=0.2) == []  # nobody passes an unset event
    ev.set()
    assert [recv_within(r, GET) for r in readers] == [True] * 3
    for p, _ in started:
        assert join_within(p) == 0


def test_event_wait_times_out_in_a_child(ctx):
    ev = ctx.Event()
    p, r = start_reporting(ctx, st.event_wait_report, ev, 0.2)
    assert recv_within(r, GET) == "ready"
    assert recv_within(r, GET) is False
    assert join_within(p) == 0


# --- Barrier in one process -----------------------------------------------------------

def barrier_threads(barrier, count, rounds=1, timeout=GET):
    """`count` threads passing `barrier` `rounds` times; each returns its results."""
    def passer():
        return [st.barrier_result(barrier, timeout) for _ in range(rounds)]
    return [Background(passer) for _ in range(count)]


def test_barrier_attributes(mp):
    barrier = mp.Barrier(3)
    assert (barrier.parties, barrier.n_waiting, barrier.broken) == (3, 0, False)
    single = mp.Barrier(1)
    assert single.wait() == 0
    assert single.wait(GET) == 0


def test_barrier_rounds_indices_and_action_threads(mp):
    actions = []
    barrier = mp.Barrier(3, action=lambda: actions.append(len(actions)))
    rounds = 5
    results = [b.finish(GET) for b in barrier_threads(barrier, 3, rounds)]
    for r in range(rounds):
        assert sorted(res[r] for res in results) == [0, 1, 2], r
    assert actions == list(range(rounds))
    assert (barrier.n_waiting, barrier.broken) == (0, False)


def test_barrier_n_waiting(mp):
    barrier = mp.Barrier(3)
    waiters = barrier_threads(barrier, 2)
    assert eventually(lambda: barrier.n_waiting == 2)
    mine = barrier.wait(GET)
    assert sorted([mine] + [w.finish(GET)[0] for w in waiters]) == [0, 1, 2]
    assert barrier.n_waiting == 0


def test_barrier_abort_threads(mp):
    barrier = mp.Barrier(3)
    waiters = barrier_threads(barrier, 2)
    assert eventually(lambda: barrier.n_waiting == 2)
    barrier.abort()
    assert [w.finish(GET) for w in waiters] == [["broken"], ["broken"]]
    assert barrier.broken is True
    t0 = time.monotonic()
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(GET)
    assert time.monotonic() - t0 < FAST
    barrier.reset()
    assert barrier.broken is False
    results = [b.finish(GET) for b in barrier_threads(barrier, 3)]
    assert sorted(r[0] for r in results) == [0, 1, 2]


def test_barrier_reset_breaks_waiters_threads(mp):
    barrier = mp.Barrier(3)
    waiters = barrier_threads(barrier, 2)
    assert eventually(lambda: barrier.n_waiting == 2)
    barrier.reset()
    assert [w.finish(GET) for w in waiters] == [["broken"], ["broken"]]
    assert barrier.broken is False
    results = [b.finish(GET) for b in barrier_threads(barrier, 3)]
    assert sorted(r[0] for r in results) == [0, 1, 2]


def test_barrier_timeout_breaks_it(mp):
    barrier = mp.Barrier(3)
    other = barrier_threads(barrier, 1)[0]
    assert eventually(lambda: barrier.n_waiting == 1)
    t0 = time.monotonic()
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(timeout=0.2)
    assert 0.19 <= time.monotonic() - t0 < 2.2
    assert other.finish(GET) == ["broken"]
    assert barrier.broken is True


def test_barrier_default_timeout(mp):
    barrier = mp.Barrier(2, timeout=0.2)
    t0 = time.monotonic()
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait()
    assert 0.19 <= time.monotonic() - t0 < 2.2
    assert barrier.broken is True


def test_barrier_action_that_raises_breaks_it(mp):
    def action():
        raise KeyError("from the action")

    barrier = mp.Barrier(2, action=action)
    other = barrier_threads(barrier, 1)[0]
    assert eventually(lambda: barrier.n_waiting == 1)
    with pytest.raises(KeyError):
        barrier.wait(GET)  # the last to arrive runs the action
    assert other.finish(GET) == ["broken"]
    assert barrier.broken is True


# --- Barrier across processes ---------------------------------------------------------

def test_barrier_rounds_across_processes(ctx):
    counter = ctx.Value("i", 0)
    barrier = ctx.Barrier(4, action=functools.partial(st.bump, counter), timeout=GET)
    rounds = 3
    started = [start_reporting(ctx, st.barrier_rounds, barrier, rounds) for _ in range(3)]
    for r in range(rounds):
        mine = barrier.wait()
        # The action ran once for this round before anyone was let through.
        assert counter.value == r + 1
        theirs = [recv_within(reader, GET) for _, reader in started]
        assert sorted([mine] + theirs) == [0, 1, 2, 3], r
    for p, _ in started:
        assert join_within(p) == 0
    assert counter.value == rounds


def commanded(ctx, barrier, count):
    """`count` children that wait on barrier each time they are sent a timeout."""
    out = []
    for _ in range(count):
        mine, theirs = ctx.Pipe()
        p = start(ctx, st.barrier_on_command, barrier, theirs)
        theirs.close()
        out.append((p, mine))
    return out


def finish_commanded(children):
    for p, conn in children:
        conn.send(None)
    for p, _ in children:
        assert join_within(p) == 0


def full_round(barrier, children):
    for _, conn in children:
        conn.send(GET)
    mine = barrier.wait(GET)
    assert sorted([mine] + [recv_within(c, GET) for _, c in children]) == \
        list(range(len(children) + 1))


@pytest.mark.parametrize("how", ["abort", "reset"])
def test_barrier_abort_and_reset_across_processes(ctx, how):
    barrier = ctx.Barrier(3)
    children = commanded(ctx, barrier, 2)
    for _, conn in children:
        conn.send(GET)
    assert eventually(lambda: barrier.n_waiting == 2)
    getattr(barrier, how)()
    assert [recv_within(c, GET) for _, c in children] == ["broken", "broken"]
    assert barrier.broken is (how == "abort")
    barrier.reset()
    full_round(barrier, children)
    full_round(barrier, children)
    finish_commanded(children)


def test_barrier_timeout_in_a_child_breaks_it_for_all(ctx):
    barrier = ctx.Barrier(3)
    children = commanded(ctx, barrier, 1)
    children[0][1].send(0.2)
    assert recv_within(children[0][1], GET) == "broken"
    assert barrier.broken is True
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(GET)
    finish_commanded(children)


# --- primitives as Process arguments --------------------------------------------------

def test_everything_as_process_arguments(pctx):
    objs = {
        "lock": pctx.Lock(), "rlock": pctx.RLock(), "sem": pctx.Semaphore(0),
        "bsem": pctx.BoundedSemaphore(1), "cond": pctx.Condition(), "event": pctx.Event(),
        "barrier": pctx.Barrier(2), "value": pctx.Value("i", 0),
        "array": pctx.Array("i", 3), "raw_value": pctx.RawValue("d", 0.0),
        "raw_array": pctx.RawArray("c", 4),
    }
    p, r = start_reporting(pctx, st.use_everything, objs)
    mine = objs["barrier"].wait(GET)
    seen, ok = recv_within(r, GET)
    assert seen == {name: type(obj).__name__ for name, obj in objs.items()}
    assert sorted([mine, ok.pop("barrier")]) == [0, 1]
    assert ok == {"lock": True, "rlock": True, "bsem": True, "rlock-twice": True}
    assert join_within(p) == 0
    assert objs["sem"].acquire(timeout=GET) and not objs["sem"].acquire(False)
    assert objs["event"].is_set()
    assert objs["value"].value == 99
    assert list(objs["array"]) == [7, 8, 9]
    assert objs["raw_value"].value == 2.5
    assert objs["raw_array"].raw == b"\0\0z\0"
    for name in ("lock", "rlock", "bsem"):
        assert objs[name].acquire(False), name


# --- contention across processes ------------------------------------------------------

def run_gated(ctx, target, args, count):
    """Start `count` children on target(*args, gate), open the gate, join them all."""
    gate = ctx.Event()
    procs = [start(ctx, target, *args, gate) for _ in range(count)]
    gate.set()
    for p in procs:
        assert join_within(p, 60) == 0


def test_value_get_lock_contention(ctx):
    value = ctx.Value("i", 0)
    run_gated(ctx, st.count_under_value_lock, (value, 2000), 4)
    assert value.value == 4 * 2000


@pytest.mark.parametrize("kind", ["Lock", "RLock"])
def test_lock_guarding_an_array_contention(ctx, kind):
    array = ctx.Array("i", 8, lock=False)
    run_gated(ctx, st.count_under_lock, (array, getattr(ctx, kind)(), 400), 4)
    assert list(array) == [4 * 400] * 8


@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
def test_semaphore_admits_at_most_its_value(ctx, kind):
    slots, children, passes = 2, 5, 30
    sem = getattr(ctx, kind)(slots)
    state = ctx.Array("i", 3, lock=False)  # holders now, most holders seen, passes
    run_gated(ctx, st.semaphore_holder, (sem, ctx.Lock(), state, passes), children)
    now, peak, done = list(state)
    assert done == children * passes
    assert now == 0
    assert peak == slots, "most holders at once: %d, semaphore value %d" % (peak, slots)
    assert sem.get_value() == slots


# === gompx-only: death, killed waiters, resources =====================================
