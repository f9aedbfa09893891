"""The fork server: a small interpreter that forks children on request.

Laid out like CPython's ``multiprocessing/forkserver.py``.  The Go runtime does not
survive ``fork()``, so the server never loads it: it imports only pure-Python parts of
gompx (and the modules named by ``set_forkserver_preload``).  A child loads the Go core
after the fork, when it first needs it.

Protocol.  The parent spawns the server (through the Go core, killed if the parent dies)
with a SOCK_SEQPACKET control socket.  For each child the parent sends one record whose
SCM_RIGHTS carry [channel, *passed fds]; ``channel`` is the server's end of a socketpair
private to that child.  The server forks; the child reads its bootstrap (8-byte length,
then the same two pickles a spawned child reads on fd 3) from the channel and runs.  The
passed fds include a pidfd of the parent: the child's ``parent_process()`` is the process
that asked for it, not the server, and that is the process the child watches
(``spawn._watch_parent``).  The server writes the child's pid, then, when it reaps the
child, its exit code (8-byte signed big-endian integers) on the channel, so the parent's
end is the child's sentinel.

The parent's death.  The server keeps its children's grace: once the parent is gone it
stays until they exit, at most the longest of their graces, then SIGKILLs what still
runs.  A child also watches the parent by itself (``_watch_parent``), so that it
survives a server killed under it, as stdlib's do, and still never outlives a dead parent
for good.
"""

import atexit
import os
import select
import selectors
import signal
import socket
import struct
import sys
import threading
import time

from . import _alias
from . import spawn

__all__ = ["ensure_running", "connect_to_new_process", "set_forkserver_preload", "main"]

MAXFDS_TO_SEND = 256
SIGNED_STRUCT = struct.Struct(">q")
PR_SET_PDEATHSIG = 1


class ForkServer:
    """The parent's side: starts the server once and asks it for children."""

    def __init__(self):
        self._control = None
        self._server = None
        self._lock = threading.Lock()
        self._preload_modules = ["__main__"]
        self._lingering = []  # stopped servers whose served children still ran
        # At exit the control socket closes as the process's descriptors would, without
        # a ResourceWarning for a socket object left to the garbage collector.
        atexit.register(self._close_control)

    def _close_control(self):
        with self._lock:
            if self._control is not None:
                self._control.close()
                self._control = None

    def set_forkserver_preload(self, modules_names):
        if not all(type(mod) is str for mod in modules_names):
            raise TypeError("module_names must be a list of strings")
        self._preload_modules = modules_names

    def ensure_running(self):
        """Start the server unless it is running."""
        with self._lock:
            if self._server is not None and self._server.poll() is None:
                return
            self._start()

    def _start(self):
        from .popen_spawn_posix import start_child
        import pickle
        if self._control is not None:
            self._control.close()
        parent_end, server_end = _blocking_socketpair(socket.SOCK_SEQPACKET)
        # What the main module needs to import in the server as it does here, so that
        # children find it preloaded instead of running it again each.
        config = {"preload": self._preload_modules,
                  "main": _main_path(self._preload_modules),
                  "sys_path": sys.path,
                  "sys_argv": sys.argv,
                  "dir": os.getcwd(),
                  "serve_multiprocessing": _alias.installed(),
                  "parent_pid": os.getpid()}
        bootstrap = pickle.dumps(config)
        cmd = [spawn.get_executable()] + spawn._args_from_interpreter_flags() + [
            "-c", spawn.child_program("from gompx.forkserver import main; main()"),
            "--gompx-forkserver"]
        try:
            handle = start_child(cmd, [server_end.fileno()], bootstrap)
        finally:
            server_end.close()
        self._control = parent_end
        self._server = _ServerProcess(handle)

    @property
    def _forkserver_pid(self):
        """The server's pid (None before it starts), as CPython's ForkServer has it."""
        return None if self._server is None else self._server.pid

    # How long _stop waits for the server: it stays while children it served still run
    # (to report their exit codes), and those are not _stop's to wait for.
    _STOP_WAIT = 1.0

    def _stop(self):
        """Stop the server: it serves no one from now on, and exits once the children
        it served have (they live on); wait for that up to _STOP_WAIT seconds."""
        with self._lock:
            if self._control is not None:
                self._control.close()  # the server stops serving on its EOF
                self._control = None
            if self._server is not None:
                if not self._server.wait_and_close(self._STOP_WAIT):
                    self._lingering.append(self._server)  # reaped when it exits
                self._server = None

    def connect_to_new_process(self, fds, grace_ms=0):
        """Ask for a child that may outlive this process by *grace_ms*; return the
        parent's end of its channel (its sentinel)."""
        if len(fds) + 1 >= MAXFDS_TO_SEND:
            raise ValueError("too many fds")
        self.ensure_running()
        parent_end, child_end = _blocking_socketpair(socket.SOCK_STREAM)
        try:
            with self._lock:
                socket.send_fds(self._control, [b"F" + SIGNED_STRUCT.pack(grace_ms)],
                                [child_end.fileno()] + list(fds))
        except OSError:
            parent_end.close()
            raise
        finally:
            child_end.close()
        return parent_end


