package shmring

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/shm"
)

const (
	magic      = 0x676f6d7078726e31 // "gompxrn1"
	dataOffset = 4096               // the data starts on its own page
	// WaitSlice bounds each futex sleep; the alive check runs between slices.
	WaitSlice = 100 * time.Millisecond
	// chunk bounds one copy, so the other side can start on it while this side copies on.
	chunk = 64 << 10
	// spin is how long a side polls the other's counter before it sleeps.
	spin = 20 * time.Microsecond
)

// header sits at offset 0 of the shared file. Fields are laid out explicitly (no
// implicit padding) and the two hot groups sit on separate cache lines.
type header struct {
	Magic uint64   // creator writes once before sharing the fd; Open reads and checks it
	Size  uint64   // creator writes once: data capacity, a power of two; both read
	_     [48]byte // keeps the read-only line apart from the hot ones

	Head        uint64   // producer writes (atomic): bytes published so far; consumer reads
	HeadSeq     uint32   // futex word: producer bumps it after publishing if ConsWaiting; consumer sleeps on it
	ProdWaiting uint32   // producer writes 1 before sleeping on TailSeq, 0 after; consumer reads
	_           [48]byte // separates producer-written from consumer-written words

	Tail        uint64   // consumer writes (atomic): bytes consumed so far; producer reads
	TailSeq     uint32   // futex word: consumer bumps it after consuming if ProdWaiting; producer sleeps on it
	ConsWaiting uint32   // consumer writes 1 before sleeping on HeadSeq, 0 after; producer reads
	_           [48]byte // rest of the line
}

// ErrBadRing reports a file that is not a ring made by Create.
var ErrBadRing = errs.New("shmring: not a gompx ring")

// Ring is one process's mapping of a shared ring.
type Ring struct {
	seg  *shm.Segment
	mem  []byte
	h    *header
	data []byte
	mask uint64
}

// Create makes a ring with size bytes of data (a power of two, at least 4096). The
// returned ring owns a close-on-exec memfd; Fd gives it, to be passed to the peer.
func Create(size int) (*Ring, error) {
	if size < 4096 || size&(size-1) != 0 {
		return nil, errs.Errorf("shmring: size %d is not a power of two >= 4096", size)
	}
	seg, err := shm.Create("gompx-ring", int64(dataOffset+size), true)
	if err != nil {
		return nil, errs.Errorf("shmring: %w", err)
	}
	r := newRing(seg)
	r.h.Size = uint64(size)
	atomic.StoreUint64(&r.h.Magic, magic)
	r.data = r.mem[dataOffset:]
	r.mask = uint64(size - 1)
	return r, nil
}

// Open maps the ring behind fd, as made by Create in this or another process. On
// success the ring owns fd and Close closes it.
func Open(fd int) (*Ring, error) {
	seg, err := shm.Open(fd, true)
	if err != nil {
		return nil, errs.Errorf("%w: %w", ErrBadRing, err)
	}
	r := newRing(seg)
	size := uint64(len(r.mem)) - min(uint64(len(r.mem)), dataOffset)
	if len(r.mem) <= dataOffset || atomic.LoadUint64(&r.h.Magic) != magic || r.h.Size != size ||
		size&(size-1) != 0 {
		unix.Munmap(r.mem) // the fd stays the caller's
		return nil, errs.Errorf("%w: bad header or a file of %d bytes", ErrBadRing, len(r.mem))
	}
	r.data = r.mem[dataOffset:]
	r.mask = size - 1
	return r, nil
}

func newRing(seg *shm.Segment) *Ring {
	mem := seg.Bytes()
	return &Ring{seg: seg, mem: mem, h: (*header)(unsafe.Pointer(&mem[0]))}
}

// Fd is the ring's memory file; it stays owned by the ring.
func (r *Ring) Fd() int { return r.seg.Fd() }

// Size is the data capacity in bytes.
func (r *Ring) Size() int { return len(r.data) }

// Close unmaps the ring and closes its fd. The peer's mapping stays valid.
func (r *Ring) Close() error {
	r.mem, r.data, r.h = nil, nil, nil
	return r.seg.Close()
}
