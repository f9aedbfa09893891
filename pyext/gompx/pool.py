"""Process pools: ``Pool``, its result objects, and the worker loop.

Laid out like CPython's ``multiprocessing/pool.py``, with the same names and errors.  The
engine differs: dispatch and result collection run in the Go core
(``gompx/taskpool``), not in Python handler threads.  Each worker has its own task
queue in shared memory, so the core knows which tasks a worker holds; a worker that dies
fails the task it was running (``WorkerLostError``, naming its exit code) and its other
tasks go to the remaining workers while a replacement starts.  stdlib's Pool hangs there,
and also when a result cannot be unpickled in the parent: here that task fails with the
exception unpickling raised.

Threads: one "worker handler" per pool blocks in Go until a worker exits, then starts its
replacement; a second thread, started only once a callback is given, runs callbacks as
results finish.  Results stay in Go, as pickles, until Python takes them.
"""

import array
import collections
import functools
import itertools
import os
import signal
import threading
import time
import traceback
import types
import warnings

from . import context as _context
from . import util
from ._poolcore import (CLOSE, RUN, TERMINATE, _APPLY, _CALL1, _ERROR, _FEED_AHEAD, _MAP,
                        _SPLIT_MIN, _STARMAP, _STREAM_CHUNKSIZE, _SUBMIT_BATCH, _TAKE_ORDERED,
                        _TAKE_ORDERED_OK, _TAKE_OUTCOME, _TAKE_UNORDERED, _Engine, _Failed,
                        _Values, _dumps, _dumps_exception, _serve, _take)
from .context import TimeoutError

__all__ = ["Pool", "ThreadPool",  # noqa: F822 (ThreadPool: module __getattr__, from .dummy)
           "ApplyResult", "AsyncResult", "MapResult", "IMapIterator",
           "IMapUnorderedIterator", "RemoteTraceback", "ExceptionWithTraceback",
           "MaybeEncodingError", "WorkerLostError", "mapstar", "starmapstar", "worker",
           "INIT", "RUN", "CLOSE", "TERMINATE"]

INIT = "INIT"


def mapstar(args):
    return list(map(*args))


def starmapstar(args):
    return list(itertools.starmap(args[0], args[1]))


class WorkerLostError(_context.ProcessError):
    """The worker running a task died (killed, crashed, os._exit) before it answered.

    Also raised for tasks a terminated pool never finished.  stdlib's Pool has no such
    error: it waits forever.
    """


class RemoteTraceback(Exception):
    def __init__(self, tb):
        self.tb = tb

    def __str__(self):
        return self.tb


class ExceptionWithTraceback:
    """An exception with its worker-side traceback, rebuilt in the parent as the
    exception whose ``__cause__`` is a ``RemoteTraceback`` holding that text."""

    def __init__(self, exc, tb):
        tb = traceback.format_exception(type(exc), exc, tb)
        tb = "".join(tb)
        self.exc = exc
        self.tb = '\n"""\n%s"""' % tb

    def __reduce__(self):
        return rebuild_exc, (self.exc, self.tb)


def rebuild_exc(exc, tb):
    exc.__cause__ = RemoteTraceback(tb)
    return exc


class MaybeEncodingError(Exception):
    """Wraps possible unpickleable errors, so they can be safely sent through the socket."""

    def __init__(self, exc, value):
        self.exc = repr(exc)
        self.value = repr(value)
        super().__init__(self.exc, self.value)

    def __str__(self):
        return "Error sending result: '%s'. Reason: '%s'" % (self.value, self.exc)

    def __repr__(self):
        return "<%s: %s>" % (self.__class__.__name__, self)


