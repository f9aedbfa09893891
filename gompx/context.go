package gompx

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/errs"
)

// Blocking calls take a context.Context (LockContext, AcquireContext, WaitContext,
// AcceptContext, PollContext, JoinContext, Queue.Get and Put): a context's deadline ends
// the wait with an error wrapping ErrTimeout (which errors.Is also matches against
// context.DeadlineExceeded), its cancellation with one wrapping context.Canceled. A
// cancellation wakes the wait at once: a futex wake on the word a primitive sleeps on,
// an eventfd in the set a poll waits on. Only a Queue's waits (the ring's take a
// duration) look at their context every 20 ms. The methods that take a time.Duration
// instead (negative: forever) are what the Python facade calls.

// ctxEnd is why ctx ended a wait, or nil if it has not: its deadline (which may have
// passed a moment before its timer cancels it) is ErrTimeout.
func ctxEnd(ctx context.Context) error { return errs.Context(ctx) }

// ctxTimeout is what is left of ctx's deadline, or -1 (forever) without one.
func ctxTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), 0)
	}
	return -1
}

// ctxPoll waits with ppoll(2) until one of fds is ready or ctx is done. It returns how
// many of fds are ready, or the error ctxEnd gives once ctx is done first. A context
// that can be cancelled adds an eventfd to the set, written when it is.
func ctxPoll(ctx context.Context, fds []unix.PollFd) (int, error) {
	if err := ctxEnd(ctx); err != nil {
		return 0, err
	}
	if ctx.Done() == nil {
		n, err := fdPoll(fds, ctxTimeout(ctx))
		if err == nil && n == 0 {
			err = ErrTimeout
		}
		return n, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return 0, os.NewSyscallError("eventfd", err)
	}
	woken := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		close(woken)
	})
	all := make([]unix.PollFd, len(fds)+1)
	copy(all, fds)
	all[len(fds)] = unix.PollFd{Fd: int32(efd), Events: unix.POLLIN}
	n, err := fdPoll(all, ctxTimeout(ctx))
	if !stop() {
		<-woken // the write may be under way: the fd stays open until it is done
	}
	unix.Close(efd)
	copy(fds, all)
	if all[len(fds)].Revents != 0 {
		n--
	}
	if err == nil && n == 0 {
		if err = ctxEnd(ctx); err == nil {
			err = ErrTimeout
		}
	}
	return n, err
}
