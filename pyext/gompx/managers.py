"""Managers: a server process that owns objects, and proxies that call them from anywhere.

Laid out like CPython's ``multiprocessing/managers.py`` and speaking its protocol, so a
gompx client works with a stock CPython manager server and the reverse, locally or across
machines (``BaseManager(address=("host", port), authkey=...)``):

- A manager server listens on ``connection.Listener``; every connection is authenticated
  both ways (``deliver_challenge`` then ``answer_challenge``), then carries one request
  ``(None, funcname, args, kwds)`` for one of ``Server.public``; ``accept_connection``
  turns it into a long-lived connection serving one thread's proxies, whose requests are
  ``(ident, methodname, args, kwds)``.
- Replies are ``(kind, value)``: ``#RETURN``, ``#PROXY`` (``(exposed, Token)`` of a new
  shared object), ``#ERROR`` (the exception the method raised, re-raised as is),
  ``#TRACEBACK`` and ``#UNSERIALIZABLE`` (text, raised as ``RemoteError``).
- Pickled classes travel under stdlib names: on a manager connection a ``Token``, a
  proxy, a ``Namespace``, a ``Value`` or a ``RemoteError`` pickles as its twin in
  ``multiprocessing.managers``, so a peer without gompx loads it; what arrives under those
  names loads as gompx's classes here.  Pickled for a child or a gompx Queue, they keep
  their gompx names (the receiver uses gompx's authkey and connections).

Differences from stdlib, each an improvement that keeps the protocol: making a proxy for
a new object adopts the reference the server's ``create`` returned instead of an
``incref`` and a ``decref`` on two more connections; proxies unpickled in a child can
take ``#PROXY`` results (iterating a dict proxy); TCP connections set ``TCP_NODELAY``;
``shutdown()`` of a manager whose server hangs or died returns within its timeouts; a
manager made with ``connect()`` has a ``shutdown()`` that does nothing, so ``with`` works.

Serializers, as in stdlib: ``'pickle'`` (the default) and ``'xmlrpclib'``, whose
connections (``XmlListener``/``XmlClient`` of ``gompx._xmlconn``) carry each message as
XML-RPC marshalling, wire-compatible with stdlib's: plain values only, so no proxies
(methods returning them, ``DictProxy.__iter__``) and no exceptions travel that way.

``SharedMemoryManager`` (and its ``SharedMemoryServer``) makes ``shared_memory`` segments
that its server process tracks and unlinks when it shuts down, as stdlib's does.  gompx
segments live while a process holds them (see ``gompx.shared_memory``), so the server
holds every segment it tracks until it unlinks it: the memory outlives the client that
made it, as a ``/dev/shm`` file does in stdlib.  It needs no resource tracker and starts
none.
"""

import array
import io
import os
import pickle
import queue
import signal
import socket
import sys
import threading
import types
from traceback import format_exc

from . import connection, process, reduction, shared_memory, util
from ._xmlconn import ConnectionWrapper, XmlClient, XmlListener
from .context import ProcessError, get_spawning_popen

__all__ = ["BaseManager", "SyncManager", "SharedMemoryManager", "BaseProxy", "Token",
           "RemoteError", "Server", "State", "Namespace", "Value", "Array", "MakeProxyType",
           "AutoProxy", "RebuildProxy", "dispatch", "convert_to_error",
           "IteratorProxy", "AcquirerProxy", "ConditionProxy", "EventProxy",
           "BarrierProxy", "NamespaceProxy", "ValueProxy", "ListProxy", "DictProxy",
           "ArrayProxy", "PoolProxy", "all_methods", "public_methods"]

# SharedMemoryManager is always there (CPython: only where _posixshmem builds).
HAS_SHMEM = True

# -- pickling on a manager connection ---------------------------------------------------

_STDLIB_MODULE = "multiprocessing.managers"
_STDLIB_MODULE_BYTES = _STDLIB_MODULE.encode()
_PROTOCOL = reduction.PROTOCOL

# Names that exist in both modules and travel pickled: filled at the end of this module.
_TWINS = frozenset()

_wire = threading.local()  # .active: this thread is pickling for a manager connection


def _on_wire():
    return getattr(_wire, "active", False)


def _stdlib_twin(name):
    """stdlib's object named *name* in multiprocessing.managers (imported on first use:
    only messages that carry a Token, a proxy or a shared Namespace need it)."""
    import multiprocessing.managers as stdlib_managers
    return getattr(stdlib_managers, name)


def _wire_callable(obj):
    """*obj* itself, or its stdlib twin when *obj* is one of ours that has one."""
    name = getattr(obj, "__name__", None)
    if name in _TWINS and globals().get(name) is obj:
        return _stdlib_twin(name)
    return obj


def _rebuild_as_list(obj):
    return list, (list(obj),)


def _reduce_array(a):
    return array.array, (a.typecode, a.tobytes())


class _WirePickler(reduction.ForkingPickler):
    """The slow path: honours the reducers registered with gompx's ForkingPickler and, as
    stdlib's managers register them, sends dict views as lists."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for view in (type({}.keys()), type({}.values()), type({}.items())):
            self.dispatch_table[view] = _rebuild_as_list
        self.dispatch_table[array.array] = _reduce_array


def _dumps(obj):
    """Pickle a message for a manager connection (stdlib names, see the module doc)."""
    _wire.active = True
    try:
        try:
            # The C pickler alone is the common case; a dict view or a type registered
            # with reduction.register fails here and takes the full pickler.
            return pickle.dumps(obj, _PROTOCOL)
        except Exception:
            buf = io.BytesIO()
            _WirePickler(buf, _PROTOCOL).dump(obj)
            return buf.getvalue()
    finally:
        _wire.active = False


class _WireUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == _STDLIB_MODULE and name in _TWINS:
            return globals()[name]
        return super().find_class(module, name)


def _loads(data):
    """Unpickle a message from a manager connection, mapping stdlib's classes to ours."""
    if _STDLIB_MODULE_BYTES in data:
        return _WireUnpickler(io.BytesIO(data)).load()
    return pickle.loads(data)


def _send(conn, obj):
    """Send one message: pickled as above on a gompx Connection; with the object's own
    send() on anything else (xmlrpclib's ConnectionWrapper, as stdlib's dispatch does)."""
    if isinstance(conn, connection.Connection):
        conn.send_bytes(_dumps(obj))
    else:
        conn.send(obj)


