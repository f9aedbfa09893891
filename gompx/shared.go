package gompx

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/arena"
)

// SharedRef tells another process where a shared block is: the descriptor of the arena
// file holding it (as seen by the process that made the ref; pass the descriptor to the
// child, e.g. in Cmd.ExtraFiles, and give the child's number to OpenShared) and the
// block's offset in that file.
type SharedRef struct {
	Fd     int
	Offset int64
}

// SharedBlock is a block of memory that processes share: the storage of locks, events,
// semaphores, conditions, barriers and shared values. It is reference counted across
// processes; the memory is reused only once every process has closed its reference, and
// it is returned to the kernel when the last process using the arena exits, however it
// exits (arenas are memfds: nothing is left in /dev/shm).
type SharedBlock struct {
	arena *arena.Arena
	off   int64
	mu    sync.Mutex
	data  []byte // nil once closed
}

// arenas is this process's view of every arena it maps, by file identity: arenas are
// mapped once and stay mapped for the life of the process (address space only).
var arenas struct {
	mu     sync.Mutex
	own    *arena.Arena // where this process allocates
	byFile map[[2]uint64]*arena.Arena
}

func fileKey(fd int) ([2]uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return [2]uint64{}, fmt.Errorf("fstat fd %d: %w", fd, err)
	}
	return [2]uint64{uint64(st.Dev), st.Ino}, nil
}

// AllocShared returns a new block of at least size zeroed bytes, holding this process's
// reference.
func AllocShared(size int) (*SharedBlock, error) {
	arenas.mu.Lock()
	defer arenas.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if arenas.own == nil {
			a, err := arena.Create()
			if err != nil {
				return nil, fmt.Errorf("shared block: %w", err)
			}
			if err := register(a); err != nil {
				a.Close()
				return nil, err
			}
			arenas.own = a
		}
		off, err := arenas.own.Alloc(size)
		if errors.Is(err, arena.ErrFull) && attempt == 0 && size < arena.Size/2 {
			arenas.own = nil // the full arena stays mapped for its blocks
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("shared block of %d bytes: %w", size, err)
		}
		return newBlock(arenas.own, off)
	}
}

func register(a *arena.Arena) error {
	key, err := fileKey(a.Fd())
	if err != nil {
		return err
	}
	if arenas.byFile == nil {
		arenas.byFile = make(map[[2]uint64]*arena.Arena)
	}
	arenas.byFile[key] = a
	return nil
}

// OpenShared takes over the reference ref carries (made with Retain by the process that
// sent it) and maps the block. fd stays the caller's: close it when convenient.
func OpenShared(ref SharedRef) (*SharedBlock, error) {
	key, err := fileKey(ref.Fd)
	if err != nil {
		return nil, fmt.Errorf("open shared block: %w", err)
	}
	arenas.mu.Lock()
	defer arenas.mu.Unlock()
	a := arenas.byFile[key]
	if a == nil {
		fd, err := unix.FcntlInt(uintptr(ref.Fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open shared block: dup fd %d: %w", ref.Fd, err)
		}
		if a, err = arena.Open(fd); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("open shared block: %w", err)
		}
		register(a)
	}
	return newBlock(a, ref.Offset)
}

func newBlock(a *arena.Arena, off int64) (*SharedBlock, error) {
	data, err := a.Bytes(off)
	if err != nil {
		return nil, fmt.Errorf("shared block: %w", err)
	}
	return &SharedBlock{arena: a, off: off, data: data}, nil
}

// Bytes is the block's memory (its capacity may exceed the size asked for). It stays
// mapped for the life of the process, but after Close it may be reused for another block.
func (b *SharedBlock) Bytes() []byte { return b.data }

// Ref locates the block for another process. Call Retain first, once per process that
// will OpenShared it.
func (b *SharedBlock) Ref() SharedRef { return SharedRef{Fd: b.arena.Fd(), Offset: b.off} }

// Retain adds a reference to the block for a process it is handed to, which takes the
// reference over with OpenShared and drops it with Close.
func (b *SharedBlock) Retain() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.data == nil {
		return ErrClosed
	}
	return b.arena.Retain(b.off)
}

// Close drops this process's reference; the last one frees the block. Idempotent.
func (b *SharedBlock) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.data == nil {
		return nil
	}
	b.data = nil
	_, err := b.arena.Release(b.off)
	return err
}
