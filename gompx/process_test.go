//go:build linux

package gompx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx/internal/pidfd"
	"golang.org/x/sys/unix"
)

func init() {
	testChildren["exit-0"] = func() { os.Exit(0) }
	testChildren["exit-3"] = func() { os.Exit(3) }
	testChildren["sleep"] = sleepForever
	testChildren["self-kill"] = func() {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		sleepForever()
	}
	testChildren["ignore-sigterm"] = func() {
		signal.Ignore(syscall.SIGTERM)
		writeFD(3, "ready")
		sleepForever()
	}
	testChildren["echo-bootstrap"] = func() {
		data, err := io.ReadAll(os.NewFile(3, "bootstrap"))
		if err != nil {
			os.Exit(10)
		}
		writeFD(4, string(data))
	}
	testChildren["exit-before-reading-bootstrap"] = func() { os.Exit(0) }
	// write-fds writes each fd named in its argv to that fd.
	testChildren["write-fds"] = func() {
		for _, arg := range os.Args[1:] {
			fd, _ := strconv.Atoi(arg)
			writeFD(fd, arg)
		}
	}
	testChildren["print-env-dir"] = func() {
		dir, _ := os.Getwd()
		fmt.Printf("%s\n%s\n", dir, os.Getenv("GOMPX_TEST_VALUE"))
	}
	testChildren["pdeathsig"] = func() { startGrandchild(false) }
	testChildren["pdeathsig-thread-exit"] = func() { startGrandchild(true) }
}

func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// writeFD writes s to fd and closes it, or exits 11 if it cannot.
func writeFD(fd int, s string) {
	f := os.NewFile(uintptr(fd), "out")
	if _, err := io.WriteString(f, s); err != nil {
		os.Exit(11)
	}
	f.Close()
}

// startGrandchild starts a "sleep" grandchild with KillWithParent, writes
// its pid to fd 3 and sleeps. With lockedThreadExits, Start runs on a
// goroutine that locks its OS thread and ends without unlocking it, so
// that thread exits: the grandchild must outlive it.
func startGrandchild(lockedThreadExits bool) {
	exe, err := os.Executable()
	if err != nil {
		os.Exit(12)
	}
	unix.CloseOnExec(3) // or the grandchild holds the pipe open too
	cmd := Cmd{Path: exe, Env: testChildEnviron("sleep"), KillWithParent: true}
	// Keep the main thread for the main goroutine: a locked goroutine that
	// ends on the main thread wedges it instead of ending it.
	runtime.LockOSThread()
	started := make(chan *Process)
	tid := make(chan int, 1)
	go func() {
		if lockedThreadExits {
			runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		}
		tid <- unix.Gettid()
		p, err := Start(cmd)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(13)
		}
		started <- p
	}()
	p := <-started
	if lockedThreadExits {
		task := fmt.Sprintf("/proc/self/task/%d", <-tid)
		for _, err := os.Stat(task); err == nil; _, err = os.Stat(task) {
			time.Sleep(time.Millisecond) // until the thread that called Start is gone
		}
	}
	writeFD(3, strconv.Itoa(p.Pid()))
	sleepForever()
}

// startTest starts cmd and, at cleanup, kills, reaps and closes the child.
func startTest(t *testing.T, cmd Cmd) *Process {
	t.Helper()
	p, err := Start(cmd)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		p.Kill()
		p.Wait(-1)
		p.Close()
	})
	return p
}

// testPipe returns a pipe's read end and write end. The read end closes at
// cleanup; the caller closes the write end once the child has it.
func testPipe(t *testing.T) (*os.File, int) {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(fds[0], true) // pollable, so read deadlines work
	r := os.NewFile(uintptr(fds[0]), "pipe-read")
	t.Cleanup(func() { r.Close() })
	return r, fds[1]
}

