//go:build gompx_failpoints

package shmname

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/gompx/gompx/gompx/internal/failpoint"
)

// Kill test (make failpoints runs it under -race, 100 times): a creator dies having made
// the segment's memory file and header, before it binds the name. The name must not stay
// taken by the file it left: the next Create of the name sweeps it and succeeds, and
// nothing is left in /dev/shm once that segment is unlinked (TestMain checks).
func TestFailpointCreatorKilledBeforeBind(t *testing.T) {
	name := testName(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=create-and-hold", childName+"="+name,
		failpoint.Env+"=shmname/created=kill", "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("creator: %v, not killed at the failpoint", err)
	}
	s, err := Create(name, patternSize)
	if err != nil {
		t.Fatalf("create over the dead creator's file: %v", err)
	}
	if err := s.Unlink(); err != nil {
		t.Fatal(err)
	}
	s.Close()
}
