package gompx

import (
	"context"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"golang.org/x/sys/unix"
)

// Wait blocks until at least one of fds is readable or hung up, or timeout expires
// (timeout < 0: forever; 0: just look), like multiprocessing.connection.wait over raw
// file descriptors. It returns the ready fds in the order given; an expired timeout
// gives an empty list, not an error. A closed or invalid fd is an error wrapping EBADF.
// On an embedder's main thread a signal ends the wait with an error wrapping
// ErrInterrupted (see EnableInterrupts). It is WaitContext for the Python facade.
func Wait(fds []int, timeout time.Duration) ([]int, error) {
	return waitFds(fds, func(p []unix.PollFd) (int, error) { return fdPollIntr(p, timeout) })
}

// WaitContext blocks until at least one of fds is readable or hung up and returns the
// ready fds in the order given, or until ctx is done: then an error wrapping ErrTimeout
// (ctx's deadline) or context.Canceled. A closed or invalid fd is an error wrapping
// EBADF.
func WaitContext(ctx context.Context, fds []int) ([]int, error) {
	return waitFds(fds, func(p []unix.PollFd) (int, error) { return ctxPoll(ctx, p) })
}

func waitFds(fds []int, poll func([]unix.PollFd) (int, error)) ([]int, error) {
	p, err := pollSet(fds)
	if err != nil {
		return nil, err
	}
	n, err := poll(p)
	if err != nil {
		return nil, errs.Errorf("wait: %w", err)
	}
	return readyOf(fds, p, n)
}

func pollSet(fds []int) ([]unix.PollFd, error) {
	p := make([]unix.PollFd, len(fds))
	for i, fd := range fds {
		if fd < 0 {
			return nil, errs.Errorf("wait: fd %d: %w", fd, unix.EBADF)
		}
		p[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	return p, nil
}

// readyOf lists the fds whose poll entry reports an event, n of them.
func readyOf(fds []int, p []unix.PollFd, n int) ([]int, error) {
	ready := make([]int, 0, n)
	for i, q := range p {
		if q.Revents&unix.POLLNVAL != 0 {
			return nil, errs.Errorf("wait: fd %d: %w", fds[i], unix.EBADF)
		}
		if q.Revents != 0 {
			ready = append(ready, fds[i])
		}
	}
	return ready, nil
}