def worker(tasks, results, board, slot, initializer=None, initargs=(), maxtasks=None,
           wrap_exception=False):
    """The loop of a pool's worker process: take tasks, run them, send results.

    Tasks arrive in batches from this worker's own queue, read straight out of a scratch
    buffer; results go back in batches, flushed at the latest 0.5 ms after the first of
    them is ready (and at once when no task is waiting).  Before each task the worker
    writes its sequence number on the board, so that if it dies the pool knows which
    task killed it.
    """
    if (maxtasks is not None) and not (isinstance(maxtasks, int) and maxtasks >= 1):
        raise AssertionError("Maxtasks {!r} is not valid".format(maxtasks))
    # Ctrl-C reaches the whole foreground process group; the parent decides what a pool
    # does about it (terminate it), so workers do not die mid-task on their own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)
    _serve(tasks, results, board, slot, maxtasks, wrap_exception)


# --- the pool ----------------------------------------------------------------------------

class Pool:
    """A pool of worker processes to which jobs can be submitted."""

    _wrap_exception = True
    _break_on_death = False

    @staticmethod
    def Process(ctx, *args, **kwds):
        return ctx.Process(*args, **kwds)

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None,
                 context=None):
        self._pool = []
        self._state = INIT
        self._ctx = context or _context._default_context.get_context()
        if processes is None:
            processes = os.cpu_count() or 1
        if processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None:
            if not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0:
                raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._processes = processes
        self._initializer = initializer
        self._initargs = initargs
        self._maxtasksperchild = maxtasksperchild
        ctx = self._ctx
        self._engine = _Engine(ctx, processes, initializer, initargs, maxtasksperchild,
                               self._wrap_exception, self._break_on_death,
                               functools.partial(type(self).Process, ctx))
        self._cache = self._engine.cache
        try:
            self._engine.start_workers()
        except BaseException:
            self._engine.terminate()
            raise
        self._pool = self._engine.pool
        self._state = RUN
        self._terminate = util.Finalize(self, self._engine.terminate, exitpriority=15)

    def __del__(self, _warn=warnings.warn, RUN=RUN):
        if getattr(self, "_state", None) == RUN:
            _warn(f"unclosed running multiprocessing pool {self!r}", ResourceWarning,
                  source=self)

    def __repr__(self):
        cls = self.__class__
        return (f"<{cls.__module__}.{cls.__qualname__} state={self._state} "
                f"pool_size={len(self._pool)}>")

    def __reduce__(self):
        raise NotImplementedError(
            "pool objects cannot be passed between processes or pickled")

    def _repopulate_pool(self):
        """Return once every worker that exited (maxtasksperchild) has its replacement."""
        self._engine.repopulate()

    def _check_running(self):
        if self._state != RUN:
            raise ValueError("Pool not running")

    # submitting

    def _new_job(self, func, mode, length, notify):
        """A Go job whose tasks call *func* in *mode*; returns (handle, header error)."""
        native = self._engine.native
        try:
            header = _dumps((func, mode))
            error = None
        except Exception as e:
            header, error = b"", e
        job = native.call(native.ext.gompxcore_JobNew, self._engine.handle,
                          native.bytes_address(header), len(header), length, notify)
        return job, error

    def _submit(self, job, first, bodies, error=None):
        """Pickle and submit bodies as tasks first, first+1, ...; a body that cannot be
        pickled (or every body, given *error*) fails its task instead."""
        native = self._engine.native
        ext = native.ext
        # Many small bodies: one dumps() of the list, cut into items in Go.  A few large
        # ones (map chunks): one dumps() each, which spares Go a walk of every opcode.
        if error is None and len(bodies) > _SPLIT_MIN:
            try:
                data = _dumps(list(bodies))
            except Exception:
                data = None
            if data is not None:
                n = native.call(ext.gompxcore_JobSubmitList, job, first,
                                native.bytes_address(data), len(data))
                if n != native.QUEUE_UNSPLITTABLE:
                    return
        parts, lens = [], array.array("Q")
        for i, body in enumerate(bodies):
            try:
                if error is not None:
                    raise error
                b = _dumps(body)
            except Exception as e:
                if parts:
                    self._submit_parts(job, first + i - len(parts), parts, lens)
                    parts, lens = [], array.array("Q")
                exc = _dumps_exception(e)
                native.call(ext.gompxcore_JobFail, job, first + i, _ERROR,
                            native.bytes_address(exc), len(exc))
                continue
            parts.append(b)
            lens.append(len(b))
        if parts:
            self._submit_parts(job, first + len(bodies) - len(parts), parts, lens)

    def _submit_parts(self, job, first, parts, lens):
        native = self._engine.native
        data = b"".join(parts)
        native.call(native.ext.gompxcore_JobSubmit, job, first, native.bytes_address(data),
                    lens.buffer_info()[0], len(parts))

    def _feed(self, job, iterable, error):
        """Submit the tasks of an iterable, all of them eventually, as stdlib's task
        handler does: the first _FEED_AHEAD now, the rest from a feeder thread that keeps
        at most that many waiting in Go (the rest wait in the iterator)."""
        it = iter(iterable)
        if self._feed_batches(job, it, error, 0, _FEED_AHEAD // _SUBMIT_BATCH):
            return
        threading.Thread(target=self._feed_rest, args=(job, it, error), daemon=True,
                         name="gompx-pool-feeder").start()

    def _feed_rest(self, job, it, error):
        native = self._engine.native
        wait = native.ext.gompxcore_PoolWaitPending
        handle = self._engine.handle
        first = _FEED_AHEAD
        while True:
            try:
                wait(handle, _FEED_AHEAD, -1)
            except RuntimeError:
                return  # the pool was freed
            if self._engine.state == TERMINATE:
                return
            if self._feed_batches(job, it, error, first, 1):
                return
            first += _SUBMIT_BATCH

    def _feed_batches(self, job, it, error, first, limit):
        """Submit batches from *it* starting at task *first* (at most *limit* batches);
        returns True once the iterable is exhausted and the job's length set."""
        native = self._engine.native
        ext = native.ext
        index = first
        batches = 0
        while limit is None or batches < limit:
            bodies = []
            try:
                for x in it:
                    bodies.append(x)
                    if len(bodies) == _SUBMIT_BATCH:
                        break
            except Exception as e:
                try:
                    if bodies:
                        self._submit(job, index, bodies, error)
                    exc = _dumps_exception(e)
                    native.call(ext.gompxcore_JobFail, job, index + len(bodies), _ERROR,
                                native.bytes_address(exc), len(exc))
                    native.call(ext.gompxcore_JobSetLength, job, index + len(bodies) + 1)
                except (ValueError, OSError):
                    pass  # the job was dropped or the pool freed meanwhile
                return True
            try:
                if bodies:
                    self._submit(job, index, bodies, error)
                index += len(bodies)
                if len(bodies) < _SUBMIT_BATCH:
                    native.call(ext.gompxcore_JobSetLength, job, index)
                    return True
            except (ValueError, OSError):
                return True
            batches += 1
        return False

    # the API

    def apply(self, func, args=(), kwds={}):
        """Equivalent of `func(*args, **kwds)`, run in a worker."""
        return self._get_interruptible(self.apply_async(func, args, kwds))

    def map(self, func, iterable, chunksize=None):
        """Apply `func` to each element in `iterable`, collecting the results in a list."""
        return self._get_interruptible(self._map_async(func, iterable, _MAP, chunksize))

    def starmap(self, func, iterable, chunksize=None):
        """Like `map()` but the elements of `iterable` are argument tuples."""
        return self._get_interruptible(self._map_async(func, iterable, _STARMAP, chunksize))

    def starmap_async(self, func, iterable, chunksize=None, callback=None,
                      error_callback=None):
        """Asynchronous version of `starmap()`."""
        return self._map_async(func, iterable, _STARMAP, chunksize, callback, error_callback)

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """Asynchronous version of `map()`."""
        return self._map_async(func, iterable, _MAP, chunksize, callback, error_callback)

    def _get_interruptible(self, result):
        try:
            return result.get()
        except KeyboardInterrupt:
            # Ctrl-C: the workers are still busy with tasks nobody will collect.
            self.terminate()
            raise

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        """Asynchronous version of `apply()`."""
        self._check_running()
        if callback is None and error_callback is None:
            # One native call makes the job and submits its task.
            try:
                header, body = _dumps((func, _APPLY)), _dumps((args, kwds))
            except Exception:
                pass  # the general path below records the error in the result
            else:
                native = self._engine.native
                job = native.call(native.ext.gompxcore_JobApply, self._engine.handle,
                                  native.bytes_address(header), len(header),
                                  native.bytes_address(body), len(body))
                return ApplyResult(self, None, None, job)
        notify = callback is not None or error_callback is not None
        job, error = self._new_job(func, _APPLY, 1, notify)
        result = ApplyResult(self, callback, error_callback, job)
        self._submit(job, 0, [(args, kwds)], error)
        return result

    def _map_async(self, func, iterable, mode, chunksize=None, callback=None,
                   error_callback=None):
        self._check_running()
        if not hasattr(iterable, "__len__"):
            iterable = list(iterable)
        if chunksize is None or len(iterable) == 0:
            chunksize = util.default_chunksize(len(iterable), len(self._pool))
        notify = callback is not None or error_callback is not None
        chunks = 0 if chunksize <= 0 else -(-len(iterable) // chunksize)
        job, error = self._new_job(func, mode, chunks, notify and chunks > 0)
        result = MapResult(self, chunksize, len(iterable), callback, error_callback, job)
        if chunks:
            self._submit_chunks(job, iterable, chunksize, chunks, error)
        return result

    def _submit_chunks(self, job, iterable, chunksize, chunks, error):
        it = iter(iterable)
        if chunksize >= _STREAM_CHUNKSIZE:
            for first in range(chunks):
                self._submit(job, first, [tuple(itertools.islice(it, chunksize))], error)
            return
        for first in range(0, chunks, _SUBMIT_BATCH):
            bodies = [tuple(itertools.islice(it, chunksize))
                      for _ in range(min(_SUBMIT_BATCH, chunks - first))]
            self._submit(job, first, bodies, error)

    def imap(self, func, iterable, chunksize=1):
        """Equivalent of `map()` -- can be MUCH slower than `Pool.map()`."""
        return self._imap(IMapIterator, func, iterable, chunksize)

    def imap_unordered(self, func, iterable, chunksize=1):
        """Like `imap()` method but ordering of results is arbitrary."""
        return self._imap(IMapUnorderedIterator, func, iterable, chunksize)

    def _imap(self, cls, func, iterable, chunksize):
        self._check_running()
        if chunksize == 1:
            job, error = self._new_job(func, _CALL1, -1, False)
            result = cls(self, job)
            self._feed(job, iterable, error)
            return result
        if chunksize < 1:
            raise ValueError("Chunksize must be 1+, not {0:n}".format(chunksize))
        job, error = self._new_job(func, _MAP, -1, False)
        result = cls(self, job)
        self._feed(job, Pool._get_chunks(iterable, chunksize), error)
        return (item for chunk in result for item in chunk)

    @staticmethod
    def _get_chunks(iterable, size):
        it = iter(iterable)
        while True:
            x = tuple(itertools.islice(it, size))
            if not x:
                return
            yield x

    # ending

    def close(self):
        """Stop accepting work; the workers exit once the submitted work is done."""
        util.debug("closing pool")
        if self._state == RUN:
            self._state = CLOSE
            self._engine.close()

    def terminate(self):
        """Stop the workers at once; unfinished tasks fail with WorkerLostError."""
        util.debug("terminating pool")
        self._state = TERMINATE
        self._terminate()

    def join(self):
        """Wait for the workers to exit (after close() or terminate())."""
        util.debug("joining pool")
        if self._state == RUN:
            raise ValueError("Pool is still running")
        elif self._state not in (CLOSE, TERMINATE):
            raise ValueError("In unknown state")
        self._engine.join()

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.terminate()


class ApplyResult:
    """The result of `Pool.apply_async()`.

    The one implementation of the result API for every pool here: the process `Pool`,
    whose outcome waits in a Go job, `ThreadPool` (gompx.dummy), whose threads push
    outcomes in, and the cluster pool.  Those override the hooks at the end (`_watch`,
    `_poll`, `_block`, `_collect`, `_release`, `_abandon`), never the rules above them:
    what ready(), wait() and get() mean, and that a callback runs before the result is
    ready, in the thread that delivers outcomes, as stdlib's do."""

    def __init__(self, pool, callback, error_callback, job=None):
        self._pool = pool
        self._engine = getattr(pool, "_engine", None)
        self._job = job
        self._callback = callback
        self._error_callback = error_callback
        self._lock = threading.Lock()
        self._done = False          # the outcome is in _success and _value
        self._success = None
        self._value = None
        self._event = None          # with callbacks: set once they have run
        if callback is not None or error_callback is not None:
            self._event = threading.Event()
            self._watch()

    def ready(self):
        if self._event is not None:
            return self._event.is_set()
        return self._done or self._poll()

    def successful(self):
        if not self.ready():
            raise ValueError("{0!r} not ready".format(self))
        self._finish(None)
        return self._success

    def wait(self, timeout=None):
        if self._event is not None:
            self._event.wait(timeout)
        elif not self._done:
            self._block(timeout)

    def get(self, timeout=None):
        if self._event is not None:
            if not self._event.wait(timeout):
                raise TimeoutError
        elif not self._finish(timeout):
            raise TimeoutError
        if self._success:
            return self._value
        raise self._value

    def _finish(self, timeout):
        """Wait up to *timeout* for the outcome and take it (once); False if it did not
        come in time."""
        if self._done:
            return True
        with self._lock:
            if self._done:
                return True
            outcome = self._collect(timeout)
            if outcome is None:
                return False
            self._success, self._value = outcome
            self._done = True
            self._release()
            return True

    def _call_back(self):
        """Take the outcome, run the callback it calls for, then make the result ready.
        Called by the pool's callback thread (or the thread delivering the outcome)."""
        try:
            self._finish(None)
            if self._success:
                if self._callback is not None:
                    self._callback(self._value)
            elif self._error_callback is not None:
                self._error_callback(self._value)
        except Exception:
            traceback.print_exc()
        finally:
            self._event.set()

    def __del__(self):
        if not self._done and self._event is None:
            try:
                self._abandon()
            except Exception:
                pass

    # -- hooks: the process pool's, whose outcome waits in a Go job ------------------

    def _watch(self):
        """Arrange for _call_back() to run once the outcome is in."""
        self._engine.watch(self)

    def _poll(self):
        """Whether the outcome is in, without waiting."""
        native = self._engine.native
        return native.call(native.ext.gompxcore_JobWait, self._job, 0)

    def _block(self, timeout):
        """Wait up to *timeout* for the outcome, without taking it."""
        native = self._engine.native
        native.wait_interruptible(native.attempt(native.ext.gompxcore_JobWait, self._job),
                                  timeout)

    def _collect(self, timeout):
        """The outcome as (success, value), waiting up to *timeout*; None if it did not
        come in time."""
        got = _take(self._job, _TAKE_OUTCOME, timeout)
        return self._outcome(got) if got else None

    def _release(self):
        """The outcome is taken: free what held it."""
        native = self._engine.native
        native.call(native.ext.gompxcore_JobDrop, self._job)
        self._pool = None

    def _abandon(self):
        """The result is garbage before its outcome was taken."""
        if self._job is not None:
            self._engine.native.ext.gompxcore_JobDrop(self._job)

    def _outcome(self, got):
        return self._as_outcome(got[0])

    def _as_outcome(self, value):
        if value.__class__ is _Failed:
            return False, value.exception(self._engine)
        return True, value

    __class_getitem__ = classmethod(types.GenericAlias)


AsyncResult = ApplyResult


class MapResult(ApplyResult):
    """The result of `Pool.map_async()` and `Pool.starmap_async()`."""

    def __init__(self, pool, chunksize, length, callback, error_callback, job=None):
        self._chunksize = chunksize
        self._length = length
        super().__init__(pool, callback if chunksize > 0 else None,
                         error_callback if chunksize > 0 else None, job)
        self._taken = []  # chunks taken so far (streamed, see _STREAM_CHUNKSIZE)
        if chunksize <= 0:
            self._success, self._value, self._done = True, [], True
            self._release()

    def _collect(self, timeout):
        if self._chunksize < _STREAM_CHUNKSIZE:
            return super()._collect(timeout)
        # Successful chunks as they come, in order; the first failure to come in, if
        # any, is the outcome (_TAKE_ORDERED_OK leaves failures for _TAKE_OUTCOME).
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = self._taken
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            got = _take(self._job, _TAKE_ORDERED_OK, left)
            if got is False:
                got = _take(self._job, _TAKE_OUTCOME, left)
                if got and got.__class__ is not _Values and got[0].__class__ is _Failed:
                    return self._as_outcome(got[0])
            if got is None:
                self._taken = None
                return True, list(itertools.chain.from_iterable(chunks))
            if not got:
                return None
            chunks.extend(got.values if got.__class__ is _Values else got)

    def _outcome(self, got):
        chunks = got.values if got.__class__ is _Values else got
        if chunks and chunks[0].__class__ is _Failed:
            return self._as_outcome(chunks[0])
        while True:
            more = _take(self._job, _TAKE_ORDERED, 0)
            if not more:
                break
            chunks.extend(more.values if more.__class__ is _Values else more)
        return True, list(itertools.chain.from_iterable(chunks))


class IMapIterator:
    """The iterator `Pool.imap()` returns.

    As with ApplyResult, one implementation for every pool: each supplies `_more`
    (the next values that came in) and `_end` (what to do once they are all taken)."""

    _mode = _TAKE_ORDERED

    def __init__(self, pool, job=None):
        self._pool = pool
        self._engine = getattr(pool, "_engine", None)
        self._job = job
        self._items = collections.deque()
        self._lock = threading.Lock()
        self._exhausted = False

    def __iter__(self):
        return self

    def next(self, timeout=None):
        try:
            value = self._items.popleft()  # deque.popleft is atomic: no lock on this path
        except IndexError:
            value = self._refill(timeout)
        if value.__class__ is _Failed:
            raise value.exception(self._engine)
        return value

    __next__ = next

    def _refill(self, timeout):
        with self._lock:
            if not self._items:
                if self._exhausted:
                    raise StopIteration from None
                got = self._more(timeout)
                if got is None:
                    self._exhausted = True
                    self._end()
                    raise StopIteration from None
                self._items.extend(got)
            return self._items.popleft()

    # -- hooks: the process pool's ---------------------------------------------------

    def _more(self, timeout):
        """The next values (a failed task's as a _Failed), waiting up to *timeout*; None
        once every value was taken; TimeoutError if none came in time."""
        got = _take(self._job, self._mode, timeout)
        if got is None:
            return None
        if not got:
            raise TimeoutError from None
        return got if got.__class__ is list else got.values  # spliced: every value at once

    def _end(self):
        if self._job is not None:
            native = self._engine.native
            native.call(native.ext.gompxcore_JobDrop, self._job)
            self._job = None
            self._pool = None

    def __del__(self):
        if getattr(self, "_job", None) is not None and self._engine is not None:
            try:
                self._engine.native.ext.gompxcore_JobDrop(self._job)
            except Exception:
                pass


class IMapUnorderedIterator(IMapIterator):
    """The iterator `Pool.imap_unordered()` returns."""

    _mode = _TAKE_UNORDERED


def __getattr__(name):
    if name == "ThreadPool":
        from .dummy import ThreadPool
        return ThreadPool
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
