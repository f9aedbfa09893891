package shm

import (
	"github.com/gompx/gompx/gompx/internal/errs"
	"golang.org/x/sys/unix"
)

// sizeSeals fix a file's size for good: nobody holding a descriptor can shrink it under
// another process's mapping (whose next touch past the end would be SIGBUS) or grow it,
// and nobody can lift the seals.
const sizeSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// CreateSealed makes a close-on-exec memory file of size bytes named name whose size is
// sealed, and returns its descriptor, unmapped. It is for files handed to processes that
// do not trust each other to leave the size alone: check a received one with CheckSealed.
func CreateSealed(name string, size int64) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, errs.Errorf("memfd_create %s: %w", name, err)
	}
	if err := unix.Ftruncate(fd, size); err != nil {
		unix.Close(fd)
		return -1, errs.Errorf("size %s to %d bytes: %w", name, size, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, sizeSeals); err != nil {
		unix.Close(fd)
		return -1, errs.Errorf("seal the size of %s: %w", name, err)
	}
	return fd, nil
}

// CheckSealed returns the size of the memory file behind fd, or an error if its size is
// not sealed as CreateSealed seals it (so a mapping of it could fault).
func CheckSealed(fd int) (int64, error) {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return 0, errs.Errorf("read the seals of fd %d: %w", fd, err)
	}
	if seals&sizeSeals != sizeSeals {
		return 0, errs.Errorf("fd %d: size not sealed (seals %#x)", fd, seals)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, errs.Errorf("fstat fd %d: %w", fd, err)
	}
	return st.Size, nil
}

// MapRange maps length bytes of the file behind fd from offset (a multiple of the page
// size), shared and writable, without taking ownership of fd. Release it with Unmap.
func MapRange(fd int, offset, length int64) ([]byte, error) {
	mem, err := unix.Mmap(fd, offset, int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, errs.Errorf("map %d bytes at %d of fd %d: %w", length, offset, fd, err)
	}
	return mem, nil
}

// Unmap releases a mapping made by MapRange. Unmapping nil is harmless.
func Unmap(mem []byte) error {
	if mem == nil {
		return nil
	}
	return unix.Munmap(mem)
}
