package workpool

import (
	"context"
	"sync"
)

type taskState int

const (
	taskQueued taskState = iota
	taskRunning
	taskFinished
)

// Task is one submitted request.
type Task struct {
	req  []byte
	done chan struct{}

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
// returns ctx's error at once.
func (t *Task) Wait(ctx context.Context) ([]byte, error) {
	select {
	case <-t.done:
	case <-ctx.Done():
		t.Cancel(context.Cause(ctx))
	}
	return t.Result()
}

// Cancel finishes the task with err unless it has finished already. A queued
// task never runs; a running one has its worker killed (and replaced).
func (t *Task) Cancel(err error) {
	t.mu.Lock()
	if t.state == taskFinished {
		t.mu.Unlock()
		return
	}
	w := t.w
	if w != nil {
		// Marked before the task counts as finished, so the slot sees it as
		// soon as it sees the task finished, and sends this worker nothing more.
		w.doomed.Store(true)
	}
	t.state, t.w, t.err = taskFinished, nil, err
	close(t.done)
	t.mu.Unlock()
	if w != nil {
		w.kill()
	}
}

// begin marks the task as running on w, unless it was canceled.
func (t *Task) begin(w *worker) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != taskQueued {
		return false
	}
	t.state, t.w = taskRunning, w
	return true
}

// unbegin returns a task that never reached its worker to the queued state.
func (t *Task) unbegin() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != taskRunning {
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
