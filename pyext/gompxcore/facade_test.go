package gompxcore

import (
	"errors"
	"fmt"
	"io"
	"runtime"
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
		{newPyError(ErrKindValueError, "bad %d", 1), "gompx:ValueError:0:bad 1"},
	}
	for _, tt := range tests {
		if got := describe(translate(tt.err)); got != tt.want {
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
		//lint:ignore SA5000 the panic is what this test recovers from
		m["boom"] = 1
		return 1, nil
	}
	_, err := f()
	if err == nil || !strings.HasPrefix(describe(err), "gompx:SystemError:0:gompx internal error (Go panic)") {
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
	if _, err := ConnSend(a, 0, 0); err == nil || describe(err) != "gompx:OSError:0:handle is closed" {
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

func TestOrphanGraceMs(t *testing.T) {
	for in, want := range map[string]int{"": 5000, "0": 0, "0.25": 250, "12": 12000} {
		if got, err := OrphanGraceMs(in); got != want || err != nil {
			t.Errorf("OrphanGraceMs(%q) = %d, %v; want %d, nil", in, got, err, want)
		}
	}
	for _, in := range []string{"soon", "-1", "inf", "nan"} {
		_, err := OrphanGraceMs(in)
		if err == nil || !strings.HasPrefix(describe(err), "gompx:ValueError:0:") ||
			!strings.Contains(describe(err), "GOMPX_ORPHAN_GRACE") {
			t.Errorf("OrphanGraceMs(%q) error = %v, want a ValueError naming GOMPX_ORPHAN_GRACE", in, err)
		}
	}
}

// WatchParent off the main thread (a test goroutine) raises RuntimeError and leaves
// nothing behind; a negative grace is a ValueError.
func TestWatchParentErrors(t *testing.T) {
	if _, err := WatchParent(-1, -5); err == nil || !strings.HasPrefix(describe(err), "gompx:ValueError:") {
		t.Errorf("negative grace: %v, want ValueError", err)
	}
	// offMain calls WatchParent on a thread other than the main one: a goroutine that
	// landed on the main thread keeps it locked and asks again from a new one.
	var offMain func() error
	offMain = func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if syscall.Gettid() == syscall.Getpid() {
			errs := make(chan error)
			go func() { errs <- offMain() }()
			return <-errs
		}
		_, err := WatchParent(0, 1000)
		return err
	}
	err := offMain()
	if err == nil {
		t.Fatal("WatchParent off the main thread succeeded")
	}
	if !strings.HasPrefix(describe(err), "gompx:RuntimeError:") || !strings.Contains(describe(err), "main thread") {
		t.Errorf("off the main thread: %v, want a RuntimeError about the main thread", err)
	}
	if err := offMain(); !strings.Contains(describe(err), "main thread") {
		t.Errorf("a failed WatchParent left a watch: the next call says %v", err)
	}
}

// kindNames names the error kinds as Python's exceptions, for describe.
var kindNames = map[int]string{
	ErrKindOSError: "OSError", ErrKindEOFError: "EOFError", ErrKindValueError: "ValueError",
	ErrKindRuntimeError: "RuntimeError", ErrKindSystemError: "SystemError",
	ErrKindTypeError: "TypeError", ErrKindMemoryError: "MemoryError",
	ErrKindTimeoutError: "TimeoutError", ErrKindAuthenticationError: "AuthenticationError",
	ErrKindBrokenBarrierError: "BrokenBarrierError",
}

// describe renders what Python gets from err as "gompx:<exception>:<errno>:<message>".
func describe(err error) string {
	pe, ok := err.(*pyError)
	if !ok {
		return err.Error()
	}
	return fmt.Sprintf("gompx:%s:%d:%s", kindNames[pe.kind], int(pe.errno), pe.msg)
}

// TestTakeError: the kind and errno of the error a call returned are there for the
// thread that made it, once.
func TestTakeError(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_, err := ListenerNew("AF_UNIX", hexOf(t.TempDir()+"/no/x"), 1)
	if err == nil {
		t.Fatal("listening in a missing directory succeeded")
	}
	_ = err.Error() // what gopy does as the call returns
	code, _ := TakeError()
	if kind, errno := code>>32, syscall.Errno(code&0xffffffff); kind != ErrKindOSError || errno != syscall.ENOENT {
		t.Fatalf("TakeError = kind %d errno %d, want OSError ENOENT", kind, errno)
	}
	if code, _ := TakeError(); code != 0 {
		t.Fatalf("TakeError again = %d, want 0", code)
	}
}
