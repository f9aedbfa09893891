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

import builtins
import gc
import math
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

__all__ = ["ext", "translate", "call", "bytes_address", "BYTES_DATA_OFFSET", "STILL_RUNNING",
           "wait_sliced", "wait_interruptible",
           "timeout_ms", "on_main_thread"]

# gopy names every exported function <package>_<Name>; these mirror the facade's constants.
STILL_RUNNING = -(1 << 31)  # gompxcore.StillRunning

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


def _exception_class(name):
    if name in ("BufferTooShort", "AuthenticationError"):
        from . import context
        return getattr(context, name)
    if name == "BrokenBarrierError":
        return threading.BrokenBarrierError
    cls = getattr(builtins, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else RuntimeError


def translate(exc):
    """Turn the core's RuntimeError("gompx:<Exception>:<errno>:<text>") into that exception."""
    message = str(exc)
    if not message.startswith("gompx:") or message.startswith("gompx: "):
        return exc  # not the facade's form (a core message starts "gompx: ")
    _, name, errno, text = message.split(":", 3)
    cls = _exception_class(name)
    if issubclass(cls, OSError) and errno != "0":
        return cls(int(errno), text)
    return cls(text)


def call(fn, *args):
    """Call a native function, raising the Python exception its error names."""
    try:
        return fn(*args)
    except RuntimeError as e:
        raise translate(e) from None


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
