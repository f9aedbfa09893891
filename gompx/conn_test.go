//go:build linux

package gompx

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// plainPair returns a plain-mode Conn and the raw fd of the other end of a socketpair,
// so tests see and forge the exact bytes on the wire.
func plainPair(t *testing.T) (*Conn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConn(fds[0], true, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); unix.Close(fds[1]) })
	return c, fds[1]
}

func mustWrite(t *testing.T, fd int, b []byte) {
	t.Helper()
	if err := writeAll(fd, true, nil, b, nil); err != nil {
		t.Fatal(err)
	}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// wireGolden is what CPython puts on the wire for each payload: the header, then the
// payload bytes.
var wireGolden = []struct {
	payload string
	wire    string
	note    string
}{
	{"", "00000000", "empty message: header only"},
	{"a", "00000001" + "61", "one byte"},
	{"hello", "00000005" + "68656c6c6f", "short form"},
	{string(make([]byte, 300)), "0000012c" + hex.EncodeToString(make([]byte, 300)), "300 zero bytes"},
}

func TestPlainWireGolden(t *testing.T) {
	c, raw := plainPair(t)
	for _, g := range wireGolden {
		if err := c.SendBytes([]byte(g.payload)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(g.wire)/2)
		if err := readFull(raw, got, false, false); err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != g.wire {
			t.Errorf("%s: wire %x, want %s", g.note, got, g.wire)
		}
		mustWrite(t, raw, unhex(g.wire))
		msg, err := c.RecvBytes(0)
		if err != nil || string(msg) != g.payload {
			t.Errorf("%s: RecvBytes = %q, %v", g.note, msg, err)
		}
	}
}

// CPython reads the -1 long form for any length; a sender may use it below 2 GiB too.
func TestPlainLongFormRecv(t *testing.T) {
	c, raw := plainPair(t)
	mustWrite(t, raw, unhex("ffffffff"+"0000000000000005"+"68656c6c6f"))
	msg, err := c.RecvBytes(0)
	if err != nil || string(msg) != "hello" {
		t.Fatalf("RecvBytes = %q, %v", msg, err)
	}
}

// Every truncation of a frame is io.ErrUnexpectedEOF; nothing at all is io.EOF.
func TestPlainTruncated(t *testing.T) {
	frames := []string{"00000005" + "68656c6c6f", "ffffffff" + "0000000000000003" + "616263", "00000000"}
	for _, f := range frames {
		wire := unhex(f)
		for cut := 0; cut < len(wire); cut++ {
			c, raw := plainPair(t)
			mustWrite(t, raw, wire[:cut])
			unix.Shutdown(raw, unix.SHUT_WR)
			_, err := c.RecvBytes(0)
			want := io.ErrUnexpectedEOF
			if cut == 0 {
				want = io.EOF
			}
			if !errors.Is(err, want) {
				t.Errorf("%s cut at %d: %v, want %v", f, cut, err, want)
			}
		}
	}
}

func TestPlainBadFrame(t *testing.T) {
	for _, wire := range []string{
		"fffffffd",                      // -3
		"80000000",                      // MinInt32
		"ffffffff" + "8000000000000000", // long form above MaxInt64
		"fffffffe" + "0000000000000001", // ring marker on a plain connection
	} {
		c, raw := plainPair(t)
		mustWrite(t, raw, unhex(wire))
		if _, err := c.RecvBytes(0); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: %v, want ErrBadFrame", wire, err)
		}
		if _, err := c.RecvBytes(0); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: second receive %v, want the sticky ErrBadFrame", wire, err)
		}
	}
}

