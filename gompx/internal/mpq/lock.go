package mpq

import (
	"bytes"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/futex"
	"github.com/gompx/gompx/gompx/internal/intr"
)

// WaitSlice bounds each futex sleep where a waiter must check that whoever it waits for
// is still alive, so a dead process costs its peers at most one slice. A waiter for a
// lock word doubles its slices up to maxWaitSlice: a long wait behind another consumer
// wakes about once a second, and a holder that dies late is noticed within a second.
const (
	WaitSlice    = 100 * time.Millisecond
	maxWaitSlice = time.Second
)

// spinFor is how long a side polls before it sleeps. A sleep and its wake-up cost a few
// microseconds each on both sides; a queue in steady use refills within this window.
const spinFor = 50 * time.Microsecond

// lockSpinFor is how long a process polls a lock word held by another before it sleeps:
// shorter than spinFor, because with more processes than CPUs the holder is often not
// running, and polling then only takes the CPU it needs to finish.
const lockSpinFor = 10 * time.Microsecond

// deadline is an absolute time limit; forever has none, and a zero "at" with !forever
// means try once.
type deadline struct {
	at      time.Time
	forever bool
}

func after(d time.Duration) deadline {
	if d < 0 {
		return deadline{forever: true}
	}
	if d == 0 {
		return deadline{}
	}
	return deadline{at: time.Now().Add(d)}
}

// left is how long a sleep with nothing to check in between may last: -1 (no limit)
// for no deadline, 0 once time is up.
func (d deadline) left() time.Duration {
	if d.forever {
		return -1
	}
	if d.at.IsZero() {
		return 0
	}
	return max(time.Until(d.at), 0)
}

// try reports a deadline that allows no waiting at all.
func (d deadline) try() bool { return !d.forever && d.at.IsZero() }

// slice is how long the next sleep may last: at most WaitSlice, 0 once time is up.
func (d deadline) slice() time.Duration {
	if d.forever {
		return WaitSlice
	}
	if d.at.IsZero() {
		return 0
	}
	return min(max(time.Until(d.at), 0), WaitSlice)
}

// lock takes the lock word w for this process. It reports whether the previous owner
// died holding it: the caller then replays that side's journal. Waiters first spin, then
// sleep on the word in slices, checking the owner's pid between slices.
func (r *Ring) lock(w *uint32, dl deadline) (recovered bool, err error) {
	me := r.pid
	if atomic.CompareAndSwapUint32(w, 0, me) {
		return false, nil
	}
	spinUntil := time.Now().Add(lockSpinFor)
	nap := WaitSlice
	for i := 0; ; i++ {
		v := atomic.LoadUint32(w)
		if v == 0 {
			// Having waited, assume others wait too: keep the waiters bit so unlock wakes.
			if atomic.CompareAndSwapUint32(w, 0, me|lockWaiters) {
				return false, nil
			}
			continue
		}
		if i&63 != 63 || time.Now().Before(spinUntil) {
			continue
		}
		slice := dl.left()
		if slice == 0 {
			return false, ErrTimeout
		}
		if slice < 0 || slice > nap {
			slice = nap
		}
		if v&lockWaiters == 0 && !atomic.CompareAndSwapUint32(w, v, v|lockWaiters) {
			continue
		}
		err := futex.Wait(w, v|lockWaiters, slice)
		nap = min(2*nap, maxWaitSlice)
		if intr.Stop(err) {
			return false, ErrInterrupted
		}
		if r.stop.Load() {
			return false, ErrClosed
		}
		if err == unix.ETIMEDOUT && atomic.LoadUint32(w) == v|lockWaiters && !alive(v&^lockWaiters) {
			if atomic.CompareAndSwapUint32(w, v|lockWaiters, me|lockWaiters) {
				return true, nil
			}
		}
	}
}

func (r *Ring) unlock(w *uint32) {
	if atomic.SwapUint32(w, 0)&lockWaiters != 0 {
		futex.Wake(w, 1)
	}
}

// sleepUnless registers in waiters, then sleeps on seq for at most d (negative: no
// limit) unless ready() holds or Interrupt was called by then. Registering before that
// last look pairs with wake, which looks at waiters after publishing: one of the two
// always sees the other's write, so a wake-up is never lost, and a side with nobody
// asleep publishes without touching seq. It returns ErrInterrupted when a signal ended
// the sleep on an embedder's main thread (package intr), else nil: the caller re-checks.
func (r *Ring) sleepUnless(seq, waiters *uint32, d time.Duration, ready func() bool) error {
	atomic.AddUint32(waiters, 1)
	defer atomic.AddUint32(waiters, ^uint32(0))
	seen := atomic.LoadUint32(seq)
	if ready() || r.stop.Load() {
		return nil
	}
	if err := futex.Wait(seq, seen, d); intr.Stop(err) {
		return ErrInterrupted
	}
	return nil
}

// wake advances seq and wakes its sleepers, if any have registered in waiters.
func wake(seq, waiters *uint32) {
	if atomic.LoadUint32(waiters) != 0 {
		atomic.AddUint32(seq, 1)
		futex.Wake(seq, 1<<30)
	}
}

// alive reports whether process pid exists and has not exited. A zombie (killed but not
// yet reaped by its parent) counts as dead: it will never release anything.
func alive(pid uint32) bool {
	if pid == 0 {
		return false
	}
	if int(pid) == os.Getpid() {
		return true
	}
	if err := unix.Kill(int(pid), 0); err == unix.ESRCH {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return !os.IsNotExist(err)
	}
	// The state follows the last ')' (the command name may contain anything).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return true
	}
	state := stat[i+2]
	return state != 'Z' && state != 'X'
}

// gate is an in-process mutex that can be waited for with a deadline: goroutines of one
// process (Python threads) queue here for one side of a queue, while the holder waits
// in the shared lock word or for data. A one-slot channel, so that a wait for it sleeps
// until the holder leaves or the deadline passes, without polling; the uncontended path
// is one non-blocking send.
type gate struct{ ch chan struct{} }

func newGate() gate { return gate{ch: make(chan struct{}, 1)} }

// enter takes the gate, waiting per dl: ErrTimeout once dl has passed. On an embedder's
// main thread, where a signal cannot end a wait in the Go scheduler, it returns
// ErrInterrupted after each intr.MainSlice so that signal handlers run (package intr).
func (g *gate) enter(dl deadline) error {
	select {
	case g.ch <- struct{}{}:
		return nil
	default:
	}
	if dl.try() {
		return ErrTimeout
	}
	wait := dl.left()
	if intr.MustSlice() && (wait < 0 || wait > intr.MainSlice) {
		t := time.NewTimer(intr.MainSlice)
		defer t.Stop()
		select {
		case g.ch <- struct{}{}:
			return nil
		case <-t.C:
			return ErrInterrupted
		}
	}
	if wait < 0 {
		g.ch <- struct{}{}
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g.ch <- struct{}{}:
		return nil
	case <-t.C:
		return ErrTimeout
	}
}

func (g *gate) leave() { <-g.ch }

// lockSide takes this process's gate, then the shared lock word, for one side.
func (r *Ring) lockSide(g *gate, w *uint32, dl deadline) (recovered bool, err error) {
	if err := g.enter(dl); err != nil {
		return false, err
	}
	recovered, err = r.lock(w, dl)
	if err != nil {
		g.leave()
	}
	return recovered, err
}

func (r *Ring) unlockSide(g *gate, w *uint32) {
	r.unlock(w)
	g.leave()
}
