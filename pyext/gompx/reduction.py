"""Pickling for inter-process transfer: ``ForkingPickler`` and descriptor hand-over.

Laid out like CPython's ``multiprocessing/reduction.py``.  Objects that own file
descriptors (connections, process sentinels) pickle into an index into the list of
descriptors the spawning ``Popen`` passes to the child; the child maps the index back to
the descriptor it inherited.
"""

import array
import copyreg
import functools
import io
import pickle
import socket
from abc import ABCMeta

__all__ = ["send_handle", "recv_handle", "ForkingPickler", "register", "dump", "DupFd",
           "sendfds", "recvfds", "AbstractReducer", "inherited_fd", "set_inherited_fds"]

# Descriptors travel over AF_UNIX sockets with SCM_RIGHTS (Linux: always).
HAVE_SEND_HANDLE = True
ACKNOWLEDGE = False  # as CPython off Windows: a passed handle needs no acknowledgement

# Protocol 5 everywhere (CPython 3.8+ reads it): out-of-band buffers and the compact opcodes.
PROTOCOL = pickle.HIGHEST_PROTOCOL if pickle.HIGHEST_PROTOCOL >= 5 else pickle.DEFAULT_PROTOCOL


class ForkingPickler(pickle.Pickler):
    """Pickler that honours reducers registered with :meth:`register`."""

    # Reducers registered by the program: they may override how a type plain pickle
    # handles is pickled, so while there are any every pickle takes the full path.
    _extra_reducers = {}
    # gompx's own reducers for types plain pickle refuses (sockets): plain pickle is tried
    # first (C, ~4x cheaper), and the full path only when it refuses something.
    _fallback_reducers = {}
    _copyreg_dispatch_table = copyreg.dispatch_table

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dispatch_table = self._copyreg_dispatch_table.copy()
        self.dispatch_table.update(self._fallback_reducers)
        self.dispatch_table.update(self._extra_reducers)

    @classmethod
    def register(cls, type, reduce):
        """Register a reduce function for a type."""
        cls._extra_reducers[type] = reduce

    @classmethod
    def dumps(cls, obj, protocol=None):
        protocol = PROTOCOL if protocol is None else protocol
        if not cls._extra_reducers:
            try:
                return pickle.dumps(obj, protocol)
            except Exception:
                if not cls._fallback_reducers:
                    raise
        return cls.dumps_full(obj, protocol)

    @classmethod
    def dumps_full(cls, obj, protocol=None):
        """Pickle with every registered reducer (what dumps does when it must)."""
        buf = io.BytesIO()
        cls(buf, PROTOCOL if protocol is None else protocol).dump(obj)
        return buf.getbuffer()

    loads = staticmethod(pickle.loads)


register = ForkingPickler.register


def dump(obj, file, protocol=None):
    """Replacement for pickle.dump() using ForkingPickler."""
    ForkingPickler(file, PROTOCOL if protocol is None else protocol).dump(obj)


dumps = ForkingPickler.dumps
loads = pickle.loads

# In a child: where the descriptors it inherited are.  A spawned child has them in a run
# starting at one descriptor (an int); a fork-served child has them as a list.
_inherited_fds = None


def set_inherited_fds(fds):
    global _inherited_fds
    _inherited_fds = fds if isinstance(fds, int) else list(fds)


def inherited_fd(index):
    """The descriptor a child inherited as entry *index* of its parent's list."""
    if isinstance(_inherited_fds, int):
        return _inherited_fds + index
    if _inherited_fds is None or not 0 <= index < len(_inherited_fds):
        raise ValueError("no inherited file descriptor #%d in this process" % index)
    return _inherited_fds[index]


class _InheritedFd:
    """A descriptor on its way to a child being spawned: pickles as its index."""

    def __init__(self, index):
        self.index = index

    def detach(self):
        return inherited_fd(self.index)


