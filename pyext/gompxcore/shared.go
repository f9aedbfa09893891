package gompxcore

import (
	"errors"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/pyapi"
)

// SharedAlloc returns a handle to a new block of at least size zeroed bytes of memory
// shared between processes (the storage of sharedctypes values).
func SharedAlloc(size int) (h int64, err error) {
	defer recoverInto(&err)
	b, err := gompx.AllocShared(size)
	if err != nil {
		return 0, newPyError(ErrKindMemoryError, "%v", err)
	}
	return handles.put(b), nil
}

// SharedOpen opens the block at offset of the arena file fd (which stays the caller's),
// taking over the reference its sender retained.
func SharedOpen(fd int, offset int64) (h int64, err error) {
	defer recoverInto(&err)
	return put(gompx.OpenShared(gompx.SharedRef{Fd: fd, Offset: offset}))
}

// SharedFd is the descriptor of the arena file holding the block.
func SharedFd(h int64) (fd int, err error) {
	return with(h, func(b *gompx.SharedBlock) (fd int, err error) { return b.Ref().Fd, nil })
}

// SharedOffset is the offset of the block's data in its arena file.
func SharedOffset(h int64) (off int64, err error) {
	return with(h, func(b *gompx.SharedBlock) (off int64, err error) { return b.Ref().Offset, nil })
}

// SharedRetain adds a reference for a process the block is being sent to.
func SharedRetain(h int64) (ok bool, err error) {
	return try(h, (*gompx.SharedBlock).Retain)
}

// SharedClose drops this process's reference and the handle; harmless twice.
func SharedClose(h int64) (ok bool, err error) {
	return withOr(h, false, func(b *gompx.SharedBlock) (ok bool, err error) {
		handles.drop(h)
		return true, translate(b.Close())
	})
}

// SharedHeapNew returns a handle to a new, empty heap (multiprocessing.heap.Heap()): its
// blocks come from arenas of its own, apart from the process's.
func SharedHeapNew() (h int64, err error) {
	defer recoverInto(&err)
	return handles.put(gompx.NewSharedHeap()), nil
}

// SharedHeapProcess returns a handle to the process's heap, where SharedAlloc and every
// lock, semaphore and shared value take their blocks.
func SharedHeapProcess() (h int64, err error) {
	defer recoverInto(&err)
	return handles.put(gompx.ProcessHeap()), nil
}

// SharedHeapAlloc returns a handle to a new block of at least size zeroed bytes from the
// heap, a block handle as SharedAlloc's. MemoryError when no arena has room.
func SharedHeapAlloc(heap int64, size int) (h int64, err error) {
	return with(heap, func(hp *gompx.SharedHeap) (h int64, err error) {
		if size < 0 {
			return 0, newPyError(ErrKindValueError, "Size %d out of range", size)
		}
		b, err := hp.Alloc(size)
		if errors.Is(err, gompx.ErrHeapClosed) {
			return 0, newPyError(ErrKindValueError, "%v", err)
		}
		if err != nil {
			return 0, newPyError(ErrKindMemoryError, "%v", err)
		}
		return handles.put(b), nil
	})
}

// SharedHeapSetKeep sets the size under which an arena of the heap whose blocks are all
// freed keeps them, memory and all, for reuse instead of giving its memory back (CPython's
// Heap._DISCARD_FREE_SPACE_LARGER_THAN; 0: give every emptied arena back).
func SharedHeapSetKeep(heap int64, bytes int64) (ok bool, err error) {
	return with(heap, func(hp *gompx.SharedHeap) (ok bool, err error) {
		hp.SetKeep(bytes)
		return true, nil
	})
}

// SharedHeapKeep is the heap's SharedHeapSetKeep setting (4 MiB unless set).
func SharedHeapKeep(heap int64) (bytes int64, err error) {
	return read(heap, (*gompx.SharedHeap).Keep)
}

// heapBlock finds the block handle block and checks that heap allocated it.
func heapBlock(heap, block int64) (*gompx.SharedHeap, *gompx.SharedBlock, error) {
	hp, err := get[*gompx.SharedHeap](heap)
	if err != nil {
		return nil, nil, err
	}
	b, err := get[*gompx.SharedBlock](block)
	if err != nil {
		return nil, nil, newPyError(ErrKindValueError, "block %d is no live block: freed already, or never allocated", block)
	}
	if !hp.Owns(b) {
		return nil, nil, newPyError(ErrKindValueError, "block %d was allocated by another heap", block)
	}
	return hp, b, nil
}

// SharedHeapOwns checks that block is a live block handle the heap allocated (ValueError
// if not), for a free that has to wait.
func SharedHeapOwns(heap, block int64) (ok bool, err error) {
	defer recoverInto(&err)
	if _, _, err := heapBlock(heap, block); err != nil {
		return false, err
	}
	return true, nil
}

// SharedHeapFree drops this process's reference to block, which the heap allocated, and
// the block handle; the block is free once no process holds a reference. ValueError for a
// block another heap allocated or one freed already.
func SharedHeapFree(heap, block int64) (ok bool, err error) {
	defer recoverInto(&err)
	hp, b, err := heapBlock(heap, block)
	if err != nil {
		return false, err
	}
	handles.drop(block)
	return true, translate(hp.Free(b))
}

// SharedHeapBlocks describes every arena of the heap that holds blocks, and their
// blocks, as pyapi.DescribeHeap says.
func SharedHeapBlocks(heap int64) (desc string, err error) {
	return with(heap, func(hp *gompx.SharedHeap) (string, error) {
		desc, err := pyapi.DescribeHeap(hp)
		if err != nil {
			return "", newPyError(ErrKindSystemError, "%v", err)
		}
		return desc, nil
	})
}

// SharedHeapClose forgets the heap handle. A heap of its own (not the process's) is
// closed: its arenas without live blocks are unmapped and their files closed; blocks
// still alive keep theirs. Harmless twice.
func SharedHeapClose(heap int64) (ok bool, err error) {
	return withOr(heap, false, func(hp *gompx.SharedHeap) (ok bool, err error) {
		handles.drop(heap)
		if hp == gompx.ProcessHeap() {
			return true, nil
		}
		return true, translate(hp.Close())
	})
}
