//go:build linux

package gompx

// A child's watch on its parent: the child learns at once that its parent
// died, gets a grace period to finish, and is killed when the grace runs
// out.
//
// KillWithParent alone kills a child the instant its parent dies (the
// kernel's PR_SET_PDEATHSIG with SIGKILL): it cannot flush, remove its
// files or tell anyone. A child started with KillWithParent that calls
// WatchParent or WatchParentPidfd on its main thread trades the instant
// kill for a grace period:
//
//	phase     entered by                                    Dead()  PR_SET_PDEATHSIG  if the parent dies now
//	starting  Start with KillWithParent                     -       SIGKILL           the kernel kills the child at once (the backstop)
//	watching  WatchParent returned, parent alive            open    cleared           the watch sees it (under 1 ms in the tests)
//	orphaned  the parent exited, or had before the watch    closed  cleared           -: the child runs on for at most Grace
//	killed    Grace passed since the watch saw the death    -       -                 -: the watch sent SIGKILL to its own process
//
// The watch is a goroutine blocked in poll(2) on a pidfd of the parent and
// then a sleep: no signal handler, no cooperation from the rest of the
// process. A child stuck in C code, or an interpreter holding a lock, is
// killed on time all the same; its signal dispositions are not touched.
// A child that exits during the grace is not killed; one that finishes
// nothing is gone Grace after its parent. A stopped (SIGSTOP) child is
// killed when it is continued.
//
// The kernel keeps PR_SET_PDEATHSIG per thread: only the thread that called
// execve (or fork) carries it, which for an exec'd program is its main
// thread. So the watch must be set up on the main thread, after the pidfd
// is in hand and before the signal is cleared: a parent that dies before
// that moment still kills the child at once, one that dies after it is seen
// through the pidfd. There is no moment at which the child is unwatched.
//
// Not covered: a child that replaces itself with execve loses the watch
// (the new program has no Go runtime and no PR_SET_PDEATHSIG); a process n
// generations below one that died is gone at the latest n × Grace later,
// each generation counting from its own parent's death.

import (
	"strconv"
	"sync"
	"time"

	"github.com/gompx/gompx/gompx/internal/errs"
	"github.com/gompx/gompx/gompx/internal/pidfd"
	"golang.org/x/sys/unix"
)

// DefaultOrphanGrace is how long a child whose parent died may run on
// before its watch kills it, unless OrphanGraceEnv says otherwise. Five
// seconds: a child that checks on its parent once a second (a common
// watchdog loop) notices several times over and still has seconds to
// flush and remove its files, while an orphan that ignores its parent's
// death is gone before anyone at a terminal would go looking for it. Work
// that needs longer should be stopped by the parent, or checkpointed.
const DefaultOrphanGrace = 5 * time.Second

// OrphanGraceEnv names the environment variable that sets the grace period
// of Python children: a number of seconds, 0 or more ("0.5", "10"); "0"
// kills an orphan as soon as its watch sees the parent gone. The Python
// layer reads it in the parent each time a child starts and passes the
// value down with the child's bootstrap; Go programs read it with
// ParseOrphanGrace(os.Getenv(OrphanGraceEnv)) if they want it.
const OrphanGraceEnv = "GOMPX_ORPHAN_GRACE"

// ErrNotMainThread is returned by WatchParent and WatchParentPidfd when
// called on another thread than the process's main thread (the thread
// whose id is the process id), which alone carries PR_SET_PDEATHSIG. In Go,
// call them from the main goroutine of a program that locked it to the
// main thread with runtime.LockOSThread in an init function; from a C
// host such as CPython, from the thread that runs main.
var ErrNotMainThread = errs.New("not on the main thread, which alone carries PR_SET_PDEATHSIG; lock the main goroutine to it (runtime.LockOSThread in an init function)")

