package gompx

import (
	"context"
	"errors"
	"io"
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/cpuload"
	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/frame"
	"github.com/gompx/gompx/gompx/internal/shmring"
)

// Conn is one end of a framed, message-oriented connection over a file descriptor,
// byte-compatible with CPython's multiprocessing.connection.Connection.
//
// A Conn is safe for one sender and one receiver at a time (one goroutine may send
// while another receives), like CPython's Connection; two concurrent senders, or two
// concurrent receivers, interleave frames. Close must not race with a send or receive
// in progress: closing the fd does not interrupt a blocked call.
type Conn struct {
	fd       int
	readable bool
	writable bool
	peer     bool // peer mode: large payloads travel through shared memory
	socket   bool // fd is a socket: sendmsg with MSG_NOSIGNAL, recvmsg for headers
	closed   atomic.Bool

	// Sender side, touched by the one sender only.
	sendRing    *shmring.Ring      // created on the first large send
	peerHasRing bool               // the peer has received sendRing's fd
	growing     chan *shmring.Ring // the bigger ring being made in the background, or nil
	grew        bool               // a bigger ring was asked for once: never again
	sendHdr     frame.Header

	// Receiver side, touched by the one receiver only.
	recvRing    *shmring.Ring // the peer's ring, from its first marker frame
	spinRest    int           // receives left before polling again (awaitInputBriefly)
	pending     int64         // payload length announced by RecvHeader; -1: none
	pendingRing bool          // the pending payload is in recvRing
	pendingDone int64         // bytes of the pending inline payload read before a signal interrupted
	skip        int64         // inline payload bytes DiscardLater left to drop before the next header
	recvErr     error         // the stream is out of step after this error
	recvHdr     frame.Header

	// interruptible: a signal during RecvHeader's wait returns ErrInterrupted.
	interruptible atomic.Bool
}

// Tunables of peer mode, variables so that benchmarks can explore them.
var (
	ringThreshold = 128 << 10 // payloads of at least this many bytes go through the ring
	// ringFirstSize is the smallest ring a fresh end starts with (pickRing: the first
	// payload's power of two, up to ringSize): creating a ring faults in all of its
	// pages (~1.5 ms for 4 MiB, ~0.3 ms for 1 MiB, ~0.1 ms for 256 KiB) and the first
	// large message waits for it, which a fresh Pipe's one transfer pays in full.
	ringFirstSize = 256 << 10
	// ringSize is the ring an end grows to, in the background, after its first large send
	// (pickRing): big enough for both sides to copy at once (~15% faster streams).
	ringSize = 4 << 20
)

// NewConn wraps fd, an open file descriptor (socket or pipe), in plain mode: exactly
// CPython's wire, so the other end may be stdlib multiprocessing. On success the Conn
// owns fd and Close closes it; on error fd stays the caller's. The fd is left in
// blocking mode, as Python shares it.
func NewConn(fd int, readable, writable bool) (*Conn, error) {
	return newConn(fd, readable, writable, false)
}

func newConn(fd int, readable, writable, peer bool) (*Conn, error) {
	if !readable && !writable {
		return nil, errs.New("new conn: at least one of readable and writable must be true")
	}
	socket, err := isSocket(fd)
	if err != nil {
		return nil, errs.Errorf("new conn: fd %d: %w", fd, err)
	}
	if peer && !socket {
		return nil, errs.Errorf("new conn: fd %d: peer mode needs a unix socket", fd)
	}
	return &Conn{fd: fd, readable: readable, writable: writable, peer: peer, socket: socket, pending: -1}, nil
}

// SetInterruptible makes a signal that interrupts RecvHeader's wait, before any byte of
// the header arrived, return ErrInterrupted instead of resuming the wait. An embedding
// runtime that handles signals itself (a Python interpreter running its handlers between
// bytecodes) needs this to stay responsive to Ctrl-C while it blocks for a message
// without a timeout; Go programs do not.
func (c *Conn) SetInterruptible(on bool) { c.interruptible.Store(on) }

// Fd returns the connection's file descriptor, or -1 once closed.
func (c *Conn) Fd() int {
	if c.closed.Load() {
		return -1
	}
	return c.fd
}

