package workpool

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/workproto"
	"golang.org/x/sys/unix"
)

// maxHello bounds the hello frame, so a program that is no worker cannot make
// the pool allocate what its first bytes happen to claim.
const maxHello = 1 << 20

// worker is one live worker process and the parent's end of its socket.
type worker struct {
	proc *gompx.Process
	conn *gompx.Conn
	fd   int
	pid  int
	died chan struct{} // closed once the process has exited and fd is shut down
	code int           // exit code, valid once died is closed
	// doomed is set once the worker is being killed: it must take no task.
	doomed atomic.Bool
	// ran counts the tasks sent to it per retire key; retiring is set once one of
	// them reached its task's retireAfter: it takes no more and exits when idle.
	// Only its slot's goroutine touches them.
	ran      map[string]int
	retiring bool
}

// ExitError reports a worker that exited while it ran a task.
type ExitError struct {
	Kind string // "python worker", "go worker"
	Pid  int
	Code int // the exit status, or -signum
}

func (e *ExitError) Error() string {
	if e.Code < 0 {
		return fmt.Sprintf("%s%s %d exited with code %d (killed by %s) during the call",
			errs.Prefix, e.Kind, e.Pid, e.Code, unix.SignalName(syscall.Signal(-e.Code)))
	}
	return fmt.Sprintf("%s%s %d exited with code %d during the call", errs.Prefix, e.Kind, e.Pid, e.Code)
}

// startWorker starts one worker and waits for its hello.
func (p *Pool) startWorker() (*worker, error) {
	cmd, err := p.opts.Command()
	if err != nil {
		return nil, errs.Errorf("start %s: %w", p.opts.Kind, err)
	}
	if len(cmd.Files) != 0 || cmd.Bootstrap != nil {
		return nil, errs.Errorf("start %s: the command must not pass Files or Bootstrap", p.opts.Kind)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, errs.Errorf("start %s: socketpair: %w", p.opts.Kind, err)
	}
	cmd.Files, cmd.KillWithParent = []int{fds[1]}, true
	proc, err := gompx.Start(cmd)
	unix.Close(fds[1])
	if err != nil {
		unix.Close(fds[0])
		return nil, errs.Errorf("start %s: %w", p.opts.Kind, err)
	}
	conn, err := gompx.NewConn(fds[0], true, true)
	if err != nil {
		unix.Close(fds[0])
		proc.Kill()
		proc.Wait(-1)
		proc.Close()
		return nil, errs.Errorf("start %s: %w", p.opts.Kind, err)
	}
	w := &worker{proc: proc, conn: conn, fd: fds[0], pid: proc.Pid(), died: make(chan struct{})}
	go w.watch()
	if !p.register(w) {
		p.reap(w)
		return nil, ErrTerminated
	}
	hello, err := p.awaitHello(w)
	if err != nil {
		w.kill()
		p.reap(w)
		return nil, err
	}
	p.mu.Lock()
	if p.hello.Impl == "" {
		p.hello = hello
	}
	p.mu.Unlock()
	return w, nil
}

// awaitHello reads the worker's first frame.
func (p *Pool) awaitHello(w *worker) (workproto.Hello, error) {
	ready, err := w.conn.Poll(p.opts.StartTimeout)
	if err != nil {
		return workproto.Hello{}, errs.Errorf("start %s %d: %w", p.opts.Kind, w.pid, err)
	}
	if !ready {
		return workproto.Hello{}, errs.Errorf("start %s %d: no hello within %v (is it a gompx worker?): %w",
			p.opts.Kind, w.pid, p.opts.StartTimeout, errs.ErrTimeout)
	}
	frame, err := w.conn.RecvBytes(maxHello)
	if errors.Is(err, gompx.ErrMessageTooLong) {
		return workproto.Hello{}, errs.Errorf("start %s %d: first frame is longer than a hello (is it a gompx worker?)",
			p.opts.Kind, w.pid)
	}
	if err != nil {
		w.kill()
		<-w.died
		return workproto.Hello{}, errs.Errorf("start %s %d: it exited with code %d before its hello; its stderr is above",
			p.opts.Kind, w.pid, w.code)
	}
	h, err := workproto.ParseHello(frame)
	if err != nil {
		return workproto.Hello{}, errs.Errorf("start %s %d: %w", p.opts.Kind, w.pid, err)
	}
	return h, nil
}

// register adds w to the live workers, unless the pool was terminated.
func (p *Pool) register(w *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminated {
		w.kill()
		return false
	}
	p.workers[w] = struct{}{}
	return true
}

// watch waits for the process to exit, then shuts the socket down so that a
// blocked send or receive on it returns.
func (w *worker) watch() {
	code, err := w.proc.Wait(-1)
	if err != nil {
		code = -int(syscall.SIGKILL) // lost to someone else's wait: report it as killed
	}
	w.code = code
	unix.Shutdown(w.fd, unix.SHUT_RDWR)
	close(w.died)
}

func (w *worker) kill() {
	w.doomed.Store(true)
	w.proc.Kill()
}

// reap waits for the worker to exit and releases it.
func (p *Pool) reap(w *worker) {
	<-w.died
	p.mu.Lock()
	delete(p.workers, w)
	p.mu.Unlock()
	w.conn.Close()
	w.proc.Close()
}

// retire ends an idle worker: gracefully on Close, at once on Terminate.
func (p *Pool) retire(w *worker) {
	p.mu.Lock()
	terminated := p.terminated
	p.mu.Unlock()
	if terminated {
		w.kill()
	} else {
		unix.Shutdown(w.fd, unix.SHUT_WR)
		select {
		case <-w.died:
		case <-time.After(p.opts.StopGrace):
			w.kill()
		}
	}
	p.reap(w)
}

// failure is the error for a task whose worker broke off its round trip.
func (p *Pool) failure(w *worker, err error) error {
	p.mu.Lock()
	terminated := p.terminated
	p.mu.Unlock()
	if terminated {
		return ErrTerminated
	}
	if errors.Is(err, gompx.ErrBadFrame) {
		return errs.Errorf("%s %d: %w", p.opts.Kind, w.pid, err)
	}
	return &ExitError{Kind: p.opts.Kind, Pid: w.pid, Code: w.code}
}

// gone reports whether the worker has exited or is being killed.
func (w *worker) gone() bool {
	select {
	case <-w.died:
		return true
	default:
		return w.doomed.Load()
	}
}
