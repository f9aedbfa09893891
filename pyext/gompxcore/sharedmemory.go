package gompxcore

import (
	"github.com/gompx/gompx/gompx"
)

// SharedMemoryCreate creates a named shared memory segment of size bytes and returns its
// handle; an empty name makes one up (read it with SharedMemoryName). Errors carry the
// errno: EEXIST (FileExistsError) for a live name, EINVAL or ENAMETOOLONG for a bad one.
func SharedMemoryCreate(name string, size int64) (h int64, err error) {
	defer recoverInto(&err)
	return put(gompx.CreateSharedMemory(name, size))
}

// SharedMemoryOpen attaches to the segment called name and returns its handle. ENOENT
// (FileNotFoundError) if no process of this user holds it, or it was unlinked.
func SharedMemoryOpen(name string) (h int64, err error) {
	defer recoverInto(&err)
	return put(gompx.OpenSharedMemory(name))
}

// SharedMemoryAdopt holds the segment behind fd, its memory file inherited from the
// parent (a SharedMemory passed to Process), and returns a handle. Go owns fd from now on.
func SharedMemoryAdopt(fd int) (h int64, err error) {
	defer recoverInto(&err)
	return put(gompx.AdoptSharedMemory(fd))
}

// SharedMemoryFd returns the segment's memory file descriptor, for Python to mmap the
// SharedMemorySize bytes at SharedMemoryDataOffset. Go keeps and closes it.
func SharedMemoryFd(h int64) (fd int, err error) {
	return read(h, (*gompx.SharedMemory).Fd)
}

// SharedMemoryDataOffset returns where the data starts in the memory file.
func SharedMemoryDataOffset(h int64) (off int64, err error) {
	return read(h, (*gompx.SharedMemory).DataOffset)
}

// SharedMemorySize returns the segment's size as asked for at creation.
func SharedMemorySize(h int64) (size int64, err error) {
	return read(h, (*gompx.SharedMemory).Size)
}

// SharedMemoryName returns the segment's name (the made-up one after an empty name).
func SharedMemoryName(h int64) (name string, err error) {
	return read(h, (*gompx.SharedMemory).Name)
}

// SharedMemoryClose releases this process's hold on the segment (SharedMemory.close):
// Python must have closed its own mmap first. The handle stays valid for
// SharedMemoryUnlink. Closing twice is harmless.
func SharedMemoryClose(h int64) (ok bool, err error) {
	return try(h, (*gompx.SharedMemory).Close)
}

// SharedMemoryUnlink removes the segment's name (SharedMemory.unlink); ENOENT
// (FileNotFoundError) if it was unlinked already.
func SharedMemoryUnlink(h int64) (ok bool, err error) {
	return try(h, (*gompx.SharedMemory).Unlink)
}

// SharedMemoryDrop closes the segment and forgets the handle (the Python object is gone).
func SharedMemoryDrop(h int64) (ok bool, err error) {
	return withOr(h, true, func(m *gompx.SharedMemory) (ok bool, err error) {
		handles.drop(h)
		return true, translate(m.Close())
	})
}
