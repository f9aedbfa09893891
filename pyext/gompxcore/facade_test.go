package gompxcore

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/gompx/gompx/gompx"
)

// pinned keeps test buffers on the Go heap, which never moves them, as Python's memory
// never moves: an address of a stack slice could go stale when the stack grows.
var pinned [][]byte

func heapBytes(n int) []byte {
	b := make([]byte, n)
	pinned = append(pinned, b)
	return b
}

func spec(fields ...string) []byte { return []byte(strings.Join(fields, "\x00") + "\x00") }

func TestParseProcessSpec(t *testing.T) {
	tests := []struct {
		name    string
		spec    []byte
		want    gompx.Cmd
		wantErr string
	}{
		{
			name: "full",
			spec: spec("/py", "/tmp", "1", "2", "5", "7", "2", "py", "-c", "1", "A=b"),
			want: gompx.Cmd{Path: "/py", Dir: "/tmp", KillWithParent: true, Files: []int{5, 7},
				Args: []string{"py", "-c"}, Env: []string{"A=b"}, Stdout: 1, Stderr: 2},
		},
		{
			name: "empty lists",
			spec: spec("/py", "", "0", "0", "0", "0"),
			want: gompx.Cmd{Path: "/py", Args: []string{}, Env: []string{}, Stdout: 1, Stderr: 2},
		},
		{name: "truncated", spec: spec("/py", ""), wantErr: "truncated"},
		{name: "count past the end", spec: spec("/py", "", "0", "9", "1"), wantErr: "bad count"},
		{name: "negative fd", spec: spec("/py", "", "0", "1", "-3", "0", "0"), wantErr: "bad descriptor"},
		{name: "trailing fields", spec: spec("/py", "", "0", "0", "0", "0", "x"), wantErr: "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcessSpec(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestTranslate(t *testing.T) {
	tests := []struct {
		err  error
		want string // what Python sees: RuntimeError's message
	}{
		{fmt.Errorf("recv: %w", gompx.ErrClosed), "gompx:OSError:0:handle is closed"},
		{fmt.Errorf("send: %w", gompx.ErrNotWritable), "gompx:OSError:0:connection is read-only"},
		{fmt.Errorf("recv: %w", gompx.ErrNotReadable), "gompx:OSError:0:connection is write-only"},
		{io.EOF, "gompx:EOFError:0:EOF"},
		{fmt.Errorf("recv payload: %w", io.ErrUnexpectedEOF), "gompx:EOFError:0:recv payload: unexpected EOF"},
		{fmt.Errorf("send: %w", syscall.EPIPE), "gompx:OSError:32:send: broken pipe"},
		{errors.New("odd"), "gompx:OSError:0:odd"},
		{newPyError("ValueError", "bad %d", 1), "gompx:ValueError:0:bad 1"},
	}
	for _, tt := range tests {
		if got := translate(tt.err).Error(); got != tt.want {
			t.Errorf("translate(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if translate(nil) != nil {
		t.Error("translate(nil) is not nil")
	}
}

func TestPanicBecomesSystemError(t *testing.T) {
	f := func() (n int, err error) {
		defer recoverInto(&err)
		var m map[string]int
		m["boom"] = 1 // assignment to a nil map panics
		return 1, nil
	}
	_, err := f()
	if err == nil || !strings.HasPrefix(err.Error(), "gompx:SystemError:0:gompx internal error (Go panic)") {
		t.Fatalf("err = %v", err)
	}
}

func TestStaleHandle(t *testing.T) {
	packed, err := PipeNew(true)
	if err != nil {
		t.Fatal(err)
	}
	a, b := packed>>32, packed&0xffffffff
	defer ConnClose(b)
	if _, err := ConnClose(a); err != nil {
		t.Fatal(err)
	}
	if _, err := ConnClose(a); err != nil {
		t.Errorf("second close: %v, want none", err)
	}
	if _, err := ConnSend(a, 0, 0); err == nil || err.Error() != "gompx:OSError:0:handle is closed" {
		t.Errorf("send on a closed handle: %v", err)
	}
	if _, err := ConnPoll(int64(1)<<40, 0); err == nil {
		t.Error("a handle never issued was accepted")
	}
}

func TestSendRecvThroughAddresses(t *testing.T) {
	packed, err := PipeNew(true)
	if err != nil {
		t.Fatal(err)
	}
	a, b := packed>>32, packed&0xffffffff
	defer ConnClose(a)
	defer ConnClose(b)
	small := heapBytes(5)
	copy(small, "hello")
	large := heapBytes(300 << 10) // through the shared ring
	for i := range large {
		large[i] = byte(i * 7)
	}
	for _, msg := range [][]byte{small, large} {
		if _, err := ConnSend(a, uintptr(unsafe.Pointer(&msg[0])), len(msg)); err != nil {
			t.Fatal(err)
		}
		scratch := heapBytes(64)
		n, err := ConnRecv(b, uintptr(unsafe.Pointer(&scratch[0])), len(scratch), 1000)
		if err != nil || n != int64(len(msg)) {
			t.Fatalf("recv: n=%d err=%v", n, err)
		}
		got := scratch[:min(n, 64)]
		if n > int64(len(scratch)) {
			got = heapBytes(int(n))
			if _, err := ConnRecvPending(b, uintptr(unsafe.Pointer(&got[0])), int(n)); err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != string(msg) {
			t.Fatalf("%d-byte message came back different", len(msg))
		}
	}
	if n, err := ConnRecv(b, 0, 0, 10); n != RecvTimedOut || err != nil {
		t.Errorf("recv with nothing sent: n=%d err=%v, want RecvTimedOut", n, err)
	}
}