def _recv(conn):
    """Receive one message sent by _send (or its stdlib twin)."""
    if isinstance(conn, connection.Connection):
        return _loads(conn.recv_bytes())
    return conn.recv()


def _unwrapped(conn):
    """The Connection under a serializer's wrapper: the handshake runs on it."""
    return conn._conn if isinstance(conn, ConnectionWrapper) else conn


def _set_nodelay(conn):
    """TCP_NODELAY on a TCP connection: a message written in two parts (header, then a
    large payload) must not wait for the peer's delayed ACK."""
    try:
        s = socket.socket(fileno=os.dup(conn.fileno()))
    except (OSError, AttributeError, ValueError):
        return
    try:
        if s.family in (socket.AF_INET, socket.AF_INET6):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    finally:
        s.close()


def _is_tcp(address):
    return isinstance(address, tuple)


# -- identifying shared objects ----------------------------------------------------------

class Token:
    """Identifies a shared object: its typeid, its manager's address and its id there."""

    __slots__ = ("typeid", "address", "id")

    def __init__(self, typeid, address, id):
        self.typeid = typeid
        self.address = address
        self.id = id

    def __getstate__(self):
        return (self.typeid, self.address, self.id)

    def __setstate__(self, state):
        self.typeid, self.address, self.id = state

    def __reduce__(self):
        cls = _stdlib_twin("Token") if _on_wire() else Token
        return cls, (self.typeid, self.address, self.id)

    def __repr__(self):
        return "%s(typeid=%r, address=%r, id=%r)" % (
            type(self).__name__, self.typeid, self.address, self.id)


# -- requests to a manager's server ------------------------------------------------------

def dispatch(c, id, methodname, args=(), kwds={}):
    """Send a request on connection *c* and return the result, or raise its error."""
    _send(c, (id, methodname, args, kwds))
    kind, result = _recv(c)
    if kind == "#RETURN":
        return result
    try:
        raise convert_to_error(kind, result)
    finally:
        del result  # the traceback would keep it alive


def convert_to_error(kind, result):
    """The exception a reply of *kind* stands for."""
    if kind == "#ERROR":
        return result
    if kind in ("#TRACEBACK", "#UNSERIALIZABLE"):
        if not isinstance(result, str):
            raise TypeError("Result {0!r} (kind '{1}') type is {2}, not str".format(
                result, kind, type(result)))
        if kind == "#UNSERIALIZABLE":
            return RemoteError("Unserializable message: %s\n" % result)
        return RemoteError(result)
    return ValueError("Unrecognized message type {!r}".format(kind))


class RemoteError(Exception):
    """An error in the manager's server, carrying its traceback as text."""

    def __str__(self):
        return "\n" + "-" * 75 + "\n" + str(self.args[0]) + "-" * 75

    def __reduce__(self):
        cls = _stdlib_twin("RemoteError") if _on_wire() else RemoteError
        return cls, self.args


def all_methods(obj):
    """Names of the callable attributes of *obj*."""
    return [name for name in dir(obj) if callable(getattr(obj, name))]


def public_methods(obj):
    """Names of the callable attributes of *obj* that do not start with '_'."""
    return [name for name in all_methods(obj) if name[0] != "_"]


# -- the server --------------------------------------------------------------------------

