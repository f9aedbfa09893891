package mpq

import (
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/intr"
	"github.com/gompx/gompx/gompx/internal/shm"
)

const (
	// MinCapacity is the smallest ring; messages longer than half the ring are chunked.
	MinCapacity = 64 << 10
	// DefaultCapacity is the ring of a queue made with a zero Capacity. It is virtual:
	// memory follows the unread bytes (see doc.go), so a large ring costs address space,
	// not memory, and lets an unbounded queue absorb a large backlog in shared memory.
	DefaultCapacity = 1 << 30
	// DefaultSoftLimit is the hot part of the ring that producers keep cycling through.
	DefaultSoftLimit = 8 << 20
)

// Errors. They are returned unwrapped so callers can compare them directly.
var (
	// ErrTimeout reports that a put found no room or a get found no message in time.
	// It is the core's one timeout (errs.ErrTimeout).
	ErrTimeout = errs.ErrTimeout
	// ErrTorn reports that the message being read was abandoned by a producer that died
	// (or gave up) between its chunks. Nothing is left to read of it: get the next one.
	ErrTorn = errs.New("mpq: message torn by its producer")
	// ErrTooManyTaskDone reports TaskDone called more times than messages were put.
	ErrTooManyTaskDone = errs.New("task_done() called too many times")
	// ErrInterrupted reports a wait that a signal ended on an embedder's main thread
	// (package intr): nothing was consumed or written; wait again for the rest.
	ErrInterrupted = intr.ErrInterrupted
	// ErrClosed reports a wait cut short by Interrupt.
	ErrClosed = errs.New("mpq: queue closed")
	// ErrBadQueue reports a file that is not a queue made by Create.
	ErrBadQueue = errs.New("mpq: not a gompx queue")
)

// Options configure Create.
type Options struct {
	// Capacity is the ring size in bytes, rounded up to a page; 0 means DefaultCapacity.
	Capacity int64
	// MaxSize bounds the number of messages queued; 0 means no bound.
	MaxSize int64
}

// Ring is one process's mapping of a shared queue. Its methods are safe for concurrent
// use by the goroutines of a process, and by any number of processes mapping the file.
type Ring struct {
	seg  *shm.Segment
	mem  []byte
	h    *header
	data []byte
	cap  uint64
	pid  uint32

	// stop ends every wait of this process's methods within a WaitSlice (Interrupt).
	stop atomic.Bool

	// readSpin, if set, replaces spinFor for this process's consumers (SetReadSpin).
	readSpin atomic.Int64
	// spinIdle is set while reading spins do not pay: the last wait of this process's
	// consumers outlasted the spin window (awaitRecord).
	spinIdle atomic.Bool

	// In-process gates in front of the shared locks: goroutines of this process queue
	// here, so the shared lock words see one waiter per process, and the Go memory model
	// (and the race detector, which cannot see into the shared mapping) orders the
	// per-process state below.
	producerGate, consumerGate gate

	// The last Head a producer and the last Tail a consumer of this process read (under
	// the producer and consumer gates): both only grow, so an old value errs on the safe
	// side (less room, fewer messages) and saves reading a line the other side writes.
	seenHead, seenTail uint64

	// Until when producers of this process skip waitToWrap: the last such wait saw no
	// reader (producer gate held).
	noReaderUntil time.Time

	// This process's slot in the header (nil until it first admits a message), and
	// when it last looked for dead producers' slots: see admit.go.
	slot        atomic.Pointer[slot]
	backlog     bool // counted in the slot's Backlog (SetBacklog; its caller serialises)
	slotMu      sync.Mutex
	lastReclaim atomic.Int64

	// The producer side of a write in progress (valid while this process holds the
	// producer lock): see produce.go.
	prod producer

	// The consumer side of a read in progress (valid while this process holds the
	// consumer lock through Begin): see consume.go.
	rd reading
}

