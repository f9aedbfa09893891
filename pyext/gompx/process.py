"""Process objects: ``BaseProcess`` and the process-tree bookkeeping.

Laid out like CPython's ``multiprocessing/process.py``.  The object model and the
exceptions are CPython's; starting, waiting and signalling go through a ``Popen`` of the
chosen start method, which asks the Go core to do the work.
"""

import itertools
import os
import signal
import sys
import threading
from _weakrefset import WeakSet

__all__ = ["BaseProcess", "current_process", "active_children", "parent_process"]

try:
    ORIGINAL_DIR = os.path.abspath(os.getcwd())
except OSError:
    ORIGINAL_DIR = None


def current_process():
    """Return the process object representing the current process."""
    return _current_process


def active_children():
    """Return the live children of the current process (reaping those that ended)."""
    _cleanup()
    return list(_children)


def parent_process():
    """Return the process object of the parent, or None in the main process."""
    return _parent_process


def _cleanup():
    for p in list(_children):
        if p._popen.poll() is not None:
            _children.discard(p)


class BaseProcess:
    """Process objects represent activity run in a separate process.

    The class mirrors ``threading.Thread``; subclasses override ``_Popen`` to pick a start
    method.
    """

    def _Popen(self):
        raise NotImplementedError

    def __init__(self, group=None, target=None, name=None, args=(), kwargs={},
                 *, daemon=None):
        if group is not None:
            raise AssertionError("group argument must be None for now")
        count = next(_process_counter)
        self._identity = _current_process._identity + (count,)
        self._config = _current_process._config.copy()
        self._parent_pid = os.getpid()
        self._parent_name = _current_process.name
        self._popen = None
        self._closed = False
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs)
        self._name = name or (type(self).__name__ + "-" +
                              ":".join(str(i) for i in self._identity))
        if daemon is not None:
            self.daemon = daemon
        _dangling.add(self)

    def _check_closed(self):
        if self._closed:
            raise ValueError("process object is closed")

    def run(self):
        """Method to be run in the child; calls the target by default."""
        if self._target:
            self._target(*self._args, **self._kwargs)

    def start(self):
        """Start the child process."""
        self._check_closed()
        if self._popen is not None:
            raise AssertionError("cannot start a process twice")
        if self._parent_pid != os.getpid():
            raise AssertionError("can only start a process object created by current process")
        if _current_process._config.get("daemon"):
            raise AssertionError("daemonic processes are not allowed to have children")
        _cleanup()
        self._popen = self._Popen(self)
        self._sentinel = self._popen.sentinel
        # The child has its own copies; don't keep the target's references alive here.
        del self._target, self._args, self._kwargs
        _children.add(self)

    def terminate(self):
        """Send SIGTERM to the child."""
        self._check_closed()
        if self._popen is not None:
            self._popen.terminate()

    def kill(self):
        """Send SIGKILL to the child."""
        self._check_closed()
        if self._popen is not None:
            self._popen.kill()

    def join(self, timeout=None):
        """Wait until the child exits, or until *timeout* seconds passed."""
        self._check_closed()
        if self._parent_pid != os.getpid():
            raise AssertionError("can only join a child process")
        if self._popen is None:
            raise AssertionError("can only join a started process")
        if self._popen.wait(timeout) is not None:
            _children.discard(self)

    def is_alive(self):
        """Whether the child is still running."""
        self._check_closed()
        if self is _current_process:
            return True
        if self._parent_pid != os.getpid():
            raise AssertionError("can only test a child process")
        if self._popen is None:
            return False
        if self._popen.poll() is None:
            return True
        _children.discard(self)
        return False

    def close(self):
        """Release the resources of a finished process; the object becomes unusable."""
        if self._popen is not None:
            if self._popen.poll() is None:
                raise ValueError("Cannot close a process while it is still running. "
                                 "You should first call join() or terminate().")
            self._popen.close()
            self._popen = None
            del self._sentinel
            _children.discard(self)
        self._closed = True

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, name):
        if not isinstance(name, str):
            raise AssertionError("name must be a string")
        self._name = name

    @property
    def daemon(self):
        """Whether the process is daemonic: terminated when its parent exits."""
        return self._config.get("daemon", False)

    @daemon.setter
    def daemon(self, daemonic):
        if self._popen is not None:
            raise AssertionError("process has already started")
        self._config["daemon"] = daemonic

    @property
    def authkey(self):
        return self._config["authkey"]

    @authkey.setter
    def authkey(self, authkey):
        self._config["authkey"] = AuthenticationString(authkey)

    @property
    def exitcode(self):
        """The exit code: None while running, -N if killed by signal N."""
        self._check_closed()
        if self._popen is None:
            return None
        return self._popen.poll()

    @property
    def ident(self):
        """The process id; None before start."""
        self._check_closed()
        if self is _current_process:
            return os.getpid()
        return self._popen and self._popen.pid

    pid = ident

    @property
    def sentinel(self):
        """A file descriptor that becomes ready when the process ends."""
        self._check_closed()
        try:
            return self._sentinel
        except AttributeError:
            raise ValueError("process not started") from None

    def __repr__(self):
        exitcode = None
        if self is _current_process:
            status = "started"
        elif self._closed:
            status = "closed"
        elif self._parent_pid != os.getpid():
            status = "unknown"
        elif self._popen is None:
            status = "initial"
        else:
            exitcode = self._popen.poll()
            status = "started" if exitcode is None else "stopped"
        info = [type(self).__name__, "name=%r" % self._name]
        if self._popen is not None:
            info.append("pid=%s" % self._popen.pid)
        info.append("parent=%s" % self._parent_pid)
        info.append(status)
        if exitcode is not None:
            info.append("exitcode=%s" % _exitcode_to_name.get(exitcode, exitcode))
        if self.daemon:
            info.append("daemon")
        return "<%s>" % " ".join(info)

    def _bootstrap(self, parent_sentinel=None):
        """Run in the child: become the current process, run, and return the exit code."""
        from . import util
        global _current_process, _parent_process, _process_counter, _children
        try:
            _children = set()
            _process_counter = itertools.count(1)
            _current_process = self
            # A spawned child's parent is its OS parent; a fork-served child's is not.
            _parent_process = _ParentProcess(self._parent_name, self._parent_pid,
                                             parent_sentinel,
                                             direct=os.getppid() == self._parent_pid)
            start_method = getattr(self, "_start_method", None)
            if start_method is not None:
                from . import context
                context._force_start_method(start_method)
            util._forget_inherited_finalizers()
            util._run_after_forkers()
            try:
                self.run()
                exitcode = 0
            finally:
                util._exit_function()
        except SystemExit as e:
            exitcode = _exit_status(e.code)
        except BaseException:
            exitcode = 1
            import traceback
            sys.stderr.write("Process %s:\n" % self.name)
            traceback.print_exc()
        finally:
            threading._shutdown()
            util._flush_std_streams()
        return exitcode


