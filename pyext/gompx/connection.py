"""Connections: ``Pipe``, ``Connection``, ``wait``, ``Listener`` and ``Client``.

Laid out like CPython's ``multiprocessing/connection.py`` and byte-compatible with it on
the wire (4-byte big-endian length, ``-1`` then an 8-byte length above 2 GiB), so a gompx
Connection and a stdlib Connection on the two ends of one socket understand each other.

Framing, reading, writing and polling happen in the Go core.  Python pickles (with the C
pickler) and hands the core the address and length of the bytes; received payloads land
directly in a bytes object this module owns.  Between the two ends of a ``Pipe`` the core
moves large payloads through shared memory instead of the socket.

``Listener`` and ``Client`` bind, accept, connect and authenticate in the Go core, over
AF_UNIX (paths and Linux abstract names) and AF_INET.  Their connections and handshake
are CPython's byte for byte, so either end may be a stock CPython 3.10-3.13.  gompx sends
challenges in CPython 3.12's form (``{sha256}`` + 40 random bytes), which every CPython
from 3.10 on answers, and accepts every answer CPython 3.12 accepts (a raw HMAC-MD5 from
3.10/3.11, or ``{digest}`` + HMAC); it answers both generations of challenge.
"""

import errno
import os
import pickle
import socket
import tempfile

from . import reduction
from .context import BufferTooShort, AuthenticationError

__all__ = ["Client", "Listener", "Pipe", "wait", "Connection", "BufferTooShort",
           "AuthenticationError", "answer_challenge", "deliver_challenge", "address_type",
           "arbitrary_address"]

_native = None

# Messages up to this size land in the connection's scratch buffer; larger ones get a
# bytes object of their own, filled by the core without an intermediate copy.
_SCRATCH_SIZE = 16 * 1024

BUFSIZE = 8192
# A very generous timeout when it comes to local connections (as CPython's).
CONNECTION_TIMEOUT = 20.

default_family = "AF_UNIX"
families = ["AF_INET", "AF_UNIX"]


def _load_native():
    global _native, _BYTES_DATA_OFFSET
    from . import _native as native
    _BYTES_DATA_OFFSET = native.BYTES_DATA_OFFSET
    _native = native
    return native


