package psync

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/shm"
)

// childEnv turns the test binary into a child: its value names a scenario of children.
// The child finds the shared memory file at fd 3 and its argument in childArgEnv.
const (
	childEnv    = "PSYNC_TEST_CHILD"
	childArgEnv = "PSYNC_TEST_ARG"
)

// Block offsets in the memory file that the cross-process tests share.
const (
	offMutex   = 0
	offSem     = 64
	offCounter = 128
	offCond    = 512
	sharedSize = 4096
)

var children = map[string]func(mem []byte, arg int){
	// Increments the counter arg times under the mutex, with a plain read and write.
	"mutex-count": func(mem []byte, n int) {
		m := must(OpenMutex(mem[offMutex:]))
		counter := (*uint64)(unsafe.Pointer(&mem[offCounter]))
		for i := 0; i < n; i++ {
			if err := m.Lock(Forever); err != nil {
				fail("lock: %v", err)
			}
			*counter++
			if err := m.Unlock(); err != nil {
				fail("unlock: %v", err)
			}
		}
	},
	// Takes the mutex, says so, and waits to be killed.
	"mutex-hold": func(mem []byte, _ int) {
		m := must(OpenMutex(mem[offMutex:]))
		if err := m.Lock(Forever); err != nil {
			fail("lock: %v", err)
		}
		ready()
	},
	// Takes a unit of the semaphore, says so, and waits to be killed.
	"sem-hold": func(mem []byte, _ int) {
		s := must(OpenSemaphore(mem[offSem:]))
		if err := s.Acquire(Forever); err != nil {
			fail("acquire: %v", err)
		}
		ready()
	},
	// Acquires and releases the semaphore arg times, counting holders in the counter
	// word: more than the semaphore's initial value at once is a failure.
	"sem-churn": func(mem []byte, n int) {
		s := must(OpenSemaphore(mem[offSem:]))
		holders := (*int32)(unsafe.Pointer(&mem[offCounter]))
		for i := 0; i < n; i++ {
			if err := s.Acquire(Forever); err != nil {
				fail("acquire: %v", err)
			}
			if h := atomic.AddInt32(holders, 1); h > semChurnUnits {
				fail("%d holders of a %d-unit semaphore", h, semChurnUnits)
			}
			atomic.AddInt32(holders, -1)
			if err := s.Release(); err != nil {
				fail("release: %v", err)
			}
		}
	},
	// Waits on the condition, with the mutex, until killed.
	"cond-wait": func(mem []byte, _ int) {
		m := must(OpenMutex(mem[offMutex:]))
		c := must(OpenCondition(mem[offCond:]))
		if err := m.Lock(Forever); err != nil {
			fail("lock: %v", err)
		}
		c.Wait(m, Forever)
		fail("woken")
	},
	// Lives until killed: a live pid for the owner checks.
	"sleep": func([]byte, int) { ready() },
}

const semChurnUnits = 2

func must[T any](v T, err error) T {
	if err != nil {
		fail("%v", err)
	}
	return v
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
	os.Exit(3)
}

// ready tells the parent the child is in place, then waits to be killed.
func ready() {
	fmt.Println("ready")
	for {
		time.Sleep(time.Hour)
	}
}

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		run := children[name]
		if run == nil {
			fail("no scenario %q", name)
		}
		seg := must(shm.Open(3, false))
		arg, _ := strconv.Atoi(os.Getenv(childArgEnv))
		run(seg.Bytes(), arg)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sharedMem makes a memory file for the cross-process tests.
func sharedMem(t testing.TB) *shm.Segment {
	t.Helper()
	seg, err := shm.Create("psync-test", sharedSize, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg
}

type child struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

// startChild re-executes the test binary as scenario, with seg at its fd 3. Cleanup
// kills and reaps it.
func startChild(t testing.TB, seg *shm.Segment, scenario string, arg int) *child {
	t.Helper()
	fd, err := unix.FcntlInt(uintptr(seg.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "psync-test")
	defer f.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = childEnviron(scenario, arg)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: bufio.NewScanner(out)}
	t.Cleanup(c.kill)
	return c
}

// childEnviron is the environment of a child: the scenario, and the race detector's
// sleep at exit turned off, which would delay every child's exit by a second.
func childEnviron(scenario string, arg int) []string {
	env := []string{childEnv + "=" + scenario, childArgEnv + "=" + strconv.Itoa(arg)}
	gorace := "atexit_sleep_ms=0"
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, childEnv+"="), strings.HasPrefix(kv, childArgEnv+"="):
		case strings.HasPrefix(kv, "GORACE="):
			gorace = strings.TrimPrefix(kv, "GORACE=") + " " + gorace
		default:
			env = append(env, kv)
		}
	}
	return append(env, "GORACE="+gorace)
}

// awaitReady waits for the child's "ready" line.
func (c *child) awaitReady(t testing.TB) {
	t.Helper()
	if !c.lines.Scan() || c.lines.Text() != "ready" {
		t.Fatalf("child %d never got ready (%q)", c.cmd.Process.Pid, c.lines.Text())
	}
}

func (c *child) pid() uint32 { return uint32(c.cmd.Process.Pid) }

// kill SIGKILLs the child and reaps it; idempotent.
func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

// killLeaveZombie SIGKILLs the child and waits until it is a zombie, without reaping it.
func (c *child) killLeaveZombie(t testing.TB) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	var info unix.Siginfo
	// WNOWAIT: see the exit, leave the zombie.
	if err := unix.Waitid(unix.P_PID, c.cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
}

// block is a fresh, 8-byte aligned block in Go memory, where the race detector sees the
// atomics (it does not watch shared mappings).
func block() []byte { return blockOf(BlockSize) }

func blockOf(size int) []byte {
	w := make([]uint64, (size+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), size)
}