// ParseOrphanGrace reads a grace period as OrphanGraceEnv spells it: a
// decimal number of seconds, 0 or more. The empty string means
// DefaultOrphanGrace. Negative, infinite and non-numeric values are errors:
// there is no "never", since no child may outlive its parent forever.
func ParseOrphanGrace(s string) (time.Duration, error) {
	if s == "" {
		return DefaultOrphanGrace, nil
	}
	secs, err := strconv.ParseFloat(s, 64)
	const most = float64(1<<63-1) / float64(time.Second)
	if err != nil || !(secs >= 0 && secs <= most) { // NaN fails both
		return 0, errs.Errorf("%s=%q: want a number of seconds, 0 or more", OrphanGraceEnv, s)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// ParentWatch is a child's watch on its parent, made by WatchParent or
// WatchParentPidfd. It lasts as long as the process; its methods may be
// called from many goroutines.
type ParentWatch struct {
	grace time.Duration
	ppid  int // getppid() when the watch began: the fallback if the pidfd is lost
	dead  chan struct{}

	mu     sync.Mutex
	diedAt time.Time // when the watch saw the parent gone; zero while it lives
}

// WatchParent starts watching the parent whose pid this process was given:
// pid must be its OS parent. If the parent has already exited (pid is gone,
// or this process has been re-parented and getppid no longer returns pid),
// the parent counts as dead from now: Dead is closed at once and the grace
// starts. Then it clears PR_SET_PDEATHSIG, so the kernel no longer kills
// this process with its parent. Call it once, on the main thread (see
// ErrNotMainThread), early in the child.
//
// pid cannot be taken from getppid alone: a parent that died before the
// child asked would leave the child watching its new parent, the reaper.
func WatchParent(pid int, grace time.Duration) (*ParentWatch, error) {
	if err := checkWatchArgs(grace); err != nil {
		return nil, err
	}
	if pid <= 0 {
		return nil, errs.Errorf("watch parent: bad parent pid %d", pid)
	}
	fd, err := pidfd.Open(pid, 0)
	switch {
	case err == unix.ESRCH:
		fd = -1
	case err != nil:
		return nil, errs.Errorf("watch parent %d: pidfd_open: %w", pid, err)
	case unix.Getppid() != pid:
		// Re-parented: the parent exited, and fd may name a process that
		// reused its pid. While getppid still returns pid the parent has
		// not exited, so it cannot have been reaped and its pid reused:
		// fd names the parent.
		unix.Close(fd)
		fd = -1
	}
	return startWatch(fd, grace)
}

// WatchParentPidfd starts watching the parent that fd, a pidfd, refers to;
// the parent passes it down (it need not be the OS parent: a child forked
// by a fork server on another process's behalf watches that process). The
// watch uses its own duplicate; the caller keeps fd. A parent that has
// already exited counts as dead from now. Otherwise as WatchParent.
func WatchParentPidfd(fd int, grace time.Duration) (*ParentWatch, error) {
	if err := checkWatchArgs(grace); err != nil {
		return nil, err
	}
	// Signal 0 checks the pidfd and its process without sending anything;
	// it fails with EBADF for a descriptor that is no pidfd.
	err := unix.PidfdSendSignal(fd, 0, nil, 0)
	if err != nil && err != unix.ESRCH && err != unix.EPERM {
		return nil, errs.Errorf("watch parent pidfd %d: %w", fd, err)
	}
	own := -1
	if err != unix.ESRCH {
		if own, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3); err != nil {
			return nil, errs.Errorf("watch parent pidfd %d: dup: %w", fd, err)
		}
	}
	return startWatch(own, grace)
}

func checkWatchArgs(grace time.Duration) error {
	if grace < 0 {
		return errs.Errorf("watch parent: negative grace period %v", grace)
	}
	if unix.Gettid() != unix.Getpid() {
		return errs.Errorf("watch parent: %w", ErrNotMainThread)
	}
	return nil
}

// startWatch clears PR_SET_PDEATHSIG and starts the watch on fd, our own
// pidfd of the parent, or -1 if the parent is already gone. The pidfd stays
// readable once the parent has exited, so a death between here and the
// goroutine's first poll is not missed.
func startWatch(fd int, grace time.Duration) (*ParentWatch, error) {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, errs.Errorf("watch parent: prctl(PR_SET_PDEATHSIG, 0): %w", err)
	}
	w := &ParentWatch{grace: grace, ppid: unix.Getppid(), dead: make(chan struct{})}
	go w.run(fd)
	return w, nil
}

// run waits for the parent to exit, marks it dead, waits out the grace and
// kills this process.
func (w *ParentWatch) run(fd int) {
	if fd >= 0 {
		if _, err := pidfd.PollIn(fd, -1); err != nil {
			// The pidfd was closed under us (a careless closerange, say).
			// Never leave the process unwatched: fall back to its OS
			// parent changing, which is how every gompx child's parent
			// (or, for a fork-served child, the fork server that dies
			// with it) leaves.
			w.pollParentPid()
		}
		unix.Close(fd)
	}
	w.mu.Lock()
	w.diedAt = time.Now()
	w.mu.Unlock()
	close(w.dead)
	time.Sleep(w.grace)
	unix.Kill(unix.Getpid(), unix.SIGKILL)
}

// pollParentPid returns once getppid differs from what it was when the
// watch began, looking every 100 ms.
func (w *ParentWatch) pollParentPid() {
	for unix.Getppid() == w.ppid {
		time.Sleep(100 * time.Millisecond)
	}
}

// Dead returns a channel that is closed once the watch has seen the parent
// gone; from then on the process has Grace left.
func (w *ParentWatch) Dead() <-chan struct{} { return w.dead }

// Grace returns how long the process may run on once its parent is dead.
func (w *ParentWatch) Grace() time.Duration { return w.grace }

// Deadline reports when the watch will kill this process: Grace after it
// saw the parent gone. ok is false while the parent lives.
func (w *ParentWatch) Deadline() (deadline time.Time, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.diedAt.IsZero() {
		return time.Time{}, false
	}
	return w.diedAt.Add(w.grace), true
}
