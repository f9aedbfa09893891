package gompx

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
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
	ErrNotLocked = errs.New("release of a lock that is not held")

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

// timedOut adds what to err; psync's timeout is already the package's.
func timedOut(err error, what string) error {
	if err != nil {
		return errs.Errorf("%s: %w", what, err)
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
		return nil, errs.Errorf("new lock: %w", err)
	}
	m, err := psync.NewMutex(p.block.Bytes())
	if err != nil {
		p.Close()
		return nil, errs.Errorf("new lock: %w", err)
	}
	return &Lock{p, m}, nil
}

// OpenLock opens a Lock another process made and sent as ref.
func OpenLock(ref SharedRef) (*Lock, error) {
	b, err := OpenShared(ref)
	if err != nil {
		return nil, errs.Errorf("open lock: %w", err)
	}
	m, err := psync.OpenMutex(b.Bytes())
	if err != nil {
		b.Close()
		return nil, errs.Errorf("open lock: %w", err)
	}
	return &Lock{primitive{b}, m}, nil
}

// A Lock guards what a sync.Mutex would, across processes.
var _ sync.Locker = (*Lock)(nil)

// Lock takes the lock, waiting as long as it takes (sync.Locker). A lock taken over from
// a process that died holding it is held all the same: use LockContext to learn that.
func (l *Lock) Lock() {
	if err := l.m.Lock(psync.Forever); err != nil && !errors.Is(err, ErrOwnerDied) {
		panic(errs.Errorf("lock: %w", err))
	}
}

// LockContext takes the lock, waiting until ctx is done: then an error wrapping
// ErrTimeout (its deadline) or context.Canceled. An error wrapping ErrOwnerDied means
// the lock is held, taken from a dead process: check what it guards, then Unlock.
func (l *Lock) LockContext(ctx context.Context) error {
	return timedOut(l.m.Lock(psync.Context(ctx)), "lock")
}

// LockTimeout is LockContext with a timeout (negative: forever), for the Python facade:
// an error wrapping ErrInterrupted means a signal ended the wait (EnableInterrupts) and
// the lock is not held.
func (l *Lock) LockTimeout(timeout time.Duration) error {
	return timedOut(l.m.Lock(waitOrSignal(timeout)), "lock")
}

// TryLock takes the lock if it is free.
func (l *Lock) TryLock() bool { return l.m.TryLock() }

// Unlock releases the lock (sync.Locker). Like sync.Mutex's, it panics if the lock is
// not held; Release returns that as an error instead.
func (l *Lock) Unlock() {
	if err := l.Release(); err != nil {
		panic(err)
	}
}

