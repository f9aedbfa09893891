package workpool

import (
	"context"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/workproto"
)

// WorkerFd is the descriptor number of the socket in every worker.
const WorkerFd = 3

// Options configure a Pool.
type Options struct {
	// Kind names a worker in errors: "python worker", "go worker".
	Kind string
	// Workers is the number of worker processes, at least 1.
	Workers int
	// Command returns the command that starts one worker. Its Files and
	// Bootstrap must be empty: the pool passes the socket as fd 3.
	Command func() (gompx.Cmd, error)
	// StartTimeout bounds the wait for a worker's hello; 0 means 30 s.
	StartTimeout time.Duration
	// StopGrace is how long Close lets a worker exit after end of stream
	// before killing it; 0 means 5 s.
	StopGrace time.Duration
	// Pipeline is how many requests a busy worker may have in its socket
	// at once; 0 means 2. 1 sends the next request only after the reply.
	Pipeline int
}

var (
	// ErrClosed is returned by Submit after Close or Terminate.
	ErrClosed = errs.New("worker pool is closed")
	// ErrTerminated fails the tasks that were queued or running when
	// Terminate was called.
	ErrTerminated = errs.New("worker pool was terminated")
)

// Pool dispatches requests to worker processes. Its methods may be called
// from many goroutines at once.
type Pool struct {
	opts     Options
	signal   chan struct{} // one token per queued task, up to Workers
	stop     chan struct{} // closed by Close or Terminate
	done     chan struct{} // closed once every slot has ended
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu         sync.Mutex
	queue      []*Task
	closing    bool
	terminated bool
	workers    map[*worker]struct{}
	slots      int   // slots that have not ended
	idle       int   // slots waiting for a task
	broken     error // why the last slot ended while tasks could still come
	hello      workproto.Hello
}

// Start starts opts.Workers workers and returns once each has said hello. If
// any cannot start, the others are killed and the first error is returned.
func Start(opts Options) (*Pool, error) {
	if opts.Workers < 1 {
		return nil, errs.Errorf("start %ss: need at least one worker, got %d", opts.Kind, opts.Workers)
	}
	if opts.Command == nil {
		return nil, errs.Errorf("start %ss: no command", opts.Kind)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 5 * time.Second
	}
	if opts.Pipeline <= 0 {
		opts.Pipeline = 2
	}
	p := &Pool{
		opts:    opts,
		signal:  make(chan struct{}, opts.Workers),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		workers: make(map[*worker]struct{}),
		slots:   opts.Workers,
	}
	first := make(chan error, opts.Workers)
	p.wg.Add(opts.Workers)
	for range opts.Workers {
		go p.runSlot(first)
	}
	go func() {
		p.wg.Wait()
		close(p.done)
	}()
	var err error
	for range opts.Workers {
		if e := <-first; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		p.Terminate()
		<-p.done
		return nil, err
	}
	return p, nil
}

// Hello returns what the first worker announced.
func (p *Pool) Hello() workproto.Hello {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hello
}

// Pids returns the process ids of the live workers.
func (p *Pool) Pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, 0, len(p.workers))
	for w := range p.workers {
		pids = append(pids, w.pid)
	}
	return pids
}

// Submit queues the request frame req. The pool keeps req until the task
// ends: do not modify it.
func (p *Pool) Submit(req []byte) (*Task, error) {
	return p.SubmitRetire(req, "", 0)
}

// SubmitRetire is Submit for a task of a caller that wants each worker process to
// run at most after of its tasks (multiprocessing's maxtasksperchild): the worker
// that runs the after-th task of key retires once it has answered it, and a fresh
// one takes its slot. Tasks of other keys (or none) do not count toward it, and
// after <= 0 is Submit.
func (p *Pool) SubmitRetire(req []byte, key string, after int) (*Task, error) {
	t := &Task{req: req, done: make(chan struct{}), retireKey: key, retireAfter: max(after, 0)}
	p.mu.Lock()
	switch {
	case p.closing:
		p.mu.Unlock()
		return nil, ErrClosed
	case p.broken != nil:
		p.mu.Unlock()
		return nil, p.broken
	}
	p.queue = append(p.queue, t)
	p.mu.Unlock()
	select {
	case p.signal <- struct{}{}:
	default: // Workers tokens are pending already: enough slots will look
	}
	return t, nil
}

// Do submits req and waits for its reply; see Task.Wait.
func (p *Pool) Do(ctx context.Context, req []byte) ([]byte, error) {
	t, err := p.Submit(req)
	if err != nil {
		return nil, err
	}
	return t.Wait(ctx)
}

// Close stops accepting tasks, lets the queued and running ones finish, ends
// every worker (end of stream, then SIGKILL after StopGrace) and returns when
// all have exited. It is idempotent; Terminate during Close makes it return
// sooner.
func (p *Pool) Close() error {
	p.BeginClose()
	<-p.done
	return nil
}

// BeginClose is Close without the wait: see Done.
func (p *Pool) BeginClose() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.stopOnce.Do(func() { close(p.stop) })
}

// Terminate fails every queued and running task with ErrTerminated, kills
// every worker and returns when all have exited. It is idempotent.
func (p *Pool) Terminate() error {
	p.BeginTerminate()
	<-p.done
	return nil
}

// BeginTerminate is Terminate without the wait: see Done.
func (p *Pool) BeginTerminate() {
	p.mu.Lock()
	p.closing, p.terminated = true, true
	queued := p.queue
	p.queue = nil
	live := make([]*worker, 0, len(p.workers))
	for w := range p.workers {
		live = append(live, w)
	}
	p.mu.Unlock()
	p.stopOnce.Do(func() { close(p.stop) })
	for _, t := range queued {
		t.finish(nil, ErrTerminated)
	}
	for _, w := range live {
		w.kill()
	}
}

// Done is closed once every worker has exited after Close or Terminate.
func (p *Pool) Done() <-chan struct{} { return p.done }

// enqueueFront puts back a task that never reached a worker.
func (p *Pool) enqueueFront(t *Task) {
	p.mu.Lock()
	if p.terminated {
		p.mu.Unlock()
		t.finish(nil, ErrTerminated)
		return
	}
	p.queue = append([]*Task{t}, p.queue...)
	p.mu.Unlock()
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// failQueued fails every queued task with err.
func (p *Pool) failQueued(err error) {
	p.mu.Lock()
	queued := p.queue
	p.queue = nil
	p.mu.Unlock()
	for _, t := range queued {
		t.finish(nil, err)
	}
}