class Connection:
    """One end of a message-oriented connection over a socket or pipe descriptor.

    ``Connection(fd, readable=True, writable=True)`` takes ownership of *fd*, as in
    CPython.
    """

    _handle = None

    def __init__(self, handle, readable=True, writable=True):
        native = _native or _load_native()
        handle = handle.__index__()
        if handle < 0:
            raise ValueError("invalid handle")
        if not readable and not writable:
            raise ValueError("at least one of `readable` and `writable` must be True")
        try:
            self._handle = native.call(native.ext.gompxcore_ConnNew, handle,
                                       bool(readable), bool(writable))
        except OSError as e:
            if e.errno != errno.EBADF:
                raise
            # CPython takes any number and fails on first use; so does this object: no
            # core handle is 0, so every operation raises OSError.
            self._handle = 0
        self._init(handle, readable, writable)

    @classmethod
    def _from_native(cls, handle, fd, readable, writable):
        self = cls.__new__(cls)
        self._handle = handle
        self._init(fd, readable, writable)
        return self

    def _init(self, fd, readable, writable):
        self._fd = fd
        self._readable = bool(readable)
        self._writable = bool(writable)
        self._scratch = None

    def __del__(self):
        if self._handle is not None:
            try:
                self._close()
            except Exception:
                pass  # at interpreter exit the module may be half torn down

    def _check_closed(self):
        if self._handle is None:
            raise OSError("handle is closed")

    def _check_readable(self):
        if not self._readable:
            raise OSError("connection is write-only")

    def _check_writable(self):
        if not self._writable:
            raise OSError("connection is read-only")

    @property
    def closed(self):
        """True if the connection is closed."""
        return self._handle is None

    @property
    def readable(self):
        """True if the connection is readable."""
        return self._readable

    @property
    def writable(self):
        """True if the connection is writable."""
        return self._writable

    def fileno(self):
        """File descriptor used by the connection."""
        self._check_closed()
        return self._fd

    def _close(self):
        handle, self._handle = self._handle, None
        _native.call(_native.ext.gompxcore_ConnClose, handle)

    def close(self):
        """Close the connection."""
        if self._handle is not None:
            self._close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        self.close()

    # -- sending ---------------------------------------------------------------------

    def _send_bytes(self, data):
        """Send the whole bytes object *data* as one message."""
        _native.call(_native.ext.gompxcore_ConnSend, self._handle, id(data) + _BYTES_DATA_OFFSET,
                     len(data))

    def send_bytes(self, buf, offset=0, size=None):
        """Send the bytes data from a bytes-like object."""
        self._check_closed()
        self._check_writable()
        m = memoryview(buf)
        if m.itemsize > 1:
            m = m.cast("B")
        n = m.nbytes
        if offset < 0:
            raise ValueError("offset is negative")
        if n < offset:
            raise ValueError("buffer length < offset")
        if size is None:
            size = n - offset
        elif size < 0:
            raise ValueError("size is negative")
        elif offset + size > n:
            raise ValueError("buffer length < offset + size")
        if type(buf) is bytes:
            if offset == 0 and size == n:
                return self._send_bytes(buf)
            return self._send_at(id(buf) + _BYTES_DATA_OFFSET + offset, size, buf)
        return self._send_view(m[offset:offset + size])

    def _send_at(self, address, size, owner):
        _native.call(_native.ext.gompxcore_ConnSend, self._handle, address, size)
        del owner  # kept alive until here: the core read from its memory

    def _send_view(self, view):
        if not view.contiguous:
            return self._send_bytes(view.tobytes())
        if view.readonly or view.nbytes < _SCRATCH_SIZE:
            return self._send_bytes(bytes(view))
        address = _buffer_address(view)
        return self._send_at(address, view.nbytes, view)

    def send(self, obj):
        """Send a (picklable) object."""
        self._check_closed()
        self._check_writable()
        data = reduction.ForkingPickler.dumps(obj)
        if type(data) is not bytes:
            data = bytes(data)
        self._send_bytes(data)

    # -- receiving -------------------------------------------------------------------

    def _recv_message(self, maxlength=None):
        """Receive one message; return (buffer, length): the payload is buffer[:length]."""
        native = _native
        try:
            return self._recv_into_place(maxlength)
        except RuntimeError as e:
            raise native.translate(e) from None
        except BaseException:
            # A signal handler raised (Ctrl-C) or the buffer could not be had with a
            # message under way: the next receive skips the rest of it and gets the next
            # one in step (stdlib is out of step here).  Nothing pending: a no-op.
            self._drop_pending()
            raise

    def _recv_into_place(self, maxlength):
        native = _native
        scratch = self._scratch
        if scratch is None:
            scratch = self._scratch = bytes(_SCRATCH_SIZE)
        address = id(scratch) + _BYTES_DATA_OFFSET
        recv = native.ext.gompxcore_ConnRecv
        # -1: a signal interrupted the wait. Looping returns to the eval loop, which
        # runs the handler first (Ctrl-C raises KeyboardInterrupt here), as os.read does.
        while True:
            n = recv(self._handle, address, _SCRATCH_SIZE, -1)
            if n != -1:
                break
        if n < -1:
            # A signal came while the message was arriving: the handlers run as the rest
            # is read, so a peer that stalls mid-message cannot hold off Ctrl-C.
            n = -n - 2
            self._recv_pending(address, n)
        if maxlength is not None and n > maxlength:
            if n > _SCRATCH_SIZE:
                native.ext.gompxcore_ConnDiscard(self._handle)
            raise OSError("bad message length: %d bytes exceeds maxlength %d"
                          % (n, maxlength))
        if n <= _SCRATCH_SIZE:
            return scratch, n
        # A fresh, private bytes object the core fills in place: no intermediate copy.
        out = _new_bytes(n)
        self._recv_pending(id(out) + _BYTES_DATA_OFFSET, n)
        return out, n

    def _recv_pending(self, address, n):
        """Read the pending n-byte payload into address; -1 means a signal interrupted
        it: the loop lets the eval loop run the handlers, then resumes where it stopped."""
        pending = _native.ext.gompxcore_ConnRecvPending
        while pending(self._handle, address, n) == -1:
            pass

    def _drop_pending(self):
        try:
            _native.ext.gompxcore_ConnDiscard(self._handle)
        except RuntimeError:
            pass  # nothing was pending, or the connection is closed or out of step

    def recv_bytes(self, maxlength=None):
        """Receive bytes data as a bytes object."""
        self._check_closed()
        self._check_readable()
        if maxlength is not None and maxlength < 0:
            raise ValueError("negative maxlength")
        buf, n = self._recv_message(maxlength)
        if buf is self._scratch:
            return buf[:n]
        return buf

    def recv_bytes_into(self, buf, offset=0):
        """Receive bytes data into a writeable bytes-like object; return the byte count."""
        self._check_closed()
        self._check_readable()
        with memoryview(buf) as m:
            itemsize = m.itemsize
            bytesize = itemsize * len(m)
            if offset < 0:
                raise ValueError("negative offset")
            elif offset > bytesize:
                raise ValueError("offset too large")
            data, n = self._recv_message()
            if bytesize - offset < n:
                raise BufferTooShort(data[:n] if data is self._scratch else data)
            m.cast("B")[offset:offset + n] = memoryview(data)[:n]
            return n

    def recv(self):
        """Receive a (picklable) object."""
        self._check_closed()
        self._check_readable()
        buf, n = self._recv_message()
        if buf is self._scratch:
            with memoryview(buf) as m:
                return pickle.loads(m[:n])
        return pickle.loads(buf)

    def poll(self, timeout=0.0):
        """Whether there is any input available to be read, waiting up to *timeout*."""
        self._check_closed()
        self._check_readable()
        native = _native
        poll = native.ext.gompxcore_ConnPoll
        handle = self._handle

        return bool(native.wait_interruptible(native.attempt(poll, handle), timeout))

    def __reduce__(self):
        """Pickle for another process: for a child being spawned the descriptors travel
        with its start, anywhere else (over a Pipe, a Queue, a manager) through this
        process's resource sharer (see reduction.DupFd)."""
        self._check_closed()
        exported = _native.call(_native.ext.gompxcore_ConnExport, self._handle)
        fds, state = exported.split(";", 1)
        dupfds = [reduction.DupFd(int(fd)) for fd in fds.split(",") if fd]
        return _rebuild_connection, (type(self), dupfds, state, self._readable,
                                     self._writable)

    def __repr__(self):
        if self._handle is None:
            return "<%s closed>" % type(self).__name__
        return "<%s fd=%d%s%s>" % (type(self).__name__, self._fd,
                                   " readable" if self._readable else "",
                                   " writable" if self._writable else "")