class Server:
    """Serves a manager's shared objects: one thread per connection."""

    public = ["shutdown", "create", "accept_connection", "get_methods",
              "debug_info", "number_of_objects", "dummy", "incref", "decref"]

    def __init__(self, registry, address, authkey, serializer):
        if not isinstance(authkey, bytes):
            raise TypeError("Authkey {0!r} is type {1!s}, not bytes".format(
                authkey, type(authkey)))
        self.registry = registry
        self.authkey = process.AuthenticationString(authkey)
        Listener, _ = _listener_client(serializer)
        # Authentication happens per connection, in its own thread.
        self.listener = Listener(address=address, backlog=128)
        self.address = self.listener.address
        self._tcp = _is_tcp(self.address)
        self.id_to_obj = {"0": (None, ())}
        self.id_to_refcount = {}
        self.id_to_local_proxy_obj = {}
        self.mutex = threading.Lock()

    def serve_forever(self):
        """Serve until a client asks for ``shutdown`` (or SIGINT/SystemExit), then exit
        the process with status 0."""
        self.stop_event = threading.Event()
        process.current_process()._manager_server = self
        try:
            accepter = threading.Thread(target=self.accepter, daemon=True)
            accepter.start()
            try:
                while not self.stop_event.is_set():
                    self.stop_event.wait(1)
            except (KeyboardInterrupt, SystemExit):
                pass
        finally:
            if sys.stdout != sys.__stdout__:
                util.debug("resetting stdout, stderr")
                sys.stdout = sys.__stdout__
                sys.stderr = sys.__stderr__
            sys.exit(0)

    def accepter(self):
        while not self.stop_event.is_set():
            try:
                c = self.listener.accept()
            except OSError:
                continue
            if self._tcp:
                _set_nodelay(c)
            threading.Thread(target=self.handle_request, args=(c,), daemon=True).start()

    def _handle_request(self, c):
        request = None
        try:
            connection.deliver_challenge(_unwrapped(c), self.authkey)
            connection.answer_challenge(_unwrapped(c), self.authkey)
            request = _recv(c)
            _, funcname, args, kwds = request
            if funcname not in self.public:
                raise AttributeError("%r unrecognized" % (funcname,))
            func = getattr(self, funcname)
        except Exception:
            msg = ("#TRACEBACK", format_exc())
        else:
            try:
                msg = ("#RETURN", func(c, *args, **kwds))
            except Exception:
                msg = ("#TRACEBACK", format_exc())
        try:
            _send(c, msg)
        except Exception as e:
            try:
                _send(c, ("#TRACEBACK", format_exc()))
            except Exception:
                pass
            util.info("Failure to send message: %r", msg)
            util.info(" ... request was %r", request)
            util.info(" ... exception was %r", e)

    def handle_request(self, conn):
        """Authenticate a new connection and answer its one request."""
        try:
            self._handle_request(conn)
        except SystemExit:
            pass  # serve_client ends its thread this way on EOF
        finally:
            conn.close()

    def serve_client(self, conn):
        """Answer the method calls of one client thread's proxies until it hangs up."""
        util.debug("starting server thread to service %r", threading.current_thread().name)
        while not self.stop_event.is_set():
            # Nothing from the last call stays referenced while the thread waits: a
            # proxy among its arguments would keep its referent's refcount up.
            methodname = obj = ident = request = args = kwds = function = res = msg = None
            try:
                request = _recv(conn)
                ident, methodname, args, kwds = request
                obj, exposed, gettypeid = self._lookup(ident)
                if methodname not in exposed:
                    raise AttributeError("method %r of %r object is not in exposed=%r"
                                         % (methodname, type(obj), exposed))
                function = getattr(obj, methodname)
                try:
                    res = function(*args, **kwds)
                except Exception as e:
                    msg = ("#ERROR", e)
                else:
                    typeid = gettypeid and gettypeid.get(methodname, None)
                    if typeid:
                        rident, rexposed = self.create(conn, typeid, res)
                        msg = ("#PROXY", (rexposed, Token(typeid, self.address, rident)))
                    else:
                        msg = ("#RETURN", res)
            except AttributeError:
                msg = self._fallback(conn, methodname, ident, obj, args, kwds)
            except EOFError:
                util.debug("got EOF -- exiting thread serving %r",
                           threading.current_thread().name)
                sys.exit(0)
            except Exception:
                msg = ("#TRACEBACK", format_exc())
            try:
                try:
                    # Both serializers fail before a byte is written.
                    _send(conn, msg)
                except Exception:
                    _send(conn, ("#UNSERIALIZABLE", format_exc()))
            except Exception as e:
                util.info("exception in thread serving %r", threading.current_thread().name)
                util.info(" ... message was %r", msg)
                util.info(" ... exception was %r", e)
                conn.close()
                sys.exit(1)

    def _lookup(self, ident):
        try:
            return self.id_to_obj[ident]
        except KeyError as ke:
            try:
                return self.id_to_local_proxy_obj[ident]
            except KeyError:
                raise ke from None

    def _fallback(self, conn, methodname, ident, obj, args, kwds):
        """The reply to a method that is not exposed: str/repr/#GETVALUE, or the error."""
        if methodname is None:
            return ("#TRACEBACK", format_exc())
        try:
            fallback_func = self.fallback_mapping[methodname]
            return ("#RETURN", fallback_func(self, conn, ident, obj, *args, **kwds))
        except Exception:
            return ("#TRACEBACK", format_exc())

    def fallback_getvalue(self, conn, ident, obj):
        return obj

    def fallback_str(self, conn, ident, obj):
        return str(obj)

    def fallback_repr(self, conn, ident, obj):
        return repr(obj)

    fallback_mapping = {
        "__str__": fallback_str,
        "__repr__": fallback_repr,
        "#GETVALUE": fallback_getvalue,
    }

    def dummy(self, c):
        pass

    def debug_info(self, c):
        """Return the refcount and a description of every shared object."""
        with self.mutex:
            return "\n".join(
                "  %s:       refcount=%s\n    %s" % (
                    ident, self.id_to_refcount[ident], str(self.id_to_obj[ident][0])[:75])
                for ident in sorted(self.id_to_refcount) if ident != "0")

    def number_of_objects(self, c):
        """Number of shared objects."""
        return len(self.id_to_refcount)

    def shutdown(self, c):
        """Reply, then stop the server (serve_forever exits the process)."""
        try:
            util.debug("manager received shutdown message")
            _send(c, ("#RETURN", None))
        except Exception:
            import traceback
            traceback.print_exc()
        finally:
            self.stop_event.set()

    def create(self, c, typeid, /, *args, **kwds):
        """Create a new shared object; return its id and exposed method names."""
        with self.mutex:
            callable, exposed, method_to_typeid, proxytype = self.registry[typeid]
            if callable is None:
                if kwds or len(args) != 1:
                    raise ValueError("Without callable, must have one non-keyword argument")
                obj = args[0]
            else:
                obj = callable(*args, **kwds)
            if exposed is None:
                exposed = public_methods(obj)
            if method_to_typeid is not None:
                if not isinstance(method_to_typeid, dict):
                    raise TypeError("Method_to_typeid {0!r}: type {1!s}, not dict".format(
                        method_to_typeid, type(method_to_typeid)))
                exposed = list(exposed) + list(method_to_typeid)
            # A string: stdlib's xmlrpc serializer had only 32-bit integers.
            ident = "%x" % id(obj)
            util.debug("%r callable returned object with id %r", typeid, ident)
            self.id_to_obj[ident] = (obj, set(exposed), method_to_typeid)
            if ident not in self.id_to_refcount:
                self.id_to_refcount[ident] = 0
        self.incref(c, ident)
        return ident, tuple(exposed)

    def get_methods(self, c, token):
        """Return the exposed method names of the object *token* names."""
        return tuple(self.id_to_obj[token.id][1])

    def accept_connection(self, c, name):
        """Turn this connection into one that serves a client thread's proxies."""
        threading.current_thread().name = name
        _send(c, ("#RETURN", None))
        self.serve_client(c)

    def incref(self, c, ident):
        with self.mutex:
            try:
                self.id_to_refcount[ident] += 1
            except KeyError:
                # Only a proxy held inside the manager (a dict in a list) still refers
                # to the object: a new outside reference brings its tracking back.
                if ident not in self.id_to_local_proxy_obj:
                    raise
                self.id_to_refcount[ident] = 1
                self.id_to_obj[ident] = self.id_to_local_proxy_obj[ident]
                util.debug("Server re-enabled tracking & INCREF %r", ident)

    def decref(self, c, ident):
        if ident not in self.id_to_refcount and ident in self.id_to_local_proxy_obj:
            util.debug("Server DECREF skipping %r", ident)
            return
        with self.mutex:
            if self.id_to_refcount[ident] <= 0:
                raise AssertionError("Id {0!s} ({1!r}) has refcount {2:n}, not 1+".format(
                    ident, self.id_to_obj[ident], self.id_to_refcount[ident]))
            self.id_to_refcount[ident] -= 1
            if self.id_to_refcount[ident] == 0:
                del self.id_to_refcount[ident]
        if ident not in self.id_to_refcount:
            # Two steps: dropping the object may drop proxies it holds (a list of dicts),
            # whose own decref takes the mutex this thread would still be holding.
            self.id_to_obj[ident] = (None, (), None)
            util.debug("disposing of obj with id %r", ident)
            with self.mutex:
                del self.id_to_obj[ident]


