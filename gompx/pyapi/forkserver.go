package pyapi

import (
	"encoding/binary"
	"errors"

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
