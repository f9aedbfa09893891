"""Handing a descriptor to whichever process unpickles it: sockets and connections sent
over a Pipe, a Queue or a manager.

Laid out like CPython's ``multiprocessing/resource_sharer.py``.  ``DupFd(fd)`` keeps a
duplicate of *fd* in this process and pickles as (address, key); the receiver's
``detach()`` connects to this process's sharer (a gompx ``Listener`` on an abstract Unix
socket, authenticated with the process's authkey) and gets the descriptor by SCM_RIGHTS.
The sharer's thread starts with the first registration.  A descriptor is handed over
once; ``stop()`` closes every descriptor not yet collected.
"""

import os
import signal
import sys
import threading

from . import process
from . import util

__all__ = ["stop", "DupFd"]


class DupFd:
    """A duplicate of *fd* that the process unpickling this object can collect once."""

    def __init__(self, fd):
        new_fd = os.dup(fd)

        def send(conn, pid):
            from . import reduction
            reduction.send_handle(conn, new_fd, pid)

        def close():
            os.close(new_fd)
        self._id = _resource_sharer.register(send, close)

    def detach(self):
        """Collect the descriptor (only once)."""
        from . import reduction
        with _resource_sharer.get_connection(self._id) as conn:
            return reduction.recv_handle(conn)


class _ResourceSharer:
    """The registered descriptors of this process and the thread that hands them out."""

    def __init__(self):
        self._key = 0
        self._cache = {}
        self._lock = threading.Lock()
        self._listener = None
        self._address = None
        self._thread = None

    def register(self, send, close):
        """Register a resource; return the identifier its receiver asks for."""
        with self._lock:
            if self._address is None:
                self._start()
            self._key += 1
            self._cache[self._key] = (send, close)
            return (self._address, self._key)

    @staticmethod
    def get_connection(ident):
        """A connection to the sharer that holds *ident*, the request already sent."""
        from .connection import Client
        address, key = ident
        c = Client(address, authkey=process.current_process().authkey)
        c.send((key, os.getpid()))
        return c

    def stop(self, timeout=None):
        """Stop the thread and close every descriptor nobody collected."""
        from .connection import Client
        with self._lock:
            if self._address is None:
                return
            c = Client(self._address, authkey=process.current_process().authkey)
            c.send(None)
            c.close()
            self._thread.join(timeout)
            if self._thread.is_alive():
                util.sub_warning("_ResourceSharer thread did not stop when asked")
            self._listener.close()
            self._thread = None
            self._address = None
            self._listener = None
            for send, close in self._cache.values():
                close()
            self._cache.clear()

    def _start(self):
        from .connection import Listener
        util.debug("starting listener and thread for sending handles")
        self._listener = Listener(family="AF_UNIX",
                                  authkey=process.current_process().authkey)
        self._address = self._listener.address
        t = threading.Thread(target=self._serve, name="gompx-resource-sharer", daemon=True)
        t.start()
        self._thread = t

    def _serve(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        while True:
            try:
                with self._listener.accept() as conn:
                    msg = conn.recv()
                    if msg is None:
                        break
                    key, destination_pid = msg
                    send, close = self._cache.pop(key)  # not under _lock: stop() holds it
                    try:
                        send(conn, destination_pid)
                    finally:
                        close()
            except Exception:
                if not util.is_exiting():
                    sys.excepthook(*sys.exc_info())


_resource_sharer = _ResourceSharer()
stop = _resource_sharer.stop
