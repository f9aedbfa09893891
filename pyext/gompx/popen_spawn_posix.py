"""The ``spawn`` start method: a fresh interpreter started by the Go core.

Laid out like CPython's ``multiprocessing/popen_spawn_posix.py``.  The Go core starts
``sys.executable`` with the bootstrap on fd 3 and the passed descriptors from fd 4 on,
and reports the exit through a pidfd sentinel.

If this process dies, the child is told and given a grace period: it gets a pidfd of this
process, and the first thing it does is have its Go core watch it (``spawn._watch_parent``):
from then on the parent's death makes ``parent_process()`` not alive at once, and the child
is killed (SIGKILL) ``GOMPX_ORPHAN_GRACE`` seconds later (5 by default, read here at each
start) if it is still running.  Until its watch is armed the kernel kills it the instant
this process dies (PR_SET_PDEATHSIG), so no child is ever left unwatched.
"""

import io
import os
import signal
import threading

from . import context
from . import reduction
from . import spawn
from . import util

__all__ = ["Popen"]

# The environment variable that sets a child's grace period once its parent died: seconds.
ORPHAN_GRACE_ENV = "GOMPX_ORPHAN_GRACE"


class Popen:
    """Start and supervise one spawned child."""

    method = "spawn"

    def __init__(self, process_obj):
        util._flush_std_streams()
        self.returncode = None
        self.finalizer = None
        self._handle = None
        self._fds = []
        self._launch(process_obj)

    def duplicate_for_child(self, fd):
        """Pass *fd* to the child; return its index in the child's inherited list.

        A descriptor passed again (every lock and value of one arena shares its file)
        keeps its first index, so the child inherits each file once."""
        try:
            return self._fds.index(fd)
        except ValueError:
            self._fds.append(fd)
            return len(self._fds) - 1

    def _child_grace_ms(self):
        """The grace the child's own Go watch keeps (a fork server keeps it instead)."""
        return orphan_grace_ms()

    def _pickle_for_child(self, process_obj, stream):
        """Write the child's bootstrap to *stream*: the preparation data, then the
        Process object (whose descriptors this Popen collects as it pickles them)."""
        context.set_spawning_popen(self)
        try:
            # Built while spawning: it may pass descriptors (the resource tracker's pipe).
            prep_data = spawn.get_preparation_data(process_obj._name)
            # What the child watches, and how long it may outlive it (spawn._watch_parent).
            prep_data["parent_watch"] = (self.duplicate_for_child(own_pidfd()),
                                         self._child_grace_ms())
            reduction.dump(prep_data, stream)
            reduction.dump(process_obj, stream)
        finally:
            context.set_spawning_popen(None)

    def _launch(self, process_obj):
        from . import _native
        stream = io.BytesIO()
        self._pickle_for_child(process_obj, stream)
        self._handle = start_child(spawn.get_command_line(), self._fds, stream.getvalue())
        self.pid = _native.call(_native.ext.gompxcore_ProcessPid, self._handle)
        self.sentinel = _native.call(_native.ext.gompxcore_ProcessSentinel, self._handle)

    def poll(self, flag=os.WNOHANG):
        """The exit code if the child has exited (waiting for it unless flag is WNOHANG)."""
        if self.returncode is None:
            self._wait(0 if flag == os.WNOHANG else None)
        return self.returncode

    def wait(self, timeout=None):
        """Wait up to *timeout* seconds; return the exit code or None."""
        if self.returncode is None:
            self._wait(timeout)
        return self.returncode

    def _wait(self, timeout):
        from . import _native
        wait = _native.ext.gompxcore_ProcessWait
        handle = self._handle

        code = _native.wait_interruptible(
            _native.attempt(wait, handle, pending=_native.STILL_RUNNING), timeout)
        if code is not None:
            self.returncode = code

    def _send_signal(self, sig):
        if self.returncode is None:
            from . import _native
            _native.call(_native.ext.gompxcore_ProcessSignal, self._handle, int(sig))

    def terminate(self):
        self._send_signal(signal.SIGTERM)

    def kill(self):
        self._send_signal(signal.SIGKILL)

    def close(self):
        if self._handle is not None:
            from . import _native
            _native.call(_native.ext.gompxcore_ProcessClose, self._handle)
            self._handle = None

    def __del__(self):
        # A reaped child's handle and pidfd need not wait for interpreter exit; a running
        # child keeps them (its sentinel may still be in use).
        if self._handle is not None and self.returncode is not None:
            try:
                self.close()
            except Exception:
                pass


def orphan_grace_ms():
    """How long a child may run on once this process died, in milliseconds: the
    ``GOMPX_ORPHAN_GRACE`` environment variable (seconds, 0 or more), 5 s if unset.
    Raises ValueError for a value that is not a number of seconds."""
    from . import _native
    return _native.call(_native.ext.gompxcore_OrphanGraceMs,
                        os.environ.get(ORPHAN_GRACE_ENV, ""))


_own_pidfd_lock = threading.Lock()
_own_pidfd = (None, -1)  # (the pid it was opened for, the pidfd)


def own_pidfd():
    """A pidfd of this process, opened once and kept: every child gets a copy to watch."""
    global _own_pidfd
    with _own_pidfd_lock:
        pid = os.getpid()
        if _own_pidfd[0] != pid:
            from . import _native
            _own_pidfd = (pid, _native.call(_native.ext.gompxcore_PidfdOpen, pid))
        return _own_pidfd[1]


def start_child(args, files, bootstrap):
    """Have the Go core start *args* (killed at once if this process dies, until the child
    clears that itself) with *bootstrap* on its fd 3 and *files* from fd 4 on; return the
    core's process handle."""
    from . import _native
    spec = _process_spec(args, files)
    return _native.call(_native.ext.gompxcore_ProcessStart,
                        _native.bytes_address(spec), len(spec),
                        _native.bytes_address(bootstrap), len(bootstrap))


def _process_spec(args, files, kill_with_parent=True):
    """The core's start request: NUL-terminated fields (exact bytes, no encoding games).

    Layout: path, cwd, kill_with_parent, len(files), files..., len(args), args...,
    len(env), env...
    """
    env = [k + b"=" + v for k, v in os.environb.items()]
    fields = [os.fsencode(args[0]), b"", b"1" if kill_with_parent else b"0",
              str(len(files)).encode()]
    fields += [str(fd).encode() for fd in files]
    fields.append(str(len(args)).encode())
    fields += [os.fsencode(a) for a in args]
    fields.append(str(len(env)).encode())
    fields += env
    for f in fields:
        if b"\0" in f:
            raise ValueError("embedded null byte in a child's command line or environment")
    return b"\0".join(fields) + b"\0"
