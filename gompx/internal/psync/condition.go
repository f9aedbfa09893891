package psync

import (
	"errors"
	"sync/atomic"

	"github.com/gompx/gompx/gompx/internal/futex"
)

// Condition is a view of a process-shared condition variable. Its lock is the caller's:
// Enter, Notify and Leave must be called holding it, Sleep without it.
//
// Notify hands out wake tokens: notify(n) moves up to n registered waiters' worth of
// tokens to signals, and each sleeper that takes a token returns. A waiter whose time
// runs out takes a token if one is left (it was notified after all), else unregisters,
// so notify(n) never wakes more than n waiters. Notify never waits for the waiters it
// wakes: a waiter that dies cannot block it (it can absorb one token).
type Condition struct {
	seq, waiters, signals *uint32
}

// NewCondition initializes b as a condition variable with no waiters.
func NewCondition(b []byte) (Condition, error) {
	if err := initBlock(b, KindCondition); err != nil {
		return Condition{}, err
	}
	return conditionAt(b, 0), nil
}

// OpenCondition views the condition variable another process initialized in b.
func OpenCondition(b []byte) (Condition, error) {
	if err := openBlock(b, KindCondition); err != nil {
		return Condition{}, err
	}
	return conditionAt(b, 0), nil
}

func conditionAt(b []byte, off int) Condition {
	return Condition{seq: word(b, off), waiters: word(b, off+4), signals: word(b, off+8)}
}

// Enter registers a waiter and returns the ticket Sleep needs. Hold the lock.
func (c Condition) Enter() uint32 {
	atomic.AddUint32(c.waiters, 1)
	return atomic.LoadUint32(c.seq)
}

// Sleep waits, without the lock, until this waiter takes a wake token (true) or d passes
// (false: reacquire the lock and call Leave).
func (c Condition) Sleep(ticket uint32, d Deadline) bool {
	seq := ticket
	for {
		if c.takeToken() {
			return true
		}
		if !d.sleep(c.seq, seq) {
			return c.takeToken()
		}
		seq = atomic.LoadUint32(c.seq)
	}
}

func (c Condition) takeToken() bool {
	for {
		n := atomic.LoadUint32(c.signals)
		if n == 0 {
			return false
		}
		if atomic.CompareAndSwapUint32(c.signals, n, n-1) {
			return true
		}
	}
}

// Leave settles a waiter whose Sleep ran out of time, with the lock held again: it
// reports true if a token was left for it after all.
func (c Condition) Leave() bool {
	if c.takeToken() {
		return true
	}
	atomic.AddUint32(c.waiters, ^uint32(0))
	return false
}

// Notify wakes up to n waiters (n < 0: all) and returns how many it woke. Hold the lock.
func (c Condition) Notify(n int) int {
	waiting := int(atomic.LoadUint32(c.waiters))
	if n < 0 || n > waiting {
		n = waiting
	}
	if n == 0 {
		return 0
	}
	atomic.AddUint32(c.waiters, ^uint32(n-1))
	atomic.AddUint32(c.signals, uint32(n))
	atomic.AddUint32(c.seq, 1)
	futex.Wake(c.seq, n)
	return n
}

// Waiters is the number of registered, not yet notified waiters.
func (c Condition) Waiters() int { return int(atomic.LoadUint32(c.waiters)) }

// Wait releases m, waits for a Notify or d, and takes m again. It reports whether it was
// notified; an error means m could not be retaken cleanly (ErrOwnerDied: m is held).
func (c Condition) Wait(m Mutex, d Deadline) (bool, error) {
	ticket := c.Enter()
	if err := m.Unlock(); err != nil {
		c.Leave()
		return false, err
	}
	woken := c.Sleep(ticket, d)
	err := m.Lock(Forever)
	if err != nil && !errors.Is(err, ErrOwnerDied) {
		return woken, err
	}
	if !woken {
		woken = c.Leave()
	}
	return woken, err
}
