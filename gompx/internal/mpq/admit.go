package mpq

import (
	"sync/atomic"
	"time"
	"unsafe"

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
	s := r.ownSlot() // before the admission lock: it may reclaim, which takes it
	var spinUntil time.Time
	for {
		r.lockAdmit()
		failpoint.Hit("mpq/admit-locked")
		admitted := atomic.LoadUint64(&h.Admitted)
		queued := admitted - min(admitted, atomic.LoadUint64(&h.Consumed))
		if h.MaxSize == 0 || queued < h.MaxSize {
			k := n
			if h.MaxSize != 0 {
				k = min(n, h.MaxSize-queued)
			}
			claimed := uint64(0)
			if s != nil {
				claimed = atomic.LoadUint64(&s.Claimed) + k
			}
			r.journalAdmit(s, admitted+k, claimed)
			if s != nil {
				atomic.StoreUint64(&s.Claimed, claimed)
			}
			failpoint.Hit("mpq/admit-claimed")
			atomic.StoreUint64(&h.Admitted, admitted+k)
			r.unlockAdmit()
			failpoint.Hit("mpq/admitted")
			return int(k), nil
		}
		r.unlockAdmit()
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
	s := r.slot.Load()
	r.lockAdmit()
	r.setAdmitted(s, uint64(n))
	r.unlockAdmit()
	wake(&r.h.SpaceSeq, &r.h.SpaceWaiters)
}

// setAdmitted counts n messages out of Admitted and out of s's Claimed (s may be nil),
// through the journal; the caller holds the admission lock.
func (r *Ring) setAdmitted(s *slot, n uint64) {
	admitted := atomic.LoadUint64(&r.h.Admitted) - n
	claimed := uint64(0)
	if s != nil {
		claimed = atomic.LoadUint64(&s.Claimed) - n
	}
	r.journalAdmit(s, admitted, claimed)
	if s != nil {
		atomic.StoreUint64(&s.Claimed, claimed)
	}
	atomic.StoreUint64(&r.h.Admitted, admitted)
}

// release counts n published messages out of this process's share.
func (r *Ring) release(n uint64) {
	if s := r.slot.Load(); s != nil && n > 0 {
		atomic.AddUint64(&s.Released, n)
	}
}

// lockAdmit takes the admission lock. Its holders never wait while holding it, so a
// waiter spins, then naps briefly; a holder that died is found between naps, and its
// journal applied before the lock is taken over.
func (r *Ring) lockAdmit() {
	w := &r.h.AJournal.Lock
	for i := 0; ; i++ {
		if atomic.CompareAndSwapUint32(w, 0, r.pid) {
			return
		}
		if i < 128 {
			continue
		}
		if i%64 == 0 {
			if v := atomic.LoadUint32(w); v != 0 && !alive(v&^ajValid) &&
				atomic.CompareAndSwapUint32(w, v, r.pid) {
				r.replayAdmit(v)
				return
			}
		}
		time.Sleep(20 * time.Microsecond) // the holder was preempted: give it the CPU
	}
}

func (r *Ring) unlockAdmit() { atomic.StoreUint32(&r.h.AJournal.Lock, 0) }

// journalAdmit records the Admitted and Claimed (of s, if not nil) the holder is about
// to store, then marks the journal valid: from here on a taker of the lock stores them.
func (r *Ring) journalAdmit(s *slot, admitted, claimed uint64) {
	j := &r.h.AJournal
	idx := uint32(0)
	if s != nil {
		idx = uint32((uintptr(unsafe.Pointer(s))-uintptr(unsafe.Pointer(&r.h.Slots[0])))/unsafe.Sizeof(*s)) + 1
	}
	// Plain stores, as in writeJournal: only the lock holder writes them, and a taker
	// reads them only after seeing ajValid, which the atomic store orders after them.
	j.Slot, j.Admitted, j.Claimed = idx, admitted, claimed
	atomic.StoreUint32(&j.Lock, r.pid|ajValid)
}

// replayAdmit finishes the change a dead holder of the admission lock journaled (v is
// the lock word it left).
func (r *Ring) replayAdmit(v uint32) {
	if v&ajValid == 0 {
		return // it died before journaling: it changed nothing
	}
	j := &r.h.AJournal
	if idx := j.Slot; idx != 0 && int(idx) <= len(r.h.Slots) {
		atomic.StoreUint64(&r.h.Slots[idx-1].Claimed, j.Claimed)
	}
	atomic.StoreUint64(&r.h.Admitted, j.Admitted)
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
		r.lockAdmit()
		// Under the lock, and past settlePublish: the dead process's counts are final.
		if n := atomic.LoadUint64(&s.Claimed) - atomic.LoadUint64(&s.Released); n > 0 {
			r.setAdmitted(s, n)
			freed = true
		}
		r.unlockAdmit()
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
				atomic.AddUint64(&sl.Released, count)
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
