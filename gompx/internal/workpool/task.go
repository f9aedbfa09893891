package workpool

import (
	"context"
	"sync"

	"github.com/gompx/gompx/gompx/internal/errs"
)

type taskState int

const (
	taskQueued  taskState = iota
	taskSent              // in the worker's socket behind the one it runs
	taskRunning           // the worker's current request
	taskFinished
)

// Task is one submitted request.
type Task struct {
	req  []byte
	done chan struct{}
	// retireKey and retireAfter: the worker that runs this task exits (and is
	// replaced) once it has run retireAfter tasks of retireKey (0: never).
	retireKey   string
	retireAfter int

	mu    sync.Mutex
	state taskState
	w     *worker // while running
	reply []byte
	err   error
}

// Done is closed when the task has finished: replied, failed or canceled.
func (t *Task) Done() <-chan struct{} { return t.done }

// Result returns the reply frame, or why there is none. Call it after Done
// is closed.
func (t *Task) Result() ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reply, t.err
}

// Wait waits for the task to finish, or cancels it when ctx is done and
// returns ctx's error at once (wrapping ErrTimeout too when its deadline
// passed).
func (t *Task) Wait(ctx context.Context) ([]byte, error) {
	select {
	case <-t.done:
	case <-ctx.Done():
		t.Cancel(errs.Deadline(context.Cause(ctx)))
	}
	return t.Result()
}

// Cancel finishes the task with err unless it has finished already. A queued
// task never runs; a running one (or one sent to a worker) has its worker
// killed and replaced.
func (t *Task) Cancel(err error) {
	t.mu.Lock()
	if t.state == taskFinished {
		t.mu.Unlock()
		return
	}
	var w *worker
	if t.state == taskRunning {
		// Marked before the task counts as finished, so the slot sees it as
		// soon as it sees the task finished, and sends this worker nothing more.
		// A task only sent is not killed here: the slot kills the worker when
		// it comes up (promote), before the worker has done much of it.
		w = t.w
		w.doomed.Store(true)
	}
	t.state, t.w, t.err = taskFinished, nil, err
	close(t.done)
	t.mu.Unlock()
	if w != nil {
		w.kill()
	}
}

// begin marks the task as sent to w, and as running if w has no other,
// unless it was canceled.
func (t *Task) begin(w *worker, running bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != taskQueued {
		return false
	}
	t.state, t.w = taskSent, w
	if running {
		t.state = taskRunning
	}
	return true
}

// promote marks a sent task as running once the requests before it are
// answered; false if it was canceled meanwhile.
func (t *Task) promote() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != taskSent {
		return false
	}
	t.state = taskRunning
	return true
}

// unbegin returns a task that never ran to the queued state.
func (t *Task) unbegin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != taskRunning && t.state != taskSent {
		return false
	}
	t.state, t.w = taskQueued, nil
	return true
}

// finish records the outcome once; it reports whether this call did.
func (t *Task) finish(reply []byte, err error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == taskFinished {
		return false
	}
	t.state, t.w, t.reply, t.err = taskFinished, nil, reply, err
	close(t.done)
	return true
}
