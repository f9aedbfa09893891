//go:build linux

package pidfd_test

import (
	"fmt"
	"syscall"

	"github.com/gompx/gompx/gompx/internal/pidfd"
	"golang.org/x/sys/unix"
)

// A child is started with a pidfd, waited for with poll, then reaped
// through the pidfd, so that no recycled pid can be reaped by mistake.
func Example() {
	fd := -1
	attr := &syscall.ProcAttr{Sys: &syscall.SysProcAttr{PidFD: &fd}}
	if _, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 7"}, attr); err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(fd)
	if _, err := pidfd.PollIn(fd, -1); err != nil {
		fmt.Println(err)
		return
	}
	var info pidfd.SiginfoChild
	if err := pidfd.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED, nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.Code == pidfd.CLD_EXITED, info.Status)
	// Output: true 7
}
