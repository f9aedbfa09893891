"""Queues: ``Queue``, ``JoinableQueue`` and ``SimpleQueue``.

Laid out like CPython's ``multiprocessing/queues.py``, with the engine in the Go core: a
multi-producer multi-consumer ring of messages in shared memory (see ``gompx/internal/mpq``
and ``gompx.Queue`` in the Go API), with futex waits and no feeder thread.

- ``put`` pickles in the caller (protocol 5, the C pickler), so an unpicklable object
  raises right there with the caller's traceback.  A top-level ``bytes`` object is not
  pickled at all.  Buffers of 64 KiB or more that pickle out-of-band (``bytearray``,
  ``PickleBuffer``, NumPy arrays) are copied straight from their memory into the ring.
- The core copies payloads between the ring and Python objects by address: nothing goes
  through gopy's byte slices.  Small messages land in a per-queue scratch buffer and are
  unpickled from there; large ones get an object of their own, filled in place.
- An unbounded queue (``maxsize=0``) never blocks in ``put``: when the ring is full, or
  another process holds it, the core keeps the message and a goroutine moves it in as soon
  as it can.  ``join_thread`` waits for those, and so does interpreter exit, unless
  ``cancel_join_thread`` was called.  As with the items stdlib's feeder thread has not yet
  written, a process killed with SIGKILL loses what it still held this way.
- Beyond the stdlib: ``put_many(iterable)`` and ``get_many(max_messages)`` move a batch per
  call, and ``capacity=`` sizes the ring (default 1 GiB, sparse: memory follows unread data).
"""

import array
import os
import pickle
import struct
import time
from queue import Empty, Full

from . import context, reduction, util
from ._gompxsync import MISS as _MISS
from ._gompxsync import QueueCore as _QueueCore

__all__ = ["Queue", "SimpleQueue", "JoinableQueue", "attach"]

_native = None

# Message kinds, as gompx.MessageKind in the Go API.
_PICKLE, _BYTES, _BUFFERS = 0, 1, 2

# The facade's result codes (gompxcore.QueueTimedOut, QueueTorn, QueueHeldBase,
# QueueSpliced), read from the core by _load_native.
_TIMED_OUT = _TORN = _HELD_BASE = _SPLICED = None

_SCRATCH_SIZE = 256 * 1024  # get_many unpacks a batch from here
_GET_INLINE = 16 * 1024     # get: longer messages get an object of their own, no extra copy
_PUT_INLINE = 16 * 1024     # the C fast path puts payloads up to this size
_NO_SLOT = (1 << 64) - 1    # gompxcore.QueueView: this process has no producer slot yet
_OOB_MIN = 64 * 1024        # smaller PickleBuffers are pickled in-band
_SLICE_MS = 50              # flushing at exit (a wait a signal does not end) is sliced
_MIN_CAPACITY = 64 * 1024

_PLAIN = frozenset((int, float, str, bool, type(None)))  # cannot hold a PickleBuffer
_dumps = pickle.dumps
_loads = pickle.loads
_EXTRA_REDUCERS = reduction.ForkingPickler._extra_reducers


def _load_native():
    global _native, _OFF, _ext, _translate, _queue_get
    global _TIMED_OUT, _TORN, _HELD_BASE, _SPLICED
    from . import _native as native
    _TIMED_OUT, _TORN = native.QUEUE_TIMED_OUT, native.QUEUE_TORN
    _HELD_BASE, _SPLICED = native.QUEUE_HELD_BASE, native.QUEUE_SPLICED
    _OFF = native.BYTES_DATA_OFFSET
    _ext = native.ext
    _translate = native.translate
    _queue_get = _ext.gompxcore_QueueGet
    _native = native
    util.Finalize(None, _flush_at_exit, exitpriority=-5)
    return native


def _flush_at_exit():
    """At exit, wait until every queue's messages that were waiting for room are in."""
    flush_all = _ext.gompxcore_QueueFlushAll
    while flush_all(_SLICE_MS) != 0:
        pass