def _blocking_socketpair(kind):
    """A socketpair in blocking mode whatever socket.setdefaulttimeout() says: a
    timeout would make the descriptors non-blocking, in the server and the child too."""
    pair = socket.socketpair(socket.AF_UNIX, kind)
    for sock in pair:
        sock.settimeout(None)
    return pair


class _ServerProcess:
    """The server as a child of the Go core."""

    def __init__(self, handle):
        from . import _native
        self._native = _native
        self.handle = handle
        self.pid = _native.call(_native.ext.gompxcore_ProcessPid, handle)

    def poll(self):
        code = self._native.call(self._native.ext.gompxcore_ProcessWait, self.handle, 0)
        return None if code == self._native.STILL_RUNNING else code

    def wait_and_close(self, timeout):
        """Wait up to *timeout* seconds for the server to exit; if it did, release its
        handle and return True."""
        native, handle = self._native, self.handle

        attempt = native.attempt(native.ext.gompxcore_ProcessWait, handle,
                                 pending=native.STILL_RUNNING)
        if native.wait_sliced(attempt, timeout) is None:
            return False
        native.call(native.ext.gompxcore_ProcessClose, handle)
        return True


def _main_path(preload):
    if "__main__" not in preload:
        return None
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or getattr(getattr(main, "__spec__", None), "name", None):
        return None
    return os.path.abspath(path)


# -- the server ----------------------------------------------------------------------

# Set in the server process: gompx._native refuses to load there.
in_server = False
_libc = None


def main():
    """Run the fork server (in its own interpreter; never loads the Go runtime)."""
    global in_server, _libc
    import ctypes
    import pickle
    in_server = True
    _libc = ctypes.CDLL(None, use_errno=True)
    config = pickle.loads(spawn._read_all(spawn.BOOTSTRAP_FD))
    control = socket.socket(fileno=spawn.FIRST_PASSED_FD)
    if config.get("serve_multiprocessing"):
        _alias.install()
    sys.path[:] = config["sys_path"]
    sys.argv[:] = config["sys_argv"]
    try:
        os.chdir(config["dir"])
    except OSError:
        pass
    # What every child runs, imported once here rather than in each child.
    from . import util, connection  # noqa: F401  (pure Python until first use)
    if config["main"]:
        try:
            spawn.import_main_path(config["main"])
        except Exception:
            # The child will import it itself (and report any error there).
            pass
    for modname in config["preload"]:
        if modname != "__main__":
            try:
                __import__(modname)
            except ImportError:
                pass
    # From here on the server outlives its parent by the children's grace (see
    # _outlive_parent): the kernel's instant kill, which covered the start-up, goes.
    global _parent_pidfd
    _parent_pidfd = os.pidfd_open(config["parent_pid"])
    _libc.prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)
    if os.getppid() != config["parent_pid"]:
        os._exit(0)  # the parent died before the kill was turned off
    _serve(control)


