"""Process-shared synchronization: Lock, RLock, Semaphore, BoundedSemaphore, Condition,
Event and Barrier, with the semantics and exceptions of ``multiprocessing.synchronize``.

Each object is a 64-byte block of a Go arena (see ``gompx.heap``) that every process using
it maps.  Locks and semaphores take and give back a free unit in C (``gompx._gompxsync``,
one compare-and-swap, as fast as the stdlib's); everything that waits runs in the Go core
(``gompx/internal/psync``): spinning, futex sleeps, and taking a lock over from a dead owner.

A process that dies holding a Lock or an RLock (or the lock of a Condition) does not block
the others.  The next ``acquire()`` takes the lock over, returns True as usual, and issues
a ``LockOwnerDiedWarning`` that names the dead process: what the lock guarded may be
half-updated.  Turn the warning into an error (``warnings.simplefilter("error",
LockOwnerDiedWarning)``) to make such an acquire raise instead; the lock is then left
free, not held.  A waiter that dies inside ``Condition.wait`` cannot block ``notify``
(it may absorb one notification).
"""

import errno
import functools
import os
import sys
import threading
import time

from . import _gompxsync, context, heap, process, reduction, util

__all__ = ["Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier",
           "LockOwnerDiedWarning"]

RECURSIVE_MUTEX = _gompxsync.RECURSIVE_MUTEX
SEMAPHORE = _gompxsync.SEMAPHORE
LOCK = _gompxsync.LOCK
SEM_VALUE_MAX = 0x7fffffff

# The core's kinds (pyext/gompxcore/sync.go).
_CORE_LOCK, _CORE_SEMAPHORE, _CORE_EVENT, _CORE_CONDITION, _CORE_BARRIER = range(5)
_BARRIER_LAST = 1 << 32
_SLICE_MS = 50  # longest wait in Go between two looks at Python signals


class LockOwnerDiedWarning(RuntimeWarning):
    """An acquire() took over a lock whose owner process died holding it."""


def _native():
    from . import _native
    return _native


def _call(name, *args):
    n = _native()
    return n.call(getattr(n.ext, "gompxcore_" + name), *args)


_identity = None


def _process_identity():
    """(pid, start time in clock ticks): how the Go core tells a dead owner from a new
    process that reuses its pid.  Field 22 of /proc/<pid>/stat, as the core reads it."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        _identity = (pid, int(stat[stat.rindex(b")") + 2:].split()[19]))
    return _identity


def _close(handle):
    _call("SyncClose", handle)


class _Shared:
    """A synchronization object's block: made here, or received from a parent."""

    _core_kind = None

    def _open(self, handle):
        self._handle = handle
        self._fd = _call("SyncFd", handle)
        self._offset = _call("SyncOffset", handle)
        util.Finalize(self, _close, (handle,))

    def _reduce_block(self):
        context.assert_spawning(self)
        _call("SyncRetain", self._handle)  # the child takes this reference over
        return reduction.DupFd(self._fd), self._offset

    def _rebuild_block(self, dupfd, offset):
        self._open(_call("SyncOpen", self._core_kind, dupfd.detach(), offset))


#
# Lock, RLock, Semaphore, BoundedSemaphore
#

class SemLock(_Shared, _gompxsync.SemLock):
    """The base of the locks and semaphores, as in CPython. acquire, release,
    __enter__ and __exit__ are the C type's own methods."""

    def __init__(self, kind, value, maxvalue, *, ctx):
        core_kind = _CORE_SEMAPHORE if kind == SEMAPHORE else _CORE_LOCK
        bound = min(maxvalue, SEM_VALUE_MAX)
        if kind == SEMAPHORE and not 0 <= value <= SEM_VALUE_MAX:
            # As CPython, where sem_open refuses the value.
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        self._core_kind = core_kind
        # The core's bound 0 means none; the C object enforces the bound on release.
        core_bound = 0 if bound in (0, SEM_VALUE_MAX) else bound
        self._open(_call("SyncNew", core_kind, value, core_bound))
        self._bind(kind, bound)
        tracker = sys.modules.get("gompx.resource_tracker")
        if tracker is not None:  # not imported: no tracker can be running here
            tracker.check_running()

    def _bind(self, kind, bound):
        pid, start = _process_identity()
        block = heap.arena_view(self._fd, self._offset, 64)
        slow = functools.partial(_call, "SyncAcquire", self._handle)
        _gompxsync.SemLock.__init__(self, block, kind, bound, pid, start, slow,
                                    LockOwnerDiedWarning, self._handle)

    @property
    def _semlock(self):
        # CPython keeps the C object in _semlock; Condition and reprs look there.
        return self

    def __getstate__(self):
        dupfd, offset = self._reduce_block()
        return (dupfd, offset, self._core_kind, self.kind, self.maxvalue)

    def __setstate__(self, state):
        dupfd, offset, self._core_kind, kind, bound = state
        self._rebuild_block(dupfd, offset)
        self._bind(kind, bound)