class State:
    """A manager's state: INITIAL, STARTED or SHUTDOWN."""

    __slots__ = ["value"]
    INITIAL = 0
    STARTED = 1
    SHUTDOWN = 2


listener_client = {
    "pickle": (connection.Listener, connection.Client),
    "xmlrpclib": (XmlListener, XmlClient),
}


def _listener_client(serializer):
    """The (Listener, Client) pair of *serializer*, a key of ``listener_client``."""
    try:
        return listener_client[serializer]
    except (KeyError, TypeError):
        raise ValueError("unsupported serializer %r: gompx managers speak %s" % (
            serializer, " and ".join(map(repr, listener_client)))) from None


def _bounded(fn, timeout):
    """Run fn() in a helper thread and wait at most *timeout* seconds for it: a manager
    that accepts but never answers must not hang shutdown()."""
    try:
        t = threading.Thread(target=fn, daemon=True, name="gompx manager shutdown")
        t.start()
    except RuntimeError:  # at interpreter exit (3.12+) no new thread may start
        fn()
        return
    t.join(timeout)


# -- managers ----------------------------------------------------------------------------

class BaseManager:
    """Base class for managers: register types, then start() or connect()."""

    _registry = {}
    _Server = Server
    _process = None

    def __init__(self, address=None, authkey=None, serializer="pickle", ctx=None, *,
                 shutdown_timeout=1.0):
        if authkey is None:
            authkey = process.current_process().authkey
        self._address = address
        self._authkey = process.AuthenticationString(authkey)
        self._state = State()
        self._state.value = State.INITIAL
        self._serializer = serializer
        self._Listener, self._Client = _listener_client(serializer)
        if ctx is None:
            from .context import _default_context
            ctx = _default_context.get_context()
        self._ctx = ctx
        self._shutdown_timeout = shutdown_timeout

    def _check_initial(self):
        if self._state.value == State.STARTED:
            raise ProcessError("Already started server")
        if self._state.value == State.SHUTDOWN:
            raise ProcessError("Manager has shut down")
        if self._state.value != State.INITIAL:
            raise ProcessError("Unknown state {!r}".format(self._state.value))

    def get_server(self):
        """Return a Server, to run in this process with serve_forever()."""
        self._check_initial()
        return self._Server(self._registry, self._address, self._authkey,
                            self._serializer)

    def connect(self):
        """Connect to a manager server that is already running at ``address``."""
        conn = self._Client(self._address, authkey=self._authkey)
        try:
            if _is_tcp(self._address):
                _set_nodelay(conn)
            dispatch(conn, None, "dummy")
        finally:
            conn.close()
        self._state.value = State.STARTED

    def start(self, initializer=None, initargs=()):
        """Start a server process for this manager (through the manager's context)."""
        self._check_initial()
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        reader, writer = connection.Pipe(duplex=False)
        self._process = self._ctx.Process(
            target=type(self)._run_server,
            args=(self._registry, self._address, self._authkey, self._serializer,
                  writer, initializer, initargs))
        self._process.name = "%s-%s" % (
            type(self).__name__, ":".join(str(i) for i in self._process._identity))
        self._process.start()
        writer.close()
        try:
            # EOFError if the server process dies first (an initializer that raises).
            self._address = reader.recv()
        finally:
            reader.close()
        self._state.value = State.STARTED
        self.shutdown = util.Finalize(
            self, type(self)._finalize_manager,
            args=(self._process, self._address, self._authkey, self._state,
                  self._Client, self._shutdown_timeout),
            exitpriority=0)

    @classmethod
    def _run_server(cls, registry, address, authkey, serializer, writer,
                    initializer=None, initargs=()):
        """In the server process: make the server, report its address, serve."""
        # Ctrl-C in a terminal reaches the whole process group: the server must outlive
        # its parent's KeyboardInterrupt long enough to be shut down (bpo-36368).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if initializer is not None:
            initializer(*initargs)
        server = cls._Server(registry, address, authkey, serializer)
        writer.send(server.address)
        writer.close()
        util.info("manager serving at %r", server.address)
        server.serve_forever()

    def _request(self, methodname, args=(), kwds={}):
        """One request on a new connection, as the server answers one per connection."""
        conn = self._Client(self._address, authkey=self._authkey)
        try:
            if _is_tcp(self._address):
                _set_nodelay(conn)
            return dispatch(conn, None, methodname, args, kwds)
        finally:
            conn.close()

    def _create(self, typeid, /, *args, **kwds):
        """Create a shared object; return its Token and exposed method names."""
        if self._state.value != State.STARTED:
            raise ProcessError("server not yet started")
        id, exposed = self._request("create", (typeid,) + args, kwds)
        return Token(typeid, self._address, id), exposed

    def join(self, timeout=None):
        """Join the manager's server process (if this manager started one)."""
        if self._process is not None:
            self._process.join(timeout)
            if not self._process.is_alive():
                self._process = None

    def _debug_info(self):
        return self._request("debug_info")

    def _number_of_objects(self):
        return self._request("number_of_objects")

    def __enter__(self):
        if self._state.value == State.INITIAL:
            self.start()
        if self._state.value != State.STARTED:
            self._check_initial()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.shutdown()

    def shutdown(self):
        """Stop the server process this manager started (start() replaces this method
        with the finalizer that does it; a connect()ed manager leaves the server be)."""

    @staticmethod
    def _finalize_manager(process, address, authkey, state, _Client, shutdown_timeout):
        """Shut the server process down: ask, then SIGTERM, then SIGKILL."""
        if process.is_alive():
            util.info("sending shutdown message to manager")

            def ask():
                try:
                    conn = _Client(address, authkey=authkey)
                    try:
                        dispatch(conn, None, "shutdown")
                    finally:
                        conn.close()
                except Exception:
                    pass
            _bounded(ask, shutdown_timeout)
            process.join(timeout=shutdown_timeout)
            if process.is_alive():
                util.info("manager still alive; trying to terminate() it")
                process.terminate()
                process.join(timeout=shutdown_timeout)
                if process.is_alive():
                    util.info("manager still alive after terminate")
                    process.kill()
                    process.join()
        state.value = State.SHUTDOWN
        BaseProxy._address_to_local.pop(address, None)

    @property
    def address(self):
        return self._address

    @classmethod
    def register(cls, typeid, callable=None, proxytype=None, exposed=None,
                 method_to_typeid=None, create_method=True):
        """Register *typeid*: the server makes objects with *callable*; clients get
        *proxytype* proxies (AutoProxy by default) and, if *create_method*, a method
        named *typeid* on the manager that creates one."""
        if "_registry" not in cls.__dict__:
            cls._registry = cls._registry.copy()
        if proxytype is None:
            proxytype = AutoProxy
        exposed = exposed or getattr(proxytype, "_exposed_", None)
        method_to_typeid = method_to_typeid or getattr(proxytype, "_method_to_typeid_", None)
        if method_to_typeid:
            for key, value in list(method_to_typeid.items()):
                if type(key) is not str or type(value) is not str:
                    raise TypeError("method_to_typeid maps str to str, not %r to %r"
                                    % (key, value))
        cls._registry[typeid] = (callable, exposed, method_to_typeid, proxytype)
        _proxytype_by_typeid[typeid] = proxytype
        if create_method:
            def create(self, /, *args, **kwds):
                util.debug("requesting creation of a shared %r object", typeid)
                token, exp = self._create(typeid, *args, **kwds)
                return _adopt(proxytype, token, self._serializer, self, self._authkey, exp)
            create.__name__ = create.__qualname__ = typeid
            setattr(cls, typeid, create)


