package taskpool

import (
	"sync/atomic"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
)

// Job is a set of tasks whose results are collected together: one task for an apply,
// one per chunk for a map. Its methods are safe for concurrent use.
type Job struct {
	pool   *Pool
	id     uint64
	header []byte
	notify bool

	// All below under pool.mu.
	length    int // number of tasks, -1 until SetLength
	submitted int
	results   []slot
	completed int
	next      int   // ordered taking: the first index not yet taken
	ready     []int // unordered taking: completed, not yet taken
	taken     int
	firstFail int // index of the first failure to come in, -1 if none
	dropped   bool
	notified  bool
	ordered   bool // Take is ordered: results are not listed in ready
	wake      *signal
	waiting   int

	// finished mirrors finishedLocked for Wait, which reads it without the lock.
	finished atomic.Bool
}

// slot holds one task's result once it came in.
type slot struct {
	done    bool
	status  Status
	payload []byte
}

// NewJob starts a job of length tasks (-1: not known yet; see SetLength) whose tasks
// all carry header. With notify, NextFinished reports the job once it finishes.
func (p *Pool) NewJob(header []byte, length int, notify bool) (*Job, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.broken != "":
		return nil, errs.Errorf("%w: %s", ErrBroken, p.broken)
	case p.state != stateRunning:
		return nil, ErrNotRunning
	}
	p.nextJob++
	j := &Job{pool: p, id: p.nextJob, header: append([]byte(nil), header...), notify: notify,
		length: -1, firstFail: -1, wake: newSignal()}
	p.jobs[j.id] = j
	if length >= 0 {
		j.setLengthLocked(length)
	}
	return j, nil
}

// ID is the job's id, unique in its pool, never 0.
func (j *Job) ID() uint64 { return j.id }

// Pool is the pool the job belongs to.
func (j *Job) Pool() *Pool { return j.pool }

// Submit adds tasks first, first+1, ... with the given payloads (copied) and
// dispatches them. Tasks may come in any order and in several calls.
func (j *Job) Submit(first int, payloads [][]byte) error {
	p := j.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := j.checkIndexesLocked(first, len(payloads)); err != nil {
		return err
	}
	if j.dropped || p.state == stateTerminated {
		// A terminated pool already failed the job's known tasks; fail these too.
		msg := "the pool was terminated before this task finished"
		status := StatusTerminated
		if p.broken != "" {
			msg, status = p.broken, StatusBroken
		}
		for i := range payloads {
			j.completeLocked(first+i, status, []byte(msg))
		}
		p.pokeHelpers() // a helper may sleep in the result queue (a put: p.mu is no matter)
		return nil
	}
	total := 0
	for _, b := range payloads {
		total += len(b)
	}
	mem := make([]byte, 0, total) // one allocation for the batch
	for i, b := range payloads {
		mem = append(mem, b...)
		p.pending = append(p.pending, &task{job: j, index: first + i, payload: mem[len(mem)-len(b):]})
	}
	j.submitted += len(payloads)
	p.dispatchLocked()
	return nil
}

func (j *Job) checkIndexesLocked(first, n int) error {
	end := first + n
	if first < 0 || (j.length >= 0 && end > j.length) {
		return errs.Errorf("taskpool: tasks %d..%d outside job of %d tasks", first, end-1, j.length)
	}
	for len(j.results) < end {
		j.results = append(j.results, slot{})
	}
	return nil
}

// Fail records a result for task index that no worker produced (e.g. its arguments
// could not be serialized).
func (j *Job) Fail(index int, status Status, payload []byte) error {
	p := j.pool
	p.mu.Lock()
	if err := j.checkIndexesLocked(index, 1); err != nil {
		p.mu.Unlock()
		return err
	}
	j.submitted++
	j.completeLocked(index, status, append([]byte(nil), payload...))
	p.mu.Unlock()
	p.pokeHelpers()
	return nil
}

// SetLength says how many tasks the job has, once its submitter knows.
func (j *Job) SetLength(n int) error {
	p := j.pool
	p.mu.Lock()
	if n < 0 || n < len(j.results) {
		p.mu.Unlock()
		return errs.Errorf("taskpool: length %d, but %d tasks were submitted", n, len(j.results))
	}
	j.setLengthLocked(n)
	p.maybeStopLocked()
	p.mu.Unlock()
	p.pokeHelpers()
	return nil
}

func (j *Job) setLengthLocked(n int) {
	j.length = n
	for len(j.results) < n {
		j.results = append(j.results, slot{})
	}
	j.checkFinishedLocked()
	j.changedLocked()
}

// checkFinishedLocked queues a notify job for NextFinished once it has finished.
func (j *Job) checkFinishedLocked() {
	if j.finishedLocked() {
		j.finished.Store(true)
	}
	if j.notify && !j.notified && j.finishedLocked() {
		j.notified = true
		j.pool.finished = append(j.pool.finished, j.id)
		j.pool.wake.fire()
	}
}

