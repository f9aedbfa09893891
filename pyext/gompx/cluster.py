"""Pools whose tasks run on ``gompx worker`` machines through a NATS JetStream cluster.

``gompx.Pool(processes, cluster="nats://h1:4222,h2:4222")`` (or the ``GOMPX_CLUSTER``
environment variable) returns a ``ClusterPool``: the methods of ``multiprocessing.Pool``
(``map``, ``imap``, ``imap_unordered``, ``starmap``, ``apply_async`` ... with chunksize,
callbacks and ``error_callback``; ``close``/``terminate``/``join``), with every chunk of
tasks published to the cluster and run by whichever worker takes it.  ``cluster="local"``
starts a private server on 127.0.0.1 and ``processes`` local worker processes, and stops
them with the pool.

The rules (acknowledgements, redelivery, once-only results, HMAC, expiry) are the Go
core's (``gompx/cluster``; ``docs/design.md``, "Past one machine"); this module pickles
chunks and unpickles outcomes.  Functions travel by reference: a worker imports the
function's module by name, so it must be importable there (not ``__main__``).  Tasks run
at least once (a worker machine that dies mid-chunk has it run again elsewhere), and
each result counts once: make tasks idempotent.

Outcomes: a task's exception is raised with the worker's traceback as its
``__cause__``; a worker process that dies running a chunk, or a chunk delivered 3 times
without an answer, raises ``gompx.pool.WorkerLostError``; a worker with another authkey
raises ``AuthenticationError``; a worker that cannot run the chunk at all raises
``ClusterError``.
"""

import binascii
import concurrent.futures as _futures
import itertools
import json
import os
import pickle
import sys
import threading
import time

from . import pool as _pool
from ._clusterqueue import cluster_authkey
from ._poolcore import _ERROR, _Failed
from .context import AuthenticationError, TimeoutError

__all__ = ["ClusterPool", "ClusterExecutor", "ClusterError", "command_path"]

# ClusterTake's results (gompxcore.Cluster*), read from the core when it is first loaded.
_PENDING = _END = _OK = _LOST = _AUTH = None
_RUN, _CLOSE, _TERMINATE = "RUN", "CLOSE", "TERMINATE"
_CREDENTIALS = ("user", "password", "token", "nkey", "creds", "tls_ca", "tls_cert", "tls_key")


class ClusterError(OSError):
    """A worker could not run a chunk (its body was lost, its Python lacks gompx), or
    the task could not be published."""


