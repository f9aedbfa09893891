package futex

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations from <linux/futex.h>. The private flag (128) is deliberately absent.
const (
	FUTEX_WAIT = 0
	FUTEX_WAKE = 1
)

// Wait performs FUTEX_WAIT on addr: it sleeps while *addr == val, for at most timeout
// (timeout < 0 waits without limit). See the package comment for the contract.
func Wait(addr *uint32, val uint32, timeout time.Duration) error {
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), FUTEX_WAIT,
		uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// Wake performs FUTEX_WAKE on addr, waking at most n waiters, and returns how many
// were woken.
func Wake(addr *uint32, n int) (int, error) {
	r, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), FUTEX_WAKE,
		uintptr(n), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