class _Scratch:
    """A buffer the core copies small messages into, owned by one call at a time."""

    __slots__ = ("buf", "view", "addr", "lens", "_export")

    def __init__(self):
        import ctypes
        self.buf = bytearray(_SCRATCH_SIZE)
        self.view = memoryview(self.buf)
        self._export = ctypes.c_char.from_buffer(self.buf)  # pins it: never resized
        self.addr = ctypes.addressof(self._export)
        self.lens = array.array("Q", bytes(8 * 1024))


_new_bytes = None
_buffer_api = None


def _new_bytes_of(n):
    """An uninitialised bytes object of n bytes, for the core to fill."""
    global _new_bytes
    if _new_bytes is None:
        from .connection import _new_bytes as new_bytes
        _new_bytes = new_bytes
    return _new_bytes(n)


class _Pinned:
    """The address of a contiguous buffer, held (PyObject_GetBuffer) until release()."""

    def __init__(self, obj):
        global _buffer_api
        import ctypes
        if _buffer_api is None:
            class Py_buffer(ctypes.Structure):
                _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p),
                            ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                            ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                            ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                            ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                            ("internal", ctypes.c_void_p)]
            get = ctypes.pythonapi.PyObject_GetBuffer
            get.argtypes = (ctypes.py_object, ctypes.POINTER(Py_buffer), ctypes.c_int)
            get.restype = ctypes.c_int
            release = ctypes.pythonapi.PyBuffer_Release
            release.argtypes = (ctypes.POINTER(Py_buffer),)
            release.restype = None
            _buffer_api = (Py_buffer, get, release, ctypes.byref)
        Py_buffer, get, self._release, byref = _buffer_api
        self._view = Py_buffer()
        get(obj, byref(self._view), 0)  # PyBUF_SIMPLE: contiguous bytes
        self.addr = self._view.buf or 0
        self.len = self._view.len

    def release(self):
        if self._view is not None:
            self._release(self._view)
            self._view = None


def _segment_table(pairs):
    """(address, length) pairs as the uint64 table the core reads."""
    return array.array("Q", [v for pair in pairs for v in pair])


