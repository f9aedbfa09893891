"""``ProcessPoolExecutor``: the ``concurrent.futures`` API on gompx's process pool.

Laid out like CPython's ``concurrent/futures/process.py``, with its names
(``ProcessPoolExecutor``, ``BrokenProcessPool``, ``_process_worker``,
``_ExecutorManagerThread``) and its behaviour:

- workers start as submitted calls need them, up to ``max_workers``: a call that finds
  a worker idle runs there, so calls made one after another use one process;
- one manager thread per executor hands results to the futures, and replaces a worker
  that retired (``max_tasks_per_child``) while calls wait for one;
- the executor breaks, as ``concurrent.futures`` specifies, when a worker exits abruptly,
  its initializer fails (logged at CRITICAL on the ``concurrent.futures`` logger), a
  task cannot be unpickled in a worker, or a result cannot be unpickled in the parent:
  every pending future fails with ``BrokenProcessPool`` and ``submit`` raises it;
- a call that raises anything, ``SystemExit`` included, fails its future with that
  exception, and a result that cannot be pickled fails it with the pickling error;
- an executor dropped without ``shutdown()``, and every executor at interpreter exit,
  finishes the submitted calls and then stops its workers.

The engine is gompx's Pool engine (``gompx/taskpool``): the Go core dispatches calls to
the workers, each of which has a task queue of its own, and collects their results.
There is no call queue, result pipe or wake-up pipe.

Differences from stdlib: a future counts as running from the moment its task is sent
to a worker (a worker may hold a few tasks ahead), so ``cancel()`` fails from then on.
"""

import array
import functools
import itertools
import os
import signal
import threading
import weakref
from concurrent.futures import _base
from traceback import format_exception

from . import _alias
from . import _poolcore
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

# Set at interpreter exit: submit() refuses from then on.
_global_shutdown = False
# Each live manager thread and its engine, for _python_exit.
_live_managers = weakref.WeakKeyDictionary()


def _python_exit():
    """At interpreter exit, before non-daemon threads are joined: every executor takes
    no more calls, finishes those submitted, and stops its workers (as stdlib's does)."""
    global _global_shutdown
    _global_shutdown = True
    items = list(_live_managers.items())
    for _, engine in items:
        engine.stop()
    for thread, _ in items:
        thread.join()


threading._register_atexit(_python_exit)

# The cause of an exception raised in a worker: its formatted traceback (CPython's
# executor has a class of its own with the same contract as the pool's).
_RemoteTraceback = _pool.RemoteTraceback

# What PoolNext reports (gompx/taskpool.EventKind).
_EVENT_FINISHED = 4


class _ThreadWakeup:
    """CPython's wake-up pipe for its executor manager thread, for code that imports it
    (loky does; so do CPython's tests).  gompx's manager thread waits in the Go core,
    which needs no waking, so nothing of gompx's uses this."""

    def __init__(self):
        from .connection import Pipe
        self._closed = False
        self._reader, self._writer = Pipe(duplex=False)

    def close(self):
        if not self._closed:
            self._closed = True
            self._writer.close()
            self._reader.close()

    def wakeup(self):
        if not self._closed:
            self._writer.send_bytes(b"")

    def clear(self):
        if not self._closed:
            while self._reader.poll():
                self._reader.recv_bytes()


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