// readAllBefore reads r to EOF, failing the test after d.
func readAllBefore(t *testing.T, r *os.File, d time.Duration) string {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(d))
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read from child: %v", err)
	}
	return string(data)
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		scenario string
		signal   func(*Process) error // sent once the child runs; nil: none
		want     int
	}{
		{"exit-0", nil, 0},
		{"exit-3", nil, 3},
		{"self-kill", nil, -int(syscall.SIGKILL)},
		{"sleep", (*Process).Kill, -int(syscall.SIGKILL)},
		{"sleep", (*Process).Terminate, -int(syscall.SIGTERM)},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			p := startTest(t, testChildCmd(t, tt.scenario))
			if p.State() != StateRunning || p.Pid() <= 0 {
				t.Fatalf("after Start: state %v, pid %d", p.State(), p.Pid())
			}
			if tt.signal != nil {
				if err := tt.signal(p); err != nil {
					t.Fatalf("signal: %v", err)
				}
			}
			code, err := p.Wait(-1)
			if err != nil || code != tt.want {
				t.Fatalf("Wait = %d, %v; want %d, nil", code, err, tt.want)
			}
			if code, exited, err := p.Poll(); code != tt.want || !exited || err != nil {
				t.Fatalf("Poll after Wait = %d, %v, %v; want %d, true, nil", code, exited, err, tt.want)
			}
			if p.State() != StateExited {
				t.Fatalf("state after Wait = %v, want exited", p.State())
			}
		})
	}
}

func TestWaitTimeout(t *testing.T) {
	p := startTest(t, testChildCmd(t, "sleep"))
	for _, timeout := range []time.Duration{0, 50 * time.Millisecond} {
		start := time.Now()
		_, err := p.Wait(timeout)
		if !errors.Is(err, ErrWaitTimeout) {
			t.Fatalf("Wait(%v) on a sleeping child = %v, want ErrWaitTimeout", timeout, err)
		}
		if d := time.Since(start); d < timeout {
			t.Fatalf("Wait(%v) gave up after only %v", timeout, d)
		}
	}
	if _, exited, err := p.Poll(); exited || err != nil {
		t.Fatalf("Poll after the timeout = exited %v, %v; want a running child", exited, err)
	}
	if p.State() != StateRunning {
		t.Fatalf("state after the timeout = %v, want running", p.State())
	}
}

func TestStop(t *testing.T) {
	tests := []struct {
		scenario string
		ready    bool // the child says "ready" on fd 3 once SIGTERM is ignored
		grace    time.Duration
		want     int
		minTime  time.Duration // Stop must have waited the grace period
	}{
		{"sleep", false, 5 * time.Second, -int(syscall.SIGTERM), 0},
		{"ignore-sigterm", true, 200 * time.Millisecond, -int(syscall.SIGKILL), 200 * time.Millisecond},
		{"ignore-sigterm", true, -1, -int(syscall.SIGKILL), 0},
		{"exit-3", false, time.Second, 3, 0}, // exited, not yet reaped: SIGTERM is lost on it
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.scenario, tt.grace), func(t *testing.T) {
			cmd := testChildCmd(t, tt.scenario)
			var r *os.File
			var w int
			if tt.ready {
				r, w = testPipe(t)
				cmd.Files = []int{w}
			}
			p := startTest(t, cmd)
			if tt.ready {
				unix.Close(w)
				if got := readAllBefore(t, r, 10*time.Second); got != "ready" {
					t.Fatalf("child said %q, want ready", got)
				}
			}
			if tt.want >= 0 {
				pidfd.PollIn(p.Sentinel(), 10*time.Second)
			}
			start := time.Now()
			code, err := p.Stop(tt.grace)
			if err != nil || code != tt.want {
				t.Fatalf("Stop = %d, %v; want %d, nil", code, err, tt.want)
			}
			if d := time.Since(start); d < tt.minTime {
				t.Fatalf("Stop returned after %v, before its grace of %v", d, tt.minTime)
			}
		})
	}
}

