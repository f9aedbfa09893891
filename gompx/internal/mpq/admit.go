package mpq

import (
	"sync/atomic"
	"time"

	"github.com/gompx/gompx/gompx/internal/failpoint"
)

// Admit counts up to n messages into the queue before they are written, waiting up to
// timeout (negative: forever, zero: not at all) while it holds MaxSize; it returns how
// many it admitted (at least one, or ErrTimeout). Admitted messages count in Len, Join
// and MaxSize from now on, as multiprocessing counts an item from put() on; the caller
// must write each with PutAdmitted or give it back with Unadmit. If this process dies
// first, the others count its admitted messages out again (reclaim).
func (r *Ring) Admit(n int, timeout time.Duration) (int, error) {
	return r.admit(uint64(n), after(timeout))
}

func (r *Ring) admit(n uint64, dl deadline) (int, error) {
	h := r.h
	if h.MaxSize == 0 {
		r.claim(n)
		failpoint.Hit("mpq/admit-claimed")
		atomic.AddUint64(&h.Admitted, n)
		failpoint.Hit("mpq/admitted")
		return int(n), nil
	}
	var spinUntil time.Time
	for {
		admitted := atomic.LoadUint64(&h.Admitted)
		queued := admitted - min(admitted, atomic.LoadUint64(&h.Consumed))
		if queued < h.MaxSize {
			k := min(n, h.MaxSize-queued)
			r.claim(k) // first: a death in between over-counts the share, never under
			failpoint.Hit("mpq/admit-claimed")
			if atomic.CompareAndSwapUint64(&h.Admitted, admitted, admitted+k) {
				failpoint.Hit("mpq/admitted")
				return int(k), nil
			}
			r.unclaim(k)
			continue
		}
		consumed := atomic.LoadUint64(&h.Consumed)
		slept, err := r.awaitConsumers(dl, &spinUntil, func() bool {
			return atomic.LoadUint64(&h.Consumed) != consumed
		})
		if err != nil {
			return 0, err
		}
		if slept {
			r.reclaim() // the queue may be full of a dead producer's messages
		}
	}
}

// Unadmit gives back n admitted messages that will not be written.
func (r *Ring) Unadmit(n int) {
	atomic.AddUint64(&r.h.Admitted, ^uint64(n-1))
	r.unclaim(uint64(n))
	wake(&r.h.SpaceSeq, &r.h.SpaceWaiters)
}

// claim adds n to this process's slot, taking a slot on first use.
func (r *Ring) claim(n uint64) {
	if s := r.ownSlot(); s != nil {
		atomic.AddUint64(&s.Count, n)
	}
}

func (r *Ring) unclaim(n uint64) {
	if s := r.slot.Load(); s != nil && n > 0 {
		atomic.AddUint64(&s.Count, ^(n - 1))
	}
}

func (r *Ring) ownSlot() *slot {
	if s := r.slot.Load(); s != nil {
		return s
	}
	r.slotMu.Lock()
	defer r.slotMu.Unlock()
	if s := r.slot.Load(); s != nil {
		return s
	}
	for attempt := 0; attempt < 2; attempt++ {
		for i := range r.h.Slots {
			s := &r.h.Slots[i]
			if atomic.LoadUint32(&s.Pid) == r.pid {
				r.slot.Store(s)
				return s
			}
			if atomic.CompareAndSwapUint32(&s.Pid, 0, r.pid) {
				atomic.StoreUint32(&s.Backlog, 0) // a dead process's count, freed with its slot
				r.slot.Store(s)
				return s
			}
		}
		r.reclaim() // free the slots of dead processes, then look again
	}
	return nil // more producer processes than slots: this one goes untracked
}

// reclaimEvery spaces out the scans Len makes for dead producers.
const reclaimEvery = 100 * time.Millisecond

// reclaim counts out the admitted, unpublished messages of producer processes that
// died, and frees their slots.
func (r *Ring) reclaim() {
	r.lastReclaim.Store(time.Now().UnixNano())
	freed := false
	for i := range r.h.Slots {
		s := &r.h.Slots[i]
		pid := atomic.LoadUint32(&s.Pid)
		if pid == 0 || pid == r.pid || alive(pid) || !r.settlePublish() {
			continue
		}
		if n := atomic.SwapUint64(&s.Count, 0); n > 0 {
			atomic.AddUint64(&r.h.Admitted, ^(n - 1))
			freed = true
		}
		atomic.CompareAndSwapUint32(&s.Pid, pid, 0)
	}
	if freed {
		wake(&r.h.SpaceSeq, &r.h.SpaceWaiters)
		wake(&r.h.DoneSeq, &r.h.DoneWaiters)
	}
}

// settlePublish settles a publish whose producer died between storing Tail and taking
// the messages out of its slot (see pjournal): if Tail was stored, those messages leave
// the dead producer's slot now, so that reclaim counts out only what was never
// published. It reports false while the journal's producer is alive or another process
// is settling it: the caller leaves the dead producers' slots alone until then.
//
// Tail is read before the journal is claimed: a successor of the dead producer moves
// Tail only after its own settlePublish, which fails once this one claimed the journal,
// so the Tail read is the one the dead producer left.
func (r *Ring) settlePublish() bool {
	j := &r.h.PJournal
	s := atomic.LoadUint64(&j.State)
	pid := uint32(s)
	if pid == 0 {
		return true
	}
	if pid&settling != 0 || alive(pid) {
		return false
	}
	tail := atomic.LoadUint64(&r.h.Tail)
	want, count := j.Tail, j.Count
	if !atomic.CompareAndSwapUint64(&j.State, s, s|settling) {
		return false
	}
	if tail == want {
		for i := range r.h.Slots {
			if sl := &r.h.Slots[i]; atomic.LoadUint32(&sl.Pid) == pid {
				atomic.AddUint64(&sl.Count, ^(count - 1))
				break
			}
		}
	}
	// A successor that found the journal being settled may have begun its own publish.
	atomic.CompareAndSwapUint64(&j.State, s|settling, s>>32<<32)
	return true
}

// maybeReclaim reclaims unless this process did so within reclaimEvery.
func (r *Ring) maybeReclaim() {
	if time.Now().UnixNano()-r.lastReclaim.Load() >= int64(reclaimEvery) {
		r.reclaim()
	}
}
