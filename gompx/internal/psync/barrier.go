package psync

import (
	"sync/atomic"

	"github.com/gompx/gompx/gompx/internal/errs"
)

// ErrBroken is returned by barrier waits when the barrier is or becomes broken (aborted,
// a wait timed out, the action failed, or it was reset while the caller waited).
var ErrBroken = errs.New("barrier is broken")

// Barrier states, as threading.Barrier names them.
const (
	barrierFilling   = 0
	barrierDraining  = 1
	barrierResetting = -1
	barrierBroken    = -2
)

// Barrier is a view of a process-shared barrier for a fixed number of parties. Its
// state machine is threading.Barrier's: filling until the last party arrives, which runs
// the action and starts draining; the next round may fill once everyone has left.
type Barrier struct {
	mu                       Mutex
	cond                     Condition
	state, count, partyCount *uint32
	arrived                  procTable // who is counted in count, to drop the dead
}

// BarrierSize is the size of a barrier's block: the 64-byte block and a table of the
// processes with parties in it.
const BarrierSize = BlockSize + tableSize

// NewBarrier initializes b as a barrier for parties parties.
func NewBarrier(b []byte, parties int) (Barrier, error) {
	if parties < 1 || parties > 1<<30 {
		return Barrier{}, errs.Errorf("barrier for %d parties: want at least 1", parties)
	}
	if len(b) < BarrierSize {
		return Barrier{}, errs.Errorf("barrier block of %d bytes, want %d", len(b), BarrierSize)
	}
	if err := initBlock(b, KindBarrier); err != nil {
		return Barrier{}, err
	}
	clear(b[BlockSize:BarrierSize])
	br := barrierAt(b)
	atomic.StoreUint32(br.partyCount, uint32(parties))
	return br, nil
}

// OpenBarrier views the barrier another process initialized in b.
func OpenBarrier(b []byte) (Barrier, error) {
	if len(b) < BarrierSize {
		return Barrier{}, errs.Errorf("barrier block of %d bytes, want %d", len(b), BarrierSize)
	}
	if err := openBlock(b, KindBarrier); err != nil {
		return Barrier{}, err
	}
	return barrierAt(b), nil
}

func barrierAt(b []byte) Barrier {
	return Barrier{mu: mutexAt(b), cond: conditionAt(b, 16, nil),
		state: word(b, 28), count: word(b, 32), partyCount: word(b, 36),
		arrived: b[BlockSize:BarrierSize]}
}

func (b Barrier) getState() int32  { return int32(atomic.LoadUint32(b.state)) }
func (b Barrier) setState(s int32) { atomic.StoreUint32(b.state, uint32(s)) }

// lock takes the barrier's own mutex; if a process died holding it, midway through a
// round, the barrier is broken rather than left inconsistent.
func (b Barrier) lock() {
	if err := b.mu.Lock(Forever); err != nil {
		b.setState(barrierBroken)
		b.cond.Notify(-1)
	}
	// Parties of processes that died in the barrier leave it, so that a draining round
	// or a reset can finish.
	b.arrived.dropDead(b.leaveOne)
}

// Parties is the number of parties a round needs.
func (b Barrier) Parties() int { return int(atomic.LoadUint32(b.partyCount)) }

// Arrive enters the current round, waiting until d only for a previous round to finish
// draining. It returns this party's index (0..parties-1, distinct within a round). The
// last party to arrive gets last = true and holds the barrier's mutex: it runs the
// action and must call Release. Everyone else then waits for the round with Await.
func (b Barrier) Arrive(d Deadline) (index int, last bool, err error) {
	b.lock()
	// A round still draining, or a reset in progress, must finish first.
	for s := b.getState(); s == barrierDraining || s == barrierResetting; s = b.getState() {
		if !b.wait(d) {
			b.breakLocked()
			b.mu.Unlock()
			return 0, false, ErrBroken
		}
	}
	if b.getState() == barrierBroken {
		b.mu.Unlock()
		return 0, false, ErrBroken
	}
	b.arrived.claim()
	index = int(atomic.AddUint32(b.count, 1)) - 1
	if index+1 == b.Parties() {
		return index, true, nil
	}
	b.mu.Unlock()
	return index, false, nil
}

