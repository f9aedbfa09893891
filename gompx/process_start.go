//go:build linux

package gompx

import (
	"os"
	"runtime"
	"sync"
	"syscall"

	"github.com/gompx/gompx/gompx/internal/errs"
	"golang.org/x/sys/unix"
)

// startProcess forks and execs cmd and wraps the child in a Process.
func startProcess(cmd *Cmd) (*Process, error) {
	if cmd.Path == "" {
		return nil, errs.New("empty Cmd.Path")
	}
	argv := cmd.Args
	if argv == nil {
		argv = []string{cmd.Path}
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	boot := [2]int{-1, -1} // read end, write end
	if cmd.Bootstrap != nil {
		// Close-on-exec: only this child gets a copy, through Files.
		if err := unix.Pipe2(boot[:], unix.O_CLOEXEC); err != nil {
			return nil, errs.Errorf("bootstrap pipe: %w", err)
		}
	}
	files, err := cmd.childFDs(boot[0])
	if err != nil {
		if cmd.Bootstrap != nil {
			unix.Close(boot[0])
			unix.Close(boot[1])
		}
		return nil, err
	}
	fd := -1
	sys := &syscall.SysProcAttr{PidFD: &fd}
	if cmd.KillWithParent {
		sys.Pdeathsig = syscall.SIGKILL
	}
	attr := &syscall.ProcAttr{Dir: cmd.Dir, Env: env, Files: files, Sys: sys}
	pid, err := forkExec(cmd.Path, argv, attr, cmd.KillWithParent)
	if cmd.Bootstrap != nil {
		unix.Close(boot[0])
		if err != nil {
			unix.Close(boot[1])
		}
	}
	if err != nil {
		return nil, cmd.explain(err)
	}
	p := &Process{pid: pid, pidfd: fd, state: StateRunning}
	if fd < 0 { // no CLONE_PIDFD: we refuse to supervise by bare pid
		p.abandonWithoutPidfd(boot[1], cmd.Bootstrap != nil)
		return nil, errs.Errorf("kernel gave no pidfd (needs Linux 5.4): %w", unix.ENOSYS)
	}
	if cmd.Bootstrap != nil {
		p.startBootstrap(boot[1], cmd.Bootstrap)
	}
	return p, nil
}

// explain names the working directory when it, not Path, is what is
// missing or unreadable: ForkExec reports a failed chdir as a bare errno.
func (cmd *Cmd) explain(err error) error {
	if cmd.Dir == "" || (err != unix.ENOENT && err != unix.EACCES && err != unix.ENOTDIR) {
		return err
	}
	if _, statErr := os.Stat(cmd.Dir); statErr != nil {
		return errs.Errorf("working directory %s: %w", cmd.Dir, err)
	}
	return err
}

// childFDs returns the parent fds for the child's 0, 1, 2, then bootRead
// unless it is -1, then Files.
func (cmd *Cmd) childFDs(bootRead int) ([]uintptr, error) {
	fds := make([]uintptr, 0, 4+len(cmd.Files))
	for i, fd := range [3]int{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		switch {
		case fd == Inherit || fd == 0:
			fd = i
		case fd < 0:
			return nil, errs.Errorf("bad descriptor %d for the child's fd %d (use Inherit)", fd, i)
		}
		fds = append(fds, uintptr(fd))
	}
	if bootRead >= 0 {
		fds = append(fds, uintptr(bootRead))
	}
	for i, fd := range cmd.Files {
		if fd < 0 {
			return nil, errs.Errorf("bad descriptor %d in Cmd.Files[%d]", fd, i)
		}
		fds = append(fds, uintptr(fd))
	}
	return fds, nil
}

// abandonWithoutPidfd kills and reaps a child started without a pidfd. The
// pid is safe to use here: the child is ours and not yet reaped.
func (p *Process) abandonWithoutPidfd(bootWrite int, hasBoot bool) {
	if hasBoot {
		unix.Close(bootWrite)
	}
	unix.Kill(p.pid, unix.SIGKILL)
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(p.pid, &ws, 0, nil); err != unix.EINTR {
			return
		}
	}
}

// startBootstrap writes data to the pipe's write end w in the background,
// then closes it. If the child exits first, the write fails with EPIPE, or
// exited closes the file under it; either way the goroutine ends.
func (p *Process) startBootstrap(w int, data []byte) {
	// Non-blocking, so that os.File runs it through the netpoller and Close
	// can interrupt a pending Write. The child's read end stays blocking.
	unix.SetNonblock(w, true)
	f := os.NewFile(uintptr(w), "gompx-bootstrap")
	p.boot = f
	go func() {
		f.Write(data) // an error means the child stopped reading: drop the rest
		f.Close()
	}()
}

// forkExec runs syscall.ForkExec, on forkThread when the child must die
// with its parent.
//
// PR_SET_PDEATHSIG fires when the thread that forked the child exits, not
// the process (see https://go.dev/issue/27505). Go threads exit only when a
// goroutine that called runtime.LockOSThread ends without unlocking; that
// includes a cgo callback from a foreign thread, such as a Python thread,
// which ends when that thread ends. Forking from such a thread would kill
// the child early. forkThread is a goroutine locked for good to an OS
// thread that Go created, so its thread lives as long as the process.
func forkExec(path string, argv []string, attr *syscall.ProcAttr, killWithParent bool) (int, error) {
	if !killWithParent {
		return syscall.ForkExec(path, argv, attr)
	}
	forker.once.Do(func() {
		forker.requests = make(chan forkRequest)
		go forkThread(forker.requests)
	})
	done := make(chan forkResult, 1)
	forker.requests <- forkRequest{path, argv, attr, done}
	r := <-done
	return r.pid, r.err
}

var forker struct {
	once     sync.Once
	requests chan forkRequest
}

type forkRequest struct {
	path string
	argv []string
	attr *syscall.ProcAttr
	done chan<- forkResult
}

type forkResult struct {
	pid int
	err error
}

// forkThread serves forkExec. It locks its OS thread and never unlocks it
// nor returns, so the thread is never reused for other goroutines and
// never exits before the process does.
func forkThread(requests <-chan forkRequest) {
	runtime.LockOSThread()
	for r := range requests {
		pid, err := syscall.ForkExec(r.path, r.argv, r.attr)
		r.done <- forkResult{pid, err}
	}
}
