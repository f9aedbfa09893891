//go:build gompx_failpoints

package shmname

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/failpoint"
	"github.com/gompx/gompx/gompx/internal/failpoint/fptest"
)

// Kill test (make failpoints runs it under -race, 100 times): a creator dies having made
// the segment's memory file and header, before it binds the name. The name must not stay
// taken by the file it left: the next Create of the name sweeps it and succeeds, and
// nothing is left in /dev/shm once that segment is unlinked (TestMain checks).
func TestFailpointCreatorKilledBeforeBind(t *testing.T) {
	name := testName(t)
	err := fptest.Command(t, -1, "shmname/created=kill", childEnv+"=create-and-hold", childName+"="+name).Run()
	fptest.MustBeKilled(t, err, "creator")
	s, err := Create(name, patternSize)
	if err != nil {
		t.Fatalf("create over the dead creator's file: %v", err)
	}
	if err := s.Unlink(); err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// Kill test of the holder handover: the binder (a creator) dies, and the one stand-by,
// armed to die having won the race to bind the name and before serving it, dies there.
// One stand-by makes the race deterministic: it always wins. Then nobody holds the
// segment: the name must be released with the dead stand-by's socket (Open reports
// ENOENT, never a hang on a bound name nobody answers), and the file the holders left is
// stale: the next Create of the name sweeps it and succeeds, and nothing is left in
// /dev/shm once that segment is unlinked (TestMain checks).
func TestFailpointStandByKilledAfterBind(t *testing.T) {
	name := testName(t)
	binder := startChild(t, "create-and-hold", name)
	standBy := runChild(t, exec.Command(os.Args[0]), "open-and-hold", name, failpoint.Env+"=shmname/bound=kill")
	binder.kill(t)
	fptest.MustBeKilled(t, standBy.cmd.Wait(), "stand-by")
	if s, err := Open(name); !errors.Is(err, unix.ENOENT) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("open after every holder died: %v, want ENOENT", err)
	}
	s, err := Create(name, patternSize)
	if err != nil {
		t.Fatalf("create over the dead holders' segment: %v", err)
	}
	if err := s.Unlink(); err != nil {
		t.Fatal(err)
	}
	s.Close()
}