// Readable reports whether the connection receives.
func (c *Conn) Readable() bool { return c.readable }

// Writable reports whether the connection sends.
func (c *Conn) Writable() bool { return c.writable }

// Closed reports whether Close was called.
func (c *Conn) Closed() bool { return c.closed.Load() }

// Close closes the fd and releases the shared-memory rings. It is idempotent.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	err := unix.Close(c.fd)
	if ch := c.growing; ch != nil { // the ring being made is nobody's: close it once made
		go func() {
			if r := <-ch; r != nil {
				r.Close()
			}
		}()
		c.growing = nil
	}
	for _, r := range []*shmring.Ring{c.sendRing, c.recvRing} {
		if r != nil {
			r.Close()
		}
	}
	c.sendRing, c.recvRing = nil, nil
	if err != nil {
		return errs.Errorf("close conn: %w", err)
	}
	return nil
}

// SendBytes sends p as one message. It returns once p is handed to the kernel or,
// for a large payload in peer mode, copied into the shared ring; p may then be reused.
func (c *Conn) SendBytes(p []byte) error {
	if err := c.canSend(); err != nil {
		return errs.Errorf("send bytes: %w", err)
	}
	var err error
	if c.peer && len(p) >= ringThreshold {
		err = c.sendViaRing(p)
	} else {
		err = writeAll(c.fd, c.socket, c.sendHdr.Put(int64(len(p)), frame.Inline), p, nil)
	}
	if err != nil {
		return errs.Errorf("send bytes: %d-byte message: %w", len(p), err)
	}
	return nil
}

func (c *Conn) canSend() error {
	switch {
	case c.closed.Load():
		return ErrClosed
	case !c.writable:
		return ErrNotWritable
	}
	return nil
}

func (c *Conn) canRecv() error {
	switch {
	case c.closed.Load():
		return ErrClosed
	case !c.readable:
		return ErrNotReadable
	}
	return c.recvErr
}

// RecvBytes receives one message. With maxLength > 0, a longer message is refused at
// once with ErrMessageTooLong, without waiting for its bytes; the next receive skips
// them (DiscardLater), so the connection stays usable. maxLength <= 0: no limit.
func (c *Conn) RecvBytes(maxLength int64) ([]byte, error) {
	n, err := c.RecvHeader(-1)
	if err != nil {
		return nil, err
	}
	if (maxLength > 0 && n > maxLength) || n > math.MaxInt {
		if err := c.DiscardLater(); err != nil {
			return nil, err
		}
		return nil, errs.Errorf("recv bytes: %d-byte message, maxLength %d: %w", n, maxLength, ErrMessageTooLong)
	}
	if n <= recvUpFront || c.pendingRing {
		buf := make([]byte, n)
		err := c.RecvPayload(buf)
		for errors.Is(err, ErrInterrupted) { // only the wait for a header gives way here
			err = c.RecvPayload(buf)
		}
		if err != nil {
			return nil, err
		}
		return buf, nil
	}
	return c.recvGrowing(n)
}

// recvUpFront is the largest inline payload RecvBytes allocates in full on the strength
// of the header alone. Past it the buffer grows with what arrives: a peer that announces
// 1 TiB and sends nothing would otherwise abort the process (the Go runtime's out of
// memory is fatal, not a panic), and one announcing 2 GiB would pin that much. Ring
// payloads are already in shared memory the peer filled, and come from a gompx Pipe end.
const recvUpFront = 1 << 20

// recvGrowing reads the pending inline payload of n bytes into a buffer that at most
// doubles what has arrived, so memory follows the bytes received, not the claim.
func (c *Conn) recvGrowing(n int64) ([]byte, error) {
	buf := make([]byte, recvUpFront)
	var err error
	for got := 0; ; {
		if err = readFull(c.fd, buf[got:], false, false); err != nil || int64(len(buf)) == n {
			err = truncatedAfter(err, int64(got), n)
			break
		}
		got = len(buf)
		grown := make([]byte, min(n, 2*int64(got)))
		copy(grown, buf)
		buf = grown
	}
	if err := c.payloadDone("recv payload", err); err != nil {
		return nil, err
	}
	return buf, nil
}

