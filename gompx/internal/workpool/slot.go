package workpool

import (
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
)

// restartDelays are the waits before each attempt to replace a worker.
var restartDelays = []time.Duration{50 * time.Millisecond, 250 * time.Millisecond, time.Second}

// runSlot owns one worker after another for the life of the pool. It reports
// the outcome of its first start on first.
func (p *Pool) runSlot(first chan<- error) {
	w, err := p.startWorker()
	first <- err
	for err == nil && w != nil && p.serve(w) {
		w, err = p.replace()
	}
	p.slotEnded(err)
}

// serve runs tasks on w. It returns true when w died, or retired after the
// last task its retire limits allow (SubmitRetire), and should be replaced;
// false when the pool is closing and w was retired.
//
// Up to Options.Pipeline requests are in w's socket at once (inflight, in
// order; the worker runs the first), so that the worker starts the next as
// soon as it answers one. A slot takes a second task only while no other
// slot is idle, so pipelining never holds a task back from an idle worker.
func (p *Pool) serve(w *worker) bool {
	var inflight []*Task
	for {
		if len(inflight) == 0 {
			if w.retiring {
				p.retire(w)
				return true
			}
			t, ok := p.next(w)
			if !ok {
				p.retire(w)
				return false
			}
			if t == nil { // died while idle
				p.reap(w)
				return true
			}
			if !p.send(w, t, &inflight) {
				return true
			}
			continue
		}
		if len(inflight) < p.opts.Pipeline && !w.retiring {
			if t := p.tryNext(); t != nil {
				if !p.send(w, t, &inflight) {
					return true
				}
				continue
			}
		}
		reply, err := w.conn.RecvBytes(0)
		if err != nil {
			p.breakOff(w, inflight, err)
			return true
		}
		head := inflight[0]
		inflight = inflight[1:]
		head.finish(reply, nil)
		if w.doomed.Load() {
			// The head was canceled while running and answered just before
			// the kill: what was sent behind it goes to another worker (in
			// a narrow window it may have started here: it runs again).
			p.breakOff(w, append([]*Task{nil}, inflight...), nil)
			return true
		}
		if len(inflight) > 0 && !inflight[0].promote() {
			// Canceled while it waited in the socket: stop the worker before
			// it gets far into a call nobody wants.
			p.breakOff(w, inflight, nil)
			return true
		}
	}
}

// send starts t on w; false when w turned out dead or dying, which send
// has dealt with (t queued again, w ended).
func (p *Pool) send(w *worker, t *Task, inflight *[]*Task) bool {
	if w.gone() {
		p.enqueueFront(t)
		p.breakOff(w, *inflight, nil)
		return false
	}
	if !t.begin(w, len(*inflight) == 0) {
		return true // canceled while queued
	}
	if err := w.conn.SendBytes(t.req); err != nil {
		if t.unbegin() {
			p.enqueueFront(t)
		}
		p.breakOff(w, *inflight, err)
		return false
	}
	*inflight = append(*inflight, t)
	if t.retireAfter > 0 {
		if w.ran == nil {
			w.ran = map[string]int{}
		}
		w.ran[t.retireKey]++
		if w.ran[t.retireKey] >= t.retireAfter {
			w.retiring = true // nothing more is pipelined behind t
		}
	}
	return true
}

// breakOff ends w after its round trips broke off: the request it was
// running (inflight[0]; nil for none) fails, those sent behind it never ran
// and are queued again.
func (p *Pool) breakOff(w *worker, inflight []*Task, err error) {
	w.kill()
	p.reap(w)
	for i := len(inflight) - 1; i >= 1; i-- {
		if inflight[i].unbegin() {
			p.enqueueFront(inflight[i])
		}
	}
	if len(inflight) > 0 && inflight[0] != nil {
		inflight[0].finish(nil, p.failure(w, err))
	}
}

// tryNext pops a queued task without waiting, unless a slot is idle (that
// one should have it) or the pool was terminated.
func (p *Pool) tryNext() *Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle > 0 || p.terminated || len(p.queue) == 0 {
		return nil
	}
	t := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	return t
}

// next returns the next queued task; nil and true when w died while idle;
// false when the pool is closing and nothing is queued, or terminated.
func (p *Pool) next(w *worker) (*Task, bool) {
	for {
		p.mu.Lock()
		if p.terminated {
			p.mu.Unlock()
			return nil, false
		}
		if len(p.queue) > 0 {
			t := p.queue[0]
			p.queue[0] = nil
			p.queue = p.queue[1:]
			p.mu.Unlock()
			return t, true
		}
		closing := p.closing
		if closing {
			p.mu.Unlock()
			return nil, false
		}
		p.idle++
		p.mu.Unlock()
		died := false
		select {
		case <-p.signal:
		case <-w.died:
			died = true
		case <-p.stop:
		}
		p.mu.Lock()
		p.idle--
		p.mu.Unlock()
		if died {
			return nil, true
		}
	}
}

// replace starts a worker in place of one that died. It gives up when the
// pool no longer needs one, or after the last attempt.
func (p *Pool) replace() (*worker, error) {
	var err error
	for _, delay := range restartDelays {
		if !p.needsWorkers() {
			return nil, nil
		}
		var w *worker
		if w, err = p.startWorker(); err == nil {
			return w, nil
		}
		select {
		case <-time.After(delay):
		case <-p.stop:
		}
	}
	return nil, err
}

// needsWorkers reports whether a slot should keep a worker: not after
// Terminate, nor after Close once the queue is empty.
func (p *Pool) needsWorkers() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.terminated && !(p.closing && len(p.queue) == 0)
}

// slotEnded counts a slot out; when the last one ends on an error while the
// pool still takes tasks, the pool is broken and every queued task fails.
func (p *Pool) slotEnded(err error) {
	p.mu.Lock()
	p.slots--
	last := p.slots == 0
	var broken error
	if last && err != nil && !p.terminated {
		broken = errs.Errorf("no %s left: %w", p.opts.Kind, err)
		p.broken = broken
	}
	p.mu.Unlock()
	if broken != nil {
		p.failQueued(broken)
	}
	p.wg.Done()
}
