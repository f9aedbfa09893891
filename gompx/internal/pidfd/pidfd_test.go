//go:build linux

package pidfd

import (
	"errors"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// startSh starts /bin/sh -c script with a pidfd, without any Go code that
// might reap it behind our back.
func startSh(t *testing.T, script string) (pid, fd int) {
	t.Helper()
	fd = -1
	attr := &syscall.ProcAttr{
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{PidFD: &fd},
	}
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", script}, attr)
	if err != nil {
		t.Fatalf("fork /bin/sh: %v", err)
	}
	if fd < 0 {
		t.Skip("kernel gave no pidfd (CLONE_PIDFD needs Linux 5.2)")
	}
	t.Cleanup(func() { unix.Close(fd) })
	return pid, fd
}

func TestSiginfoChildSize(t *testing.T) {
	if got := unsafe.Sizeof(SiginfoChild{}); got != siginfoSize {
		t.Fatalf("sizeof(SiginfoChild) = %d, want %d", got, siginfoSize)
	}
}

func TestWaitid(t *testing.T) {
	tests := []struct {
		script     string
		code, stat int32
	}{
		{"exit 0", CLD_EXITED, 0},
		{"exit 7", CLD_EXITED, 7},
		{"kill -KILL $$", CLD_KILLED, int32(unix.SIGKILL)},
		{"kill -TERM $$", CLD_KILLED, int32(unix.SIGTERM)},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			pid, fd := startSh(t, tt.script)
			ok, err := PollIn(fd, 10*time.Second)
			if err != nil || !ok {
				t.Fatalf("PollIn = %v, %v; want true, nil", ok, err)
			}
			var info SiginfoChild
			err = Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG, nil)
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
				t.Skipf("waitid(P_PIDFD) unsupported (needs Linux 5.4): %v", err)
			}
			if err != nil {
				t.Fatalf("Waitid: %v", err)
			}
			if info.Signo != int32(unix.SIGCHLD) || info.Pid != int32(pid) ||
				info.Code != tt.code || info.Status != tt.stat {
				t.Fatalf("siginfo = signo %d pid %d code %d status %d; want %d %d %d %d",
					info.Signo, info.Pid, info.Code, info.Status,
					unix.SIGCHLD, pid, tt.code, tt.stat)
			}
			err = Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG, nil)
			if err != unix.ECHILD {
				t.Fatalf("second Waitid = %v, want ECHILD", err)
			}
		})
	}
}

func TestWaitidRunning(t *testing.T) {
	_, fd := startSh(t, "exec sleep 30")
	var info SiginfoChild
	if err := Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG, nil); err != nil {
		t.Skipf("waitid(P_PIDFD) unsupported: %v", err)
	}
	if info.Pid != 0 {
		t.Fatalf("running child reported as exited: pid %d", info.Pid)
	}
	start := time.Now()
	ok, err := PollIn(fd, 30*time.Millisecond)
	if ok || err != nil {
		t.Fatalf("PollIn on a running child = %v, %v; want false, nil", ok, err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("PollIn returned after %v, before its 30ms timeout", d)
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := PollIn(fd, -1); !ok || err != nil {
		t.Fatalf("PollIn after SIGKILL = %v, %v", ok, err)
	}
	if err := Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED, nil); err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	fd, err := Open(unix.Getpid(), 0)
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("pidfd_open needs Linux 5.3")
	}
	if err != nil {
		t.Fatalf("Open(self): %v", err)
	}
	unix.Close(fd)
}

func TestPollInClosedFD(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(p[0])
	unix.Close(p[1])
	if _, err := PollIn(p[0], time.Second); err != unix.EBADF {
		t.Fatalf("PollIn on a closed fd = %v, want EBADF", err)
	}
}

func TestMillisCeil(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{-time.Second, 0},
		{0, 0},
		{1, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{1 << 62, 1<<31 - 1},
	}
	for _, tt := range tests {
		if got := millisCeil(tt.d); got != tt.want {
			t.Errorf("millisCeil(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}
