"""The Python half of ``gompx worker``: runs one chunk of a cluster pool's tasks.

``gompx worker`` (cmd/gompx, Go) pulls a chunk from the cluster, checks its HMAC, and
calls ``run(function_name, body)`` in one of its CPython worker processes
(gompx/pyworker).  *body* is the pickle the caller made of ``(function, calls, mode)``;
the function travels by reference, so unpickling imports its module by name, as a
spawn child does.  If the pool has an initializer (the body's fourth item: ``(pool id,
initializer, initargs)``), it runs once in each process before the pool's first chunk
there.  ``run`` returns the pickle of the chunk's outcome: ``(True,
[values])``, or ``(False, exception)`` with the worker's traceback attached
(``ExceptionWithTraceback``, rebuilt by the caller with ``RemoteTraceback``).

Modes: ``"map"`` calls ``function(x)`` for each x, ``"star"`` ``function(*args)``,
``"apply"`` ``function(*args, **kwds)`` for each ``(args, kwds)``; ``"call"`` is
``"apply"`` for the executor, whose result that cannot be pickled fails with the
pickling error itself (concurrent.futures'), not the pool's ``MaybeEncodingError``.  As
in stdlib, a chunk stops at its first exception.
"""

import os
import pickle
import socket

__all__ = ["run"]


def _where():
    return "%s/%d" % (socket.gethostname(), os.getpid())


def _load(fn, body):
    """The chunk, or an exception that names what could not be imported."""
    try:
        return pickle.loads(body)
    except ModuleNotFoundError as e:
        err = ModuleNotFoundError(
            "gompx worker %s cannot import module %r for %s: the code a cluster pool runs "
            "must be importable on every worker machine (as with spawn): %s"
            % (_where(), e.name, fn, e), name=e.name)
        raise err from None
    except AttributeError as e:
        raise AttributeError("gompx worker %s cannot find %s: %s" % (_where(), fn, e)) from None


def _call(func, calls, mode):
    if mode == "map":
        return [func(x) for x in calls]
    if mode == "star":
        return [func(*args) for args in calls]
    if mode in ("apply", "call"):
        return [func(*args, **kwds) for args, kwds in calls]
    raise ValueError("unknown chunk mode %r" % (mode,))


def _failure(exc):
    from .pool import ExceptionWithTraceback, MaybeEncodingError
    wrapped = ExceptionWithTraceback(exc, exc.__traceback__)
    try:
        return pickle.dumps((False, wrapped), 5)
    except Exception as e:
        return pickle.dumps((False, MaybeEncodingError(e, exc)), 5)


# Pools whose initializer ran in this process (a worker process serves every pool).
_initialized = set()


def _initialize(init):
    """Run the pool's initializer here once, before its first chunk; an initializer
    that raises fails the chunk (and runs again before the pool's next one)."""
    if init is None:
        return
    pool, initializer, initargs = init
    if pool not in _initialized:
        initializer(*initargs)
        _initialized.add(pool)


def run(fn, body):
    """Run one chunk; return the pickle of its outcome."""
    try:
        loaded = _load(fn, body)
        func, calls, mode = loaded[:3]
        _initialize(loaded[3] if len(loaded) > 3 else None)
        values = _call(func, calls, mode)
    except BaseException as exc:  # SystemExit too: the task's outcome, not the worker's
        return _failure(exc)
    if mode == "call":
        try:
            return pickle.dumps((True, values), 5)
        except BaseException as exc:  # as concurrent.futures' _sendback_result
            return _failure(exc)
    try:
        return pickle.dumps((True, values), 5)
    except Exception as e:
        from .pool import MaybeEncodingError
        return pickle.dumps((False, MaybeEncodingError(e, values)), 5)
