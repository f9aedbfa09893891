package mpq

import (
	"sync/atomic"
	"time"
)

// TaskDone records that one consumed message has been processed (JoinableQueue). It
// fails with ErrTooManyTaskDone when every admitted message is already done.
func (r *Ring) TaskDone() error {
	h := r.h
	for {
		done := atomic.LoadUint64(&h.TasksDone)
		if done >= atomic.LoadUint64(&h.Admitted) {
			return ErrTooManyTaskDone
		}
		if atomic.CompareAndSwapUint64(&h.TasksDone, done, done+1) {
			wake(&h.DoneSeq, &h.DoneWaiters)
			return nil
		}
	}
}

// Unfinished is the number of admitted messages not yet marked done.
func (r *Ring) Unfinished() int64 {
	done := atomic.LoadUint64(&r.h.TasksDone)
	return int64(atomic.LoadUint64(&r.h.Admitted) - done)
}

// Join waits up to timeout (negative: forever) until every admitted message is marked
// done; ErrTimeout otherwise.
func (r *Ring) Join(timeout time.Duration) error {
	h := r.h
	dl := after(timeout)
	finished := func() bool { return r.Unfinished() == 0 }
	for {
		if finished() {
			return nil
		}
		slice := dl.slice()
		if slice == 0 {
			return ErrTimeout
		}
		sleepUnless(&h.DoneSeq, &h.DoneWaiters, slice, finished)
		r.reclaim() // a dead producer's messages will never be done
		if r.stop.Load() {
			return ErrClosed
		}
	}
}
