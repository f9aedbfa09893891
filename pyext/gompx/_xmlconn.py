"""The ``'xmlrpclib'`` serializer of managers: ``XmlListener``, ``XmlClient`` and
``ConnectionWrapper``.

CPython keeps these in ``multiprocessing/connection.py``; ``gompx.connection`` re-exports
them from here.  A ``ConnectionWrapper`` puts a serializer on a ``Connection``: ``send()``
and ``recv()`` carry one value as ``xmlrpc.client.dumps((value,), allow_none=True)``
(UTF-8) in one message, byte for byte what CPython sends, so a gompx manager using
``serializer='xmlrpclib'`` talks to a stock CPython one using it, either way round.
``send_bytes``, ``recv_bytes``, ``poll``, ``fileno`` and ``close`` are the wrapped
connection's own, so authentication runs on the wrapped connection.

XML-RPC carries only None, bool, int (32-bit), float, str, bytes (arriving as
``xmlrpc.client.Binary``), lists (tuples arrive as lists), dicts with str keys and
datetimes; anything else fails in ``send()`` (``TypeError`` or ``OverflowError``) before a
byte is written.  So proxies, tokens and exceptions cannot travel: a manager method that
returns a proxy or raises replies with an error, as in CPython.
"""

from .connection import Client, Listener

__all__ = ["ConnectionWrapper", "XmlListener", "XmlClient"]

_xmlrpclib = None  # xmlrpc.client, imported on first use (it pulls in http.client)


def _xmlrpc():
    global _xmlrpclib
    if _xmlrpclib is None:
        import xmlrpc.client
        _xmlrpclib = xmlrpc.client
    return _xmlrpclib


class ConnectionWrapper:
    """A connection whose ``send()``/``recv()`` use *dumps* and *loads* (bytes <-> value).

    ``fileno``, ``close``, ``poll``, ``recv_bytes`` and ``send_bytes`` are *conn*'s.
    """

    def __init__(self, conn, dumps, loads):
        self._conn = conn
        self._dumps = dumps
        self._loads = loads
        for attr in ("fileno", "close", "poll", "recv_bytes", "send_bytes"):
            setattr(self, attr, getattr(conn, attr))

    def send(self, obj):
        """Serialize *obj* with dumps, then send it as one message."""
        self._conn.send_bytes(self._dumps(obj))

    def recv(self):
        """Receive one message and deserialize it with loads."""
        return self._loads(self._conn.recv_bytes())

    def __repr__(self):
        return "<%s of %r>" % (type(self).__name__, self._conn)


def _xml_dumps(obj):
    return _xmlrpc().dumps((obj,), None, None, None, 1).encode("utf-8")


def _xml_loads(s):
    (obj,), _method = _xmlrpc().loads(s.decode("utf-8"))
    return obj


class XmlListener(Listener):
    """A ``Listener`` whose ``accept()`` returns a ``ConnectionWrapper`` speaking
    XML-RPC marshalling."""

    def accept(self):
        """Accept (and, with an authkey, authenticate) a connection; wrap it."""
        _xmlrpc()
        return ConnectionWrapper(Listener.accept(self), _xml_dumps, _xml_loads)


def XmlClient(*args, **kwds):
    """``Client(*args, **kwds)``, wrapped in a ``ConnectionWrapper`` speaking XML-RPC
    marshalling."""
    _xmlrpc()
    return ConnectionWrapper(Client(*args, **kwds), _xml_dumps, _xml_loads)
