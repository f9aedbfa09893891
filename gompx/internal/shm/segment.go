package shm

import (
	"github.com/gompx/gompx/gompx/internal/errs"
	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/failpoint"
)

// Segment is one process's mapping of a shared memory file.
type Segment struct {
	fd  int
	mem []byte
}

// Create makes a close-on-exec memory file of size bytes named name (the name shows in
// /proc/<pid>/fd, nowhere else) and maps it. populate prefaults every page.
func Create(name string, size int64, populate bool) (*Segment, error) {
	if err := failpoint.Inject("shm/create"); err != nil {
		return nil, errs.Errorf("memfd_create %s: %w", name, err)
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, errs.Errorf("memfd_create %s: %w", name, err)
	}
	if err := unix.Ftruncate(fd, size); err != nil {
		unix.Close(fd)
		return nil, errs.Errorf("size %s to %d bytes: %w", name, size, err)
	}
	s, err := mapFile(fd, size, populate)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return s, nil
}

// Open maps the whole memory file behind fd. On success the segment owns fd, and Close
// closes it.
func Open(fd int, populate bool) (*Segment, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, errs.Errorf("fstat fd %d: %w", fd, err)
	}
	if st.Size <= 0 {
		return nil, errs.Errorf("fd %d is an empty file", fd)
	}
	return mapFile(fd, st.Size, populate)
}

func mapFile(fd int, size int64, populate bool) (*Segment, error) {
	flags := unix.MAP_SHARED
	if populate {
		flags |= unix.MAP_POPULATE
	}
	mem, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, flags)
	if err != nil {
		return nil, errs.Errorf("map %d bytes of fd %d: %w", size, fd, err)
	}
	return &Segment{fd: fd, mem: mem}, nil
}

// Fd is the memory file's descriptor, for handing to another process; the segment owns it.
func (s *Segment) Fd() int { return s.fd }

// Bytes is the mapping. It is valid until Close.
func (s *Segment) Bytes() []byte { return s.mem }

// Close unmaps the file and closes the descriptor. Other processes' mappings stay valid.
func (s *Segment) Close() error {
	err := unix.Munmap(s.mem)
	if cerr := unix.Close(s.fd); err == nil {
		err = cerr
	}
	s.mem = nil
	return err
}