class Semaphore(SemLock):
    """A counting semaphore shared by processes."""

    def __init__(self, value=1, *, ctx):
        SemLock.__init__(self, SEMAPHORE, value, SEM_VALUE_MAX, ctx=ctx)

    def get_value(self):
        return self._semlock._get_value()

    def __repr__(self):
        try:
            value = self._semlock._get_value()
        except Exception:
            value = "unknown"
        return "<%s(value=%s)>" % (self.__class__.__name__, value)


class BoundedSemaphore(Semaphore):
    """A semaphore that refuses (ValueError) to be released past its initial value."""

    def __init__(self, value=1, *, ctx):
        SemLock.__init__(self, SEMAPHORE, value, value, ctx=ctx)

    def __repr__(self):
        try:
            value = self._semlock._get_value()
        except Exception:
            value = "unknown"
        return "<%s(value=%s, maxvalue=%s)>" % (self.__class__.__name__, value,
                                                 self._semlock.maxvalue)


def _holder_name(semlock, free):
    """Who holds a lock, in the words of CPython's reprs."""
    try:
        if semlock._is_mine():
            name = process.current_process().name
            if threading.current_thread().name != "MainThread":
                name += "|" + threading.current_thread().name
            return name
        if free():
            return "None"
        if semlock._count() > 0:
            return "SomeOtherThread"
        return "SomeOtherProcess"
    except Exception:
        return "unknown"


class Lock(SemLock):
    """A non-recursive lock: any thread or process may release it."""

    def __init__(self, *, ctx):
        SemLock.__init__(self, LOCK, 1, 1, ctx=ctx)

    def __repr__(self):
        name = _holder_name(self._semlock, lambda: self._semlock._get_value() == 1)
        return "<%s(owner=%s)>" % (self.__class__.__name__, name)


class RLock(SemLock):
    """A recursive lock: the owning thread may acquire it again, and must release it
    as many times; releasing an RLock one does not own raises AssertionError."""

    def __init__(self, *, ctx):
        SemLock.__init__(self, RECURSIVE_MUTEX, 1, 1, ctx=ctx)

    def __repr__(self):
        count = self._semlock._count()
        name = _holder_name(self._semlock, lambda: self._semlock._get_value() == 1)
        if name == "None":
            count = 0
        elif name in ("SomeOtherThread", "SomeOtherProcess"):
            count = "nonzero"
        return "<%s(%s, %s)>" % (self.__class__.__name__, name, count)


#
# Condition
#

class _ConditionCounter:
    """One of a Condition's counters: get_value() reads it (minus another, for the
    notifications handed out but not yet taken)."""

    def __init__(self, handle, which, minus=None):
        self._handle, self._which, self._minus = handle, which, minus

    def get_value(self):
        value = _call("CondCount", self._handle, self._which)
        if self._minus is not None:
            value = (value - _call("CondCount", self._handle, self._minus)) % (1 << 32)
        return value


class Condition(_Shared):
    """A condition variable over a Lock or RLock (a new RLock by default)."""

    _core_kind = _CORE_CONDITION

    def __init__(self, lock=None, *, ctx):
        self._lock = lock or ctx.RLock()
        self._open(_call("SyncNew", _CORE_CONDITION, 0, 0))
        self._make_methods()

    def _make_methods(self):
        self.acquire = self._lock.acquire
        self.release = self._lock.release

    def __getstate__(self):
        dupfd, offset = self._reduce_block()
        return self._lock, dupfd, offset

    def __setstate__(self, state):
        self._lock, dupfd, offset = state
        self._rebuild_block(dupfd, offset)
        self._make_methods()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *args):
        return self._lock.__exit__(*args)

    def __repr__(self):
        try:
            waiting = _call("CondWaiters", self._handle)
        except Exception:
            waiting = "unknown"
        return "<%s(%s, %s)>" % (self.__class__.__name__, self._lock, waiting)

    # CPython keeps its Condition's bookkeeping in three semaphores that its test suite
    # reads; gompx's are the Go core's counters (gompx.CondCounts), read-only.
    @property
    def _sleeping_count(self):
        return _ConditionCounter(self._handle, 0)

    @property
    def _wait_semaphore(self):
        return _ConditionCounter(self._handle, 1, minus=2)

    @property
    def _woken_count(self):
        return _ConditionCounter(self._handle, 2)

    def _check_owned(self, message):
        if not self._lock._semlock._is_mine():
            raise AssertionError(message)

    def wait(self, timeout=None):
        self._check_owned("must acquire() condition before using wait()")
        handle = self._handle
        ticket = _call("CondEnter", handle)
        # Release the lock fully, however deep an RLock is held, and restore it after.
        count = self._lock._semlock._count()
        for _ in range(count):
            self._lock.release()
        woken = False
        try:
            n = _native()
            woken = n.wait_interruptible(
                lambda ms: True if _call("CondSleep", handle, ticket, ms) else None,
                timeout) is True
        finally:
            for _ in range(count):
                self._lock.acquire()
            woken = _call("CondLeave", handle, ticket, woken)
        return woken

    def notify(self, n=1):
        self._check_owned("lock is not owned")
        if n > 0:
            _call("CondNotify", self._handle, n)

    def notify_all(self):
        self._check_owned("lock is not owned")
        _call("CondNotify", self._handle, -1)

    def wait_for(self, predicate, timeout=None):
        return util.wait_for(self.wait, predicate, timeout)


