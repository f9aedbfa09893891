package gompxcore

import (
	"errors"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/pyapi"
)

// Results of SyncAcquire. SyncTimedOut also reports a wait a signal ended early on the
// main thread: call again for the rest.
const (
	SyncTimedOut  = 0
	SyncAcquired  = 1
	SyncTookOver  = 2 // acquired from a dead owner; the pid is the result >> 2
	syncCodeShift = 2
)

// SharedArenaSize is the size of an arena file: map it whole, once per process.
func SharedArenaSize() (int64, error) { return 16 << 30, nil }

// SyncNew makes a synchronization object of kind (pyapi.NewSync) and returns a handle.
func SyncNew(kind, value, maxvalue int) (h int64, err error) {
	defer recoverInto(&err)
	return put(pyapi.NewSync(kind, value, maxvalue))
}

// SyncOpen opens the object of kind that another process made, from the arena file fd
// (which stays the caller's) and offset, taking over the reference its sender retained.
func SyncOpen(kind, fd int, offset int64) (h int64, err error) {
	defer recoverInto(&err)
	return put(pyapi.OpenSync(kind, gompx.SharedRef{Fd: fd, Offset: offset}))
}

// SyncFd is the descriptor of the arena file holding the object, to map it or pass it on.
func SyncFd(h int64) (fd int, err error) {
	return with(h, func(p pyapi.SharedPrimitive) (fd int, err error) { return p.Ref().Fd, nil })
}

// SyncOffset is the offset of the object's 64 bytes in its arena file.
func SyncOffset(h int64) (off int64, err error) {
	return with(h, func(p pyapi.SharedPrimitive) (off int64, err error) { return p.Ref().Offset, nil })
}

// SyncRetain adds a reference for a process the object is being sent to.
func SyncRetain(h int64) (ok bool, err error) {
	return try(h, pyapi.SharedPrimitive.Retain)
}

// SyncClose drops this process's reference and the handle. Closing twice is harmless.
func SyncClose(h int64) (ok bool, err error) {
	return withOr(h, false, func(p pyapi.SharedPrimitive) (ok bool, err error) {
		handles.drop(h)
		return true, translate(p.Close())
	})
}

// SyncAcquire waits up to ms milliseconds (-1: forever) for a Lock or a semaphore:
// SyncTimedOut, SyncAcquired, or SyncTookOver | pid << 2 when the lock's previous owner,
// process pid, died holding it.
func SyncAcquire(h int64, ms int) (code int, err error) {
	return with(h, func(p pyapi.SharedPrimitive) (int, error) {
		got, err := pyapi.Acquire(p, millis(ms))
		switch {
		case got.TookOver:
			return SyncTookOver | got.DeadOwner<<syncCodeShift, nil
		case got.OK:
			return SyncAcquired, nil
		}
		return SyncTimedOut, err
	})
}

// SyncRelease releases a Lock or a semaphore (the C fast path does this itself; this
// is for callers without it).
func SyncRelease(h int64) (ok bool, err error) {
	return with(h, func(p pyapi.SharedPrimitive) (bool, error) { return true, pyapi.Release(p) })
}

// EventSet sets the Event and wakes its waiters.
func EventSet(h int64) (ok bool, err error) {
	return do(h, (*gompx.Event).Set)
}

// EventClear clears the Event.
func EventClear(h int64) (ok bool, err error) {
	return do(h, (*gompx.Event).Clear)
}

// EventIsSet reports the Event's flag.
func EventIsSet(h int64) (set bool, err error) {
	return read(h, (*gompx.Event).IsSet)
}

// EventWait waits up to ms milliseconds (-1: forever) and reports whether the Event was
// set meanwhile.
func EventWait(h int64, ms int) (set bool, err error) {
	return with(h, func(e *gompx.Event) (set bool, err error) { return e.Wait(millis(ms)), nil })
}

// CondEnter registers a waiter on the Condition (its lock held) and returns its ticket.
func CondEnter(h int64) (ticket int64, err error) {
	return with(h, func(c *gompx.Condition) (ticket int64, err error) { return int64(c.Enter()), nil })
}

// CondSleep waits, the lock released, up to ms milliseconds for a notification.
func CondSleep(h, ticket int64, ms int) (woken bool, err error) {
	return with(h, func(c *gompx.Condition) (woken bool, err error) {
		return c.Sleep(gompx.CondTicket(ticket), millis(ms)), nil
	})
}