# The proxy type of each typeid any manager class registered: a proxy unpickled in a
# child has no manager, and still needs it for a #PROXY reply.
_proxytype_by_typeid = {}


def _adopt(proxytype, token, serializer, manager, authkey, exposed):
    """A proxy for an object the server just made with refcount 1 for us: the proxy takes
    that reference over (stdlib increfs, then decrefs: two more connections)."""
    if proxytype is AutoProxy or (isinstance(proxytype, type)
                                  and issubclass(proxytype, BaseProxy)):
        proxy = proxytype(token, serializer, manager=manager, authkey=authkey,
                          exposed=exposed, incref=False)
        proxy._track_reference()
        return proxy
    proxy = proxytype(token, serializer, manager=manager, authkey=authkey, exposed=exposed)
    conn = _listener_client(serializer)[1](token.address, authkey=authkey)
    try:
        dispatch(conn, None, "decref", (token.id,))
    finally:
        conn.close()
    return proxy


# -- proxies -----------------------------------------------------------------------------

class BaseProxy:
    """A base for proxies of shared objects: ``_callmethod(name, args, kwds)`` calls the
    referent's method in the server and returns a copy of the result."""

    # address -> (per-thread connection holder, ids this process holds references to)
    _address_to_local = {}
    _mutex = threading.Lock()

    def __init__(self, token, serializer, manager=None, authkey=None, exposed=None,
                 incref=True, manager_owned=False):
        with BaseProxy._mutex:
            tls_idset = BaseProxy._address_to_local.get(token.address)
            if tls_idset is None:
                tls_idset = threading.local(), set()
                BaseProxy._address_to_local[token.address] = tls_idset
        self._tls, self._idset = tls_idset
        self._token = token
        self._id = token.id
        self._manager = manager
        self._serializer = serializer
        self._Client = _listener_client(serializer)[1]
        # True for a proxy that lives inside the manager's own server (nested proxies):
        # it holds no counted reference.
        self._owned_by_manager = manager_owned
        if authkey is not None:
            self._authkey = process.AuthenticationString(authkey)
        elif manager is not None:
            self._authkey = manager._authkey
        else:
            self._authkey = process.current_process().authkey
        if incref:
            self._incref()
        # A child started with this proxy as an argument takes a reference of its own.
        util.register_after_fork(self, BaseProxy._after_fork)

    def _connect(self):
        util.debug("making connection to manager")
        name = process.current_process().name
        if threading.current_thread().name != "MainThread":
            name += "|" + threading.current_thread().name
        conn = self._Client(self._token.address, authkey=self._authkey)
        if _is_tcp(self._token.address):
            _set_nodelay(conn)
        dispatch(conn, None, "accept_connection", (name,))
        self._tls.connection = conn
        return conn

    def _callmethod(self, methodname, args=(), kwds={}):
        """Call the referent's method *methodname*; return a copy of the result (or a
        proxy, for methods the registry maps to a typeid)."""
        try:
            conn = self._tls.connection
        except AttributeError:
            util.debug("thread %r does not own a connection", threading.current_thread().name)
            conn = self._connect()
        _send(conn, (self._id, methodname, args, kwds))
        kind, result = _recv(conn)
        if kind == "#RETURN":
            return result
        if kind == "#PROXY":
            exposed, token = result
            token.address = self._token.address
            return _adopt(self._proxytype_for(token.typeid), token, self._serializer,
                          self._manager, self._authkey, exposed)
        try:
            raise convert_to_error(kind, result)
        finally:
            del result

    def _proxytype_for(self, typeid):
        registry = getattr(self._manager, "_registry", None)
        if registry is not None and typeid in registry:
            return registry[typeid][-1]
        return _proxytype_by_typeid.get(typeid, AutoProxy)

    def _getvalue(self):
        """Return a copy of the referent."""
        return self._callmethod("#GETVALUE")

    def _incref(self):
        if self._owned_by_manager:
            util.debug("owned_by_manager skipped INCREF of %r", self._token.id)
            return
        conn = self._Client(self._token.address, authkey=self._authkey)
        try:
            dispatch(conn, None, "incref", (self._id,))
        finally:
            conn.close()
        util.debug("INCREF %r", self._token.id)
        self._track_reference()

    def _track_reference(self):
        """Own one counted reference to the referent: give it back when this proxy goes
        (or at exit)."""
        self._idset.add(self._id)
        state = self._manager and self._manager._state
        self._close = util.Finalize(
            self, BaseProxy._decref,
            args=(self._token, self._authkey, state, self._tls, self._idset, self._Client),
            exitpriority=10)

    @staticmethod
    def _decref(token, authkey, state, tls, idset, _Client):
        idset.discard(token.id)
        if state is None or state.value == State.STARTED:
            try:
                util.debug("DECREF %r", token.id)
                conn = _Client(token.address, authkey=authkey)
                try:
                    dispatch(conn, None, "decref", (token.id,))
                finally:
                    conn.close()
            except Exception as e:
                util.debug("... decref failed %s", e)
        else:
            util.debug("DECREF %r -- manager already shutdown", token.id)
        # This thread's connection goes when the process holds no more references.
        if not idset and hasattr(tls, "connection"):
            util.debug("thread %r has no more proxies so closing conn",
                       threading.current_thread().name)
            tls.connection.close()
            del tls.connection

    def _after_fork(self):
        self._manager = None
        try:
            self._incref()
        except Exception as e:
            # the manager may have shut down meanwhile
            util.info("incref failed: %s" % e)

    def __reduce__(self):
        kwds = {}
        if get_spawning_popen() is not None:
            kwds["authkey"] = self._authkey
        if getattr(self, "_isauto", False):
            kwds["exposed"] = self._exposed_
            func = AutoProxy
        else:
            func = type(self)
        if _on_wire():
            return (_stdlib_twin("RebuildProxy"),
                    (_wire_callable(func), self._token, self._serializer, kwds))
        return RebuildProxy, (func, self._token, self._serializer, kwds)

    def __deepcopy__(self, memo):
        return self._getvalue()

    def __repr__(self):
        return "<%s object, typeid %r at %#x>" % (
            type(self).__name__, self._token.typeid, id(self))

    def __str__(self):
        """The referent's repr (or a fall-back if that fails)."""
        try:
            return self._callmethod("__repr__")
        except Exception:
            return repr(self)[:-1] + "; '__str__()' failed>"


