"""The machinery under ``gompx.pool``: its worker loop, the Go engine, result decoding.

``gompx/pool.py`` holds the public names, laid out like CPython's
``multiprocessing/pool.py``; this module holds what CPython does with handler threads
and pipes, done here with the Go core (``gompx/taskpool``): the worker's batched reads
and writes of its queues, taking results out of Go, and ``_Engine``, which starts and
replaces the worker processes (all at once for a Pool, on demand for gompx.futures'
executor) and runs the Pool's two helper threads.
"""

import array
import itertools
import os
import pickle
import struct
import threading
import time

from . import reduction
from . import util

__all__ = []  # internal: gompx.pool is the API

RUN = "RUN"
CLOSE = "CLOSE"
TERMINATE = "TERMINATE"

# How a worker calls the job's function on a task's payload (the job header carries it).
_APPLY, _MAP, _STARMAP, _CALL1 = range(4)

# Result statuses (gompx/taskpool.Status).
_OK, _ERROR, _LOST, _TERMINATED, _BROKEN = range(5)
# A result that came in but could not be unpickled here (Python's own: Go never sees it).
_UNPICKLABLE = 255

# The wire headers of gompx/taskpool: job, index, seq, worker id, header length or status.
_HEADER = struct.Struct("<QQQII")
_HEADER_LEN = _HEADER.size
_SLOT_SIZE = 64

# JobTake's modes, by the names of the core's constants (their values are read in _take:
# this module is imported where the Go runtime is not loaded, e.g. a fork server).
_TAKE_ORDERED, _TAKE_UNORDERED, _TAKE_OUTCOME = "TakeOrdered", "TakeUnordered", "TakeOutcome"
_TAKE_ORDERED_OK = "TakeOrderedOK"
_EVENT_REPLACE, _EVENT_EXITED, _EVENT_STOPPED = 1, 2, 3
_BYTES_OFFSET = bytes.__basicsize__ - 1  # where a bytes object's data starts
_sched_yield = getattr(os, "sched_yield", lambda: None)
_SPLIT_MIN = 16           # fewer bodies than this are pickled one by one
# A map whose chunks are at least this long streams: each chunk goes to Go as soon as it
# is pickled (the first worker starts while the parent pickles the rest), and the parent
# unpickles results as they come in (while the workers compute the next chunks) instead
# of all of them after the last.  A chunk this long costs more to pickle or unpickle
# than the call and the wake-up that streaming adds per chunk.
_STREAM_CHUNKSIZE = 256
_SUBMIT_BATCH = 1024      # tasks pickled and submitted per call
_FEED_AHEAD = 8 * _SUBMIT_BATCH  # imap tasks waiting in Go at most
# An idle worker polls its task queue this long (in short calls) before it sleeps: a
# sleeping worker costs each task a wake-up of its thread, which on a 2-CPU machine often
# lands it on the parent's CPU (measured: apply round trip 50-75 µs without, 18-26 µs
# with; stdlib 60-375 µs on the same machine).
_WORKER_POLL = 100e-6
_WORKER_SPIN_US = 10     # poll the task queue this long before sleeping (taskpool.WorkerReadSpin)
_TERMINATE_GRACE = 1.0    # seconds between SIGTERM and SIGKILL for workers


def _api():
    """gompx.pool, imported late: it imports this module."""
    from . import pool
    return pool


# --- pickling ----------------------------------------------------------------------------

def _dumps(obj):
    return bytes(reduction.ForkingPickler.dumps(obj))


def _dumps_exception(exc):
    """A pickled exception for a result; an exception that cannot be pickled travels
    as MaybeEncodingError, as stdlib's worker does for results."""
    try:
        return _dumps(exc)
    except Exception as e:
        return _dumps(_api().MaybeEncodingError(e, exc))


# --- the worker --------------------------------------------------------------------------

class _Board:
    """The pool's board (a memfd): each worker writes there which task it starts."""

    def __init__(self, fd, size):
        self.fd = fd
        self.size = size

    def __reduce__(self):
        return _rebuild_board, (reduction.DupFd(self.fd), self.size)


