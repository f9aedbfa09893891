"""gompx-only promises of multiprocessing.heap: the bookkeeping is a view of the Go core's
arenas (the locks' blocks show in the process heap's), memory goes back to the kernel when
an arena's last block is freed (unless the arena is small enough to keep, as CPython's),
a block a child still holds stays allocated until the child drops it (and the child's
drop gives the arena back), bad frees raise ValueError, and a dropped Heap closes its
arenas. The stdlib-compatible behaviour is in test_heap.py.
"""

import gc
import os

import pytest

import sync_targets as st
from mp_targets import join_within, open_fds, recv_within
from test_heap import heapmod

pytestmark = pytest.mark.gompx_only


@pytest.fixture
def heap(mp):
    module = heapmod(mp)
    old = module.BufferWrapper._heap
    module.BufferWrapper._heap = fresh = module.Heap()
    fresh._DISCARD_FREE_SPACE_LARGER_THAN = 0  # every emptied arena given back
    yield fresh
    module.BufferWrapper._heap = old


def same_file(fd1, fd2):
    a, b = os.fstat(fd1), os.fstat(fd2)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def allocated_extent(heap, fd, data_offset):
    """The (start, stop) of the allocated block whose data is at data_offset of the arena
    file fd, or None."""
    for arena, blocks in heap._allocated_blocks.items():
        if same_file(arena.fd, fd):
            for start, stop in blocks:
                if arena.base + start + 16 == data_offset:
                    return start, stop
    return None


def test_process_heap_shows_a_locks_block(mp):
    heap = heapmod(mp).BufferWrapper._heap
    lock = mp.Lock()
    extent = allocated_extent(heap, lock._fd, lock._offset)
    assert extent is not None and extent[1] - extent[0] >= 16 + 64  # header, lock words
    fd, offset = os.dup(lock._fd), lock._offset
    try:
        del lock
        gc.collect()
        assert allocated_extent(heap, fd, offset) is None
    finally:
        os.close(fd)


def file_bytes(fd):
    return os.fstat(fd).st_blocks * 512


def test_memory_returns_to_the_kernel(mp, heap):
    module = heapmod(mp)
    wrappers = [module.BufferWrapper(n) for n in (3 << 20, 5000, 200, 1 << 20, 64 << 10)]
    for wrapper in wrappers:
        view = wrapper.create_memoryview()
        view[:] = b"\xee" * len(view)
        view.release()
    del wrapper
    (arena,) = heap._arenas
    assert file_bytes(arena.fd) >= (4 << 20)
    del wrappers[1:]
    assert len(heap._allocated_blocks[arena]) == 1
    assert file_bytes(arena.fd) >= (3 << 20)
    wrappers.clear()
    assert heap._arenas == [] and heap._len_to_seq == {}
    assert file_bytes(arena.fd) <= 4096  # the arena's header page
    again = module.BufferWrapper(5000)
    view = again.create_memoryview()
    assert view.tobytes() == bytes(5000)
    view.release()


def test_small_arenas_are_kept(mp):
    # As CPython's heap: an emptied arena under _DISCARD_FREE_SPACE_LARGER_THAN keeps its
    # blocks, free, and the next allocation reuses one.
    module = heapmod(mp)
    heap = module.Heap()
    assert heap._DISCARD_FREE_SPACE_LARGER_THAN == 4 << 20
    block = heap.malloc(3000)
    heap.free(block)
    (arena,) = heap._arenas
    assert heap._allocated_blocks == {}
    assert [(length, len(seq)) for length, seq in heap._len_to_seq.items()] == [(4096, 1)]
    heap.free(heap.malloc(3000))
    assert heap._arenas == [arena] and arena.size == heap._arenas[0].size == 4096
    heap._DISCARD_FREE_SPACE_LARGER_THAN = 0
    heap.free(heap.malloc(3000))
    assert heap._arenas == [] and heap._len_to_seq == {}
    with pytest.raises(ValueError):
        heap._DISCARD_FREE_SPACE_LARGER_THAN = -1


def test_a_childs_reference_keeps_the_block(mp, heap, ctx):
    module = heapmod(mp)
    box = [module.BufferWrapper(1000)]
    r, w = ctx.Pipe()
    p = ctx.Process(target=st.hold_then_drop_buffer, args=(box, w))
    p.start()
    try:
        assert recv_within(r, 20) == "holding"
        view = box[0].create_memoryview()
        assert view[0] == 0x5a
        view.release()
        box.clear()  # this process's only reference (p's arguments hold the same list)
        gc.collect()
        assert heap._n_frees == heap._n_mallocs == 1
        (arena,) = heap._arenas
        assert len(heap._allocated_blocks[arena]) == 1  # the child's
        r.send("drop")
        assert recv_within(r, 20) == "dropped"
        assert heap._arenas == [] and heap._allocated_blocks == {} and heap._len_to_seq == {}
    finally:
        assert join_within(p, 20) == 0


def test_bad_frees(mp, heap):
    module = heapmod(mp)
    other = module.Heap()
    foreign = other.malloc(10)
    with pytest.raises(ValueError, match="no live block|another heap|not allocated"):
        heap.free(foreign)  # this heap has allocated nothing yet
    mine = heap.malloc(10)
    for bad in (foreign, 10 ** 9):
        with pytest.raises(ValueError):
            heap.free(bad)
    with heap._lock:  # as the garbage collector may find it: the free waits
        heap.free(mine)
        assert heap._pending_free_blocks == [mine]
        assert sum(map(len, heap._allocated_blocks.values())) == 1  # still allocated
        with pytest.raises(ValueError):
            heap.free(mine)
        with pytest.raises(ValueError):
            heap.free(foreign)
    assert heap._n_frees == 0
    heap.malloc(1)  # frees the pending block first
    assert heap._pending_free_blocks == [] and heap._n_frees == 1
    with pytest.raises(ValueError):
        heap.free(mine)
    other.free(foreign)


def test_a_dropped_heap_closes_its_arenas(mp):
    module = heapmod(mp)
    gc.collect()
    before = open_fds()
    heap = module.Heap()
    blocks = [heap.malloc(n) for n in (10, 1000, 100000)]
    assert open_fds() == before + 1
    for block in blocks:
        heap.free(block)
    del heap
    gc.collect()
    assert open_fds() == before
