package taskpool

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gompx/gompx/gompx/internal/qread"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/shm"
)

// readSpin is how long readers of the result queue and workers poll before sleeping.
const readSpin = 10 * time.Microsecond

// WorkerReadSpin is how long a worker should poll its task queue before sleeping
// (qread.Queue.SetReadSpin): see readSpin.
const WorkerReadSpin = readSpin

// Options configure New.
type Options struct {
	// Results is the queue workers put their results into; the pool reads it.
	Results *gompx.Queue
	// Slots is the number of worker slots (the pool's size); slots are 0 .. Slots-1.
	Slots int
	// MaxTasksPerWorker, if positive, is how many tasks one worker runs before it exits
	// (the worker counts them too); the pool never sends it more. Tasks taken back from
	// its queue unread (steal.go) do not count.
	MaxTasksPerWorker int
	// BreakOnDeath makes a worker's unplanned exit break the pool, as
	// concurrent.futures specifies: every unfinished task fails with StatusBroken and
	// Submit refuses new ones. Otherwise only the task the worker was running fails.
	BreakOnDeath bool
	// OnDemand starts workers as calls are submitted, up to Slots, as
	// concurrent.futures' executor does: the owner calls Reserve once per submitted call
	// and starts a worker in the slot it gets, if any. A worker that exits is replaced
	// (EventReplace) only while tasks wait for one. Otherwise the owner fills every slot
	// at once and every exit of a running pool's worker is replaced.
	OnDemand bool
}

// EventKind says what NextEvent reports.
type EventKind int

const (
	// EventReplace: the worker in Slot exited (Pid, Code) and a replacement is wanted.
	EventReplace EventKind = iota + 1
	// EventExited: the worker in Slot exited and no replacement is wanted.
	EventExited
	// EventStopped: the pool has no work and no workers left, or was terminated or
	// broken; no further events come.
	EventStopped
	// EventFinished: the job Job, made with notify=true, finished (Next only).
	EventFinished
)

// Event is something the pool's owner must act on.
type Event struct {
	Kind      EventKind
	Slot, Pid int
	Code      int
	Job       uint64 // EventFinished: the job's id
}

type poolState int

const (
	stateRunning    poolState = iota
	stateClosing              // no new jobs; workers stop once the work is done
	stateTerminated           // Terminate or Break: nothing more is dispatched
)

// Errors of the pool's calls.
var (
	// ErrNotRunning reports a job submitted after Close or Terminate (Python:
	// ValueError("Pool not running")).
	ErrNotRunning = errs.New("pool not running")
	// ErrBroken reports a job submitted to a broken pool.
	ErrBroken = errs.New("pool is broken")
	// ErrTimeout reports a wait that ran out of time: gompx.ErrTimeout, the core's one
	// timeout.
	ErrTimeout = gompx.ErrTimeout
	// ErrExhausted reports that every result of a job has been taken.
	ErrExhausted = errs.New("all results taken")
)

// Pool dispatches the tasks of jobs to registered workers. Its methods are safe for
// concurrent use.
type Pool struct {
	opts  Options
	board *shm.Segment

	mu           sync.Mutex
	state        poolState
	broken       string // why the pool broke, once it did
	workers      []*worker
	reserved     []bool // per slot: handed out by Reserve, no worker added yet
	idle         int    // OnDemand: answers of open workers no Reserve has claimed yet
	nextID       uint32
	jobs         map[uint64]*Job
	nextJob      uint64
	pending      []*task // not yet sent, in order; pending[head:] is live
	head         int
	avgTask      float64 // running average of a task's time on a worker, in ns
	failedStarts int     // workers in a row that died before starting a task
	scratch      []byte
	msgs         [][]byte
	stealBuf     []byte
	room         *signal // fired by dispatch when the pending list shrank
	roomWaiters  int
	stealArmed   bool // a stealTick is scheduled
	events       []Event
	stopped      bool // EventStopped queued
	finished     []uint64
	wake         *signal // events or finished changed

	collected chan struct{} // closed when the collector returns

	// Reading the result queue (collect.go): the token is held by its one reader.
	token    chan struct{}
	resume   chan struct{} // Free: the collector stops waiting for helpers
	helpers  atomic.Int32
	lastHelp atomic.Int64  // when a helper last left, Unix ns
	parked   atomic.Bool   // the collector waits for unhelped (see collect)
	unhelped chan struct{} // the last helper left while the collector was parked
	quit     atomic.Bool
	scratch2 []byte   // the reader's, under token
	batch    []result // the reader's, under token
}

