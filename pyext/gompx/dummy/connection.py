"""``gompx.dummy.connection``: the connection API between threads, over ``queue.Queue``.

As ``multiprocessing.dummy.connection`` provides: a ``Listener`` whose address is its
backlog queue, ``Client`` connecting through it, and ``Pipe`` making two ends.  Objects
pass by reference; nothing is pickled.
"""

import math
from queue import Queue

__all__ = ["Client", "Listener", "Pipe"]

families = [None]


class Listener:
    """Accepts connections from ``Client(listener.address)`` in the same process."""

    def __init__(self, address=None, family=None, backlog=1):
        self._backlog_queue = Queue(backlog)

    def accept(self):
        """Wait for a client; return this side's Connection."""
        return Connection(*self._backlog_queue.get())

    def close(self):
        self._backlog_queue = None

    @property
    def address(self):
        return self._backlog_queue

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        self.close()


def Client(address):
    """Connect to the Listener whose address is *address*."""
    _in, _out = Queue(), Queue()
    address.put((_out, _in))
    return Connection(_in, _out)


def Pipe(duplex=True):
    """Two connected ends (always two-way between threads)."""
    a, b = Queue(), Queue()
    return Connection(a, b), Connection(b, a)


class Connection:
    """One end: ``send`` puts on the peer's queue, ``recv`` takes from ours."""

    def __init__(self, _in, _out):
        self._out = _out
        self._in = _in
        self.send = self.send_bytes = _out.put
        self.recv = self.recv_bytes = _in.get

    def poll(self, timeout=0.0):
        """Whether there is something to recv, waiting up to *timeout* (None: forever)."""
        if self._in.qsize() > 0:
            return True
        if timeout is not None:
            if math.isnan(timeout):
                # Condition.wait_for would spin forever on NaN; connections refuse it.
                raise ValueError("poll() timeout must be a number of seconds, not NaN")
            if timeout <= 0.0:
                return False
        # not_empty wraps the queue's own mutex, a plain Lock: under it, count with the
        # unlocked _qsize() (as Queue.get does), never qsize(), which takes the mutex again.
        with self._in.not_empty:
            return self._in.not_empty.wait_for(self._in._qsize, timeout) > 0

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_tb):
        self.close()
