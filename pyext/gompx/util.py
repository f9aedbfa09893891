"""Logging, finalizers and exit-time clean-up.

Laid out like CPython's ``multiprocessing/util.py``: ``Finalize`` callbacks with exit
priorities, ``get_logger``/``log_to_stderr``, and ``_exit_function``, which at interpreter
exit terminates daemonic children and joins the others.
"""

import atexit
import itertools
import os
import sys
import threading
import time
import weakref

from . import process

__all__ = ["sub_debug", "debug", "info", "sub_warning", "get_logger", "log_to_stderr",
           "Finalize", "is_exiting", "register_after_fork", "SUBDEBUG", "SUBWARNING",
           "get_temp_dir", "is_abstract_socket_namespace", "abstract_sockets_supported",
           "wait_for", "default_chunksize", "ForkAwareThreadLock", "ForkAwareLocal",
           "close_all_fds_except", "spawnv_passfds"]

NOTSET = 0
SUBDEBUG = 5
DEBUG = 10
INFO = 20
SUBWARNING = 25

LOGGER_NAME = "multiprocessing"
DEFAULT_LOGGING_FORMAT = "[%(levelname)s/%(processName)s] %(message)s"

_logger = None
_log_to_stderr = False


def sub_debug(msg, *args):
    if _logger:
        _logger.log(SUBDEBUG, msg, *args, stacklevel=2)


def debug(msg, *args):
    if _logger:
        _logger.log(DEBUG, msg, *args, stacklevel=2)


def info(msg, *args):
    if _logger:
        _logger.log(INFO, msg, *args, stacklevel=2)


def sub_warning(msg, *args):
    if _logger:
        _logger.log(SUBWARNING, msg, *args, stacklevel=2)


def get_logger():
    """Return the logger used by gompx (named like stdlib's, "multiprocessing")."""
    global _logger
    import logging
    with logging._lock:
        if not _logger:
            _logger = logging.getLogger(LOGGER_NAME)
            _logger.propagate = 0
    return _logger


def log_to_stderr(level=None):
    """Turn on logging to stderr and return the logger."""
    global _log_to_stderr
    import logging
    logger = get_logger()
    formatter = logging.Formatter(DEFAULT_LOGGING_FORMAT)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    if level:
        logger.setLevel(level)
    _log_to_stderr = True
    return _logger


# -- functions run in a new child before its target ----------------------------------

_afterfork_registry = weakref.WeakValueDictionary()
_afterfork_counter = itertools.count()


def _run_after_forkers():
    items = list(_afterfork_registry.items())
    items.sort()
    for (index, ident, func), obj in items:
        try:
            func(obj)
        except Exception as e:
            info("after forker raised exception %s", e)


def register_after_fork(obj, func):
    """Call func(obj) in each new child (gompx children are spawned or fork-served)."""
    _afterfork_registry[(next(_afterfork_counter), id(obj), func)] = obj


# -- finalizers ----------------------------------------------------------------------

_finalizer_registry = {}
_finalizer_counter = itertools.count()


class Finalize:
    """Class which supports object finalization using weakrefs."""

    def __init__(self, obj, callback, args=(), kwargs=None, exitpriority=None):
        if exitpriority is not None and not isinstance(exitpriority, int):
            raise TypeError("Exitpriority ({0!r}) must be None or int, not {1!s}".format(
                exitpriority, type(exitpriority)))
        if obj is not None:
            self._weakref = weakref.ref(obj, self)
        elif exitpriority is None:
            raise ValueError("Without object, exitpriority cannot be None")
        self._callback = callback
        self._args = args
        self._kwargs = kwargs or {}
        self._key = (exitpriority, next(_finalizer_counter))
        self._pid = _getpid()
        _finalizer_registry[self._key] = self

    def __call__(self, wr=None):
        """Run the callback unless it has already been called or cancelled."""
        try:
            del _finalizer_registry[self._key]
        except KeyError:
            sub_debug("finalizer no longer registered")
            return None
        if self._pid != _getpid():
            res = None
        else:
            res = self._callback(*self._args, **self._kwargs)
        self._weakref = self._callback = self._args = self._kwargs = self._key = None
        return res

    def cancel(self):
        """Cancel finalization of the object."""
        try:
            del _finalizer_registry[self._key]
        except KeyError:
            pass
        else:
            self._weakref = self._callback = self._args = self._kwargs = self._key = None

    def still_active(self):
        """Return whether this finalizer is still waiting to invoke callback."""
        return self._key in _finalizer_registry

    def __repr__(self):
        try:
            obj = self._weakref()
        except (AttributeError, TypeError):
            obj = None
        if obj is None:
            return "<%s object, dead>" % self.__class__.__name__
        return "<%s object, callback=%s>" % (
            self.__class__.__name__, getattr(self._callback, "__name__", self._callback))


