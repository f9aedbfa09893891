"""The one module that loads gompx's Go core.

The extension ``gompx._gompxnative`` is what gopy builds from the Go package
``pyext/gompxcore``.  gopy also generates Python wrapper modules around it; gompx does not
use them: they install a ``gc.callbacks`` hook that forces a Go collection after every
Python collection (7x slower allocation-heavy code, hangs after ``fork``), and they add a
Python call per native call.  This module imports the raw extension instead, removes any
such hook defensively, and turns the core's errors into the exceptions CPython raises.

Other modules import this one lazily, so that ``import gompx`` and a forkserver process
never load the Go runtime.
"""

import functools
import gc
import math
import os
import sys
import threading
import time


def _refuse_in_fork_server():
    server = sys.modules.get("gompx.forkserver")
    if server is not None and server.in_server:
        raise ImportError(
            "gompx's Go runtime cannot be loaded in the fork server: its children are "
            "forked from it and the Go runtime does not survive fork(). Keep gompx calls "
            "out of module level in modules the server preloads (e.g. under "
            "`if __name__ == '__main__':`).")


_refuse_in_fork_server()

from . import _gompxnative as ext  # noqa: E402 (only after the fork-server check above)

__all__ = ["ext", "translate", "call", "attempt", "bytes_address", "BYTES_DATA_OFFSET",
           "constant", "STILL_RUNNING", "wait_sliced", "wait_interruptible", "timeout_ms",
           "on_main_thread"]

# gopy names every exported function <package>_<Name>.


@functools.lru_cache(maxsize=None)
def constant(name):
    """The value of the core's constant *name* (gompxcore.Constant): every number Python
    shares with Go is read from the core, never copied."""
    return ext.gompxcore_Constant(name)


STILL_RUNNING = constant("StillRunning")
# Results of the queue calls (gompxcore.Queue*).
QUEUE_TIMED_OUT = constant("QueueTimedOut")
QUEUE_TORN = constant("QueueTorn")
QUEUE_HELD_BASE = constant("QueueHeldBase")
QUEUE_SPLICED = constant("QueueSpliced")
QUEUE_UNSPLITTABLE = constant("QueueUnsplittable")
# Results and modes of JobTake.
JOB_TIMED_OUT = constant("JobTimedOut")
JOB_EXHAUSTED = constant("JobExhausted")
JOB_NEED_ROOM = constant("JobNeedRoom")
JOB_SPLICED = constant("JobSpliced")
TAKE_ORDERED = constant("TakeOrdered")
TAKE_UNORDERED = constant("TakeUnordered")
TAKE_OUTCOME = constant("TakeOutcome")

# Where a bytes object's data starts: CPython's PyBytesObject ends with ob_sval[1].
BYTES_DATA_OFFSET = bytes.__basicsize__ - 1

# Waits the core cannot end on a signal (a channel or condition variable in Go) are cut
# in slices this long on the main thread, so that Ctrl-C is handled between them.
_SLICE_MS = 50


def _drop_gopy_gc_hooks():
    gc.callbacks[:] = [cb for cb in gc.callbacks
                       if getattr(cb, "__name__", "") != "_gopy_gc_cb"]


_drop_gopy_gc_hooks()


def bytes_address(b):
    """Address of the data of the bytes object *b* (valid while *b* is alive)."""
    return id(b) + BYTES_DATA_OFFSET


_exceptions = None


def _exception_class(kind):
    """The exception class of an error kind (gompxcore's ErrKind constants)."""
    global _exceptions
    if _exceptions is None:
        from . import context
        _exceptions = {constant("ErrKind" + cls.__name__): cls for cls in (
            OSError, EOFError, ValueError, RuntimeError, SystemError, TypeError,
            MemoryError, TimeoutError, context.AuthenticationError,
            threading.BrokenBarrierError)}
    return _exceptions.get(kind, RuntimeError)


def translate(exc):
    """The exception the core's RuntimeError *exc* stands for.

    The core hands the error's kind and errno over as values (gompxcore.TakeError, kept
    for the thread whose call failed); the message is the RuntimeError's.  A
    RuntimeError the core did not classify is returned as it is.
    """
    code = ext.gompxcore_TakeError()
    if not code:
        return exc
    cls, errno = _exception_class(code >> 32), code & 0xffffffff
    if errno and issubclass(cls, OSError):
        return cls(errno, str(exc))
    return cls(str(exc))


