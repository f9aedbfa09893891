package gompxcore

import (
	"bytes"
	"errors"
	"strings"

	"github.com/gompx/gompx/gompx/pyapi"

	"github.com/gompx/gompx/gompx/goserve"
)

// GoPoolStart starts a pool of Go worker processes (programs that call goserve.Serve).
// The specLen bytes at specAddr are NUL-terminated fields (pyapi.ParseGoPoolSpec): the
// program's path, its working directory ("" for ours), the number of workers, the start
// timeout in milliseconds, the number of arguments and each of them, the number of
// environment entries and each of them. Returns a handle for GoPoolStartWait.
func GoPoolStart(specAddr uintptr, specLen int) (h int64, err error) {
	defer recoverInto(&err)
	return put(pyapi.StartGoPool(pyMemory(specAddr, specLen)))
}

// GoPoolStartWait waits up to timeoutMs (negative: forever) for a pool GoPoolStart began.
// Returns 0 while it is still starting, else the handle of the running pool (the start
// handle is then released); a failed start raises its error.
func GoPoolStartWait(h int64, timeoutMs int) (pool int64, err error) {
	return with(h, func(s *pyapi.GoPoolStart) (int64, error) {
		p, ok, err := s.Wait(millis(timeoutMs))
		if !ok {
			return 0, nil
		}
		handles.drop(h)
		return put(p, err)
	})
}

// GoPoolStartAbandon gives up on a start (Ctrl-C while waiting): the pool is terminated
// as soon as it exists.
func GoPoolStartAbandon(h int64) (ok bool, err error) {
	return withOr(h, true, func(s *pyapi.GoPoolStart) (bool, error) {
		handles.drop(h)
		s.Abandon()
		return true, nil
	})
}

// GoPoolFunctions returns the names the workers serve, one per line.
func GoPoolFunctions(h int64) (names string, err error) {
	return with(h, func(p *goserve.Pool) (names string, err error) { return strings.Join(p.Functions(), "\n"), nil })
}

// GoPoolPids returns the process ids of the live workers, comma-separated.
func GoPoolPids(h int64) (pids string, err error) {
	return with(h, func(p *goserve.Pool) (pids string, err error) { return pyapi.JoinInts(p.Pids()), nil })
}

// GoPoolSubmit queues a call of the function name. The n bytes at addr are the pickle of
// the argument tuple or, with batch, of a list of argument tuples (one call each); they
// are copied. Returns a task handle for GoTaskWait.
func GoPoolSubmit(h int64, name string, batch bool, addr uintptr, n int) (th int64, err error) {
	return with(h, func(p *goserve.Pool) (int64, error) {
		t, err := p.Submit(name, batch, bytes.Clone(pyMemory(addr, n)))
		if errors.Is(err, goserve.ErrClosed) {
			return 0, newPyError(ErrKindValueError, "Pool not running")
		}
		return put(&pyapi.GoTask{Task: t}, err)
	})
}

// GoTaskWait waits up to timeoutMs (negative: forever) for the task. Returns
// pyapi.GoTaskPending, or status | size<<3 where status is one of pyapi.GoTaskResult ...
// pyapi.GoTaskClosed.
func GoTaskWait(th int64, timeoutMs int) (packed int64, err error) {
	return with(th, func(gt *pyapi.GoTask) (int64, error) {
		status, size := gt.Wait(millis(timeoutMs))
		return int64(status) | int64(size)<<3, nil
	})
}

// GoTaskTake copies the finished task's pickle (n bytes, as GoTaskWait reported) to addr
// and releases the task.
func GoTaskTake(th int64, addr uintptr, n int) (ok bool, err error) {
	return with(th, func(gt *pyapi.GoTask) (bool, error) {
		if err := gt.Take(pyMemory(addr, n)); err != nil {
			return false, err
		}
		handles.drop(th)
		return true, nil
	})
}

// GoTaskCancel gives up on a task and releases it: a queued one never runs, a running
// one has its worker killed (a new one takes its place).
func GoTaskCancel(th int64) (ok bool, err error) {
	return withOr(th, true, func(gt *pyapi.GoTask) (ok bool, err error) {
		gt.Cancel()
		handles.drop(th)
		return true, nil
	})
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
	return do(h, (*goserve.Pool).BeginClose)
}

// GoPoolTerminate kills the workers; queued and running calls fail. GoPoolJoin waits
// for that.
func GoPoolTerminate(h int64) (ok bool, err error) {
	return do(h, (*goserve.Pool).BeginTerminate)
}

// GoPoolJoin waits up to timeoutMs (negative: forever) for every worker to exit after
// GoPoolClose or GoPoolTerminate, and reports whether they have.
func GoPoolJoin(h int64, timeoutMs int) (done bool, err error) {
	return with(h, func(p *goserve.Pool) (done bool, err error) { return pyapi.WaitDone(p.Done(), millis(timeoutMs)), nil })
}

// GoPoolRelease terminates the pool (if still running) and releases its handle; the
// workers are reaped in the background.
func GoPoolRelease(h int64) (ok bool, err error) {
	return withOr(h, true, func(p *goserve.Pool) (ok bool, err error) {
		p.BeginTerminate()
		handles.drop(h)
		return true, nil
	})
}
