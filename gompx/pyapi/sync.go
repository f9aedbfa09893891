package pyapi

import (
	"errors"
	"time"

	"github.com/gompx/gompx/gompx"
)

// Kinds of synchronization objects, as gompx.synchronize names them.
const (
	SyncKindLock      = 0 // Lock and RLock: a mutex owned by a process
	SyncKindSemaphore = 1 // Semaphore and BoundedSemaphore
	SyncKindEvent     = 2
	SyncKindCondition = 3
	SyncKindBarrier   = 4
)

// SharedPrimitive is what every gompx sync type has in common.
type SharedPrimitive interface {
	Ref() gompx.SharedRef
	Retain() error
	Close() error
}

// NewSync makes a synchronization object of kind: a Lock (value, maxvalue unused), a
// semaphore holding value (maxvalue 0: unbounded), an Event, a Condition, or a Barrier
// for value parties. What is wrong in the arguments wraps ErrBadInput.
func NewSync(kind, value, maxvalue int) (p SharedPrimitive, err error) {
	switch kind {
	case SyncKindLock:
		p, err = gompx.NewLock()
	case SyncKindSemaphore:
		if maxvalue <= 0 {
			p, err = gompx.NewSemaphore(value)
			break
		}
		if value > maxvalue {
			return nil, badInput("semaphore value %d above its bound %d", value, maxvalue)
		}
		var s *gompx.Semaphore
		if s, err = gompx.NewBoundedSemaphore(maxvalue); err == nil {
			for ; maxvalue > value; maxvalue-- {
				s.TryAcquire()
			}
		}
		p = s
	case SyncKindEvent:
		p, err = gompx.NewEvent()
	case SyncKindCondition:
		p, err = gompx.NewCondition()
	case SyncKindBarrier:
		p, err = gompx.NewBarrier(value)
	default:
		return nil, badInput("unknown synchronization kind %d", kind)
	}
	if err != nil {
		return nil, badInput("%v", err)
	}
	return p, nil
}

// OpenSync opens the object of kind another process made, at ref, taking over the
// reference its sender retained.
func OpenSync(kind int, ref gompx.SharedRef) (SharedPrimitive, error) {
	switch kind {
	case SyncKindLock:
		return gompx.OpenLock(ref)
	case SyncKindSemaphore:
		return gompx.OpenSemaphore(ref)
	case SyncKindEvent:
		return gompx.OpenEvent(ref)
	case SyncKindCondition:
		return gompx.OpenCondition(ref)
	case SyncKindBarrier:
		return gompx.OpenBarrier(ref)
	}
	return nil, badInput("unknown synchronization kind %d", kind)
}

// Acquired is what Acquire got: nothing (a wait that timed out, or that a signal ended
// on the main thread), the lock or semaphore, or a lock its previous owner, process
// DeadOwner, died holding.
type Acquired struct {
	OK, TookOver bool
	DeadOwner    int // 0 when unknown
}

// Acquire waits up to timeout (negative: forever) for a Lock or a semaphore.
func Acquire(p SharedPrimitive, timeout time.Duration) (Acquired, error) {
	var err error
	switch p := p.(type) {
	case *gompx.Lock:
		err = p.LockTimeout(timeout)
		if errors.Is(err, gompx.ErrOwnerDied) {
			a := Acquired{OK: true, TookOver: true}
			if pe := (interface{ DeadOwner() int })(nil); errors.As(err, &pe) {
				a.DeadOwner = pe.DeadOwner()
			}
			return a, nil
		}
	case *gompx.Semaphore:
		err = p.Acquire(timeout)
	default:
		return Acquired{}, errNotLock
	}
	if errors.Is(err, gompx.ErrTimeout) || errors.Is(err, gompx.ErrInterrupted) {
		return Acquired{}, nil
	}
	return Acquired{OK: err == nil}, err
}

var errNotLock = badInput("not a lock or semaphore")

// Release releases a Lock or a semaphore; released too often wraps ErrBadInput.
func Release(p SharedPrimitive) (err error) {
	switch p := p.(type) {
	case *gompx.Lock:
		err = p.Release()
	case *gompx.Semaphore:
		err = p.Release()
	default:
		return errNotLock
	}
	if err != nil {
		return badInput("semaphore or lock released too many times")
	}
	return nil
}