// RecvHeader waits for the next message and returns its length, leaving the payload
// pending for RecvPayload or DiscardPayload. timeout < 0 waits forever; when it expires
// RecvHeader returns ErrTimeout with nothing consumed. End of stream before a header
// is io.EOF itself, unwrapped.
func (c *Conn) RecvHeader(timeout time.Duration) (int64, error) {
	if err := c.canRecv(); err != nil {
		return 0, errs.Errorf("recv header: %w", err)
	}
	if c.pending >= 0 {
		return 0, errs.Errorf("recv header: %w", ErrPayloadPending)
	}
	if c.skip > 0 {
		left, err := c.skipInline(c.skip, c.interruptible.Load())
		c.skip = left
		if errors.Is(err, ErrInterrupted) {
			return 0, errs.Errorf("recv header: %w", err) // the skip resumes on the next call
		}
		if err != nil {
			c.recvErr = err
			return 0, errs.Errorf("recv header: discarding a message refused before: %w", err)
		}
	}
	if timeout != 0 {
		c.awaitInputBriefly()
	}
	if timeout >= 0 {
		ready, err := c.pollIn(timeout)
		if err != nil {
			return 0, errs.Errorf("recv header: %w", err)
		}
		if !ready {
			return 0, errs.Errorf("recv header: after %v: %w", timeout, ErrTimeout)
		}
	}
	n, k, err := c.readHeader()
	if err == io.EOF {
		return 0, io.EOF // unwrapped, as io.Reader callers expect
	}
	if err == ErrInterrupted {
		return 0, errs.Errorf("recv header: %w", err) // nothing consumed: the stream is in step
	}
	if err != nil {
		c.recvErr = err
		return 0, errs.Errorf("recv header: %w", err)
	}
	c.pending, c.pendingRing, c.pendingDone = n, k == frame.InRing, 0
	return n, nil
}

// RecvPayload reads the pending payload into dst, whose length must equal what
// RecvHeader returned; large peer-mode payloads are copied straight from shared memory.
// On an interruptible Conn a signal returns an error wrapping ErrInterrupted with the
// payload still pending and what arrived kept in dst: call again with the same dst to
// resume (a peer that announces a message and stalls must not keep an interpreter
// from its Ctrl-C; CPython's os.read gives way too).
func (c *Conn) RecvPayload(dst []byte) error {
	if err := c.canRecv(); err != nil {
		return errs.Errorf("recv payload: %w", err)
	}
	if c.pending < 0 {
		return errs.Errorf("recv payload: %w", ErrNoPayload)
	}
	if int64(len(dst)) != c.pending {
		return errs.Errorf("recv payload: destination holds %d bytes, message has %d", len(dst), c.pending)
	}
	var err error
	if c.pendingRing {
		err = c.recvRing.Read(dst, c.senderAlive)
	} else {
		var done int
		done, err = readFullAt(c.fd, dst, int(c.pendingDone), c.interruptible.Load())
		if err == ErrInterrupted {
			c.pendingDone = int64(done)
			return errs.Errorf("recv payload: %w", err)
		}
	}
	return c.payloadDone("recv payload", err)
}

// DiscardPayload drops the pending payload, leaving the connection ready for the
// next message.
func (c *Conn) DiscardPayload() error {
	if err := c.canRecv(); err != nil {
		return errs.Errorf("discard payload: %w", err)
	}
	if c.pending < 0 {
		return errs.Errorf("discard payload: %w", ErrNoPayload)
	}
	var err error
	if c.pendingRing {
		err = c.recvRing.Discard(c.pending, c.senderAlive)
	} else {
		_, err = c.skipInline(c.pending-c.pendingDone, false)
	}
	return c.payloadDone("discard payload", err)
}

