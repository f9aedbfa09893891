package gompx

import (
	"context"
	"errors"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/psync"
)

// Condition is a condition variable shared by processes. Its lock is a Lock the caller
// passes to Wait and holds around Wait, Notify and NotifyAll. A waiter that dies never
// blocks Notify.
type Condition struct {
	primitive
	c psync.Condition
}

// CondTicket is a registered waiter's place, from Enter, for Sleep.
type CondTicket uint64

// NewCondition makes a Condition with no waiters.
func NewCondition() (*Condition, error) {
	b, err := AllocShared(psync.ConditionSize)
	if err != nil {
		return nil, errs.Errorf("new condition: %w", err)
	}
	p := primitive{b}
	c, err := psync.NewCondition(b.Bytes())
	if err != nil {
		p.Close()
		return nil, errs.Errorf("new condition: %w", err)
	}
	return &Condition{p, c}, nil
}

// OpenCondition opens a Condition another process made and sent as ref.
func OpenCondition(ref SharedRef) (*Condition, error) {
	b, err := OpenShared(ref)
	if err != nil {
		return nil, errs.Errorf("open condition: %w", err)
	}
	c, err := psync.OpenCondition(b.Bytes())
	if err != nil {
		b.Close()
		return nil, errs.Errorf("open condition: %w", err)
	}
	return &Condition{primitive{b}, c}, nil
}

// WaitContext releases lock (held by the caller), waits until ctx is done for a
// notification, and takes lock again: nil when notified, an error wrapping ErrTimeout
// (ctx's deadline) or context.Canceled when not. An error wrapping ErrOwnerDied means
// lock was retaken from a dead process (and is held).
func (c *Condition) WaitContext(ctx context.Context, lock *Lock) error {
	woken, err := c.c.Wait(lock.m, psync.Context(ctx))
	if err != nil {
		return timedOut(err, "condition wait")
	}
	if !woken {
		return waitEnd(ctx, "condition wait")
	}
	return nil
}

// Wait releases lock (held by the caller), waits up to timeout (negative: forever) for
// a notification, and takes lock again. It reports whether it was notified; an error
// wrapping ErrOwnerDied means lock was retaken from a dead process (and is held).
func (c *Condition) Wait(lock *Lock, timeout time.Duration) (bool, error) {
	woken, err := c.c.Wait(lock.m, waitUntil(timeout))
	return woken, timedOut(err, "condition wait")
}

// Notify wakes up to n waiters and returns how many; hold the lock.
func (c *Condition) Notify(n int) int {
	if n <= 0 {
		return 0
	}
	return c.c.Notify(n)
}

// NotifyAll wakes every waiter and returns how many; hold the lock.
func (c *Condition) NotifyAll() int { return c.c.Notify(-1) }

// Waiters is the number of waiters not yet notified (a waiter that died still counts).
func (c *Condition) Waiters() int { return c.c.Waiters() }

// CondCounts is a snapshot of a Condition's bookkeeping, counters that only grow (modulo
// 2^32). Sleeping-Woken waiters have not taken a notification yet; Notified-Woken
// notifications are handed out but not yet taken. With nobody waiting both are 0.
type CondCounts struct {
	Sleeping uint32 // waiters that entered, less those whose time ran out unnotified
	Notified uint32 // notifications handed out
	Woken    uint32 // notifications taken
}

// Counts reads the Condition's counters (for diagnostics and invariant checks).
func (c *Condition) Counts() CondCounts {
	entered, notified, taken := c.c.Counts()
	return CondCounts{Sleeping: entered, Notified: notified, Woken: taken}
}

// Enter, Sleep and Leave are Wait in three steps, for callers that release and retake
// the lock themselves (gompx's Python Condition, whose lock may be an RLock held
// several levels deep): Enter with the lock held, release it, Sleep, retake it, and
// call Leave with what Sleep returned.
func (c *Condition) Enter() CondTicket { return CondTicket(c.c.Enter()) }

// Sleep waits, without the lock, up to timeout for a notification; see Enter. After
// EnableInterrupts a signal on the main thread ends the sleep early, reported as false:
// sleep again with the same ticket for the rest, or Leave.
func (c *Condition) Sleep(t CondTicket, timeout time.Duration) bool {
	return c.c.Sleep(psync.Ticket(t), waitOrSignal(timeout))
}

// Leave settles a waiter after Sleep, with the lock held again; woken is what Sleep
// returned. It reports whether a notification reached the waiter.
func (c *Condition) Leave(t CondTicket, woken bool) bool {
	return c.c.Leave(psync.Ticket(t), woken)
}

