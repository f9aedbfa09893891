package arena

import (
	"errors"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/failpoint"
	"github.com/gompx/gompx/gompx/internal/psync"
	"github.com/gompx/gompx/gompx/internal/shm"
)

// Size is the address space of one arena. Sparse: only touched pages cost memory.
const Size = 16 << 30

const (
	// MinClass is the smallest block: 64 bytes, 48 of them data.
	MinClass = 6
	// MaxClass is the largest block, 8 GiB.
	MaxClass = 33
	// HeaderSize precedes the data of every block.
	HeaderSize = 16
	// punchClass and up have their pages returned to the kernel when freed.
	punchClass = 16

	// FirstBlock is the offset of the first block; the arena's header is below it.
	FirstBlock = 4096

	// The version digit changes with the header's meaning: a process of another version
	// would not keep the live count, and its Release could reset an arena in use.
	magic      = 0x324e4552_41706d67 // "gmpAREN2"
	tagMagic   = 0x6b636f6c_62706d67 // "gmpblock"
	keepOffset = 8
	lockOffset = 16
	topOffset  = 80
	liveOffset = 88
	freeOffset = 96
	page       = 4096
)

// ErrFull is returned by Alloc when the arena has no room for the block: allocate from a
// new arena.
var ErrFull = errs.New("arena full")

// Arena is one process's mapping of an arena file.
type Arena struct {
	seg  *shm.Segment
	mem  []byte
	lock psync.Mutex
}

// Create makes a new, empty arena.
func Create() (*Arena, error) {
	seg, err := shm.Create("gompx-arena", Size, false)
	if err != nil {
		return nil, errs.Errorf("create arena: %w", err)
	}
	a := &Arena{seg: seg, mem: seg.Bytes()}
	if a.lock, err = psync.NewMutex(a.mem[lockOffset : lockOffset+psync.BlockSize]); err != nil {
		seg.Close()
		return nil, errs.Errorf("create arena: %w", err)
	}
	atomic.StoreUint64(a.word64(topOffset), FirstBlock)
	atomic.StoreUint64(a.word64(0), magic)
	return a, nil
}

// Open maps the arena behind fd, which another process created. On success the Arena
// owns fd; on failure fd stays the caller's.
func Open(fd int) (*Arena, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, errs.Errorf("open arena: fstat fd %d: %w", fd, err)
	}
	if st.Size != Size {
		return nil, errs.Errorf("open arena: fd %d is %d bytes, not an arena", fd, st.Size)
	}
	seg, err := shm.Open(fd, false)
	if err != nil {
		return nil, errs.Errorf("open arena: %w", err)
	}
	a := &Arena{seg: seg, mem: seg.Bytes()}
	if atomic.LoadUint64(a.word64(0)) != magic {
		unix.Munmap(a.mem) // not seg.Close: that would close the caller's fd
		return nil, errs.Errorf("open arena: fd %d holds no arena", fd)
	}
	if a.lock, err = psync.OpenMutex(a.mem[lockOffset : lockOffset+psync.BlockSize]); err != nil {
		unix.Munmap(a.mem)
		return nil, errs.Errorf("open arena: %w", err)
	}
	return a, nil
}

// Fd is the arena file's descriptor, to hand to another process; the Arena owns it.
func (a *Arena) Fd() int { return a.seg.Fd() }

// Close unmaps the arena. Blocks stay allocated: other processes may still use them.
func (a *Arena) Close() error { return a.seg.Close() }

func (a *Arena) word64(off int64) *uint64 { return (*uint64)(unsafe.Pointer(&a.mem[off])) }

func (a *Arena) refs(data int64) *int32 {
	return (*int32)(unsafe.Pointer(&a.mem[data-HeaderSize]))
}

func (a *Arena) class(data int64) uint32 { return atomic.LoadUint32(a.classWord(data - HeaderSize)) }

