package taskpool

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/gompx/gompx/gompx/internal/qread"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/intr"
)

// The result queue has one reader at a time: whoever holds p.token. A thread waiting
// for a job (Wait, Take) reads it itself ("helps") rather than sleeping until the
// collector goroutine wakes it: a result then costs one wake-up (the worker's put wakes
// the waiter) instead of two (the collector, then the waiter). The collector goroutine
// reads only while nobody helps, and leaves the queue to helpers for helpGrace after the
// last one left, so that a thread waiting job after job keeps it without a hand-over.
//
// While helpers keep coming, the collector looks again after helpGrace, then after
// twice as long each time (2, 4, 8, 16 ms); after parkAfter such looks in a row (a
// thread has waited long, say for a long task) it parks until the last helper leaves
// (unhelped), so that a pool waiting on long tasks costs no wake-ups.
//
// A helper sleeps in the result queue for as long as its wait lasts: whatever changes a
// job other than a result (Terminate, Break, Job.Fail, Job.SetLength) puts a record
// that wakes the reader (poke), so it needs no periodic look.
const (
	helpGrace = 2 * time.Millisecond
	parkAfter = 4
)

// collect reads the result queue whenever no helper does, until Free.
func (p *Pool) collect() {
	defer close(p.collected)
	looks := 0
	for !p.quit.Load() {
		if p.helpers.Load() == 0 && time.Since(time.Unix(0, p.lastHelp.Load())) >= helpGrace {
			looks = 0
			p.token <- struct{}{}
			p.collectOnce(-1, true)
			<-p.token
			continue
		}
		if looks++; looks > parkAfter {
			looks = 0
			p.parked.Store(true) // before the look at helpers: see leaveHelp
			if p.helpers.Load() > 0 {
				select {
				case <-p.resume: // Free
				case <-p.unhelped:
				}
			}
			p.parked.Store(false)
			continue
		}
		t := time.NewTimer(helpGrace << (looks - 1))
		select {
		case <-p.resume: // Free
		case <-t.C:
		}
		t.Stop()
	}
}

// leaveHelp counts a helper out; the last one out wakes a parked collector.
func (p *Pool) leaveHelp() {
	// The collector notices on its next look, within helpGrace: waking it now would
	// cost a thread wake-up per job when a thread waits job after job.
	p.lastHelp.Store(time.Now().UnixNano())
	if p.helpers.Add(-1) == 0 && p.parked.Load() {
		select {
		case p.unhelped <- struct{}{}:
		default:
		}
	}
}

// collectOnce reads what the result queue has, waiting up to timeout (negative: forever)
// for the first message, and applies it. The caller holds p.token. The collector
// goroutine passes yield; helpers, which run on a Python thread's locked OS thread, must
// not (Gosched would hand their goroutine to another thread and back). It reports false
// when a signal ended the wait on an embedder's main thread (gompx.EnableInterrupts).
func (p *Pool) collectOnce(timeout time.Duration, yield bool) bool {
	q := qread.Of(p.opts.Results)
	_, n, err := q.BeginRead(0)
	if errors.Is(err, gompx.ErrQueueEmpty) && timeout != 0 {
		if yield {
			// Before waiting, let the goroutines the last batch woke (waiters of
			// finished jobs) have this P: they sit in its run-next slot, and a spinning
			// or futex-sleeping reader would hold them off for up to a sysmon tick.
			runtime.Gosched()
		}
		_, n, err = q.BeginRead(timeout)
	}
	switch {
	case errors.Is(err, gompx.ErrQueueEmpty):
		return true
	case errors.Is(err, gompx.ErrInterrupted):
		return false
	case errors.Is(err, gompx.ErrQueueClosed):
		p.quit.Store(true)
		p.Break("the pool's result queue was closed")
		return true
	case err != nil:
		time.Sleep(time.Millisecond) // not expected; do not spin
		return true
	}
	p.scratch2, p.batch = p.readBatch(q, n, p.scratch2[:0], p.batch[:0])
	q.EndRead()
	if p.handle(p.batch) {
		p.quit.Store(true)
	}
	return true
}

