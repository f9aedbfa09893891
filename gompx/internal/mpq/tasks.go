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

// joinSliceMax bounds the growing sleeps of Join: a long join looks for dead producers
// about once a second rather than ten times.
const joinSliceMax = time.Second

// Join waits up to timeout (negative: forever) until every admitted message is marked
// done; ErrTimeout otherwise, ErrInterrupted when a signal ended the wait on an
// embedder's main thread (package intr).
func (r *Ring) Join(timeout time.Duration) error {
	h := r.h
	dl := after(timeout)
	finished := func() bool { return r.Unfinished() == 0 }
	// Between sleeps Join counts out the messages of producers that died before writing
	// them: the first sleeps are a WaitSlice, then each twice the last, up to a second.
	slice := WaitSlice
	for {
		if finished() {
			return nil
		}
		wait := dl.left()
		if wait == 0 {
			return ErrTimeout
		}
		if wait < 0 || wait > slice {
			wait = slice
		}
		slice = min(2*slice, joinSliceMax)
		if err := r.sleepUnless(&h.DoneSeq, &h.DoneWaiters, wait, finished); err != nil {
			return err
		}
		r.reclaim() // a dead producer's messages will never be done
		if r.stop.Load() {
			return ErrClosed
		}
	}
}
