package gompxcore

import (
	"bytes"
	"errors"
	"math"
	"syscall"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/pyapi"
	"golang.org/x/sys/unix"
)

// StillRunning is what ProcessPoll and ProcessWait return while the child has not exited.
const StillRunning = math.MinInt32

// ProcessStart starts a child. The specLen bytes at specAddr describe it as NUL-terminated
// fields: path, working directory ("" for the parent's), kill-with-parent ("1"/"0"), the
// number of passed descriptors and each of them, the number of arguments and each of them,
// the number of environment entries and each of them. The bootLen bytes at bootAddr
// reach the child on its fd 3; the passed descriptors become its fds 4, 5, ...
// Returns a process handle.
func ProcessStart(specAddr uintptr, specLen int, bootAddr uintptr, bootLen int) (h int64, err error) {
	defer recoverInto(&err)
	cmd, err := pyapi.ParseProcessSpec(pyMemory(specAddr, specLen))
	if err != nil {
		return 0, newPyError(ErrKindValueError, "bad process spec: %v", err)
	}
	// Copied: the child reads it after this call returns and Python frees its buffer.
	cmd.Bootstrap = bytes.Clone(pyMemory(bootAddr, bootLen))
	return put(gompx.Start(cmd))
}

// ProcessPid returns the child's process id.
func ProcessPid(h int64) (pid int, err error) {
	return read(h, (*gompx.Process).Pid)
}

// ProcessSentinel returns a descriptor that becomes readable when the child exits.
func ProcessSentinel(h int64) (fd int, err error) {
	return read(h, (*gompx.Process).Sentinel)
}

// ProcessWait waits up to timeoutMs (negative: forever) and returns the exit code (the
// status, or -signum), or StillRunning (also when a signal ended the wait early on the
// main thread: wait again for the rest).
func ProcessWait(h int64, timeoutMs int) (code int, err error) {
	return with(h, func(p *gompx.Process) (code int, err error) {
		if timeoutMs == 0 {
			code, exited, err := p.Poll()
			if err != nil {
				return 0, translate(err)
			}
			if !exited {
				return StillRunning, nil
			}
			return code, nil
		}
		code, err = p.Wait(millis(timeoutMs))
		if errors.Is(err, gompx.ErrWaitTimeout) || interrupted(err) {
			return StillRunning, nil
		}
		return code, translate(err)
	})
}

// ProcessSignal sends signal sig to the child; a child that already exited is left alone.
func ProcessSignal(h int64, sig int) (ok bool, err error) {
	return with(h, func(p *gompx.Process) (ok bool, err error) {
		return true, translate(p.Signal(syscall.Signal(sig)))
	})
}

// ProcessClose releases the process handle and its sentinel. The child must have exited.
func ProcessClose(h int64) (ok bool, err error) {
	return withOr(h, true, func(p *gompx.Process) (ok bool, err error) {
		if err := p.Close(); err != nil {
			return false, newPyError(ErrKindValueError, "Cannot close a process while it is still running. You should first call join() or terminate().")
		}
		handles.drop(h)
		return true, nil
	})
}

// PidfdOpen returns a descriptor that becomes readable when process pid exits (used for
// parent_process().sentinel). The caller closes it.
func PidfdOpen(pid int) (fd int, err error) {
	defer recoverInto(&err)
	fd, err = unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, translate(err)
	}
	return fd, nil
}

// WatchParent makes this child watch its parent through pidfd, a pidfd of the parent
// that the parent passed down (spawn.py's _main calls it before anything of the user's
// runs). Once the parent has exited, the watch sees it at once; graceMs milliseconds
// later it kills this process (SIGKILL) if it is still running. From this call on the
// kernel no longer kills the child the instant its parent dies (PR_SET_PDEATHSIG is
// cleared). Call it once, from the main thread: it raises RuntimeError elsewhere, or if
// the process already watches its parent.
func WatchParent(pidfd int, graceMs int) (ok bool, err error) {
	defer recoverInto(&err)
	err = pyapi.WatchParent(pidfd, time.Duration(graceMs)*time.Millisecond)
	if errors.Is(err, gompx.ErrNotMainThread) || errors.Is(err, pyapi.ErrWatching) {
		return false, newPyError(ErrKindRuntimeError, "%v", err)
	}
	return err == nil, translate(err)
}

// OrphanGraceMs returns, in milliseconds, the grace period that value names: the text of
// the GOMPX_ORPHAN_GRACE environment variable, a number of seconds, 0 or more; "" means
// the default (5 s). Other text raises ValueError.
func OrphanGraceMs(value string) (ms int, err error) {
	defer recoverInto(&err)
	grace, err := gompx.ParseOrphanGrace(value)
	if err != nil {
		return 0, newPyError(ErrKindValueError, "%v", err)
	}
	return int(grace / time.Millisecond), nil
}