// worker is one registered worker process.
type worker struct {
	id       uint32
	slot     int
	pid      int
	tasks    *gompx.Queue
	held     []*task // sent, result not yet in, in sequence order
	seq      uint64  // sequence number of the last task sent
	sent     int
	stopSent bool
	last     time.Time // when its last result (or first task) came in
}

// task is one unit of a job: its payload travels to one worker.
type task struct {
	job     *Job
	index   int
	payload []byte
	seq     uint64
	sent    time.Time
}

// New makes a pool and starts its collector. Register workers with AddWorker.
func New(opts Options) (*Pool, error) {
	if opts.Results == nil {
		return nil, errs.New("taskpool: Options.Results is required")
	}
	if opts.Slots < 1 {
		return nil, errs.Errorf("taskpool: %d slots: need at least 1", opts.Slots)
	}
	board, err := shm.Create("gompx-pool-board", int64(opts.Slots*SlotSize), false)
	if err != nil {
		return nil, errs.Errorf("taskpool: board: %w", err)
	}
	p := &Pool{
		opts:      opts,
		board:     board,
		jobs:      make(map[uint64]*Job),
		reserved:  make([]bool, opts.Slots),
		avgTask:   float64(time.Millisecond),
		wake:      newSignal(),
		room:      newSignal(),
		collected: make(chan struct{}),
		token:     make(chan struct{}, 1),
		resume:    make(chan struct{}, 1),
		unhelped:  make(chan struct{}, 1),
	}
	// Readers of the result queue poll it briefly before they sleep: long enough to
	// catch a result that is on its way, short enough not to hold a CPU the workers
	// need (measured on 2 CPUs: a 10 µs poll took a queue ping-pong from 47 µs to 9 µs,
	// the default 50 µs made it 79 µs).
	qread.Of(opts.Results).SetReadSpin(readSpin)
	go p.collect()
	return p, nil
}

// BoardFd is the board's descriptor, to pass to every worker.
func (p *Pool) BoardFd() int { return p.board.Fd() }

// Board is the board's memory in this process.
func (p *Pool) Board() []byte { return p.board.Bytes() }

// AddWorker registers a started worker in slot, reading its tasks from tasks. wait must
// block until the worker exits and return its exit code (the status, or -signum); a
// supervisor goroutine calls it once. Returns the worker's id.
func (p *Pool) AddWorker(slot, pid int, tasks *gompx.Queue, wait func() int) (uint32, error) {
	if slot < 0 || slot >= p.opts.Slots {
		return 0, errs.Errorf("taskpool: slot %d out of range 0..%d", slot, p.opts.Slots-1)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.workers {
		if w.slot == slot {
			return 0, errs.Errorf("taskpool: slot %d is taken by worker %d", slot, w.pid)
		}
	}
	MarkStarted(p.board.Bytes(), slot, 0)
	p.reserved[slot] = false
	p.nextID++
	w := &worker{id: p.nextID, slot: slot, pid: pid, tasks: tasks, last: time.Now()}
	p.workers = append(p.workers, w)
	go p.supervise(w.id, wait)
	if p.state == stateTerminated || (p.state == stateClosing && !p.workLeftLocked()) {
		p.sendStopLocked(w)
	}
	p.dispatchLocked()
	return w.id, nil
}

// supervise waits for one worker's exit and tells the collector, in order with the
// worker's results.
func (p *Pool) supervise(id uint32, wait func() int) {
	code := wait()
	msg := AppendResult(nil, Task{Index: uint64(int64(code)), Worker: id}, ctlExited, nil)
	// An error means the pool was freed: nobody is left to tell.
	_ = p.opts.Results.Send(gompx.KindBytes, -1, msg)
}

// NextEvent waits up to timeout (negative: forever) for an event; false if none came.
func (p *Pool) NextEvent(timeout time.Duration) (Event, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := p.waitLocked(p.wake, timeout, func() bool { return len(p.events) > 0 })
	if !ok {
		return Event{}, false
	}
	ev := p.events[0]
	p.events = p.events[1:]
	return ev, true
}

// WaitPending waits up to timeout (negative: forever) until fewer than limit tasks wait
// to be sent to a worker, and reports whether they do (a terminated pool counts as
// having room). Submitters of long task streams call it between batches, so that the
// tasks wait in their iterator rather than all in memory here.
func (p *Pool) WaitPending(limit int, timeout time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.roomWaiters++
	defer func() { p.roomWaiters-- }()
	return p.waitLocked(p.room, timeout, func() bool {
		return len(p.pending)-p.head < limit || p.state == stateTerminated
	})
}

// NextFinished waits up to timeout for a job made with notify=true to finish, and
// returns its id; false if none did.
func (p *Pool) NextFinished(timeout time.Duration) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := p.waitLocked(p.wake, timeout, func() bool { return len(p.finished) > 0 || p.stopped })
	if !ok || len(p.finished) == 0 {
		return 0, false
	}
	id := p.finished[0]
	p.finished = p.finished[1:]
	return id, true
}

