"""multiprocessing.heap, as CPython's own suite uses it: a pristine ``Heap()`` swapped in as
``BufferWrapper._heap``, its bookkeeping (``_arenas``, ``_allocated_blocks``,
``_len_to_seq``, counters, pending frees) checked after many allocations and frees, the
size checks, frees from the garbage collector, and a block of such a heap used by a child.

Every case runs against stdlib and gompx; gompx's own promises about the heap are in
test_heap_gompx.py.
"""

import gc
import importlib
import random

import pytest

import sync_targets as st
from mp_targets import join_within, recv_within


def heapmod(mp):
    return importlib.import_module(mp.__name__ + ".heap")


@pytest.fixture
def heap(mp):
    """A pristine Heap as BufferWrapper._heap for the test, as CPython's _TestHeap does."""
    module = heapmod(mp)
    old = module.BufferWrapper._heap
    module.BufferWrapper._heap = fresh = module.Heap()
    # Both keep an emptied arena smaller than this for reuse; the checks want none kept.
    fresh._DISCARD_FREE_SPACE_LARGER_THAN = 0
    yield fresh
    module.BufferWrapper._heap = old


def layout(heap):
    """Every block, free and occupied, as (arena index, start, stop, state), checked to tile
    each arena; and the sizes of the arenas. Read under the heap's lock."""
    with heap._lock:
        arenas = heap._arenas
        blocks = []
        for seq in heap._len_to_seq.values():
            for arena, start, stop in seq:
                assert stop - start > 0
                blocks.append((arenas.index(arena), start, stop, "free"))
        for arena, occupied in heap._allocated_blocks.items():
            for start, stop in occupied:
                blocks.append((arenas.index(arena), start, stop, "occupied"))
        sizes = [arena.size for arena in arenas]
    blocks.sort()
    assert sum(stop - start for _, start, stop, _ in blocks) == sum(sizes)
    for (a, _, stop, _), (na, nstart, _, _) in zip(blocks, blocks[1:]):
        if a == na:
            assert stop == nstart
        else:
            assert stop == sizes[a] and nstart == 0
    return blocks, sizes


def assert_empty(heap):
    assert heap._n_frees == heap._n_mallocs
    assert heap._pending_free_blocks == []
    assert len(heap._arenas) == 0
    assert len(heap._allocated_blocks) == 0
    assert len(heap._len_to_seq) == 0


def test_bookkeeping_tiles_and_empties(mp, heap):
    module = heapmod(mp)
    rng = random.Random(7)
    live = []
    for _ in range(1500):
        live.append(module.BufferWrapper(int(rng.lognormvariate(0, 1) * 1000)))
        if len(live) > 40:
            del live[rng.randrange(40)]
    blocks, sizes = layout(heap)
    occupied = [b for b in blocks if b[3] == "occupied"]
    assert len(occupied) == len(live)
    assert heap._n_mallocs == 1500 and heap._n_frees == 1500 - len(live)
    rng.shuffle(live)
    while live:
        live.pop()
    assert_empty(heap)


def test_size_checks(mp, heap):
    module = heapmod(mp)
    with pytest.raises(ValueError):
        module.BufferWrapper(-1)
    with pytest.raises(OverflowError):
        module.BufferWrapper(2 ** 63)
    with pytest.raises(ValueError):
        heap.malloc(-5)
    assert heap._n_mallocs == 0
    empty = module.BufferWrapper(0)
    assert len(empty.create_memoryview()) == 0


def test_free_from_gc(mp, heap):
    # Cyclic garbage is freed by the collector, possibly while this thread is inside the
    # heap (CPython issue #12352): it must not deadlock, and nothing may stay allocated.
    module = heapmod(mp)
    thresholds = gc.get_threshold()
    gc.set_threshold(10)
    try:
        for _ in range(2000):
            a = module.BufferWrapper(1)
            b = module.BufferWrapper(1)
            a.buddy, b.buddy = b, a
        del a, b
    finally:
        gc.set_threshold(*thresholds)
    gc.collect()
    module.BufferWrapper(1)  # its malloc frees whatever the collector left pending
    assert heap._pending_free_blocks == []
    assert len(heap._allocated_blocks) == 0
    assert len(heap._arenas) == 0


def test_blocks_of_a_pristine_heap_in_a_child(mp, heap, ctx):
    module = heapmod(mp)
    wrappers = [module.BufferWrapper(n) for n in (1, 100, 5000, 70000)]
    for w in wrappers:
        view = w.create_memoryview()
        view[:] = bytes(len(view))
        view.release()
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=st.fill_buffers, args=(wrappers, w))
    p.start()
    w.close()
    assert recv_within(r, 20) == [1, 100, 5000, 70000]
    assert join_within(p, 20) == 0
    assert [len(w.create_memoryview()) for w in wrappers] == [1, 100, 5000, 70000]
    for i, wrapper in enumerate(wrappers):
        view = wrapper.create_memoryview()
        assert view.tobytes() == bytes([i + 1]) * len(view)
        view.release()