# Set with _native (every Connection is made after it loads): where bytes data starts.
_BYTES_DATA_OFFSET = None


_bytes_from_size = None


def _new_bytes(n):
    """A new bytes object of n bytes whose content the caller overwrites at once.

    PyBytes_FromStringAndSize(NULL, n), as CPython's own readers allocate: bytes(n) would
    zero-fill memory that the core overwrites anyway (8% of a 1 MiB receive).
    """
    global _bytes_from_size
    if _bytes_from_size is None:
        import ctypes
        fn = ctypes.pythonapi.PyBytes_FromStringAndSize
        fn.restype = ctypes.py_object
        fn.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)
        _bytes_from_size = fn
    return _bytes_from_size(None, n)


def _buffer_address(view):
    import ctypes
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def _rebuild_connection(cls, dupfds, state, readable, writable):
    native = _native or _load_native()
    fds = [d.detach() for d in dupfds]
    exported = "%s;%s" % (",".join(str(fd) for fd in fds), state)
    handle = native.call(native.ext.gompxcore_ConnImport, exported)
    return cls._from_native(handle, fds[0], readable, writable)


def Pipe(duplex=True):
    """Return a pair of connected Connection objects: (reader, writer) if not duplex."""
    native = _native or _load_native()
    packed = native.call(native.ext.gompxcore_PipeNew, bool(duplex))
    h1, h2 = packed >> 32, packed & 0xFFFFFFFF
    fd1 = native.call(native.ext.gompxcore_ConnFileno, h1)
    fd2 = native.call(native.ext.gompxcore_ConnFileno, h2)
    if duplex:
        return (Connection._from_native(h1, fd1, True, True),
                Connection._from_native(h2, fd2, True, True))
    return (Connection._from_native(h1, fd1, True, False),
            Connection._from_native(h2, fd2, False, True))