def _process_worker(tasks, results, board, slot, initializer=None, initargs=(),
                    max_tasks=None, wrap_exception=True):
    """The life of an executor's worker process: the initializer, then calls until the
    stop message or *max_tasks* of them (the arguments are gompx.pool.worker's).

    CPython's rules: an initializer that raises is logged at CRITICAL on the
    ``concurrent.futures`` logger and ends the worker, which breaks the executor; a
    call that raises anything answers with it; a result that cannot be pickled answers
    with the pickling error; a task that cannot be unpickled ends the worker.  Ctrl-C
    is left to the parent, as in gompx's Pool.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException:
            _base.LOGGER.critical('Exception in initializer:', exc_info=True)
            # The parent notices that the process stopped and marks the pool broken.
            return
    _poolcore._serve(tasks, results, board, slot, max_tasks, wrap_exception, strict=True)


class _ExecutorEngine(_poolcore._Engine):
    """An executor's pool engine, on-demand, with what its manager thread needs: the
    future of each submitted call, by job.  Neither the engine nor the thread holds the
    executor, so that an executor nobody references is collected (and then stops)."""

    def __init__(self, ctx, max_workers, initializer, initargs, max_tasks):
        super().__init__(ctx, max_workers, initializer, initargs, max_tasks, True, True,
                         ctx.Process, on_demand=True, worker=_process_worker)
        self.pending = {}    # job handle -> future, until the future has its outcome
        self.managed = False  # a manager thread was started (it frees the core)
        self.cause = None    # what broke the pool, when it broke in Python (a _RemoteTraceback)
        self.reason = ""     # why the pool broke, kept after the core is freed

    def on_lost(self, status, text):
        exc = BrokenProcessPool(text)
        if self.cause is not None:
            exc.__cause__ = self.cause
        return exc

    def broken(self):
        """Why the pool broke, or ""."""
        if not self.reason:
            with self.lock:
                if not self.freed:
                    self.reason = self.native.call(self.ext.gompxcore_PoolBroken, self.handle)
        return self.reason

    def submit(self, future, fn, args, kwargs):
        """Send ``fn(*args, **kwargs)`` to the workers, its outcome to go to *future*
        (which holds the error at once if the call cannot be pickled)."""
        native = self.native
        try:
            header = _poolcore._dumps((fn, _poolcore._APPLY))
            body = _poolcore._dumps((args, kwargs))
        except Exception as e:
            tb = format_exception(type(e), e, e.__traceback__)
            e.__cause__ = _RemoteTraceback('\n"""\n{}"""'.format(''.join(tb)))
            _set_error(future, e)
            return
        try:
            job = native.call(self.ext.gompxcore_JobNew, self.handle,
                              native.bytes_address(header), len(header), 1, True)
        except (RuntimeError, ValueError):
            reason = self.broken()
            if reason:
                raise BrokenProcessPool(reason) from None
            raise RuntimeError("cannot schedule new futures after shutdown") from None
        future._job = job
        self.pending[job] = future  # before the task exists: it may finish at once
        lens = array.array("Q", [len(body)])
        native.call(self.ext.gompxcore_JobSubmit, job, 0, native.bytes_address(body),
                    lens.buffer_info()[0], 1)

    def withdraw(self, job):
        """Withdraw the call of *job* if no worker has it yet; whether it did."""
        with self.lock:
            if self.freed or not self.native.call(self.ext.gompxcore_JobCancel, job):
                return False
        self.pending.pop(job, None)
        return True

    def deliver(self, job):
        """Hand the outcome of the finished *job* to its future (the manager thread)."""
        future = self.pending.pop(job, None)
        try:
            got = _poolcore._take(job, _poolcore._TAKE_OUTCOME, 0)
        finally:
            self.native.call(self.ext.gompxcore_JobDrop, job)
        if future is None:
            return  # cancelled, or failed when the pool broke
        if not got:
            _set_error(future, SystemError("gompx: call %d finished without an outcome" % job))
            return
        value = got[0]
        if value.__class__ is not _poolcore._Failed:
            _set_result(future, value)
        elif value.status == _poolcore._UNPICKLABLE:
            # As in stdlib: a result that cannot be read breaks the executor.
            self.terminate_broken(value.value, "A result could not be unpickled")
            _set_error(future, self.on_lost(_poolcore._BROKEN, self.reason))
        else:
            _set_error(future, value.exception(self))

    def terminate_broken(self, exc, what):
        """Break the pool because of *exc*, raised here while doing *what*: every pending
        future fails with BrokenProcessPool (its cause: *exc*'s traceback) and the
        workers are terminated."""
        reason = "%s (%s: %s), the process pool is not usable anymore" % (
            what, type(exc).__name__, exc)
        with self.lock:
            if not self.broken():  # else it broke first, for another reason
                tb = "".join(format_exception(type(exc), exc, exc.__traceback__))
                self.cause = _RemoteTraceback(f"\n'''\n{tb}'''")
                self.reason = reason
                if not self.freed:
                    self.native.call(self.ext.gompxcore_PoolBreak, self.handle, reason)
        for job in list(self.pending):
            future = self.pending.pop(job, None)
            if future is not None:
                _set_error(future, self.on_lost(_poolcore._BROKEN, self.reason))
        self.kill_if_broken()

    def kill_if_broken(self):
        with self.lock:
            if not self.freed:
                super().kill_if_broken()

    def stop(self):
        """Take no more calls: the workers stop once the submitted ones are done, and the
        manager thread then frees the core (at once, if there is no manager thread)."""
        with self.lock:
            if self.freed:
                return
            self.close()
        if not self.managed:
            self.finish()

    def free(self):
        self.broken()  # kept for the executor's _broken
        super().free()

    def start_replacement(self, slot):
        """Start the worker the core asked for in *slot* (a retired one's); a worker
        that cannot be started breaks the pool."""
        if self.state == _poolcore.TERMINATE:
            return
        try:
            self.start_worker(slot)
        except BaseException as e:
            self.native.call(self.ext.gompxcore_PoolUnreserve, self.handle, slot)
            self.terminate_broken(e, "A worker process could not be started")

    def finish(self):
        """After the pool stopped: terminate the workers of a broken pool, join them all,
        free the core."""
        self.kill_if_broken()
        self.broken()
        for w in list(self.pool):
            if w is not None:
                w.join()
        self.free()


class _ExecutorManagerThread(threading.Thread):
    """The thread that serves an executor (CPython's name): it waits in the Go core for
    a call that finished, whose outcome it gives to the call's future, or a worker that
    exited, which it joins and, while calls wait for a worker, replaces.  When the pool
    stops (shut down and the work done, or broken), it joins the workers and frees the
    core.  It holds the executor's engine, not the executor."""

    def __init__(self, engine):
        super().__init__()
        self.engine = engine

    def run(self):
        engine = self.engine
        event = array.array("q", bytes(40))
        addr = event.buffer_info()[0]
        next_event = engine.ext.gompxcore_PoolNext
        while True:
            try:
                kind = next_event(engine.handle, addr, -1)
            except RuntimeError:
                return  # the core is gone (only this thread frees it: not expected)
            if kind == _poolcore._EVENT_STOPPED:
                break
            try:
                self._on_event(kind, event)
            except BaseException as e:
                # Never leave the futures waiting for a thread that is gone.
                engine.terminate_broken(e, "The executor's manager thread failed")
        engine.finish()

    def _on_event(self, kind, event):
        engine = self.engine
        if kind == _EVENT_FINISHED:
            if event[4]:
                engine.deliver(event[4])
        elif kind in (_poolcore._EVENT_REPLACE, _poolcore._EVENT_EXITED):
            replace = kind == _poolcore._EVENT_REPLACE
            engine.reap(event[1], event[2], replace)
            if replace:
                engine.start_replacement(event[1])


class _Future(_base.Future):
    """A future whose cancel() withdraws its call from the pool if no worker has it."""

    def __init__(self, engine):
        super().__init__()
        self._engine = engine
        self._job = None

    def cancel(self):
        with self._condition:
            if self._state == _base.PENDING and not (
                    self._job is not None and self._engine.withdraw(self._job)):
                # A worker has the call: it is running as far as anyone can stop it.
                self._state = _base.RUNNING
            if not super().cancel():
                return False
            if self._state == _base.CANCELLED:
                self.set_running_or_notify_cancel()  # nobody else will: the call is gone
            return True


class ProcessPoolExecutor(_base.Executor):
    """An executor that runs calls in a pool of worker processes."""

    def __new__(cls, *args, cluster=None, **kwargs):
        # cluster= (or GOMPX_CLUSTER): the calls run on gompx workers through NATS
        # JetStream instead (gompx.cluster.ClusterExecutor; its keyword options: authkey,
        # insecure, replicas, ack_wait, credentials).
        if cluster is None:
            cluster = os.environ.get("GOMPX_CLUSTER") or None
        if cluster is not None:
            from .cluster import ClusterExecutor
            return ClusterExecutor(*args, cluster=cluster, **kwargs)
        return super().__new__(cls)

    def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=(),
                 *, max_tasks_per_child=None, cluster=None):
        """Initializes a new ProcessPoolExecutor instance.

        Args:
            max_workers: The maximum number of processes that can be used to
                execute the given calls. If None or not given then as many
                worker processes will be created as the machine has processors.
            mp_context: A multiprocessing context to launch the workers created
                using the multiprocessing.get_context('start method') API. This
                object should provide SimpleQueue, Queue and Process.
            initializer: A callable used to initialize worker processes.
            initargs: A tuple of arguments to pass to the initializer.
            max_tasks_per_child: The maximum number of tasks a worker process
                can complete before it will exit and be replaced with a fresh
                worker process. The default of None means worker process will
                live as long as the executor.
        """
        _check_system_limits()
        if max_workers is None:
            max_workers = getattr(os, "process_cpu_count", os.cpu_count)() or 1
        elif max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if mp_context is None:
            if max_tasks_per_child is not None:
                mp_context = _context._default_context.get_context("spawn")
            else:
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
        self._initializer = initializer
        self._initargs = initargs
        self._max_tasks_per_child = max_tasks_per_child
        self._shutdown_lock = threading.Lock()
        self._shutdown_thread = False
        self._executor_manager_thread = None
        self._engine = _ExecutorEngine(mp_context, max_workers, initializer, initargs,
                                       max_tasks_per_child)
        # Dropped without shutdown(): finish the submitted calls, then stop, as stdlib.
        weakref.finalize(self, self._engine.stop)

    @property
    def _processes(self):
        """The worker processes by pid, as CPython's executor keeps them."""
        return {w.pid: w for w in list(self._engine.pool) if w is not None}

    @property
    def _broken(self):
        """Why the executor broke (a true string), or False."""
        return self._engine.broken() or False

    def _adjust_process_count(self):
        """Start a worker for the call just submitted, unless an idle one is reused."""
        try:
            self._engine.adjust()
        except BaseException as e:
            self._engine.terminate_broken(e, "A worker process could not be started")
            if not isinstance(e, Exception):
                raise

    def _start_executor_manager_thread(self):
        if self._executor_manager_thread is not None:
            return
        thread = _ExecutorManagerThread(self._engine)
        try:
            thread.start()
        except BaseException as e:
            # At interpreter exit, threads can no longer be started (gh-109047).
            self._engine.terminate_broken(e, "The executor's manager thread could not "
                                             "be started")
            if not isinstance(e, Exception):
                raise
            return
        self._executor_manager_thread = thread
        self._engine.managed = True
        _live_managers[thread] = self._engine

    def submit(self, fn, /, *args, **kwargs):
        with self._shutdown_lock:
            broken = self._broken
            if broken:
                raise BrokenProcessPool(broken)
            if self._shutdown_thread:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if _global_shutdown:
                raise RuntimeError("cannot schedule new futures after interpreter shutdown")
            f = _Future(self._engine)
            self._engine.submit(f, fn, args, kwargs)
            # As in CPython, every call counts, even one that could not be pickled.
            self._adjust_process_count()
            self._start_executor_manager_thread()
            return f
    submit.__doc__ = _base.Executor.submit.__doc__

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
        with self._shutdown_lock:
            self._shutdown_thread = True
            if cancel_futures:
                for f in list(self._engine.pending.values()):
                    f.cancel()
            self._engine.stop()
        thread = self._executor_manager_thread
        if thread is not None and wait:
            thread.join()
        self._executor_manager_thread = None
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