def _rebuild_board(dupfd, size):
    return _Board(dupfd.detach(), size)


class _Inbox:
    """A worker's task queue, read in batches into a scratch buffer."""

    _CAP = 1 << 20
    _MAX = 32  # a long task holds up at most this many taken with it
    # After a task this long, take one at a time: a task left in the queue can still go
    # to an idle worker (the pool takes it back), one taken into this buffer cannot.
    _LONG = 0.001

    def __init__(self, queue, native):
        import ctypes
        self.queue = queue
        self.get_many = native.ext.gompxcore_QueueGetMany
        self.abort = native.ext.gompxcore_QueueGetAbort
        self.native = native
        self.buf = bytearray(self._CAP)
        self.view = memoryview(self.buf)
        self._pin = (ctypes.c_char * self._CAP).from_buffer(self.buf)
        self.addr = ctypes.addressof(self._pin)
        self.lens = array.array("Q", bytes(8 * self._MAX))
        self.lens_addr = self.lens.buffer_info()[0]
        self.max = self._MAX

    def take(self):
        """Block for tasks; return (view, lens, count): the messages lie back to back in
        view, lens[i] >> 8 is the length of the i-th; valid until the next take()."""
        handle = self.queue._handle
        poll_until = None
        while True:
            wait = 0
            if poll_until is None:
                poll_until = time.monotonic() + _WORKER_POLL
            elif time.monotonic() < poll_until:
                # Polling, not waiting: a process that needs this CPU (the parent, on
                # a busy machine) gets it first.
                _sched_yield()
            else:
                wait = -1
            r = self.native.call(self.get_many, handle, self.addr, self._CAP, self.lens_addr,
                                 self.max, wait)
            if r >= 0:
                return self.view, self.lens, r & 0xFFFFFFFF
            if r <= self.native.QUEUE_HELD_BASE:  # longer than the buffer: the queue reads it
                self.abort(handle)
                big = self.queue.get()
                return memoryview(big), [len(big) << 8], 1
            # no message yet, or one torn by a dead producer: get again


class _Outbox:
    """The result queue, written a batch at a time."""

    def __init__(self, queue, native):
        self.queue = queue
        self.put_batch = native.ext.gompxcore_QueuePutBatch
        self.call = native.call
        self.parts = []
        self.lens = array.array("Q")

    def add(self, head, payload):
        self.parts.append(head)
        self.parts.append(payload)
        self.lens.append(len(head) + len(payload))

    def flush(self):
        if not self.lens:
            return
        data = b"".join(self.parts)
        self.call(self.put_batch, self.queue._handle, id(data) + _BYTES_OFFSET,
                  self.lens.buffer_info()[0], len(self.lens), 1, -1)
        del self.parts[:]
        del self.lens[:]