// help waits up to timeout (negative: forever) until ready() holds, reading the result
// queue meanwhile whenever nobody else does; wake is where the job announces changes.
// On an embedder's main thread (gompx.EnableInterrupts) a signal ends the wait early,
// reported as not ready: the read of the queue is a futex sleep a signal interrupts,
// and a wait for another reader to finish is cut into intr.MainSlice pieces.
func (p *Pool) help(j *Job, timeout time.Duration, ready func() bool) bool {
	// Whoever comes for results first takes in what has arrived, if nobody is reading:
	// results that lie unread dispatch no new tasks, and a consumer busy between its
	// calls keeps the collector away (helpGrace).
	select {
	case p.token <- struct{}{}:
		p.collectOnce(0, false)
		<-p.token
	default:
	}
	if ready() {
		return true
	}
	if timeout == 0 {
		return false
	}
	p.helpers.Add(1)
	defer p.leaveHelp()
	var expired <-chan time.Time
	deadline := time.Now().Add(timeout)
	// The channel wait below is the one a signal cannot end: on the main thread it
	// lasts at most intr.MainSlice.
	chanWait := timeout
	if intr.MustSlice() && (chanWait < 0 || chanWait > intr.MainSlice) {
		chanWait = intr.MainSlice
	}
	if chanWait > 0 {
		t := time.NewTimer(chanWait)
		defer t.Stop()
		expired = t.C
	}
	yielded := false
	for !ready() {
		slice := time.Duration(-1) // for as long as it takes
		if timeout > 0 {
			if slice = time.Until(deadline); slice <= 0 {
				return ready()
			}
		}
		select {
		case p.token <- struct{}{}:
			read := p.collectOnce(slice, false)
			<-p.token
			if !read {
				return ready() // a signal: let the embedder handle it
			}
			continue
		default:
		}
		if !yielded {
			// The collector may be asleep in the queue holding the token: a record
			// wakes it, and it steps aside since a helper is waiting.
			yielded = true
			p.poke()
		}
		p.mu.Lock()
		j.waiting++
		ch := j.wake.ch
		p.mu.Unlock()
		if ready() {
			p.mu.Lock()
			j.waiting--
			p.mu.Unlock()
			return true
		}
		select {
		case p.token <- struct{}{}:
			p.mu.Lock()
			j.waiting--
			p.mu.Unlock()
			read := p.collectOnce(slice, false)
			<-p.token
			if !read {
				return ready()
			}
		case <-ch:
			p.mu.Lock()
			j.waiting--
			p.mu.Unlock()
		case <-expired:
			p.mu.Lock()
			j.waiting--
			p.mu.Unlock()
			return ready()
		}
	}
	return true
}

// pokeHelpers pokes the result queue if a thread is waiting for a job: it may be asleep
// in the queue, and a change that is no result must wake it.
func (p *Pool) pokeHelpers() {
	if p.helpers.Load() > 0 {
		p.poke()
	}
}

// poke puts a record into the result queue that only wakes its reader.
func (p *Pool) poke() {
	msg := AppendResult(nil, Task{}, ctlPoke, nil)
	_ = p.opts.Results.Send(gompx.KindBytes, -1, msg)
}

// readBatch reads the message begun with length n and those right behind it, up to
// 1 MiB, and returns them with their payloads in one new allocation.
func (p *Pool) readBatch(q qread.Queue, n int, scratch []byte, batch []result) ([]byte, []result) {
	const batchBytes = 1 << 20
	for {
		if len(scratch)+n > cap(scratch) {
			if len(scratch) > 0 {
				break // read it in the next batch
			}
			scratch = make([]byte, 0, max(n, 64<<10))
		}
		msg := scratch[len(scratch) : len(scratch)+n]
		if err := q.Read(msg); err == nil {
			scratch = scratch[:len(scratch)+n]
			if r, ok := parseResult(msg); ok {
				batch = append(batch, r)
			}
		}
		var ok bool
		if _, n, ok = q.NextMessage(); !ok || len(scratch) >= batchBytes {
			break
		}
	}
	total := 0
	for _, r := range batch {
		total += len(r.payload)
	}
	own := make([]byte, 0, total) // results outlive scratch
	for i := range batch {
		own = append(own, batch[i].payload...)
		batch[i].payload = own[len(own)-len(batch[i].payload):]
	}
	return scratch, batch
}