# The parent's pidfd, in the server: readable once the parent has exited.
_parent_pidfd = None


def _serve(control):
    sig_r, sig_w = os.pipe()
    os.set_blocking(sig_r, False)
    os.set_blocking(sig_w, False)
    handlers = {signal.SIGCHLD: lambda *_: None, signal.SIGINT: signal.SIG_IGN}
    old_handlers = {sig: signal.signal(sig, val) for (sig, val) in handlers.items()}
    signal.set_wakeup_fd(sig_w)
    channels = {}  # pid -> the server's end of that child's channel
    graces = {}  # pid -> how long (ms) that child may outlive the process that asked
    with selectors.DefaultSelector() as selector:
        selector.register(control, selectors.EVENT_READ)
        selector.register(sig_r, selectors.EVENT_READ)
        while True:
            ready = [key.fileobj for (key, _) in selector.select()]
            if sig_r in ready:
                _drain(sig_r)
                _reap(channels, graces)
            if control in ready:
                try:
                    msg, fds, flags, _ = socket.recv_fds(control, REQUEST_SIZE + 1,
                                                         MAXFDS_TO_SEND)
                except OSError:
                    msg, fds, flags = b"", [], 0
                if not msg and _hung_up(control):
                    _outlive_parent(control, channels, graces, selector, sig_r)
                    os._exit(0)
                grace_ms = _parse_request(msg, fds, flags)
                if grace_ms is None:
                    # Not a request the parent sends: a server that died of it would lose
                    # the exit codes of every child it runs.  Drop it and serve on.
                    for fd in fds:
                        os.close(fd)
                    continue
                pid = _fork_child(fds, grace_ms, control, sig_r, sig_w, old_handlers,
                                  channels)
                graces[pid] = grace_ms
                channel = fds[0]
                for fd in fds[1:]:
                    os.close(fd)
                try:
                    _write_signed(channel, pid)
                    channels[pid] = channel
                except OSError:
                    os.close(channel)


# A request: b"F", then the child's grace in ms (8-byte signed big-endian), with the
# child's channel and its passed fds as SCM_RIGHTS.
REQUEST_SIZE = 1 + SIGNED_STRUCT.size


def _parse_request(msg, fds, flags):
    """The grace of a well-formed request record, or None for anything else: a record
    of another length or kind, one cut short (MSG_TRUNC, MSG_CTRUNC) or without a channel."""
    if (len(msg) != REQUEST_SIZE or msg[:1] != b"F" or not fds
            or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC)):
        return None
    grace_ms = SIGNED_STRUCT.unpack_from(msg, 1)[0]
    return grace_ms if grace_ms >= 0 else None


