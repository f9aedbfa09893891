//go:build linux

package gompx

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/pidfd"
	"golang.org/x/sys/unix"
)

// Poll reports, without blocking, whether the child has exited, and if so
// its exit code: the status for a normal exit, -signum if a signal killed
// it. The first Poll that sees the exit reaps the child.
func (p *Process) Poll() (exitCode int, exited bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pollLocked()
}

// Wait waits for the child to exit, for at most timeout (negative: no
// limit), and returns its exit code as Poll does. If the timeout passes
// first it returns ErrWaitTimeout and the child keeps running. Wait blocks
// in poll(2) on the pidfd without holding the Process's lock, so Kill,
// Poll and other Waits proceed meanwhile.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		code, exited, fd, err := p.pollOrHold()
		if err != nil || exited {
			return code, err
		}
		left := time.Duration(-1)
		if timeout >= 0 {
			if left = time.Until(deadline); left <= 0 {
				p.release()
				return 0, ErrWaitTimeout
			}
		}
		_, err = pidfd.PollIn(fd, left)
		p.release()
		if err != nil {
			return 0, errs.Errorf("wait for process %d: %w", p.pid, err)
		}
	}
}

// WaitContext waits for the child to exit until ctx is done, and returns its exit code
// as Poll does. When ctx ends the wait first the error wraps ErrWaitTimeout (its
// deadline; ErrTimeout too) or context.Canceled, and the child keeps running.
func (p *Process) WaitContext(ctx context.Context) (int, error) {
	for {
		code, exited, fd, err := p.pollOrHold()
		if err != nil || exited {
			return code, err
		}
		_, err = ctxPoll(ctx, []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}})
		p.release()
		switch {
		case errors.Is(err, ErrTimeout):
			return 0, ErrWaitTimeout
		case err != nil:
			return 0, errs.Errorf("wait for process %d: %w", p.pid, err)
		}
	}
}

// Signal sends sig to the child through its pidfd (pidfd_send_signal), so
// it can never reach a process that reused the pid. A child that has
// already exited is not signalled and Signal returns nil, as CPython's
// terminate does.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.state {
	case StateNew:
		return ErrNotStarted
	case StateExited:
		return nil
	case StateClosed:
		return ErrProcessClosed
	}
	err := unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
	if err == unix.ESRCH { // reaped behind our back: it has exited
		return nil
	}
	if err != nil {
		return errs.Errorf("signal process %d with %v: %w", p.pid, sig, err)
	}
	return nil
}

// Stop ends the child gracefully, then by force: SIGTERM, a wait of up to
// grace (negative counts as zero), then SIGKILL and a wait without limit.
// It returns the exit code: -15 if SIGTERM ended the child, -9 if SIGKILL
// did, or whatever the child exited with on its own.
func (p *Process) Stop(grace time.Duration) (int, error) {
	if err := p.Terminate(); err != nil {
		return 0, err
	}
	code, err := p.Wait(max(grace, 0))
	if !errors.Is(err, ErrWaitTimeout) {
		return code, err
	}
	if err := p.Kill(); err != nil {
		return 0, err
	}
	return p.Wait(-1)
}

// Close releases the pidfd. The child must have exited: Close polls it
// once and returns ErrProcessRunning if it is still alive, leaving the
// Process as it was. Close is idempotent. After Close, Pid and State still
// answer; the rest return ErrProcessClosed.
func (p *Process) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.state {
	case StateNew:
		p.state = StateClosed
		return nil
	case StateClosed:
		return nil
	case StateRunning:
		_, exited, err := p.pollLocked()
		if err != nil && !exited {
			return err
		}
		if !exited {
			return ErrProcessRunning
		}
	}
	p.state = StateClosed
	if p.waiters == 0 {
		unix.Close(p.pidfd)
	} // else the last waiter closes it in release
	return nil
}

// pollLocked is Poll with p.mu held.
func (p *Process) pollLocked() (int, bool, error) {
	switch p.state {
	case StateNew:
		return 0, false, ErrNotStarted
	case StateExited:
		return p.code, true, p.lost
	case StateClosed:
		return 0, false, ErrProcessClosed
	}
	var info pidfd.SiginfoChild
	err := pidfd.Waitid(unix.P_PIDFD, p.pidfd, &info, unix.WEXITED|unix.WNOHANG, nil)
	for err == unix.EINTR {
		err = pidfd.Waitid(unix.P_PIDFD, p.pidfd, &info, unix.WEXITED|unix.WNOHANG, nil)
	}
	switch {
	case err == unix.ECHILD:
		// Someone else reaped it (SIGCHLD set to SIG_IGN, or a waitpid(-1)
		// elsewhere in the process). It is gone; its exit code is lost.
		p.lost = errs.Errorf("process %d was reaped outside gompx (is SIGCHLD ignored?); its exit code is lost: %w", p.pid, err)
		p.exited(0)
		return 0, true, p.lost
	case err != nil:
		return 0, false, errs.Errorf("poll process %d: %w", p.pid, err)
	case info.Pid == 0:
		return 0, false, nil
	case info.Code == pidfd.CLD_EXITED:
		p.exited(int(info.Status))
	default: // CLD_KILLED, CLD_DUMPED
		p.exited(-int(info.Status))
	}
	return p.code, true, nil
}

// exited records the exit code and abandons the rest of the bootstrap, in
// case a grandchild holds fd 3 open and would otherwise keep the writer
// blocked. p.mu is held.
func (p *Process) exited(code int) {
	p.state, p.code = StateExited, code
	if p.boot != nil {
		p.boot.Close() // unblocks the writer's pending Write
		p.boot = nil
	}
}

// pollOrHold polls the child; if it is still running it returns its pidfd
// and counts the caller as a waiter, so that Close leaves the fd open until
// the caller's release.
func (p *Process) pollOrHold() (code int, exited bool, fd int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	code, exited, err = p.pollLocked()
	if err != nil || exited {
		return code, exited, -1, err
	}
	p.waiters++
	return 0, false, p.pidfd, nil
}

// release ends a pollOrHold; the last waiter out of a closed Process closes
// the pidfd.
func (p *Process) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiters--
	if p.waiters == 0 && p.state == StateClosed {
		unix.Close(p.pidfd)
	}
}
