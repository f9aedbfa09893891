package pyapi

import (
	"encoding/binary"
	"errors"

	"github.com/gompx/gompx/gompx"
	"golang.org/x/sys/unix"
)

// ForkServerLost is the exit code ForkServerExitCode gives when the fork server hung up
// (or broke the protocol) before reporting one: the code is not ours to know.
const ForkServerLost = 255

// ForkServerExitCode waits until the fork server reports the exit code of one of its
// children on fd (the child's status socket) and returns it. The report is 8 bytes, a
// big-endian signed exit code (the status, or -signum); it is read without consuming it,
// because the Python Popen reads it too. A signal does not end the wait.
func ForkServerExitCode(fd int) int {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINTR) {
			return ForkServerLost
		}
	}
	var b [8]byte
	n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != nil || n != len(b) {
		return ForkServerLost
	}
	return int(int64(binary.BigEndian.Uint64(b[:])))
}

// WorkerExitCode is how a pool learns a worker's exit code: from its process child
// when it was spawned (255 if the process was closed behind the pool's back: the code
// is not the pool's to know), else from the status socket sentinel its fork server
// reports it on.
func WorkerExitCode(child *gompx.Process, sentinel int) func() int {
	if child == nil {
		return func() int { return ForkServerExitCode(sentinel) }
	}
	return func() int {
		code, err := child.Wait(-1)
		if err != nil {
			return ForkServerLost
		}
		return code
	}
}