def call(fn, *args):
    """Call a native function, raising the Python exception its error names."""
    try:
        return fn(*args)
    except RuntimeError as e:
        raise translate(e) from None


_FALSY = object()


def attempt(fn, *args, pending=_FALSY):
    """The attempt(ms) of wait_interruptible and wait_sliced for the native call
    fn(*args, ms): its errors raised as the exceptions they name, and its result None
    (not yet) when it equals *pending* or, without *pending*, when it is false and ms was
    not 0 (a wait with no time left returns what it got)."""
    def attempt_ms(ms):
        try:
            r = fn(*args, ms)
        except RuntimeError as e:
            raise translate(e) from None
        if pending is _FALSY:
            return r if r or ms == 0 else None
        return None if r == pending else r
    return attempt_ms


def on_main_thread():
    return threading.current_thread() is threading.main_thread()


def timeout_ms(timeout):
    """A Python timeout in seconds (None: forever) as the core's milliseconds."""
    if timeout is None:
        return -1
    if timeout <= 0:
        return 0
    return max(1, int(timeout * 1000 + 0.5))


def wait_interruptible(attempt, timeout):
    """Call attempt(ms) until it returns something other than None, or *timeout* passes.

    attempt blocks in Go for up to ms milliseconds (-1: no limit) and returns None when
    that ran out or when a signal ended the wait early: on the main thread the core's
    wait is a system call that a signal interrupts (gompx.EnableInterrupts).  Back here,
    the eval loop runs the signal handlers (Ctrl-C raises KeyboardInterrupt, as in
    stdlib); if none raised, the wait goes on for the time that is left.  No slices: a
    process blocked here wakes only when something happens.  Returns attempt's result,
    or None when the time ran out.
    """
    remaining = timeout_ms(timeout)
    if remaining < 0:
        while True:
            result = attempt(-1)
            if result is not None:
                return result
    if remaining == 0:
        return attempt(0)
    deadline = time.monotonic() + remaining / 1000
    while True:
        result = attempt(remaining)
        if result is not None:
            return result
        remaining = math.ceil((deadline - time.monotonic()) * 1000)
        if remaining <= 0:
            return attempt(0)


def wait_sliced(attempt, timeout):
    """Call attempt(ms) until it returns something other than None, or *timeout* passes.

    attempt blocks in Go for at most ms milliseconds (-1: no limit), in a wait a signal
    does not end (use wait_interruptible for those that it does).  On the main thread
    each call is at most one slice long, so that a signal handler (Ctrl-C) runs promptly
    between them; other threads block for the whole timeout in one call.  Returns
    attempt's result, or None when the time ran out.
    """
    remaining = timeout_ms(timeout)
    if remaining == 0 or not on_main_thread():
        return attempt(remaining)
    deadline = None if remaining < 0 else time.monotonic() + remaining / 1000
    while True:
        step = _SLICE_MS if remaining < 0 else min(remaining, _SLICE_MS)
        result = attempt(step)
        if result is not None:
            return result
        if deadline is not None:
            remaining = int((deadline - time.monotonic()) * 1000)
            if remaining <= 0:
                return attempt(0)


def _arm_c_failpoints():
    """Hand the C fast paths the failpoints GOMPX_FAILPOINTS arms for them, as the Go core
    parsed the variable (one parser; it ends the process on a bad spec)."""
    import json
    actions = json.loads(call(ext.gompxcore_FailpointActions))
    if not actions:
        return
    from . import _gompxsync
    if not hasattr(_gompxsync, "_fp_arm"):
        raise RuntimeError("gompx: GOMPX_FAILPOINTS arms %s, but gompx._gompxsync was built "
                           "without failpoints" % ", ".join(sorted(actions)))
    for name, action in actions.items():
        _gompxsync._fp_arm(name, action)


if os.environ.get("GOMPX_FAILPOINTS"):
    _arm_c_failpoints()
