"""Go programs as worker processes: map Python data over Go functions.

A Go program built with ``github.com/gompx/gompx/gompx/goserve`` registers named functions
and calls ``goserve.Serve()``; :class:`GoPool` starts N copies of it and calls those
functions with Python arguments, in the manner of :class:`multiprocessing.pool.Pool`::

    from gompx.goworkers import GoPool

    with GoPool("./wordworker", processes=4) as pool:
        digests = pool.map("sha256", blobs)            # one result per item, in order
        total = pool.call("wordcount", "a b c")

Arguments are pickled here (protocol 5) and decoded by Go's pickle package; Go's results
come back as the matching Python values.  Dispatch, supervision and replacement of the
workers happen in gompx's Go core.  A Go function's error or panic raises :class:`GoError`;
a worker that dies during a call raises :class:`WorkerExitedError` with its exit code, and
a new worker takes its place.  No stdlib equivalent exists; the other direction (Go calling
Python functions) is the Go package ``gompx/pyworker``.
"""

import os
import pickle

__all__ = ["GoPool", "GoError", "WorkerExitedError"]

_native = None


# imap keeps this many chunks per worker in flight: enough that the caller mostly finds
# results ready instead of sleeping for each one (chunksize=1, 2 workers, one CPU:
# 2 per worker 30 µs/item, 8: 24 µs, 32: 20 µs), while an endless iterable stays bounded.
_IMAP_WINDOW = 32


def _load_native():
    global _native
    from . import _native as native
    _native = native
    return native


class GoError(Exception):
    """A Go function returned an error (``kind`` "error") or panicked ("panic", with the
    worker's goroutine ``stack``), or its result could not be encoded ("encode").

    ``function`` is the name called; ``index`` is the position of the failing item in a
    map, else None.
    """

    def __init__(self, message, function=None, kind="error", stack="", index=None):
        super().__init__(message)
        self.message = message
        self.function = function
        self.kind = kind
        self.stack = stack
        self.index = index


class WorkerExitedError(RuntimeError):
    """A Go worker process exited during the call; ``exitcode`` is its status, or -signum
    if a signal killed it.  The pool has started another worker in its place.

    A call interrupted by Ctrl-C (KeyboardInterrupt while waiting) is canceled the same
    way: its worker is killed and replaced."""

    def __init__(self, message, pid=None, exitcode=None):
        super().__init__(message)
        self.pid = pid
        self.exitcode = exitcode


