package taskpool

import (
	"time"

	"github.com/gompx/gompx/gompx"
)

// The window: how many sent-but-unanswered tasks a worker may hold. Enough for about
// windowWork of work by the running average of task times, so that short tasks travel
// and come back in batches while a long one never queues behind much.
const (
	minWindow  = 2
	maxWindow  = 256
	windowWork = 2 * time.Millisecond
)

func (p *Pool) windowLocked() int {
	n := int(float64(windowWork) / max(p.avgTask, 1))
	return min(max(n, minWindow), maxWindow)
}

// roomLocked is how many more tasks worker w may be sent now.
func (p *Pool) roomLocked(w *worker, window int, now time.Time) int {
	if w.stopSent || p.stuckLocked(w, now) {
		return 0
	}
	room := window - len(w.held)
	if p.opts.MaxTasksPerWorker > 0 {
		room = min(room, p.opts.MaxTasksPerWorker-w.sent)
	}
	return room
}

// dispatchLocked sends pending tasks to workers with room, sharing them out evenly.
func (p *Pool) dispatchLocked() {
	if p.state == stateTerminated {
		return
	}
	now := time.Now()
	p.stealLocked(now)
	open := make([]*worker, 0, len(p.workers))
	for p.head < len(p.pending) {
		window := p.windowLocked()
		if p.pending[p.head].job.completed == 0 {
			// A job none of whose tasks has come back yet may be far longer than the
			// tasks the average was made of (10 ms tasks after a warm-up of tiny ones):
			// a full window would share its tasks out once and for all, and a worker
			// that falls behind (a busy CPU) would finish last with a queue of them.
			window = minWindow
		}
		open = open[:0]
		for _, w := range p.workers {
			if p.roomLocked(w, window, now) > 0 {
				open = append(open, w)
			}
		}
		if len(open) == 0 {
			break
		}
		live := len(p.pending) - p.head
		share := (live + len(open) - 1) / len(open)
		for _, w := range open {
			if n := min(p.roomLocked(w, window, now), share, len(p.pending)-p.head); n > 0 {
				p.sendLocked(w, n)
			}
		}
	}
	p.armStealLocked()
	if p.roomWaiters > 0 {
		p.room.fire()
	}
	if p.head == len(p.pending) {
		p.pending, p.head = p.pending[:0], 0
	} else if p.head > 1024 && p.head > len(p.pending)/2 {
		p.pending, p.head = append(p.pending[:0], p.pending[p.head:]...), 0
	}
}

// sendLocked sends the next n pending tasks to w in one batch.
func (p *Pool) sendLocked(w *worker, n int) {
	now := time.Now()
	tasks := p.pending[p.head : p.head+n]
	p.scratch = p.scratch[:0]
	ends := make([]int, n)
	for i, t := range tasks {
		w.seq++
		t.seq, t.sent = w.seq, now
		p.scratch = AppendTask(p.scratch, Task{Job: t.job.id, Index: uint64(t.index), Seq: t.seq,
			Worker: w.id, Header: t.job.header, Body: t.payload})
		ends[i] = len(p.scratch)
	}
	p.msgs = p.msgs[:0]
	start := 0
	for _, end := range ends {
		p.msgs = append(p.msgs, p.scratch[start:end])
		start = end
	}
	if len(w.held) == 0 {
		w.last = now // its time on these tasks starts now, not at its last result
	}
	w.held = append(w.held, tasks...)
	w.sent += n
	clear(tasks)
	p.head += n
	// The task queue is unbounded, so SendBatch never waits. An error means the queue
	// was closed: the worker is going away, and its death returns these tasks.
	_, _ = w.tasks.SendBatch(gompx.KindBytes, 0, p.msgs)
}
