package psync

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/gompx/gompx/gompx/internal/errs"
	"golang.org/x/sys/unix"
)

// ErrOwnerDied is returned, wrapped, by a Lock that took the mutex over from a process
// that died holding it. The caller holds the mutex.
var ErrOwnerDied = errs.New("the previous owner died holding the lock")

// OwnerDiedError is ErrOwnerDied with the pid of the process that died.
type OwnerDiedError struct{ Pid int }

func (e *OwnerDiedError) Error() string {
	return fmt.Sprintf("%slock: process %d: the previous owner died holding the lock", errs.Prefix, e.Pid)
}

// Unwrap makes errors.Is(err, ErrOwnerDied) hold.
func (e *OwnerDiedError) Unwrap() error { return ErrOwnerDied }

// DeadOwner is the pid of the process that died holding the lock.
func (e *OwnerDiedError) DeadOwner() int { return e.Pid }

// Identity names a process for the life of the process: pid numbers are reused (pid_max
// is 32768 on many systems), start times in clock ticks since boot tell reuses apart.
type Identity struct {
	Pid   uint32
	Start uint64
}

var self struct {
	once sync.Once
	id   Identity
}

// Self is this process's Identity.
func Self() Identity {
	self.once.Do(func() {
		pid := os.Getpid()
		start, _ := startTime(pid)
		self.id = Identity{Pid: uint32(pid), Start: start}
	})
	return self.id
}

// startTime reads field 22 of /proc/<pid>/stat. ok is false when the process is gone or
// is a zombie (it holds nothing any more).
func startTime(pid int) (start uint64, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields follow the last ')': the command name may contain anything.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(stat[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 || fields[0][0] == 'Z' || fields[0][0] == 'X' {
		return 0, false
	}
	start, err = strconv.ParseUint(string(fields[19]), 10, 64)
	return start, err == nil
}

// gone reports that pid is no longer the process that started at start (start 0: not
// known yet, only the pid is checked).
func gone(pid uint32, start uint64) bool {
	if pid == 0 {
		return false
	}
	if me := Self(); pid == me.Pid {
		return start != 0 && start != me.Start
	}
	if err := unix.Kill(int(pid), 0); err == unix.ESRCH {
		return true
	}
	now, ok := startTime(int(pid))
	if !ok {
		// The process is gone or a zombie, unless /proc cannot be read at all (then our
		// own start time is unknown too, and kill's answer is all there is).
		return Self().Start != 0
	}
	return start != 0 && now != start
}

// pidLives reports that some process, not a zombie, has pid: the weaker half of gone,
// which cannot be fooled by a stale start time.
func pidLives(pid uint32) bool { return !gone(pid, 0) }
