package gompx

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/intr"
	"golang.org/x/sys/unix"
)

// Listener is a bound, listening socket that hands out authenticated Conns: Go's
// multiprocessing.connection.Listener. Its Conns speak CPython's wire (plain mode), so
// the other end may be a stock CPython Client, and Dial reaches a CPython Listener.
//
// Addresses are strings. Network "unix": a filesystem path, or a Linux abstract name
// written with a leading "\x00" or "@" (as CPython's '\0name' and Go's net package
// write it; a path that starts with "@" must be written "./@..."). Network "tcp":
// "host:port" (CPython's (host, port) tuple).
type Listener struct {
	fd      int
	network string
	addr    string
	authkey []byte
	digest  string
	unlink  string // socket file Close removes ("" for abstract names and TCP)
	tempDir string // private directory made for a default address, removed by Close

	mu           sync.Mutex
	lastAccepted string
	closed       atomic.Bool
}

// ListenOptions are Listener's optional arguments.
type ListenOptions struct {
	// Backlog is listen(2)'s backlog; 0 means 1, CPython's default.
	Backlog int
	// Authkey, when not nil, makes Accept authenticate every connection (deliver a
	// challenge, then answer the peer's) before returning it. An empty, non-nil key still
	// runs the handshake, as CPython does for authkey=b”.
	Authkey []byte
	// Digest is the HMAC of the challenges Accept sends; "" means DefaultDigest.
	Digest string
}

// Listen binds and listens on address, like multiprocessing.connection.Listener. An
// empty address picks a free one: a socket in a new private (0700) temporary
// directory for "unix", 127.0.0.1 with a free port for "tcp". A unix socket file is
// created with mode 0600 (before bind: no window where others may connect) and
// removed by Close.
func Listen(network, address string, opts ListenOptions) (*Listener, error) {
	if opts.Digest != "" {
		if _, ok := authDigests[opts.Digest]; !ok {
			return nil, errs.Errorf("listen: digest %q: want one of md5, sha256, sha384, sha3_256, sha3_384", opts.Digest)
		}
	}
	l := &Listener{fd: -1, network: network, authkey: opts.Authkey, digest: opts.Digest}
	if opts.Authkey != nil {
		l.authkey = append([]byte{}, opts.Authkey...)
	}
	if address == "" {
		var err error
		if address, err = l.defaultAddress(); err != nil {
			return nil, errs.Errorf("listen %s: %w", network, err)
		}
	}
	if err := l.bind(address, max(opts.Backlog, 1)); err != nil {
		if l.tempDir != "" {
			os.RemoveAll(l.tempDir)
		}
		return nil, errs.Errorf("listen %s %q: %w", network, address, err)
	}
	return l, nil
}

func (l *Listener) defaultAddress() (string, error) {
	switch l.network {
	case "unix":
		dir, err := os.MkdirTemp("", "gompx-")
		if err != nil {
			return "", err
		}
		l.tempDir = dir
		return filepath.Join(dir, "listener"), nil
	case "tcp":
		return "127.0.0.1:0", nil
	}
	return "", errs.Errorf("unknown network %q: want \"unix\" or \"tcp\"", l.network)
}

func (l *Listener) bind(address string, backlog int) error {
	domain, sa, err := resolve(l.network, address)
	if err != nil {
		return err
	}
	// Non-blocking: Accept tries accept4 before it polls. Accepted sockets are blocking
	// (accept4 gives them only the flags it is passed).
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return err
	}
	ua, isUnix := sa.(*unix.SockaddrUnix)
	pathSocket := isUnix && !strings.HasPrefix(ua.Name, "@")
	if err := listenSocket(fd, sa, pathSocket, backlog); err != nil {
		unix.Close(fd)
		return err
	}
	l.fd = fd
	if isUnix {
		l.addr = ua.Name
		if pathSocket {
			l.unlink = ua.Name
		}
		return nil
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		l.Close()
		return err
	}
	l.addr = formatSockaddr(bound)
	return nil
}