// handle applies a batch of records; it reports whether the collector must quit.
func (p *Pool) handle(batch []result) (quit bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range batch {
		switch {
		case r.job == 0 && r.status == ctlQuit:
			quit = true
		case r.job == 0 && r.status == ctlPoke:
		case r.job == 0 && r.status == ctlExited:
			p.workerExitedLocked(r.worker, int(int64(r.index)))
		default:
			p.resultLocked(r)
		}
	}
	p.dispatchLocked()
	p.maybeStopLocked()
	return quit
}

func (p *Pool) workerLocked(id uint32) (int, *worker) {
	for i, w := range p.workers {
		if w.id == id {
			return i, w
		}
	}
	return -1, nil
}

// resultLocked matches a result to the task the worker held.
func (p *Pool) resultLocked(r result) {
	_, w := p.workerLocked(r.worker)
	if w == nil {
		return // its worker was declared dead: its tasks went elsewhere
	}
	at := -1
	for i, t := range w.held {
		if t.seq == r.seq {
			at = i
			break
		}
	}
	if at < 0 {
		return
	}
	t := w.held[at]
	w.held = append(w.held[:at], w.held[at+1:]...)
	now := time.Now()
	d := now.Sub(t.sent)
	if w.last.After(t.sent) {
		d = now.Sub(w.last)
	}
	w.last = now
	p.avgTask = 0.9*p.avgTask + 0.1*float64(d)
	p.failedStarts = 0
	if p.opts.OnDemand && p.openLocked(w) {
		p.idle++ // a call submitted next may reuse it (Reserve)
	}
	t.job.completeLocked(t.index, r.status, r.payload)
}

// workerExitedLocked fails the task a dead worker was running, gives its other tasks
// back, and asks for a replacement if work remains.
func (p *Pool) workerExitedLocked(id uint32, code int) {
	i, w := p.workerLocked(id)
	if w == nil {
		return
	}
	p.workers = append(p.workers[:i], p.workers[i+1:]...)
	held := w.held
	w.held = nil
	started := startedSeq(p.board.Bytes(), w.slot)
	planned := code == 0 && len(held) == 0 &&
		(w.stopSent || (p.opts.MaxTasksPerWorker > 0 && w.sent >= p.opts.MaxTasksPerWorker))
	if p.state == stateTerminated {
		return
	}
	if p.opts.BreakOnDeath && !planned {
		p.breakLocked(fmt.Sprintf("A child process terminated abruptly, the process pool is not usable anymore (worker %d exited with code %d)", w.pid, code))
		return
	}
	var requeue []*task
	for _, t := range held {
		if t.seq == started {
			msg := fmt.Sprintf("worker %d exited with code %d while running this task", w.pid, code)
			t.job.completeLocked(t.index, StatusLost, []byte(msg))
			continue
		}
		requeue = append(requeue, t)
	}
	if len(requeue) > 0 {
		p.pending, p.head = append(requeue, p.pending[p.head:]...), 0
	}
	if started == 0 && code != 0 && !planned {
		p.failedStarts++
	}
	if p.failedStarts >= max(3, 2*p.opts.Slots) && p.workLeftLocked() {
		p.breakLocked(fmt.Sprintf("workers keep exiting before they run a task (the last, %d, with code %d): does the initializer fail?", w.pid, code))
		return
	}
	kind := EventExited
	switch {
	case p.opts.OnDemand:
		// Replaced only while tasks wait for a worker; Reserve starts more later.
		if p.demandLocked() > 0 && !p.reserved[w.slot] {
			p.reserved[w.slot] = true
			kind = EventReplace
		}
	case p.state == stateRunning || p.workLeftLocked():
		kind = EventReplace
	}
	p.pushEventLocked(Event{Kind: kind, Slot: w.slot, Pid: w.pid, Code: code})
	if kind == EventExited && len(p.workers) == 0 && p.state == stateClosing && !p.workLeftLocked() {
		p.pushEventLocked(Event{Kind: EventStopped})
	}
}