def wait(object_list, timeout=None):
    """Wait till an object in *object_list* is ready; return the ready ones.

    Objects are connections, sockets, process sentinels or anything with ``fileno()``.
    """
    native = _native or _load_native()
    if len(object_list) == 1 and type(object_list[0]) is Connection \
            and object_list[0]._readable:
        # The common single-connection case: no descriptor list to build and parse.
        conn = object_list[0]
        return [conn] if conn.poll(timeout) else []
    by_fd = {}
    for obj in object_list:
        by_fd.setdefault(obj if isinstance(obj, int) else obj.fileno(), []).append(obj)
    fds = ",".join(map(str, by_fd))
    wait_fds = native.ext.gompxcore_WaitFds

    ready = native.wait_interruptible(native.attempt(wait_fds, fds), timeout)
    if not ready:
        return []
    return [obj for fd in ready.split(",") for obj in by_fd[int(fd)]]


# -- addresses ----------------------------------------------------------------------


def arbitrary_address(family):
    """Return an arbitrary free address for the given family."""
    if family == "AF_INET":
        return ("localhost", 0)
    elif family == "AF_UNIX":
        from . import util
        return tempfile.mktemp(prefix="listener-", dir=util.get_temp_dir())
    else:
        raise ValueError("unrecognized family")


def _validate_family(family):
    """Checks if the family is valid for the current environment."""
    if family == "AF_PIPE":
        raise ValueError("Family %s is not recognized." % family)


def address_type(address):
    """Return the types of the address: 'AF_INET', 'AF_UNIX', or 'AF_PIPE'."""
    from . import util
    if type(address) is tuple:
        return "AF_INET"
    elif type(address) is str and address.startswith("\\\\"):
        return "AF_PIPE"
    elif type(address) is str or util.is_abstract_socket_namespace(address):
        return "AF_UNIX"
    else:
        raise ValueError("address type of %r unrecognized" % address)


def _ipv4(host):
    # What CPython's AF_INET sockets do with a host name (setipaddr): '' is INADDR_ANY,
    # '<broadcast>' INADDR_BROADCAST, anything else goes through getaddrinfo(AF_INET).
    if host == "":
        return "0.0.0.0"
    if host == "<broadcast>":
        return "255.255.255.255"
    return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]


def _encode_address(family, address):
    """The address as the core takes it: the hex of its bytes."""
    if family == "AF_INET":
        if not isinstance(address, tuple):
            raise TypeError("getsockaddrarg: AF_INET address must be tuple, not %s"
                            % type(address).__name__)
        if len(address) != 2:
            raise TypeError("AF_INET address must be a pair (host, port)")
        host, port = address
        if not isinstance(host, str):
            raise TypeError("str, bytes or bytearray expected, not %s" % type(host).__name__)
        port = port.__index__()
        if not 0 <= port <= 65535:
            raise OverflowError("getsockaddrarg: port must be 0-65535.")
        return ("%s:%d" % (_ipv4(host), port)).encode().hex()
    if family != "AF_UNIX":
        # CPython looks the family up in the socket module.
        raise AttributeError("module 'socket' has no attribute %r" % (family,))
    raw = os.fsencode(address) if not isinstance(address, (bytes, bytearray)) \
        else bytes(address)
    if raw[:1] != b"\0" and b"\0" in raw:
        raise ValueError("embedded null byte")
    return raw.hex()


def _decode_address(family, encoded):
    raw = bytes.fromhex(encoded)
    if family == "AF_INET":
        host, port = raw.decode().rsplit(":", 1)
        return (host, int(port))
    return raw if raw[:1] == b"\0" else os.fsdecode(raw)


def _connection_from_handle(handle):
    native = _native
    fd = native.call(native.ext.gompxcore_ConnFileno, handle)
    return Connection._from_native(handle, fd, True, True)


# -- Listener and Client ------------------------------------------------------------


def _close_listener(handle):
    native = _native or _load_native()
    native.call(native.ext.gompxcore_ListenerClose, handle)


