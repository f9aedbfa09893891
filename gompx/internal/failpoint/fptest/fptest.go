package fptest

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/failpoint"
)

// Command is the test binary, running no test, as a child with env added to this
// process's environment, spec armed (none if empty) and a copy of fd at its fd 3 (none
// if fd < 0). The copy is closed when the test ends.
func Command(t testing.TB, fd int, spec string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if spec != "" {
		cmd.Env = append(cmd.Env, failpoint.Env+"="+spec)
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	if fd >= 0 {
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(dup), "shared")
		t.Cleanup(func() { f.Close() })
		cmd.ExtraFiles = []*os.File{f}
	}
	return cmd
}

// Killed reports whether err, from a child's Wait, Run or Output, says SIGKILL ended it.
func Killed(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
}

// MustBeKilled fails the test unless err says SIGKILL ended the child (what, in the
// message): the failpoint fired, rather than the child ending some other way.
func MustBeKilled(t testing.TB, err error, what string) {
	t.Helper()
	if !Killed(err) {
		t.Fatalf("%s: %v, not killed at the failpoint", what, err)
	}
}