def RebuildProxy(func, token, serializer, kwds):
    """Unpickle a proxy: inside the manager's own server it holds no reference."""
    server = getattr(process.current_process(), "_manager_server", None)
    if server and server.address == token.address:
        util.debug("Rebuild a proxy owned by manager, token=%r", token)
        kwds["manager_owned"] = True
        if token.id not in server.id_to_local_proxy_obj:
            server.id_to_local_proxy_obj[token.id] = server.id_to_obj[token.id]
    incref = (kwds.pop("incref", True)
              and not getattr(process.current_process(), "_inheriting", False))
    return func(token, serializer, incref=incref, **kwds)


def _proxy_method(name):
    def method(self, /, *args, **kwds):
        return self._callmethod(name, args, kwds)
    method.__name__ = method.__qualname__ = name
    return method


def MakeProxyType(name, exposed, _cache={}):
    """Return a proxy type whose methods are *exposed*, each forwarded to the referent."""
    exposed = tuple(exposed)
    try:
        return _cache[(name, exposed)]
    except KeyError:
        pass
    namespace = {meth: _proxy_method(meth) for meth in exposed}
    ProxyType = type(name, (BaseProxy,), namespace)
    ProxyType._exposed_ = exposed
    _cache[(name, exposed)] = ProxyType
    return ProxyType


def AutoProxy(token, serializer, manager=None, authkey=None, exposed=None, incref=True,
              manager_owned=False):
    """Return a proxy for *token* whose methods are those the server exposes."""
    _Client = _listener_client(serializer)[1]
    # The authkey first: stdlib asks get_methods with authkey None (no handshake at all).
    if authkey is None and manager is not None:
        authkey = manager._authkey
    if authkey is None:
        authkey = process.current_process().authkey
    if exposed is None:
        conn = _Client(token.address, authkey=authkey)
        try:
            exposed = dispatch(conn, None, "get_methods", (token,))
        finally:
            conn.close()
    ProxyType = MakeProxyType("AutoProxy[%s]" % token.typeid, exposed)
    proxy = ProxyType(token, serializer, manager=manager, authkey=authkey, incref=incref,
                      manager_owned=manager_owned)
    proxy._isauto = True
    return proxy


# -- what SyncManager shares ---------------------------------------------------------------

class Namespace:
    """A plain object whose attributes are shared through a NamespaceProxy."""

    def __init__(self, /, **kwds):
        self.__dict__.update(kwds)

    def __repr__(self):
        items = sorted("%s=%r" % (name, value) for name, value in self.__dict__.items()
                       if not name.startswith("_"))
        return "%s(%s)" % (type(self).__name__, ", ".join(items))

    def __reduce__(self):
        cls = _stdlib_twin("Namespace") if _on_wire() else Namespace
        return cls, (), dict(self.__dict__)


class Value:
    """A value with get/set, shared through a ValueProxy (no lock: the server is one
    process, and each call is one method)."""

    def __init__(self, typecode, value, lock=True):
        self._typecode = typecode
        self._value = value

    def get(self):
        return self._value

    def set(self, value):
        self._value = value

    def __repr__(self):
        return "%s(%r, %r)" % (type(self).__name__, self._typecode, self._value)

    def __reduce__(self):
        cls = _stdlib_twin("Value") if _on_wire() else Value
        return cls, (self._typecode, self._value)

    value = property(get, set)


def Array(typecode, sequence, lock=True):
    """An array.array, shared through an ArrayProxy."""
    return array.array(typecode, sequence)


class IteratorProxy(BaseProxy):
    _exposed_ = ("__next__", "send", "throw", "close")

    def __iter__(self):
        return self

    def __next__(self, *args):
        return self._callmethod("__next__", args)

    def send(self, *args):
        return self._callmethod("send", args)

    def throw(self, *args):
        return self._callmethod("throw", args)

    def close(self, *args):
        return self._callmethod("close", args)


class AcquirerProxy(BaseProxy):
    _exposed_ = ("acquire", "release")

    def acquire(self, blocking=True, timeout=None):
        args = (blocking,) if timeout is None else (blocking, timeout)
        return self._callmethod("acquire", args)

    def release(self):
        return self._callmethod("release")

    def __enter__(self):
        return self._callmethod("acquire")

    def __exit__(self, exc_type, exc_val, exc_tb):
        return self._callmethod("release")