// Barrier makes a fixed number of parties, in any processes, wait for each other.
type Barrier struct {
	primitive
	b psync.Barrier
}

// NewBarrier makes a Barrier for parties parties.
func NewBarrier(parties int) (*Barrier, error) {
	blk, err := AllocShared(psync.BarrierSize)
	if err != nil {
		return nil, errs.Errorf("new barrier: %w", err)
	}
	p := primitive{blk}
	b, err := psync.NewBarrier(blk.Bytes(), parties)
	if err != nil {
		p.Close()
		return nil, errs.Errorf("new barrier: %w", err)
	}
	return &Barrier{p, b}, nil
}

// OpenBarrier opens a Barrier another process made and sent as ref.
func OpenBarrier(ref SharedRef) (*Barrier, error) {
	blk, err := OpenShared(ref)
	if err != nil {
		return nil, errs.Errorf("open barrier: %w", err)
	}
	b, err := psync.OpenBarrier(blk.Bytes())
	if err != nil {
		blk.Close()
		return nil, errs.Errorf("open barrier: %w", err)
	}
	return &Barrier{primitive{blk}, b}, nil
}

// Wait waits up to timeout (negative: forever) for all parties; the last to arrive runs
// action (nil: none) before the others are released. It returns this party's index in
// the round. ErrBrokenBarrier: the barrier was aborted, reset, timed out or the action
// failed (a timeout breaks the barrier for everyone, as in Python).
func (b *Barrier) Wait(timeout time.Duration, action func() error) (int, error) {
	i, err := b.b.Wait(waitUntil(timeout), action)
	if errors.Is(err, psync.ErrBroken) {
		return i, errs.Errorf("barrier wait: %w", err)
	}
	return i, err
}

// WaitContext waits until ctx is done for all parties; the last to arrive runs action
// (nil: none) before the others are released. It returns this party's index in the
// round. ErrBrokenBarrier: the barrier was aborted, reset, or the action failed; when
// this party's ctx ended the wait (which breaks the barrier for everyone, as a timeout
// does in Python) the error wraps ErrTimeout or context.Canceled too.
func (b *Barrier) WaitContext(ctx context.Context, action func() error) (int, error) {
	i, err := b.b.Wait(psync.Context(ctx), action)
	if errors.Is(err, psync.ErrBroken) {
		if end := ctxEnd(ctx); end != nil {
			return i, errs.Errorf("barrier wait: %w: %w", err, end)
		}
		return i, errs.Errorf("barrier wait: %w", err)
	}
	return i, err
}

// Arrive, Await and Release are Wait in steps, for callers whose action cannot be a Go
// function or who wait in slices (gompx's Python Barrier): Arrive enters the round and
// returns last = true to the party that must run the action, which then calls
// Release(actionOK) exactly once; every other party calls Await until it reports done
// (or Abandon to leave without breaking the round).
func (b *Barrier) Arrive(timeout time.Duration) (index int, last bool, err error) {
	index, last, err = b.b.Arrive(waitUntil(timeout))
	if err != nil {
		err = errs.Errorf("barrier wait: %w", err)
	}
	return index, last, err
}

// Await waits up to timeout for the round the caller arrived in; see Arrive. With
// giveUp, a round still filling after timeout is broken; without, done is false and the
// caller is still in the round.
func (b *Barrier) Await(timeout time.Duration, giveUp bool) (done bool, err error) {
	done, err = b.b.Await(waitUntil(timeout), giveUp)
	if err != nil {
		err = errs.Errorf("barrier wait: %w", err)
	}
	return done, err
}

// Abandon leaves the round the caller arrived in without breaking it.
func (b *Barrier) Abandon() { b.b.Abandon() }

// Release ends the round for the party that Arrive told to run the action.
func (b *Barrier) Release(actionOK bool) { b.b.Release(actionOK) }

// Reset returns the barrier to its initial state; current waiters get ErrBrokenBarrier.
func (b *Barrier) Reset() { b.b.Reset() }

// Abort breaks the barrier until Reset.
func (b *Barrier) Abort() { b.b.Abort() }

// Parties is the number of parties per round.
func (b *Barrier) Parties() int { return b.b.Parties() }

// Waiting is the number of parties waiting in the current round.
func (b *Barrier) Waiting() int { return b.b.Waiting() }

// Broken reports whether the barrier is broken.
func (b *Barrier) Broken() bool { return b.b.Broken() }
