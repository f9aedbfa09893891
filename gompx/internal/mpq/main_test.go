package mpq

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// childEnv turns the test binary into a child running the scenario it names; the
// child finds the queue at fd 3.
const childEnv = "GOMPX_MPQ_TEST_CHILD"

var children = map[string]func(r *Ring){
	// Reads messages one at a time and SIGKILLs itself inside the commit that first
	// punches pages out of the ring: after the punch, before Head moves.
	"die-after-punch": func(r *Ring) {
		testHookAfterPunch = func() { unix.Kill(os.Getpid(), unix.SIGKILL) }
		for {
			m, err := r.Begin(0)
			if err != nil {
				fmt.Fprintln(os.Stderr, "never reached the punch:", err)
				os.Exit(1)
			}
			r.Read(make([]byte, m.Len))
			r.End()
		}
	},
}

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		r, err := Open(3)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		children[name](r)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild runs scenario in a child that shares r, and returns how it ended.
func runChild(t *testing.T, r *Ring, scenario string) error {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+scenario)
	fd, err := unix.Dup(r.Fd()) // the File closes its descriptor: give it a copy
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "queue")
	defer f.Close()
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	return cmd.Run()
}
