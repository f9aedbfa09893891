"""Memory shared between processes, for sharedctypes and synchronize.

CPython's ``multiprocessing.heap`` carves ctypes objects out of mmap'd arenas that each
process frees when its own object dies, even if a child still uses the block.  gompx's
blocks live in the Go core's arenas (memfds, see ``gompx/internal/arena``): reference
counted in the shared memory itself, so a block is reused only after every process that
received it has dropped it, and the memory goes back to the kernel when the last process
exits, however it exits -- nothing is ever left in ``/dev/shm``.  An arena whose last
block is freed (by whichever process drops the last reference) gives its memory back at
once, unless it is small enough to keep for reuse (``_DISCARD_FREE_SPACE_LARGER_THAN``,
4 MiB as in CPython).

A :class:`Heap` is one allocator: a handle to a heap in the Go core with arenas of its
own.  ``BufferWrapper._heap``, the process's heap, is the Go core's process heap, which the
locks and semaphores share; ``Heap()`` makes a separate one, and ``BufferWrapper``
allocates from whatever heap ``BufferWrapper._heap`` is when it is called (CPython's test
suite swaps in a pristine ``Heap()``).  CPython's bookkeeping attributes (``_arenas``,
``_allocated_blocks``, ``_len_to_seq``) are read from the arenas themselves each time
they are looked at; they are no copy kept beside them.

Each process maps an arena once, with Python's ``mmap``: ctypes objects and the locks'
fast paths see the shared bytes directly, never through a copy.
"""

import mmap
import os
import sys
import threading

from . import context, reduction, util

__all__ = ["Arena", "Heap", "BufferWrapper", "arena_view"]

_maps = {}  # (st_dev, st_ino) of an arena file -> this process's mmap of it
_maps_lock = threading.Lock()
_arena_size = None
_core_lock = threading.Lock()  # guards the lazy making of a Heap's core handle


def _native():
    from . import _native
    return _native


def arena_view(fd, offset, size):
    """A writable memoryview of *size* bytes at *offset* of the arena file *fd*."""
    global _arena_size
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino)
    with _maps_lock:
        m = _maps.get(key)
        if m is None:
            if _arena_size is None:
                n = _native()
                _arena_size = n.call(n.ext.gompxcore_SharedArenaSize)
            # Mapped for the life of the process: the views handed out pin it anyway.
            m = _maps[key] = mmap.mmap(fd, _arena_size)
    return memoryview(m)[offset:offset + size]


class Arena:
    """One arena of a :class:`Heap`, as its bookkeeping shows it.

    ``fd`` is the arena file (the heap's: do not close it); ``base`` the file offset where
    position 0 of the blocks' ``(start, stop)`` lies (below it, the arena's header);
    ``size`` the bytes cut into blocks when the bookkeeping was read (an arena grows from
    its top, up to 16 GiB of address space, filled with memory only where blocks are).
    Two readings of one arena compare equal.
    """

    __slots__ = ("fd", "base", "size", "_key")

    def __init__(self, fd, base, size):
        st = os.fstat(fd)
        self.fd, self.base, self.size = fd, base, size
        self._key = (st.st_dev, st.st_ino)

    def __eq__(self, other):
        if not isinstance(other, Arena):
            return NotImplemented
        return self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return "<Arena fd=%d size=%d>" % (self.fd, self.size)


def _close_heap(core):
    n = _native()
    n.call(n.ext.gompxcore_SharedHeapClose, core)