// Await waits until d for the round this process's party arrived in to be released,
// and then leaves it (done = true; ErrBroken if the round broke). If d passes first,
// giveUp breaks the barrier (a timeout breaks a threading.Barrier for everyone);
// without it Await returns done = false and the party is still in the round: call Await
// again, or Abandon. So a caller can wait in slices and handle signals in between.
func (b Barrier) Await(d Deadline, giveUp bool) (done bool, err error) {
	b.lock()
	for b.getState() == barrierFilling {
		if !b.wait(d) && b.getState() == barrierFilling {
			if !giveUp {
				b.mu.Unlock()
				return false, nil
			}
			b.breakLocked()
		}
	}
	if b.getState() < 0 {
		err = ErrBroken
	}
	b.leave()
	b.mu.Unlock()
	return true, err
}

// Abandon takes a party that arrived but stops waiting (its caller was interrupted) out
// of the round, without breaking it, as an exception inside threading.Barrier.wait does.
func (b Barrier) Abandon() {
	b.lock()
	b.leave()
	b.mu.Unlock()
}

// Release ends the round of the last party to Arrive, which holds the mutex: actionOK
// false breaks the barrier instead (the action failed).
func (b Barrier) Release(actionOK bool) {
	if actionOK {
		b.setState(barrierDraining)
		b.cond.Notify(-1)
	} else {
		b.breakLocked()
	}
	b.leave()
	b.mu.Unlock()
}

// Wait is Arrive, the action (nil: none) run by the last party, and Release.
func (b Barrier) Wait(d Deadline, action func() error) (int, error) {
	index, last, err := b.Arrive(d)
	if err != nil {
		return index, err
	}
	if !last {
		_, err = b.Await(d, true)
		return index, err
	}
	var actionErr error
	if action != nil {
		actionErr = action()
	}
	b.Release(actionErr == nil)
	if actionErr != nil {
		return index, errs.Errorf("barrier action: %w", actionErr)
	}
	return index, nil
}

// wait sleeps on the barrier's condition, the mutex held before and after; false when
// d passed without a notification.
func (b Barrier) wait(d Deadline) bool {
	ticket := b.cond.Enter()
	b.mu.Unlock()
	woken := b.cond.Sleep(ticket, d)
	b.lock()
	return b.cond.Leave(ticket, woken)
}

// leave counts this process's party out.
func (b Barrier) leave() {
	b.arrived.unclaim(b.arrived.mine())
	b.leaveOne()
}

// leaveOne counts a party out; the last one out lets the next round fill.
func (b Barrier) leaveOne() {
	if atomic.AddUint32(b.count, ^uint32(0)) == 0 {
		if s := b.getState(); s == barrierDraining || s == barrierResetting {
			b.setState(barrierFilling)
			b.cond.Notify(-1)
		}
	}
}

func (b Barrier) breakLocked() {
	b.setState(barrierBroken)
	b.cond.Notify(-1)
}

// Reset returns the barrier to its initial state; parties waiting get ErrBroken.
func (b Barrier) Reset() {
	b.lock()
	defer b.mu.Unlock()
	if atomic.LoadUint32(b.count) > 0 {
		if s := b.getState(); s == barrierFilling || s == barrierBroken {
			b.setState(barrierResetting)
		}
	} else {
		b.setState(barrierFilling)
	}
	b.cond.Notify(-1)
}

// Abort breaks the barrier: current and future waits get ErrBroken until Reset.
func (b Barrier) Abort() {
	b.lock()
	b.breakLocked()
	b.mu.Unlock()
}

// Waiting is the number of parties waiting in the current round (a process that died
// waiting counts until the next Arrive, Reset or Abort notices).
func (b Barrier) Waiting() int {
	if b.getState() == barrierFilling {
		return int(atomic.LoadUint32(b.count))
	}
	return 0
}

// Broken reports whether the barrier is broken.
func (b Barrier) Broken() bool { return b.getState() == barrierBroken }
