package gompxcore

import "github.com/gompx/gompx/gompx"

// SharedAlloc returns a handle to a new block of at least size zeroed bytes of memory
// shared between processes (the storage of sharedctypes values).
func SharedAlloc(size int) (h int64, err error) {
	defer recoverInto(&err)
	b, err := gompx.AllocShared(size)
	if err != nil {
		return 0, newPyError("MemoryError", "%v", err)
	}
	return handles.put(b), nil
}

// SharedOpen opens the block at offset of the arena file fd (which stays the caller's),
// taking over the reference its sender retained.
func SharedOpen(fd int, offset int64) (h int64, err error) {
	defer recoverInto(&err)
	b, err := gompx.OpenShared(gompx.SharedRef{Fd: fd, Offset: offset})
	if err != nil {
		return 0, translate(err)
	}
	return handles.put(b), nil
}

// SharedFd is the descriptor of the arena file holding the block.
func SharedFd(h int64) (fd int, err error) {
	defer recoverInto(&err)
	b, err := get[*gompx.SharedBlock](h)
	if err != nil {
		return -1, err
	}
	return b.Ref().Fd, nil
}

// SharedOffset is the offset of the block's data in its arena file.
func SharedOffset(h int64) (off int64, err error) {
	defer recoverInto(&err)
	b, err := get[*gompx.SharedBlock](h)
	if err != nil {
		return -1, err
	}
	return b.Ref().Offset, nil
}

// SharedRetain adds a reference for a process the block is being sent to.
func SharedRetain(h int64) (ok bool, err error) {
	defer recoverInto(&err)
	b, err := get[*gompx.SharedBlock](h)
	if err != nil {
		return false, err
	}
	return true, translate(b.Retain())
}

// SharedClose drops this process's reference and the handle; harmless twice.
func SharedClose(h int64) (ok bool, err error) {
	defer recoverInto(&err)
	b, err := get[*gompx.SharedBlock](h)
	if err != nil {
		return false, nil
	}
	handles.drop(h)
	return true, translate(b.Close())
}
