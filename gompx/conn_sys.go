package gompx

import (
	"io"
	"time"
	"unsafe"

	"github.com/gompx/gompx/gompx/internal/intr"
	"golang.org/x/sys/unix"
)

// maxIO bounds one read or write system call (Linux transfers at most ~2 GiB per call).
const maxIO = 1 << 30

// deadline turns a timeout (< 0: none) into what is left of it after EINTR.
type deadline struct {
	end     time.Time
	forever bool
}

func newDeadline(timeout time.Duration) deadline {
	if timeout < 0 {
		return deadline{forever: true}
	}
	return deadline{end: time.Now().Add(timeout)}
}

// expired reports whether a deadline with an end has passed.
func (d deadline) expired() bool { return !d.forever && !time.Now().Before(d.end) }

// timespec is the remaining time for ppoll: nil for none, zero once expired.
func (d deadline) timespec() *unix.Timespec {
	if d.forever {
		return nil
	}
	ts := unix.NsecToTimespec(int64(max(time.Until(d.end), 0)))
	return &ts
}

// fdPoll waits with ppoll(2) until one of fds is ready or timeout (< 0: never) expires,
// retrying EINTR with the remaining time. It returns how many are ready (0: timed out).
func fdPoll(fds []unix.PollFd, timeout time.Duration) (int, error) {
	d := newDeadline(timeout)
	for {
		n, err := unix.Ppoll(fds, d.timespec(), nil)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// fdPollIntr is fdPoll for a wait that may return to an embedder: EINTR on its main
// thread ends it with ErrInterrupted (package intr), so that signal handlers run.
func fdPollIntr(fds []unix.PollFd, timeout time.Duration) (int, error) {
	d := newDeadline(timeout)
	for {
		n, err := unix.Ppoll(fds, d.timespec(), nil)
		if intr.Stop(err) {
			return 0, ErrInterrupted
		}
		if err != unix.EINTR {
			return n, err
		}
	}
}

// fdWait blocks until fd is ready for events, for a non-blocking fd that said EAGAIN.
func fdWait(fd int, events int16) error {
	_, err := fdPoll([]unix.PollFd{{Fd: int32(fd), Events: events}}, -1)
	return err
}

// hungUp reports whether the other end of fd is gone (POLLHUP or POLLERR), without
// consuming anything.
func hungUp(fd int) bool {
	p := []unix.PollFd{{Fd: int32(fd)}}
	n, err := fdPoll(p, 0)
	return err == nil && n > 0 && p[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
}

// readFull reads exactly len(p) bytes from fd. EOF before the first byte is io.EOF
// when eofOK, a *TruncatedError (io.ErrUnexpectedEOF) otherwise and after any byte. A signal before the
// first byte returns ErrInterrupted when intr; otherwise the read resumes.
func readFull(fd int, p []byte, eofOK, intr bool) error {
	for done := 0; done < len(p); {
		n, err := unix.Read(fd, p[done:min(len(p), done+maxIO)])
		switch {
		case err == unix.EINTR:
			if intr && done == 0 {
				return ErrInterrupted
			}
			continue
		case err == unix.EAGAIN:
			if err := fdWait(fd, unix.POLLIN); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		case n == 0:
			if done == 0 && eofOK {
				return io.EOF
			}
			return &TruncatedError{Got: int64(done), Want: int64(len(p))}
		}
		done += n
	}
	return nil
}

// readFullAt reads p[from:] from fd, for a payload that a signal may interrupt at any
// point when intr (the caller resumes with the returned count as from). EOF is a
// *TruncatedError counting from the start of p.
func readFullAt(fd int, p []byte, from int, intr bool) (int, error) {
	done := from
	for done < len(p) {
		n, err := unix.Read(fd, p[done:min(len(p), done+maxIO)])
		switch {
		case err == unix.EINTR:
			if intr {
				return done, ErrInterrupted
			}
			continue
		case err == unix.EAGAIN:
			if err := fdWait(fd, unix.POLLIN); err != nil {
				return done, err
			}
			continue
		case err != nil:
			return done, err
		case n == 0:
			return done, &TruncatedError{Got: int64(done), Want: int64(len(p))}
		}
		done += n
	}
	return done, nil
}

// recvFull is readFull for a socket that may carry SCM_RIGHTS: it uses recvmsg and
// returns the descriptors received (close-on-exec) alongside the bytes.
func recvFull(fd int, p []byte, eofOK, intr bool) (fds []int, err error) {
	var oob [64]byte // room for several descriptors; more are closed by the kernel
	for done := 0; done < len(p); {
		n, oobn, _, _, err := unix.Recvmsg(fd, p[done:], oob[:], unix.MSG_CMSG_CLOEXEC)
		if oobn > 0 {
			fds = append(fds, parseRights(oob[:oobn])...)
		}
		switch {
		case err == unix.EINTR:
			if intr && done == 0 {
				return fds, ErrInterrupted
			}
			continue
		case err == unix.EAGAIN:
			if err := fdWait(fd, unix.POLLIN); err != nil {
				return fds, err
			}
			continue
		case err != nil:
			return fds, err
		case n == 0:
			if done == 0 && eofOK {
				return fds, io.EOF
			}
			return fds, &TruncatedError{Got: int64(done), Want: int64(len(p))}
		}
		done += n
	}
	return fds, nil
}

func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if r, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, r...)
		}
	}
	return fds
}

// writeAll writes hdr then p to fd as one gather write, finishing short writes. On a
// socket it uses sendmsg with MSG_NOSIGNAL (EPIPE comes back as an error, never as a
// signal) and attaches oob to the first byte; elsewhere (a pipe) it uses writev.
func writeAll(fd int, socket bool, hdr, p, oob []byte) error {
	var iov [2]unix.Iovec
	for len(hdr)+len(p) > 0 {
		bufs := iov[:0]
		for _, b := range [2][]byte{hdr, p} {
			if len(b) > 0 {
				v := unix.Iovec{Base: &b[0]}
				v.SetLen(min(len(b), maxIO))
				bufs = append(bufs, v)
			}
		}
		n, err := gatherWrite(fd, socket, bufs, oob)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			if err := fdWait(fd, unix.POLLOUT); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		oob = nil // sent with the first byte
		k := min(n, len(hdr))
		hdr, p = hdr[k:], p[n-k:]
	}
	return nil
}

func gatherWrite(fd int, socket bool, iov []unix.Iovec, oob []byte) (int, error) {
	if !socket {
		r, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		return int(r), errnoErr(errno)
	}
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(len(iov))
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	r, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL)
	return int(r), errnoErr(errno)
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// isSocket reports whether fd is a socket; it fails for a closed or invalid fd.
func isSocket(fd int) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	return st.Mode&unix.S_IFMT == unix.S_IFSOCK, nil
}