func listenSocket(fd int, sa unix.Sockaddr, pathSocket bool, backlog int) error {
	if pathSocket {
		// The socket file takes the socket inode's mode (less the umask) at bind: set it
		// first, so that the file never exists with looser permissions.
		if err := unix.Fchmod(fd, 0o600); err != nil {
			return errs.Errorf("fchmod 0600: %w", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return errs.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return os.NewSyscallError("listen", err)
	}
	return nil
}

// Accept waits for a connection and, if the Listener has an authkey, authenticates it
// before returning it. A failed handshake closes the connection and returns an error
// wrapping ErrAuthentication (or the I/O error that ended it).
func (l *Listener) Accept() (*Conn, error) { return l.AcceptTimeout(-1) }

// AcceptContext is Accept waiting until ctx is done for a connection to arrive; then it
// returns an error wrapping ErrTimeout (ctx's deadline) or context.Canceled. The
// handshake that follows is not limited. Close from another goroutine wakes it.
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) {
	return l.accept(func(p []unix.PollFd) (int, error) { return ctxPoll(ctx, p) })
}

// AcceptTimeout is Accept waiting at most timeout (< 0: forever) for a connection to
// arrive; then it returns an error wrapping ErrTimeout. It is AcceptContext for the
// Python facade: on its main thread a signal ends the wait (ErrInterrupted).
func (l *Listener) AcceptTimeout(timeout time.Duration) (*Conn, error) {
	d := newDeadline(timeout)
	return l.accept(func(p []unix.PollFd) (int, error) {
		n, err := unix.Ppoll(p, d.timespec(), nil)
		switch {
		case intr.Stop(err):
			return 0, ErrInterrupted
		case err == unix.EINTR:
			return 0, nil // look again
		case err != nil:
			return 0, os.NewSyscallError("ppoll", err)
		case n == 0 && d.expired():
			return 0, errs.Errorf("after %v: %w", timeout, ErrTimeout)
		}
		return n, nil
	})
}

// accept takes a connection, waiting for one with wait, and authenticates it.
func (l *Listener) accept(wait func([]unix.PollFd) (int, error)) (*Conn, error) {
	fd, peer, err := l.acceptFd(wait)
	if err != nil {
		return nil, errs.Errorf("accept: %w", err)
	}
	c, err := NewConn(fd, true, true)
	if err != nil {
		unix.Close(fd)
		return nil, errs.Errorf("accept: %w", err)
	}
	l.mu.Lock()
	l.lastAccepted = peer
	l.mu.Unlock()
	if l.authkey != nil {
		h, err := NewHandshake(c, l.authkey, l.digest, DeliverStep, AnswerStep)
		if err == nil {
			err = h.Run()
		}
		if err != nil {
			c.Close()
			return nil, errs.Errorf("accept: %w", err)
		}
	}
	return c, nil
}

// acceptFd takes a queued connection at once if there is one (the listening socket is
// non-blocking, so that costs one system call), otherwise waits with wait for one: wait
// returns an error when the wait is over, anything else is a reason to look again.
func (l *Listener) acceptFd(wait func([]unix.PollFd) (int, error)) (int, string, error) {
	for {
		if l.closed.Load() {
			return -1, "", ErrListenerClosed
		}
		fd, peer, err := accept4(l.fd)
		switch {
		case err == nil:
			return fd, peer, nil
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case err != unix.EAGAIN && l.closed.Load():
			return -1, "", ErrListenerClosed
		case err != unix.EAGAIN:
			return -1, "", os.NewSyscallError("accept4", err)
		}
		if _, err := wait([]unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLIN}}); err != nil {
			return -1, "", err
		}
	}
}

// accept4 is accept4(2) with SOCK_CLOEXEC, returning the peer's address as Addr writes
// it. x/sys's Accept4 cannot tell an unnamed unix peer from the abstract name "" (it
// ignores the address length), so the address is parsed here.
func accept4(fd int) (int, string, error) {
	var rsa unix.RawSockaddrAny
	size := uint32(unsafe.Sizeof(rsa))
	r, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)),
		uintptr(unsafe.Pointer(&size)), unix.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, "", errno
	}
	if rsa.Addr.Family == unix.AF_UNIX {
		ru := (*unix.RawSockaddrUnix)(unsafe.Pointer(&rsa))
		n := min(int(size)-2, len(ru.Path))
		path := unsafe.Slice((*byte)(unsafe.Pointer(&ru.Path[0])), len(ru.Path))[:max(n, 0)]
		switch {
		case len(path) == 0:
			return int(r), "", nil
		case path[0] == 0:
			return int(r), "@" + string(path[1:]), nil
		}
		if i := bytes.IndexByte(path, 0); i >= 0 {
			path = path[:i]
		}
		return int(r), string(path), nil
	}
	sa, err := unix.Getpeername(int(r))
	if err != nil {
		unix.Close(int(r))
		return -1, "", err
	}
	return int(r), formatSockaddr(sa), nil
}