#
# Event
#

class Event(_Shared):
    """A flag processes can set, clear and wait for."""

    _core_kind = _CORE_EVENT

    def __init__(self, *, ctx):
        self._open(_call("SyncNew", _CORE_EVENT, 0, 0))

    def __getstate__(self):
        return self._reduce_block()

    def __setstate__(self, state):
        self._rebuild_block(*state)

    def is_set(self):
        return _call("EventIsSet", self._handle)

    def set(self):
        _call("EventSet", self._handle)

    def clear(self):
        _call("EventClear", self._handle)

    def wait(self, timeout=None):
        handle = self._handle
        return _native().wait_interruptible(
            lambda ms: True if _call("EventWait", handle, ms) else None, timeout) is True

    def __repr__(self):
        set_status = "set" if self.is_set() else "unset"
        return "<%s at %#x %s>" % (type(self).__qualname__, id(self), set_status)


#
# Barrier
#

class Barrier(_Shared):
    """Makes *parties* parties, in any processes, wait for each other; the last to
    arrive runs *action* (in its own process) before all are released."""

    _core_kind = _CORE_BARRIER

    def __init__(self, parties, action=None, timeout=None, *, ctx):
        if parties < 1:
            raise ValueError("parties must be > 0")
        self._action = action
        self._timeout = timeout
        self._open(_call("SyncNew", _CORE_BARRIER, parties, 0))

    def __getstate__(self):
        dupfd, offset = self._reduce_block()
        return dupfd, offset, self._action, self._timeout

    def __setstate__(self, state):
        dupfd, offset, self._action, self._timeout = state
        self._rebuild_block(dupfd, offset)

    def wait(self, timeout=None):
        if timeout is None:
            timeout = self._timeout
        n = _native()
        handle = self._handle
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0)
        index = _call("BarrierArrive", handle, n.timeout_ms(timeout))
        if index >= _BARRIER_LAST:
            # This party arrived last: it runs the action, then releases the round.
            ok = False
            try:
                if self._action:
                    self._action()
                ok = True
            finally:
                _call("BarrierRelease", handle, ok)
            return index - _BARRIER_LAST
        # Wait for the round in slices, so that signal handlers (Ctrl-C) run between them.
        left = False
        try:
            while True:
                step, final = _SLICE_MS, False
                if deadline is not None:
                    remaining = max(0, int((deadline - time.monotonic()) * 1000))
                    step, final = min(remaining, _SLICE_MS), remaining <= _SLICE_MS
                try:
                    left = _call("BarrierAwait", handle, step, final)
                except threading.BrokenBarrierError:
                    left = True
                    raise
                if left:
                    return index
        finally:
            if not left:
                # Interrupted: leave the round without breaking it, as threading does.
                _call("BarrierAbandon", handle)

    def reset(self):
        _call("BarrierReset", self._handle)

    def abort(self):
        _call("BarrierAbort", self._handle)

    @property
    def parties(self):
        return _call("BarrierState", self._handle) >> 32

    @property
    def n_waiting(self):
        return (_call("BarrierState", self._handle) & 0xffffffff) >> 1

    @property
    def broken(self):
        return bool(_call("BarrierState", self._handle) & 1)

    def __repr__(self):
        return "<%s at %#x waiters=%s/%s>" % (type(self).__qualname__, id(self),
                                              self.n_waiting, self.parties)