def _hung_up(sock):
    """Whether the parent's end of the control socket is closed (an empty record reads
    the same as end of stream; only the hang-up tells them apart)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return any(ev & (select.POLLHUP | select.POLLERR) for _, ev in poller.poll(0))


def _outlive_parent(control, channels, graces, selector, sig_r):
    """The control socket closed: the parent stopped the server or died.  The server
    stays to report its children's exit codes while the parent lives (it only stopped
    the server), and from the parent's death on at most the longest of their graces,
    when it kills those still running.  Each child's own watch (``_watch_parent``) keeps
    the same deadline; this one needs no cooperation from the child (no GIL), so it is
    what ends a child stuck in C code while the server lives."""
    selector.unregister(control)
    selector.register(_parent_pidfd, selectors.EVENT_READ)
    deadline = None
    while channels:
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            for pid in channels:  # not yet reaped, so the pid is still that child's
                os.kill(pid, signal.SIGKILL)
            return
        ready = [key.fileobj for (key, _) in selector.select(timeout)]
        if _parent_pidfd in ready:
            selector.unregister(_parent_pidfd)
            deadline = time.monotonic() + max(graces.values(), default=0) / 1000
        if sig_r in ready:
            _drain(sig_r)
            _reap(channels, graces)


def _drain(sig_r):
    """Empty the signal wake-up pipe (the SIGCHLDs it reported are reaped next)."""
    while True:
        try:
            if not os.read(sig_r, 4096):
                return
        except BlockingIOError:
            return


def _reap(channels, graces):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        graces.pop(pid, None)
        channel = channels.pop(pid, None)
        if channel is None:
            continue
        try:
            _write_signed(channel, os.waitstatus_to_exitcode(status))
        except OSError:
            pass
        os.close(channel)


def _fork_child(fds, grace_ms, control, sig_r, sig_w, old_handlers, channels):
    pid = os.fork()
    if pid != 0:
        return pid
    global in_server
    code = 1
    try:
        in_server = False
        _watch_parent(grace_ms)
        signal.set_wakeup_fd(-1)
        for sig, val in old_handlers.items():
            signal.signal(sig, val)
        control.close()
        os.close(sig_r)
        os.close(sig_w)
        # The other children's channels are the server's: a child holding them would
        # have more descriptors the more siblings it has, and keep their ends open.
        for channel in channels.values():
            os.close(channel)
        # The child's exit handlers are its own, run as a spawned child's would be
        # (not the server's, which it inherited with the fork).
        atexit._clear()
        from . import util
        atexit.register(util._exit_function)
        code = _serve_one(fds[0], fds[1:])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _watch_parent(grace_ms):
    """In a fork-served child, first thing after the fork: SIGKILL this process
    *grace_ms* after the parent's death.

    The watch is a thread blocked in poll(2) on the server's pidfd of the parent, not
    the Go core's watch: loading the Go core would cost more than the whole fork-served
    start.  A pidfd stays readable once its process has exited, so there is no gap: a
    parent that died before the thread's first poll is seen by it.  The child does not
    die with its server (no PR_SET_PDEATHSIG), so it runs on if the server is killed, as
    stdlib's do.  The thread needs the GIL only once the grace is over; while the server
    lives it kills, on the same deadline, a child stuck in C code that holds the GIL."""
    import _thread
    _thread.start_new_thread(_kill_after_parent, (_parent_pidfd, grace_ms))


def _kill_after_parent(pidfd, grace_ms):
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    while True:
        events = poller.poll()
        if any(ev & select.POLLNVAL for _, ev in events):
            return  # closed under us (a careless closerange): only the server's watch is left
        if any(ev & (select.POLLIN | select.POLLHUP | select.POLLERR) for _, ev in events):
            break
    time.sleep(grace_ms / 1000)
    os.kill(os.getpid(), signal.SIGKILL)


def _serve_one(channel, passed_fds):
    from . import reduction
    size = SIGNED_STRUCT.unpack(_read_exact(channel, 8))[0]
    bootstrap = _read_exact(channel, size)
    os.close(channel)
    reduction.set_inherited_fds(passed_fds)
    return spawn._main(bootstrap)


def _read_exact(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("fork server channel closed early")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _write_signed(fd, n):
    data = SIGNED_STRUCT.pack(n)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_signed(fd):
    """Read one 8-byte signed integer from a descriptor (EOFError if it closes first)."""
    data = b""
    while len(data) < 8:
        chunk = os.read(fd, 8 - len(data))
        if not chunk:
            raise EOFError("unexpected EOF")
        data += chunk
    return SIGNED_STRUCT.unpack(data)[0]


_forkserver = ForkServer()
ensure_running = _forkserver.ensure_running
connect_to_new_process = _forkserver.connect_to_new_process
set_forkserver_preload = _forkserver.set_forkserver_preload