func TestBootstrap(t *testing.T) {
	big := bytes.Repeat([]byte("gompx"), 1<<18) // 1.25 MiB, well past a pipe's buffer
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"small", []byte("hello, child")},
		{"big", big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := testChildCmd(t, "echo-bootstrap")
			cmd.Bootstrap = tt.data
			r, w := testPipe(t)
			cmd.Files = []int{w} // fd 4, after the bootstrap's fd 3
			p := startTest(t, cmd)
			unix.Close(w)
			if got := readAllBefore(t, r, 20*time.Second); got != string(tt.data) {
				t.Fatalf("child echoed %d bytes, want %d", len(got), len(tt.data))
			}
			if code, err := p.Wait(-1); code != 0 || err != nil {
				t.Fatalf("Wait = %d, %v; want 0, nil", code, err)
			}
		})
	}
}

// A child that exits without reading a bootstrap far bigger than a pipe
// holds must not block Start, Wait or the writer goroutine.
func TestBootstrapChildExitsEarly(t *testing.T) {
	before := runtime.NumGoroutine()
	cmd := testChildCmd(t, "exit-before-reading-bootstrap")
	cmd.Bootstrap = make([]byte, 8<<20)
	start := time.Now()
	p := startTest(t, cmd)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Start took %v", d)
	}
	if code, err := p.Wait(10 * time.Second); code != 0 || err != nil {
		t.Fatalf("Wait = %d, %v; want 0, nil", code, err)
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("bootstrap writer still running: %d goroutines, %d before Start",
				runtime.NumGoroutine(), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFiles(t *testing.T) {
	tests := []struct {
		name      string
		bootstrap []byte
		firstFD   int
	}{
		{"without-bootstrap", nil, 3},
		{"with-bootstrap", []byte("x"), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 3
			cmd := testChildCmd(t, "write-fds")
			cmd.Bootstrap = tt.bootstrap
			readers := make([]*os.File, n)
			for i := range n {
				r, w := testPipe(t)
				readers[i] = r
				cmd.Files = append(cmd.Files, w)
				cmd.Args = append(cmd.Args, strconv.Itoa(tt.firstFD+i))
			}
			p := startTest(t, cmd)
			for _, w := range cmd.Files {
				// The parent's fd is still open, still close-on-exec.
				flags, err := unix.FcntlInt(uintptr(w), unix.F_GETFD, 0)
				if err != nil || flags&unix.FD_CLOEXEC == 0 {
					t.Errorf("parent fd %d after Start: flags %#x, %v", w, flags, err)
				}
				unix.Close(w)
			}
			for i, r := range readers {
				want := strconv.Itoa(tt.firstFD + i)
				if got := readAllBefore(t, r, 10*time.Second); got != want {
					t.Errorf("Files[%d] got %q, want %q: it is not the child's fd %s", i, got, want, want)
				}
			}
			if code, err := p.Wait(-1); code != 0 || err != nil {
				t.Fatalf("Wait = %d, %v; want 0, nil", code, err)
			}
		})
	}
}

func TestStdioEnvDir(t *testing.T) {
	t.Setenv("GOMPX_TEST_VALUE", "inherited")
	dir := t.TempDir()
	tests := []struct {
		name string
		env  []string // nil: inherit
		want string
	}{
		{"inherit-env", nil, "inherited"},
		{"explicit-env", []string{"GOMPX_TEST_VALUE=explicit"}, "explicit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := testChildCmd(t, "print-env-dir")
			if tt.env != nil {
				cmd.Env = append(tt.env, testChildEnv+"=print-env-dir")
			} else {
				cmd.Env = nil
				t.Setenv(testChildEnv, "print-env-dir")
			}
			cmd.Dir = dir
			r, w := testPipe(t)
			cmd.Stdout = w
			p := startTest(t, cmd)
			unix.Close(w)
			got := readAllBefore(t, r, 10*time.Second)
			if want := dir + "\n" + tt.want + "\n"; got != want {
				t.Fatalf("child printed %q, want %q", got, want)
			}
			p.Wait(-1)
		})
	}
}