class ConditionProxy(AcquirerProxy):
    _exposed_ = ("acquire", "release", "wait", "notify", "notify_all")

    def wait(self, timeout=None):
        return self._callmethod("wait", (timeout,))

    def notify(self, n=1):
        return self._callmethod("notify", (n,))

    def notify_all(self):
        return self._callmethod("notify_all")

    def wait_for(self, predicate, timeout=None):
        return util.wait_for(self.wait, predicate, timeout)


class EventProxy(BaseProxy):
    _exposed_ = ("is_set", "set", "clear", "wait")

    def is_set(self):
        return self._callmethod("is_set")

    def set(self):
        return self._callmethod("set")

    def clear(self):
        return self._callmethod("clear")

    def wait(self, timeout=None):
        return self._callmethod("wait", (timeout,))


class BarrierProxy(BaseProxy):
    _exposed_ = ("__getattribute__", "wait", "abort", "reset")

    def wait(self, timeout=None):
        return self._callmethod("wait", (timeout,))

    def abort(self):
        return self._callmethod("abort")

    def reset(self):
        return self._callmethod("reset")

    @property
    def parties(self):
        return self._callmethod("__getattribute__", ("parties",))

    @property
    def n_waiting(self):
        return self._callmethod("__getattribute__", ("n_waiting",))

    @property
    def broken(self):
        return self._callmethod("__getattribute__", ("broken",))


class NamespaceProxy(BaseProxy):
    _exposed_ = ("__getattribute__", "__setattr__", "__delattr__")

    def __getattr__(self, key):
        if key[0] == "_":
            return object.__getattribute__(self, key)
        callmethod = object.__getattribute__(self, "_callmethod")
        return callmethod("__getattribute__", (key,))

    def __setattr__(self, key, value):
        if key[0] == "_":
            return object.__setattr__(self, key, value)
        callmethod = object.__getattribute__(self, "_callmethod")
        return callmethod("__setattr__", (key, value))

    def __delattr__(self, key):
        if key[0] == "_":
            return object.__delattr__(self, key)
        callmethod = object.__getattribute__(self, "_callmethod")
        return callmethod("__delattr__", (key,))


class ValueProxy(BaseProxy):
    _exposed_ = ("get", "set")

    def get(self):
        return self._callmethod("get")

    def set(self, value):
        return self._callmethod("set", (value,))

    value = property(get, set)

    __class_getitem__ = classmethod(types.GenericAlias)


BaseListProxy = MakeProxyType("BaseListProxy", (
    "__add__", "__contains__", "__delitem__", "__getitem__", "__len__",
    "__mul__", "__reversed__", "__rmul__", "__setitem__",
    "append", "count", "extend", "index", "insert", "pop", "remove",
    "reverse", "sort", "__imul__"))


class ListProxy(BaseListProxy):
    def __iadd__(self, value):
        self._callmethod("extend", (value,))
        return self

    def __imul__(self, value):
        self._callmethod("__imul__", (value,))
        return self

    __class_getitem__ = classmethod(types.GenericAlias)


_BaseDictProxy = MakeProxyType("DictProxy", (
    "__contains__", "__delitem__", "__getitem__", "__iter__", "__len__",
    "__setitem__", "clear", "copy", "get", "items",
    "keys", "pop", "popitem", "setdefault", "update", "values"))
_BaseDictProxy._method_to_typeid_ = {"__iter__": "Iterator"}


class DictProxy(_BaseDictProxy):
    __class_getitem__ = classmethod(types.GenericAlias)


ArrayProxy = MakeProxyType("ArrayProxy", ("__len__", "__getitem__", "__setitem__"))


BasePoolProxy = MakeProxyType("PoolProxy", (
    "apply", "apply_async", "close", "imap", "imap_unordered", "join",
    "map", "map_async", "starmap", "starmap_async", "terminate"))
BasePoolProxy._method_to_typeid_ = {
    "apply_async": "AsyncResult",
    "map_async": "AsyncResult",
    "starmap_async": "AsyncResult",
    "imap": "Iterator",
    "imap_unordered": "Iterator",
}


class PoolProxy(BasePoolProxy):
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.terminate()


def _pool(*args, **kwds):
    """gompx.pool.Pool, imported in the server when the first Pool is made (the pool
    module may be absent from this build; the error then names it)."""
    try:
        from .pool import Pool
    except ImportError as e:
        raise NotImplementedError("this gompx has no gompx.pool: %s" % e) from None
    return Pool(*args, **kwds)


class SyncManager(BaseManager):
    """A manager for dict, list, Namespace, Value, Array, queues, the threading
    primitives and Pool; ``gompx.Manager()`` returns a started one."""


SyncManager.register("Queue", queue.Queue)
SyncManager.register("JoinableQueue", queue.Queue)
SyncManager.register("Event", threading.Event, EventProxy)
SyncManager.register("Lock", threading.Lock, AcquirerProxy)
SyncManager.register("RLock", threading.RLock, AcquirerProxy)
SyncManager.register("Semaphore", threading.Semaphore, AcquirerProxy)
SyncManager.register("BoundedSemaphore", threading.BoundedSemaphore, AcquirerProxy)
SyncManager.register("Condition", threading.Condition, ConditionProxy)
SyncManager.register("Barrier", threading.Barrier, BarrierProxy)
SyncManager.register("Pool", _pool, PoolProxy)
SyncManager.register("list", list, ListProxy)
SyncManager.register("dict", dict, DictProxy)
SyncManager.register("Value", Value, ValueProxy)
SyncManager.register("Array", Array, ArrayProxy)
SyncManager.register("Namespace", Namespace, NamespaceProxy)

# types returned by methods of PoolProxy (and DictProxy.__iter__)
SyncManager.register("Iterator", proxytype=IteratorProxy, create_method=False)
SyncManager.register("AsyncResult", create_method=False)

_TWINS = frozenset((
    "Token", "RemoteError", "RebuildProxy", "AutoProxy", "Namespace", "Value", "Array",
    "BaseProxy", "IteratorProxy", "AcquirerProxy", "ConditionProxy", "EventProxy",
    "BarrierProxy", "NamespaceProxy", "ValueProxy", "BaseListProxy", "ListProxy",
    "DictProxy", "ArrayProxy", "PoolProxy"))


