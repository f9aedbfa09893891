//go:build linux

package gompx

// Process supervision: the states of a Process and how it moves between them.
//
// A Process is a child started by Start and held through a pidfd, so no
// call ever signals or reaps a recycled pid. There is no "started but not
// yet running" state: Start returns only after the child's execve
// succeeded, and otherwise returns an error and no Process.
//
//	state         entered by                                 Pid  Sentinel  Poll / Wait         Signal, Terminate, Kill  Close
//	StateNew      the zero Process; Start never returns one  0    -1        ErrNotStarted       ErrNotStarted            → StateClosed, nil
//	StateRunning  Start                                      pid  pidfd     probe / block, reap pidfd_send_signal        ErrProcessRunning
//	StateExited   Poll, Wait, Stop or Close saw it exit      pid  pidfd     the exit code       nil, nothing sent        → StateClosed, nil
//	StateClosed   Close once the child exited                pid  -1        ErrProcessClosed    ErrProcessClosed         nil (idempotent)
//
// Transitions: StateRunning → StateExited → StateClosed, and StateNew →
// StateClosed. Running never goes straight to Closed: Close first polls,
// and fails with ErrProcessRunning if the child is alive (CPython raises
// ValueError there). The exit code is the status for a normal exit and
// -signum for a child a signal killed, as in CPython's Process.exitcode.
// State reports what the Process last observed; it never polls, so a child
// that died since the last Poll or Wait still reads StateRunning.
//
// What a child does when its parent dies (killed at once, or told and
// killed a grace period later) is the table in doc.go: Cmd.KillWithParent
// on the parent's side, WatchParent (parentwatch.go) on the child's.

import (
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/gompx/gompx/gompx/internal/errs"
)

// ProcessState is where a Process is in its life; see the table in
// process.go.
type ProcessState int

const (
	StateNew     ProcessState = iota // the zero Process, never started
	StateRunning                     // started; not yet seen to exit
	StateExited                      // exited and reaped; exit code known; pidfd still open
	StateClosed                      // pidfd released by Close
)

var stateNames = [...]string{
	StateNew:     "new",
	StateRunning: "running",
	StateExited:  "exited",
	StateClosed:  "closed",
}

func (s ProcessState) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("ProcessState(%d)", int(s))
}

// ErrWaitTimeout is returned by Wait when its timeout passes while the child
// is still running. The child is left alone; Wait may be called again. It wraps
// ErrTimeout.
var ErrWaitTimeout = errs.Errorf("%w waiting for the child to exit", ErrTimeout)

// ErrProcessRunning is returned by Close while the child is still running:
// kill it or wait for it first.
var ErrProcessRunning = errs.New("process is still running; wait for it or kill it before closing")

// ErrProcessClosed is returned by every call but Pid, State, Sentinel and
// Close once Close has released the process.
var ErrProcessClosed = errs.New("process is closed")

// ErrNotStarted is returned by calls on a Process that Start did not make.
var ErrNotStarted = errs.New("process was not started; use Start")

// Inherit, as Cmd.Stdin, Stdout or Stderr, gives the child the parent's own
// fd 0, 1 or 2.
const Inherit = -1

// Cmd describes a child to Start. Its zero value is not runnable: Path is
// required.
type Cmd struct {
	// Path is the executable. It is not looked up in $PATH.
	Path string
	// Args is argv, argv[0] included. Nil means []string{Path}.
	Args []string
	// Env is the environment, "KEY=value" each. Nil inherits the parent's
	// environment as Go sees it (os.Environ). Go copies the C environment
	// once, so inside a C host such as CPython later putenv calls are not
	// seen: pass Env explicitly there.
	Env []string
	// Dir is the child's working directory; "" keeps the parent's.
	Dir string
	// Bootstrap, if non-nil, reaches the child on a pipe whose read end is
	// the child's fd 3. The parent writes it in the background and then
	// closes the write end; if the child exits without reading it all, the
	// rest is dropped and nobody blocks. Start keeps Bootstrap until it is
	// written: do not modify it after Start.
	Bootstrap []byte
	// Files are parent fds that become the child's fds 4, 5, ... in order
	// (3, 4, ... when Bootstrap is nil). The parent's fds stay open and
	// unchanged; the child's copies are not close-on-exec.
	Files []int
	// KillWithParent makes the kernel send the child SIGKILL when the
	// parent dies, by any cause, SIGKILL included (PR_SET_PDEATHSIG). A
	// parent that dies while Start is running is caught too: the child
	// checks its parent right after arming the signal. The kernel sends
	// the signal when the forking thread exits, not the process, so Start
	// forks such children from one OS thread kept for the life of the
	// process; calling Start from a goroutine locked to a thread that later
	// exits (a cgo callback on a Python thread, say) is safe.
	//
	// The kill is instant: the child cannot clean up. A child that calls
	// WatchParent or WatchParentPidfd on its main thread keeps this instant
	// kill only while it starts up; once its watch is armed it learns of
	// its parent's death instead and is killed a grace period later
	// (parentwatch.go). gompx's Python children do that.
	KillWithParent bool
	// Stdin, Stdout and Stderr are the parent fds the child gets as its
	// fds 0, 1 and 2. Inherit (-1) or 0, the zero value, gives the parent's
	// own fd 0, 1 or 2; so a parent's fd 0 cannot become the child's fd 1
	// or 2 directly (dup it first).
	Stdin, Stdout, Stderr int
}

// Process is a child started by Start. Its methods may be called from many
// goroutines at once.
type Process struct {
	pid int

	mu      sync.Mutex
	state   ProcessState
	pidfd   int      // valid in StateRunning and StateExited, and while waiters > 0
	code    int      // exit code, once StateExited
	lost    error    // non-nil if someone else reaped the child
	waiters int      // goroutines in poll(2) on pidfd; Close leaves it open for them
	boot    *os.File // bootstrap write end while the writer runs, else nil
}

// Start starts the child cmd describes and returns once it has called
// execve. Errors name the executable and wrap the cause, so
// errors.Is(err, fs.ErrNotExist) reports a missing executable.
func Start(cmd Cmd) (*Process, error) {
	p, err := startProcess(&cmd)
	if err != nil {
		return nil, errs.Errorf("start %s: %w", cmd.Path, err)
	}
	return p, nil
}

// Pid returns the child's process id, or 0 for a Process Start did not
// make. It stays the same after the child exits and after Close.
func (p *Process) Pid() int { return p.pid }

// Sentinel returns a pidfd that becomes readable once the child has exited,
// for use in poll, select or epoll. It belongs to the Process: it is valid
// until Close, and -1 before Start and after Close. Do not close it.
func (p *Process) Sentinel() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == StateRunning || p.state == StateExited {
		return p.pidfd
	}
	return -1
}

// State returns the state the Process last observed; it does not poll the
// child.
func (p *Process) State() ProcessState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Terminate sends SIGTERM; see Signal.
func (p *Process) Terminate() error { return p.Signal(syscall.SIGTERM) }

// Kill sends SIGKILL; see Signal. It is idempotent: killing a child that is
// dying or has exited returns nil.
func (p *Process) Kill() error { return p.Signal(syscall.SIGKILL) }