def _exit_status(code):
    """What sys.exit(code) in a child means, as CPython's Process reports it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(str(code) + "\n")
    return 1


class AuthenticationString(bytes):
    """An authkey: bytes that refuse to be pickled except to start a child."""

    def __reduce__(self):
        from .context import get_spawning_popen
        if get_spawning_popen() is None:
            raise TypeError("Pickling an AuthenticationString object is "
                            "disallowed for security reasons")
        return AuthenticationString, (bytes(self),)


class _MainProcess(BaseProcess):

    def __init__(self):
        self._identity = ()
        self._name = "MainProcess"
        self._parent_pid = None
        self._popen = None
        self._closed = False
        self._config = {"authkey": AuthenticationString(os.urandom(32)),
                        "semprefix": "/mp"}

    def close(self):
        pass


class _ParentProcess(BaseProcess):
    """The parent as seen from a child: name, pid and a sentinel for its exit.

    In a child gompx started, the sentinel is a pidfd of the parent that the parent passed
    down (see ``spawn._watch_parent``): it is ready as soon as the parent has exited, so
    ``is_alive()`` turns False and ``join()`` returns; the child then has
    ``GOMPX_ORPHAN_GRACE`` seconds (5 by default) before the Go core kills it."""

    def __init__(self, name, pid, sentinel=None, direct=True):
        self._direct = direct
        self._identity = ()
        self._name = name
        self._pid = pid
        self._parent_pid = None
        self._popen = None
        self._closed = False
        self._sentinel_fd = sentinel
        self._config = {}

    @property
    def _sentinel(self):
        if self._sentinel_fd is None:
            from . import _native
            if self._direct and os.getppid() != self._pid:
                # Re-parented: the pid may already name another process.
                raise ValueError("parent process %d has already exited" % self._pid)
            self._sentinel_fd = _native.call(_native.ext.gompxcore_PidfdOpen, self._pid)
        return self._sentinel_fd

    def is_alive(self):
        from .connection import wait
        try:
            return not wait([self._sentinel], timeout=0)
        except ValueError:
            return False

    @property
    def ident(self):
        return self._pid

    pid = ident

    def join(self, timeout=None):
        from .connection import wait
        try:
            wait([self._sentinel], timeout=timeout)
        except ValueError:
            pass


_current_process = _MainProcess()
_parent_process = None
_process_counter = itertools.count(1)
_children = set()
# Every Process object still alive, started or not (CPython's test suite reads it to find
# processes a test left behind).
_dangling = WeakSet()

_exitcode_to_name = {}
for _name, _signum in list(signal.__dict__.items()):
    if _name.startswith("SIG") and "_" not in _name and isinstance(_signum, int):
        _exitcode_to_name[-_signum] = f"-{_name}"
del _name, _signum
