package psync

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/cpuload"
	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/futex"
	"github.com/gompx/gompx/gompx/internal/intr"
)

// BlockSize is the size of every primitive's block; blocks must be 8-byte aligned.
const BlockSize = 64

// Kind tags a block, at offset 60, so that a view of the wrong kind is refused.
type Kind uint32

const (
	KindMutex     Kind = 0x6d757478 // "mutx"
	KindSemaphore Kind = 0x73656d61 // "sema"
	KindEvent     Kind = 0x65766e74 // "evnt"
	KindCondition Kind = 0x636f6e64 // "cond"
	KindBarrier   Kind = 0x62617272 // "barr"
)

func (k Kind) String() string {
	switch k {
	case KindMutex:
		return "mutex"
	case KindSemaphore:
		return "semaphore"
	case KindEvent:
		return "event"
	case KindCondition:
		return "condition"
	case KindBarrier:
		return "barrier"
	}
	return fmt.Sprintf("kind %#x", uint32(k))
}

const kindOffset = 60

// WaitSlice bounds the first futex sleep of a mutex waiter: after a slice it checks the
// owner it waits for, so an owner dead by then costs its peers at most one slice. Each
// later slice is twice the last, up to MaxWaitSlice: a long wait wakes about once a
// second, not ten times, and an owner that dies later is noticed within a second.
const (
	WaitSlice    = 100 * time.Millisecond
	MaxWaitSlice = time.Second
)

// spinFor is how long a waiter polls before it sleeps. A futex sleep and wake cost
// several microseconds on each side; short critical sections end well within this.
const spinFor = 20 * time.Microsecond

func word(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

func word64(b []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }

// initBlock zeroes b and tags it; the tag is stored last, so that a view opened on a
// half-initialized block is refused.
func initBlock(b []byte, k Kind) error {
	if err := checkBlock(b); err != nil {
		return err
	}
	clear(b[:BlockSize])
	atomic.StoreUint32(word(b, kindOffset), uint32(k))
	return nil
}

func openBlock(b []byte, k Kind) error {
	if err := checkBlock(b); err != nil {
		return err
	}
	if got := Kind(atomic.LoadUint32(word(b, kindOffset))); got != k {
		return errs.Errorf("open %v: block holds a %v", k, got)
	}
	return nil
}

func checkBlock(b []byte) error {
	if len(b) < BlockSize {
		return errs.Errorf("block of %d bytes, want %d", len(b), BlockSize)
	}
	if uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		return errs.Errorf("block at %p is not 8-byte aligned", &b[0])
	}
	return nil
}

// Deadline is an absolute time limit for a wait: Forever, Now (try once) or At(t).
type Deadline struct {
	at      time.Time
	forever bool
	intr    bool            // a signal may end the wait (Interruptible)
	ctx     context.Context // its cancellation ends the wait (Context); nil: none
}

// Forever never expires.
var Forever = Deadline{forever: true}

// Now allows no waiting: one attempt.
var Now = Deadline{}

// After expires d from now; a negative d means forever, zero means now.
func After(d time.Duration) Deadline {
	if d < 0 {
		return Forever
	}
	if d == 0 {
		return Now
	}
	return Deadline{at: time.Now().Add(d)}
}

// Context is a Deadline that lasts until ctx is done: its deadline, if it has one, passes
// as any other (ErrTimeout), and its cancellation wakes the sleeper and ends the wait with
// ctx.Err(). Cancellation wakes every sleeper of the word for a moment; the others find
// nothing changed and sleep again, as after any spurious wake.
func Context(ctx context.Context) Deadline {
	d := Forever
	if t, ok := ctx.Deadline(); ok {
		d = Deadline{at: t}
	}
	if ctx.Done() != nil {
		d.ctx = ctx
	}
	return d
}

// Interruptible returns d for a wait that a signal may end on an embedder's main thread
// (package intr): its sleeps then return ErrInterrupted, the primitive's wait fails (or
// reports false) with nothing taken, and the caller waits again for the rest. Waits
// inside the primitives (the lock of a Condition or a Barrier) stay uninterruptible.
func (d Deadline) Interruptible() Deadline {
	d.intr = true
	return d
}

// slice is how long the next sleep may last: at most WaitSlice, 0 once time is up.
func (d Deadline) slice() time.Duration {
	if d.forever {
		return WaitSlice
	}
	if d.at.IsZero() {
		return 0
	}
	return min(max(time.Until(d.at), 0), WaitSlice)
}

// sleep waits on w while it holds val, for at most slice if it is positive (the caller
// checks on another process between slices), else for all that is left of d. It returns
// ErrTimeout once d has expired and ErrInterrupted when a signal ended the sleep on an
// embedder's main thread (package intr); nil otherwise (woken, changed, timed out or
// interrupted elsewhere: the caller re-checks).
func (d Deadline) sleep(w *uint32, val uint32, slice time.Duration) error {
	s := time.Duration(-1) // no limit
	if !d.forever {
		if d.at.IsZero() {
			return ErrTimeout
		}
		if s = time.Until(d.at); s <= 0 {
			return ErrTimeout
		}
	}
	if slice > 0 && (s < 0 || s > slice) {
		s = slice
	}
	if d.ctx != nil {
		if err := errs.Context(d.ctx); err != nil {
			return err
		}
		stop := context.AfterFunc(d.ctx, func() { futex.Wake(w, math.MaxInt32) })
		defer stop()
	}
	if err := futex.Wait(w, val, s); d.intr && intr.Stop(err) {
		return ErrInterrupted
	}
	if d.ctx != nil {
		return errs.Context(d.ctx)
	}
	return nil
}

// spinUntil polls cond for up to spinFor, yielding the CPU between looks after the first
// few: when the process that will make cond true waits for this very CPU (more runnable
// processes than CPUs), a poll that kept the CPU would only delay it. While every CPU
// is busy (package cpuload) it only looks once: a yield then hands a CPU-bound process
// a whole time slice, and the waiter wakes milliseconds after cond held. Callers skip it
// when their deadline allows no waiting at all.
func spinUntil(cond func() bool) bool {
	if cpuload.Busy() { // the yields would hand CPU-bound tasks whole time slices
		return cond()
	}
	start := time.Now()
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if i >= 8 {
			unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			if time.Since(start) > spinFor {
				return false
			}
		}
	}
}
