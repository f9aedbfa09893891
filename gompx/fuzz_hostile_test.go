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
		case maxLength > 0 && n > maxLength:
			msgs = append(msgs, nil) // stands for ErrMessageTooLong: its bytes are skipped later
			if n > int64(r.Len()) {
				return msgs, io.ErrUnexpectedEOF
			}
			r.Seek(n, io.SeekCurrent)
			continue
		case n > int64(r.Len()):
			return msgs, io.ErrUnexpectedEOF
		}
		msgs = append(msgs, data[len(data)-r.Len():][:n])
		r.Seek(n, io.SeekCurrent)
	}
}

// FuzzConnRecv: whatever a peer writes, RecvBytes returns exactly the messages the
// reference decoder finds, then the error that ends the stream; a length the peer
// claims but does not send costs no more memory than what it sent.
func FuzzConnRecv(f *testing.F) {
	for _, g := range wireGolden {
		f.Add(unhex(g.wire), uint16(0), false)
	}
	f.Add(unhex("00000003616263"+"00000001"), uint16(2), false)          // too long, then truncated
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

// frameOf is the wire form of one inline message.
func frameOf(p []byte) []byte {
	var h frame.Header
	return append(h.Put(int64(len(p)), frame.Inline), p...)
}

// handshakeModes are the step orders a Conn runs against the fuzzed peer: each half
// alone, a Listener's (deliver, then answer) and a Client's (answer, then deliver).
var handshakeModes = [][]AuthStep{
	{DeliverStep}, {AnswerStep}, {DeliverStep, AnswerStep}, {AnswerStep, DeliverStep},
}

// answerModel says whether a peer that sends data can pass AnswerStep alone: a
// challenge Answer accepts, then #WELCOME#; and what this side must have sent.
func answerModel(key, data []byte) (ok bool, sent []byte) {
	r := bytes.NewReader(data)
	var msgs [][]byte
	for len(msgs) < 2 {
		n, k, err := frame.ReadHeader(r)
		if err != nil || k != frame.Inline || n > maxAuthMessage || n > int64(r.Len()) {
			return false, nil
		}
		msg := make([]byte, n)
		r.Read(msg)
		msgs = append(msgs, msg)
		if len(msgs) == 1 {
			answer, err := Answer(key, msg)
			if err != nil {
				return false, nil
			}
			sent = frameOf(answer)
		}
	}
	return bytes.Equal(msgs[1], authWelcome), sent
}

// FuzzHandshakePeer: a peer that sends anything at all during the handshake, as
// Listener (deliver, answer) or Client (answer, deliver) or either half alone. The
// delivering side never accepts it (it cannot know the random challenge's HMAC) and
// tells it #FAILURE# when it got an answer; the answering side succeeds exactly when
// the peer sent a valid challenge and then #WELCOME#. Every failure is final, names
// the handshake and wraps one of the sentinels a caller tests for.
func FuzzHandshakePeer(f *testing.F) {
	key := []byte("secret")
	legacy, _ := Answer(key, append([]byte("#CHALLENGE#"), legacyChallenge...))
	seeds := [][]byte{
		nil,
		frameOf(append([]byte("#CHALLENGE#"), legacyChallenge...)),
		append(frameOf(append([]byte("#CHALLENGE#"), modernChallenge...)), frameOf([]byte("#WELCOME#"))...),
		append(frameOf(append([]byte("#CHALLENGE#"), legacyChallenge...)), frameOf([]byte("#FAILURE#"))...),
		frameOf(legacy),
		frameOf(prefixed("sha256", modernSHA256)),
		frameOf([]byte("#CHALLENGE#{sha3_384")),
		unhex("7fffffff"),                                                     // 2 GiB claimed
		unhex("ffffffff0000010000000000"),                                     // 1 TiB claimed
		unhex("00000101"),                                                     // 257 bytes claimed: one past the limit
		unhex("fffffffe0000000000000010"),                                     // a ring frame on a plain connection
		frameOf([]byte("\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.")), // a pickle, never loaded
	}
	for _, s := range seeds {
		for m := range handshakeModes {
			f.Add(s, uint8(m))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		steps := handshakeModes[int(mode)%len(handshakeModes)]
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fds[1])
		c, err := NewConn(fds[0], true, true)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Handshake messages are at most a few hundred bytes: the socket buffer takes
		// the input and whatever this side sends back, so neither side blocks.
		if len(data) > 64<<10 {
			data = data[:64<<10]
		}
		if err := writeAll(fds[1], true, nil, data, nil); err != nil {
			t.Fatal(err)
		}
		unix.Shutdown(fds[1], unix.SHUT_WR)
		err = runHandshake(c, key, "", steps...)
		sent := drain(t, fds[1])

		wantOK, wantSent := false, []byte(nil)
		if len(steps) == 1 && steps[0] == AnswerStep {
			wantOK, wantSent = answerModel(key, data)
		}
		if wantOK {
			if err != nil || !bytes.Equal(sent, wantSent) {
				t.Fatalf("valid challenge and welcome: err %v, sent %x, want %x", err, sent, wantSent)
			}
			return
		}
		if err == nil {
			t.Fatalf("steps %v: peer %x authenticated", steps, data)
		}
		checkClearError(t, err)
		if !strings.HasPrefix(err.Error(), "gompx: handshake: ") {
			t.Fatalf("error %q does not name the handshake", err)
		}
		var known bool
		for _, s := range []error{ErrAuthentication, io.EOF, io.ErrUnexpectedEOF, ErrBadFrame, ErrMessageTooLong} {
			known = known || errors.Is(err, s)
		}
		if !known {
			t.Fatalf("error %v wraps none of the handshake's sentinels", err)
		}
		if errors.Is(err, ErrAuthentication) && steps[0] == DeliverStep && !bytes.HasSuffix(sent, frameOf(authFailure)) {
			t.Fatalf("rejected answer but sent %q, not #FAILURE# last", sent)
		}
		if c.RecvBytes(0); c.recvErr == nil && !errors.Is(err, ErrAuthentication) && !errors.Is(err, io.EOF) {
			t.Fatalf("stream error %v left the connection in step", err)
		}
	})
}