// DiscardLater drops the pending payload without waiting for it: its bytes are read and
// dropped at the start of the next RecvHeader. A peer that announces a message far
// longer than the caller accepts, and then sends nothing, so does not hold up the call
// that refuses it (CPython's recv_bytes(maxlength) raises at once too, leaving the
// stream out of step; here it stays in step). A ring payload is dropped at once: it is
// in shared memory already.
func (c *Conn) DiscardLater() error {
	if err := c.canRecv(); err != nil {
		return errs.Errorf("discard payload: %w", err)
	}
	if c.pending < 0 {
		return errs.Errorf("discard payload: %w", ErrNoPayload)
	}
	if c.pendingRing {
		return c.DiscardPayload()
	}
	c.skip, c.pending = c.pending-c.pendingDone, -1
	return nil
}

// skipInline reads and drops n bytes of inline payload and returns how many are left
// to drop: 0, or more after an error (ErrInterrupted, when intr, ends it early).
func (c *Conn) skipInline(n int64, intr bool) (int64, error) {
	scratch := make([]byte, min(n, 64<<10))
	left := n
	for left > 0 {
		part := scratch[:min(left, int64(len(scratch)))]
		done, err := readFullAt(c.fd, part, 0, intr)
		left -= int64(done)
		if err != nil {
			return left, truncatedAfter(err, n-left-int64(done), n)
		}
	}
	return 0, nil
}

func (c *Conn) payloadDone(op string, err error) error {
	n := c.pending
	c.pending = -1
	if err != nil {
		c.recvErr = err
		return errs.Errorf("%s: %d-byte message: %w", op, n, err)
	}
	return nil
}

// Poll reports whether a message (or end of stream) is ready to be received, waiting
// up to timeout for one (timeout < 0: forever; 0: just look).
func (c *Conn) Poll(timeout time.Duration) (bool, error) {
	if err := c.canRecv(); err != nil {
		return false, errs.Errorf("poll: %w", err)
	}
	if c.pending >= 0 {
		return true, nil
	}
	ready, err := c.pollIn(timeout)
	if err != nil {
		return false, errs.Errorf("poll: %w", err)
	}
	return ready, nil
}

// PollContext reports whether a message (or end of stream) is ready to be received,
// waiting until ctx is done for one: then false and an error wrapping ErrTimeout (ctx's
// deadline) or context.Canceled.
func (c *Conn) PollContext(ctx context.Context) (bool, error) {
	if err := c.canRecv(); err != nil {
		return false, errs.Errorf("poll: %w", err)
	}
	if c.pending >= 0 {
		return true, nil
	}
	n, err := ctxPoll(ctx, []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}})
	if err != nil {
		return false, errs.Errorf("poll: %w", err)
	}
	return n > 0, nil
}

// recvSpin is how long a receive polls for the next message before it blocks. In a
// request-reply exchange (a manager's proxy call, a worker's task) the answer usually
// comes within a few microseconds; a process that blocks pays for a sleep and a
// wake-up instead (5-10 µs each on this VM, and the wake-up on the peer's side too).
const recvSpin = 25 * time.Microsecond

// recvSpinRest is how many receives skip polling after a poll that found nothing: when
// answers are slow, or the peer waits for the very CPU the poll occupies, polling only
// costs.
const recvSpinRest = 16

// awaitInputBriefly polls the socket's receive queue for up to recvSpin, yielding the
// CPU between looks (a peer on the same CPU then gets to answer), so that a quick
// answer is read without sleeping. It gives up at once on any error (the real read
// reports it) and does not poll at all while every CPU is busy (package cpuload).
func (c *Conn) awaitInputBriefly() {
	if c.spinRest > 0 {
		c.spinRest--
		return
	}
	if cpuload.Busy() { // a yield would hand a CPU-bound task a whole time slice
		return
	}
	start := time.Now()
	for {
		n, err := unix.IoctlGetInt(c.fd, unix.SIOCINQ)
		if err != nil || n > 0 {
			return
		}
		if time.Since(start) > recvSpin {
			c.spinRest = recvSpinRest
			return
		}
		unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
}

func (c *Conn) pollIn(timeout time.Duration) (bool, error) {
	p := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
	poll := fdPoll
	if c.interruptible.Load() {
		// An embedder's Conn: on its main thread a signal ends the wait (EnableInterrupts).
		poll = fdPollIntr
	}
	n, err := poll(p, timeout)
	return n > 0, err
}
