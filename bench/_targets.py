"""Child-process targets for the benchmarks in this directory.

Spawned children re-import their target by module and name, so the targets live here, in
a small module that imports nothing: a child pays only for what the benchmark measures.
The same functions serve gompx and stdlib ``multiprocessing`` alike.
"""

__all__ = ["noop", "echo", "sink_bytes", "sink_once", "source_bytes", "sync_increment",
           "sync_event_echo", "sync_barrier_rounds"]


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


def source_bytes(conn, n, size, objects=False):
    """Say "ready" on *conn* and wait for an answer, then send *n* byte messages of *size*
    bytes each and close: the child -> parent direction of a fresh Pipe. With *objects*
    the payload goes as an object (``send``, pickled), else as bytes (``send_bytes``)."""
    payload = bytes(range(256)) * (size // 256)
    send = conn.send if objects else conn.send_bytes
    conn.send("ready")
    conn.recv()
    for _ in range(n):
        send(payload)
    conn.close()


def sink_once(conn):
    """Say "ready" on *conn*, then receive byte messages until an empty one, acknowledge
    with the byte total and close: the parent -> child direction of a fresh Pipe."""
    conn.send("ready")
    total = 0
    while True:
        data = conn.recv_bytes()
        if not data:
            break
        total += len(data)
    conn.send(total)
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


# --- bench_queue.py ------------------------------------------------------------------

__all__ += ["queue_produce", "queue_task_consume"]

QUEUE_READY = "ready"  # what a producer puts after its warm-up items; no payload equals it


def _queue_items(start, stop, payload):
    """Items *start*..*stop*-1: the ints themselves, or *payload* that many times."""
    return range(start, stop) if payload is None else [payload] * (stop - start)


def queue_produce(q, go, n, size=0, batch=0, warm=100):
    """Put *warm* items then :data:`QUEUE_READY` on *q*, wait for a message on *go*, put *n*.

    The items are the ints ``0..n-1`` when *size* is 0, else one *size*-byte ``bytes``
    object put *n* times (built before the clock starts). With *batch* > 0 the items go
    in ``q.put_many`` calls of *batch* items each (gompx only; stdlib queues have no
    put_many), otherwise one ``q.put`` per item.
    """
    payload = (bytes(range(256)) * (size // 256 + 1))[:size] if size else None
    if batch:
        q.put_many(_queue_items(0, warm, payload))
    else:
        for item in _queue_items(0, warm, payload):
            q.put(item)
    q.put(QUEUE_READY)
    go.recv()
    go.close()
    if batch:
        put_many = q.put_many
        for start in range(0, n, batch):
            put_many(_queue_items(start, min(n, start + batch), payload))
    elif payload is None:
        put = q.put
        for i in range(n):
            put(i)
    else:
        put = q.put
        for _ in range(n):
            put(payload)


def queue_task_consume(q):
    """Get items from a JoinableQueue *q*, calling task_done for each, until ``None``."""
    get = q.get
    task_done = q.task_done
    while True:
        item = get()
        task_done()
        if item is None:
            break


# --- synchronize / sharedctypes (bench_sync.py) ---------------------------------------

def sync_increment(value, ready, go, n):
    """Add 1 to *value* n times, each under its lock; wait for *go* first."""
    ready.release()
    go.wait()
    lock = value.get_lock()
    for _ in range(n):
        with lock:
            value.value += 1


def sync_event_echo(ping, pong, n):
    """n times: wait for *ping*, clear it, set *pong* (the other half of a round trip)."""
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


def sync_barrier_rounds(barrier, n):
    """Pass *barrier* n times."""
    for _ in range(n):
        barrier.wait()


# --- Listener / Client (bench_listener.py) -------------------------------------------

__all__ += ["client_echo", "client_connect_loop"]


def _connection_module(modname):
    __import__(modname + ".connection")
    import sys
    return sys.modules[modname + ".connection"]


def client_echo(modname, address, authkey):
    """Connect to *address* with *modname*'s Client and echo objects until ``None``."""
    with _connection_module(modname).Client(address, authkey=authkey) as conn:
        echo(conn)


def client_connect_loop(modname, address, authkey, n):
    """Connect to *address* n times (authenticating each time), closing each at once."""
    client = _connection_module(modname).Client
    for _ in range(n):
        client(address, authkey=authkey).close()