class Listener:
    """A bound socket listening for connections: ``accept()`` returns a ``Connection``.

    ``Listener(address=None, family=None, backlog=1, authkey=None)`` as in CPython.  An
    AF_UNIX socket file is created with mode 0600 and removed by ``close()`` (or at
    exit).  With an *authkey* (bytes, possibly empty), every accepted connection is
    authenticated both ways before ``accept()`` returns it.
    """

    _handle = None

    def __init__(self, address=None, family=None, backlog=1, authkey=None):
        family = family or (address and address_type(address)) or default_family
        address = address or arbitrary_address(family)
        _validate_family(family)
        if authkey is not None and not isinstance(authkey, bytes):
            raise TypeError("authkey should be a byte string")
        native = _native or _load_native()
        encoded = _encode_address(family, address)
        self._handle = native.call(native.ext.gompxcore_ListenerNew, family, encoded,
                                   int(backlog))
        self._family = family
        if family == "AF_UNIX" and not isinstance(address, (bytes, bytearray)) \
                and not str(address).startswith("\0"):
            self._address = os.fsdecode(address)
        else:
            self._address = _decode_address(
                family, native.call(native.ext.gompxcore_ListenerAddress, self._handle))
        self._authkey = authkey
        self._last_accepted = None
        from . import util
        # As CPython's, an unclosed listener's socket file goes at exit.
        self._finalizer = util.Finalize(self, _close_listener, args=(self._handle,),
                                        exitpriority=0)

    def accept(self):
        """Accept a connection on the bound socket; return a ``Connection``."""
        if self._handle is None:
            raise OSError("listener is closed")
        native = _native
        accept = native.ext.gompxcore_ListenerAccept
        handle = self._handle

        conn = native.wait_interruptible(native.attempt(accept, handle, pending=-1), None)
        c = _connection_from_handle(conn)
        self._last_accepted = _decode_address(self._family, native.call(
            native.ext.gompxcore_ListenerLastAccepted, handle))
        if self._authkey is not None:
            try:
                _authenticate(c, self._authkey, "DA")
            except BaseException:
                c.close()
                raise
        return c

    def close(self):
        """Close the bound socket, removing its AF_UNIX socket file."""
        if self._handle is not None:
            self._handle = None
            self._finalizer()

    @property
    def address(self):
        """The bound address: a path, ``b'\\0name'`` or ``(host, port)``."""
        return self._address

    @property
    def last_accepted(self):
        """The address of the last accepted peer (``''`` for an unnamed AF_UNIX one)."""
        return self._last_accepted

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        self.close()

    def __repr__(self):
        state = "closed" if self._handle is None else "address=%r" % (self._address,)
        return "<%s %s>" % (type(self).__name__, state)


def Client(address, family=None, authkey=None):
    """Return a ``Connection`` to the ``Listener`` at *address*.

    With an *authkey*, answer the listener's challenge and deliver one before returning.
    """
    family = family or address_type(address)
    _validate_family(family)
    if authkey is not None and not isinstance(authkey, bytes):
        raise TypeError("authkey should be a byte string")
    native = _native or _load_native()
    # As CPython's SocketClient, the socket's family follows the address.
    kind = address_type(address)
    handle = native.call(native.ext.gompxcore_ClientConnect, kind,
                         _encode_address(kind, address))
    c = _connection_from_handle(handle)
    if authkey is not None:
        try:
            _authenticate(c, authkey, "AD")
        except BaseException:
            c.close()
            raise
    return c


# -- authentication -----------------------------------------------------------------


def _authenticate(connection, authkey, steps, digest_name="sha256"):
    """Run the handshake halves in *steps* ("D" deliver, "A" answer) in the Go core."""
    native = _native or _load_native()
    if not isinstance(digest_name, str):
        raise TypeError("digest_name must be str, not %s" % type(digest_name).__name__)
    if not isinstance(connection, Connection):
        return _authenticate_over(connection, authkey, steps, digest_name, native)
    connection._check_closed()
    handshake = native.call(native.ext.gompxcore_AuthNew, connection._handle,
                            id(authkey) + native.BYTES_DATA_OFFSET, len(authkey), steps,
                            digest_name)
    run = native.ext.gompxcore_AuthRun
    try:
        # False: a signal interrupted the wait for the peer. Looping goes back through the
        # eval loop, which runs the handler (Ctrl-C raises here), then the core resumes.
        while True:
            if native.call(run, handshake):
                return
    finally:
        native.ext.gompxcore_AuthDrop(handshake)


