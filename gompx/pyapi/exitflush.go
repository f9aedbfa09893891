package pyapi

import (
	"sync"
	"time"

	"github.com/gompx/gompx/gompx"
)

// DefaultStalledAfter is how long a queue that the process no longer references may go
// without any of its pending messages moving in before exit gives up on them.
const DefaultStalledAfter = 2 * time.Second

// ExitFlush decides what becomes, at interpreter exit, of the messages a process's
// queues still keep for putting (gompx.Queue.Pending), as stdlib's feeder threads do:
//
//   - a queue whose owner called cancel_join_thread (Cancel): dropped at once;
//   - a queue the process still references (passed as live to FlushAll): waited for;
//   - a queue the process dropped (Dropped): waited for as long as consumers keep making
//     room; once none has for StalledAfter, none will (no object in this process can
//     read it, as with a stdlib Queue whose pipe nobody reads), and the messages are
//     dropped rather than hanging the exit.
//
// The zero value is ready to use, with DefaultStalledAfter.
type ExitFlush struct {
	// StalledAfter overrides DefaultStalledAfter when positive.
	StalledAfter time.Duration

	mu        sync.Mutex
	dropped   []*gompx.Queue
	cancelled map[*gompx.Queue]bool
	stalls    map[*gompx.Queue]stall
}

// stall is a dropped queue's pending count and since when it has not changed.
type stall struct {
	pending int
	since   time.Time
}

// Dropped records a queue the process no longer references, if it has messages
// pending; FlushAll waits for them while they move.
func (x *ExitFlush) Dropped(q *gompx.Queue) {
	if q.Pending() == 0 {
		return
	}
	x.mu.Lock()
	x.dropped = append(x.dropped, q)
	x.mu.Unlock()
}

// Cancel makes FlushAll drop q's pending messages instead of waiting (cancel_join_thread).
func (x *ExitFlush) Cancel(q *gompx.Queue) {
	x.mu.Lock()
	if x.cancelled == nil {
		x.cancelled = make(map[*gompx.Queue]bool)
	}
	x.cancelled[q] = true
	x.mu.Unlock()
}

// FlushAll waits up to timeout (negative: forever) for the pending messages of the live
// queues and of the dropped ones, and returns how many queues still have some. Exit
// calls it again (in slices, so that signals are handled) until it returns 0; a dropped
// queue stalled for StalledAfter across those calls is given up.
func (x *ExitFlush) FlushAll(live []*gompx.Queue, timeout time.Duration) (left int) {
	x.mu.Lock()
	all := append(append([]*gompx.Queue(nil), live...), x.dropped...)
	cancelled := make([]bool, len(all))
	for i, q := range all {
		cancelled[i] = x.cancelled[q]
	}
	x.mu.Unlock()
	for i, q := range all {
		switch {
		case cancelled[i]:
			Reader(q).AbandonPending()
		case i >= len(live):
			if !x.flushWhileConsumed(q, timeout) {
				left++
			}
		case !q.Flush(timeout):
			left++
		}
	}
	return left
}

// flushWhileConsumed waits for a dropped queue's pending messages, and gives them up
// once none has moved in for StalledAfter.
func (x *ExitFlush) flushWhileConsumed(q *gompx.Queue, timeout time.Duration) bool {
	if q.Flush(timeout) {
		return true
	}
	pending, now := q.Pending(), time.Now()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.stalls == nil {
		x.stalls = make(map[*gompx.Queue]stall)
	}
	if s, seen := x.stalls[q]; !seen || s.pending != pending {
		x.stalls[q] = stall{pending, now}
		return false
	}
	after := x.StalledAfter
	if after <= 0 {
		after = DefaultStalledAfter
	}
	if now.Sub(x.stalls[q].since) < after {
		return false
	}
	Reader(q).AbandonPending()
	return true
}
