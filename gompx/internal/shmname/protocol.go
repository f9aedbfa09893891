package shmname

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Requests, one per connection: the op byte, then the segment ID (zero where unused).
const (
	opAttach  = 'A' // send me the memory file; the connection then stays as my stand-by link
	opStandBy = 'S' // I hold segment ID too: keep this connection open while you serve
	opProbe   = 'P' // is the name live? (a creator that found it bound asks)
	opUnlink  = 'U' // unlink segment ID: set its flag if unset and release the name
)

// Replies: one byte, with the memory file as SCM_RIGHTS on yes to an attach.
const (
	replyYes      = 'Y' // served (attach, stand-by) or live (probe)
	replyUnlinked = 'N' // the segment is unlinked: the name is on its way out
	replyOther    = 'M' // the name serves another segment than the ID asked about
	replyDone     = 'K' // unlink: this request set the flag, and the name is released
	replyRefused  = 'E' // the requester is another user
)

const requestLen = 1 + 16

// Timing. A request that gets no reply in ioTimeout fails (a stopped binder). An attach
// that finds nobody serving retries for resolveRetry, since a binder that just died
// leaves the name unbound until a stand-by wins the race to bind it again.
const (
	ioTimeout    = 5 * time.Second
	resolveRetry = 100 * time.Millisecond
	createRetry  = time.Second
	minBackoff   = 100 * time.Microsecond
	maxBackoff   = 20 * time.Millisecond
)

// errNoServer reports that nobody serves the address: nothing bound there, or a binder
// between bind and listen, or one that hung up mid-request (it was dying).
var errNoServer = errors.New("no server")

// request dials addr, checks the server is this user's, and sends op with id. It returns
// the connection, the reply byte and, with a yes to an attach, the received descriptor.
func request(addr string, op byte, id [16]byte) (*net.UnixConn, byte, int, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, 0, -1, err
	}
	reply, fd, err := exchange(c, op, id)
	if err != nil {
		c.Close()
		return nil, 0, -1, err
	}
	return c, reply, fd, nil
}

func dial(addr string) (*net.UnixConn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		if retryable(err) {
			return nil, errNoServer
		}
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	if err := checkPeer(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func exchange(c *net.UnixConn, op byte, id [16]byte) (byte, int, error) {
	c.SetDeadline(time.Now().Add(ioTimeout))
	defer c.SetDeadline(time.Time{})
	req := make([]byte, requestLen)
	req[0] = op
	copy(req[1:], id[:])
	if _, err := c.Write(req); err != nil {
		return 0, -1, ioError(err)
	}
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	fd, ferr := receivedFd(oob[:oobn], flags)
	switch {
	case err != nil || n == 0:
		closeFd(fd)
		if err == nil {
			err = io.EOF
		}
		return 0, -1, ioError(err)
	case ferr != nil:
		return 0, -1, ferr
	case (buf[0] == replyYes && op == opAttach) != (fd >= 0):
		closeFd(fd)
		return 0, -1, fmt.Errorf("reply %q to %q came with a descriptor: %v", buf[0], op, fd >= 0)
	}
	return buf[0], fd, nil
}

// receivedFd returns the one descriptor in a control message, -1 if there is none.
func receivedFd(oob []byte, flags int) (int, error) {
	if len(oob) == 0 {
		return -1, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1, fmt.Errorf("parse control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	if len(fds) != 1 || flags&unix.MSG_CTRUNC != 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("expected one descriptor, got %d (truncated: %v)", len(fds), flags&unix.MSG_CTRUNC != 0)
	}
	return fds[0], nil
}

// ioError turns a hang-up into errNoServer (the server died mid-request: ask again) and
// a deadline into ETIMEDOUT.
func ioError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("no reply in %v: %w", ioTimeout, unix.ETIMEDOUT)
	}
	if retryable(err) || errors.Is(err, io.EOF) {
		return errNoServer
	}
	return err
}

func retryable(err error) bool {
	return errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ECONNRESET) ||
		errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EPIPE)
}

// checkPeer refuses a peer of another user: abstract sockets have no permissions, so
// this is what keeps a segment as private as a 0600 file in /dev/shm.
func checkPeer(c *net.UnixConn) error {
	uid, err := peerUID(c)
	if err != nil {
		return err
	}
	if uid != os.Geteuid() {
		return fmt.Errorf("the other end is user %d, not %d: %w", uid, os.Geteuid(), unix.EACCES)
	}
	return nil
}

func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if cerr != nil {
		return -1, fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	return int(cred.Uid), nil
}

func closeFd(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// sleep waits d or until stop is closed, and reports whether it waited the full d.
func sleep(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}
