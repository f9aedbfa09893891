package psync

import (
	"errors"
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/futex"
)

// ConditionSize is the size of a condition variable's block: the 64-byte block plus a
// table of the processes with registered waiters.
const ConditionSize = BlockSize + tableSize

// Condition is a view of a process-shared condition variable. Its lock is the caller's:
// Enter, Notify and Leave must be called holding it, Sleep without it.
//
// Three counters that only grow (modulo 2^32) do the bookkeeping, as in glibc's classic
// condition variable: total counts waiters that entered, wakeups the notifications
// handed out (total - wakeups waiters are pending), woken the notifications taken. A
// waiter may take a notification only if wakeups moved since it entered, so a waiter
// that enters after a notify cannot steal it from those it was meant for, and
// notify(n) never wakes more than n. A waiter whose time runs out takes a notification
// if one is there for it, else uncounts itself from total. (Not by counting itself
// notified and woken, as glibc did: that moves wakeups, which would let a waiter that
// entered after an earlier notify take that notification from those it was meant for.)
//
// Before counting, Notify drops the registrations of processes that died waiting (from
// the table; beyond tableSlots processes at once, waiters go untracked), so a
// notification goes to a live waiter; and it gives the waiters an earlier Notify woke
// up to handoffLimit to take their notifications (see awaitTaken). It never waits
// longer, so a dead or stopped waiter cannot block it.
type Condition struct {
	wakeups, total, woken *uint32
	table                 procTable // nil inside a Barrier
}

// Ticket is a registered waiter's place: the sequence number it saw and its table slot.
type Ticket uint64

func (t Ticket) seen() uint32 { return uint32(t) }
func (t Ticket) slot() int    { return int(t >> 32) }

// NewCondition initializes b (ConditionSize bytes) as a condition variable.
func NewCondition(b []byte) (Condition, error) {
	if len(b) < ConditionSize {
		return Condition{}, errs.Errorf("condition block of %d bytes, want %d", len(b), ConditionSize)
	}
	if err := initBlock(b, KindCondition); err != nil {
		return Condition{}, err
	}
	clear(b[BlockSize:ConditionSize])
	return conditionAt(b, 0, b[BlockSize:ConditionSize]), nil
}

// OpenCondition views the condition variable another process initialized in b.
func OpenCondition(b []byte) (Condition, error) {
	if len(b) < ConditionSize {
		return Condition{}, errs.Errorf("condition block of %d bytes, want %d", len(b), ConditionSize)
	}
	if err := openBlock(b, KindCondition); err != nil {
		return Condition{}, err
	}
	return conditionAt(b, 0, b[BlockSize:ConditionSize]), nil
}

func conditionAt(b []byte, off int, table procTable) Condition {
	return Condition{wakeups: word(b, off), total: word(b, off+4), woken: word(b, off+8), table: table}
}

// Enter registers a waiter and returns the ticket Sleep and Leave need. Hold the lock.
func (c Condition) Enter() Ticket {
	slot := c.table.claim()
	atomic.AddUint32(c.total, 1)
	return Ticket(uint64(slot)<<32 | uint64(atomic.LoadUint32(c.wakeups)))
}

// Sleep waits, without the lock, until this waiter takes a notification (true) or d
// passes (false). Either way, retake the lock and call Leave. A signal that ends the
// wait on an embedder's main thread (package intr) ends it as if d had passed.
func (c Condition) Sleep(t Ticket, d Deadline) bool {
	for {
		w := atomic.LoadUint32(c.wakeups)
		if c.take(t, w) {
			return true
		}
		if d.sleep(c.wakeups, w, 0) != nil {
			return c.take(t, atomic.LoadUint32(c.wakeups))
		}
	}
}