def _forget_inherited_finalizers():
    """Drop the finalizers a forked child inherited from its parent (a fork-served child
    from the server), keeping those this process registered itself while it unpickled its
    Process object: a queue argument's exit flush, for one.  CPython clears them all, as
    its queues register theirs later, when their feeder thread starts."""
    pid = _getpid()
    for key, finalizer in list(_finalizer_registry.items()):
        if finalizer._pid != pid:
            del _finalizer_registry[key]


def _getpid():
    import os
    return os.getpid()


def _run_finalizers(minpriority=None):
    """Run finalizers whose exit priority is at least *minpriority* (all if None),
    highest priority first, later-registered first within a priority."""
    if _finalizer_registry is None:
        return
    if minpriority is None:
        def want(p):
            return p[0] is not None
    else:
        def want(p):
            return p[0] is not None and p[0] >= minpriority
    keys = [key for key in list(_finalizer_registry) if want(key)]
    keys.sort(reverse=True)
    for key in keys:
        finalizer = _finalizer_registry.get(key)
        if finalizer is not None:
            try:
                finalizer()
            except Exception:
                import traceback
                traceback.print_exc()
    if minpriority is None:
        _finalizer_registry.clear()


_exiting = False


def is_exiting():
    """Returns true if the process is shutting down."""
    return _exiting or _exiting is None


def _exit_function():
    """At exit: run finalizers, terminate daemonic children, join the others."""
    global _exiting
    if _exiting:
        return
    _exiting = True
    info("process shutting down")
    _run_finalizers(0)
    if process.current_process() is not None:
        for p in process.active_children():
            if p.daemon:
                info("calling terminate() for daemon %s", p.name)
                p._popen.terminate()
        for p in process.active_children():
            info("calling join() for process %s", p.name)
            p.join()
    _run_finalizers()


atexit.register(_exit_function)


def _flush_std_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError):
            pass


def is_abstract_socket_namespace(address):
    """Whether *address* names a Linux abstract socket (it starts with a NUL)."""
    if not address:
        return False
    if isinstance(address, bytes):
        return address[0] == 0
    elif isinstance(address, str):
        return address[0] == "\0"
    raise TypeError(f"address type of {address!r} unrecognized")


abstract_sockets_supported = sys.platform == "linux"


def _remove_temp_dir(rmtree, tempdir):
    rmtree(tempdir)
    current = process.current_process()
    if current is not None:
        current._config["tempdir"] = None


def get_temp_dir():
    """A private (0700) temporary directory of this process, removed at exit."""
    tempdir = process.current_process()._config.get("tempdir")
    if tempdir is None:
        import shutil
        import tempfile
        tempdir = tempfile.mkdtemp(prefix="pymp-")
        info("created temp directory %s", tempdir)
        # A strong reference to rmtree: the finalizer may run late in shutdown.
        Finalize(None, _remove_temp_dir, args=(shutil.rmtree, tempdir), exitpriority=-100)
        process.current_process()._config["tempdir"] = tempdir
    return tempdir


