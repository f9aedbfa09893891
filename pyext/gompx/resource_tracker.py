"""The resource tracker: a process that unlinks named resources their owners left behind.

Laid out like CPython's ``multiprocessing/resource_tracker.py``, with its protocol
(``REGISTER:name:rtype`` lines on a pipe) and its observable contract: it starts on first
use and is shared with children, ignores SIGINT and SIGTERM, is relaunched with a warning
if it was killed, and at the end (every process holding its pipe gone, SIGKILLed ones
included) warns about and unlinks whatever is still registered.

What differs: gompx's own resources need no tracker.  Its locks, semaphores, queues,
heap blocks and ``shared_memory`` segments are memfds, which the kernel frees when the
last process holding them exits, so nothing of gompx's is ever registered here.  The
tracker serves what programs and libraries register themselves (joblib and loky do):
POSIX named semaphores (``"semaphore"``) and POSIX shared memory names
(``"shared_memory"``).  Creating a gompx Lock or Semaphore registers nothing and never
starts a tracker; but, as in CPython, it checks a tracker this process already uses (one
write to its pipe) and relaunches it, with CPython's warning, if it was killed.
"""

import os
import signal
import sys
import threading
import warnings

from . import spawn
from . import util

__all__ = ["ensure_running", "register", "unregister"]

_IGNORED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_MAX_MESSAGE = 512  # one atomic pipe write (PIPE_BUF is larger)


def cleanup_noop(name):
    raise RuntimeError("noop should never be registered or cleaned up")


_CLEANUP_FUNCS = {"noop": cleanup_noop}
if sys.version_info >= (3, 13):
    _CLEANUP_FUNCS["dummy"] = lambda name: None  # CPython 3.13's resource type for tests

try:
    import _multiprocessing
    import _posixshmem
except ImportError:  # an interpreter built without them: those names cannot exist here
    pass
else:
    if hasattr(_multiprocessing, "sem_unlink"):
        _CLEANUP_FUNCS["semaphore"] = _multiprocessing.sem_unlink
    _CLEANUP_FUNCS["shared_memory"] = _posixshmem.shm_unlink


class ReentrantCallError(RuntimeError):
    pass


class ResourceTracker:
    """This process's connection to the tracker (started on first use)."""

    def __init__(self):
        self._lock = threading.RLock()
        self._fd = None
        self._pid = None
        self._exitcode = None

    def _stop(self):
        """Close the pipe and wait for the tracker (tests and interpreter exit)."""
        with self._lock:
            if self._fd is None:
                return
            os.close(self._fd)
            self._fd = None
            if self._pid is None:
                return  # a child's tracker is its parent's: not ours to reap
            try:
                _, status = os.waitpid(self._pid, 0)
                self._exitcode = os.waitstatus_to_exitcode(status)
            except (ChildProcessError, ValueError):
                self._exitcode = None
            self._pid = None

    def getfd(self):
        self.ensure_running()
        return self._fd

    def ensure_running(self):
        """Start the tracker unless it runs (relaunching it, with a warning, if it died)."""
        with self._lock:
            if self._fd is not None:
                if self._check_alive():
                    return
                os.close(self._fd)
                try:
                    if self._pid is not None:
                        os.waitpid(self._pid, 0)
                except ChildProcessError:
                    pass  # a child's tracker is its parent's: not ours to reap
                self._fd = None
                self._pid = None
                self._exitcode = None
                warnings.warn("resource_tracker: process died unexpectedly, "
                              "relaunching.  Some resources might leak.")
            self._launch()

    def _launch(self):
        fds_to_pass = []
        try:
            fds_to_pass.append(sys.stderr.fileno())
        except Exception:
            pass
        r, w = os.pipe()
        try:
            fds_to_pass.append(r)
            exe = spawn.get_executable()
            args = [exe] + spawn._args_from_interpreter_flags() + [
                "-c", spawn.child_program(
                    "from gompx.resource_tracker import main; main(%d)" % r)]
            # The tracker must outlive this process (that is its job), so it is not a
            # supervised child; it ignores SIGINT and SIGTERM from the first instant.
            signal.pthread_sigmask(signal.SIG_BLOCK, _IGNORED_SIGNALS)
            try:
                pid = util.spawnv_passfds(exe, args, fds_to_pass)
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _IGNORED_SIGNALS)
        except BaseException:
            os.close(w)
            raise
        else:
            self._fd = w
            self._pid = pid
        finally:
            os.close(r)

    def _check_alive(self):
        """Whether the tracker still reads its pipe (a probe it ignores)."""
        try:
            os.write(self._fd, b"PROBE:0:noop\n")
        except OSError:
            return False
        return True

    def register(self, name, rtype):
        """Have the tracker unlink *name* (of type *rtype*) if nobody unregisters it."""
        self._send("REGISTER", name, rtype)

    def unregister(self, name, rtype):
        """Take *name* back from the tracker."""
        self._send("UNREGISTER", name, rtype)

    def _send(self, cmd, name, rtype):
        msg = "{0}:{1}:{2}\n".format(cmd, name, rtype).encode("ascii")
        if len(msg) > _MAX_MESSAGE:
            # Checked before anything starts: a name the tracker could not take whole.
            raise ValueError("msg too long")
        self.ensure_running()
        nbytes = os.write(self._fd, msg)
        if nbytes != len(msg):
            raise OSError("resource_tracker: short write to the tracker's pipe")


def check_running():
    """Relaunch (with a warning) a tracker this process uses that has died.

    What creating a semaphore does to the tracker in CPython, without the registration
    gompx's memfd semaphores do not need, and without starting a tracker nobody uses.
    """
    if _resource_tracker._fd is not None:
        _resource_tracker.ensure_running()


_resource_tracker = ResourceTracker()
ensure_running = _resource_tracker.ensure_running
register = _resource_tracker.register
unregister = _resource_tracker.unregister
getfd = _resource_tracker.getfd


def main(fd):
    """Run the tracker: read the pipe until every writer is gone, then clean up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _IGNORED_SIGNALS)
    for f in (sys.stdin, sys.stdout):
        try:
            f.close()
        except Exception:
            pass
    cache = {rtype: set() for rtype in _CLEANUP_FUNCS}
    exit_code = 0
    try:
        with open(fd, "rb") as f:
            for line in f:
                try:
                    cmd, name, rtype = line.strip().decode("ascii").split(":")
                    if rtype not in _CLEANUP_FUNCS:
                        raise ValueError(f"Cannot register {name} for automatic cleanup: "
                                         f"unknown resource type {rtype}")
                    if cmd == "REGISTER":
                        cache[rtype].add(name)
                    elif cmd == "UNREGISTER":
                        cache[rtype].remove(name)
                    elif cmd != "PROBE":
                        raise RuntimeError("unrecognized command %r" % cmd)
                except Exception:
                    exit_code = 3
                    try:
                        sys.excepthook(*sys.exc_info())
                    except Exception:
                        pass
    finally:
        exit_code = _clean_up(cache, exit_code)
    sys.exit(exit_code)


def _clean_up(cache, exit_code):
    for rtype, names in cache.items():
        if names:
            exit_code = 1
        if names and rtype != "dummy":  # the test type leaks on purpose: no warning
            warnings.warn(f"resource_tracker: There appear to be {len(names)} leaked "
                          f"{rtype} objects to clean up at shutdown: {names}")
        for name in names:
            try:
                _CLEANUP_FUNCS[rtype](name)
            except Exception as e:
                exit_code = 2
                warnings.warn("resource_tracker: %r: %s" % (name, e))
    return exit_code
