//go:build linux

package pidfd

import (
	"math"
	"time"
	"unsafe"

	"github.com/gompx/gompx/gompx/internal/intr"
	"golang.org/x/sys/unix"
)

// si_code values for SIGCHLD (asm-generic/siginfo.h). waitid with WEXITED
// reports only these three.
const (
	CLD_EXITED = 1 // the child called _exit; Status is its exit status
	CLD_KILLED = 2 // a signal killed the child; Status is the signal
	CLD_DUMPED = 3 // a signal killed the child and it dumped core
)

const (
	siginfoSize = 128
	// unionPad aligns the union after the three-int header: the kernel's
	// __ARCH_SI_PREAMBLE_SIZE is 4 ints on 64-bit, 3 on 32-bit.
	unionPad = unsafe.Sizeof(uintptr(0)) - 4
)

// Waitid calls waitid(2). With idtype unix.P_PIDFD, id is a pidfd and only
// that child is waited for; it cannot reap a recycled pid. With
// unix.WNOHANG and no exited child it returns nil and leaves info.Pid 0;
// callers zero info first. The error is the raw unix.Errno.
func Waitid(idtype int, id int, info *SiginfoChild, options int, rusage *unix.Rusage) error {
	_, _, e := unix.Syscall6(unix.SYS_WAITID, uintptr(idtype), uintptr(id),
		uintptr(unsafe.Pointer(info)), uintptr(options), uintptr(unsafe.Pointer(rusage)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// Open calls pidfd_open(2): a pidfd for pid, close-on-exec. The error is
// the raw unix.Errno (ESRCH: no such process; ENOSYS: kernel before 5.3).
func Open(pid int, flags int) (int, error) {
	return unix.PidfdOpen(pid, flags)
}

// PollIn waits until fd is readable, for at most timeout (negative: no
// limit), and reports whether it became readable. A pidfd is readable
// once its process has exited, reaped or not. EINTR is retried with the
// time that remains, except on an embedder's main thread (package intr),
// where it returns intr.ErrInterrupted; POLLNVAL is reported as EBADF.
// Other errors are the raw unix.Errno.
func PollIn(fd int, timeout time.Duration) (bool, error) {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		ms := -1
		if timeout >= 0 {
			ms = millisCeil(time.Until(deadline))
		}
		n, err := unix.Poll(fds, ms)
		switch {
		case intr.Stop(err):
			return false, intr.ErrInterrupted
		case err == unix.EINTR:
			continue
		case err != nil:
			return false, err
		case n > 0 && fds[0].Revents&unix.POLLNVAL != 0:
			return false, unix.EBADF
		case n > 0:
			return true, nil
		case timeout >= 0 && !time.Now().Before(deadline):
			return false, nil
		}
		// A capped slice of a long timeout ran out: poll again.
	}
}

// millisCeil rounds d up to whole milliseconds, so that a short wait does
// not become a busy loop of zero-timeout polls, and caps it at what
// poll(2) accepts.
func millisCeil(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(ms)
}
