package cpuload

import (
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Refresh is how long one reading of the runnable count is trusted.
const Refresh = 5 * time.Millisecond

var (
	epoch   = time.Now()
	nextAt  atomic.Int64 // nanoseconds since epoch when the reading goes stale
	busy    atomic.Bool  // the last reading
	ncpu    = runtime.NumCPU()
	loadavg = "/proc/loadavg"
)

// Busy reports whether the machine had more runnable tasks than this process has CPUs
// at the last reading, at most Refresh old.
func Busy() bool {
	now := int64(time.Since(epoch))
	next := nextAt.Load()
	if now < next || !nextAt.CompareAndSwap(next, now+int64(Refresh)) {
		return busy.Load() // fresh, or another goroutine is reading it now
	}
	r, ok := runnable()
	busy.Store(ok && r > ncpu)
	return busy.Load()
}

// runnable reads the count of runnable tasks from /proc/loadavg
// ("0.50 0.40 0.30 3/278 12345").
func runnable() (int, bool) {
	fd, err := unix.Open(loadavg, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	var buf [128]byte
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil || n <= 0 {
		return 0, false
	}
	return parseRunnable(buf[:n])
}

// parseRunnable returns the number before the '/' of the fourth field.
func parseRunnable(b []byte) (int, bool) {
	field := 0
	for i := 0; i < len(b); i++ {
		if b[i] == ' ' {
			field++
			continue
		}
		if field != 3 {
			continue
		}
		v, digits := 0, 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			v = v*10 + int(b[i]-'0')
			digits++
		}
		if digits == 0 || i == len(b) || b[i] != '/' {
			return 0, false
		}
		return v, true
	}
	return 0, false
}
