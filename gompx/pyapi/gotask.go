package pyapi

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/goserve"
	"github.com/gompx/gompx/pickle"
)

// What a GoTask's Wait reports: not finished yet, or how it ended, each with the pickle
// Python loads.
const (
	GoTaskPending = -1 // not finished within the wait
	GoTaskResult  = 1  // pickle of the result (or of the list of results of a batch)
	GoTaskError   = 2  // pickle of (function, kind, message, stack, index): the Go function failed
	GoTaskExited  = 3  // pickle of (message, pid, exitcode): the worker died during the call
	GoTaskClosed  = 4  // pickle of (message,): the pool was closed or terminated first
)

// GoTask is a call submitted to a goserve pool and, once finished, its outcome, held
// until Take: Python learns its size before it has a buffer for it.
type GoTask struct {
	*goserve.Task
	mu     sync.Mutex
	status int
	body   []byte
}

// Wait waits up to timeout (negative: forever) for the task, and returns GoTaskPending
// or its outcome's status and the size of its pickle.
func (g *GoTask) Wait(timeout time.Duration) (status, size int) {
	if !WaitDone(g.Done(), timeout) {
		return GoTaskPending, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.status == 0 {
		g.status, g.body = Outcome(g.Result())
	}
	return g.status, len(g.body)
}

// Take copies the finished task's pickle into dst, which must be its size.
func (g *GoTask) Take(dst []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.status == 0 || len(dst) != len(g.body) {
		return badInput("task not finished, or size %d is not %d", len(dst), len(g.body))
	}
	copy(dst, g.body)
	return nil
}

// Outcome is the status and the pickle Python loads for a finished task's result.
func Outcome(body []byte, err error) (int, []byte) {
	if err == nil {
		return GoTaskResult, body
	}
	var ge *goserve.Error
	var ee *goserve.ExitError
	var v pickle.Tuple
	status := GoTaskClosed
	switch {
	case errors.As(err, &ge):
		status, v = GoTaskError, pickle.Tuple{ge.Function, ge.Kind, ge.Message, ge.Stack, ge.Index}
	case errors.As(err, &ee):
		status, v = GoTaskExited, pickle.Tuple{strings.TrimPrefix(err.Error(), "gompx: "), ee.Pid, ee.Code}
	default:
		v = pickle.Tuple{strings.TrimPrefix(err.Error(), "gompx: ")}
	}
	out, merr := pickle.Marshal(v)
	if merr != nil { // strings and ints only
		panic(merr)
	}
	return status, out
}

// WaitDone waits up to timeout (0: not at all; negative: forever) for done to close.
func WaitDone(done <-chan struct{}, timeout time.Duration) bool {
	select {
	case <-done:
		return true
	default:
	}
	if timeout == 0 {
		return false
	}
	if timeout < 0 {
		<-done
		return true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// GoPoolStart is a goserve pool being started in the background: a start may take up
// to its timeout, and Python waits for it in slices on its main thread.
type GoPoolStart struct {
	done chan struct{}
	pool *goserve.Pool
	err  error
}

// StartGoPool begins starting the pool spec describes (see ParseGoPoolSpec).
func StartGoPool(spec []byte) (*GoPoolStart, error) {
	opts, err := ParseGoPoolSpec(spec)
	if err != nil {
		return nil, badInput("bad pool spec: %v", err)
	}
	s := &GoPoolStart{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.pool, s.err = goserve.NewPool(opts)
	}()
	return s, nil
}

// Wait waits up to timeout (negative: forever) for the start: the pool, or its error,
// once it ended; ok false while it goes on.
func (s *GoPoolStart) Wait(timeout time.Duration) (p *goserve.Pool, ok bool, err error) {
	if !WaitDone(s.done, timeout) {
		return nil, false, nil
	}
	return s.pool, true, s.err
}

// Abandon gives the start up: the pool is terminated as soon as it exists.
func (s *GoPoolStart) Abandon() {
	go func() {
		<-s.done
		if s.pool != nil {
			s.pool.Terminate()
		}
	}()
}