class GoPool:
    """A pool of *processes* copies of the Go worker program *binary*.

    *args* are the program's arguments, *env* its environment (a mapping; default: this
    process's), *cwd* its working directory.  The constructor returns once every worker is
    ready, or raises: FileNotFoundError for a missing program, OSError for one that is not
    a gompx worker (it exits, or says nothing for *start_timeout* seconds).
    """

    _handle = None

    def __init__(self, binary, processes=None, args=(), env=None, cwd=None,
                 start_timeout=30.0):
        native = _native or _load_native()
        if processes is None:
            processes = os.cpu_count() or 1
        if processes < 1:
            raise ValueError("Number of processes must be at least 1")
        self._binary = os.fspath(binary)
        self._processes = processes
        spec = _pool_spec(self._binary, cwd, processes, start_timeout, args, env)
        self._handle = _start(spec)
        names = native.call(native.ext.gompxcore_GoPoolFunctions, self._handle)
        self._functions = tuple(names.split("\n")) if names else ()
        self._state = "running"

    # -- state ---------------------------------------------------------------------------

    @property
    def functions(self):
        """The names of the Go functions the workers serve, in registration order."""
        return self._functions

    @property
    def pids(self):
        """Process ids of the live workers."""
        self._check_handle()
        pids = _native.call(_native.ext.gompxcore_GoPoolPids, self._handle)
        return [int(p) for p in pids.split(",") if p]

    def _check_handle(self):
        if self._handle is None:
            raise ValueError("Pool is closed")

    def _check_running(self, name):
        if self._state != "running":
            raise ValueError("Pool not running")
        if name not in self._functions:
            raise ValueError("%s serves no Go function named %r; it serves: %s"
                             % (self._binary, name, ", ".join(self._functions) or "none"))

    # -- calls ---------------------------------------------------------------------------

    def _submit(self, name, batch, payload):
        native = _native
        return native.call(native.ext.gompxcore_GoPoolSubmit, self._handle, name, batch,
                           native.bytes_address(payload), len(payload))

    def _wait(self, task, offset=0):
        """The outcome of *task*: its value, or its exception raised."""
        native, status_of = _native, _native.constant  # GoTaskWait's statuses (GoTask*)
        wait = native.ext.gompxcore_GoTaskWait

        try:
            packed = native.wait_sliced(
                native.attempt(wait, task, pending=status_of("GoTaskPending")), None)
        except BaseException:
            # Ctrl-C means stop: the call's worker is killed and replaced, so the pool
            # is not left busy with work nobody waits for.
            native.ext.gompxcore_GoTaskCancel(task)
            raise
        status, size = packed & 7, packed >> 3
        from .connection import _new_bytes
        body = _new_bytes(size)
        native.call(native.ext.gompxcore_GoTaskTake, task, id(body) + native.BYTES_DATA_OFFSET,
                    size)
        value = pickle.loads(body)
        if status == status_of("GoTaskResult"):
            return value
        if status == status_of("GoTaskError"):
            function, kind, message, stack, index = value
            if kind == "unknown":
                raise ValueError(message)
            raise GoError(message, function, kind, stack,
                          None if index < 0 else index + offset)
        if status == status_of("GoTaskExited"):
            raise WorkerExitedError(*value)
        raise ValueError(value[0])

    def call(self, name, *args):
        """Call the Go function *name* with *args* in a worker and return its result."""
        self._check_running(name)
        return self._wait(self._submit(name, False, pickle.dumps(args, 5)))

    def apply(self, name, args=()):
        """``call(name, *args)``, spelled as :meth:`multiprocessing.pool.Pool.apply`."""
        return self.call(name, *args)

    def map(self, name, iterable, chunksize=None):
        """Call *name* once per item of *iterable*, the item as its only argument, and
        return the results in order.  Items travel *chunksize* per request (default: about
        four chunks per worker, as Pool.map)."""
        return self._map(name, [(item,) for item in iterable], chunksize)

    def starmap(self, name, iterable, chunksize=None):
        """Like :meth:`map`, but each item is the tuple of a call's arguments."""
        return self._map(name, [tuple(item) for item in iterable], chunksize)

    def _map(self, name, calls, chunksize):
        self._check_running(name)
        if chunksize is None:
            chunksize, extra = divmod(len(calls), self._processes * 4)
            if extra:
                chunksize += 1
        if not calls:
            return []
        if chunksize < 1:
            raise ValueError("Chunksize must be 1+, not %d" % chunksize)
        tasks = [(start, self._submit(name, True, pickle.dumps(calls[start:start + chunksize], 5)))
                 for start in range(0, len(calls), chunksize)]
        out = []
        waited = 0
        try:
            for start, task in tasks:
                waited += 1  # _wait takes or cancels its task, whatever happens
                out.extend(self._wait(task, start))
        except BaseException as e:
            _drop([task for _, task in tasks[waited:]], e)
            raise
        return out

    def imap(self, name, iterable, chunksize=1):
        """Like :meth:`map`, but lazily: an iterator over the results, in order.  At most a
        few dozen chunks per worker are in flight, so *iterable* may be long or endless."""
        self._check_running(name)
        if chunksize < 1:
            raise ValueError("Chunksize must be 1+, not %d" % chunksize)
        return self._imap(name, iter(iterable), chunksize)

    def _imap(self, name, items, chunksize):
        window = []  # (start, task) in submission order
        position = 0
        exhausted = False
        try:
            while True:
                while not exhausted and len(window) < _IMAP_WINDOW * self._processes:
                    chunk = [(item,) for _, item in zip(range(chunksize), items)]
                    if not chunk:
                        exhausted = True
                        break
                    window.append((position, self._submit(name, True, pickle.dumps(chunk, 5))))
                    position += len(chunk)
                if not window:
                    return
                start, task = window.pop(0)
                yield from self._wait(task, start)
        except BaseException as e:  # GeneratorExit too: the consumer stopped early
            _drop([task for _, task in window], e)
            raise

    # -- ending --------------------------------------------------------------------------

    def close(self):
        """Take no more calls; the queued ones still run, then the workers exit."""
        self._check_handle()
        if self._state == "running":
            self._state = "closed"
            _native.call(_native.ext.gompxcore_GoPoolClose, self._handle)

    def terminate(self):
        """Kill the workers now; calls still queued or running fail.  Then join."""
        if self._handle is None:
            return
        self._state = "terminated"
        _native.call(_native.ext.gompxcore_GoPoolTerminate, self._handle)
        self.join()

    def join(self, timeout=None):
        """Wait for the workers to exit after :meth:`close` or :meth:`terminate`."""
        self._check_handle()
        if self._state == "running":
            raise ValueError("Pool is still running")
        native = _native
        join = native.ext.gompxcore_GoPoolJoin
        handle = self._handle

        return bool(native.wait_sliced(native.attempt(join, handle), timeout))

    def __enter__(self):
        if self._state != "running":
            raise ValueError("Pool not running")
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        self.terminate()

    def __del__(self):
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                _native.ext.gompxcore_GoPoolRelease(handle)
            except Exception:
                pass  # at interpreter exit the module may be half torn down

    def __repr__(self):
        return "<%s %s processes=%d state=%s>" % (
            type(self).__name__, self._binary, self._processes,
            getattr(self, "_state", "starting"))


def _start(spec):
    """Start the pool in the core and wait for its workers in slices (Ctrl-C works)."""
    native = _native
    starting = native.call(native.ext.gompxcore_GoPoolStart, native.bytes_address(spec),
                           len(spec))
    wait = native.ext.gompxcore_GoPoolStartWait

    try:
        return native.wait_sliced(native.attempt(wait, starting), None)
    except BaseException:
        native.ext.gompxcore_GoPoolStartAbandon(starting)
        raise


def _drop(tasks, exc):
    """Forget *tasks* nobody will wait for: after an error they still run, as in Pool;
    after Ctrl-C they are canceled."""
    forget = _native.ext.gompxcore_GoTaskRelease
    if isinstance(exc, KeyboardInterrupt):
        forget = _native.ext.gompxcore_GoTaskCancel
    for task in tasks:
        try:
            forget(task)
        except RuntimeError:
            pass


def _pool_spec(binary, cwd, processes, start_timeout, args, env):
    """The core's GoPoolStart request: NUL-terminated fields.

    Layout: path, cwd, processes, start timeout in ms, len(args), args..., len(env), env...
    """
    if env is None:
        pairs = [k + b"=" + v for k, v in os.environb.items()]
    else:
        pairs = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
    fields = [os.fsencode(binary), os.fsencode(cwd) if cwd is not None else b"",
              str(processes).encode(), str(max(1, int(start_timeout * 1000))).encode(),
              str(len(args)).encode()]
    fields += [os.fsencode(a) for a in args]
    fields.append(str(len(pairs)).encode())
    fields += pairs
    for f in fields:
        if b"\0" in f:
            raise ValueError("embedded null byte in the worker's command line or environment")
    return b"\0".join(fields) + b"\0"
