"""Child-process targets for the benchmarks in this directory.

Spawned children re-import their target by module and name, so the targets live here, in
a small module that imports nothing: a child pays only for what the benchmark measures.
The same functions serve gompx and stdlib ``multiprocessing`` alike.
"""

__all__ = ["noop", "echo", "sink_bytes"]


def noop():
    """Do nothing; the cost of a Process start and join is all that remains."""


def echo(conn):
    """Send back every object received on *conn* until ``None`` arrives, then close."""
    while True:
        obj = conn.recv()
        if obj is None:
            break
        conn.send(obj)
    conn.close()


def sink_bytes(conn):
    """Receive byte messages on *conn*; on an empty one, acknowledge with the byte total.

    Loops until ``None`` is received as an object, so one child serves several batches.
    """
    while True:
        total = 0
        while True:
            data = conn.recv_bytes()
            if not data:
                break
            total += len(data)
        conn.send(total)
        if conn.recv() is None:
            break
    conn.close()