func TestMaxLength(t *testing.T) {
	for _, mode := range []string{"plain", "peer"} {
		t.Run(mode, func(t *testing.T) {
			a, b := testPipe2(t, mode)
			big := bytes.Repeat([]byte("x"), 2*ringThreshold)
			for _, msg := range [][]byte{[]byte("too long"), big} {
				errc := make(chan error, 1)
				go func() { errc <- a.SendBytes(msg) }()
				if _, err := b.RecvBytes(4); !errors.Is(err, ErrMessageTooLong) {
					t.Fatalf("%d bytes, maxLength 4: %v, want ErrMessageTooLong", len(msg), err)
				}
				// The refused bytes are skipped by the next receive (in plain mode the
				// sender may still be writing them): send the next message behind them.
				go func() {
					if err := <-errc; err != nil {
						errc <- err
						return
					}
					errc <- a.SendBytes([]byte("ok"))
				}()
				if got, err := b.RecvBytes(4); err != nil || string(got) != "ok" {
					t.Fatalf("next message: %q, %v", got, err)
				}
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// testPipe2 returns two duplex ends: plain (NewConn over a socketpair) or peer (Pipe).
func testPipe2(t *testing.T, mode string) (*Conn, *Conn) {
	t.Helper()
	var a, b *Conn
	if mode == "peer" {
		var err error
		if a, b, err = Pipe(true); err != nil {
			t.Fatal(err)
		}
	} else {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		a, _ = NewConn(fds[0], true, true)
		b, _ = NewConn(fds[1], true, true)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestClosed(t *testing.T) {
	a, _ := testPipe2(t, "peer")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !a.Closed() || a.Fd() != -1 {
		t.Fatalf("Closed() = %v, Fd() = %d", a.Closed(), a.Fd())
	}
	errs := map[string]error{"SendBytes": a.SendBytes(nil)}
	_, errs["RecvBytes"] = a.RecvBytes(0)
	_, errs["RecvHeader"] = a.RecvHeader(0)
	errs["RecvPayload"] = a.RecvPayload(nil)
	errs["DiscardPayload"] = a.DiscardPayload()
	_, errs["Poll"] = a.Poll(0)
	for op, err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", op, err)
		}
	}
}

func TestOneWay(t *testing.T) {
	r, w, err := Pipe(false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if !r.Readable() || r.Writable() || w.Readable() || !w.Writable() {
		t.Fatalf("flags: r=(%v,%v) w=(%v,%v)", r.Readable(), r.Writable(), w.Readable(), w.Writable())
	}
	if err := r.SendBytes([]byte("x")); !errors.Is(err, ErrNotWritable) {
		t.Errorf("send on reader: %v", err)
	}
	if _, err := w.RecvBytes(0); !errors.Is(err, ErrNotReadable) {
		t.Errorf("recv on writer: %v", err)
	}
	if _, err := w.Poll(0); !errors.Is(err, ErrNotReadable) {
		t.Errorf("poll on writer: %v", err)
	}
	w.SendBytes([]byte("one way"))
	if got, err := r.RecvBytes(0); err != nil || string(got) != "one way" {
		t.Fatalf("RecvBytes = %q, %v", got, err)
	}
	w.Close()
	if _, err := r.RecvBytes(0); err != io.EOF {
		t.Fatalf("after writer closed: %v, want io.EOF", err)
	}
}

func TestNewConnErrors(t *testing.T) {
	if _, err := NewConn(0, false, false); err == nil {
		t.Error("NewConn(neither readable nor writable) succeeded")
	}
	if _, err := NewConn(-1, true, true); !errors.Is(err, unix.EBADF) {
		t.Errorf("NewConn(-1) = %v, want EBADF", err)
	}
}

// NewConn works over an os.Pipe too (CPython's Pipe(duplex=False) uses one).
func TestOverOSPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewConn(dupFd(t, int(pr.Fd())), true, false)
	w, _ := NewConn(dupFd(t, int(pw.Fd())), false, true)
	pr.Close()
	pw.Close()
	defer r.Close()
	for _, n := range []int{0, 5, 100000} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		errc := make(chan error, 1)
		go func() { errc <- w.SendBytes(msg) }()
		if got, err := r.RecvBytes(0); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes over a pipe: %d bytes, %v", n, len(got), err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if _, err := r.RecvBytes(0); err != io.EOF {
		t.Fatalf("after close: %v", err)
	}
}

func dupFd(t *testing.T, fd int) int {
	t.Helper()
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Sending to a closed peer is EPIPE, an error, not a SIGPIPE.
func TestSendToClosedPeer(t *testing.T) {
	for _, mode := range []string{"plain", "peer"} {
		a, b := testPipe2(t, mode)
		b.Close()
		for _, n := range []int{10, 4 * ringSize} {
			if err := a.SendBytes(make([]byte, n)); !errors.Is(err, unix.EPIPE) {
				t.Errorf("%s, %d bytes: %v, want EPIPE", mode, n, err)
			}
		}
	}
}

func TestTimeoutAndPoll(t *testing.T) {
	a, b := testPipe2(t, "peer")
	if ok, err := b.Poll(0); ok || err != nil {
		t.Fatalf("Poll(0) on empty = %v, %v", ok, err)
	}
	start := time.Now()
	if ok, _ := b.Poll(30 * time.Millisecond); ok || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("Poll(30ms) = %v after %v", ok, time.Since(start))
	}
	if _, err := b.RecvHeader(20 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("RecvHeader on empty: %v, want ErrTimeout", err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		a.SendBytes([]byte("late"))
	}()
	if ok, err := b.Poll(-1); !ok || err != nil {
		t.Fatalf("Poll(-1) = %v, %v", ok, err)
	}
	n, err := b.RecvHeader(time.Second)
	if err != nil || n != 4 {
		t.Fatalf("RecvHeader = %d, %v", n, err)
	}
	if ok, _ := b.Poll(0); !ok {
		t.Fatal("Poll with a payload pending = false")
	}
	if _, err := b.RecvHeader(0); !errors.Is(err, ErrPayloadPending) {
		t.Fatalf("second RecvHeader: %v, want ErrPayloadPending", err)
	}
	if err := b.RecvPayload(make([]byte, 3)); err == nil {
		t.Fatal("RecvPayload into a short buffer succeeded")
	}
	dst := make([]byte, 4)
	if err := b.RecvPayload(dst); err != nil || string(dst) != "late" {
		t.Fatalf("RecvPayload = %q, %v", dst, err)
	}
	if err := b.DiscardPayload(); !errors.Is(err, ErrNoPayload) {
		t.Fatalf("DiscardPayload with none pending: %v", err)
	}
	a.Close()
	if ok, _ := b.Poll(time.Second); !ok {
		t.Fatal("Poll at EOF = false")
	}
}

func TestWait(t *testing.T) {
	a1, b1 := testPipe2(t, "peer")
	a2, b2 := testPipe2(t, "plain")
	_, b3 := testPipe2(t, "peer")
	fds := []int{b1.Fd(), b2.Fd(), b3.Fd()}
	if got, err := Wait(fds, 10*time.Millisecond); err != nil || len(got) != 0 {
		t.Fatalf("Wait on idle = %v, %v", got, err)
	}
	a2.SendBytes([]byte("x"))
	if got, err := Wait(fds, -1); err != nil || len(got) != 1 || got[0] != b2.Fd() {
		t.Fatalf("Wait = %v, %v; want [%d]", got, err, b2.Fd())
	}
	a1.Close() // hang-up counts as ready
	got, err := Wait(fds, time.Second)
	if err != nil || len(got) != 2 || got[0] != b1.Fd() || got[1] != b2.Fd() {
		t.Fatalf("Wait = %v, %v; want [%d %d]", got, err, b1.Fd(), b2.Fd())
	}
	if _, err := Wait([]int{-1}, 0); !errors.Is(err, unix.EBADF) {
		t.Fatalf("Wait on -1: %v", err)
	}
}

func TestConnStateText(t *testing.T) {
	s := ConnState{Fd: 7, Readable: true, Peer: true, SendRingFd: 9, PeerHasSendRing: true, RecvRingFd: -1}
	text, _ := s.MarshalText()
	var back ConnState
	if err := back.UnmarshalText(text); err != nil || back != s {
		t.Fatalf("round trip %q: %+v, %v", text, back, err)
	}
	if err := back.UnmarshalText([]byte("fd=3 r=1")); err == nil {
		t.Fatal("UnmarshalText accepted missing fields")
	}
	if got := s.Fds(); len(got) != 2 || got[0] != 7 || got[1] != 9 {
		t.Fatalf("Fds = %v", got)
	}
	moved, err := s.WithFds([]int{3, 4})
	if err != nil || moved.Fd != 3 || moved.SendRingFd != 4 || moved.RecvRingFd != -1 {
		t.Fatalf("WithFds = %+v, %v", moved, err)
	}
}

// A real message above 2 GiB takes the -1 long form both ways, in plain mode.
func TestPlainOver2GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: moves 2 GiB through a socket and holds 4 GiB of memory")
	}
	const n = 1<<31 + 3
	a, b := testPipe2(t, "plain")
	src := make([]byte, n)
	src[0], src[n/2], src[n-1] = 1, 2, 3
	errc := make(chan error, 1)
	go func() { errc <- a.SendBytes(src) }()
	size, err := b.RecvHeader(-1)
	if err != nil || size != n {
		t.Fatalf("RecvHeader = %d, %v; want %d", size, err, n)
	}
	if hdr := b.recvHdr[:]; hex.EncodeToString(hdr) != "ffffffff0000000080000003" {
		t.Fatalf("header %x, want the -1 long form", hdr)
	}
	dst := make([]byte, n)
	if err := b.RecvPayload(dst); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if dst[0] != 1 || dst[n/2] != 2 || dst[n-1] != 3 {
		t.Fatal("payload corrupted")
	}
}
