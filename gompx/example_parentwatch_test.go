//go:build linux

package gompx_test

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/gompx/gompx/gompx"
)

// The child side of a parent that starts it with KillWithParent and tells it
// its pid (here in PARENT_PID): lock the main goroutine to the main thread
// in init, watch the parent first thing in main, then clean up when it
// dies. The watch kills the process Grace after the parent's death if it is
// still running then. (Not run: it needs to be a child.)
func ExampleWatchParent() {
	// The child's main package also has:
	//	func init() { runtime.LockOSThread() }
	pid, _ := strconv.Atoi(os.Getenv("PARENT_PID"))
	grace, err := gompx.ParseOrphanGrace(os.Getenv(gompx.OrphanGraceEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w, err := gompx.WatchParent(pid, grace)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go func() {
		<-w.Dead()
		deadline, _ := w.Deadline()
		fmt.Fprintf(os.Stderr, "parent gone; cleaning up, %v left\n", time.Until(deadline).Round(time.Millisecond))
		// flush, remove temporary files, then:
		os.Exit(0)
	}()
	// ... the child's work ...
}
