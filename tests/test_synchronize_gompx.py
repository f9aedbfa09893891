"""gompx-only robustness of the synchronization primitives: what stdlib does not promise.

A process that dies holding a Lock, an RLock or a Condition's lock does not block the
others (the next acquire takes it over and warns, LockOwnerDiedWarning); a waiter killed
inside Condition.wait or Barrier.wait wedges nothing; dropping primitives and SIGKILLing
every process leave no descriptors, /dev/shm entries or processes behind. The stdlib
API itself is tested, on both implementations, in test_synchronize.py.
"""

import gc
import os
import signal
import threading
import warnings

import pytest

import sync_targets as st
from mp_targets import (Background, eventually, join_within, leaked_shm, open_fds, recv_within,
                        shm_entries, sigkill_scenario)
from sync_targets import held, timed
from test_synchronize import (GET, commanded, finish_commanded, full_round,
                              process_waiters, reports, start, start_reporting,
                              synchronize)


# --- owner death ----------------------------------------------------------------------

def owner_died_warning(mp):
    return synchronize(mp).LockOwnerDiedWarning


def died_warnings(record, mp):
    return [w for w in record if issubclass(w.category, owner_died_warning(mp))]


@pytest.mark.gompx_only
def test_lock_owner_died_warning_is_a_runtime_warning(mp):
    assert issubclass(owner_died_warning(mp), RuntimeWarning)


DEPTH = {"Lock": 1, "RLock": 2, "Condition": 2}  # how often the victim acquires


def kill_holder(ctx, lock, kind, how):
    """A child acquires `lock` and dies holding it (os._exit or SIGKILL); return its
    exit code once it is gone."""
    p, r = start_reporting(ctx, st.die_holding, lock, how, DEPTH[kind])
    assert recv_within(r, GET) == p.pid
    if how == "sigkill":
        os.kill(p.pid, signal.SIGKILL)
    return join_within(p, GET)


@pytest.mark.gompx_only
@pytest.mark.parametrize("how", ["exit", "sigkill"])
@pytest.mark.parametrize("kind", ["Lock", "RLock", "Condition"])
def test_lock_of_a_dead_owner_is_taken_over_with_a_warning(mp, ctx, kind, how):
    lock = getattr(ctx, kind)()
    code = kill_holder(ctx, lock, kind, how)
    assert code == (0 if how == "exit" else -signal.SIGKILL)
    with pytest.warns(owner_died_warning(mp)):
        got, elapsed = timed(lock.acquire, timeout=10)
    assert got is True
    assert elapsed < 5.0, "took %.1f s to take over a dead owner's lock" % elapsed
    # Ours now, once (whatever depth the dead owner had), and it works as before.
    assert Background(lock.acquire, True, 0.1).finish(GET) is False
    if kind == "Condition":
        assert lock.wait(0.01) is False
    lock.release()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert lock.acquire(timeout=GET) is True
        lock.release()
        p, r = start_reporting(ctx, st.try_acquire_and_report, lock, GET)
        assert recv_within(r, GET) is True
        assert join_within(p) == 0
        assert lock.acquire(timeout=GET) is True
        lock.release()
    assert died_warnings(record, mp) == []


@pytest.mark.gompx_only
@pytest.mark.parametrize("kind", ["Lock", "RLock"])
def test_a_waiter_takes_over_when_the_owner_dies(mp, ctx, kind):
    lock = getattr(ctx, kind)()
    p, r = start_reporting(ctx, st.die_holding, lock, "sigkill", 1)
    assert recv_within(r, GET) == p.pid
    killer = threading.Timer(0.3, os.kill, (p.pid, signal.SIGKILL))
    killer.start()
    try:
        with pytest.warns(owner_died_warning(mp)):
            got, elapsed = timed(lock.acquire, timeout=10)
    finally:
        killer.join(GET)
    assert got is True
    assert 0.25 <= elapsed < 5.0, elapsed
    assert join_within(p) == -signal.SIGKILL
    lock.release()
    assert lock.acquire(False) is True
    lock.release()