class _QueueBase(_QueueCore):
    """The shared-memory queue under all three classes.

    Its C base (``gompx._gompxsync.QueueCore``) puts and gets small messages straight
    into and out of the shared ring when nothing has to wait (``_fast_put``,
    ``_fast_get``); every miss comes here and goes to the Go core."""

    _handle = None
    _closed_after_use = False
    _put_armed = False
    _stash = None  # see _unstash

    def __init__(self, maxsize=0, *, ctx=None, capacity=None):
        native = _native or _load_native()
        if maxsize is None or maxsize <= 0:
            maxsize = 0
        if capacity is None:
            capacity = 0
        elif not isinstance(capacity, int) or capacity < _MIN_CAPACITY:
            raise ValueError("capacity must be an int of at least %d bytes, not %r"
                             % (_MIN_CAPACITY, capacity))
        handle = native.call(native.ext.gompxcore_QueueNew, maxsize, capacity)
        self._setup(handle, maxsize)

    def _setup(self, handle, maxsize):
        self._handle = handle
        self._maxsize = maxsize
        self._closed = False
        self._joincancelled = False
        self._scratch = None
        self._fast_enable(*self._view()[:2], os.getpid(), _GET_INLINE, _PUT_INLINE)

    def _view(self):
        """The queue's mapping for the C fast path: (address, size, slot offset)."""
        view = array.array("Q", bytes(24))
        _native.call(_ext.gompxcore_QueueView, self._handle, view.buffer_info()[0])
        return view

    def _arm_put(self):
        """After a put through Go (which marked the queue used by this process and
        claimed its producer slot): later puts may go through C."""
        self._put_armed = True
        slot = self._view()[2]
        if slot != _NO_SLOT:
            self._fast_enable_put(slot)

    def __del__(self):
        self._fast_disable()  # before the mapping can go
        handle, self._handle = self._handle, None
        if handle is not None and _native is not None:
            try:
                _ext.gompxcore_QueueDrop(handle)
            except Exception:
                pass  # at interpreter exit the extension may be half torn down

    def __reduce__(self):
        context.assert_spawning(self)
        self._check_open()
        fd = _native.call(_ext.gompxcore_QueueFileno, self._handle)
        return _rebuild_queue, (type(self), reduction.DupFd(fd), self._maxsize)

    def _check_open(self):
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")

    # -- putting -----------------------------------------------------------------------

    def _put(self, obj, block, timeout):
        try:
            if self._closed:
                raise ValueError(f"Queue {self!r} is closed")
            t = type(obj)
            if t is bytes:
                data, kind = obj, _BYTES
            elif t in _PLAIN:
                data, kind = _dumps(obj, 5), _PICKLE
            elif _EXTRA_REDUCERS:
                data, kind = bytes(reduction.ForkingPickler.dumps(obj)), _PICKLE
            else:
                buffers = []
                try:
                    data, kind = _dumps(obj, 5, buffer_callback=buffers.append), _PICKLE
                except Exception:
                    # Something plain pickle refuses (a socket), or cannot be pickled at all.
                    data, kind = bytes(reduction.ForkingPickler.dumps_full(obj)), _PICKLE
                    buffers = None
                if buffers:
                    return self._put_with_buffers(obj, data, buffers, block, timeout)
            if self._maxsize == 0:
                _ext.gompxcore_QueuePut(self._handle, id(data) + _OFF, len(data), kind, -1)
                return
            put = _ext.gompxcore_QueuePut
            handle, address, n = self._handle, id(data) + _OFF, len(data)
            self._wait_for_room(lambda ms: put(handle, address, n, kind, ms), block, timeout)
            del data  # alive until here: the core copied from its memory
        except RuntimeError as e:
            raise _translate(e) from None

    def _wait_for_room(self, attempt, block, timeout):
        """Run attempt(ms) until it stops returning _TIMED_OUT; queue.Full if time runs out.
        The core's errors come out as they are: _put and put_many translate them."""
        def step(ms):
            return None if attempt(ms) == _TIMED_OUT else True
        if not block:
            timeout = 0
        elif timeout is not None and timeout < 0:
            timeout = 0
        if _native.wait_interruptible(step, timeout) is None:
            raise Full

    def _put_with_buffers(self, obj, data, buffers, block, timeout):
        raws = []
        for pb in buffers:
            try:
                raw = pb.raw()
            except BufferError:  # not contiguous: pickle can still copy it in-band
                raw = None
            if raw is None or raw.nbytes < _OOB_MIN:
                data = _dumps(obj, 5)
                return self._put_plain(data, block, timeout)
            raws.append(raw)
        header = struct.pack("<I%dQ" % (len(raws) + 1), len(raws), len(data),
                             *(raw.nbytes for raw in raws))
        pinned = [_Pinned(raw) for raw in raws]
        try:
            table = _segment_table([(id(header) + _OFF, len(header)),
                                    (id(data) + _OFF, len(data))]
                                   + [(p.addr, p.len) for p in pinned])
            put = _ext.gompxcore_QueuePutSegments
            handle, address, count = self._handle, table.buffer_info()[0], len(table) // 2
            if self._maxsize == 0:
                block, timeout = True, None
            self._wait_for_room(lambda ms: put(handle, address, count, _BUFFERS, ms),
                                block, timeout)
        finally:
            for p in pinned:
                p.release()

    def _put_plain(self, data, block, timeout):
        put = _ext.gompxcore_QueuePut
        handle, address, n = self._handle, id(data) + _OFF, len(data)
        if self._maxsize == 0:
            block, timeout = True, None
        self._wait_for_room(lambda ms: put(handle, address, n, _PICKLE, ms), block, timeout)

    def put_many(self, iterable, block=True, timeout=None):
        """Put every item of *iterable*, in order, moving them as a batch.

        Items are pickled in-band (no out-of-band buffers).  On a bounded queue that stays
        full past *timeout* this raises ``queue.Full``; the items before the first that did
        not fit are in the queue.
        """
        self._check_open()
        items = iterable if type(iterable) is list else list(iterable)
        if not _EXTRA_REDUCERS:
            # C first: the leading bytes and plain objects go straight into the ring
            # while the producer lock is free and there is room (no waiting there).
            done, fast = 0, self._fast_put_many
            while done < len(items):
                n = fast(items, done)
                if not n:
                    break
                done += n
            if done:
                if done == len(items):
                    return
                items = items[done:]
        if not items:
            return
        self._put_many_go(items, block, timeout)
        if not self._put_armed:
            self._arm_put()

    def _put_many_go(self, items, block, timeout):
        try:
            if self._maxsize == 0 and not _EXTRA_REDUCERS:
                # One dumps() for the batch; the core cuts the list's pickle into one
                # message per item, unless the items share objects (then: one dumps() per
                # item).
                try:
                    data = _dumps(items, 5)
                except Exception:
                    data = None  # something plain pickle refuses: item by item below
                if data is not None:
                    if _ext.gompxcore_QueuePutList(self._handle, id(data) + _OFF,
                                                   len(data), -1) >= 0:
                        return
            dumps = reduction.ForkingPickler.dumps
            datas = [bytes(dumps(obj)) for obj in items]
            lens = array.array("Q", map(len, datas))
            blob = b"".join(datas)
            put_batch = _ext.gompxcore_QueuePutBatch
            handle, lens_address = self._handle, lens.buffer_info()[0]
            base = id(blob) + _OFF
            if self._maxsize == 0:
                put_batch(handle, base, lens_address, len(lens), _PICKLE, -1)
                return
            done = [0, 0]  # items, bytes already in

            def attempt(ms):
                i, offset = done
                n = put_batch(handle, base + offset, lens_address + 8 * i, len(lens) - i,
                              _PICKLE, ms)
                done[0] += n
                done[1] += sum(lens[i:i + n])
                return None if done[0] == len(lens) else _TIMED_OUT
            self._wait_for_room(attempt, block, timeout)
            del blob
        except RuntimeError as e:
            raise _translate(e) from None

    # -- getting -----------------------------------------------------------------------

    # A wait is one call for the whole time (-1: no limit).  On the main thread a signal
    # ends it early as a timeout (gompx.EnableInterrupts): the loop in _finish_get goes
    # back through the eval loop, which runs the handlers (Ctrl-C raises), and waits
    # again for what is left.

    @staticmethod
    def _first_wait(block, timeout):
        """The first attempt's wait in ms, and the deadline (None: none or no waiting)."""
        if not block:
            return 0, None
        if timeout is None:
            return -1, None
        if timeout <= 0:
            return 0, None
        return _native.timeout_ms(timeout), time.monotonic() + timeout

    @staticmethod
    def _next_wait(block, timeout, deadline):
        """The next attempt's wait after one came back empty-handed (its time ran out, or
        a signal ended it), or None when time is up."""
        if not block:
            return None
        if timeout is None:
            return -1
        if deadline is None:
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        return max(1, int(remaining * 1000 + 0.5))

    def _get(self, block, timeout):
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        if self._stash:
            return self._unstash(1)[0]
        scratch = self._scratch
        self._scratch = None  # this call owns it; a concurrent get makes its own
        if scratch is None:
            scratch = _Scratch()
        try:
            ms, deadline = self._first_wait(block, timeout)
            return self._finish_get(_queue_get(self._handle, scratch.addr, _GET_INLINE, ms),
                                    scratch, block, timeout, deadline)
        except RuntimeError as e:
            raise _translate(e) from None
        finally:
            self._scratch = scratch

    def _finish_get(self, r, scratch, block, timeout, deadline):
        """Turn a QueueGet result into the item, calling again while it says so."""
        handle = self._handle
        while True:
            if r >= 0:
                if r & 0xFF == _PICKLE:
                    return _loads(scratch.buf)  # bytes past the pickle's STOP are ignored
                return _decode(r & 0xFF, scratch.view[:r >> 8])
            if r <= _HELD_BASE:
                done, obj = self._read_held_or_release(_HELD_BASE - r, scratch)
                if done:
                    return obj
                ms = 0
            elif r == _TORN:
                ms = 0
            else:
                ms = self._next_wait(block, timeout, deadline)
                if ms is None:
                    raise Empty
            r = _queue_get(handle, scratch.addr, _GET_INLINE, ms)

    def _read_held_or_release(self, code, scratch):
        """_read_held, releasing the hold whatever is raised on the way (a Ctrl-C at the
        first instruction of _read_held included), so the queue is never left held."""
        try:
            return self._read_held(code, scratch)
        except BaseException:
            _ext.gompxcore_QueueGetAbort(self._handle)  # a no-op once the read ended
            raise

    def _read_held(self, code, scratch):
        """Read the message the core holds for this caller: (True, obj), or (False, None)
        if its producer died mid-way and it is gone.  Call it through
        _read_held_or_release."""
        n, kind = code >> 8, code & 0xFF
        handle = self._handle
        if kind == _BUFFERS:
            count = int.from_bytes(scratch.buf[:4], "little")
            lengths = struct.unpack_from("<%dQ" % (count + 1), scratch.buf, 4)
            head = 4 + 8 * (count + 1)
            pickled = _new_bytes_of(lengths[0])
            buffers = [bytearray(size) for size in lengths[1:]]
            pinned = [_Pinned(b) for b in buffers]
            table = _segment_table([(scratch.addr, head), (id(pickled) + _OFF, lengths[0])]
                                   + [(p.addr, p.len) for p in pinned])
        elif kind in (_PICKLE, _BYTES):
            pickled = _new_bytes_of(n)
            pinned = []
            table = _segment_table([(id(pickled) + _OFF, n)])
        else:
            raise ValueError("unknown queue message kind %d" % kind)
        try:
            r = _ext.gompxcore_QueueGetInto(handle, table.buffer_info()[0], len(table) // 2)
        finally:
            for p in pinned:
                p.release()
        if r == _TORN:
            return False, None
        if kind == _BYTES:
            return True, pickled
        if kind == _PICKLE:
            return True, _loads(pickled)
        return True, _loads(pickled, buffers=buffers)

    def get_many(self, max_messages=1000, block=True, timeout=None):
        """Return a list of 1 to *max_messages* items, in order.

        Waits (per *block* and *timeout*, as ``get``) for the first item, then takes what
        is already in the queue up to *max_messages*, without waiting for more.
        """
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        items = self._fast_get_many(max_messages)  # C: what is there, nothing to wait for
        if items is _MISS:
            if self._stash:
                return self._unstash(max_messages)
            return self._get_many_go(max_messages, block, timeout)
        if self._fast_more and len(items) < max_messages:
            # C stopped before a message that is there but Go's to read (a long or
            # out-of-band one): the batch goes on with it, as the Go path's would.
            try:
                items += self._get_many_go(max_messages - len(items), False, None)
            except Empty:
                pass
            except Exception as e:  # those before it are taken: they come first
                self._stash = [(False, e)]
                self._fast_stash(True)
        return items

    def _unstash(self, max_items):
        """Hand out up to *max_items* of what this process already took from the ring
        and has not handed out (the exception of a batch's Go part, after its C part
        was returned), in order; raise a stashed exception in its turn."""
        stash, out = self._stash, []
        try:
            while stash and len(out) < max_items:
                ok, value = stash[0]
                if not ok and out:
                    break
                del stash[0]
                if not ok:
                    raise value
                out.append(value)
            return out
        finally:
            if not stash:
                self._stash = None
                self._fast_stash(False)

    def _get_many_go(self, max_messages, block, timeout):
        scratch = self._scratch
        self._scratch = None
        if scratch is None:
            scratch = _Scratch()
        try:
            if len(scratch.lens) < max_messages:
                scratch.lens = array.array("Q", bytes(8 * max_messages))
            ms, deadline = self._first_wait(block, timeout)
            get_many = _ext.gompxcore_QueueGetMany
            handle, lens_address = self._handle, scratch.lens.buffer_info()[0]
            while True:
                r = get_many(handle, scratch.addr, _SCRATCH_SIZE, lens_address,
                             max_messages, ms)
                if r >= _SPLICED:  # one pickle of the list of them
                    return _loads(scratch.view[:scratch.lens[0]])
                if r > 0:
                    return _unpack_batch(r, scratch)
                if r <= _HELD_BASE:
                    done, obj = self._read_held_or_release(_HELD_BASE - r, scratch)
                    if done:
                        return [obj]
                    continue
                if r == _TORN:
                    continue
                ms = self._next_wait(block, timeout, deadline)
                if ms is None:
                    raise Empty
        except RuntimeError as e:
            raise _translate(e) from None
        finally:
            self._scratch = scratch

    # -- state -------------------------------------------------------------------------

    def _qsize(self):
        return _native.call(_ext.gompxcore_QueueLen, self._handle)

    def close(self):
        """This process will put no more: release the queue once pending items are in."""
        if self._handle is not None and not self._closed:
            # As CPython's: a queue this process put into is closed for empty() too
            # (there, close() closes the pipe once a put has started the feeder thread).
            self._closed_after_use = _native.call(_ext.gompxcore_QueueUsed, self._handle)
        self._closed = True
        self._fast_disable()  # before the mapping can go
        if self._handle is not None:
            _native.call(_ext.gompxcore_QueueClose, self._handle)


def _decode(kind, view):
    """Decode one message that landed in the scratch buffer."""
    if kind == _PICKLE:
        return _loads(view)
    if kind == _BYTES:
        return view.tobytes()
    if kind == _BUFFERS:
        count = int.from_bytes(view[:4], "little")
        lengths = struct.unpack_from("<%dQ" % (count + 1), view, 4)
        at = 4 + 8 * (count + 1)
        pickled = view[at:at + lengths[0]]
        at += lengths[0]
        buffers = []
        for size in lengths[1:]:
            buffers.append(bytearray(view[at:at + size]))
            at += size
        return _loads(pickled, buffers=buffers)
    raise ValueError("unknown queue message kind %d" % kind)


def _unpack_batch(count, scratch):
    lens, view, loads = scratch.lens, scratch.view, _loads
    out = []
    append = out.append
    at = 0
    for i in range(count):
        code = lens[i]
        end = at + (code >> 8)
        if code & 0xFF == _PICKLE:
            append(loads(view[at:end]))
        else:
            append(_decode(code & 0xFF, view[at:end]))
        at = end
    return out


def _rebuild_queue(cls, dupfd, maxsize):
    native = _native or _load_native()
    handle = native.call(native.ext.gompxcore_QueueImport, dupfd.detach())
    self = cls.__new__(cls)
    self._setup(handle, maxsize)
    return self


class Queue(_QueueBase):
    """A process-shared FIFO queue, as ``multiprocessing.Queue``.

    ``Queue(maxsize=0, *, capacity=None)``: at most *maxsize* items (0: unbounded, and
    ``put`` never blocks), in a shared ring of *capacity* bytes (default 1 GiB, sparse).
    """

    def put(self, obj, block=True, timeout=None):
        """Put *obj* into the queue; on a full bounded queue wait per *block*/*timeout*
        and raise ``queue.Full`` if no room appears."""
        if self._fast_put(obj):  # C: a plain object or bytes, nothing to wait for
            return
        self._put(obj, block, timeout)
        if not self._put_armed:
            self._arm_put()

    def get(self, block=True, timeout=None):
        """Remove and return an item; raise ``queue.Empty`` if none comes in time."""
        obj = self._fast_get()  # C: a message that is there, nothing to wait for
        if obj is not _MISS:
            return obj
        if self._stash:
            return self._unstash(1)[0]
        scratch = self._scratch
        if scratch is None or timeout is not None or not block or self._closed:
            return self._get(block, timeout)
        self._scratch = None  # this call owns it; a concurrent get makes its own
        try:
            r = _queue_get(self._handle, scratch.addr, _GET_INLINE, -1)
            if r >= 0 and not r & 0xFF:
                return _loads(scratch.buf)  # bytes past the pickle's STOP are ignored
            return self._finish_get(r, scratch, True, None, None)
        except RuntimeError as e:
            raise _translate(e) from None
        finally:
            self._scratch = scratch

    def put_nowait(self, obj):
        return self._put(obj, False, None)

    def get_nowait(self):
        return self._get(False, None)

    def qsize(self):
        """The approximate number of items in the queue."""
        return self._qsize()

    def empty(self):
        if self._closed_after_use:
            raise OSError("handle is closed")
        return self._qsize() == 0

    def full(self):
        return self._maxsize > 0 and self._qsize() >= self._maxsize

    def join_thread(self):
        """Wait until this process's items that were waiting for room are in the queue.

        Only after ``close()``, as in the stdlib."""
        if not self._closed:
            raise AssertionError("Queue {0!r} not closed".format(self))
        if self._joincancelled or self._handle is None:
            return
        _native.wait_sliced(_native.attempt(_ext.gompxcore_QueueFlush, self._handle), None)

    def cancel_join_thread(self):
        """Do not wait at exit for this process's items still waiting for room."""
        self._joincancelled = True
        if self._handle is not None:
            _native.call(_ext.gompxcore_QueueCancelJoin, self._handle)


class JoinableQueue(Queue):
    """A Queue whose consumers mark items done and whose producers can wait for that."""

    def task_done(self):
        """Mark one item taken from the queue as processed; ValueError if called more
        times than items were put."""
        if not self._fast_task_done():  # C counts it; Go raises (or the queue is closed)
            _native.call(_ext.gompxcore_QueueTaskDone, self._handle)

    def join(self):
        """Block until every item put has been marked done with task_done()."""
        _native.wait_interruptible(_native.attempt(_ext.gompxcore_QueueJoin, self._handle), None)


class SimpleQueue(_QueueBase):
    """An unbounded queue with only put, get, empty and close, as ``SimpleQueue``."""

    def __init__(self, *, ctx=None, capacity=None):
        super().__init__(0, ctx=ctx, capacity=capacity)

    # A closed SimpleQueue fails as the stdlib's does, on its closed pipe ends.

    def _check_open(self):
        if self._closed:
            raise OSError("handle is closed")

    def put(self, obj):
        if self._fast_put(obj):  # a closed queue's fast path is off
            return
        self._check_open()
        self._put(obj, True, None)
        if not self._put_armed:
            self._arm_put()

    def get(self):
        obj = self._fast_get()
        if obj is not _MISS:
            return obj
        self._check_open()
        return self._get(True, None)

    def empty(self):
        self._check_open()
        return self._qsize() == 0

    @property
    def _reader(self):
        """The reading end, as CPython's SimpleQueue has (a Connection there)."""
        return _QueueEnd(self, readable=True)

    @property
    def _writer(self):
        """The writing end, as CPython's SimpleQueue has (a Connection there)."""
        return _QueueEnd(self, readable=False)


class _QueueEnd:
    """One end of a SimpleQueue seen as CPython's pipe end: ``recv`` gets, ``send``
    puts, ``closed`` is the queue's state and ``close`` closes the queue.  A gompx queue
    lives in shared memory, not in a descriptor, so an end has no ``fileno`` and
    ``connection.wait`` cannot watch it."""

    def __init__(self, queue, readable):
        self._queue = queue
        self.readable = readable
        self.writable = not readable

    @property
    def closed(self):
        return self._queue._closed

    def close(self):
        self._queue.close()

    def recv(self):
        if not self.readable:
            raise OSError("connection is write-only")
        return self._queue.get()

    def send(self, obj):
        if not self.writable:
            raise OSError("connection is read-only")
        self._queue.put(obj)


def attach(fd, maxsize=0, cls=Queue):
    """Attach to a queue whose descriptor this process inherited: one made by a Go program
    with ``gompx.NewQueue`` (its ``Fd``), or by another gompx process.  The queue owns
    *fd* from now on.  *maxsize* is what ``full()`` compares with (the bound itself lives
    in the shared queue)."""
    native = _native or _load_native()
    handle = native.call(native.ext.gompxcore_QueueImport, fd)
    self = cls.__new__(cls)
    self._setup(handle, maxsize)
    return self
