"""Named queues on a NATS JetStream cluster: ``gompx.Queue(cluster=..., name="jobs")``.

A cluster queue is a JetStream work-queue stream (``GOMPXQ_<name>``) that every process
opening the name on the cluster shares, on any machine.  The rules are the Go core's
(``gompx/cluster``, ``Queue``; ``docs/design.md``, "Past one machine"); this module
pickles items and maps the core's answers to the exceptions of ``multiprocessing.Queue``
(``queue.Empty``, ``queue.Full``, ``ValueError`` after ``close()``).

What differs from a local queue, because the queue outlives its processes:

* ``put`` returns once the item is stored in the stream (replicated), so there is no
  feeder thread: ``join_thread`` returns at once and ``cancel_join_thread`` changes
  nothing.  ``close()`` closes this process's connection; the queue and its items stay.
  ``unlink()`` removes the queue from the cluster.
* Items are taken at least once: ``get`` acknowledges the item as it takes it; a getter
  whose connection dies between the server's delivery and that acknowledgement gets the
  item delivered to another getter after 30 s.
* ``qsize()`` is the stream's count of items; ``JoinableQueue``'s count of unfinished
  tasks is a counter in the cluster (KV bucket ``GOMPX_QUEUES``), so ``join()`` in one
  process waits for ``task_done()`` calls in any other.
* Items are pickled with plain ``pickle`` (no file descriptors or shared memory: they
  may be read on another machine), and every item carries an HMAC keyed with the
  authkey, checked before unpickling: an item put with another authkey raises
  ``AuthenticationError`` in ``get`` (and is dropped).
* Pickling a cluster queue (to a child process, or through another queue to a remote
  one) reopens it by name there.  The authkey travels only to a child being spawned;
  elsewhere the receiver uses its own (``GOMPX_AUTHKEY``, or its process authkey for
  ``cluster="local"``).

``cluster="local"`` starts one private ``gompx server`` on 127.0.0.1 for this process
(shared by all its local queues, stopped when it exits) and puts its URL in the
environment (``GOMPX_LOCAL_CLUSTER``) for the children it starts.
"""

import binascii
import json
import os
import pickle
import queue
import struct
import threading

from .context import get_spawning_popen

__all__ = ["Queue", "JoinableQueue"]

_CREDENTIALS = ("user", "password", "token", "nkey", "creds", "tls_ca", "tls_cert", "tls_key")
_SECRETS = ("password", "token")
_LOCAL_ENV = "GOMPX_LOCAL_CLUSTER"
_FRAME = struct.Struct(">I")


def _native():
    from . import _native as native
    return native


def _local_url():
    url = os.environ.get(_LOCAL_ENV)
    if url:
        return url
    from .cluster import command_path
    command = command_path()
    if not os.path.exists(command):
        raise FileNotFoundError("the gompx command is not installed at %s" % command)
    native = _native()
    url = native.call(native.ext.gompxcore_ClusterLocalServer, command)
    os.environ[_LOCAL_ENV] = url
    return url


def _frame(datas):
    return b"".join(_FRAME.pack(len(d)) + d for d in datas)


def _unframe(buf):
    out, i, n = [], 0, len(buf)
    while i < n:
        (size,) = _FRAME.unpack_from(buf, i)
        i += 4
        out.append(buf[i:i + size])
        i += size
    return out


def _wait_ms(block, timeout):
    """The wait of put/get as wait_sliced's timeout: 0 (no wait), None (forever), s."""
    if not block:
        return 0
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    return timeout


