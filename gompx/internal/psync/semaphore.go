package psync

import (
	"math"
	"sync/atomic"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/failpoint"
	"github.com/gompx/gompx/gompx/internal/futex"
)

// ErrTooManyReleases is returned by Release of a bounded semaphore already at its bound.
var ErrTooManyReleases = errs.New("semaphore or lock released too many times")

// Semaphore is a view of a process-shared counting semaphore, optionally bounded.
type Semaphore struct {
	value, waiters, maxValue *uint32
}

// NewSemaphore initializes b as a semaphore holding value; maxValue 0 means unbounded,
// otherwise Release refuses to count past it.
func NewSemaphore(b []byte, value, maxValue uint32) (Semaphore, error) {
	if maxValue != 0 && value > maxValue {
		return Semaphore{}, errs.Errorf("semaphore value %d above its bound %d", value, maxValue)
	}
	if value > math.MaxInt32 {
		return Semaphore{}, errs.Errorf("semaphore value %d too large", value)
	}
	if err := initBlock(b, KindSemaphore); err != nil {
		return Semaphore{}, err
	}
	s := semaphoreAt(b)
	atomic.StoreUint32(s.value, value)
	atomic.StoreUint32(s.maxValue, maxValue)
	return s, nil
}

// OpenSemaphore views the semaphore another process initialized in b.
func OpenSemaphore(b []byte) (Semaphore, error) {
	if err := openBlock(b, KindSemaphore); err != nil {
		return Semaphore{}, err
	}
	return semaphoreAt(b), nil
}

func semaphoreAt(b []byte) Semaphore {
	return Semaphore{value: word(b, SemaphoreValueOffset), waiters: word(b, SemaphoreWaitersOffset), maxValue: word(b, SemaphoreBoundOffset)}
}

// TryAcquire takes one unit if one is free.
func (s Semaphore) TryAcquire() bool {
	for {
		v := atomic.LoadUint32(s.value)
		if v == 0 {
			return false
		}
		if atomic.CompareAndSwapUint32(s.value, v, v-1) {
			raceAcquire(s.value)
			return true
		}
	}
}

// Acquire takes one unit, waiting until d; ErrTimeout when d passed first,
// ErrInterrupted when a signal ended the wait (package intr).
func (s Semaphore) Acquire(d Deadline) error {
	if s.TryAcquire() || d.slice() > 0 && spinUntil(s.TryAcquire) {
		return nil
	}
	// Registered before the last look, so a Release after it sees a waiter and wakes.
	atomic.AddUint32(s.waiters, 1)
	defer atomic.AddUint32(s.waiters, ^uint32(0))
	failpoint.Hit("psync/sem-waiting")
	for {
		if s.TryAcquire() {
			return nil
		}
		if err := d.sleep(s.value, 0, 0); err != nil {
			return err
		}
	}
}

// Release returns one unit and wakes a waiter if any.
func (s Semaphore) Release() error {
	raceRelease(s.value)
	bound := atomic.LoadUint32(s.maxValue)
	for {
		v := atomic.LoadUint32(s.value)
		if bound != 0 && v >= bound || v >= math.MaxInt32 {
			return ErrTooManyReleases
		}
		if atomic.CompareAndSwapUint32(s.value, v, v+1) {
			break
		}
	}
	if atomic.LoadUint32(s.waiters) != 0 {
		futex.Wake(s.value, 1)
	}
	return nil
}

// Value is the number of free units.
func (s Semaphore) Value() uint32 { return atomic.LoadUint32(s.value) }

// MaxValue is the bound, 0 for none.
func (s Semaphore) MaxValue() uint32 { return atomic.LoadUint32(s.maxValue) }
