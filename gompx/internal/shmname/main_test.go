package shmname

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv turns the test binary into a child: its value names a scenario of children,
// the segment name comes in childName.
const (
	childEnv  = "GOMPX_SHMNAME_CHILD"
	childName = "GOMPX_SHMNAME_SEGMENT"
	childAddr = "GOMPX_SHMNAME_ADDRESS"
	// childPosixDir: the children's posixDir (withoutDevShm).
	childPosixDir = "GOMPX_SHMNAME_POSIXDIR"
)

// children are what a re-executed test binary does instead of running tests. A child
// that returns exits 0; one that fails prints why and exits 1.
var children = map[string]func(name string) error{
	// Create the segment, fill it with pattern, say "ready" and hold it until killed.
	"create-and-hold": func(name string) error {
		s, err := Create(name, patternSize)
		if err != nil {
			return err
		}
		data, err := mapData(s)
		if err != nil {
			return err
		}
		copy(data, pattern(patternSize))
		return holdUntilKilled()
	},
	// Attach by name, check the pattern, say "ready" and hold it until killed.
	"open-and-hold": func(name string) error {
		s, err := Open(name)
		if err != nil {
			return err
		}
		if err := checkPattern(s); err != nil {
			return err
		}
		return holdUntilKilled()
	},
	// Run as another user: reach the parent's segment by its address; both ends refuse.
	"foreign": func(name string) error {
		addr := os.Getenv(childAddr)
		if _, _, _, err := request(addr, opAttach, [16]byte{}); !errors.Is(err, unix.EACCES) {
			return fmt.Errorf("attach to another user's server: %v, want EACCES", err)
		}
		sock, err := connect(addr) // without the client's own check
		if err != nil {
			return err
		}
		defer unix.Close(sock)
		reply, fd, err := exchange(sock, opAttach, [16]byte{})
		if err != nil || reply != replyRefused || fd >= 0 {
			return fmt.Errorf("the server answered another user %q, fd %d, %v; want %q", reply, fd, err, replyRefused)
		}
		return nil
	},
	// Adopt the memory file passed as fd 3, check the pattern, say "ready", hold it.
	"adopt-and-hold": func(name string) error {
		s, err := Adopt(3)
		if err != nil {
			return err
		}
		if s.Name() != name {
			return fmt.Errorf("adopted %q, want %q", s.Name(), name)
		}
		if err := checkPattern(s); err != nil {
			return err
		}
		return holdUntilKilled()
	},
	// Attach by name, check the pattern, write "child" at the start, close and exit.
	"open-and-write": func(name string) error {
		s, err := Open(name)
		if err != nil {
			return err
		}
		if err := checkPattern(s); err != nil {
			return err
		}
		data, err := mapData(s)
		if err != nil {
			return err
		}
		copy(data, "child")
		return s.Close()
	},
}

func TestMain(m *testing.M) {
	if scenario := os.Getenv(childEnv); scenario != "" {
		if dir := os.Getenv(childPosixDir); dir != "" {
			posixDir = dir
		}
		if err := children[scenario](os.Getenv(childName)); err != nil {
			fmt.Fprintf(os.Stderr, "child %s: %v\n", scenario, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if left := leftInDevShm(); len(left) > 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: /dev/shm files of this run's segments left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

// leftInDevShm lists the /dev/shm files named after this process's test and fuzz
// segments (testName, fuzzName): every test ends its segments, so none may be left.
func leftInDevShm() []string {
	var left []string
	entries, _ := os.ReadDir("/dev/shm")
	for _, e := range entries {
		for _, prefix := range []string{"gompx-test-", "gompx-fuzz-"} {
			if strings.HasPrefix(e.Name(), fmt.Sprintf("%s%d-", prefix, os.Getpid())) {
				left = append(left, e.Name())
			}
		}
	}
	return left
}

func holdUntilKilled() error {
	fmt.Println("ready")
	time.Sleep(time.Minute)
	return fmt.Errorf("still alive after a minute")
}

// child is a re-executed test binary running scenario on segment name.
type child struct {
	cmd *exec.Cmd
	out *bufio.Reader
}

// startChild starts scenario; a holding scenario has its segment by the time it returns.
func startChild(t *testing.T, scenario, name string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return runChild(t, exec.Command(exe), scenario, name)
}

func runChild(t *testing.T, cmd *exec.Cmd, scenario, name string, env ...string) *child {
	t.Helper()
	cmd.Env = append(os.Environ(), childEnv+"="+scenario, childName+"="+name,
		"GORACE=atexit_sleep_ms=0")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, out: bufio.NewReader(stdout)}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	if strings.HasSuffix(scenario, "-and-hold") {
		line, err := c.out.ReadString('\n')
		if line != "ready\n" {
			t.Fatalf("child %s said %q (%v) instead of ready", scenario, line, err)
		}
	}
	return c
}

// kill SIGKILLs the child and waits until it is gone, sockets and all.
func (c *child) kill(t *testing.T) {
	t.Helper()
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

func (c *child) wait(t *testing.T) {
	t.Helper()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}