// Next waits up to timeout (negative: forever) for what the pool's owner must act on: a
// job made with notify=true that finished (EventFinished) or a worker event, finished
// jobs first, so that EventStopped comes after every job that finished before it. An
// owner uses Next, or NextEvent and NextFinished, not both.
func (p *Pool) Next(timeout time.Duration) (Event, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := p.waitLocked(p.wake, timeout, func() bool { return len(p.finished) > 0 || len(p.events) > 0 })
	switch {
	case !ok:
		return Event{}, false
	case len(p.finished) > 0:
		id := p.finished[0]
		p.finished = p.finished[1:]
		return Event{Kind: EventFinished, Job: id}, true
	}
	ev := p.events[0]
	p.events = p.events[1:]
	return ev, true
}

// Reserve is called once per call submitted to an OnDemand pool, and says whether to
// start a worker for it and in which slot, as CPython's executor decides: the call reuses
// an idle worker if there is one, else it gets a new worker, up to Slots. A worker is
// idle, here, once it answered a task and no later call has reused it; a worker just
// started is not. A call that reuses one still gets a new worker if tasks wait that no
// open worker can take (an open worker may be sent more tasks: it was not told to stop
// and has not reached MaxTasksPerWorker). The slot stays reserved until AddWorker fills
// it or Unreserve frees it.
func (p *Pool) Reserve() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == stateTerminated {
		return -1, false
	}
	if p.idle > 0 {
		p.idle--
		if p.demandLocked() <= 0 {
			return -1, false
		}
	}
	slot := p.freeSlotLocked()
	if slot < 0 {
		return -1, false
	}
	p.reserved[slot] = true
	return slot, true
}

// Unreserve frees a slot Reserve returned, when its worker could not be started.
func (p *Pool) Unreserve(slot int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slot >= 0 && slot < len(p.reserved) {
		p.reserved[slot] = false
	}
}

// demandLocked is how many more workers the unfinished tasks could keep busy.
func (p *Pool) demandLocked() int {
	n := len(p.pending) - p.head
	for _, w := range p.workers {
		if p.openLocked(w) {
			n += len(w.held) - 1
		}
	}
	for _, r := range p.reserved {
		if r {
			n--
		}
	}
	return n
}

// openLocked reports whether w may be sent more tasks, now or once it answers.
func (p *Pool) openLocked(w *worker) bool {
	return !w.stopSent && (p.opts.MaxTasksPerWorker <= 0 || w.sent < p.opts.MaxTasksPerWorker)
}

// freeSlotLocked returns a slot with no registered worker and no reservation, or -1.
func (p *Pool) freeSlotLocked() int {
	used := make([]bool, p.opts.Slots)
	copy(used, p.reserved)
	for _, w := range p.workers {
		used[w.slot] = true
	}
	for slot, u := range used {
		if !u {
			return slot
		}
	}
	return -1
}

