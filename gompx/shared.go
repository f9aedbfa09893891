package gompx

import (
	"errors"
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/arena"
	"github.com/gompx/gompx/gompx/internal/errs"
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

// Errors of SharedHeap, wrapped with context (use errors.Is).
var (
	// ErrHeapClosed reports an allocation from a SharedHeap after Close.
	ErrHeapClosed = errs.New("shared heap is closed")

	// ErrForeignBlock reports a block handed to a SharedHeap that did not allocate it.
	ErrForeignBlock = errs.New("block belongs to another heap")
)

// registry is every arena this process maps, by file identity: an arena is mapped once,
// whichever heap made it or whichever process sent a block of it.
var registry = struct {
	mu     sync.Mutex
	byFile map[[2]uint64]*arena.Arena
}{byFile: make(map[[2]uint64]*arena.Arena)}

func fileKey(fd int) ([2]uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return [2]uint64{}, errs.Errorf("fstat fd %d: %w", fd, err)
	}
	return [2]uint64{uint64(st.Dev), st.Ino}, nil
}

func register(a *arena.Arena) error {
	key, err := fileKey(a.Fd())
	if err != nil {
		return err
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	registry.byFile[key] = a
	return nil
}

func unregister(a *arena.Arena) {
	key, err := fileKey(a.Fd())
	if err != nil {
		return
	}
	registry.mu.Lock()
	delete(registry.byFile, key)
	registry.mu.Unlock()
}

// SharedHeap allocates shared blocks from arenas it creates (memfds of 16 GiB of address
// space, filled on demand with blocks of power-of-two sizes). The process has one, which
// AllocShared and every lock, semaphore and shared value use (ProcessHeap);
// NewSharedHeap makes a separate one, whose arenas hold only its own blocks.
//
// An arena whose last block is freed, by whichever process drops the last reference, is
// reset: its memory goes back to the kernel, and the heap allocates from it again. An
// arena whose blocks span less than the heap's keep setting (SetKeep) keeps them instead.
type SharedHeap struct {
	mu     sync.Mutex
	arenas []*arena.Arena // made by this heap, oldest first; the last one allocates
	keep   int64
	closed bool
}

// DefaultHeapKeep is a new heap's SetKeep setting: CPython's heap keeps an emptied arena
// under 4 MiB for reuse, rather than pay to map it again; gompx's pays a punch and a page
// fault per page (a block allocated and freed alone, in a loop: ~10 µs a round).
const DefaultHeapKeep = 4 << 20

var processHeap = SharedHeap{keep: DefaultHeapKeep}

// ProcessHeap is the heap AllocShared allocates from. It is never closed.
func ProcessHeap() *SharedHeap { return &processHeap }

// NewSharedHeap makes an empty heap; its first Alloc creates its first arena.
func NewSharedHeap() *SharedHeap { return &SharedHeap{keep: DefaultHeapKeep} }

// SetKeep sets, for the heap's arenas now and to come, the size under which an arena
// whose blocks are all freed keeps them (and their memory) for the next allocations
// instead of being reset; 0 resets every emptied arena. It takes effect at the next
// free of an arena's last block, in whichever process.
func (h *SharedHeap) SetKeep(bytes int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keep = max(bytes, 0)
	for _, a := range h.arenas {
		a.SetKeep(h.keep)
	}
}

// Keep is the heap's SetKeep setting.
func (h *SharedHeap) Keep() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.keep
}

// AllocShared returns a new block of at least size zeroed bytes from the process's heap,
// holding this process's reference.
func AllocShared(size int) (*SharedBlock, error) { return processHeap.Alloc(size) }

// Alloc returns a new block of at least size zeroed bytes, holding this process's
// reference: Close it when done.
func (h *SharedHeap) Alloc(size int) (*SharedBlock, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errs.Errorf("shared block of %d bytes: %w", size, ErrHeapClosed)
	}
	for attempt := 0; ; attempt++ {
		if len(h.arenas) == 0 || attempt > 0 {
			a, err := arena.Create()
			if err != nil {
				return nil, errs.Errorf("shared block: %w", err)
			}
			if err := register(a); err != nil {
				a.Close()
				return nil, errs.Errorf("shared block: %w", err)
			}
			a.SetKeep(h.keep)
			h.arenas = append(h.arenas, a)
		}
		a := h.arenas[len(h.arenas)-1]
		off, err := a.Alloc(size)
		if errors.Is(err, arena.ErrFull) && attempt == 0 && size < arena.Size/2 {
			continue // the full arena stays, for its blocks
		}
		if err != nil {
			return nil, errs.Errorf("shared block of %d bytes: %w", size, err)
		}
		return newBlock(a, off)
	}
}