func TestSentinel(t *testing.T) {
	p := startTest(t, testChildCmd(t, "sleep"))
	fd := p.Sentinel()
	if ok, err := pidfd.PollIn(fd, 0); ok || err != nil {
		t.Fatalf("sentinel of a running child: readable %v, %v", ok, err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	// Readable before anyone reaps the child, and still after.
	if ok, err := pidfd.PollIn(fd, 10*time.Second); !ok || err != nil {
		t.Fatalf("sentinel after Kill: readable %v, %v", ok, err)
	}
	if p.State() != StateRunning {
		t.Fatalf("polling the sentinel changed the state to %v", p.State())
	}
	p.Wait(-1)
	if ok, err := pidfd.PollIn(fd, 0); !ok || err != nil {
		t.Fatalf("sentinel after Wait: readable %v, %v", ok, err)
	}
	p.Close()
	if got := p.Sentinel(); got != -1 {
		t.Fatalf("Sentinel after Close = %d, want -1", got)
	}
}

func TestClose(t *testing.T) {
	p := startTest(t, testChildCmd(t, "sleep"))
	if err := p.Close(); !errors.Is(err, ErrProcessRunning) {
		t.Fatalf("Close on a running child = %v, want ErrProcessRunning", err)
	}
	if p.State() != StateRunning || p.Sentinel() < 0 {
		t.Fatalf("a failed Close changed the Process: state %v, sentinel %d", p.State(), p.Sentinel())
	}
	p.Kill()
	p.Wait(-1)
	for i := range 2 {
		if err := p.Close(); err != nil {
			t.Fatalf("Close #%d after Kill and Wait = %v", i+1, err)
		}
	}
	if p.State() != StateClosed || p.Pid() <= 0 {
		t.Fatalf("after Close: state %v, pid %d", p.State(), p.Pid())
	}
	calls := map[string]error{
		"Signal": p.Signal(syscall.SIGTERM),
		"Kill":   p.Kill(),
	}
	_, _, calls["Poll"] = p.Poll()
	_, calls["Wait"] = p.Wait(0)
	for name, err := range calls {
		if !errors.Is(err, ErrProcessClosed) {
			t.Errorf("%s after Close = %v, want ErrProcessClosed", name, err)
		}
	}
}

// Close polls once: a child that exited but was never waited for closes.
func TestCloseReapsExitedChild(t *testing.T) {
	p := startTest(t, testChildCmd(t, "exit-3"))
	pidfd.PollIn(p.Sentinel(), 10*time.Second)
	if err := p.Close(); err != nil {
		t.Fatalf("Close on an exited, unreaped child = %v", err)
	}
}

func TestSignalAfterExit(t *testing.T) {
	p := startTest(t, testChildCmd(t, "exit-0"))
	p.Wait(-1)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGUSR1} {
		if err := p.Signal(sig); err != nil {
			t.Errorf("Signal(%v) after exit = %v, want nil", sig, err)
		}
	}
}

func TestZeroProcess(t *testing.T) {
	var p Process
	if p.State() != StateNew || p.Pid() != 0 || p.Sentinel() != -1 {
		t.Fatalf("zero Process: state %v, pid %d, sentinel %d", p.State(), p.Pid(), p.Sentinel())
	}
	if _, _, err := p.Poll(); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Poll = %v, want ErrNotStarted", err)
	}
	if _, err := p.Wait(-1); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Wait = %v, want ErrNotStarted", err)
	}
	if err := p.Kill(); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Kill = %v, want ErrNotStarted", err)
	}
	if err := p.Close(); err != nil || p.State() != StateClosed {
		t.Errorf("Close = %v, state %v; want nil, closed", err, p.State())
	}
}

func TestStartErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-python")
	tests := []struct {
		name string
		cmd  Cmd
		is   error  // errors.Is must hold, if non-nil
		msg  string // the message must contain it
	}{
		{"missing-executable", Cmd{Path: missing}, fs.ErrNotExist, "start " + missing + ": no such file"},
		{"not-executable", Cmd{Path: "/etc/passwd"}, fs.ErrPermission, "start /etc/passwd: permission denied"},
		{"missing-dir", Cmd{Path: "/bin/true", Dir: missing}, fs.ErrNotExist, "start /bin/true: working directory " + missing + ": no such file"},
		{"empty-path", Cmd{}, nil, "empty Cmd.Path"},
		{"bad-file", Cmd{Path: "/bin/true", Files: []int{-2}}, nil, "bad descriptor -2 in Cmd.Files[0]"},
		{"bad-stdout", Cmd{Path: "/bin/true", Stdout: -7}, nil, "bad descriptor -7 for the child's fd 1"},
		{"bootstrap-to-missing", Cmd{Path: missing, Bootstrap: []byte("x")}, fs.ErrNotExist, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(tt.cmd)
			if err == nil {
				p.Kill()
				p.Wait(-1)
				t.Fatal("Start succeeded")
			}
			if p != nil {
				t.Errorf("Start returned a Process with its error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

// KillWithParent: SIGKILL the middle child; the grandchild must die within
// a second. With thread-exit, the thread that called Start in the middle
// child has exited long before; the grandchild must survive that.
func TestKillWithParent(t *testing.T) {
	for _, scenario := range []string{"pdeathsig", "pdeathsig-thread-exit"} {
		t.Run(scenario, func(t *testing.T) {
			cmd := testChildCmd(t, scenario)
			r, w := testPipe(t)
			cmd.Files = []int{w}
			middle := startTest(t, cmd)
			unix.Close(w)
			pid, err := strconv.Atoi(readAllBefore(t, r, 10*time.Second))
			if err != nil {
				t.Fatalf("middle child sent no grandchild pid: %v", err)
			}
			grand, err := pidfd.Open(pid, 0)
			if errors.Is(err, unix.ENOSYS) {
				t.Skip("pidfd_open needs Linux 5.3")
			}
			if err != nil {
				t.Fatalf("pidfd_open(grandchild %d): %v", pid, err)
			}
			defer unix.Close(grand)
			defer unix.PidfdSendSignal(grand, unix.SIGKILL, nil, 0)
			if dead, _ := pidfd.PollIn(grand, 300*time.Millisecond); dead {
				t.Fatal("grandchild died while the middle child lives")
			}
			middle.Kill()
			middle.Wait(-1)
			if dead, err := pidfd.PollIn(grand, time.Second); !dead || err != nil {
				t.Fatalf("grandchild still alive 1s after its parent was killed (%v)", err)
			}
		})
	}
}

// Many goroutines wait, poll and kill one child at once; then one closes
// it while others may still be inside Wait.
func TestConcurrentUse(t *testing.T) {
	p := startTest(t, testChildCmd(t, "sleep"))
	const n = 8
	var wg sync.WaitGroup
	codes := make(chan int, 2*n)
	for range n {
		wg.Go(func() {
			if code, err := p.Wait(-1); err == nil {
				codes <- code
			} else if !errors.Is(err, ErrProcessClosed) {
				t.Errorf("Wait: %v", err)
			}
		})
		wg.Go(func() {
			for {
				code, exited, err := p.Poll()
				if errors.Is(err, ErrProcessClosed) {
					return
				}
				if err != nil || exited {
					codes <- code
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	wg.Go(func() { p.Kill() })
	wg.Go(func() {
		p.Wait(-1)
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != -int(syscall.SIGKILL) {
			t.Errorf("a goroutine saw exit code %d, want -9", code)
		}
	}
}

func TestProcessStateString(t *testing.T) {
	for s, want := range map[ProcessState]string{
		StateNew: "new", StateRunning: "running", StateExited: "exited",
		StateClosed: "closed", 9: "ProcessState(9)",
	} {
		if got := s.String(); got != want {
			t.Errorf("ProcessState(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}
