package gompx

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/internal/psync"
)

// Errors of the process-shared synchronization primitives, wrapped with context.
var (
	// ErrOwnerDied is returned by a Lock (or RLock, or a Condition's Wait) that took the
	// lock over from a process that died holding it. The caller HOLDS the lock: check or
	// repair what it guards, then Unlock as usual.
	ErrOwnerDied = psync.ErrOwnerDied

	// ErrNotLocked reports Unlock of a lock nobody holds (Python: ValueError), or of an
	// RLock the caller does not own.
	ErrNotLocked = errors.New("release of a lock that is not held")

	// ErrTooManyReleases reports a Release that would take a bounded semaphore past its
	// initial value (Python: ValueError).
	ErrTooManyReleases = psync.ErrTooManyReleases

	// ErrBrokenBarrier reports a Barrier wait on, or broken by, an abort, a reset, a
	// timeout or a failed action (Python: threading.BrokenBarrierError).
	ErrBrokenBarrier = psync.ErrBroken
)

// deadline turns a timeout (negative: forever) into psync's form.
func waitUntil(timeout time.Duration) psync.Deadline { return psync.After(timeout) }

// waitOrSignal is waitUntil for the waits a signal may end (see EnableInterrupts).
func waitOrSignal(timeout time.Duration) psync.Deadline {
	return psync.After(timeout).Interruptible()
}

// timedOut maps psync's timeout to the package's.
func timedOut(err error, what string) error {
	if errors.Is(err, psync.ErrTimeout) {
		return fmt.Errorf("%s: %w", what, ErrTimeout)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// primitive is the shared block every primitive lives in.
type primitive struct{ block *SharedBlock }

func newPrimitive() (primitive, error) {
	b, err := AllocShared(psync.BlockSize)
	return primitive{b}, err
}

// Ref locates the primitive for another process: Retain once per such process first.
func (p primitive) Ref() SharedRef { return p.block.Ref() }

// Retain adds the reference a process receiving Ref will take over.
func (p primitive) Retain() error { return p.block.Retain() }

// Close drops this process's reference to the primitive's shared memory. Do not use the
// primitive afterwards: once every process closed it, its memory may hold another.
func (p primitive) Close() error { return p.block.Close() }

// Lock is a mutex shared by processes: any process (or goroutine) may release it, as
// with Python's multiprocessing.Lock. A process that dies holding it does not block
// the others: the next Lock takes it over and returns ErrOwnerDied.
type Lock struct {
	primitive
	m psync.Mutex
}

// NewLock makes an unlocked Lock.
func NewLock() (*Lock, error) {
	p, err := newPrimitive()
	if err != nil {
		return nil, fmt.Errorf("new lock: %w", err)
	}
	m, err := psync.NewMutex(p.block.Bytes())
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("new lock: %w", err)
	}
	return &Lock{p, m}, nil
}

// OpenLock opens a Lock another process made and sent as ref.
func OpenLock(ref SharedRef) (*Lock, error) {
	b, err := OpenShared(ref)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	m, err := psync.OpenMutex(b.Bytes())
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open lock: %w", err)
	}
	return &Lock{primitive{b}, m}, nil
}

// Lock takes the lock, waiting up to timeout (negative: forever) or ErrTimeout. An error
// wrapping ErrOwnerDied means the lock is held, taken from a dead process; one wrapping
// ErrInterrupted, that a signal ended the wait (EnableInterrupts) and it is not held.
func (l *Lock) Lock(timeout time.Duration) error {
	return timedOut(l.m.Lock(waitOrSignal(timeout)), "lock")
}

// TryLock takes the lock if it is free.
func (l *Lock) TryLock() bool { return l.m.TryLock() }

// Unlock releases the lock; ErrNotLocked if it was not held.
func (l *Lock) Unlock() error {
	if err := l.m.Unlock(); err != nil {
		return fmt.Errorf("unlock: %w", ErrNotLocked)
	}
	return nil
}

// Owner is the pid of the process holding the lock, 0 when it is free.
func (l *Lock) Owner() int { return int(l.m.Owner()) }

// RLock is a reentrant Lock. Go has no goroutine identity, so the owner is a token the
// caller chooses (any non-zero value, stable per logical owner, e.g. a worker number):
// the owner may take the lock again, and must release it as many times.
type RLock struct {
	lock  *Lock
	mu    sync.Mutex // guards owner and depth, this process's view of the recursion
	owner uint64
	depth int
}

// NewRLock makes an unlocked RLock.
func NewRLock() (*RLock, error) {
	l, err := NewLock()
	if err != nil {
		return nil, err
	}
	return &RLock{lock: l}, nil
}

// OpenRLock opens an RLock another process made and sent as ref.
func OpenRLock(ref SharedRef) (*RLock, error) {
	l, err := OpenLock(ref)
	if err != nil {
		return nil, err
	}
	return &RLock{lock: l}, nil
}