// Release releases the lock; an error wrapping ErrNotLocked if it was not held (Python's
// release raises ValueError then).
func (l *Lock) Release() error {
	if err := l.m.Unlock(); err != nil {
		return errs.Errorf("unlock: %w", ErrNotLocked)
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

// LockContext takes the lock for owner, or counts one more level if owner holds it
// already, waiting until ctx is done (see Lock.LockContext).
func (r *RLock) LockContext(ctx context.Context, owner uint64) error {
	return r.lockWith(owner, func() error { return r.lock.LockContext(ctx) })
}

// LockTimeout is LockContext with a timeout (negative: forever), for the Python facade.
func (r *RLock) LockTimeout(owner uint64, timeout time.Duration) error {
	return r.lockWith(owner, func() error { return r.lock.LockTimeout(timeout) })
}

func (r *RLock) lockWith(owner uint64, lock func() error) error {
	if owner == 0 {
		return errs.New("rlock: owner token must be non-zero")
	}
	r.mu.Lock()
	if r.owner == owner {
		r.depth++
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	err := lock()
	if err != nil && !errors.Is(err, ErrOwnerDied) {
		return err
	}
	r.mu.Lock()
	r.owner, r.depth = owner, 1
	r.mu.Unlock()
	return err
}

// For is the RLock as held by owner (non-zero), a sync.Locker: Go has no goroutine
// identity, so reentrancy needs the token, and For binds it once.
func (r *RLock) For(owner uint64) *RLockOwner { return &RLockOwner{r, owner} }

// RLockOwner is an RLock bound to one owner token (RLock.For).
type RLockOwner struct {
	r     *RLock
	owner uint64
}

// An RLock held by one owner guards what a sync.Mutex would, reentrantly.
var _ sync.Locker = (*RLockOwner)(nil)

// Lock takes the lock for the owner, as long as it takes (sync.Locker); it panics on a
// zero owner token.
func (o *RLockOwner) Lock() {
	if err := o.r.LockContext(context.Background(), o.owner); err != nil && !errors.Is(err, ErrOwnerDied) {
		panic(err)
	}
}

// LockContext is RLock.LockContext for the owner.
func (o *RLockOwner) LockContext(ctx context.Context) error { return o.r.LockContext(ctx, o.owner) }

// Unlock releases one level of the owner's hold (sync.Locker); it panics if the owner
// does not hold the lock.
func (o *RLockOwner) Unlock() {
	if err := o.r.Release(o.owner); err != nil {
		panic(err)
	}
}

// Release releases one level of owner's hold; an error wrapping ErrNotLocked if owner
// does not hold it.
func (r *RLock) Release(owner uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if owner == 0 || r.owner != owner {
		return errs.Errorf("rlock: release by a non-owner: %w", ErrNotLocked)
	}
	if r.depth--; r.depth > 0 {
		return nil
	}
	r.owner = 0
	return r.lock.Release()
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
		return nil, errs.Errorf("new bounded semaphore: value %d, want at least 1", value)
	}
	return newSemaphore(value, value)
}

func newSemaphore(value, bound int) (*Semaphore, error) {
	if value < 0 || value > 1<<31-2 {
		return nil, errs.Errorf("new semaphore: value %d out of range", value)
	}
	p, err := newPrimitive()
	if err != nil {
		return nil, errs.Errorf("new semaphore: %w", err)
	}
	s, err := psync.NewSemaphore(p.block.Bytes(), uint32(value), uint32(bound))
	if err != nil {
		p.Close()
		return nil, errs.Errorf("new semaphore: %w", err)
	}
	return &Semaphore{p, s}, nil
}

// OpenSemaphore opens a semaphore another process made and sent as ref.
func OpenSemaphore(ref SharedRef) (*Semaphore, error) {
	b, err := OpenShared(ref)
	if err != nil {
		return nil, errs.Errorf("open semaphore: %w", err)
	}
	s, err := psync.OpenSemaphore(b.Bytes())
	if err != nil {
		b.Close()
		return nil, errs.Errorf("open semaphore: %w", err)
	}
	return &Semaphore{primitive{b}, s}, nil
}

// AcquireContext takes a unit, waiting until ctx is done: then an error wrapping
// ErrTimeout (its deadline) or context.Canceled.
func (s *Semaphore) AcquireContext(ctx context.Context) error {
	return timedOut(s.s.Acquire(psync.Context(ctx)), "acquire")
}

// Acquire takes a unit, waiting up to timeout (negative: forever) or ErrTimeout; an
// error wrapping ErrInterrupted when a signal ended the wait (EnableInterrupts). It is
// AcquireContext for the Python facade.
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
		return nil, errs.Errorf("new event: %w", err)
	}
	e, err := psync.NewEvent(p.block.Bytes())
	if err != nil {
		p.Close()
		return nil, errs.Errorf("new event: %w", err)
	}
	return &Event{p, e}, nil
}

// OpenEvent opens an Event another process made and sent as ref.
func OpenEvent(ref SharedRef) (*Event, error) {
	b, err := OpenShared(ref)
	if err != nil {
		return nil, errs.Errorf("open event: %w", err)
	}
	e, err := psync.OpenEvent(b.Bytes())
	if err != nil {
		b.Close()
		return nil, errs.Errorf("open event: %w", err)
	}
	return &Event{primitive{b}, e}, nil
}

// Set sets the flag and wakes every waiter.
func (e *Event) Set() { e.e.Set() }

// Clear clears the flag.
func (e *Event) Clear() { e.e.Clear() }

// IsSet reports the flag.
func (e *Event) IsSet() bool { return e.e.IsSet() }

// WaitContext waits for the flag until ctx is done: nil once it was set during the
// wait, an error wrapping ErrTimeout (ctx's deadline) or context.Canceled otherwise.
func (e *Event) WaitContext(ctx context.Context) error {
	if e.e.Wait(psync.Context(ctx)) {
		return nil
	}
	return waitEnd(ctx, "event wait")
}

// waitEnd is the error of a context wait that reported false: why ctx ended it.
func waitEnd(ctx context.Context, what string) error {
	err := ctxEnd(ctx)
	if err == nil {
		err = ErrTimeout // the deadline passed a moment before ctx saw it
	}
	return errs.Errorf("%s: %w", what, err)
}

// Wait waits up to timeout (negative: forever) for the flag; it reports whether the flag
// was set during the wait. After EnableInterrupts a signal on the main thread ends the
// wait early, reported as false: wait again for the rest. It is WaitContext for the
// Python facade.
func (e *Event) Wait(timeout time.Duration) bool { return e.e.Wait(waitOrSignal(timeout)) }
