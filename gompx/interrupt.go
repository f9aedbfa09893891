package gompx

import "github.com/gompx/gompx/gompx/internal/intr"

// EnableInterrupts makes a signal that interrupts a blocked wait on the process's main
// thread end that wait, instead of resuming it: calls that return an error return one
// wrapping ErrInterrupted, calls that report a bool report false as on a timeout.
// Nothing is consumed either way; wait again for the time that is left.
//
// An interpreter that embeds gompx calls it once, when it loads the core: its signal
// handlers (Ctrl-C) run only on its main thread and only between calls, so a wait that
// resumed after EINTR would hold them off until it ended. Waits on other threads, and
// in programs that never call it, retry EINTR with the time that is left. It is
// process-wide and cannot be undone. Design: package internal/intr.
func EnableInterrupts() { intr.Enable() }
