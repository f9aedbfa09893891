package psync

import (
	"sync/atomic"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/failpoint"
	"github.com/gompx/gompx/gompx/internal/futex"
	"github.com/gompx/gompx/gompx/internal/intr"
)

const waitersBit = WaitersBit

// ErrNotLocked is returned by Unlock of a mutex nobody holds.
var ErrNotLocked = errs.New("release of an unlocked lock")

// ErrTimeout is returned by a wait whose deadline passed: the core's one timeout.
var ErrTimeout = errs.ErrTimeout

// ErrInterrupted is returned by a wait that a signal ended on an embedder's main thread
// (package intr): nothing was taken; wait again after handling the signal.
var ErrInterrupted = intr.ErrInterrupted

// Mutex is a view of a process-shared mutex owned by a process (not a goroutine or
// thread: any thread of the owning process, or another process, may Unlock it).
type Mutex struct {
	state, ownerPid *uint32
	ownerStart      *uint64
}

// NewMutex initializes b as an unlocked mutex.
func NewMutex(b []byte) (Mutex, error) {
	if err := initBlock(b, KindMutex); err != nil {
		return Mutex{}, err
	}
	return mutexAt(b), nil
}

// OpenMutex views the mutex another process initialized in b.
func OpenMutex(b []byte) (Mutex, error) {
	if err := openBlock(b, KindMutex); err != nil {
		return Mutex{}, err
	}
	return mutexAt(b), nil
}

func mutexAt(b []byte) Mutex {
	return Mutex{state: word(b, MutexStateOffset), ownerPid: word(b, MutexOwnerPidOffset), ownerStart: word64(b, MutexOwnerStartOffset)}
}

// TryLock takes the mutex if it is free.
func (m Mutex) TryLock() bool {
	me := Self()
	if atomic.CompareAndSwapUint32(m.state, 0, me.Pid) {
		m.own(me)
		return true
	}
	return false
}

func (m Mutex) own(me Identity) {
	failpoint.Hit("psync/mutex-claimed")
	atomic.StoreUint64(m.ownerStart, me.Start)
	atomic.StoreUint32(m.ownerPid, me.Pid)
	raceAcquire(m.state)
	failpoint.Hit("psync/mutex-held")
}

// Lock takes the mutex, waiting until d. It returns ErrTimeout when d passed first,
// ErrInterrupted when a signal ended the wait (package intr), and
// an error wrapping ErrOwnerDied when it took the mutex from a dead owner: the caller
// holds the mutex then too.
func (m Mutex) Lock(d Deadline) error {
	if m.TryLock() {
		return nil
	}
	me := Self()
	if d.slice() > 0 && spinUntil(func() bool { return atomic.LoadUint32(m.state) == 0 && m.TryLock() }) {
		return nil
	}
	var suspect uint32 // a state whose owner looked dead, on a start time that may be stale
	slice := WaitSlice
	for {
		s := atomic.LoadUint32(m.state)
		switch {
		case s == 0:
			// Taken with the waiters bit: others may be asleep behind us.
			if atomic.CompareAndSwapUint32(m.state, 0, me.Pid|waitersBit) {
				m.own(me)
				return nil
			}
			continue
		case s&waitersBit == 0:
			if !atomic.CompareAndSwapUint32(m.state, s, s|waitersBit) {
				continue
			}
			s |= waitersBit
		}
		if died, err := m.takeFromDead(s, me, &suspect); died {
			return err
		}
		// Sliced: the owner's death is noticed between slices (see WaitSlice).
		if err := d.sleep(m.state, s, slice); err != nil {
			return err
		}
		slice = min(2*slice, MaxWaitSlice)
	}
}

// takeFromDead takes the mutex over if its owner, as seen in state s, has died.
//
// A live process whose start time differs from ownerStart is only suspect: a new owner
// that reuses a dead owner's pid writes its own start time just after its compare-and-
// swap, and until then ownerPid and ownerStart still name the dead one. So that case
// must be seen twice, a sleep apart, in the same state (*suspect keeps the first look).
func (m Mutex) takeFromDead(s uint32, me Identity, suspect *uint32) (bool, error) {
	pid := s &^ waitersBit
	var start uint64
	if atomic.LoadUint32(m.ownerPid) == pid {
		start = atomic.LoadUint64(m.ownerStart)
	}
	if !gone(pid, start) {
		*suspect = 0
		return false, nil
	}
	if start != 0 && pidLives(pid) && *suspect != s {
		*suspect = s
		return false, nil
	}
	if !atomic.CompareAndSwapUint32(m.state, s, me.Pid|waitersBit) {
		return false, nil
	}
	m.own(me)
	return true, &OwnerDiedError{Pid: int(pid)}
}

// Unlock frees the mutex and wakes one sleeper if any may wait.
func (m Mutex) Unlock() error {
	for {
		s := atomic.LoadUint32(m.state)
		if s == 0 {
			return ErrNotLocked
		}
		raceRelease(m.state)
		if atomic.CompareAndSwapUint32(m.state, s, 0) {
			if s&waitersBit != 0 {
				futex.Wake(m.state, 1)
			}
			return nil
		}
	}
}

// Owner is the pid holding the mutex, 0 when it is free.
func (m Mutex) Owner() uint32 { return atomic.LoadUint32(m.state) &^ waitersBit }

// Locked reports whether a process holds the mutex.
func (m Mutex) Locked() bool { return atomic.LoadUint32(m.state) != 0 }
