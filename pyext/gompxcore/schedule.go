package gompxcore

import (
	"runtime"
	"sync/atomic"
	"time"
)

// The goroutine that runs a Python thread's calls is locked to that thread and never
// passes through the Go scheduler, so its P's scheduling tick never moves. After 10 ms
// sysmon takes that for a goroutine running too long and, on every tick from then on
// (every 20 µs while it stays busy), retakes the P from each system call and starts an M
// to poll the network: about one futex wake-up and context switch per message.
// Yielding once every few milliseconds lets the tick move and keeps sysmon quiet; the
// yield itself (a locked-goroutine hand-off, some µs) is paid once per interval.
// Measured on one CPU: small round trip 21 -> 16-20 µs (stdlib 17-23), sysmon's nanosleeps
// per 1000 round trips 1059 -> 22. The interval is process-wide: with several Python
// threads calling at once, only one of them yields per interval.
const yieldEvery = int64(2 * time.Millisecond)

// checkEvery spaces out the clock reads (35 ns each on this VM's clock source, a tenth
// of a queue operation): a call that misses its check is followed by another soon.
const checkEvery = 16

var lastYield atomic.Int64
var calls atomic.Uint32

// passThroughScheduler yields if no Python call has gone through the scheduler lately.
func passThroughScheduler() {
	if calls.Add(1)%checkEvery != 0 {
		return
	}
	now := time.Now().UnixNano()
	last := lastYield.Load()
	if now-last < yieldEvery || !lastYield.CompareAndSwap(last, now) {
		return
	}
	runtime.Gosched()
}