func (j *Job) finishedLocked() bool {
	return j.dropped || (j.length >= 0 && j.completed >= j.length)
}

// completeLocked stores a result; the first one for an index wins.
func (j *Job) completeLocked(index int, status Status, payload []byte) {
	if j.dropped || index >= len(j.results) || j.results[index].done {
		return
	}
	j.results[index] = slot{done: true, status: status, payload: payload}
	j.completed++
	if status != StatusOK && j.firstFail < 0 {
		j.firstFail = index
	}
	if !j.ordered {
		j.ready = append(j.ready, index)
	}
	j.checkFinishedLocked()
	j.changedLocked()
}

// endLocked fails every task without a result (the pool ended).
func (j *Job) endLocked(status Status, msg string) {
	if j.length < 0 {
		j.length = len(j.results)
	}
	for i := range j.results {
		j.completeLocked(i, status, []byte(msg))
	}
	j.checkFinishedLocked()
	j.changedLocked()
}

func (j *Job) changedLocked() {
	if j.waiting > 0 {
		j.wake.fire()
	}
}

// Wait waits up to timeout (negative: forever) until every task has a result, and
// reports whether they all have.
func (j *Job) Wait(timeout time.Duration) bool {
	return j.pool.help(j, timeout, j.finished.Load)
}

// FirstFailure returns the index of the first failed task to come in, or -1.
func (j *Job) FirstFailure() int {
	p := j.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	return j.firstFail
}

// Result returns task index's result, which must have come in (see Wait).
func (j *Job) Result(index int) (Status, []byte, error) {
	p := j.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if index < 0 || index >= len(j.results) || !j.results[index].done {
		return 0, nil, errs.Errorf("taskpool: task %d of job %d has no result", index, j.id)
	}
	s := j.results[index]
	return s.status, s.payload, nil
}

// Take waits up to timeout (negative: forever) for results not taken yet, then passes
// them to visit, which returns false to stop before the one it was given (that one stays
// for the next Take). Ordered, it takes results in task order, stopping at the first
// missing one; otherwise in the order they came in. Taken results are released. It
// returns how many were taken, ErrTimeout, or ErrExhausted once all were.
func (j *Job) Take(ordered bool, timeout time.Duration, visit func(index int, status Status, payload []byte) bool) (int, error) {
	p := j.pool
	p.mu.Lock()
	if ordered && !j.ordered {
		j.ordered, j.ready = true, nil
	}
	exhausted := func() bool { return j.length >= 0 && j.taken >= j.length }
	available := func() bool {
		if ordered {
			return j.next < len(j.results) && j.results[j.next].done
		}
		return len(j.ready) > 0
	}
	p.mu.Unlock()
	if !p.help(j, timeout, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return exhausted() || available()
	}) {
		return 0, ErrTimeout
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !available() && exhausted() {
		return 0, ErrExhausted
	}
	n := 0
	if ordered {
		for ; j.next < len(j.results) && j.results[j.next].done; j.next++ {
			s := &j.results[j.next]
			if !visit(j.next, s.status, s.payload) {
				break
			}
			s.payload = nil
			n++
		}
	} else {
		for len(j.ready) > 0 {
			i := j.ready[0]
			s := &j.results[i]
			if !visit(i, s.status, s.payload) {
				break
			}
			s.payload = nil
			j.ready = j.ready[1:]
			n++
		}
	}
	j.taken += n
	return n, nil
}

// Cancel withdraws the job if none of its tasks has been sent to a worker yet, and
// reports whether it did; a job with a task sent is left as it was.
func (j *Job) Cancel() bool {
	p := j.pool
	defer p.pokeHelpers() // a thread waiting for the job may sleep in the result queue
	p.mu.Lock()
	defer p.mu.Unlock()
	if j.dropped || j.completed > 0 {
		return false
	}
	for _, w := range p.workers {
		for _, t := range w.held {
			if t.job == j {
				return false
			}
		}
	}
	return j.dropLocked()
}

// Drop forgets the job: its tasks not yet sent are withdrawn, and results still to
// come are discarded. It returns whether no task of it had been sent (so none ran).
func (j *Job) Drop() bool {
	p := j.pool
	defer p.pokeHelpers() // a thread waiting for the job may sleep in the result queue
	p.mu.Lock()
	defer p.mu.Unlock()
	return j.dropLocked()
}

func (j *Job) dropLocked() bool {
	p := j.pool
	if j.dropped {
		return false
	}
	kept := make([]*task, 0, len(p.pending)-p.head)
	withdrawn := 0
	for _, t := range p.pending[p.head:] {
		if t.job == j {
			withdrawn++
			continue
		}
		kept = append(kept, t)
	}
	p.pending, p.head = kept, 0
	none := withdrawn == j.submitted
	j.dropped = true
	j.finished.Store(true)
	j.results, j.ready = nil, nil
	delete(p.jobs, j.id)
	j.changedLocked()
	p.maybeStopLocked()
	return none
}
