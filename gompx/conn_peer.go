package gompx

import (
	"io"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/frame"
	"github.com/gompx/gompx/gompx/internal/shmring"
)

// Peer mode: between two ends made by Pipe, a payload of at least ringThreshold bytes
// travels through the sender's shared-memory ring. The socket carries a marker frame
// (prefix -2, then the 8-byte length) ahead of the payload; the first marker carries
// the ring's memfd as SCM_RIGHTS. The sender writes the marker before it streams, so
// a payload larger than the ring flows while the receiver drains it.
//
// An end starts with a small ring (ringFirstSize, or the power of two that holds the
// first payload if that is larger, up to ringSize) and, right after the first large
// send, makes a ring of ringSize in a goroutine; the next large send switches to it
// by sending the new fd with its marker, as the first marker did. The receiver reads
// that marker only after the last payload of the old ring, which it still has mapped,
// so the sender may drop the old ring at once.

// sendViaRing sends p as a marker frame plus the payload through the ring.
func (c *Conn) sendViaRing(p []byte) error {
	if err := c.pickRing(len(p)); err != nil {
		return err
	}
	var oob []byte
	if !c.peerHasRing {
		oob = unix.UnixRights(c.sendRing.Fd())
	}
	if err := writeAll(c.fd, c.socket, c.sendHdr.Put(int64(len(p)), frame.InRing), nil, oob); err != nil {
		return err
	}
	c.peerHasRing = true
	if err := c.sendRing.Write(p, c.receiverAlive); err != nil {
		return errs.Errorf("shared-memory ring: %w", err)
	}
	return nil
}

// pickRing makes sure sendRing exists (sized for a first payload of n bytes), switches
// to the bigger ring once it is made, and asks for the bigger ring once.
func (c *Conn) pickRing(n int) error {
	if c.sendRing == nil {
		// Room for the whole first payload where the big ring is not needed for it: a
		// producer that fills the ring mid-message sleeps until the consumer drains it,
		// and on a loaded machine each such wake-up waits for a CPU.
		first := ringFirstSize
		for first < n && first < ringSize {
			first *= 2
		}
		r, err := shmring.Create(min(first, ringSize))
		if err != nil {
			return errs.Errorf("shared-memory ring: %w", err)
		}
		c.sendRing = r
	}
	if c.growing != nil {
		select {
		case r := <-c.growing:
			c.growing = nil
			if r != nil { // else the bigger ring could not be made: keep the small one
				c.sendRing.Close()
				c.sendRing, c.peerHasRing = r, false
			}
		default: // not made yet: this payload streams through the small ring
		}
	}
	// Grow even when the payloads fit: a ring that holds only one message makes the
	// sender of the next wait for the receiver to drain all of it (1 MiB messages through
	// a 1 MiB ring: 0.2-0.3 ms each instead of 0.1).
	if !c.grew && c.sendRing.Size() < ringSize {
		c.grew = true
		ch := make(chan *shmring.Ring, 1)
		c.growing = ch
		go func(size int) {
			r, err := shmring.Create(size)
			if err != nil {
				r = nil
			}
			ch <- r
		}(ringSize)
	}
	return nil
}

// receiverAlive is the sender's check while the ring is full.
func (c *Conn) receiverAlive() error {
	if hungUp(c.fd) {
		return errs.Errorf("receiver hung up mid-message: %w", unix.EPIPE)
	}
	return nil
}

// senderAlive is the receiver's check while the ring is empty.
func (c *Conn) senderAlive() error {
	if hungUp(c.fd) {
		return errs.Errorf("sender hung up mid-message: %w", io.ErrUnexpectedEOF)
	}
	return nil
}

// readHeader reads exactly one header, adopting a ring fd that comes with it.
func (c *Conn) readHeader() (int64, frame.Kind, error) {
	h := c.recvHdr[:]
	var fds []int
	intr := c.interruptible.Load()
	read := func(p []byte, atStart bool) error {
		if !c.peer {
			return readFull(c.fd, p, atStart, atStart && intr)
		}
		got, err := recvFull(c.fd, p, atStart, atStart && intr)
		fds = append(fds, got...)
		return err
	}
	n, k, err := c.parseHeader(h, read)
	if err == nil && k == frame.InRing {
		err = c.adoptRing(fds)
		fds = nil
	}
	for _, fd := range fds { // descriptors nobody announced
		unix.Close(fd)
	}
	return n, k, err
}

func (c *Conn) parseHeader(h []byte, read func([]byte, bool) error) (int64, frame.Kind, error) {
	if err := read(h[:frame.PrefixSize], true); err != nil {
		return 0, 0, err
	}
	n, k, more, err := frame.ParsePrefix(h[:frame.PrefixSize])
	if err != nil {
		return 0, 0, errs.Errorf("%w: %w", ErrBadFrame, err)
	}
	if !more {
		return n, k, nil
	}
	if err := read(h[frame.PrefixSize:frame.MaxSize], false); err != nil {
		return 0, 0, err
	}
	if n, err = frame.ParseLength(h[frame.PrefixSize:frame.MaxSize]); err != nil {
		return 0, 0, errs.Errorf("%w: %w", ErrBadFrame, err)
	}
	if k == frame.InRing && !c.peer {
		return 0, 0, errs.Errorf("%w: shared-memory frame on a plain connection (the peer is not a gompx Pipe end)", ErrBadFrame)
	}
	return n, k, nil
}

// adoptRing maps the ring fd sent with a marker frame (replacing an older ring: a new
// process now sends on this connection); without an fd the ring must already be known.
func (c *Conn) adoptRing(fds []int) error {
	if len(fds) == 0 {
		if c.recvRing == nil {
			return errs.Errorf("%w: shared-memory frame before the ring was sent", ErrBadFrame)
		}
		return nil
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	r, err := shmring.Open(fds[0])
	if err != nil {
		unix.Close(fds[0])
		return errs.Errorf("%w: %w", ErrBadFrame, err)
	}
	if c.recvRing != nil {
		c.recvRing.Close()
	}
	c.recvRing = r
	return nil
}
