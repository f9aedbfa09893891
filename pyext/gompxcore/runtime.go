package gompxcore

import (
	"os"
	"runtime"

	"github.com/gompx/gompx/gompx"
)

// minProcs is the fewest Ps the embedded Go runtime gets. A Python thread that has called
// into Go keeps its P (in the "syscall" state) while it runs Python code between calls,
// so with GOMAXPROCS = CPUs (1 under `taskset -c 0`) the next Go call often finds its P
// retaken and goes through the scheduler's slow path: a futex hand-off and an extra
// context switch per message (a small Pipe round trip measured 26 µs instead of 21 µs
// on one CPU). Idle Ps cost nothing; Go work per call is microseconds.
const minProcs = 8

func init() {
	// Waits on Python's main thread end on a signal so that its handlers run (see
	// interrupted); the Python layer waits again for the rest, with no time slices.
	gompx.EnableInterrupts()
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		return // the user's choice wins
	}
	if runtime.GOMAXPROCS(0) < minProcs {
		runtime.GOMAXPROCS(minProcs)
	}
}
