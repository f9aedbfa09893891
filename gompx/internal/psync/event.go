package psync

import (
	"math"
	"sync/atomic"

	"github.com/gompx/gompx/gompx/internal/futex"
)

// Event is a view of a process-shared flag that processes can wait for.
type Event struct {
	flag, waiters *uint32
}

// NewEvent initializes b as a clear event.
func NewEvent(b []byte) (Event, error) {
	if err := initBlock(b, KindEvent); err != nil {
		return Event{}, err
	}
	return eventAt(b), nil
}

// OpenEvent views the event another process initialized in b.
func OpenEvent(b []byte) (Event, error) {
	if err := openBlock(b, KindEvent); err != nil {
		return Event{}, err
	}
	return eventAt(b), nil
}

func eventAt(b []byte) Event { return Event{flag: word(b, 0), waiters: word(b, 4)} }

// The event word is the flag in bit 0 and, above it, a count of the times it was set:
// a waiter that saw the count move returns true even if the flag was cleared again
// before it woke, as a threading.Event waiter does.

// Set sets the flag and wakes every waiter.
func (e Event) Set() {
	raceRelease(e.flag)
	for {
		v := atomic.LoadUint32(e.flag)
		if v&1 != 0 {
			return
		}
		if atomic.CompareAndSwapUint32(e.flag, v, (v+2)|1) {
			break
		}
	}
	if atomic.LoadUint32(e.waiters) != 0 {
		futex.Wake(e.flag, math.MaxInt32)
	}
}

// Clear clears the flag.
func (e Event) Clear() {
	for {
		v := atomic.LoadUint32(e.flag)
		if v&1 == 0 || atomic.CompareAndSwapUint32(e.flag, v, v&^1) {
			return
		}
	}
}

// IsSet reports the flag.
func (e Event) IsSet() bool { return atomic.LoadUint32(e.flag)&1 != 0 }

// Wait waits until the flag is set or d passes. It reports true if the flag was set
// at some moment of the wait. A signal that ends the wait on an embedder's main thread
// (package intr) ends it as if d had passed: the embedder waits again for the rest.
func (e Event) Wait(d Deadline) bool {
	set := e.wait(d)
	if set {
		raceAcquire(e.flag)
	}
	return set
}

func (e Event) wait(d Deadline) bool {
	v0 := atomic.LoadUint32(e.flag)
	if v0&1 != 0 {
		return true
	}
	setSince := func() bool { return atomic.LoadUint32(e.flag) != v0 }
	if d.slice() > 0 && spinUntil(setSince) {
		return true
	}
	atomic.AddUint32(e.waiters, 1)
	defer atomic.AddUint32(e.waiters, ^uint32(0))
	for !setSince() {
		if d.sleep(e.flag, v0, 0) != nil {
			return setSince()
		}
	}
	return true
}