// Owns reports whether b lies in one of the heap's arenas: the heap allocated it (in this
// process, or b came back from a process this one sent it to).
func (h *SharedHeap) Owns(b *SharedBlock) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.arenas {
		if a == b.arena {
			return true
		}
	}
	return false
}

// Free closes b, this process's reference to a block of the heap: ErrForeignBlock if
// the heap did not allocate it. The block is freed when no process holds a reference.
func (h *SharedHeap) Free(b *SharedBlock) error {
	if !h.Owns(b) {
		return errs.Errorf("free block at offset %d: %w", b.off, ErrForeignBlock)
	}
	return b.Close()
}

// HeapArena is what SharedHeap.Arenas saw of one arena.
type HeapArena struct {
	Fd         int         // the arena file's descriptor: the heap's, do not close it
	Start, End int64       // the blocks tile [Start, End) of the file; End grows as blocks are cut
	Blocks     []HeapBlock // in address order
}

// HeapBlock is one block of an arena.
type HeapBlock struct {
	Offset int64 // of the block in the arena file; its data starts 16 bytes in (Ref().Offset)
	Size   int64 // header included: a power of two
	Free   bool  // false from its allocation until its last reference is dropped
	Refs   int32 // references when Arenas looked, in all processes (0 for a free block)
}

// Arenas lists the heap's arenas and their blocks. Each arena is walked under its lock,
// so what it shows of one arena is one state of it (allocations and frees in any process
// wait for the walk); an arena that was reset has no blocks.
func (h *SharedHeap) Arenas() ([]HeapArena, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]HeapArena, 0, len(h.arenas))
	for _, a := range h.arenas {
		blocks, top, err := a.Blocks()
		if err != nil {
			return nil, errs.Errorf("shared heap: %w", err)
		}
		ha := HeapArena{Fd: a.Fd(), Start: arena.FirstBlock, End: top, Blocks: make([]HeapBlock, len(blocks))}
		for i, b := range blocks {
			ha.Blocks[i] = HeapBlock{Offset: b.Offset, Size: b.Size, Free: b.Free, Refs: b.Refs}
		}
		out = append(out, ha)
	}
	return out, nil
}

// Close ends the heap: Alloc fails from now on, and every arena without a live block (kept
// free blocks or none) is unmapped and its file closed. An arena that still has live blocks (this process's, or
// held by processes it sent them to) stays mapped for them for the life of the process;
// its memory goes back to the kernel when its last block is freed, as always. Closing
// twice is harmless; the process heap cannot be closed.
func (h *SharedHeap) Close() error {
	if h == &processHeap {
		return errs.New("close shared heap: the process heap cannot be closed")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	kept := h.arenas[:0]
	for _, a := range h.arenas {
		// No live block means no process holds a reference into it, and only this heap
		// allocates from it: nothing can make one live again.
		if blocks, _, err := a.Blocks(); err != nil || slices.ContainsFunc(blocks, func(b arena.Block) bool { return !b.Free }) {
			kept = append(kept, a)
			continue
		}
		unregister(a)
		a.Close()
	}
	h.arenas = kept
	return nil
}

// OpenShared takes over the reference ref carries (made with Retain by the process that
// sent it) and maps the block. fd stays the caller's: close it when convenient.
func OpenShared(ref SharedRef) (*SharedBlock, error) {
	key, err := fileKey(ref.Fd)
	if err != nil {
		return nil, errs.Errorf("open shared block: %w", err)
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	a := registry.byFile[key]
	if a == nil {
		fd, err := unix.FcntlInt(uintptr(ref.Fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, errs.Errorf("open shared block: dup fd %d: %w", ref.Fd, err)
		}
		if a, err = arena.Open(fd); err != nil {
			unix.Close(fd)
			return nil, errs.Errorf("open shared block: %w", err)
		}
		registry.byFile[key] = a
	}
	return newBlock(a, ref.Offset)
}

func newBlock(a *arena.Arena, off int64) (*SharedBlock, error) {
	data, err := a.Bytes(off)
	if err != nil {
		return nil, errs.Errorf("shared block: %w", err)
	}
	return &SharedBlock{arena: a, off: off, data: data}, nil
}

// Bytes is the block's memory (its capacity may exceed the size asked for). Do not use it
// after Close: the block may hold another's data then, or, once its heap is closed, be
// unmapped.
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