func (p *Pool) pushEventLocked(ev Event) {
	if p.stopped {
		return
	}
	p.events = append(p.events, ev)
	if ev.Kind == EventStopped {
		p.stopped = true
	}
	p.wake.fire()
}

// Close refuses new jobs; the workers stop once every job has finished.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == stateRunning {
		p.state = stateClosing
		p.maybeStopLocked()
	}
}

// Terminate fails every unfinished task with StatusTerminated and dispatches nothing
// more; the owner kills the workers. NextEvent reports EventStopped.
func (p *Pool) Terminate() {
	p.mu.Lock()
	p.endLocked(StatusTerminated, "the pool was terminated before this task finished")
	p.mu.Unlock()
	p.poke() // a helper asleep in the result queue looks at its job again
}

// Break fails every unfinished task with StatusBroken and reason, as a worker's death
// does with Options.BreakOnDeath; the owner kills the workers.
func (p *Pool) Break(reason string) {
	p.mu.Lock()
	p.breakLocked(reason)
	p.mu.Unlock()
	p.poke()
}

func (p *Pool) breakLocked(reason string) {
	if p.state != stateTerminated {
		p.broken = reason
	}
	p.endLocked(StatusBroken, reason)
}

// Broken returns why the pool broke, or "".
func (p *Pool) Broken() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.broken
}

func (p *Pool) endLocked(status Status, msg string) {
	if p.state == stateTerminated {
		return
	}
	p.state = stateTerminated
	for _, t := range p.pending[p.head:] {
		t.job.completeLocked(t.index, status, []byte(msg))
	}
	p.pending, p.head = nil, 0
	for _, w := range p.workers {
		for _, t := range w.held {
			t.job.completeLocked(t.index, status, []byte(msg))
		}
		w.held = nil
	}
	for _, j := range p.jobs {
		j.endLocked(status, msg)
	}
	p.room.fire()
	p.pushEventLocked(Event{Kind: EventStopped})
}

// Free stops the collector and releases the board. Call it once the workers have
// exited (or been killed); the pool is unusable afterwards.
func (p *Pool) Free() {
	p.Terminate()
	p.quit.Store(true)
	select { // a collector stepping aside for helpers returns at once
	case p.resume <- struct{}{}:
	default:
	}
	msg := AppendResult(nil, Task{}, ctlQuit, nil)
	if p.opts.Results.Send(gompx.KindBytes, -1, msg) == nil {
		<-p.collected
	}
	p.board.Close()
}

// Workers returns the number of registered workers that have not exited.
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.workers)
}

// workLeftLocked reports whether a job is unfinished.
func (p *Pool) workLeftLocked() bool {
	for _, j := range p.jobs {
		if !j.finishedLocked() {
			return true
		}
	}
	return false
}

// maybeStopLocked sends the stop message to every worker of a closing pool with no
// work left.
func (p *Pool) maybeStopLocked() {
	if p.state != stateClosing || p.workLeftLocked() {
		return
	}
	for _, w := range p.workers {
		p.sendStopLocked(w)
	}
	if len(p.workers) == 0 {
		p.pushEventLocked(Event{Kind: EventStopped})
	}
}

func (p *Pool) sendStopLocked(w *worker) {
	if w.stopSent {
		return
	}
	w.stopSent = true
	stop := AppendTask(nil, Task{Worker: w.id})
	// Unbounded queue: Send does not wait. An error means the queue was closed under
	// us; the worker is being killed anyway.
	_ = w.tasks.Send(gompx.KindBytes, 0, stop)
}

// signal wakes every goroutine waiting for a change; it is replaced after each fire.
type signal struct{ ch chan struct{} }

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) fire() {
	close(s.ch)
	s.ch = make(chan struct{})
}

// waitLocked waits, releasing p.mu meanwhile, until ready() holds or timeout passes
// (negative: no limit); it reports whether ready() holds.
func (p *Pool) waitLocked(s *signal, timeout time.Duration, ready func() bool) bool {
	if ready() {
		return true
	}
	if timeout == 0 {
		return false
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for !ready() {
		ch := s.ch
		p.mu.Unlock()
		select {
		case <-ch:
			p.mu.Lock()
		case <-expired:
			p.mu.Lock()
			return ready()
		}
	}
	return true
}