def DupFd(fd):
    """A picklable stand-in for *fd*; ``detach()`` on the receiving side gives the
    receiver its own copy.

    To a child being spawned the descriptor travels with the child's start; anywhere
    else (over a Pipe, a Queue, a manager) the resource sharer of this process hands it
    over when the receiver asks (see ``gompx.resource_sharer``)."""
    from .context import get_spawning_popen
    popen = get_spawning_popen()
    if popen is not None:
        return _InheritedFd(popen.duplicate_for_child(fd))
    from . import resource_sharer
    return resource_sharer.DupFd(fd)


# -- descriptors over a Unix socket, as in CPython ----------------------------------------

def sendfds(sock, fds):
    """Send a list of descriptors over an AF_UNIX socket."""
    fds = array.array("i", fds)
    msg = bytes([len(fds) % 256])
    sock.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])


def recvfds(sock, size):
    """Receive a list of *size* descriptors over an AF_UNIX socket."""
    a = array.array("i")
    bytes_size = a.itemsize * size
    msg, ancdata, flags, addr = sock.recvmsg(1, socket.CMSG_SPACE(bytes_size))
    if not msg and not ancdata:
        raise EOFError
    try:
        if len(ancdata) != 1:
            raise RuntimeError("received %d items of ancdata" % len(ancdata))
        cmsg_level, cmsg_type, cmsg_data = ancdata[0]
        if cmsg_level == socket.SOL_SOCKET and cmsg_type == socket.SCM_RIGHTS:
            if len(cmsg_data) % a.itemsize != 0:
                raise ValueError
            a.frombytes(cmsg_data)
            if len(a) % 256 != msg[0]:
                raise AssertionError("Len is {0:n} but msg[0] is {1!r}".format(
                    len(a), msg[0]))
            return list(a)
    except (ValueError, IndexError):
        pass
    raise RuntimeError("Invalid data received")


def send_handle(conn, handle, destination_pid):
    """Send a descriptor over a local (AF_UNIX) connection."""
    with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as s:
        sendfds(s, [handle])


def recv_handle(conn):
    """Receive a descriptor over a local (AF_UNIX) connection."""
    with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as s:
        return recvfds(s, 1)[0]


# -- reducers for callables and sockets, as in CPython --------------------------------------

def _reduce_method(m):
    if m.__self__ is None:
        return getattr, (m.__class__, m.__func__.__name__)
    return getattr, (m.__self__, m.__func__.__name__)


class _C:
    def f(self):
        pass


def _reduce_method_descriptor(m):
    return getattr, (m.__objclass__, m.__name__)


def _reduce_partial(p):
    return _rebuild_partial, (p.func, p.args, p.keywords or {})


def _rebuild_partial(func, args, keywords):
    return functools.partial(func, *args, **keywords)


def _reduce_socket(s):
    df = DupFd(s.fileno())
    return _rebuild_socket, (df, s.family, s.type, s.proto)


def _rebuild_socket(df, family, type, proto):
    fd = df.detach()
    return socket.socket(family, type, proto, fileno=fd)


# Plain pickle handles bound methods and partials since 3.4; a socket needs its
# descriptor passed.
ForkingPickler._fallback_reducers[socket.socket] = _reduce_socket


class AbstractReducer(metaclass=ABCMeta):  # noqa: B024 (stdlib's has no abstract method either)
    """Base of a replacement reduction mechanism (``ctx.reducer = MyReducer()``)."""

    ForkingPickler = ForkingPickler
    register = register
    dump = dump
    send_handle = send_handle
    recv_handle = recv_handle
    sendfds = sendfds
    recvfds = recvfds
    DupFd = DupFd
    _reduce_method = _reduce_method
    _reduce_method_descriptor = _reduce_method_descriptor
    _rebuild_partial = _rebuild_partial
    _reduce_socket = _reduce_socket
    _rebuild_socket = _rebuild_socket

    def __init__(self, *args):
        register(type(_C().f), _reduce_method)
        register(type(list.append), _reduce_method_descriptor)
        register(type(int.__add__), _reduce_method_descriptor)
        register(functools.partial, _reduce_partial)
        register(socket.socket, _reduce_socket)
