//go:build linux

package gompx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gompx/gompx/gompx/internal/frame"
)

// Fuzz targets for the byte streams a peer process controls: what arrives on a Conn
// (framing), the authentication handshake from either side, and a Listener's accept
// path as a manager server runs it. Each checks that hostile input ends in a clear
// error wrapping the right sentinel, never a panic, a hang or an allocation the peer
// did not pay for with bytes.

// hostilePair is a Conn on one end of a socketpair; the fuzz input is written to the
// other end, which is then shut for writing (end of stream after the input) but kept
// open, so what the Conn sends back is absorbed by the socket buffer.
func hostilePair(t *testing.T, peer bool, input []byte) *Conn {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConn(fds[0], true, true, peer)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		writeAll(fds[1], true, nil, input, nil) // fails only if the Conn is closed first
		unix.Shutdown(fds[1], unix.SHUT_WR)
	}()
	t.Cleanup(func() { c.Close(); <-done; unix.Close(fds[1]) })
	return c
}

// checkClearError fails unless err is a one-line, lower-case message (or io.EOF itself,
// which a clean end of stream is, unwrapped, as io.Reader callers expect).
func checkClearError(t *testing.T, err error) {
	t.Helper()
	if err == io.EOF {
		return
	}
	msg := err.Error()
	if msg == "" || strings.ContainsAny(msg, "\n\x00") || msg[0] >= 'A' && msg[0] <= 'Z' {
		t.Fatalf("unclear error %q", msg)
	}
}

// frameModel is the reference decoder of a CPython frame stream: the messages it
// holds, and the error that ends it (io.EOF for a clean end).
func frameModel(data []byte, maxLength int64, peer bool) (msgs [][]byte, end error) {
	r := bytes.NewReader(data)
	for {
		n, k, err := frame.ReadHeader(r)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return msgs, err
		case err != nil:
			return msgs, ErrBadFrame
		case k == frame.InRing:
			return msgs, ErrBadFrame // a plain peer may not, and no ring fd was sent
		case n > int64(r.Len()):
			return msgs, io.ErrUnexpectedEOF
		}
		payload := data[len(data)-r.Len():][:n]
		r.Seek(n, io.SeekCurrent)
		if maxLength > 0 && n > maxLength {
			msgs = append(msgs, nil) // stands for ErrMessageTooLong
			continue
		}
		msgs = append(msgs, payload)
	}
}

// FuzzConnRecv: whatever a peer writes, RecvBytes returns exactly the messages the
// reference decoder finds, then the error that ends the stream; a length the peer
// claims but does not send costs no more memory than what it sent.
func FuzzConnRecv(f *testing.F) {
	for _, g := range wireGolden {
		f.Add(unhex(g.wire), uint16(0), false)
	}
	f.Add(unhex("00000003616263"+"00000001"), uint16(2), false)       // too long, then truncated
	f.Add(unhex("ffffffff"+"0000000080000000"+"6162"), uint16(0), false) // 2 GiB claimed, 2 bytes sent
	f.Add(unhex("ffffffff"+"0000010000000000"), uint16(0), true)         // 1 TiB claimed
	f.Add(unhex("7fffffff"+"00"), uint16(1), false)                      // 2 GiB claimed past maxLength
	f.Add(unhex("fffffffe"+"0000000000020000"), uint16(0), true)         // ring frame, no ring sent
	f.Add(unhex("fffffffd"), uint16(0), false)                           // no such prefix
	f.Add(unhex("ffffffff"+"ffffffffffffffff"), uint16(0), false)        // long form past MaxInt64
	f.Fuzz(func(t *testing.T, data []byte, maxLength uint16, peer bool) {
		c := hostilePair(t, peer, data)
		want, end := frameModel(data, int64(maxLength), peer)
		for i := 0; ; i++ {
			got, err := c.RecvBytes(int64(maxLength))
			if i < len(want) && want[i] == nil {
				if !errors.Is(err, ErrMessageTooLong) {
					t.Fatalf("message %d: got %q, %v; want ErrMessageTooLong", i, got, err)
				}
				checkClearError(t, err)
				continue
			}
			if i < len(want) {
				if err != nil || !bytes.Equal(got, want[i]) {
					t.Fatalf("message %d: got %q, %v; want %q", i, got, err, want[i])
				}
				continue
			}
			if !errors.Is(err, end) {
				t.Fatalf("after %d messages: got %q, %v; want %v", i, got, err, end)
			}
			checkClearError(t, err)
			if end == ErrBadFrame && !errors.Is(err, frame.ErrBadLength) && !strings.Contains(err.Error(), "shared-memory frame") {
				t.Fatalf("bad frame without its reason: %v", err)
			}
			// The stream is over or out of step: every later receive fails at once.
			if _, again := c.RecvBytes(int64(maxLength)); again == nil {
				t.Fatalf("receive after %v succeeded", err)
			}
			return
		}
	})
}

// TestRecvBytesClaimCostsNoMemory: a peer that announces far more than it sends (here
// 1 TiB, then 3 bytes and a hang-up) gets io.ErrUnexpectedEOF, and the receiver never
// allocated for the claim (a make([]byte, claim) would abort the process).
func TestRecvBytesClaimCostsNoMemory(t *testing.T) {
	for _, claim := range []uint64{1 << 31, 1 << 40, 1<<62 + 1} {
		hdr := binary.BigEndian.AppendUint32(nil, uint32(0xffffffff))
		hdr = binary.BigEndian.AppendUint64(hdr, claim)
		c := hostilePair(t, false, append(hdr, "abc"...))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := c.RecvBytes(0); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("claim %d: err = %v, want io.ErrUnexpectedEOF", claim, err)
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
			t.Errorf("claim %d: %d bytes allocated for 3 received", claim, grew)
		}
	}
}
