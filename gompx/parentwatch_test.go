//go:build linux

package gompx

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/internal/pidfd"
	"golang.org/x/sys/unix"
)

// The orphan scenarios are three generations: the test, a middle child
// ("orphan-middle"), and a grandchild that watches the middle. The test
// SIGKILLs the middle; the grandchild is re-parented to the test, which
// made itself a child subreaper, so the test can reap it and read its exit
// status. Everyone reports lines on one pipe, the grandchild's fd 3. The
// middle also passes a pidfd of itself as the grandchild's fd 4.
func init() {
	testChildren["orphan-middle"] = orphanMiddle
	// Watches, reports its parent's death, never exits: killed by its watch.
	testChildren["orphan-linger"] = func() {
		w := watchFromEnv(false)
		<-w.Dead()
		report("dead")
		sleepForever()
	}
	testChildren["orphan-linger-pidfd"] = func() {
		w := watchFromEnv(true)
		<-w.Dead()
		report("dead")
		sleepForever()
	}
	// Watches, and exits on its own 100 ms after its parent's death.
	testChildren["orphan-exit"] = func() {
		w := watchFromEnv(false)
		<-w.Dead()
		report("dead")
		time.Sleep(100 * time.Millisecond)
		report("exiting")
		os.Exit(7)
	}
	// Started without KillWithParent; begins to watch only after its
	// parent is gone (re-parented): the watch must count it dead at once.
	testChildren["orphan-late"] = func() {
		parent, _ := strconv.Atoi(os.Getenv("GOMPX_TEST_PARENT_PID"))
		report("started")
		for unix.Getppid() == parent {
			time.Sleep(time.Millisecond)
		}
		w := watchFromEnv(false)
		select {
		case <-w.Dead():
			report("dead")
		case <-time.After(100 * time.Millisecond):
			report("alive")
		}
		sleepForever()
	}
	// Started with KillWithParent, slow to start watching: a parent that
	// dies meanwhile must kill it at once.
	testChildren["orphan-startup"] = func() {
		report("started")
		time.Sleep(3 * time.Second)
		watchFromEnv(false)
		report("armed")
		sleepForever()
	}
}

