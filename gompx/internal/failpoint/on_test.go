//go:build gompx_failpoints

package failpoint

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	m := parse("shm/create=error@2, arena/take=stall")
	if a := m["shm/create"]; a == nil || a.kind != "error" || a.at != 2 {
		t.Fatalf("shm/create: %+v", a)
	}
	if a := m["arena/take"]; a == nil || a.kind != "stall" || a.at != 1 {
		t.Fatalf("arena/take: %+v", a)
	}
}

// The error action fires on the hit it names, once.
func TestErrorOnNthHit(t *testing.T) {
	armed = parse("shm/create=error@2")
	defer func() { armed = nil }()
	var got []bool
	for i := 0; i < 3; i++ {
		got = append(got, errors.Is(Inject("shm/create"), ErrInjected))
	}
	if got[0] || !got[1] || got[2] {
		t.Fatalf("fired on hits %v, want only the second", got)
	}
}

// A bad spec ends the process with status 2 rather than arming nothing.
func TestBadSpecExits(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") != "" {
		parse(os.Getenv("FAILPOINT_CHILD"))
		os.Exit(0)
	}
	for _, spec := range []string{"no/such=kill", "mpq/admitted=explode", "mpq/admitted=kill@0", "mpq/admitted", "mpq/admitted=error"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBadSpecExits$")
		cmd.Env = append(os.Environ(), "FAILPOINT_CHILD="+spec)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), Env) {
			t.Errorf("spec %q: err %v, output %q; want exit 2 naming %s", spec, err, out, Env)
		}
	}
}

// The kill action kills.
func TestKill(t *testing.T) {
	if os.Getenv("FAILPOINT_KILL_CHILD") != "" {
		_ = Inject("mpq/admitted")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill$")
	cmd.Env = append(os.Environ(), "FAILPOINT_KILL_CHILD=1", Env+"=mpq/admitted=kill")
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != -1 || !strings.Contains(ee.Error(), "killed") {
		t.Fatalf("child: %v, want killed", err)
	}
}