// Addr is the bound address: a unix path or "@name" for an abstract name, or
// "ip:port" with the port the kernel chose.
func (l *Listener) Addr() string { return l.addr }

// Network is "unix" or "tcp".
func (l *Listener) Network() string { return l.network }

// LastAccepted is the peer address of the last accepted connection ("" for an unnamed
// unix socket, or before any).
func (l *Listener) LastAccepted() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastAccepted
}

// Fd returns the listening socket, or -1 once closed.
func (l *Listener) Fd() int {
	if l.closed.Load() {
		return -1
	}
	return l.fd
}

// Close stops listening, wakes a goroutine blocked in Accept, and removes the socket
// file (and the private directory of a default address). It is idempotent.
func (l *Listener) Close() error {
	if l.closed.Swap(true) || l.fd < 0 {
		return nil
	}
	unix.Shutdown(l.fd, unix.SHUT_RDWR) // a listening socket: wakes accept(2) with EINVAL
	err := unix.Close(l.fd)
	if l.unlink != "" {
		if uerr := os.Remove(l.unlink); uerr != nil && !errors.Is(uerr, os.ErrNotExist) && err == nil {
			err = uerr
		}
	}
	if l.tempDir != "" {
		os.RemoveAll(l.tempDir)
	}
	if err != nil {
		return errs.Errorf("close listener: %w", err)
	}
	return nil
}

// Dial connects to a Listener at address, like multiprocessing.connection.Client; with
// a non-nil authkey it then answers the listener's challenge and delivers its own
// (digest DefaultDigest). A listener that is not there gives the errno CPython reports
// (ENOENT for a missing socket file, ECONNREFUSED when nobody listens).
func Dial(network, address string, authkey []byte) (*Conn, error) {
	fd, err := connectSocket(network, address)
	if err != nil {
		return nil, errs.Errorf("dial %s %q: %w", network, address, err)
	}
	c, err := NewConn(fd, true, true)
	if err != nil {
		unix.Close(fd)
		return nil, errs.Errorf("dial %s %q: %w", network, address, err)
	}
	if authkey != nil {
		if err := runHandshake(c, authkey, "", AnswerStep, DeliverStep); err != nil {
			c.Close()
			return nil, errs.Errorf("dial %s %q: %w", network, address, err)
		}
	}
	return c, nil
}

func connectSocket(network, address string) (int, error) {
	domain, sa, err := resolve(network, address)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	err = unix.Connect(fd, sa)
	if err == unix.EINTR {
		// The connection goes on asynchronously: wait for it, then read its outcome.
		if err = fdWait(fd, unix.POLLOUT); err == nil {
			var soErr int
			if soErr, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && soErr != 0 {
				err = unix.Errno(soErr)
			}
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("connect", err)
	}
	return fd, nil
}

// resolve turns (network, address) into a socket domain and address.
func resolve(network, address string) (int, unix.Sockaddr, error) {
	switch network {
	case "unix":
		if address == "" {
			return 0, nil, errs.New("empty unix address")
		}
		if address[0] == 0 {
			address = "@" + address[1:] // x/sys writes the abstract namespace's NUL as '@'
		}
		return unix.AF_UNIX, &unix.SockaddrUnix{Name: address}, nil
	case "tcp":
		ta, err := net.ResolveTCPAddr("tcp", address)
		if err != nil {
			return 0, nil, err
		}
		if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
			sa := &unix.SockaddrInet4{Port: ta.Port}
			copy(sa.Addr[:], ip4)
			return unix.AF_INET, sa, nil
		}
		sa := &unix.SockaddrInet6{Port: ta.Port}
		copy(sa.Addr[:], ta.IP.To16())
		return unix.AF_INET6, sa, nil
	}
	return 0, nil, errs.Errorf("unknown network %q: want \"unix\" or \"tcp\"", network)
}

func formatSockaddr(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrUnix:
		return a.Name
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	}
	return ""
}