// orphanMiddle starts the grandchild named by GOMPX_TEST_GRANDCHILD, with
// KillWithParent if GOMPX_TEST_BACKSTOP is 1, reports its pid and sleeps.
func orphanMiddle() {
	exe, err := os.Executable()
	if err != nil {
		os.Exit(12)
	}
	self, err := pidfd.Open(os.Getpid(), 0)
	if err != nil {
		os.Exit(12)
	}
	env := setEnv(testChildEnviron(os.Getenv("GOMPX_TEST_GRANDCHILD")),
		"GOMPX_TEST_PARENT_PID", strconv.Itoa(os.Getpid()))
	p, err := Start(Cmd{Path: exe, Env: env, Files: []int{3, self},
		KillWithParent: os.Getenv("GOMPX_TEST_BACKSTOP") == "1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(13)
	}
	report(fmt.Sprintf("grandchild %d", p.Pid()))
	sleepForever()
}

// watchFromEnv watches the parent named by GOMPX_TEST_PARENT_PID (or the
// pidfd on fd 4) with the grace of OrphanGraceEnv, and reports "armed".
func watchFromEnv(byPidfd bool) *ParentWatch {
	grace, err := ParseOrphanGrace(os.Getenv(OrphanGraceEnv))
	if err != nil {
		report("error " + err.Error())
		os.Exit(14)
	}
	var w *ParentWatch
	if byPidfd {
		w, err = WatchParentPidfd(4, grace)
	} else {
		parent, _ := strconv.Atoi(os.Getenv("GOMPX_TEST_PARENT_PID"))
		w, err = WatchParent(parent, grace)
	}
	if err != nil {
		report("error " + err.Error())
		os.Exit(14)
	}
	report("armed")
	return w
}

// report writes one line to fd 3 (one write, so lines never interleave).
func report(line string) {
	if _, err := unix.Write(3, []byte(line+"\n")); err != nil {
		os.Exit(11)
	}
}

// setEnv returns env with key set to value, replacing any earlier entry.
func setEnv(env []string, key, value string) []string {
	out := []string{key + "=" + value}
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// orphanFamily is a running test → middle → grandchild chain.
type orphanFamily struct {
	t       *testing.T
	r       *os.File
	lines   *bufio.Reader
	pending []string // lines read but not yet expected
	middle  *Process
	grand   int // pidfd of the grandchild
	killed  time.Time
}

func startOrphanFamily(t *testing.T, grandchild string, backstop bool, grace string) *orphanFamily {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	cmd := testChildCmd(t, "orphan-middle")
	cmd.Env = setEnv(cmd.Env, "GOMPX_TEST_GRANDCHILD", grandchild)
	cmd.Env = setEnv(cmd.Env, "GOMPX_TEST_BACKSTOP", map[bool]string{true: "1", false: "0"}[backstop])
	cmd.Env = setEnv(cmd.Env, OrphanGraceEnv, grace)
	r, w := testPipe(t)
	cmd.Files = []int{w}
	f := &orphanFamily{t: t, r: r, lines: bufio.NewReader(r), grand: -1}
	f.middle = startTest(t, cmd)
	unix.Close(w)
	pid, err := strconv.Atoi(strings.TrimPrefix(f.expect("grandchild ", 10*time.Second), "grandchild "))
	if err != nil {
		t.Fatalf("middle child sent no grandchild pid: %v", err)
	}
	if f.grand, err = pidfd.Open(pid, 0); err != nil {
		t.Fatalf("pidfd_open(grandchild %d): %v", pid, err)
	}
	t.Cleanup(func() {
		unix.PidfdSendSignal(f.grand, unix.SIGKILL, nil, 0)
		var info pidfd.SiginfoChild
		pidfd.Waitid(unix.P_PIDFD, f.grand, &info, unix.WEXITED, nil)
		unix.Close(f.grand)
	})
	return f
}

// expect returns the first line, in the order the children wrote them,
// that starts with prefix and was not returned before; it fails if none
// comes within the time given. (The middle child and the grandchild write
// concurrently, so lines with other prefixes may come first.)
func (f *orphanFamily) expect(prefix string, within time.Duration) string {
	f.t.Helper()
	for i, line := range f.pending {
		if strings.HasPrefix(line, prefix) {
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
			return line
		}
	}
	f.r.SetReadDeadline(time.Now().Add(within))
	for {
		line, err := f.lines.ReadString('\n')
		line = strings.TrimSuffix(line, "\n")
		if err != nil {
			f.t.Fatalf("want a line %q from the children within %v; got %q before %v", prefix, within, f.pending, err)
		}
		if strings.HasPrefix(line, prefix) {
			return line
		}
		f.pending = append(f.pending, line)
	}
}

// killMiddle SIGKILLs the middle child and reaps it.
func (f *orphanFamily) killMiddle() {
	f.killed = time.Now()
	f.middle.Kill()
	if code, err := f.middle.Wait(-1); code != -int(syscall.SIGKILL) || err != nil {
		f.t.Fatalf("middle child: exit %d, %v; want -9", code, err)
	}
}

// waitGrandchild reaps the grandchild (now the test's child) and returns
// its exit code and the time from the middle's kill to its exit.
func (f *orphanFamily) waitGrandchild(within time.Duration) (int, time.Duration) {
	f.t.Helper()
	if exited, err := pidfd.PollIn(f.grand, within); !exited || err != nil {
		f.t.Fatalf("grandchild still alive %v after its parent was killed (%v)", within, err)
	}
	elapsed := time.Since(f.killed)
	var info pidfd.SiginfoChild
	if err := pidfd.Waitid(unix.P_PIDFD, f.grand, &info, unix.WEXITED, nil); err != nil {
		f.t.Fatalf("reap the grandchild: %v (was it not re-parented to the test?)", err)
	}
	if info.Code == pidfd.CLD_EXITED {
		return int(info.Status), elapsed
	}
	return -int(info.Status), elapsed
}

// The parent is SIGKILLed: the child sees it within milliseconds and, since
// it does not exit, is killed by its watch when the grace has passed.
func TestParentWatchKillsAfterGrace(t *testing.T) {
	const grace = time.Second
	for _, scenario := range []string{"orphan-linger", "orphan-linger-pidfd"} {
		t.Run(scenario, func(t *testing.T) {
			f := startOrphanFamily(t, scenario, true, "1")
			f.expect("armed", 10*time.Second)
			f.killMiddle()
			f.expect("dead", time.Second)
			noticed := time.Since(f.killed)
			t.Logf("the child saw its parent's death %v after the kill", noticed)
			if noticed > 250*time.Millisecond {
				t.Errorf("the child saw its parent's death only %v after the kill", noticed)
			}
			code, elapsed := f.waitGrandchild(grace + 2*time.Second)
			t.Logf("the child was gone %v after its parent's kill (grace %v)", elapsed, grace)
			if code != -int(syscall.SIGKILL) {
				t.Errorf("child exit code %d, want -9 (killed by its watch)", code)
			}
			if elapsed < grace || elapsed > grace+time.Second {
				t.Errorf("child killed %v after its parent, want within [%v, %v]", elapsed, grace, grace+time.Second)
			}
		})
	}
}

// A child that exits on its own during the grace exits with its own code.
func TestParentWatchChildExitsWithinGrace(t *testing.T) {
	f := startOrphanFamily(t, "orphan-exit", true, "2")
	f.expect("armed", 10*time.Second)
	f.killMiddle()
	f.expect("dead", time.Second)
	f.expect("exiting", time.Second)
	code, elapsed := f.waitGrandchild(2 * time.Second)
	if code != 7 {
		t.Errorf("child exit code %d, want its own 7", code)
	}
	if elapsed >= 2*time.Second {
		t.Errorf("child exited %v after its parent, past the grace", elapsed)
	}
}

// The parent dies before the child watches it. Without the backstop, the
// child finds itself re-parented and counts the parent dead at once; with
// it, the kernel kills the child at once, long before its grace.
func TestParentWatchEarlyDeath(t *testing.T) {
	t.Run("re-parented-before-the-watch", func(t *testing.T) {
		f := startOrphanFamily(t, "orphan-late", false, "1")
		f.expect("started", 10*time.Second)
		f.killMiddle()
		f.expect("armed", time.Second)
		f.expect("dead", time.Second)
		code, elapsed := f.waitGrandchild(3 * time.Second)
		if code != -int(syscall.SIGKILL) || elapsed < time.Second {
			t.Errorf("child exit %d %v after its parent, want -9 after the 1 s grace", code, elapsed)
		}
	})
	t.Run("backstop-while-starting", func(t *testing.T) {
		f := startOrphanFamily(t, "orphan-startup", true, "2")
		f.expect("started", 10*time.Second)
		f.killMiddle()
		code, elapsed := f.waitGrandchild(time.Second)
		t.Logf("the starting child was gone %v after its parent's kill", elapsed)
		if code != -int(syscall.SIGKILL) {
			t.Errorf("child exit code %d, want -9 (PR_SET_PDEATHSIG)", code)
		}
	})
}

func TestWatchParentNotMainThread(t *testing.T) {
	// offMain runs WatchParent on a thread that is not the main one: if its
	// goroutine landed on the main thread, it keeps it locked and asks again.
	var offMain func() error
	offMain = func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if unix.Gettid() == unix.Getpid() {
			errs := make(chan error)
			go func() { errs <- offMain() }()
			return <-errs
		}
		_, err := WatchParent(os.Getppid(), time.Second)
		return err
	}
	if err := offMain(); !errors.Is(err, ErrNotMainThread) {
		t.Fatalf("WatchParent off the main thread = %v, want ErrNotMainThread", err)
	}
}

func TestParseOrphanGrace(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", DefaultOrphanGrace, true},
		{"0", 0, true},
		{"2.5", 2500 * time.Millisecond, true},
		{"10", 10 * time.Second, true},
		{"-1", 0, false},
		{"inf", 0, false},
		{"nan", 0, false},
		{"1e300", 0, false},
		{"5s", 0, false},
	} {
		got, err := ParseOrphanGrace(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseOrphanGrace(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), OrphanGraceEnv) {
			t.Errorf("ParseOrphanGrace(%q) error %q does not name %s", tt.in, err, OrphanGraceEnv)
		}
	}
}
