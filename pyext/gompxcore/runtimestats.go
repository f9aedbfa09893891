package gompxcore

import (
	"runtime"
	"runtime/pprof"
)

// Goroutines is the embedded Go runtime's goroutine count. Between workloads it must
// come back to where it was: tests/soak.py judges leaks by it, since a goroutine left
// blocked holds its descriptors and memory.
func Goroutines() (n int, err error) {
	defer recoverInto(&err)
	return runtime.NumGoroutine(), nil
}

// GoThreads is the number of OS threads the Go runtime has made. It rises to the
// high-water mark of goroutines blocked in system calls at once and never falls (the
// runtime does not retire threads), so a process's thread count is judged net of it.
func GoThreads() (n int, err error) {
	defer recoverInto(&err)
	return pprof.Lookup("threadcreate").Count(), nil
}
