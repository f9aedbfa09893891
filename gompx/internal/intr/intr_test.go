package intr

import (
	"errors"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The table of doc.go, for what a test can reach: a Go test runs on a thread other than
// the main one, so Stop is false there whether or not Enable was called.
func TestStopOnlyForEINTROnTheMainThreadWhenEnabled(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if OnMainThread() {
		t.Skip("the test runs on the main thread; the table's other rows need another")
	}
	for _, err := range []error{nil, unix.EAGAIN, unix.ETIMEDOUT, unix.EINTR} {
		if Stop(err) {
			t.Errorf("Stop(%v) = true before Enable", err)
		}
	}
	Enable()
	if !Enabled() {
		t.Fatal("Enabled() = false after Enable")
	}
	if Stop(unix.EINTR) {
		t.Error("Stop(EINTR) = true off the main thread")
	}
	if MustSlice() {
		t.Error("MustSlice() = true off the main thread")
	}
	if !errors.Is(ErrInterrupted, ErrInterrupted) || ErrInterrupted.Error() == "" {
		t.Error("ErrInterrupted is no usable sentinel")
	}
}