class Heap:
    """An allocator of shared blocks, with arenas of its own in the Go core.

    ``malloc(size)`` returns a block (a handle for the core; ``BufferWrapper`` is the
    usual way to use one) and ``free(block)`` drops this process's reference to it: the
    block is free once no process holds one.  Blocks are powers of two (64 bytes to
    8 GiB) including a 16-byte header.

    ``free`` never waits, because the garbage collector may call it while this thread
    holds ``_lock`` (CPython issue #12352): when the lock is taken, the block goes to
    ``_pending_free_blocks`` and the next ``malloc`` or ``free`` frees it.  So while a
    thread holds ``_lock``, this heap object changes nothing, and the bookkeeping it reads
    stays the same unless another process (or the core's own locks and semaphores, on
    the process heap) allocates or frees meanwhile:

    - ``_DISCARD_FREE_SPACE_LARGER_THAN``: an arena whose blocks are all freed gives its
      memory back to the kernel and is no longer listed, unless its blocks span less than
      this (4 MiB): then it keeps them, free, for the next allocations, as CPython's heap
      keeps such an arena.  Stored with the arenas, so it holds for frees in any process.
      0: give every emptied arena back;
    - ``_arenas``: the arenas that hold blocks, free or allocated;
    - ``_allocated_blocks``: ``{arena: {(start, stop), ...}}``, blocks some process holds;
    - ``_len_to_seq``: ``{length: [(arena, start, stop), ...]}``, free blocks by length;
    - ``_n_mallocs``, ``_n_frees``: blocks this object allocated and freed.

    Blocks of one arena tile ``[0, arena.size)``; a block's extent includes its header.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pending_free_blocks = []
        self._n_mallocs = 0
        self._n_frees = 0
        self._core = None  # the core's heap handle, made on first use: see _handle

    def _new_core(self):
        n = _native()
        return n.call(n.ext.gompxcore_SharedHeapNew)

    def _handle(self):
        # Not made in __init__: the process heap is made at import, and a fork server
        # imports this module without loading the Go core.
        core = self._core
        if core is None:
            with _core_lock:
                if self._core is None:
                    self._core = self._new_core()
                    util.Finalize(self, _close_heap, (self._core,))
                core = self._core
        return core

    def malloc(self, size):
        """A new block of at least *size* zeroed bytes, holding this process's reference."""
        if size < 0:
            raise ValueError("Size {0:n} out of range".format(size))
        if sys.maxsize <= size:
            raise OverflowError("Size {0:n} too large".format(size))
        n = _native()
        with self._lock:
            self._free_pending_blocks()
            block = n.call(n.ext.gompxcore_SharedHeapAlloc, self._handle(), size)
            self._n_mallocs += 1
            return block

    def free(self, block):
        """Drop this process's reference to *block*, which this heap's ``malloc`` returned.

        ValueError for a block another heap allocated, or one freed already."""
        if self._lock.acquire(False):
            try:
                self._free_pending_blocks()
                self._free(block)
            finally:
                self._lock.release()
            return
        # Refused now, not when the pending block is freed inside someone else's call.
        self._check_owned(block)
        if block in self._pending_free_blocks:
            raise ValueError("block %r is already waiting to be freed" % (block,))
        self._pending_free_blocks.append(block)

    def _check_owned(self, block):
        n = _native()
        n.call(n.ext.gompxcore_SharedHeapOwns, self._handle(), block)

    def _free(self, block):
        n = _native()
        n.call(n.ext.gompxcore_SharedHeapFree, self._handle(), block)
        self._n_frees += 1

    def _free_pending_blocks(self):
        # Called with the lock held. list.pop is atomic, so a collection that adds a block
        # meanwhile loses nothing.
        while True:
            try:
                block = self._pending_free_blocks.pop()
            except IndexError:
                return
            self._free(block)

    def _read(self):
        """The arenas that hold blocks, each with its blocks [(start, stop, free), ...] in
        address order, as the core walked them just now."""
        n = _native()
        arenas = []
        for line in n.call(n.ext.gompxcore_SharedHeapBlocks, self._handle()).splitlines():
            fields = line.split()
            if fields[0] == "arena":
                blocks = []
                arenas.append((Arena(int(fields[1]), int(fields[2]), int(fields[3])), blocks))
            else:
                blocks.append((int(fields[0]), int(fields[1]), fields[2] == "free"))
        return arenas

    @property
    def _DISCARD_FREE_SPACE_LARGER_THAN(self):
        n = _native()
        return n.call(n.ext.gompxcore_SharedHeapKeep, self._handle())

    @_DISCARD_FREE_SPACE_LARGER_THAN.setter
    def _DISCARD_FREE_SPACE_LARGER_THAN(self, size):
        if size < 0:
            raise ValueError("_DISCARD_FREE_SPACE_LARGER_THAN must be >= 0, not %r" % (size,))
        n = _native()
        n.call(n.ext.gompxcore_SharedHeapSetKeep, self._handle(), min(size, sys.maxsize))

    @property
    def _arenas(self):
        return [arena for arena, _ in self._read()]

    @property
    def _allocated_blocks(self):
        allocated = {}
        for arena, blocks in self._read():
            used = {(start, stop) for start, stop, free in blocks if not free}
            if used:
                allocated[arena] = used
        return allocated

    @property
    def _len_to_seq(self):
        by_length = {}
        for arena, blocks in self._read():
            for start, stop, free in blocks:
                if free:
                    by_length.setdefault(stop - start, []).append((arena, start, stop))
        return by_length


class _ProcessHeap(Heap):
    """The process's heap: the core's, where the locks and semaphores live too."""

    def _new_core(self):
        n = _native()
        return n.call(n.ext.gompxcore_SharedHeapProcess)


def _close_block(handle):
    n = _native()
    n.call(n.ext.gompxcore_SharedClose, handle)


class BufferWrapper:
    """*size* bytes of shared memory; passed to a child, it is the same memory there.

    The block comes from ``BufferWrapper._heap`` as it is at the call (the process's heap
    unless replaced) and goes back to that heap when the wrapper is collected."""

    _heap = _ProcessHeap()

    def __init__(self, size):
        if size < 0:
            raise ValueError("Size {0:n} out of range".format(size))
        if sys.maxsize <= size:
            raise OverflowError("Size {0:n} too large".format(size))
        heap = BufferWrapper._heap
        self._setup(heap.malloc(size), size, heap.free)

    def _setup(self, handle, size, release):
        n = _native()
        self._handle = handle
        self._size = size
        # Registered first, so that the block goes back even if a call below fails.
        util.Finalize(self, release, (handle,))
        self._fd = n.call(n.ext.gompxcore_SharedFd, handle)
        self._offset = n.call(n.ext.gompxcore_SharedOffset, handle)

    def create_memoryview(self):
        return arena_view(self._fd, self._offset, self._size)

    def __reduce__(self):
        context.assert_spawning(self)
        n = _native()
        # The child takes this reference over; the block outlives our own.
        n.call(n.ext.gompxcore_SharedRetain, self._handle)
        return _rebuild_buffer, (reduction.DupFd(self._fd), self._offset, self._size)


def _rebuild_buffer(dupfd, offset, size):
    n = _native()
    fd = dupfd.detach()
    wrapper = BufferWrapper.__new__(BufferWrapper)
    wrapper._setup(n.call(n.ext.gompxcore_SharedOpen, fd, offset), size, _close_block)
    return wrapper