// Create makes a queue. The ring owns a close-on-exec memfd; Fd gives it, to be passed
// to the processes that share the queue.
func Create(opts Options) (*Ring, error) {
	capacity := opts.Capacity
	if capacity == 0 {
		capacity = DefaultCapacity
	}
	if capacity < MinCapacity {
		return nil, errs.Errorf("mpq: capacity %d is below the minimum %d", capacity, MinCapacity)
	}
	if opts.MaxSize < 0 {
		return nil, errs.Errorf("mpq: negative maxsize %d", opts.MaxSize)
	}
	capacity = (capacity + pageSize - 1) &^ (pageSize - 1)
	seg, err := shm.Create("gompx-queue", dataOffset+capacity, false)
	if err != nil {
		return nil, errs.Errorf("mpq: %w", err)
	}
	r := ringOver(seg)
	h := r.h
	h.Capacity = uint64(capacity)
	h.MaxSize = uint64(opts.MaxSize)
	h.SoftLimit = min(uint64(capacity), DefaultSoftLimit)
	atomic.StoreUint64(&h.Magic, magic)
	return r, nil
}

// Open maps the queue behind fd (a descriptor of a file made by Create, inherited or
// received). The ring owns fd from now on.
func Open(fd int) (*Ring, error) {
	seg, err := shm.Open(fd, false)
	if err != nil {
		return nil, errs.Errorf("%w: %w", ErrBadQueue, err)
	}
	if mem := seg.Bytes(); len(mem) < dataOffset+MinCapacity {
		unix.Munmap(mem) // the fd stays the caller's
		return nil, errs.Errorf("%w (fd %d is %d bytes)", ErrBadQueue, fd, len(mem))
	}
	r := ringOver(seg)
	if atomic.LoadUint64(&r.h.Magic) != magic || r.h.Capacity != r.cap {
		unix.Munmap(r.mem)
		return nil, errs.Errorf("%w (fd %d)", ErrBadQueue, fd)
	}
	return r, nil
}

func ringOver(seg *shm.Segment) *Ring {
	mem := seg.Bytes()
	return &Ring{
		seg:  seg,
		mem:  mem,
		h:    (*header)(unsafe.Pointer(&mem[0])),
		data: mem[dataOffset:],
		cap:  uint64(len(mem)) - min(uint64(len(mem)), dataOffset),
		pid:  uint32(os.Getpid()),

		producerGate: newGate(),
		consumerGate: newGate(),
	}
}

// Fd is the queue's file descriptor, for handing to another process.
func (r *Ring) Fd() int { return r.seg.Fd() }

// Capacity is the ring size in bytes.
func (r *Ring) Capacity() int64 { return int64(r.cap) }

// MaxSize is the bound on queued messages, 0 for none.
func (r *Ring) MaxSize() int64 { return int64(r.h.MaxSize) }

// Len is the number of messages admitted and not yet consumed: those in the ring, and
// those their producers hold until there is room.
func (r *Ring) Len() int64 {
	r.maybeReclaim()
	consumed := atomic.LoadUint64(&r.h.Consumed)
	admitted := atomic.LoadUint64(&r.h.Admitted)
	if admitted < consumed {
		return 0
	}
	return int64(admitted - consumed)
}

// Interrupt makes every wait in progress or to come in this process return ErrClosed,
// so that Close can follow once they have returned. Sleepers for data, room or done
// tasks are woken now (those of other processes too: they look and sleep again); a
// wait for a lock word ends within a WaitSlice. It writes to the shared memory: call it
// before Close, never concurrently with it.
func (r *Ring) Interrupt() {
	r.stop.Store(true)
	h := r.h
	wake(&h.DataSeq, &h.DataWaiters)
	wake(&h.SpaceSeq, &h.SpaceWaiters)
	wake(&h.DoneSeq, &h.DoneWaiters)
}

// MaxSingle is the longest payload that travels as one chunk: a longer message streams
// through the ring, holding the producer side until consumers have taken most of it.
func (r *Ring) MaxSingle() int { return int(r.maxSingle()) }

// Close unmaps the queue and closes the descriptor. The caller ensures no method is
// running or will run; the shared memory lives on while other processes map it.
func (r *Ring) Close() error {
	r.mem, r.data, r.h = nil, nil, nil
	return r.seg.Close()
}

// maxSingle is the longest payload written as one chunk; chunkPayload the payload of
// each chunk of a longer message. Half the ring fits wherever the ring's free space
// starts, once the queue is empty; a quarter lets a producer and a consumer overlap.
// The page is the part of the ring producers leave to the page that holds Head.
func (r *Ring) maxSingle() uint64 { return r.cap/2 - recordHeader - pageSize }

func (r *Ring) chunkPayload() uint64 { return r.cap/4 - recordHeader }

func align8(n uint64) uint64 { return (n + 7) &^ 7 }
