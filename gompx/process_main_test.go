//go:build linux

package gompx

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// testChildEnv names the environment variable that turns the test binary
// into a child: its value is a key of testChildren.
const testChildEnv = "GOMPX_TEST_CHILD"

// testChildren maps scenario names to what a re-executed test binary does
// instead of running tests. Test files register theirs from init. A
// scenario that returns exits 0.
var testChildren = map[string]func(){}

func init() {
	if strings.HasPrefix(os.Getenv(testChildEnv), "orphan-") {
		// These scenarios watch their parent, which only the main thread
		// can do (WatchParent): keep the main goroutine on it.
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if name := os.Getenv(testChildEnv); name != "" {
		run := testChildren[name]
		if run == nil {
			fmt.Fprintf(os.Stderr, "%s=%q: no such test child scenario\n", testChildEnv, name)
			os.Exit(2)
		}
		run()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testChildCmd returns a Cmd that re-executes the test binary as scenario
// name, with the parent's environment otherwise.
func testChildCmd(t testing.TB, name string) Cmd {
	t.Helper()
	if testChildren[name] == nil {
		t.Fatalf("no test child scenario %q", name)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("find the test binary: %v", err)
	}
	return Cmd{Path: exe, Args: []string{exe}, Env: testChildEnviron(name)}
}

// testChildEnviron is os.Environ with testChildEnv set to name. Under the
// race detector it also drops the detector's one-second sleep at exit,
// which would otherwise delay every child's exit code.
func testChildEnviron(name string) []string {
	env := []string{testChildEnv + "=" + name}
	gorace := "atexit_sleep_ms=0"
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, testChildEnv+"="):
		case strings.HasPrefix(kv, "GORACE="):
			gorace = strings.TrimPrefix(kv, "GORACE=") + " " + gorace
		default:
			env = append(env, kv)
		}
	}
	return append(env, "GORACE="+gorace)
}
