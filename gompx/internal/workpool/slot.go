package workpool

import (
	"fmt"
	"time"
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

// serve runs tasks on w. It returns true when w died and should be replaced,
// false when the pool is closing and w was retired.
func (p *Pool) serve(w *worker) bool {
	for {
		t, ok := p.next(w)
		if !ok {
			p.retire(w)
			return false
		}
		if t == nil { // died while idle
			p.reap(w)
			return true
		}
		if w.gone() {
			p.enqueueFront(t)
			w.kill()
			p.reap(w)
			return true
		}
		if !t.begin(w) {
			continue // canceled while queued
		}
		reply, delivered, err := w.roundTrip(t.req)
		if err == nil {
			t.finish(reply, nil)
			continue
		}
		w.kill() // whatever broke the round trip, this worker is done
		p.reap(w)
		if !delivered && t.unbegin() {
			p.enqueueFront(t)
		} else {
			t.finish(nil, p.failure(w, err))
		}
		return true
	}
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
		p.mu.Unlock()
		if closing {
			return nil, false
		}
		select {
		case <-p.signal:
		case <-w.died:
			return nil, true
		case <-p.stop:
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
		broken = fmt.Errorf("no %s left: %w", p.opts.Kind, err)
		p.broken = broken
	}
	p.mu.Unlock()
	if broken != nil {
		p.failQueued(broken)
	}
	p.wg.Done()
}
