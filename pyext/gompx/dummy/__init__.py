"""``gompx.dummy``: the ``multiprocessing`` API on threads, as ``multiprocessing.dummy``.

``Process`` is a thread, ``Pool`` a pool of threads (``ThreadPool``), queues and locks
are ``queue``'s and ``threading``'s, ``Pipe`` and the connection API pass objects between
threads by reference.  Nothing here loads gompx's Go core: threads share memory, so
there is nothing to dispatch between processes.

``ThreadPool`` keeps ``gompx.Pool``'s promise not to hang: ``terminate()`` fails the
tasks no thread has started with ``WorkerLostError`` and returns without waiting for the
running ones (threads cannot be killed; ``join()`` waits for them).  As in CPython, the
worker threads hold no reference to their pool: a running pool that is garbage collected
warns (``ResourceWarning``) and its threads exit.
"""

import array
import itertools
import os
import queue
import sys
import threading
import warnings
import weakref
from queue import Queue
from threading import Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore

from .. import pool as _pool
from .. import util
from .._poolcore import _ERROR, _Failed
from ..context import TimeoutError
from .connection import Pipe

__all__ = ["Process", "current_process", "active_children", "freeze_support", "Lock",
           "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier",
           "Queue", "Manager", "Pipe", "Pool", "JoinableQueue", "ThreadPool"]


class DummyProcess(threading.Thread):
    """A thread with the Process API (start, join, exitcode, is_alive)."""

    def __init__(self, group=None, target=None, name=None, args=(), kwargs={}):
        threading.Thread.__init__(self, group, target, name, args, kwargs)
        self._pid = None
        self._children = weakref.WeakKeyDictionary()
        self._start_called = False
        self._parent = current_process()

    def start(self):
        if self._parent is not current_process():
            raise RuntimeError(
                "Parent is {0!r} but current_process is {1!r}".format(
                    self._parent, current_process()))
        self._start_called = True
        if hasattr(self._parent, "_children"):
            self._parent._children[self] = None
        threading.Thread.start(self)

    @property
    def exitcode(self):
        if self._start_called and not self.is_alive():
            return 0
        return None


Process = DummyProcess
current_process = threading.current_thread
current_process()._children = weakref.WeakKeyDictionary()


def active_children():
    """The started threads of the current thread that are still alive."""
    children = current_process()._children
    for p in list(children):
        if not p.is_alive():
            children.pop(p, None)
    return list(children)


def freeze_support():
    pass


class Namespace:
    """An object whose attributes are set by keyword."""

    def __init__(self, /, **kwds):
        self.__dict__.update(kwds)

    def __repr__(self):
        items = list(self.__dict__.items())
        temp = ["%s=%r" % (name, value) for name, value in items
                if not name.startswith("_")]
        temp.sort()
        return "%s(%s)" % (self.__class__.__name__, ", ".join(temp))


dict = dict
list = list


def Array(typecode, sequence, lock=True):
    return array.array(typecode, sequence)


class Value:
    """A value in a box (``.value``), shared between threads by reference."""

    def __init__(self, typecode, value, lock=True):
        self._typecode = typecode
        self._value = value

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, value):
        self._value = value

    def __repr__(self):
        return "<%s(%r, %r)>" % (type(self).__name__, self._typecode, self._value)


def Manager():
    return sys.modules[__name__]


def shutdown():
    pass


JoinableQueue = Queue

# --- ThreadPool ----------------------------------------------------------------------------

RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"
_STOP = object()


def _lost():
    from ..pool import WorkerLostError
    return WorkerLostError("the pool was terminated before this task finished")


