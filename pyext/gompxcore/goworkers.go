package gompxcore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/goserve"
	"github.com/gompx/gompx/pickle"
)

// What GoTaskWait reports in the low 3 bits; the rest is the size of the pickle
// GoTaskTake copies out.
const (
	GoTaskPending = -1 // not finished within the wait
	GoTaskResult  = 1  // pickle of the result (or of the list of results of a batch)
	GoTaskError   = 2  // pickle of (function, kind, message, stack, index): the Go function failed
	GoTaskExited  = 3  // pickle of (message, pid, exitcode): the worker died during the call
	GoTaskClosed  = 4  // pickle of (message,): the pool was closed or terminated first
)

// goTask is a submitted call and, once finished, its outcome.
type goTask struct {
	t      *goserve.Task
	mu     sync.Mutex
	status int
	body   []byte
}

// goPoolStart is a pool whose workers are starting: GoPoolStartWait waits for it, in
// slices on Python's main thread, since a start may take up to its timeout.
type goPoolStart struct {
	done chan struct{}
	pool *goserve.Pool
	err  error
}

// GoPoolStart starts a pool of Go worker processes (programs that call goserve.Serve).
// The specLen bytes at specAddr are NUL-terminated fields: the program's path, its
// working directory ("" for ours), the number of workers, the start timeout in
// milliseconds, the number of arguments and each of them, the number of environment
// entries and each of them. Returns a handle for GoPoolStartWait.
func GoPoolStart(specAddr uintptr, specLen int) (h int64, err error) {
	defer recoverInto(&err)
	opts, err := parseGoPoolSpec(pyMemory(specAddr, specLen))
	if err != nil {
		return 0, newPyError("ValueError", "bad pool spec: %v", err)
	}
	s := &goPoolStart{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.pool, s.err = goserve.NewPool(opts)
	}()
	return handles.put(s), nil
}

// GoPoolStartWait waits up to timeoutMs (negative: forever) for a pool GoPoolStart began.
// Returns 0 while it is still starting, else the handle of the running pool (the start
// handle is then released); a failed start raises its error.
func GoPoolStartWait(h int64, timeoutMs int) (pool int64, err error) {
	defer recoverInto(&err)
	s, err := get[*goPoolStart](h)
	if err != nil {
		return 0, err
	}
	if !waitDone(s.done, timeoutMs) {
		return 0, nil
	}
	handles.drop(h)
	if s.err != nil {
		return 0, translate(s.err)
	}
	return handles.put(s.pool), nil
}

// GoPoolStartAbandon gives up on a start (Ctrl-C while waiting): the pool is terminated
// as soon as it exists.
func GoPoolStartAbandon(h int64) (ok bool, err error) {
	defer recoverInto(&err)
	s, err := get[*goPoolStart](h)
	if err != nil {
		return true, nil
	}
	handles.drop(h)
	go func() {
		<-s.done
		if s.pool != nil {
			s.pool.Terminate()
		}
	}()
	return true, nil
}

// parseGoPoolSpec reads the field list documented on GoPoolStart.
func parseGoPoolSpec(spec []byte) (goserve.Options, error) {
	fields := strings.Split(strings.TrimSuffix(string(spec), "\x00"), "\x00")
	var opts goserve.Options
	if len(fields) < 6 {
		return opts, errors.New("truncated")
	}
	opts.Path, opts.Dir = fields[0], fields[1]
	workers, err1 := strconv.Atoi(fields[2])
	timeoutMs, err2 := strconv.Atoi(fields[3])
	if err1 != nil || err2 != nil || workers < 1 || timeoutMs < 0 {
		return opts, fmt.Errorf("bad workers %q or timeout %q", fields[2], fields[3])
	}
	opts.Workers, opts.StartTimeout = workers, time.Duration(timeoutMs)*time.Millisecond
	rest := fields[4:]
	list := func() ([]string, error) {
		n, err := strconv.Atoi(rest[0])
		if err != nil || n < 0 || n > len(rest)-1 {
			return nil, fmt.Errorf("bad count %q", rest[0])
		}
		out := rest[1 : 1+n : 1+n]
		rest = rest[1+n:]
		return out, nil
	}
	var err error
	if opts.Args, err = list(); err != nil {
		return opts, err
	}
	if len(rest) == 0 {
		return opts, errors.New("truncated")
	}
	if opts.Env, err = list(); err != nil {
		return opts, err
	}
	if len(rest) != 0 {
		return opts, fmt.Errorf("%d unexpected trailing fields", len(rest))
	}
	return opts, nil
}

// GoPoolFunctions returns the names the workers serve, one per line.
func GoPoolFunctions(h int64) (names string, err error) {
	defer recoverInto(&err)
	p, err := get[*goserve.Pool](h)
	if err != nil {
		return "", err
	}
	return strings.Join(p.Functions(), "\n"), nil
}

// GoPoolPids returns the process ids of the live workers, comma-separated.
func GoPoolPids(h int64) (pids string, err error) {
	defer recoverInto(&err)
	p, err := get[*goserve.Pool](h)
	if err != nil {
		return "", err
	}
	return joinInts(p.Pids()), nil
}

