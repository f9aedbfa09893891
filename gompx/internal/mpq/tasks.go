package mpq

import (
	"sync/atomic"
	"time"
)

// TaskDone records that one consumed message has been processed (JoinableQueue). It
// fails with ErrTooManyTaskDone when every published message is already done.
func (r *Ring) TaskDone() error {
	h := r.h
	for {
		done := atomic.LoadUint64(&h.TasksDone)
		if done >= atomic.LoadUint64(&h.Published) {
			return ErrTooManyTaskDone
		}
		if atomic.CompareAndSwapUint64(&h.TasksDone, done, done+1) {
			bump(&h.DoneSeq, &h.DoneWaiters)
			return nil
		}
	}
}

// Unfinished is the number of published messages not yet marked done.
func (r *Ring) Unfinished() int64 {
	done := atomic.LoadUint64(&r.h.TasksDone)
	return int64(atomic.LoadUint64(&r.h.Published) - done)
}

// Join waits up to timeout (negative: forever) until every published message is marked
// done; ErrTimeout otherwise.
func (r *Ring) Join(timeout time.Duration) error {
	h := r.h
	dl := after(timeout)
	for {
		seen := atomic.LoadUint32(&h.DoneSeq)
		if r.Unfinished() == 0 {
			return nil
		}
		slice := dl.slice()
		if slice == 0 {
			return ErrTimeout
		}
		sleepOn(&h.DoneSeq, &h.DoneWaiters, seen, slice)
		if r.stop.Load() {
			return ErrClosed
		}
	}
}