def __getattr__(name):
    # CPython's CHALLENGE, WELCOME and FAILURE, from the Go core that speaks the
    # handshake (read on first use: importing gompx does not load the Go runtime).
    # (CPython 3.12 renamed them _CHALLENGE, _WELCOME and _FAILURE.)
    if name in globals():
        return globals()[name]  # a caller inside this module, after the first load
    if name.lstrip("_") in ("CHALLENGE", "WELCOME", "FAILURE"):
        native = _native or _load_native()
        messages = native.call(native.ext.gompxcore_AuthMessages).encode("ascii").split()
        for names in (("CHALLENGE", "WELCOME", "FAILURE"),
                      ("_CHALLENGE", "_WELCOME", "_FAILURE")):
            globals().update(zip(names, messages))
        return globals()[name]
    if name in ("ConnectionWrapper", "XmlListener", "XmlClient"):
        # The managers' 'xmlrpclib' serializer; _xmlconn imports this module.
        from . import _xmlconn
        return getattr(_xmlconn, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


# What any handshake message may be: CPython reads them with recv_bytes(256).
_MAX_AUTH_MESSAGE = 256


def _authenticate_over(connection, authkey, steps, digest_name, native):
    """The handshake over any object with send_bytes and recv_bytes (CPython accepts
    one): this side carries the messages, the Go core makes and checks them."""
    ext, call = native.ext, native.call
    key = id(authkey) + native.BYTES_DATA_OFFSET, len(authkey)
    out = bytearray(_MAX_AUTH_MESSAGE)
    out_addr = _buffer_address(out)
    for step in steps:
        if step == "D":
            n = call(ext.gompxcore_AuthChallenge, digest_name, out_addr, len(out))
            challenge = bytes(out[:n])
            connection.send_bytes(challenge)
            answer = bytes(connection.recv_bytes(_MAX_AUTH_MESSAGE))
            n = call(ext.gompxcore_AuthVerdict, *key,
                     native.bytes_address(challenge), len(challenge),
                     native.bytes_address(answer), len(answer), out_addr, len(out))
            connection.send_bytes(bytes(out[:abs(n)]))
            if n < 0:
                raise AuthenticationError("digest received was wrong")
        else:
            challenge = bytes(connection.recv_bytes(_MAX_AUTH_MESSAGE))
            n = call(ext.gompxcore_AuthAnswer, *key, native.bytes_address(challenge),
                     len(challenge), out_addr, len(out))
            connection.send_bytes(bytes(out[:n]))
            verdict = bytes(connection.recv_bytes(_MAX_AUTH_MESSAGE))
            call(ext.gompxcore_AuthCheckVerdict, native.bytes_address(verdict), len(verdict))


def _create_response(authkey, message):
    """The answer to a challenge *message* (what follows #CHALLENGE#), as CPython
    3.12's: a raw HMAC-MD5 for a legacy message, else {digest} + HMAC-digest."""
    native = _native or _load_native()
    challenge = __getattr__("_CHALLENGE") + bytes(message)
    out = bytearray(_MAX_AUTH_MESSAGE)
    n = native.call(native.ext.gompxcore_AuthAnswer, native.bytes_address(authkey),
                    len(authkey), native.bytes_address(challenge), len(challenge),
                    _buffer_address(out), len(out))
    return bytes(out[:n])


def _verify_challenge(authkey, message, response):
    """Raise AuthenticationError unless *response* answers the challenge *message*."""
    native = _native or _load_native()
    challenge, response = __getattr__("_CHALLENGE") + bytes(message), bytes(response)
    verdict = bytearray(_MAX_AUTH_MESSAGE)
    n = native.call(native.ext.gompxcore_AuthVerdict, native.bytes_address(authkey),
                    len(authkey), native.bytes_address(challenge), len(challenge),
                    native.bytes_address(response), len(response),
                    _buffer_address(verdict), len(verdict))
    if n < 0:
        raise AuthenticationError("digest received was wrong")


def _check_authkey(authkey):
    if not isinstance(authkey, bytes):
        raise ValueError("Authkey must be bytes, not {0!s}".format(type(authkey)))


def deliver_challenge(connection, authkey, digest_name="sha256"):
    """Challenge the peer of *connection* to prove it knows *authkey*.

    Sends ``#CHALLENGE#{digest_name}`` + 40 random bytes, accepts any answer CPython 3.12
    accepts, and raises ``AuthenticationError`` (after telling the peer) if it is wrong.
    """
    _check_authkey(authkey)
    _authenticate(connection, authkey, "D", digest_name)


def answer_challenge(connection, authkey):
    """Prove to the peer of *connection* that this side knows *authkey*.

    Answers both the legacy challenge of CPython <= 3.11 and the ``{digest}`` one of
    3.12+; raises ``AuthenticationError`` if the peer rejects the answer.
    """
    _check_authkey(authkey)
    _authenticate(connection, authkey, "A")