@pytest.mark.gompx_only
@pytest.mark.parametrize("call", ["notify", "notify_all"])
def test_killed_condition_waiter_does_not_block_notify(mp, ctx, mpconn, call):
    cond, sleeping = ctx.Condition(), ctx.Semaphore(0)
    victim = start(ctx, st.wait_forever_in_condition, cond, sleeping)
    assert sleeping.acquire(timeout=GET)
    with held(cond):
        pass  # the victim is inside wait()
    os.kill(victim.pid, signal.SIGKILL)
    assert join_within(victim) == -signal.SIGKILL
    procs, readers = process_waiters(ctx, cond, 1)

    def notify():
        with held(cond):
            getattr(cond, call)()

    Background(notify).finish(5)
    # The notification reached the live waiter, not the dead one.
    got, _ = reports(mpconn, readers, 1)
    assert got == [True]
    assert join_within(procs[0]) == 0
    Background(notify).finish(5)
    with held(cond):
        assert cond.wait(0.05) is False


@pytest.mark.gompx_only
def test_killed_barrier_waiter_does_not_hang_the_others(mp, ctx):
    barrier = ctx.Barrier(3)
    victim = start(ctx, st.wait_forever_in_barrier, barrier)
    assert eventually(lambda: barrier.n_waiting == 1)
    os.kill(victim.pid, signal.SIGKILL)
    assert join_within(victim) == -signal.SIGKILL
    children = commanded(ctx, barrier, 1)
    # From here on the parent waits in a thread: a barrier wedged by the dead waiter
    # (stdlib's is) must fail the case, not hang it.
    children[0][1].send(2.0)
    mine = Background(st.barrier_result, barrier, 2.0).finish(7)
    theirs = recv_within(children[0][1], 7)
    # Either the dead waiter counted as arrived (both passed) or the barrier broke.
    assert [mine, theirs] == ["broken", "broken"] or sorted([mine, theirs]) in (
        [0, 1], [0, 2], [1, 2]), (mine, theirs)
    # After a reset the barrier serves the live processes again.
    Background(barrier.reset).finish(5)
    children += commanded(ctx, barrier, 1)
    Background(full_round, barrier, children).finish(GET + 5)
    finish_commanded(children)


# --- resources ------------------------------------------------------------------------

def churn(mp, count):
    """Create, use and drop `count` Locks and Values, and a tenth as many of the rest."""
    for i in range(count):
        lock = mp.Lock()
        assert lock.acquire(timeout=1)
        lock.release()
        value = mp.Value("i", i)
        value.value += 1
        assert value.value == i + 1
        if i % 10 == 0:
            others = [mp.RLock(), mp.Semaphore(1), mp.BoundedSemaphore(2), mp.Condition(),
                      mp.Event(), mp.Barrier(1), mp.Array("d", 100), mp.RawValue("q"),
                      mp.RawArray("b", 5000)]
            with held(others[3]):
                others[3].notify()
            others[4].set()
            assert others[5].wait(1) == 0
        del lock, value
    gc.collect()


@pytest.mark.gompx_only
def test_dropped_primitives_release_fds_and_shm(mp):
    churn(mp, 20)  # warm: whatever the core keeps open once is open now
    fds, shm = open_fds(), shm_entries()
    churn(mp, 1000)
    assert open_fds() <= fds + 3, "fds: %d before, %d after" % (fds, open_fds())
    assert leaked_shm(shm, ours=(os.getpid(),)) == set()


SCENARIO = r'''
import sys, time
import sync_targets as st
mp = __import__(sys.argv[1])
ctx = mp.get_context(sys.argv[2])

if __name__ == "__main__":
    objs = {"lock": ctx.Lock(), "rlock": ctx.RLock(), "sem": ctx.Semaphore(1),
            "cond": ctx.Condition(), "event": ctx.Event(), "barrier": ctx.Barrier(3),
            "value": ctx.Value("i", 0), "array": ctx.Array("d", 1000),
            "raw": ctx.RawArray("b", 1 << 20)}
    objs["lock"].acquire()
    pids = []
    for role in ("holder", "blocked", "cond", "barrier", "event"):
        r, w = ctx.Pipe(duplex=False)
        ctx.Process(target=st.victim, args=(role, objs, w)).start()
        w.close()
        if not r.poll(60):
            sys.exit("the %s child did not start" % role)
        pids.append(r.recv())
    print(" ".join(str(pid) for pid in pids), flush=True)
    time.sleep(60)
'''


@pytest.mark.gompx_only
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_sigkill_of_every_process_leaves_nothing(mp, modname, method):
    sigkill_scenario(SCENARIO, modname, method, children=5, kill_children=True)
