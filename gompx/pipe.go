package gompx

import (
	"github.com/gompx/gompx/gompx/internal/errs"
	"golang.org/x/sys/unix"
)

// Pipe returns two connected ends, like multiprocessing.Pipe. With duplex, both ends
// send and receive; otherwise the first end only receives and the second only sends.
// Both ends are in peer mode: large payloads travel through shared memory, so the
// other end must be a gompx Conn too (in this process, or in a child rebuilt with
// ConnFromState). The ends sit on a unix socketpair even when one-way, since the ring
// descriptor travels as SCM_RIGHTS; the unused directions are shut down.
func Pipe(duplex bool) (*Conn, *Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, errs.Errorf("pipe: socketpair: %w", err)
	}
	r0, w0, r1, w1 := true, true, true, true
	if !duplex {
		w0, r1 = false, false
		err = unix.Shutdown(fds[0], unix.SHUT_WR)
		if err == nil {
			err = unix.Shutdown(fds[1], unix.SHUT_RD)
		}
	}
	var a, b *Conn
	if err == nil {
		a, err = newConn(fds[0], r0, w0, true)
	}
	if err == nil {
		b, err = newConn(fds[1], r1, w1, true)
	}
	if err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, errs.Errorf("pipe: %w", err)
	}
	return a, b, nil
}
