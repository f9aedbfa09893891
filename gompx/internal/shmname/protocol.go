package shmname

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
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
var errNoServer = errs.New("no server")

// request connects to addr, checks the server is this user's, and sends op with id. It
// returns the reply byte, with a yes to an attach the received descriptor (else -1), and
// the connected socket, which the caller closes or keeps as a link (see linkConn).
//
// The client side uses plain blocking system calls with socket timeouts rather than the
// net package: the calling thread then waits in the kernel. Under Python the caller is
// the interpreter's thread, locked to its M, and parking it on the network poller costs
// a hand-off between threads at each wait.
func request(addr string, op byte, id [16]byte) (byte, int, int, error) {
	sock, err := dial(addr)
	if err != nil {
		return 0, -1, -1, err
	}
	reply, fd, err := exchange(sock, op, id)
	if err != nil {
		unix.Close(sock)
		return 0, -1, -1, err
	}
	return reply, fd, sock, nil
}

// dial connects to addr and checks that the server runs as this user.
func dial(addr string) (int, error) {
	sock, err := connect(addr)
	if err != nil {
		return -1, err
	}
	if err := checkPeerUID(peerUIDOf(sock)); err != nil {
		unix.Close(sock)
		return -1, err
	}
	return sock, nil
}

// connect makes a blocking socket whose sends, receives and connect give up after
// ioTimeout, connected to addr.
func connect(addr string) (int, error) {
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, errs.Errorf("socket: %w", err)
	}
	tv := unix.NsecToTimeval(ioTimeout.Nanoseconds())
	for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if err := unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, opt, &tv); err != nil {
			unix.Close(sock)
			return -1, errs.Errorf("set socket timeout: %w", err)
		}
	}
	sa := &unix.SockaddrUnix{Name: addr} // a leading '@' is the abstract namespace's NUL
	for err = unix.Connect(sock, sa); err == unix.EINTR; err = unix.Connect(sock, sa) {
	}
	if err != nil {
		unix.Close(sock)
		if retryable(err) {
			return -1, errNoServer
		}
		return -1, errs.Errorf("connect to %s: %w", addr, err)
	}
	return sock, nil
}

func exchange(sock int, op byte, id [16]byte) (byte, int, error) {
	req := make([]byte, requestLen)
	req[0] = op
	copy(req[1:], id[:])
	n, err := unix.Write(sock, req)
	for err == unix.EINTR {
		n, err = unix.Write(sock, req)
	}
	if err != nil || n != len(req) {
		return 0, -1, ioError(err)
	}
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, flags, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	for err == unix.EINTR {
		n, oobn, flags, _, err = unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	}
	if err != nil || n == 0 {
		return 0, -1, ioError(err)
	}
	fd, err := receivedFd(oob[:oobn], flags)
	switch {
	case err != nil:
		return 0, -1, err
	case (buf[0] == replyYes && op == opAttach) != (fd >= 0):
		closeFd(fd)
		return 0, -1, errs.Errorf("reply %q to %q came with a descriptor: %v: %w", buf[0], op, fd >= 0, unix.EPROTO)
	}
	return buf[0], fd, nil
}

// linkConn hands a connected socket from request to the network poller, for a holder
// that keeps it as its link and waits on it without holding a thread.
func linkConn(sock int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(sock), "gompx-shm link")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, errs.Errorf("link: %w", err)
	}
	return c.(*net.UnixConn), nil
}

// receivedFd returns the one descriptor in a control message, -1 if there is none.
func receivedFd(oob []byte, flags int) (int, error) {
	if len(oob) == 0 {
		return -1, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1, errs.Errorf("parse control message: %v: %w", err, unix.EPROTO)
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
		return -1, errs.Errorf("expected one descriptor, got %d (truncated: %v): %w", len(fds), flags&unix.MSG_CTRUNC != 0, unix.EPROTO)
	}
	return fds[0], nil
}

// ioError turns a hang-up (nil: end of stream) into errNoServer, the server died
// mid-request: ask again; and the socket timeout into ETIMEDOUT.
func ioError(err error) error {
	switch {
	case err == unix.EAGAIN:
		return errs.Errorf("no reply in %v: %w", ioTimeout, unix.ETIMEDOUT)
	case err == nil || retryable(err):
		return errNoServer
	}
	return err
}

// retryable errors of connect and of a request: nobody listens at the address (yet), or
// the server hung up. EAGAIN from connect is a full backlog.
func retryable(err error) bool {
	return errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ECONNRESET) ||
		errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EPIPE)
}

// checkPeer refuses a peer of another user: abstract sockets have no permissions, so
// this is what keeps a segment as private as a 0600 file in /dev/shm.
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var uid int
	var uerr error
	if err := raw.Control(func(fd uintptr) { uid, uerr = peerUIDOf(int(fd)) }); err != nil {
		return err
	}
	return checkPeerUID(uid, uerr)
}

func checkPeerUID(uid int, err error) error {
	if err != nil {
		return err
	}
	if uid != os.Geteuid() {
		return errs.Errorf("the other end is user %d, not %d: %w", uid, os.Geteuid(), unix.EACCES)
	}
	return nil
}

func peerUIDOf(sock int) (int, error) {
	cred, err := unix.GetsockoptUcred(sock, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, errs.Errorf("SO_PEERCRED: %w", err)
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