class Queue:
    """A FIFO queue on a NATS JetStream cluster that processes on any machine open by
    name: ``Queue(maxsize=0, *, cluster, name, authkey=None, insecure=False, replicas=1,
    connect_timeout=30.0, **credentials)``.  The credentials are those of
    ``Pool(cluster=...)``: user, password, token, nkey, creds, tls_ca, tls_cert, tls_key.
    """

    _joinable = False

    def __init__(self, maxsize=0, *, ctx=None, cluster=None, name=None, authkey=None,
                 insecure=False, replicas=1, connect_timeout=30.0, reconnect_timeout=None,
                 _local=False, **credentials):
        unknown = set(credentials) - set(_CREDENTIALS)
        if unknown:
            raise TypeError("unexpected keyword arguments: %s" % ", ".join(sorted(unknown)))
        if cluster is None:
            cluster = os.environ.get("GOMPX_CLUSTER") or None
        if cluster is None:
            raise ValueError("a cluster queue needs cluster=\"nats://host:4222\" (or "
                             "\"local\", or GOMPX_CLUSTER set)")
        if not isinstance(name, str) or not name:
            raise ValueError("a cluster queue needs a name (name=\"jobs\")")
        if maxsize is None or maxsize <= 0:
            maxsize = 0
        self._handle = None
        local = cluster == "local" or _local  # _local: reopened from a "local" queue's URL
        url = _local_url() if cluster == "local" else cluster
        key = cluster_authkey(authkey, local,
                              "a cluster queue needs the authkey of the processes sharing it")
        self._spec = {"url": url, "insecure": bool(insecure), "replicas": int(replicas),
                      "connect_timeout_ms": int(connect_timeout * 1000), "name": name,
                      "maxsize": int(maxsize), "joinable": self._joinable, "local": local}
        if reconnect_timeout is not None:  # how long a lost connection is retried
            from .cluster import _positive_ms
            self._spec["reconnect_ms"] = _positive_ms("reconnect_timeout", reconnect_timeout)
        self._spec.update((k, str(v)) for k, v in credentials.items() if v is not None)
        self._key = key
        self._maxsize = maxsize
        self._name = name
        self._closed = False
        self._joincancelled = False
        self._put_started = False   # as CPython's feeder thread: close() then ends more
        spec = dict(self._spec, authkey=binascii.hexlify(key).decode())
        native = _native()
        self._handle = native.call(native.ext.gompxcore_ClusterQueueOpen, json.dumps(spec))

    def __repr__(self):
        return "<%s name=%r cluster=%s>" % (type(self).__name__, self._name, self._spec["url"])

    def __reduce__(self):
        spec = dict(self._spec)
        key = None
        if get_spawning_popen() is not None:
            key = self._key  # a child being spawned gets the authkey, as its process's
        else:
            for k in _SECRETS:
                spec.pop(k, None)
        return _rebuild, (type(self), spec, key)

    def __del__(self):
        handle, self._handle = getattr(self, "_handle", None), None
        if handle is not None:
            try:
                _native().ext.gompxcore_ClusterQueueClose(handle)
            except Exception:
                pass  # at interpreter exit the extension may be half torn down

    def _check_open(self):
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")

    def _call(self, fn, *args):
        native = _native()
        if self._handle is None:
            raise OSError("handle is closed")
        return native.call(getattr(native.ext, fn), self._handle, *args)

    # -- putting ---------------------------------------------------------------------

    def _put_datas(self, datas, block, timeout):
        self._put_started = True
        wait = _wait_ms(block, timeout)
        native = _native()
        done = 0

        def attempt(ms):
            nonlocal done
            blob = _frame(datas[done:])
            done += self._call("gompxcore_ClusterQueuePut", native.bytes_address(blob),
                               len(blob), ms)
            return True if done == len(datas) else None
        if native.wait_sliced(attempt, wait) is None:
            raise queue.Full

    def put(self, obj, block=True, timeout=None):
        """Put *obj* into the queue (stored in the cluster when this returns); on a full
        bounded queue wait per *block*/*timeout* and raise ``queue.Full``."""
        self._check_open()
        self._put_datas([pickle.dumps(obj, 5)], block, timeout)

    def put_many(self, iterable, block=True, timeout=None):
        """Put every item of *iterable*, in order, as one batch of publishes.  On a
        bounded queue that stays full past *timeout* this raises ``queue.Full``; the
        items before the first that did not fit are in the queue."""
        self._check_open()
        datas = [pickle.dumps(obj, 5) for obj in iterable]
        if datas:
            self._put_datas(datas, block, timeout)

    def put_nowait(self, obj):
        return self.put(obj, False)

    # -- getting ---------------------------------------------------------------------

    def _get_datas(self, max_messages, block, timeout):
        self._check_open()
        wait = _wait_ms(block, timeout)
        native = _native()
        key = threading.get_ident()

        def attempt(ms):
            size = self._call("gompxcore_ClusterQueueGet", key, max_messages, ms)
            return None if size < 0 else size
        size = native.wait_sliced(attempt, wait)
        if size is None:
            raise queue.Empty
        from .connection import _new_bytes
        buf = _new_bytes(size)
        self._call("gompxcore_ClusterQueueFill", key, native.bytes_address(buf), size)
        return _unframe(buf)

    def get(self, block=True, timeout=None):
        """Remove and return an item; raise ``queue.Empty`` if none comes in time."""
        return pickle.loads(self._get_datas(1, block, timeout)[0])

    def get_many(self, max_messages=1000, block=True, timeout=None):
        """Return a list of 1 to *max_messages* items, in order: waits (per *block* and
        *timeout*, as ``get``) for the first, then takes what is there."""
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        return [pickle.loads(d) for d in self._get_datas(max_messages, block, timeout)]

    def get_nowait(self):
        return self.get(False)

    # -- state -----------------------------------------------------------------------

    def qsize(self):
        """The number of items in the queue, as the cluster counts them."""
        return self._call("gompxcore_ClusterQueueSize")

    def empty(self):
        return self.qsize() == 0

    def full(self):
        return self._maxsize > 0 and self.qsize() >= self._maxsize

    @property
    def name(self):
        return self._name

    # -- ending ----------------------------------------------------------------------

    def close(self):
        """This process puts and gets no more; its connection closes.  The queue and its
        items stay in the cluster (``unlink()`` removes them).  As in CPython, where
        close() closes the pipe only once a put started the feeder thread, a queue this
        process never put to still answers qsize()/empty() (its connection closes when
        the queue is dropped)."""
        self._closed = True
        if not self._put_started:
            return
        handle, self._handle = self._handle, None
        if handle is not None:
            native = _native()
            native.call(native.ext.gompxcore_ClusterQueueClose, handle)

    def join_thread(self):
        """Only after ``close()``, as in the stdlib; returns at once: every ``put``
        returned after its item was stored."""
        if not self._closed:
            raise AssertionError("Queue {0!r} not closed".format(self))

    def cancel_join_thread(self):
        """Nothing waits at exit: a returned ``put`` has stored its item."""
        self._joincancelled = True

    def unlink(self):
        """Remove the queue from the cluster: its items, and its count of unfinished
        tasks.  Processes that have it open get errors from then on."""
        self._check_open()
        self._call("gompxcore_ClusterQueueDelete")


