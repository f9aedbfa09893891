"""Memory shared between processes, for sharedctypes and synchronize.

CPython's ``multiprocessing.heap`` carves ctypes objects out of mmap'd arenas that each
process frees when its own object dies, even if a child still uses the block.  gompx's
blocks live in the Go core's arenas (memfds, see ``gompx/internal/arena``): reference
counted in the shared memory itself, so a block is reused only after every process that
received it has dropped it, and the memory goes back to the kernel when the last process
exits, however it exits -- nothing is ever left in ``/dev/shm``.

Each process maps an arena once, with Python's ``mmap``: ctypes objects and the locks'
fast paths see the shared bytes directly, never through a copy.
"""

import mmap
import os
import threading

from . import context, reduction, util

__all__ = ["BufferWrapper", "arena_view"]

_maps = {}  # (st_dev, st_ino) of an arena file -> this process's mmap of it
_maps_lock = threading.Lock()
_arena_size = None


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


def _close_block(handle):
    n = _native()
    n.call(n.ext.gompxcore_SharedClose, handle)


class BufferWrapper:
    """*size* bytes of shared memory; passed to a child, it is the same memory there."""

    def __init__(self, size):
        if size < 0:
            raise ValueError("Size {0:n} out of range".format(size))
        n = _native()
        self._setup(n.call(n.ext.gompxcore_SharedAlloc, size), size)

    def _setup(self, handle, size):
        n = _native()
        self._handle = handle
        self._size = size
        self._fd = n.call(n.ext.gompxcore_SharedFd, handle)
        self._offset = n.call(n.ext.gompxcore_SharedOffset, handle)
        util.Finalize(self, _close_block, (handle,))

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
    wrapper._setup(n.call(n.ext.gompxcore_SharedOpen, fd, offset), size)
    return wrapper