def close_fds(*fds):
    """Close each file descriptor given as an argument."""
    for fd in fds:
        os.close(fd)


class ForkAwareThreadLock:
    """A thread lock that a child starts with unlocked (it never inherits its state:
    gompx children are spawned or fork-served from a clean server)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.acquire = self._lock.acquire
        self.release = self._lock.release
        register_after_fork(self, ForkAwareThreadLock._at_fork_reinit)

    def _at_fork_reinit(self):
        self._lock._at_fork_reinit()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *args):
        return self._lock.__exit__(*args)


class ForkAwareLocal(threading.local):
    """Thread-local data that a child starts without; it pickles as an empty one."""

    def __init__(self):
        register_after_fork(self, lambda obj: obj.__dict__.clear())

    def __reduce__(self):
        return type(self), ()


try:
    MAXFD = os.sysconf("SC_OPEN_MAX")
except Exception:
    MAXFD = 256


def close_all_fds_except(fds):
    """Close every descriptor of this process but *fds*."""
    fds = sorted(list(fds) + [-1, MAXFD])
    if fds[-1] != MAXFD:
        raise ValueError("fd too large")
    for low, high in zip(fds, fds[1:]):
        os.closerange(low + 1, high)


def _close_stdin():
    """Replace stdin with /dev/null (a child must not read its parent's terminal)."""
    if sys.stdin is None:
        return
    try:
        sys.stdin.close()
    except (OSError, ValueError):
        pass
    try:
        fd = os.open(os.devnull, os.O_RDONLY)
        try:
            sys.stdin = open(fd, encoding="utf-8", closefd=False)
        except BaseException:
            os.close(fd)
            raise
    except (OSError, ValueError):
        pass


def spawnv_passfds(path, args, passfds):
    """Start *args* (not supervised) with *passfds* open in it; return its pid."""
    import _posixsubprocess
    passfds = tuple(sorted(map(int, passfds)))
    errpipe_read, errpipe_write = os.pipe()
    try:
        return _posixsubprocess.fork_exec(
            args, [os.fsencode(path)], True, passfds, None, None,
            -1, -1, -1, -1, -1, -1, errpipe_read, errpipe_write,
            False, False, *_fork_exec_tail())
    finally:
        os.close(errpipe_read)
        os.close(errpipe_write)


def _fork_exec_tail():
    """The trailing arguments of _posixsubprocess.fork_exec, as each CPython's own
    multiprocessing.util.spawnv_passfds passes them."""
    import subprocess
    if sys.version_info >= (3, 11):
        return (-1, None, None, None, -1, None, subprocess._USE_VFORK)
    return (None, None, None, -1, None)


def _cleanup_tests():
    """Stop what gompx runs in the background, for test suites (CPython's calls this
    when its multiprocessing tests end)."""
    from test import support
    process._cleanup()
    from . import forkserver
    forkserver._forkserver._stop()
    from . import resource_tracker
    resource_tracker._resource_tracker._stop()
    from . import resource_sharer
    resource_sharer.stop()
    _run_finalizers()
    support.gc_collect()
    support.reap_children()


def wait_for(wait, predicate, timeout=None):
    """Condition.wait_for over any *wait(timeout)*: wait until *predicate()* is true or
    *timeout* seconds (None: no limit) have passed; return the last result of
    *predicate()*. The lock must be held, as for wait()."""
    result = predicate()
    if result:
        return result
    endtime = None if timeout is None else time.monotonic() + timeout
    waittime = None
    while not result:
        if endtime is not None:
            waittime = endtime - time.monotonic()
            if waittime <= 0:
                break
        wait(waittime)
        result = predicate()
    return result


def default_chunksize(items, workers):
    """CPython's Pool chunk size for *items* tasks over *workers* workers: about four
    chunks per worker (0 for no items)."""
    if items == 0:
        return 0
    chunksize, extra = divmod(items, workers * 4)
    return chunksize + 1 if extra else chunksize
