package gompxcore

import "runtime"

// Goroutines is the embedded Go runtime's goroutine count. Between workloads it must
// come back to where it was: tests/soak.py judges leaks by it, since a goroutine left
// blocked holds its descriptors and memory.
func Goroutines() (n int, err error) {
	defer recoverInto(&err)
	return runtime.NumGoroutine(), nil
}
