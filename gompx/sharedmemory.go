package gompx

import (
	"sync"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/shm"
	"github.com/gompx/gompx/gompx/internal/shmname"
)

// SharedMemory is a named block of memory shared between processes, the segments of
// Python's gompx.shared_memory.SharedMemory: a Go program and Python processes of the
// same user open the same segment by name.
//
// A segment lives while any process holds it (from Create or Open until Close, or until
// the process dies) and its name resolves until Unlink. No memory outlives the last
// holder, and there is no cleanup to do after a SIGKILL. Unlike a POSIX shared memory
// object, a segment that every holder closed without Unlink is gone. Programs that know
// nothing of gompx open it by its POSIX name too (shm_open(3), stock CPython's
// shared_memory): /dev/shm/<name> is a link to the memory file while the segment is named.
//
// Errors wrap the errno of the failure, so errors.Is(err, fs.ErrExist) tells a name in
// use and errors.Is(err, fs.ErrNotExist) a name nobody serves (or that was unlinked).
// Methods are safe for concurrent use.
type SharedMemory struct {
	seg *shmname.Segment

	mu   sync.Mutex
	data []byte
}

// CreateSharedMemory creates a segment of size bytes, zero-filled, called name; an empty
// name makes one up ("psm_" and 8 hex digits; see Name). Names follow shm_open's rules:
// leading slashes do not count, then at most 255 bytes, no slash inside.
func CreateSharedMemory(name string, size int64) (*SharedMemory, error) {
	seg, err := shmname.Create(name, size)
	if err != nil {
		return nil, errs.Errorf("create shared memory: %w", err)
	}
	return mapSharedMemory(seg)
}

// OpenSharedMemory attaches to the segment called name, made by CreateSharedMemory (or
// Python's SharedMemory(create=True)) in any process of this user that still holds it.
func OpenSharedMemory(name string) (*SharedMemory, error) {
	seg, err := shmname.Open(name)
	if err != nil {
		return nil, errs.Errorf("open shared memory: %w", err)
	}
	return mapSharedMemory(seg)
}

// AdoptSharedMemory holds the segment behind fd, a descriptor of its memory file (Fd)
// that another holder passed to this process, e.g. in Cmd.Files; it owns fd from now
// on, and serves the name like any holder. Unlike OpenSharedMemory it needs no live
// name, so a child given the descriptor at start keeps the segment even if its parent
// closes it at once. Python's gompx passes SharedMemory arguments of Process this way.
func AdoptSharedMemory(fd int) (*SharedMemory, error) {
	seg, err := shmname.Adopt(fd)
	if err != nil {
		return nil, errs.Errorf("adopt shared memory: %w", err)
	}
	return mapSharedMemory(seg)
}

func mapSharedMemory(seg *shmname.Segment) (*SharedMemory, error) {
	data, err := shm.MapRange(seg.Fd(), seg.DataOffset(), seg.Size())
	if err != nil {
		seg.Close()
		return nil, errs.Errorf("shared memory %q: %w", seg.Name(), err)
	}
	return &SharedMemory{seg: seg, data: data}, nil
}

// Bytes is the segment's memory, Size bytes, valid until Close. Writes are seen by every
// process at once; coordinate them as with any memory shared between threads.
func (m *SharedMemory) Bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data
}

// Name is the name given to Create or Open, or the one Create made up.
func (m *SharedMemory) Name() string { return m.seg.Name() }

// Size is the size asked for at creation, in bytes (not rounded to pages).
func (m *SharedMemory) Size() int64 { return m.seg.Size() }

// Fd is the memory file's descriptor (close-on-exec), valid until Close, for a runtime
// that maps the memory itself: the data is the Size bytes at DataOffset.
func (m *SharedMemory) Fd() int { return m.seg.Fd() }

// DataOffset is where the data starts in the file behind Fd (a multiple of the page size).
func (m *SharedMemory) DataOffset() int64 { return m.seg.DataOffset() }

// Close releases this process's hold: Bytes is unmapped, and the segment lives on only if
// another process holds it. Closing twice is harmless.
func (m *SharedMemory) Close() error {
	m.mu.Lock()
	data := m.data
	m.data = nil
	m.mu.Unlock()
	err := shm.Unmap(data)
	if cerr := m.seg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errs.Errorf("close shared memory %q: %w", m.Name(), err)
	}
	return nil
}

// Unlink removes the name: from now on no process can open the segment, and the name is
// free for a new one. Processes that hold the segment keep using it; its memory goes
// with the last of them. Unlink works after Close too, as long as another process holds
// the segment (if none does, it is gone already and Unlink returns nil). Unlinking twice
// fails with an error wrapping fs.ErrNotExist.
func (m *SharedMemory) Unlink() error {
	if err := m.seg.Unlink(); err != nil {
		return errs.Errorf("unlink shared memory: %w", err)
	}
	return nil
}