// GoPoolSubmit queues a call of the function name. The n bytes at addr are the pickle of
// the argument tuple or, with batch, of a list of argument tuples (one call each); they
// are copied. Returns a task handle for GoTaskWait.
func GoPoolSubmit(h int64, name string, batch bool, addr uintptr, n int) (th int64, err error) {
	defer recoverInto(&err)
	p, err := get[*goserve.Pool](h)
	if err != nil {
		return 0, err
	}
	args := make([]byte, n)
	copy(args, pyMemory(addr, n))
	t, err := p.Submit(name, batch, args)
	if errors.Is(err, goserve.ErrClosed) {
		return 0, newPyError("ValueError", "Pool not running")
	}
	if err != nil {
		return 0, translate(err)
	}
	return handles.put(&goTask{t: t}), nil
}

// GoTaskWait waits up to timeoutMs (negative: forever) for the task. Returns
// GoTaskPending, or status | size<<3 where status is one of GoTaskResult ... GoTaskClosed.
func GoTaskWait(th int64, timeoutMs int) (packed int64, err error) {
	defer recoverInto(&err)
	gt, err := get[*goTask](th)
	if err != nil {
		return 0, err
	}
	if !waitDone(gt.t.Done(), timeoutMs) {
		return GoTaskPending, nil
	}
	gt.mu.Lock()
	defer gt.mu.Unlock()
	if gt.status == 0 {
		gt.status, gt.body = outcome(gt.t)
	}
	return int64(gt.status) | int64(len(gt.body))<<3, nil
}

func waitDone(done <-chan struct{}, timeoutMs int) bool {
	select {
	case <-done:
		return true
	default:
	}
	if timeoutMs == 0 {
		return false
	}
	if timeoutMs < 0 {
		<-done
		return true
	}
	timer := time.NewTimer(millis(timeoutMs))
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// outcome turns a finished task into a status and the pickle Python loads.
func outcome(t *goserve.Task) (int, []byte) {
	body, err := t.Result()
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
		status, v = GoTaskExited, pickle.Tuple{pyText(err), ee.Pid, ee.Code}
	default:
		v = pickle.Tuple{pyText(err)}
	}
	out, merr := pickle.Marshal(v)
	if merr != nil { // strings and ints only
		panic(merr)
	}
	return status, out
}

// GoTaskTake copies the finished task's pickle (n bytes, as GoTaskWait reported) to addr
// and releases the task.
func GoTaskTake(th int64, addr uintptr, n int) (ok bool, err error) {
	defer recoverInto(&err)
	gt, err := get[*goTask](th)
	if err != nil {
		return false, err
	}
	gt.mu.Lock()
	defer gt.mu.Unlock()
	if gt.status == 0 || n != len(gt.body) {
		return false, newPyError("ValueError", "task not finished, or size %d is not %d", n, len(gt.body))
	}
	copy(pyMemory(addr, n), gt.body)
	handles.drop(th)
	return true, nil
}

// GoTaskCancel gives up on a task and releases it: a queued one never runs, a running
// one has its worker killed (a new one takes its place).
func GoTaskCancel(th int64) (ok bool, err error) {
	defer recoverInto(&err)
	gt, err := get[*goTask](th)
	if err != nil {
		return true, nil
	}
	gt.t.Cancel()
	handles.drop(th)
	return true, nil
}

// GoTaskRelease forgets a task whose outcome nobody will read; it still runs.
func GoTaskRelease(th int64) (ok bool, err error) {
	defer recoverInto(&err)
	handles.drop(th)
	return true, nil
}

// GoPoolClose stops taking calls; queued and running ones finish, then the workers end.
// GoPoolJoin waits for that.
func GoPoolClose(h int64) (ok bool, err error) {
	defer recoverInto(&err)
	p, err := get[*goserve.Pool](h)
	if err != nil {
		return false, err
	}
	p.BeginClose()
	return true, nil
}

// GoPoolTerminate kills the workers; queued and running calls fail. GoPoolJoin waits
// for that.
func GoPoolTerminate(h int64) (ok bool, err error) {
	defer recoverInto(&err)
	p, err := get[*goserve.Pool](h)
	if err != nil {
		return false, err
	}
	p.BeginTerminate()
	return true, nil
}

// GoPoolJoin waits up to timeoutMs (negative: forever) for every worker to exit after
// GoPoolClose or GoPoolTerminate, and reports whether they have.
func GoPoolJoin(h int64, timeoutMs int) (done bool, err error) {
	defer recoverInto(&err)
	p, err := get[*goserve.Pool](h)
	if err != nil {
		return false, err
	}
	return waitDone(p.Done(), timeoutMs), nil
}

// GoPoolRelease terminates the pool (if still running) and releases its handle; the
// workers are reaped in the background.
func GoPoolRelease(h int64) (ok bool, err error) {
	defer recoverInto(&err)
	p, err := get[*goserve.Pool](h)
	if err != nil {
		return true, nil
	}
	p.BeginTerminate()
	handles.drop(h)
	return true, nil
}
