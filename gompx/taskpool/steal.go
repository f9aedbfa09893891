package taskpool

import (
	"time"

	"github.com/gompx/gompx/gompx/internal/qread"
)

// A worker busy with a long task must not sit on short tasks queued behind it while
// another worker idles. So a worker that has not answered for stuckAfter gets no more
// tasks, and the tasks still unread in its queue are taken back (the queue is
// multi-consumer: the pool reads them out itself) and given to idle workers. Results
// trigger dispatch; a timer does while any worker holds more than one task, since an
// idle pool has no results to trigger it.
const (
	stuckMin    = 2 * time.Millisecond
	stuckFactor = 8 // times the average task time
	stealEvery  = 2 * time.Millisecond
)

// stuckLocked reports whether w has held tasks without answering for too long.
func (p *Pool) stuckLocked(w *worker, now time.Time) bool {
	if len(w.held) == 0 {
		return false
	}
	limit := max(stuckMin, time.Duration(stuckFactor*p.avgTask))
	return now.Sub(w.last) > limit
}

// busyLocked reports whether w, a worker that has answered before, has been busy with
// one task for stuckMin: at the end of a job of long tasks, the task queued behind that
// one would wait a whole task time while another worker has nothing to do (stdlib's
// shared queue never lets that happen). Not with MaxTasksPerWorker: a task taken back
// still counts as sent, and a worker with no room left and nothing to run would never
// reach its limit and exit.
func (p *Pool) busyLocked(w *worker, now time.Time) bool {
	return p.opts.MaxTasksPerWorker == 0 && !w.last.IsZero() && now.Sub(w.last) > stuckMin
}

// stealLocked takes back the unread tasks of stuck workers while another worker is idle
// and nothing is pending, and puts them at the head of the pending list.
func (p *Pool) stealLocked(now time.Time) {
	if p.head < len(p.pending) || p.state == stateTerminated {
		return
	}
	idle := false
	for _, w := range p.workers {
		if len(w.held) == 0 && !w.stopSent {
			idle = true
			break
		}
	}
	if !idle {
		return
	}
	var back []*task
	for _, w := range p.workers {
		if len(w.held) > 1 && (p.stuckLocked(w, now) || p.busyLocked(w, now)) {
			back = append(back, p.takeBackLocked(w)...)
		}
	}
	if len(back) > 0 {
		p.pending, p.head = append(back, p.pending[p.head:]...), 0
	}
}

// takeBackLocked reads the messages still in w's task queue and returns their tasks,
// removed from w.held and from w.sent. The worker may be reading at the same moment:
// the queue gives each message to one reader, and a try that finds the queue busy
// takes nothing.
func (p *Pool) takeBackLocked(w *worker) []*task {
	q := qread.Of(w.tasks)
	_, n, err := q.BeginRead(0)
	if err != nil {
		return nil
	}
	defer q.EndRead()
	var back []*task
	for {
		if cap(p.stealBuf) < n {
			p.stealBuf = make([]byte, n)
		}
		msg := p.stealBuf[:n]
		if q.Read(msg) == nil {
			if t, err := ParseTask(msg); err == nil {
				if t.Job == 0 { // a stop message goes back where it was
					w.stopSent = false
					defer p.sendStopLocked(w)
				} else if held := w.removeHeld(t.Seq); held != nil {
					back = append(back, held)
					// The worker counts the tasks it reads towards MaxTasksPerWorker,
					// and it never reads this one: counted here, the pool would stop
					// sending to a worker that waits for more before it exits.
					w.sent--
				}
			}
		}
		var ok bool
		if _, n, ok = q.NextMessage(); !ok {
			return back
		}
	}
}

// removeHeld removes and returns the held task with sequence number seq, if any.
func (w *worker) removeHeld(seq uint64) *task {
	for i, t := range w.held {
		if t.seq == seq {
			w.held = append(w.held[:i], w.held[i+1:]...)
			return t
		}
	}
	return nil
}

// armStealLocked starts the steal timer if a worker holds more than one task.
func (p *Pool) armStealLocked() {
	if p.stealArmed || p.state == stateTerminated {
		return
	}
	for _, w := range p.workers {
		if len(w.held) > 1 {
			p.stealArmed = true
			time.AfterFunc(stealEvery, p.stealTick)
			return
		}
	}
}

func (p *Pool) stealTick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stealArmed = false
	p.dispatchLocked()
}