// Lock takes the lock for owner, or counts one more level if owner holds it already.
func (r *RLock) Lock(owner uint64, timeout time.Duration) error {
	if owner == 0 {
		return errors.New("rlock: owner token must be non-zero")
	}
	r.mu.Lock()
	if r.owner == owner {
		r.depth++
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	err := r.lock.Lock(timeout)
	if err != nil && !errors.Is(err, ErrOwnerDied) {
		return err
	}
	r.mu.Lock()
	r.owner, r.depth = owner, 1
	r.mu.Unlock()
	return err
}

// Unlock releases one level of owner's hold; ErrNotLocked if owner does not hold it.
func (r *RLock) Unlock(owner uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if owner == 0 || r.owner != owner {
		return fmt.Errorf("rlock: release by a non-owner: %w", ErrNotLocked)
	}
	if r.depth--; r.depth > 0 {
		return nil
	}
	r.owner = 0
	return r.lock.Unlock()
}

// Ref locates the RLock for another process: Retain once per such process first.
func (r *RLock) Ref() SharedRef { return r.lock.Ref() }

// Retain adds the reference a process receiving Ref will take over.
func (r *RLock) Retain() error { return r.lock.Retain() }

// Close drops this process's reference to the RLock's shared memory.
func (r *RLock) Close() error { return r.lock.Close() }

// Semaphore is a counting semaphore shared by processes, optionally bounded.
type Semaphore struct {
	primitive
	s psync.Semaphore
}

// NewSemaphore makes a semaphore holding value units, without bound.
func NewSemaphore(value int) (*Semaphore, error) { return newSemaphore(value, 0) }

// NewBoundedSemaphore makes a semaphore holding value units that refuses (with
// ErrTooManyReleases) a Release past value.
func NewBoundedSemaphore(value int) (*Semaphore, error) {
	if value < 1 {
		return nil, fmt.Errorf("new bounded semaphore: value %d, want at least 1", value)
	}
	return newSemaphore(value, value)
}

func newSemaphore(value, bound int) (*Semaphore, error) {
	if value < 0 || value > 1<<31-2 {
		return nil, fmt.Errorf("new semaphore: value %d out of range", value)
	}
	p, err := newPrimitive()
	if err != nil {
		return nil, fmt.Errorf("new semaphore: %w", err)
	}
	s, err := psync.NewSemaphore(p.block.Bytes(), uint32(value), uint32(bound))
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("new semaphore: %w", err)
	}
	return &Semaphore{p, s}, nil
}

// OpenSemaphore opens a semaphore another process made and sent as ref.
func OpenSemaphore(ref SharedRef) (*Semaphore, error) {
	b, err := OpenShared(ref)
	if err != nil {
		return nil, fmt.Errorf("open semaphore: %w", err)
	}
	s, err := psync.OpenSemaphore(b.Bytes())
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open semaphore: %w", err)
	}
	return &Semaphore{primitive{b}, s}, nil
}

// Acquire takes a unit, waiting up to timeout (negative: forever) or ErrTimeout; an
// error wrapping ErrInterrupted when a signal ended the wait (EnableInterrupts).
func (s *Semaphore) Acquire(timeout time.Duration) error {
	return timedOut(s.s.Acquire(waitOrSignal(timeout)), "acquire")
}

// TryAcquire takes a unit if one is free.
func (s *Semaphore) TryAcquire() bool { return s.s.TryAcquire() }

// Release returns a unit.
func (s *Semaphore) Release() error { return timedOut(s.s.Release(), "release") }

// Value is the number of free units.
func (s *Semaphore) Value() int { return int(s.s.Value()) }

// Bound is the maximum value of a bounded semaphore, 0 for none.
func (s *Semaphore) Bound() int { return int(s.s.MaxValue()) }

// Event is a flag shared by processes that they can wait for.
type Event struct {
	primitive
	e psync.Event
}

// NewEvent makes a clear Event.
func NewEvent() (*Event, error) {
	p, err := newPrimitive()
	if err != nil {
		return nil, fmt.Errorf("new event: %w", err)
	}
	e, err := psync.NewEvent(p.block.Bytes())
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("new event: %w", err)
	}
	return &Event{p, e}, nil
}

// OpenEvent opens an Event another process made and sent as ref.
func OpenEvent(ref SharedRef) (*Event, error) {
	b, err := OpenShared(ref)
	if err != nil {
		return nil, fmt.Errorf("open event: %w", err)
	}
	e, err := psync.OpenEvent(b.Bytes())
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open event: %w", err)
	}
	return &Event{primitive{b}, e}, nil
}

// Set sets the flag and wakes every waiter.
func (e *Event) Set() { e.e.Set() }

// Clear clears the flag.
func (e *Event) Clear() { e.e.Clear() }

// IsSet reports the flag.
func (e *Event) IsSet() bool { return e.e.IsSet() }

// Wait waits up to timeout (negative: forever) for the flag; it reports whether the flag
// was set during the wait. After EnableInterrupts a signal on the main thread ends the
// wait early, reported as false: wait again for the rest.
func (e *Event) Wait(timeout time.Duration) bool { return e.e.Wait(waitOrSignal(timeout)) }