def _serve(tasks, results, board, slot, maxtasks, wrap_exception, strict=False):
    """A worker process's life after its initializer: see gompx.pool.worker()."""
    import mmap
    from . import _native
    ext = _native.ext
    _native.call(ext.gompxcore_QueueSetReadSpin, tasks._handle, _WORKER_SPIN_US)
    mem = mmap.mmap(board.fd, board.size)
    started = memoryview(mem).cast("Q")
    try:
        _work(_Inbox(tasks, _native), _Outbox(results, _native), started,
              slot * _SLOT_SIZE // 8, maxtasks, wrap_exception, strict)
    finally:
        started.release()
        mem.close()


def _work(inbox, outbox, started, at, maxtasks, wrap_exception, strict=False):
    """Run tasks until the stop message or *maxtasks*; see gompx.pool.worker().

    *strict* applies concurrent.futures' rules instead of multiprocessing.pool's: a call
    that raises any BaseException (SystemExit included) answers with it; a result that
    cannot be pickled answers with the pickling error itself (not MaybeEncodingError);
    a task that cannot be unpickled ends the worker, as it does stdlib's.

    Everything the loop touches per task is a local: this is the per-task cost of a
    pool of tiny tasks."""
    api = _api()
    catch = BaseException if strict else Exception
    ExceptionWithTraceback, MaybeEncodingError = api.ExceptionWithTraceback, api.MaybeEncodingError
    loads, dumps, protocol = pickle.loads, pickle.dumps, reduction.PROTOCOL
    extra = reduction.ForkingPickler._extra_reducers
    unpack, pack = _HEADER.unpack_from, _HEADER.pack
    monotonic = time.monotonic
    OK, ERROR, CALL1, APPLY, MAP, HLEN = _OK, _ERROR, _CALL1, _APPLY, _MAP, _HEADER_LEN
    add_part, add_len, flush = outbox.parts.append, outbox.lens.append, outbox.flush
    starmap = itertools.starmap
    job_seen, fn, mode = None, None, None
    completed = 0
    long_task, one, many = inbox._LONG, 1, inbox._MAX
    while maxtasks is None or completed < maxtasks:
        view, lens, count = inbox.take()
        last = count - 1
        end = 0
        batch_start = None
        task_start = monotonic()
        for k in range(count):
            off = end
            end = off + (lens[k] >> 8)
            job, index, seq, wid, hlen = unpack(view, off)
            if not job:
                flush()
                return
            body_at = off + HLEN + hlen
            try:
                if job != job_seen:
                    job_seen = None
                    fn, mode = loads(view[off + HLEN:body_at])
                    job_seen = job
                body = loads(view[body_at:end])
            except Exception as e:
                if strict:
                    flush()  # what this worker finished is delivered before it dies
                    raise
                status, result = ERROR, e
            else:
                started[at] = seq
                try:
                    if mode == CALL1:
                        result = fn(body)
                    elif mode == APPLY:
                        result = fn(*body[0], **body[1])
                    elif mode == MAP:
                        result = list(map(fn, body))
                    else:
                        result = list(starmap(fn, body))
                    status = OK
                except catch as e:
                    status, result = ERROR, e
            if status == ERROR and wrap_exception:
                result = ExceptionWithTraceback(result, result.__traceback__)
            try:
                payload = dumps(result, protocol) if not extra else _dumps(result)
            except catch:
                # Something plain pickle refuses (a socket) or that cannot be pickled.
                try:
                    payload = bytes(reduction.ForkingPickler.dumps_full(result))
                except catch as e:
                    status = ERROR
                    if strict:
                        error = ExceptionWithTraceback(e, e.__traceback__) if wrap_exception else e
                    else:
                        error = MaybeEncodingError(e, result)
                    payload = _dumps_exception(error)
            result = body = None
            add_part(pack(job, index, seq, wid, status))
            add_part(payload)
            add_len(HLEN + len(payload))
            completed += 1
            now = monotonic()
            inbox.max = one if now - task_start > long_task else many
            task_start = now
            if batch_start is None:
                batch_start = now
            if k == last or now - batch_start > 0.0005:
                flush()
                batch_start = None
            if completed == maxtasks:
                break
        view = None
    flush()


# --- taking results out of Go ------------------------------------------------------------

class _TakeBuffer(threading.local):
    """Per-thread memory Go copies results into."""

    def __init__(self):
        self.grow(256 * 1024)
        self.lens = array.array("Q", bytes(16 * 4096))
        self.max = 4096
        self.lens_addr = self.lens.buffer_info()[0]

    def grow(self, size):
        import ctypes
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        self._pin = (ctypes.c_char * size).from_buffer(self.buf)
        self.addr = ctypes.addressof(self._pin)


_buffers = _TakeBuffer()


def _take(job, mode, timeout):
    """Take results of *job* (see _decode); [] on timeout, None once every result was
    taken, False when _TAKE_ORDERED_OK found a failure next (it takes none)."""
    from . import _native
    take, mode, n = _native.ext.gompxcore_JobTake, _native.constant(mode), _native
    buf = _buffers
    while True:
        r = n.wait_interruptible(n.attempt(take, job, mode, buf.addr, len(buf.buf), buf.lens_addr,
                                           buf.max, pending=n.JOB_TIMED_OUT), timeout)
        if r is None:
            return []
        if r == n.JOB_EXHAUSTED:
            return None
        if r <= n.JOB_NEED_ROOM:
            buf.grow(max(n.JOB_NEED_ROOM - r, 2 * len(buf.buf)))
            timeout = 0
            continue
        if r == 0:
            return False
        return _decode(r, buf, n.JOB_SPLICED)


class _Values:
    """Results that all succeeded, in the order taken (a spliced batch)."""

    __slots__ = ("first", "values")

    def __init__(self, first, values):
        self.first, self.values = first, values


class _Failed:
    """A failed task's outcome among the values of an imap iterator."""

    __slots__ = ("status", "value")

    def __init__(self, status, value):
        self.status, self.value = status, value

    def exception(self, engine):
        if self.status in (_ERROR, _UNPICKLABLE):
            return self.value
        return engine.on_lost(self.status, self.value)


def _decode(r, buf, spliced):
    """The results JobTake left in *buf*: a _Values when Go joined them into one pickle,
    else a list of values with failures as _Failed.  A result that cannot be unpickled
    here is a _Failed of status _UNPICKLABLE holding what unpickling raised (anything,
    SystemExit included: it must not take the reading thread down)."""
    lens, view = buf.lens, buf.view
    if r & spliced:
        try:
            return _Values(lens[0] >> 8, pickle.loads(view[:lens[1]]))
        except BaseException as e:
            # One pickle of them all: the batch fails as a whole.
            return [_Failed(_UNPICKLABLE, e)] * (r & (spliced - 1))
    out = []
    at = 0
    loads = pickle.loads
    for k in range(r):
        code, n = lens[2 * k], lens[2 * k + 1]
        status = code & 0xFF
        data = view[at:at + n]
        at += n
        if status == _OK:
            try:
                out.append(loads(data))
            except BaseException as e:
                out.append(_Failed(_UNPICKLABLE, e))
        elif status == _ERROR:
            try:
                out.append(_Failed(_ERROR, loads(data)))
            except BaseException as e:
                exc = _api().MaybeEncodingError(e, bytes(data))
                exc.__cause__ = e
                out.append(_Failed(_UNPICKLABLE, exc))
        else:
            out.append(_Failed(status, bytes(data).decode("utf-8", "replace")))
    return out


class _Engine:
    """What the pool's threads and finalizer need: the Go pool, the workers, the state.

    Kept apart from ``Pool`` so that the threads do not keep the Pool object alive: a
    pool dropped without close() is terminated by its finalizer, as in stdlib.
    """

    def __init__(self, ctx, processes, initializer, initargs, maxtasks, wrap_exception,
                 break_on_death, make_process, *, on_demand=False, worker=None):
        """*on_demand*: start workers as tasks need them (adjust()), as CPython's executor
        does, rather than all at once (start_workers()); *worker*: the function a worker
        process runs, with gompx.pool.worker's arguments (default: that one)."""
        from . import _native
        from .queues import Queue
        self.native = _native
        self.ext = _native.ext
        self.ctx = ctx
        self.size = processes
        self.initializer = initializer
        self.initargs = initargs
        self.maxtasks = maxtasks
        self.wrap_exception = wrap_exception
        self.make_process = make_process
        self.on_demand = on_demand
        self.worker = worker
        self.state = RUN
        self.lock = threading.RLock()
        self.replaced = threading.Condition(self.lock)  # notified as a worker is added
        self.cache = {}
        self.results = Queue(ctx=ctx)
        new = self.ext.gompxcore_PoolNewOnDemand if on_demand else self.ext.gompxcore_PoolNew
        self.handle = _native.call(new, self.results._handle, processes, maxtasks or 0,
                                   break_on_death)
        self.board = _Board(_native.call(self.ext.gompxcore_PoolBoardFd, self.handle),
                            processes * _SLOT_SIZE)
        self.pool = [None] * processes
        self.task_queues = [None] * processes
        self.handler = None
        self.callbacks = None
        self.freed = False

    def on_lost(self, status, text):
        """The exception for a task no worker answered (status _LOST, _TERMINATED or
        _BROKEN; *text* says why)."""
        return _api().WorkerLostError(text)

    # workers

    def start_workers(self):
        started = []
        try:
            for slot in range(self.size):
                started.append((slot,) + self.launch_worker(slot))
        except BaseException:
            # As in CPython: when one worker cannot start, none is left running.
            for _, w, _ in started:
                if w.exitcode is None:
                    w.terminate()
            for _, w, tasks in started:
                w.join()
                tasks.close()
            raise
        with self.lock:
            for slot, w, tasks in started:
                self.add_worker(slot, w, tasks)
        self.handler = threading.Thread(target=self.handle_workers, daemon=True,
                                        name="gompx-pool-workers")
        self.handler.start()

    def launch_worker(self, slot):
        """Start the worker of *slot* and its task queue; return (process, queue)."""
        from .queues import Queue
        tasks = Queue(ctx=self.ctx)
        args = (tasks, self.results, self.board, slot, self.initializer, self.initargs,
                self.maxtasks, self.wrap_exception)
        if self.worker is None:
            w = self.make_process(target=_api().worker, args=args)
            w.name = w.name.replace("Process", "PoolWorker")
            w.daemon = True
        else:
            # CPython's executor names its workers as any process, and leaves them
            # non-daemonic: a task may start processes of its own.
            w = self.make_process(target=self.worker, args=args)
        try:
            w.start()
        except BaseException:
            tasks.close()
            raise
        return w, tasks

    def add_worker(self, slot, w, tasks):
        """Hand a started worker to the core as the worker of *slot* (lock held)."""
        popen = w._popen
        proc = getattr(popen, "_handle", None) or 0
        sentinel = popen.sentinel if not proc else -1
        self.native.call(self.ext.gompxcore_PoolAddWorker, self.handle, slot, w.pid,
                         tasks._handle, proc, sentinel)
        old = self.task_queues[slot]
        self.pool[slot], self.task_queues[slot] = w, tasks
        if old is not None:
            old.close()
        util.debug("added worker")
        self.replaced.notify_all()

    def start_worker(self, slot):
        with self.lock:
            self.add_worker(slot, *self.launch_worker(slot))

    def adjust(self):
        """For a call just submitted to an on-demand pool: start a worker unless an idle
        one is reused (the core decides, as CPython's executor does; see
        taskpool.Pool.Reserve).  A worker that cannot be started frees its slot, and the
        error propagates."""
        if self.state == TERMINATE:
            return
        slot = self.native.call(self.ext.gompxcore_PoolReserve, self.handle)
        if slot < 0:
            return
        try:
            self.start_worker(slot)
        except BaseException:
            self.native.call(self.ext.gompxcore_PoolUnreserve, self.handle, slot)
            raise

    def reap(self, slot, pid, replaced):
        """Join the worker *pid* of *slot*, which exited.  An on-demand pool forgets a
        worker that is not *replaced*: its slot stays empty until work needs it."""
        with self.lock:
            old = self.pool[slot]
            if old is None or old.pid != pid:
                return
            old.join(_TERMINATE_GRACE)
            if self.on_demand and not replaced and old.exitcode is not None:
                self.pool[slot] = None
                tasks, self.task_queues[slot] = self.task_queues[slot], None
                if tasks is not None:
                    tasks.close()

    def repopulate(self):
        """Wait until every worker that exited has been replaced.  The worker handler
        thread starts replacements as soon as the core reports an exit; CPython's
        _repopulate_pool starts them in the calling thread instead."""
        with self.replaced:
            while (self.state == RUN and not self.freed
                   and any(w is None or w.exitcode is not None for w in self.pool)):
                if self.native.call(self.ext.gompxcore_PoolBroken, self.handle):
                    return  # a broken pool replaces nobody
                self.replaced.wait(0.05)

    def handle_workers(self):
        """The worker handler thread: reap workers that exited, start replacements."""
        event = array.array("q", bytes(32))
        addr = event.buffer_info()[0]
        next_event = self.ext.gompxcore_PoolNextEvent
        while True:
            try:
                kind = next_event(self.handle, addr, -1)
            except RuntimeError:
                return  # the pool was freed
            if kind == _EVENT_STOPPED:
                self.kill_if_broken()
                return
            slot = event[1]
            with self.lock:
                old = self.pool[slot]
                if old is not None and old.pid == event[2]:
                    old.join(_TERMINATE_GRACE)
                if kind != _EVENT_REPLACE or self.state == TERMINATE:
                    continue
                try:
                    self.start_worker(slot)
                except Exception as e:
                    self.native.call(self.ext.gompxcore_PoolBreak, self.handle,
                                     "could not start a replacement worker: %r" % (e,))
                    return

    def kill_if_broken(self):
        """A broken pool (a worker died under an executor, or workers keep dying before
        their first task) dispatches nothing more: its workers have nothing to do."""
        try:
            broken = self.native.call(self.ext.gompxcore_PoolBroken, self.handle)
        except OSError:
            return
        if broken:
            with self.lock:
                for w in self.pool:
                    if w is not None and w.exitcode is None:
                        w.terminate()

    # callbacks

    def watch(self, result):
        """Have the callback thread finish *result* (and run its callbacks)."""
        self.cache[result._job] = result
        if self.callbacks is None:
            with self.lock:
                if self.callbacks is None:
                    self.callbacks = threading.Thread(target=self.handle_callbacks,
                                                      daemon=True, name="gompx-pool-results")
                    self.callbacks.start()

    def handle_callbacks(self):
        """The result handler thread: runs callbacks of finished jobs, in finishing order."""
        next_finished = self.ext.gompxcore_PoolNextFinished
        while True:
            try:
                job = next_finished(self.handle, -1)
            except RuntimeError:
                return
            if job == 0:
                return  # the pool stopped and every finished job was handed out
            result = self.cache.pop(job, None)
            if result is not None:
                result._call_back()
            # Not kept while blocked for the next job: through its callbacks it may hold
            # the object that owns this pool (an executor), which would never be freed.
            result = None

    # ending

    def close(self):
        with self.lock:
            if self.state == RUN:
                self.state = CLOSE
                self.native.call(self.ext.gompxcore_PoolClose, self.handle)

    def terminate(self):
        """Fail unfinished tasks, kill the workers, wait for them and the threads."""
        with self.lock:
            if self.freed:
                return
            self.state = TERMINATE
            self.native.call(self.ext.gompxcore_PoolTerminate, self.handle)
            workers = [w for w in self.pool if w is not None]
        for w in workers:
            if w.exitcode is None:
                w.terminate()
        deadline = time.monotonic() + _TERMINATE_GRACE
        for w in workers:
            w.join(max(0, deadline - time.monotonic()))
            if w.exitcode is None:
                w.kill()
                w.join()
        self.free()

    def join(self):
        """Wait for the threads and the workers (after close or terminate)."""
        current = threading.current_thread()
        for t in (self.handler, self.callbacks):
            if t is not None and t is not current:
                while t.is_alive():
                    t.join(0.05)
        for w in self.pool:
            if w is not None:
                w.join()
        self.free()

    def free(self):
        with self.lock:
            if self.freed:
                return
            self.freed = True
        current = threading.current_thread()
        for t in (self.handler, self.callbacks):
            if t is not None and t is not current:
                # Both return once the Go pool reports it stopped (terminate did).
                t.join(5)
        self.native.call(self.ext.gompxcore_PoolFree, self.handle)
        for q in self.task_queues:
            if q is not None:
                q.close()
        self.results.close()