func (a *Arena) classWord(block int64) *uint32 {
	return (*uint32)(unsafe.Pointer(&a.mem[block+4]))
}

// tag marks an allocated block's header (in the word that links a free block): an
// offset into some block's data, whose bytes may look like a header, lacks it.
func tag(block int64) uint64 { return uint64(block) ^ tagMagic }

func classFor(size int) (int, error) {
	if size < 0 {
		return 0, errs.Errorf("allocate %d bytes: negative size", size)
	}
	c := max(MinClass, bits.Len64(uint64(size+HeaderSize-1)))
	if c > MaxClass {
		return 0, errs.Errorf("allocate %d bytes: larger than the largest block (%d bytes): %w",
			size, 1<<MaxClass-HeaderSize, ErrFull)
	}
	return c, nil
}

// Alloc returns the offset of size bytes of zeroed data holding one reference.
func (a *Arena) Alloc(size int) (int64, error) {
	c, err := classFor(size)
	if err != nil {
		return 0, err
	}
	if err := a.lockArena(); err != nil {
		return 0, errs.Errorf("allocate: %w", err)
	}
	block, reused, err := a.take(c)
	a.lock.Unlock()
	if err != nil {
		return 0, err
	}
	// The block holds its reference from take on, so no reset can punch it out and no
	// repair can take it back meanwhile.
	failpoint.Hit("arena/allocated")
	data := block + HeaderSize
	if reused {
		end := block + 1<<c
		if c >= punchClass {
			end = block + page // the rest was punched out, and reads back as zeros
		}
		clear(a.mem[data:end])
	}
	return data, nil
}

// lockArena takes the arena's lock, repairing the arena first when it took the lock over
// from a process that died holding it.
func (a *Arena) lockArena() error {
	err := a.lock.Lock(psync.Forever)
	if errors.Is(err, psync.ErrOwnerDied) {
		a.repair()
		return nil
	}
	return err
}

// repair rebuilds the arena's bookkeeping from its blocks after a process died holding
// the lock, somewhere in take, carve, a free or a reset. Hold the lock.
//
// What survives any such death is the tiling up to top and each block's reference
// count: a block is live exactly when it holds a reference, since take gives a block its
// first reference and Release drops the last one under the lock. So the walk from
// FirstBlock keeps the blocks with references, puts every other block back on a free
// list, and counts live again. It stops at the first header that starts no block (a
// reset that punched the arena and died before it moved top back leaves zeros from
// FirstBlock on), which becomes top; whatever lies above top (a dead carve's headers)
// is cleared, since Alloc counts on it reading as zeros.
func (a *Arena) repair() {
	for c := MinClass; c <= MaxClass; c++ {
		atomic.StoreUint64(a.word64(freeOffset+8*int64(c)), 0)
	}
	top := int64(atomic.LoadUint64(a.word64(topOffset)))
	var live uint64
	off := int64(FirstBlock)
	for off < top {
		c := int(atomic.LoadUint32(a.classWord(off)))
		if c < MinClass || c > MaxClass || off+1<<c > top || c >= punchClass && off%page != 0 {
			break
		}
		if atomic.LoadInt32(a.refs(off+HeaderSize)) > 0 {
			live++
		} else {
			atomic.StoreInt32(a.refs(off+HeaderSize), 0)
			a.push(off, c)
		}
		off += 1 << c
	}
	atomic.StoreUint64(a.word64(topOffset), uint64(off))
	atomic.StoreUint64(a.word64(liveOffset), live)
	end := min((off+page-1)&^(page-1), Size)
	clear(a.mem[off:end])
	if end < Size {
		// Punching fails only where the file system cannot punch: memfds can.
		_ = unix.Fallocate(a.Fd(), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, end, Size-end)
	}
}

