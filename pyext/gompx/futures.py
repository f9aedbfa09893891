"""``ProcessPoolExecutor``: the ``concurrent.futures`` API on gompx's process pool.

Laid out like CPython's ``concurrent/futures/process.py`` for the names users see
(``ProcessPoolExecutor``, ``BrokenProcessPool``); the futures are ``concurrent.futures``
futures, so ``as_completed`` and ``wait`` work on them.  Dispatch and results run in the
Go core as for ``gompx.Pool``.  As ``concurrent.futures`` specifies, a worker that exits
abruptly breaks the executor: every pending future fails with ``BrokenProcessPool``
(within about a second), and ``submit`` raises it from then on.

Differences from stdlib: a future counts as running from the moment its task is sent to
a worker (a worker may hold a few tasks ahead), so ``cancel()`` fails from then on; a
``shutdown(wait=False)`` executor still finishes its work, but interpreter exit
terminates it.
"""

import functools
import itertools
import os
import threading
from concurrent.futures import _base

from . import _alias
from . import context as _context
from . import pool as _pool

if _alias.installed():
    # This module *is* concurrent.futures.process under `python -m gompx`.
    class BrokenProcessPool(_base.BrokenExecutor):
        """Raised when a process in a ProcessPoolExecutor terminated abruptly
        while a future was in the running state."""
else:
    from concurrent.futures.process import BrokenProcessPool

__all__ = ["ProcessPoolExecutor", "BrokenProcessPool"]

_global_shutdown = False


def _check_system_limits():
    """CPython checks that the system has POSIX semaphores to spare; gompx's executor
    uses none (its queues and locks are memfd blocks), so it runs wherever gompx runs."""


def _process_chunk(fn, chunk):
    """Run *fn* on each argument tuple of a chunk (``ProcessPoolExecutor.map``)."""
    return [fn(*args) for args in chunk]


def _get_chunks(*iterables, chunksize):
    it = zip(*iterables)
    while True:
        chunk = tuple(itertools.islice(it, chunksize))
        if not chunk:
            return
        yield chunk


def _chain_from_iterable_of_lists(iterable):
    for element in iterable:
        element.reverse()
        while element:
            yield element.pop()


class _ExecutorPool(_pool.Pool):
    """The Pool under the executor: a worker's death breaks it."""

    _break_on_death = True

    def __del__(self):
        pass  # an executor dropped without shutdown() is no ResourceWarning in stdlib


class _Future(_base.Future):
    """A future whose cancel() withdraws its task from the pool if no worker has it."""

    def __init__(self, withdraw):
        super().__init__()
        self._withdraw = withdraw

    def cancel(self):
        with self._condition:
            if self._state == _base.PENDING and not self._withdraw():
                # A worker has the task: it is running as far as anyone can stop it.
                self._state = _base.RUNNING
            if not super().cancel():
                return False
            if self._state == _base.CANCELLED:
                self.set_running_or_notify_cancel()  # nobody else will: the task is gone
            return True


class ProcessPoolExecutor(_base.Executor):
    """An executor that runs calls in a pool of worker processes."""

    def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=(),
                 *, max_tasks_per_child=None):
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        elif max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if mp_context is None:
            mp_context = _context._default_context.get_context()
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            elif max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
        self._max_workers = max_workers
        self._mp_context = mp_context
        self._shutdown_lock = threading.Lock()
        self._shutdown_thread = False
        self._broken = False
        self._pending = {}  # job handle -> future, until it has its outcome
        self._pool = _ExecutorPool(max_workers, initializer, initargs, max_tasks_per_child,
                                   context=mp_context)
        engine = self._pool._engine
        engine.on_lost = lambda status, text: BrokenProcessPool(text)

    @property
    def _processes(self):
        """The worker processes by pid, as CPython's executor keeps them."""
        return {w.pid: w for w in self._pool._pool if w is not None}

    def _check_broken(self):
        if self._broken:
            return self._broken
        engine = self._pool._engine
        if not engine.freed:
            reason = engine.native.call(engine.ext.gompxcore_PoolBroken, engine.handle)
            if reason:
                self._broken = reason
        return self._broken

    def submit(self, fn, /, *args, **kwargs):
        """Schedule ``fn(*args, **kwargs)``; return a Future for its outcome."""
        with self._shutdown_lock:
            broken = self._check_broken()
            if broken:
                raise BrokenProcessPool(broken)
            if self._shutdown_thread:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if _global_shutdown:
                raise RuntimeError("cannot schedule new futures after interpreter shutdown")
            holder = []
            f = _Future(lambda: self._withdraw(holder[0]))
            result = self._pool.apply_async(fn, args, kwargs,
                                            callback=functools.partial(_set_result, f),
                                            error_callback=functools.partial(_set_error, f))
            holder.append(result)
            self._pending[result._job] = f
            f.add_done_callback(lambda _: self._pending.pop(result._job, None))
            return f
    submit.__doc__ = _base.Executor.submit.__doc__

    def _withdraw(self, result):
        engine = self._pool._engine
        if engine.freed:
            return False
        if engine.native.call(engine.ext.gompxcore_JobCancel, result._job):
            engine.cache.pop(result._job, None)
            result._done = True
            return True
        return False

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Returns an iterator equivalent to map(fn, iter).

        Args:
            fn: A callable that will take as many arguments as there are
                passed iterables.
            timeout: The maximum number of seconds to wait. If None, then there
                is no limit on the wait time.
            chunksize: If greater than one, the iterables will be chopped into
                chunks of size chunksize and submitted to the process pool.
                If set to one, the items in the list will be sent one at a time.

        Returns:
            An iterator equivalent to: map(func, *iterables) but the calls may
            be evaluated out-of-order.

        Raises:
            TimeoutError: If the entire result iterator could not be generated
                before the given timeout.
            Exception: If fn(*args) raises for any values.
        """
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        results = super().map(functools.partial(_process_chunk, fn),
                              _get_chunks(*iterables, chunksize=chunksize), timeout=timeout)
        return _chain_from_iterable_of_lists(results)

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Clean-up the resources associated with the Executor."""
        with self._shutdown_lock:
            self._shutdown_thread = True
            pending = list(self._pending.values())
        if cancel_futures:
            for f in pending:
                f.cancel()
        if self._check_broken():
            self._pool.terminate()
        else:
            self._pool.close()
        if wait:
            self._pool.join()
        else:
            threading.Thread(target=self._pool.join, daemon=True,
                             name="gompx-executor-shutdown").start()
    shutdown.__doc__ = _base.Executor.shutdown.__doc__


def _set_result(future, value):
    if _start(future):
        future.set_result(value)


def _set_error(future, exc):
    if _start(future):
        future.set_exception(exc)


def _start(future):
    """Move a future whose outcome came in to RUNNING; False if it was cancelled."""
    with future._condition:
        if future._state == _base.PENDING:
            return future.set_running_or_notify_cancel()
        return future._state == _base.RUNNING
