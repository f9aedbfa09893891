package taskpool

import (
	"testing"
	"time"
)

// BenchmarkApplyRoundTrip is one single-task job at a time through a goroutine worker:
// the latency of dispatch, the worker's wake-up, the collector and the waiter.
func BenchmarkApplyRoundTrip(b *testing.B) {
	h := newHarness(b, Options{Slots: 1}, upper)
	payload := [][]byte{[]byte("x")}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j, err := h.p.NewJob(nil, 1, false)
		if err != nil {
			b.Fatal(err)
		}
		j.Submit(0, payload)
		if !j.Wait(5 * time.Second) {
			b.Fatal("timeout")
		}
		j.Drop()
	}
}