class JoinableQueue(Queue):
    """A cluster Queue whose consumers mark items done (``task_done``) and whose
    producers wait for that (``join``), in any process on any machine."""

    _joinable = True

    def task_done(self):
        """Mark one item taken from the queue as processed; ValueError if called more
        times than items were put."""
        self._check_open()
        self._call("gompxcore_ClusterQueueTaskDone")

    def join(self):
        """Block until every item put (by any process) has been marked done."""
        self._check_open()
        native = _native()

        def attempt(ms):
            return True if self._call("gompxcore_ClusterQueueJoin", ms) else None
        native.wait_sliced(attempt, None)

    def unfinished(self):
        """The count of items put and not yet marked done (gompx-only)."""
        return self._call("gompxcore_ClusterQueueUnfinished")


def _rebuild(cls, spec, key):
    spec = dict(spec)
    url = spec.pop("url")
    spec["_local"] = spec.pop("local", False)
    if key is not None:
        spec["authkey"] = key
    spec.pop("joinable", None)
    spec["connect_timeout"] = spec.pop("connect_timeout_ms") / 1000
    if "reconnect_ms" in spec:
        spec["reconnect_timeout"] = spec.pop("reconnect_ms") / 1000
    return cls(spec.pop("maxsize"), cluster=url, name=spec.pop("name"), **spec)


def cluster_authkey(authkey, local, needs):
    """The authkey of a cluster pool or queue: *authkey*, else GOMPX_AUTHKEY (hex), else,
    for a private local cluster, this process's; *needs* starts the ValueError when none
    is given."""
    if authkey is not None:
        return bytes(authkey)
    env = os.environ.get("GOMPX_AUTHKEY")
    if env:
        return binascii.unhexlify(env)
    if local:
        from .process import current_process
        return bytes(current_process().authkey)
    raise ValueError(needs + ": pass authkey= or set GOMPX_AUTHKEY (hex)")
