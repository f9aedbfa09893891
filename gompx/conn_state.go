package gompx

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/shmring"
)

// ConnState is what a child process needs to rebuild one end of a connection from
// inherited file descriptors: State in the parent, ConnFromState in the child.
// Descriptor numbers change on the way (exec.Cmd.ExtraFiles renumbers them from 3):
// Fds lists what to pass, WithFds rewrites the numbers, and the text form
// (MarshalText) fits in an environment variable or a command-line argument.
type ConnState struct {
	Fd              int  // the socket or pipe
	Readable        bool // the end receives
	Writable        bool // the end sends
	Peer            bool // peer mode: large payloads through shared memory (ends made by Pipe)
	SendRingFd      int  // memfd of this end's ring for large sends; -1 if none yet
	PeerHasSendRing bool // the other end already received SendRingFd, so it is not sent again
	RecvRingFd      int  // memfd of the other end's ring, received earlier; -1 if none yet
}

// State returns what a child needs to rebuild this end. The descriptors stay owned by
// c: the parent passes them to the child (which then owns its copies) and should
// close c afterwards, because a ring has room for one sender and one receiver only.
// Take the state between messages, never with a payload pending.
func (c *Conn) State() ConnState {
	s := ConnState{Fd: c.Fd(), Readable: c.readable, Writable: c.writable, Peer: c.peer,
		SendRingFd: -1, RecvRingFd: -1, PeerHasSendRing: c.peerHasRing}
	if c.sendRing != nil {
		s.SendRingFd = c.sendRing.Fd()
	}
	if c.recvRing != nil {
		s.RecvRingFd = c.recvRing.Fd()
	}
	return s
}

// ConnFromState rebuilds a connection end from inherited descriptors and takes
// ownership of them, even on error: if the end cannot be rebuilt they are closed.
func ConnFromState(s ConnState) (*Conn, error) {
	closeFds := func(fds ...int) {
		for _, fd := range fds {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}
	if !s.Peer && (s.SendRingFd >= 0 || s.RecvRingFd >= 0) {
		closeFds(s.Fds()...)
		return nil, errs.New("conn from state: ring descriptors on a plain-mode connection")
	}
	c, err := newConn(s.Fd, s.Readable, s.Writable, s.Peer)
	if err != nil {
		closeFds(s.Fds()...)
		return nil, errs.Errorf("conn from state: %w", err)
	}
	if s.SendRingFd >= 0 {
		if c.sendRing, err = shmring.Open(s.SendRingFd); err != nil {
			closeFds(s.Fds()...)
			return nil, errs.Errorf("conn from state: send ring: %w", err)
		}
		c.peerHasRing = s.PeerHasSendRing
	}
	if s.RecvRingFd >= 0 {
		if c.recvRing, err = shmring.Open(s.RecvRingFd); err != nil {
			c.Close() // closes Fd and the send ring
			closeFds(s.RecvRingFd)
			return nil, errs.Errorf("conn from state: receive ring: %w", err)
		}
	}
	return c, nil
}

func (s ConnState) Fds() []int {
	fds := []int{s.Fd}
	for _, fd := range []int{s.SendRingFd, s.RecvRingFd} {
		if fd >= 0 {
			fds = append(fds, fd)
		}
	}
	return fds
}

// WithFds returns s with its descriptors replaced by fds, given in the order of Fds
// (for ExtraFiles: 3, 4, ...).
func (s ConnState) WithFds(fds []int) (ConnState, error) {
	if len(fds) != len(s.Fds()) {
		return s, errs.Errorf("conn state: %d descriptors given, %d needed", len(fds), len(s.Fds()))
	}
	s.Fd, fds = fds[0], fds[1:]
	for _, p := range []*int{&s.SendRingFd, &s.RecvRingFd} {
		if *p >= 0 {
			*p, fds = fds[0], fds[1:]
		}
	}
	return s, nil
}

// MarshalText encodes s as space-separated key=value pairs, for example
// "fd=3 r=1 w=1 peer=1 sring=4 shared=1 rring=-1".
func (s ConnState) MarshalText() ([]byte, error) {
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	return fmt.Appendf(nil, "fd=%d r=%d w=%d peer=%d sring=%d shared=%d rring=%d", s.Fd,
		b(s.Readable), b(s.Writable), b(s.Peer), s.SendRingFd, b(s.PeerHasSendRing), s.RecvRingFd), nil
}

// UnmarshalText decodes the form MarshalText writes; every key is required.
func (s *ConnState) UnmarshalText(text []byte) error {
	vals := map[string]int{}
	for _, f := range strings.Fields(string(text)) {
		k, v, ok := strings.Cut(f, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			return errs.Errorf("conn state: bad field %q", f)
		}
		vals[k] = n
	}
	for _, k := range []string{"fd", "r", "w", "peer", "sring", "shared", "rring"} {
		if _, ok := vals[k]; !ok {
			return errs.Errorf("conn state: missing %q in %q", k, text)
		}
	}
	*s = ConnState{Fd: vals["fd"], Readable: vals["r"] != 0, Writable: vals["w"] != 0,
		Peer: vals["peer"] != 0, SendRingFd: vals["sring"], PeerHasSendRing: vals["shared"] != 0,
		RecvRingFd: vals["rring"]}
	return nil
}