// drain returns what is queued for reading on fd without waiting for more.
func drain(t *testing.T, fd int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if n <= 0 || err != nil {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// FuzzListenerAccept: a client that connects to a Listener and sends anything, with or
// without an authkey (a manager server's accept path: it always has one). With a key,
// Accept fails, closes the connection and wraps a handshake sentinel; without one it
// hands the connection over. Either way the Listener then serves a well-behaved
// client.
func FuzzListenerAccept(f *testing.F) {
	f.Add([]byte(nil), true)
	f.Add(unhex("7fffffff"), true)
	f.Add(unhex("ffffffff0000010000000000"), true)
	f.Add(frameOf([]byte("{sha256}"+strings.Repeat("x", 32))), true)
	f.Add(frameOf([]byte("\x80\x04\x95")), false)
	f.Add(unhex("00000005ab"), false)
	key := []byte("secret")
	f.Fuzz(func(t *testing.T, data []byte, withKey bool) {
		opts := ListenOptions{}
		if withKey {
			opts.Authkey = key
		}
		l, err := Listen("unix", "", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if len(data) > 64<<10 {
			data = data[:64<<10]
		}
		sock, err := connectSocket("unix", l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(sock)
		if err := writeAll(sock, true, nil, data, nil); err != nil {
			t.Fatal(err)
		}
		unix.Shutdown(sock, unix.SHUT_WR)
		c, err := l.Accept()
		switch {
		case withKey && err == nil:
			c.Close()
			t.Fatalf("client %x passed the handshake", data)
		case withKey:
			checkClearError(t, err)
			if !strings.HasPrefix(err.Error(), "gompx: accept: handshake: ") {
				t.Fatalf("error %q does not name accept and the handshake", err)
			}
			// The bad connection is closed: the client reads what it was sent, then EOF.
			drain(t, sock)
			if n, _, err := unix.Recvfrom(sock, make([]byte, 1), unix.MSG_DONTWAIT); n != 0 || err != nil {
				t.Fatalf("bad client's connection still open: %d, %v", n, err)
			}
		case err != nil:
			t.Fatalf("accept without a key: %v", err)
		default:
			c.Close()
		}
		roundTrip(t, l, opts.Authkey)
	})
}

// TestRefusedClaimReturnsAtOnce: a message announced longer than maxLength is refused
// without waiting for its bytes (the peer here sends none and stays connected); they are
// skipped by the next receive, which then gets the next message.
func TestRefusedClaimReturnsAtOnce(t *testing.T) {
	c, peer := plainPair(t)
	mustWrite(t, peer, unhex("00100000")) // 1 MiB announced, nothing sent
	if _, err := c.RecvBytes(10); !errors.Is(err, ErrMessageTooLong) {
		t.Fatalf("err = %v, want ErrMessageTooLong", err)
	}
	go func() {
		writeAll(peer, true, nil, make([]byte, 1<<20), nil)
		writeAll(peer, true, nil, frameOf([]byte("next")), nil)
	}()
	if got, err := c.RecvBytes(10); string(got) != "next" || err != nil {
		t.Fatalf("after the refused message: %q, %v", got, err)
	}
}

// TestTruncatedTellsWhatArrived: a stream that ends inside a frame reports how much of
// the part being read had arrived (Python raises EOFError for none, as CPython does, and
// OSError "got end of file during message" for some).
func TestTruncatedTellsWhatArrived(t *testing.T) {
	for _, tt := range []struct {
		wire      string
		got, want int64
	}{
		{"0000", 2, 4},
		{"00000064", 0, 100},
		{"00000064" + "6162", 2, 100},
		{"ffffffff", 0, 8},
		{"ffffffff" + "00", 1, 8},
		{"ffffffff" + "0000000080000000" + "61", 1, 1 << 31},
	} {
		c := hostilePair(t, false, unhex(tt.wire))
		_, err := c.RecvBytes(0)
		var te *TruncatedError
		if !errors.As(err, &te) || te.Got != tt.got || te.Want != tt.want || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: err = %v, want %d of %d bytes", tt.wire, err, tt.got, tt.want)
		}
	}
}
