package intr

import (
	"sync/atomic"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"golang.org/x/sys/unix"
)

// ErrInterrupted reports a wait that a signal ended on the main thread of a process that
// called Enable. Nothing was consumed or changed: handle the signal, then call again
// with the time that is left.
var ErrInterrupted = errs.New("gompx: interrupted by a signal")

// MainSlice bounds the waits in the Go scheduler (channel receives) that a main thread
// cannot leave on a signal: they last at most this long before returning ErrInterrupted,
// so a handler runs at most this late there. Only the rare waits behind another thread
// (one reader of a pool's results at a time) use it.
const MainSlice = 50 * time.Millisecond

var enabled atomic.Bool

// Enable makes EINTR end waits on the main thread with ErrInterrupted, for the life of
// the process. An embedding interpreter calls it once, when it loads the core.
func Enable() { enabled.Store(true) }

// Enabled reports whether Enable was called.
func Enabled() bool { return enabled.Load() }

// Stop reports whether err, returned by a blocking system call, must end the wait with
// ErrInterrupted: it is EINTR, Enable was called, and this is the main thread.
func Stop(err error) bool {
	return err == unix.EINTR && enabled.Load() && OnMainThread()
}

// OnMainThread reports whether the calling OS thread is the process's main thread. The
// caller must be locked to its thread (a call from C always is) for the answer to last.
func OnMainThread() bool { return unix.Gettid() == unix.Getpid() }

// MustSlice reports whether a wait in the Go scheduler must be cut into MainSlice pieces:
// interrupts are enabled and this is the main thread.
func MustSlice() bool { return enabled.Load() && OnMainThread() }