// take takes a notification for the waiter holding t, given wakeups w: there must have
// been one since it entered, and one not yet taken.
func (c Condition) take(t Ticket, w uint32) bool {
	if w == t.seen() {
		return false
	}
	for {
		n := atomic.LoadUint32(c.woken)
		if n == atomic.LoadUint32(c.wakeups) {
			return false
		}
		if atomic.CompareAndSwapUint32(c.woken, n, n+1) {
			c.table.unclaim(t.slot())
			return true
		}
	}
}

// Leave settles a waiter after Sleep, with the lock held again; woken is what Sleep
// returned. It reports whether the waiter was notified.
func (c Condition) Leave(t Ticket, woken bool) bool {
	if woken || c.take(t, atomic.LoadUint32(c.wakeups)) {
		return true
	}
	c.withdraw()
	c.table.unclaim(t.slot())
	return false
}

// withdraw removes one pending waiter. Lock held.
func (c Condition) withdraw() { atomic.AddUint32(c.total, ^uint32(0)) }

// Counts reads the three counters (see Condition): waiters that entered (less those
// whose time ran out untaken), notifications handed out, and notifications taken. With
// nobody waiting, entered == taken and notified == taken.
func (c Condition) Counts() (entered, notified, taken uint32) {
	return atomic.LoadUint32(c.total), atomic.LoadUint32(c.wakeups), atomic.LoadUint32(c.woken)
}

func (c Condition) pending() uint32 {
	return atomic.LoadUint32(c.total) - atomic.LoadUint32(c.wakeups)
}

// dropDead removes the registrations of processes that died waiting. They are taken
// from the pending waiters first: a process is far more likely to die asleep than in
// the moment between a notify and its wake-up. Lock held.
func (c Condition) dropDead() {
	c.table.dropDead(func() {
		if c.pending() > 0 {
			c.withdraw()
			return
		}
		// Notified but never woken: take its notification.
		if w := atomic.LoadUint32(c.woken); w != atomic.LoadUint32(c.wakeups) {
			atomic.CompareAndSwapUint32(c.woken, w, w+1)
		}
	})
}

// Notify wakes up to n waiters (n < 0: all) and returns how many it woke. Hold the lock.
func (c Condition) Notify(n int) int {
	c.dropDead()
	pending := int(c.pending())
	if n < 0 || n > pending {
		n = pending
	}
	if n == 0 {
		return 0
	}
	c.awaitTaken()
	atomic.AddUint32(c.wakeups, uint32(n))
	futex.Wake(c.wakeups, math.MaxInt32)
	return n
}

// handoffLimit bounds how long Notify waits for the waiters an earlier Notify woke.
const handoffLimit = 20 * time.Millisecond

// awaitTaken gives the waiters woken by an earlier Notify up to handoffLimit to take
// their notifications. Once wakeups moves again, every waiter that entered before the
// move may take any notification not yet taken, so without this a waiter that entered
// after the earlier Notify could take the notification meant for one that entered
// before it. Stdlib's Condition waits for its woken waiters without limit; the limit
// here keeps a stopped or dying waiter from blocking the notifier (dead ones were
// dropped already).
func (c Condition) awaitTaken() {
	start := time.Now()
	for i := 0; atomic.LoadUint32(c.woken) != atomic.LoadUint32(c.wakeups); i++ {
		if time.Since(start) > handoffLimit {
			return
		}
		if i < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// Waiters is the number of registered, not yet notified waiters, after dropping those
// of dead processes. Hold the lock.
func (c Condition) Waiters() int {
	c.dropDead()
	return int(c.pending())
}

// Wait releases m, waits for a Notify or d, and takes m again. It reports whether it was
// notified; an error means m could not be retaken cleanly (ErrOwnerDied: m is held).
func (c Condition) Wait(m Mutex, d Deadline) (bool, error) {
	t := c.Enter()
	if err := m.Unlock(); err != nil {
		c.Leave(t, false)
		return false, err
	}
	woken := c.Sleep(t, d)
	err := m.Lock(Forever)
	if err != nil && !errors.Is(err, ErrOwnerDied) {
		return woken, err
	}
	return c.Leave(t, woken), err
}