def command_path():
    """Path of the ``gompx`` command installed with this package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "gompx")


def _native():
    global _PENDING, _END, _OK, _LOST, _AUTH
    from . import _native as native
    if _END is None:
        c = native.constant
        _PENDING, _END, _OK = c("ClusterPending"), c("ClusterEnd"), c("ClusterOK")
        _LOST, _AUTH = c("ClusterLost"), c("ClusterAuth")
    return native


def _positive_ms(name, seconds):
    if not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ValueError("%s must be a positive number of seconds" % name)
    return max(1, int(seconds * 1000))


def _function_name(func):
    module = getattr(func, "__module__", None)
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    return "%s:%s" % (module, name)


class ClusterPool:
    """A pool whose workers are ``gompx worker`` processes reached through NATS."""

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None,
                 context=None, *, cluster, authkey=None, insecure=False, replicas=1,
                 ack_wait=None, connect_timeout=30.0, reconnect_timeout=None, **credentials):
        # maxtasksperchild: a worker process retires after that many of this pool's
        # chunks (counted per pool on each worker machine, where the processes serve
        # every pool; a chunk counts as one task, as in stdlib).
        if maxtasksperchild is not None:
            if not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0:
                raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if getattr(initializer, "__module__", None) == "__main__":
            raise ValueError("%s is defined in __main__, which cluster workers cannot import: "
                             "move it to a module importable on every worker machine"
                             % _function_name(initializer))
        unknown = set(credentials) - set(_CREDENTIALS)
        if unknown:
            raise TypeError("unexpected keyword arguments: %s" % ", ".join(sorted(unknown)))
        if processes is not None and processes < 1:
            raise ValueError("Number of processes must be at least 1")
        self._processes = processes or os.cpu_count() or 1
        self._state = _RUN
        self._local = None
        self._handle = None
        self._lock = threading.Lock()
        self._jobs = set()          # jobs not yet finished, for join()
        self._watched = {}          # job -> result with callbacks
        self._handler = None
        native = _native()
        key = cluster_authkey(authkey, cluster == "local",
                              "a cluster pool needs the authkey its workers have")
        url = cluster
        if cluster == "local":
            self._local, url = self._start_local(key, ack_wait)
        spec = {"url": url, "authkey": binascii.hexlify(key).decode(), "insecure": bool(insecure),
                "replicas": int(replicas), "connect_timeout_ms": int(connect_timeout * 1000)}
        if ack_wait is not None:
            spec["ack_wait_ms"] = int(ack_wait * 1000)
        if reconnect_timeout is not None:  # how long a lost connection is retried
            spec["reconnect_ms"] = _positive_ms("reconnect_timeout", reconnect_timeout)
        if maxtasksperchild is not None:
            spec["max_tasks_per_worker"] = maxtasksperchild
        spec.update((k, str(v)) for k, v in credentials.items() if v is not None)
        try:
            self._handle = native.call(native.ext.gompxcore_ClusterConnect, json.dumps(spec))
        except BaseException:
            self._stop_local()
            raise
        self._url = url
        # Run once per pool in each worker process that runs its tasks, before the first.
        self._init = None
        if initializer is not None:
            self._init = (native.call(native.ext.gompxcore_ClusterID, self._handle),
                          initializer, tuple(initargs))

    def _start_local(self, key, ack_wait):
        native = _native()
        command = command_path()
        if not os.path.exists(command):
            raise FileNotFoundError("the gompx command is not installed at %s" % command)
        env = dict(os.environ)
        path = [p for p in sys.path if p]
        if env.get("PYTHONPATH"):
            path.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(path)
        spec = {"command": command, "python": sys.executable, "processes": self._processes,
                "authkey": binascii.hexlify(key).decode(), "dir": os.getcwd(),
                "env": ["%s=%s" % kv for kv in env.items()]}
        if ack_wait is not None:
            spec["ack_wait_ms"] = int(ack_wait * 1000)
        handle = native.call(native.ext.gompxcore_ClusterLocalStart, json.dumps(spec))
        return handle, native.call(native.ext.gompxcore_ClusterLocalURL, handle)

    def _stop_local(self):
        local, self._local = self._local, None
        if local is not None:
            native = _native()
            native.call(native.ext.gompxcore_ClusterLocalStop, local, 5000)

    def __repr__(self):
        return "<%s state=%s pool_size=%d cluster=%s>" % (type(self).__name__, self._state,
                                                          self._processes, self._url)

    def __reduce__(self):
        raise NotImplementedError("pool objects cannot be passed between processes or pickled")

    # -- submitting ------------------------------------------------------------------

    def _check_running(self):
        if self._state != _RUN:
            raise ValueError("Pool not running")

    def _new_job(self):
        native = _native()
        job = native.call(native.ext.gompxcore_ClusterNewJob, self._handle)
        with self._lock:
            self._jobs.add(job)
        return job

    @staticmethod
    def _check_importable(func):
        if getattr(func, "__module__", None) == "__main__":
            raise ValueError("%s is defined in __main__, which cluster workers cannot import: "
                             "move it to a module importable on every worker machine"
                             % _function_name(func))

    def _submit_all(self, job, result, func, chunks, mode):
        """Submit the chunks; the number submitted.  A chunk that cannot be pickled (or
        published) fails the result with that error, as stdlib's task handler does,
        instead of raising here: the chunks before it are dropped with the job."""
        n = 0
        try:
            for calls in chunks:
                self._submit(job, n, func, calls, mode)
                n += 1
        except Exception as e:
            result._submit_error = e
        return n

    def _submit(self, job, index, func, calls, mode):
        body = pickle.dumps((func, calls, mode, self._init), 5)
        native = _native()
        native.call(native.ext.gompxcore_ClusterSubmit, self._handle, job, index,
                    _function_name(func), native.bytes_address(body), len(body))

    def _finish_submit(self, job, n, watch):
        native = _native()
        if watch is not None:  # watched before its length is known: it cannot finish unseen
            with self._lock:
                self._watched[job] = watch
                if self._handler is None:
                    self._handler = threading.Thread(target=self._handle_callbacks,
                                                     name="gompx-cluster-callbacks", daemon=True)
                    self._handler.start()
            native.call(native.ext.gompxcore_ClusterWatch, self._handle, job)
        native.call(native.ext.gompxcore_ClusterSetLength, self._handle, job, n)

    def _chunks(self, iterable, chunksize):
        items = list(iterable)
        if chunksize is None:
            chunksize, extra = divmod(len(items), self._processes * 4)
            if extra:
                chunksize += 1
        if chunksize < 1 and items:
            raise ValueError("Chunksize must be 1+, not {0:n}".format(chunksize))
        return ([items[i:i + chunksize] for i in range(0, len(items), max(chunksize, 1))],
                chunksize)

    def apply(self, func, args=(), kwds={}):
        """Call func(*args, **kwds) on a worker and return its result."""
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        """Asynchronous apply: returns an ApplyResult."""
        return self._apply_async(func, args, kwds, callback, error_callback, "apply")

    def _apply_async(self, func, args, kwds, callback, error_callback, mode):
        # mode "call" is the executor's: a result that cannot be pickled fails with the
        # pickling error itself, as concurrent.futures' does (the pool's, "apply", with
        # MaybeEncodingError).
        self._check_running()
        self._check_importable(func)
        job = self._new_job()
        result = ApplyResult(self, job, callback, error_callback)
        n = self._submit_all(job, result, func, [[(tuple(args), dict(kwds))]], mode)
        self._finish_submit(job, n, result if result._event is not None else None)
        return result

    def map(self, func, iterable, chunksize=None):
        """Apply func to each item; results in order."""
        return self.map_async(func, iterable, chunksize).get()

    def starmap(self, func, iterable, chunksize=None):
        """func(*args) for each args of iterable; results in order."""
        return self.starmap_async(func, iterable, chunksize).get()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self._map_async(func, iterable, "map", chunksize, callback, error_callback)

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self._map_async(func, iterable, "star", chunksize, callback, error_callback)

    def _map_async(self, func, iterable, mode, chunksize, callback, error_callback):
        self._check_running()
        self._check_importable(func)
        chunks, chunksize = self._chunks(iterable, chunksize)
        job = self._new_job()
        result = MapResult(self, job, callback, error_callback)
        result._chunksize = chunksize
        n = self._submit_all(job, result, func, chunks, mode)
        self._finish_submit(job, n, result if result._event is not None else None)
        return result

    def imap(self, func, iterable, chunksize=1):
        """Like map, lazily: results in order as they come."""
        return self._imap(IMapIterator, func, iterable, chunksize)

    def imap_unordered(self, func, iterable, chunksize=1):
        """Like imap, in the order results come."""
        return self._imap(IMapUnorderedIterator, func, iterable, chunksize)

    def _imap(self, cls, func, iterable, chunksize):
        self._check_running()
        if chunksize < 1:
            raise ValueError("Chunksize must be 1+, not {0:n}".format(chunksize))
        self._check_importable(func)
        job = self._new_job()
        it = cls(self, job)
        threading.Thread(target=self._feed, args=(it, job, func, iter(iterable), chunksize),
                         name="gompx-cluster-feeder", daemon=True).start()
        return it

    def _feed(self, it, job, func, iterator, chunksize):
        n = 0
        try:
            while True:
                chunk = list(itertools.islice(iterator, chunksize))
                if not chunk:
                    break
                self._submit(job, n, func, chunk, "map")
                n += 1
        except BaseException as e:
            it._feed_error = e
        try:
            self._finish_submit(job, n, None)
        except Exception:
            pass

    # -- results ---------------------------------------------------------------------

    def _take(self, job, ordered, timeout):
        """(chunk, success, value) of the job's next result; None if none came in time;
        _END when every result was taken."""
        native = _native()
        take = native.ext.gompxcore_ClusterTake
        handle = self._handle

        packed = native.wait_sliced(native.attempt(take, handle, job, ordered, pending=_PENDING),
                                    timeout)
        if packed is None or packed == _END:
            return packed
        status, size = packed & 7, packed >> 3
        from .connection import _new_bytes
        body = _new_bytes(size)
        chunk = native.call(native.ext.gompxcore_ClusterFill, handle, job,
                            native.bytes_address(body), size)
        if status == _OK:
            try:
                success, value = pickle.loads(body)
            except BaseException as e:  # SystemExit too: the task's outcome, as _poolcore's
                return chunk, False, e
            return chunk, success, value
        message = body.decode("utf-8", "replace")
        if status == _LOST:
            from .pool import WorkerLostError
            return chunk, False, WorkerLostError(message)
        if status == _AUTH:
            return chunk, False, AuthenticationError(message)
        return chunk, False, ClusterError(message)

    def _job_done(self, job):
        native = _native()
        native.call(native.ext.gompxcore_ClusterDropJob, self._handle, job)
        with self._lock:
            self._jobs.discard(job)

    def _handle_callbacks(self):
        native = _native()
        while True:
            try:
                job = native.call(native.ext.gompxcore_ClusterNextCompleted, self._handle, 1000)
            except (ValueError, OSError):
                job = None
            if job is None:
                with self._lock:
                    watched = list(self._watched.values())
                    self._watched.clear()
                for result in watched:  # closed or terminated: finish what is in
                    result._call_back()
                return
            if job < 0:
                continue
            with self._lock:
                result = self._watched.pop(job, None)
            if result is not None:
                result._call_back()

    # -- ending ----------------------------------------------------------------------

    def close(self):
        """No more tasks; join() then waits for the submitted ones."""
        if self._state == _RUN:
            self._state = _CLOSE

    def terminate(self):
        """Fail every unfinished task (WorkerLostError), drop the pool's queued tasks,
        disconnect, and stop a local cluster."""
        if self._state == _TERMINATE or self._handle is None:
            return
        self._state = _TERMINATE
        try:
            self._close_caller(True)
        finally:
            self._join_handler()
            self._stop_local()

    def join(self):
        """Wait for every submitted task, then disconnect (and stop a local cluster)."""
        if self._state == _RUN:
            raise ValueError("Pool is still running")
        if self._state == _CLOSE:
            native = _native()
            with self._lock:
                jobs = list(self._jobs)
            for job in jobs:
                while True:
                    try:
                        if native.call(native.ext.gompxcore_ClusterDone, self._handle, job):
                            break
                    except (ValueError, OSError):  # taken and dropped meanwhile
                        break
                    time.sleep(0.02)
            self._wait_callbacks()
            self._close_caller(False)
            self._state = _TERMINATE
        self._join_handler()
        self._stop_local()

    def _close_caller(self, terminate):
        """Stop taking results; delete the pool's consumer and unrun tasks.  A cluster that
        cannot do the deleting now (a node lost, leaders being elected) gets a warning:
        the server expires both anyway (docs/design.md, "Caller death")."""
        native = _native()
        try:
            native.call(native.ext.gompxcore_ClusterClose, self._handle, terminate)
        except (OSError, TimeoutError) as e:
            import warnings
            warnings.warn("gompx: the cluster did not clean up after the pool (%s); its "
                          "consumer and unrun tasks expire on their own" % e, RuntimeWarning,
                          stacklevel=3)

    def _wait_callbacks(self):
        import time
        while True:
            with self._lock:
                if not self._watched:
                    return
            time.sleep(0.01)

    def _join_handler(self):
        handler = self._handler
        if handler is not None and handler is not threading.current_thread():
            handler.join()

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.terminate()

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle is None:
            return
        try:
            if self._state == _RUN:
                import warnings  # as stdlib's Pool.__del__
                warnings.warn(f"unclosed running multiprocessing pool {self!r}", ResourceWarning,
                              source=self)
                self.terminate()
            _native().ext.gompxcore_ClusterRelease(handle)
        except Exception:
            pass


class ApplyResult(_pool.ApplyResult):
    """The result of ``ClusterPool.apply_async()``: the process pool's, with the outcome
    taken from the cluster client (the pool's callback thread runs the callbacks)."""

    def __init__(self, pool, job, callback, error_callback):
        super().__init__(pool, callback, error_callback, job)

    def _watch(self):
        pass

    def _poll_job(self):
        native = _native()
        try:
            return native.call(native.ext.gompxcore_ClusterDone, self._pool._handle, self._job)
        except ValueError:
            return True

    def _block(self, timeout):
        self._finish(timeout)

    _submit_error = None

    def _poll(self):
        if self._submit_error is not None:
            return True
        return self._poll_job()

    def _collect(self, timeout):
        if self._submit_error is not None:
            return False, self._submit_error
        got = self._pool._take(self._job, True, timeout)
        if got is None:
            return None
        if got == _END:
            return False, _pool.WorkerLostError("the pool was terminated")
        _, success, value = got
        return (True, value[0]) if success else (False, value)

    def _release(self):
        self._pool._job_done(self._job)

    def _abandon(self):
        pass


AsyncResult = ApplyResult


class MapResult(ApplyResult):
    """The result of ``map_async()`` and ``starmap_async()``: chunks in order."""

    def _collect(self, timeout):
        if self._submit_error is not None:
            return False, self._submit_error
        deadline = None if timeout is None else time.monotonic() + timeout
        values = getattr(self, "_partial", None)
        if values is None:
            values = self._partial = []
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            got = self._pool._take(self._job, True, left)
            if got is None:
                return None
            if got == _END:
                return True, values
            _, success, value = got
            if not success:
                return False, value
            values.extend(value)


class IMapIterator(_pool.IMapIterator):
    """The iterator ``ClusterPool.imap()`` returns: the process pool's, with chunks
    taken from the cluster client."""

    _ordered = True

    def __init__(self, pool, job):
        super().__init__(pool, job)
        self._feed_error = None

    def _more(self, timeout):
        got = self._pool._take(self._job, self._ordered, timeout)
        if got is None:
            raise TimeoutError
        if got == _END:
            return None
        _, success, value = got
        return value if success else [_Failed(_ERROR, value)]

    def _end(self):
        self._pool._job_done(self._job)
        self._job = None
        if self._feed_error is not None:
            raise self._feed_error


class IMapUnorderedIterator(IMapIterator):
    """The iterator ``ClusterPool.imap_unordered()`` returns."""

    _ordered = False


# Executors not shut down yet: at interpreter exit each finishes its submitted calls,
# as concurrent.futures' executors do (their manager threads are joined then).
_live_executors = __import__("weakref").WeakSet()


def _python_exit():
    for executor in list(_live_executors):
        try:
            executor.shutdown(wait=True)
        except Exception:
            pass


threading._register_atexit(_python_exit)


class ClusterExecutor(_futures.Executor):
    """``concurrent.futures`` on a cluster: what ``gompx.futures.ProcessPoolExecutor(
    cluster=...)`` (or with ``GOMPX_CLUSTER`` set) returns.

    Each ``submit`` is one chunk; ``map`` sends ``chunksize`` calls per chunk.  A call
    counts as running once submitted, so ``cancel()`` fails.  A worker process that dies
    fails its call with ``WorkerLostError``; the executor does not break (stdlib's
    ``BrokenProcessPool``), since other machines' workers run on.
    ``shutdown(cancel_futures=True)`` fails unfinished calls with ``WorkerLostError``.
    """

    def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=(), *,
                 max_tasks_per_child=None, cluster, **options):
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            if max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
        self._pool = ClusterPool(max_workers, initializer, initargs, max_tasks_per_child,
                                 cluster=cluster, **options)
        self._lock = threading.Lock()
        self._shutdown = False
        _live_executors.add(self)

    def submit(self, fn, /, *args, **kwargs):
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future = _futures.Future()
            future.set_running_or_notify_cancel()
            self._pool._apply_async(fn, args, kwargs, future.set_result, future.set_exception,
                                    "call")
            return future

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        # Each chunk is one cluster chunk of fn's calls ("star"), not a call of
        # stdlib's _process_chunk wrapper: the worker sees fn itself, so a Go worker
        # serving fn's name (cluster.GoHandler) runs executor maps too.
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        from .futures import _chain_from_iterable_of_lists, _get_chunks
        end = None if timeout is None else timeout + time.monotonic()
        fs = [self._submit_chunk(fn, list(chunk))
              for chunk in _get_chunks(*iterables, chunksize=chunksize)]

        def results():  # concurrent.futures.Executor.map's result_iterator
            try:
                fs.reverse()
                while fs:
                    if end is None:
                        yield fs.pop().result()
                    else:
                        yield fs.pop().result(end - time.monotonic())
            finally:
                for f in fs:
                    f.cancel()
        return _chain_from_iterable_of_lists(results())

    def _submit_chunk(self, fn, calls):
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future = _futures.Future()
            future.set_running_or_notify_cancel()
            self._pool._map_async(fn, calls, "star", len(calls), future.set_result,
                                  future.set_exception)
            return future

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._lock:
            self._shutdown = True
        if cancel_futures:
            self._pool.terminate()
        else:
            self._pool.close()
        if wait:
            self._pool.join()
        else:
            threading.Thread(target=self._pool.join, name="gompx-cluster-shutdown",
                             daemon=True).start()