class ThreadPool:
    """A pool of worker threads with ``multiprocessing.pool.Pool``'s API."""

    def __init__(self, processes=None, initializer=None, initargs=()):
        if processes is None:
            processes = os.cpu_count() or 1
        if processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._processes = processes
        self._initializer = initializer
        self._initargs = initargs
        # apply_async() and map_async() submit batches of tasks to _taskqueue; the task
        # handler moves them, in order, to _tasks, which the workers take from (as CPython's
        # task handler does: a terminate() right after a submission starts none of it).
        self._taskqueue = queue.SimpleQueue()
        self._tasks = queue.SimpleQueue()
        self._state = RUN
        # Held while the state changes, a batch is submitted or a task queued, and while
        # terminate() takes the queued tasks: no task lands behind the workers' _STOPs.
        self._lock = threading.Lock()
        self._terminated = threading.Event()
        self._stopping = False
        self._feeders = []
        self._pool = []
        for i in range(processes):
            t = DummyProcess(target=_work, name="ThreadPoolWorker-%d" % (i + 1),
                             args=(self._tasks, self._terminated, initializer, initargs))
            t.daemon = True
            t.start()
            self._pool.append(t)
        # No thread holds a reference to the pool, so a dropped pool is collected.
        self._handler = threading.Thread(
            target=_handle_tasks, name="ThreadPool-task-handler", daemon=True,
            args=(self._taskqueue, self._tasks, self._lock, self._terminated, processes))
        self._handler.start()

    # The globals are default arguments so that they are still there at shutdown.
    def __del__(self, _warn=warnings.warn, RUN=RUN):
        if getattr(self, "_state", None) == RUN:
            _warn(f"unclosed running multiprocessing pool {self!r}", ResourceWarning,
                  source=self)
        if getattr(self, "_handler", None) is not None:
            self._stop_handler()

    def __repr__(self):
        return "<%s.%s state=%s pool_size=%d>" % (type(self).__module__,
                                                 type(self).__qualname__, self._state,
                                                 len(self._pool))

    def __reduce__(self):
        raise NotImplementedError(
            "pool objects cannot be passed between processes or pickled")

    def _check_running(self):
        if self._state != RUN:
            raise ValueError("Pool not running")

    def _submit(self, batch):
        with self._lock:
            self._check_running()
            self._taskqueue.put(batch)

    def _stop_handler(self):
        """Once: the task handler finishes the submitted batches, then stops the workers."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._taskqueue.put(_STOP)

    def apply(self, func, args=(), kwds={}):
        """Equivalent of `func(*args, **kwds)`, run in a worker thread."""
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        """Asynchronous version of `apply()`."""
        self._check_running()
        result = ApplyResult(self, callback, error_callback)
        self._submit([(result, 0, func, False, False, (args, kwds))])
        return result

    def map(self, func, iterable, chunksize=None):
        """Apply `func` to each element in `iterable`, collecting the results in a list."""
        return self._map_async(func, iterable, False, chunksize).get()

    def starmap(self, func, iterable, chunksize=None):
        """Like `map()` but the elements of `iterable` are argument tuples."""
        return self._map_async(func, iterable, True, chunksize).get()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """Asynchronous version of `map()`."""
        return self._map_async(func, iterable, False, chunksize, callback, error_callback)

    def starmap_async(self, func, iterable, chunksize=None, callback=None,
                      error_callback=None):
        """Asynchronous version of `starmap()`."""
        return self._map_async(func, iterable, True, chunksize, callback, error_callback)

    def _map_async(self, func, iterable, star, chunksize=None, callback=None,
                   error_callback=None):
        self._check_running()
        if not hasattr(iterable, "__len__"):
            iterable = list(iterable)
        if chunksize is None or len(iterable) == 0:
            chunksize = util.default_chunksize(len(iterable), len(self._pool))
        result = MapResult(self, chunksize, len(iterable), callback, error_callback)
        if chunksize > 0:
            it = iter(iterable)
            batch = []
            for i in range(result._number_left):
                batch.append((result, i, func, star, True,
                              tuple(itertools.islice(it, chunksize))))
            self._submit(batch)
        return result

    def imap(self, func, iterable, chunksize=1):
        """Equivalent of `map()`, yielding results in order as they come."""
        return self._imap(IMapIterator, func, iterable, chunksize)

    def imap_unordered(self, func, iterable, chunksize=1):
        """Like `imap()` but the results come in any order."""
        return self._imap(IMapUnorderedIterator, func, iterable, chunksize)

    def _imap(self, cls, func, iterable, chunksize):
        self._check_running()
        if chunksize < 1:
            raise ValueError("Chunksize must be 1+, not {0:n}".format(chunksize))
        result = cls(self)
        chunks = _chunks(iterable, chunksize)
        feeder = threading.Thread(target=_feed, name="ThreadPool-feeder", daemon=True,
                                  args=(self._tasks, self._lock, self._terminated, result,
                                        func, chunks))
        with self._lock:  # join() stops the workers once the feeders it knows are done
            self._check_running()
            self._feeders.append(feeder)
            feeder.start()
        if chunksize == 1:
            return _Unwrap(result)
        return (item for chunk in result for item in chunk)

    def close(self):
        """No more work; the threads exit once the submitted work is done."""
        with self._lock:
            if self._state == RUN:
                self._state = CLOSE

    def terminate(self):
        """Fail the tasks no thread has started; do not wait for the running ones."""
        with self._lock:
            self._state = TERMINATE
            self._terminated.set()
            queued = []
            while True:
                try:
                    queued.append(self._tasks.get_nowait())
                except queue.Empty:
                    break
            for task in queued:
                if task is _STOP:  # a join() in another thread is stopping the workers
                    self._tasks.put(task)
        for task in queued:
            if task is not _STOP:
                task[0]._set(task[1], False, _lost())
        self._stop_handler()

    def join(self):
        """Wait for the threads to exit (after close() or terminate())."""
        if self._state == RUN:
            raise ValueError("Pool is still running")
        elif self._state not in (CLOSE, TERMINATE):
            raise ValueError("In unknown state")
        for f in self._feeders:
            f.join()
        self._stop_handler()
        self._handler.join()
        for t in self._pool:
            t.join()

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.terminate()


def _work(tasks, terminated, initializer, initargs):
    """A worker thread: run tasks until a _STOP; after terminate(), fail them instead."""
    if initializer is not None:
        initializer(*initargs)
    get = tasks.get
    while True:
        task = get()
        if task is _STOP:
            return
        result, index, fn, star, chunked, body = task
        if terminated.is_set():
            result._set(index, False, _lost())
            continue
        try:
            if not chunked:
                value = fn(*body[0], **body[1])
            elif star:
                value = list(itertools.starmap(fn, body))
            else:
                value = list(map(fn, body))
            ok = True
        except Exception as e:
            ok, value = False, e
        result._set(index, ok, value)
        task = result = value = body = None


def _handle_tasks(taskqueue, tasks, lock, terminated, workers):
    """The task handler thread: move each submitted batch to the workers' queue (failing
    its tasks once the pool has terminated); at _STOP, queue one _STOP per worker."""
    while True:
        batch = taskqueue.get()
        if batch is _STOP:
            break
        for task in batch:
            _queue(tasks, lock, terminated, task)
        batch = task = None
    for _ in range(workers):
        tasks.put(_STOP)


def _queue(tasks, lock, terminated, task):
    """Queue *task* for the workers; once the pool has terminated, fail it instead (no
    worker would take it).  Return whether it was queued."""
    with lock:
        if not terminated.is_set():
            tasks.put(task)
            return True
    task[0]._set(task[1], False, _lost())
    return False


def _feed(tasks, lock, terminated, result, func, chunks):
    """An imap feeder thread: queue *chunks* as tasks until they run out or the pool
    terminates; then tell *result* how many there were."""
    i = -1
    try:
        for i, chunk in enumerate(chunks):
            if not _queue(tasks, lock, terminated, (result, i, func, False, True, chunk)):
                break
    except Exception as e:
        i += 1
        result._set(i, False, e)
    result._set_length(i + 1)


def _chunks(iterable, size):
    it = iter(iterable)
    while True:
        x = tuple(itertools.islice(it, size))
        if not x:
            return
        yield x


class ApplyResult(_pool.ApplyResult):
    """The result of `ThreadPool.apply_async()`: the process pool's, with outcomes pushed
    in by the worker threads (which run the callbacks, as stdlib's result handler does)."""

    def __init__(self, pool, callback, error_callback):
        super().__init__(pool, callback, error_callback)
        if self._event is None:
            self._event = threading.Event()

    def _watch(self):
        pass

    def _set(self, i, ok, value):
        self._success, self._value = ok, value
        self._deliver()

    def _deliver(self):
        self._done = True
        self._pool = None
        self._call_back()


AsyncResult = ApplyResult


class MapResult(ApplyResult):
    """The result of `ThreadPool.map_async()`."""

    def __init__(self, pool, chunksize, length, callback, error_callback):
        super().__init__(pool, callback, error_callback)
        self._success = True
        self._value = [None] * length
        self._chunksize = chunksize
        if chunksize <= 0:
            self._number_left = 0
            self._done = True
            self._event.set()
        else:
            self._number_left = length // chunksize + bool(length % chunksize)

    def _set(self, i, ok, value):
        with self._lock:
            self._number_left -= 1
            if ok and self._success:
                self._value[i * self._chunksize:(i + 1) * self._chunksize] = value
            elif not ok and self._success:
                self._success, self._value = False, value
            if self._number_left:
                return
        self._deliver()


class IMapIterator(_pool.IMapIterator):
    """The iterator `ThreadPool.imap()` returns (of chunks; see _Unwrap): the process
    pool's, with chunks pushed in by the worker threads."""

    def __init__(self, pool):
        super().__init__(pool)
        self._cond = threading.Condition(threading.Lock())
        self._ready = []            # chunks in the order next() hands them out
        self._index = 0             # chunks that reached _ready
        self._length = None         # chunks in all, once the feeder knows
        self._unsorted = {}

    def _more(self, timeout):
        with self._cond:
            if not self._cond.wait_for(lambda: self._ready or self._index == self._length,
                                       timeout):
                raise TimeoutError from None
            got, self._ready = self._ready, []
        return got or None

    def _end(self):
        self._pool = None

    def _push(self, ok, value):
        self._ready.append(value if ok else _Failed(_ERROR, value))
        self._index += 1

    def _set(self, i, ok, value):
        with self._cond:
            if self._index == i:
                self._push(ok, value)
                while self._index in self._unsorted:
                    self._push(*self._unsorted.pop(self._index))
                self._cond.notify_all()
            else:
                self._unsorted[i] = (ok, value)

    def _set_length(self, length):
        with self._cond:
            self._length = length
            self._cond.notify_all()


class IMapUnorderedIterator(IMapIterator):
    """The iterator `ThreadPool.imap_unordered()` returns."""

    def _set(self, i, ok, value):
        with self._cond:
            self._push(ok, value)
            self._cond.notify_all()


class _Unwrap:
    """imap with chunksize 1: each chunk is a one-item list; hand out the item, and let a
    failed item raise at its position while the iteration goes on, as stdlib does."""

    def __init__(self, it):
        self._it = it

    def __iter__(self):
        return self

    def next(self, timeout=None):
        return self._it.next(timeout)[0]

    __next__ = next


def Pool(processes=None, initializer=None, initargs=()):
    """A pool of threads with the process Pool's API."""
    return ThreadPool(processes, initializer, initargs)