# -- SharedMemoryManager -------------------------------------------------------------------

class _SharedMemoryTracker:
    """The shared memory segments a SharedMemoryServer tracks, by name.

    It holds each segment from ``register_segment`` until ``destroy_segment`` (gompx
    segments live while a process holds them) and unlinks every one left at ``unlink()``,
    which the server calls when it shuts down.
    """

    def __init__(self, name, segment_names=()):
        self.shared_memory_context_name = name
        self._segments = {}  # name -> the SharedMemory this process holds
        self._lock = threading.Lock()
        for segment_name in segment_names:
            try:
                self.register_segment(segment_name)
            except FileNotFoundError:
                pass  # gone already: nothing left to unlink

    @property
    def segment_names(self):
        """Names of the tracked segments."""
        with self._lock:
            return list(self._segments)

    def register_segment(self, segment_name):
        """Track (and hold) the segment called *segment_name*; FileNotFoundError if no
        such segment exists."""
        util.debug("Register segment %r in pid %d", segment_name, os.getpid())
        segment = shared_memory.SharedMemory(segment_name)
        with self._lock:
            # A name tracked again names a new segment (the old one was unlinked).
            old = self._segments.pop(segment_name, None)
            self._segments[segment_name] = segment
        if old is not None:
            old.close()

    def destroy_segment(self, segment_name):
        """Unlink the tracked segment *segment_name* and stop tracking it (ValueError if
        it is not tracked; FileNotFoundError if it was unlinked elsewhere)."""
        util.debug("Destroy segment %r in pid %d", segment_name, os.getpid())
        with self._lock:
            segment = self._segments.pop(segment_name, None)
        if segment is None:
            raise ValueError("shared memory segment %r is not tracked" % (segment_name,))
        try:
            segment.unlink()
        finally:
            segment.close()

    def unlink(self):
        """Unlink every tracked segment (those unlinked elsewhere already are skipped)."""
        for segment_name in self.segment_names:
            try:
                self.destroy_segment(segment_name)
            except (FileNotFoundError, ValueError):
                pass  # unlinked elsewhere, or destroyed by another thread meanwhile

    def __del__(self):
        try:
            self.unlink()
        except Exception:
            pass

    def __getstate__(self):
        return (self.shared_memory_context_name, self.segment_names)

    def __setstate__(self, state):
        self.__init__(*state)


class SharedMemoryServer(Server):
    """A Server that also tracks shared memory segments for its clients
    (``track_segment``, ``release_segment``, ``list_segments``) and unlinks them when it
    shuts down."""

    public = Server.public + ["track_segment", "release_segment", "list_segments"]

    def __init__(self, *args, **kwargs):
        Server.__init__(self, *args, **kwargs)
        address = self.address
        if isinstance(address, bytes):  # a Linux abstract socket name
            address = os.fsdecode(address)
        self.shared_memory_context = _SharedMemoryTracker(
            "shm_%s_%d" % (address, os.getpid()))
        util.debug("SharedMemoryServer started by pid %d", os.getpid())

    def create(self, c, typeid, /, *args, **kwargs):
        """Create a shared object; a proxytype with ``_shared_memory_proxy`` set gets
        the tracker as the ``shared_memory_context`` keyword argument."""
        if hasattr(self.registry[typeid][-1], "_shared_memory_proxy"):
            kwargs["shared_memory_context"] = self.shared_memory_context
        return Server.create(self, c, typeid, *args, **kwargs)

    def serve_forever(self):
        """Serve as Server does; whatever ends the serving, unlink the tracked segments."""
        try:
            Server.serve_forever(self)
        finally:
            try:
                self.shared_memory_context.unlink()
            except Exception as e:
                util.info("unlinking the tracked shared memory failed: %r", e)

    def shutdown(self, c):
        """Unlink every tracked segment, then stop the server."""
        self.shared_memory_context.unlink()
        return Server.shutdown(self, c)

    def track_segment(self, c, segment_name):
        """Track (and hold) the segment called *segment_name* until shutdown."""
        self.shared_memory_context.register_segment(segment_name)

    def release_segment(self, c, segment_name):
        """Unlink the tracked segment *segment_name* now and stop tracking it."""
        self.shared_memory_context.destroy_segment(segment_name)

    def list_segments(self, c):
        """Names of the segments the server tracks."""
        return self.shared_memory_context.segment_names


class SharedMemoryManager(BaseManager):
    """A manager whose server process tracks ``shared_memory`` segments.

    ``SharedMemory(size)`` and ``ShareableList(sequence)`` create a segment in this
    process and have the server track it: the server holds it and unlinks it when the
    manager shuts down (``shutdown()``, or the end of a ``with`` block).  Other types
    may be registered as with any BaseManager.
    """

    _Server = SharedMemoryServer

    def __init__(self, *args, **kwargs):
        # stdlib starts its resource tracker here; gompx segments need none.
        BaseManager.__init__(self, *args, **kwargs)
        util.debug("%s created by pid %d", type(self).__name__, os.getpid())

    def get_server(self):
        """Return a SharedMemoryServer, to run in this process with serve_forever()."""
        if self._state.value == State.STARTED:
            raise ProcessError("Already started SharedMemoryServer")
        if self._state.value == State.SHUTDOWN:
            raise ProcessError("SharedMemoryManager has shut down")
        self._check_initial()
        return self._Server(self._registry, self._address, self._authkey,
                            self._serializer)

    def _track_segment(self, shm):
        """Have the server track *shm*, which this process just created; unlink it if
        that fails."""
        try:
            self._request("track_segment", (shm.name,))
        except BaseException:
            shm.unlink()
            shm.close()
            raise

    def _check_server(self):
        if self._address is None:
            raise ValueError("%s has no server: start() it, or give the address of a "
                             "running one and connect()" % type(self).__name__)

    def SharedMemory(self, size):
        """Return a new ``SharedMemory`` of *size* bytes, tracked by the server."""
        self._check_server()
        shm = shared_memory.SharedMemory(None, create=True, size=size)
        self._track_segment(shm)
        return shm

    def ShareableList(self, sequence):
        """Return a new ``ShareableList`` holding *sequence*, tracked by the server."""
        self._check_server()
        sl = shared_memory.ShareableList(sequence)
        self._track_segment(sl.shm)
        return sl