// take pops a free block of class c, or cuts a new one from the top, and counts it live.
// Hold the lock. A new block's class is written here, under the lock, so that a walk
// (Blocks) can step over it before Alloc has finished setting it up.
func (a *Arena) take(c int) (block int64, reused bool, err error) {
	head := a.word64(freeOffset + 8*int64(c))
	if block = int64(atomic.LoadUint64(head)); block != 0 {
		atomic.StoreUint64(head, atomic.LoadUint64(a.word64(block+8)))
		failpoint.Hit("arena/take")
		a.own(block)
		return block, true, nil
	}
	// Every block is a multiple of 64 bytes and the first starts on a page, so top is
	// always 16-aligned; only the punched classes need more.
	top := int64(atomic.LoadUint64(a.word64(topOffset)))
	block = top
	if c >= punchClass {
		block = (top + page - 1) &^ (page - 1)
	}
	if block+1<<c > Size {
		return 0, false, errs.Errorf("allocate a %d-byte block: %w", 1<<c, ErrFull)
	}
	a.carve(top, block)
	a.setClass(block, c)
	failpoint.Hit("arena/carve")
	atomic.StoreUint64(a.word64(topOffset), uint64(block+1<<c))
	failpoint.Hit("arena/take")
	a.own(block)
	return block, false, nil
}

// own counts block live and gives it its tag and first reference. Hold the lock.
func (a *Arena) own(block int64) {
	atomic.AddUint64(a.word64(liveOffset), 1)
	atomic.StoreUint64(a.word64(block+8), tag(block))
	atomic.StoreInt32(a.refs(block+HeaderSize), 1)
}

// carve turns the gap [from, to) that aligning a block to a page left below it into free
// blocks (largest first), so that blocks tile the arena and the gap's memory is used.
// Hold the lock. The gap is a multiple of 64 bytes and less than a page: classes 6 to 11.
func (a *Arena) carve(from, to int64) {
	for from < to {
		c := bits.Len64(uint64(to-from)) - 1
		a.setClass(from, c)
		a.push(from, c)
		from += 1 << c
	}
}

func (a *Arena) setClass(block int64, c int) { atomic.StoreUint32(a.classWord(block), uint32(c)) }

// push puts block on the free list of class c. Hold the lock.
func (a *Arena) push(block int64, c int) {
	head := a.word64(freeOffset + 8*int64(c))
	atomic.StoreUint64(a.word64(block+8), atomic.LoadUint64(head))
	atomic.StoreUint64(head, uint64(block))
}

// Retain adds a reference to the block at data, for another process to take over.
func (a *Arena) Retain(data int64) error {
	if err := a.check(data); err != nil {
		return err
	}
	// A compare-and-swap, not an add: a refused call must leave the count alone, or a
	// later Release would free the block a second time.
	refs := a.refs(data)
	for {
		n := atomic.LoadInt32(refs)
		if n <= 0 {
			return errs.Errorf("retain block at %d: it was already free", data)
		}
		if atomic.CompareAndSwapInt32(refs, n, n+1) {
			return nil
		}
	}
}

// Release drops a reference to the block at data and frees it with the last one; freed
// reports that. Freeing the arena's last live block resets the arena (see Reset in the
// package doc; SetKeep spares small ones): its memory goes back to the kernel.
func (a *Arena) Release(data int64) (freed bool, err error) {
	if err := a.check(data); err != nil {
		return false, err
	}
	refs := a.refs(data)
	for {
		n := atomic.LoadInt32(refs)
		if n <= 0 {
			return false, errs.Errorf("release block at %d: it was already free", data)
		}
		if n > 1 {
			if atomic.CompareAndSwapInt32(refs, n, n-1) {
				return false, nil
			}
			continue
		}
		// The last reference is dropped under the lock: a block without references is
		// then always on a free list, or in the hands of the lock's holder, which is
		// what repair relies on.
		if err := a.lockArena(); err != nil {
			return false, errs.Errorf("free block at %d: %w", data, err)
		}
		if atomic.CompareAndSwapInt32(refs, 1, 0) {
			break
		}
		a.lock.Unlock() // another process retained it meanwhile
	}
	defer a.lock.Unlock()
	failpoint.Hit("arena/release")
	block, c := data-HeaderSize, int(a.class(data))
	if c >= punchClass {
		// Give the pages back; the first holds the header and is cleared on reuse. Alloc
		// counts on the rest reading back as zeros, so where punching fails, zero it here.
		err := unix.Fallocate(a.Fd(), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, block+page, 1<<c-page)
		if err != nil {
			clear(a.mem[block+page : block+1<<c])
		}
	}
	if atomic.AddUint64(a.word64(liveOffset), ^uint64(0)) == 0 && a.reset() {
		return true, nil
	}
	failpoint.Hit("arena/free-locked")
	a.push(block, c)
	return true, nil
}