// CondLeave settles a waiter after its sleep (lock held again); woken is what CondSleep
// last returned. It reports whether a notification reached the waiter.
func CondLeave(h, ticket int64, woken bool) (notified bool, err error) {
	return with(h, func(c *gompx.Condition) (notified bool, err error) {
		return c.Leave(gompx.CondTicket(ticket), woken), nil
	})
}

// CondNotify wakes up to n waiters (n < 0: all), lock held; returns how many.
func CondNotify(h int64, n int) (woken int, err error) {
	return with(h, func(c *gompx.Condition) (woken int, err error) {
		if n < 0 {
			return c.NotifyAll(), nil
		}
		return c.Notify(n), nil
	})
}

// CondWaiters is the number of waiters not yet notified.
func CondWaiters(h int64) (n int, err error) {
	return read(h, (*gompx.Condition).Waiters)
}

// CondCount reads one of the Condition's counters (which: 0 sleeping, 1 notified, 2
// woken; see gompx.CondCounts): what CPython's Condition keeps as _sleeping_count,
// _woken_count and _wait_semaphore, which its test suite reads.
func CondCount(h int64, which int) (n int, err error) {
	return with(h, func(c *gompx.Condition) (n int, err error) {
		counts := c.Counts()
		switch which {
		case 0:
			return int(counts.Sleeping), nil
		case 1:
			return int(counts.Notified), nil
		case 2:
			return int(counts.Woken), nil
		}
		return 0, newPyError(ErrKindValueError, "no condition counter %d", which)
	})
}

// BarrierLast flags the result of BarrierArrive for the party that must run the action.
const BarrierLast = 1 << 32

// BarrierArrive enters the Barrier's current round, waiting up to ms milliseconds (-1:
// forever) only for the previous round to drain, and returns this party's index, with
// BarrierLast added for the party that must run the action and then call
// BarrierRelease. Every other party calls BarrierAwait. A broken barrier raises
// BrokenBarrierError.
func BarrierArrive(h int64, ms int) (index int64, err error) {
	return with(h, func(b *gompx.Barrier) (index int64, err error) {
		i, last, err := b.Arrive(millis(ms))
		if err != nil {
			return 0, barrierError(err)
		}
		if last {
			return int64(i) + BarrierLast, nil
		}
		return int64(i), nil
	})
}

func barrierError(err error) error {
	if errors.Is(err, gompx.ErrBrokenBarrier) {
		return newPyError(ErrKindBrokenBarrierError, "")
	}
	return translate(err)
}

// BarrierAwait waits up to ms milliseconds for the round the caller arrived in and
// reports whether it was released (the caller has left it). Not released in time: with
// giveUp the barrier breaks (BrokenBarrierError), else false and the caller is still in
// the round (call again, or BarrierAbandon).
func BarrierAwait(h int64, ms int, giveUp bool) (done bool, err error) {
	return with(h, func(b *gompx.Barrier) (done bool, err error) {
		done, err = b.Await(millis(ms), giveUp)
		if err != nil {
			return done, barrierError(err)
		}
		return done, nil
	})
}

// BarrierAbandon takes the caller's party out of its round without breaking it.
func BarrierAbandon(h int64) (ok bool, err error) {
	return do(h, (*gompx.Barrier).Abandon)
}

// BarrierRelease ends the round for the last party: actionOK false breaks the barrier.
func BarrierRelease(h int64, actionOK bool) (ok bool, err error) {
	return with(h, func(b *gompx.Barrier) (ok bool, err error) {
		b.Release(actionOK)
		return true, nil
	})
}

// BarrierReset returns the Barrier to its initial state.
func BarrierReset(h int64) (ok bool, err error) {
	return do(h, (*gompx.Barrier).Reset)
}

// BarrierAbort breaks the Barrier.
func BarrierAbort(h int64) (ok bool, err error) {
	return do(h, (*gompx.Barrier).Abort)
}

// BarrierState returns parties, waiting and broken (1 or 0) as parties<<32 |
// waiting<<1 | broken.
func BarrierState(h int64) (state int64, err error) {
	return with(h, func(b *gompx.Barrier) (state int64, err error) {
		state = int64(b.Parties())<<32 | int64(b.Waiting())<<1
		if b.Broken() {
			state |= 1
		}
		return state, nil
	})
}
