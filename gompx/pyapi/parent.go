package pyapi

import (
	"sync"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/internal/errs"
)

// ErrWatching is WatchParent's error for a process that already watches its parent.
var ErrWatching = errs.New("this process already watches its parent")

var parentWatch struct {
	sync.Mutex
	w *gompx.ParentWatch
}

// WatchParent makes this process, a child, watch its parent through pidfd, once: the
// process is killed grace after its parent exited (gompx.WatchParentPidfd). A second
// call is ErrWatching, a negative grace ErrBadInput; a call off the main thread is
// gompx.ErrNotMainThread.
func WatchParent(pidfd int, grace time.Duration) error {
	parentWatch.Lock()
	defer parentWatch.Unlock()
	if parentWatch.w != nil {
		return ErrWatching
	}
	if grace < 0 {
		return badInput("negative grace period %d ms", grace.Milliseconds())
	}
	w, err := gompx.WatchParentPidfd(pidfd, grace)
	if err == nil {
		parentWatch.w = w
	}
	return err
}