// SetKeep sets how large an emptied arena may be and still keep its blocks: the Release
// that frees the last live block resets the arena only when its blocks span keep bytes or
// more. Below that, the blocks stay on the free lists, memory and all, and the next
// allocations reuse them without a page fault each (CPython's heap keeps arenas under
// 4 MiB the same way). 0, a new arena's setting, resets every emptied arena.
func (a *Arena) SetKeep(keep int64) { atomic.StoreUint64(a.word64(keepOffset), uint64(max(keep, 0))) }

// Keep is what SetKeep set, in whichever process.
func (a *Arena) Keep() int64 { return int64(atomic.LoadUint64(a.word64(keepOffset))) }

// reset empties the arena once no block in it is live, and reports whether it did. Hold
// the lock. No process holds a reference to any block then, so none will touch one
// again (a block is used only through a reference), and any process may do it.
func (a *Arena) reset() bool {
	top := int64(atomic.LoadUint64(a.word64(topOffset)))
	if top-FirstBlock < a.Keep() {
		return false
	}
	end := (top + page - 1) &^ (page - 1)
	// Punching comes first: Alloc counts on everything at and above top reading as
	// zeros. Where it fails, the free lists keep the blocks, which are cleared on reuse.
	err := unix.Fallocate(a.Fd(), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, FirstBlock, end-FirstBlock)
	if err != nil {
		return false
	}
	failpoint.Hit("arena/reset")
	for c := MinClass; c <= MaxClass; c++ {
		atomic.StoreUint64(a.word64(freeOffset+8*int64(c)), 0)
	}
	atomic.StoreUint64(a.word64(topOffset), FirstBlock)
	return true
}

// Refs is the number of references to the block at data.
func (a *Arena) Refs(data int64) int32 { return atomic.LoadInt32(a.refs(data)) }

// Bytes is the data of the block at data: its capacity, at least what Alloc was asked.
// A free block has none.
func (a *Arena) Bytes(data int64) ([]byte, error) {
	if err := a.check(data); err != nil {
		return nil, err
	}
	if atomic.LoadInt32(a.refs(data)) <= 0 {
		return nil, errs.Errorf("block at offset %d is free", data)
	}
	end := data - HeaderSize + 1<<a.class(data)
	return a.mem[data:end:end], nil
}

func (a *Arena) check(data int64) error {
	if data < FirstBlock+HeaderSize || data >= Size || data%16 != 0 {
		return errs.Errorf("no block at offset %d", data)
	}
	// Blocks are cut below top, at an alignment their class fixes: an offset inside a
	// block's data (whose bytes may look like anything) rarely passes both checks.
	block, top := data-HeaderSize, int64(atomic.LoadUint64(a.word64(topOffset)))
	c := a.class(data)
	if c < MinClass || c > MaxClass || block+1<<c > top || c >= punchClass && block%page != 0 {
		return errs.Errorf("no block at offset %d", data)
	}
	// A free block's word is a link; callers refuse free blocks by their count.
	if atomic.LoadInt32(a.refs(data)) > 0 && atomic.LoadUint64(a.word64(block+8)) != tag(block) {
		return errs.Errorf("no block at offset %d", data)
	}
	return nil
}
