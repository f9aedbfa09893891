package pyworker_test

import (
	"context"
	"testing"
)

// BenchmarkCall is the Go -> Python -> Go round trip: operator.add(1, 2) in
// one worker.
func BenchmarkCall(b *testing.B) {
	p := newPool(b, 1)
	ctx := context.Background()
	for b.Loop() {
		if _, err := p.Call(ctx, "operator:add", 1, 2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallParallel is many goroutines calling two workers.
func BenchmarkCallParallel(b *testing.B) {
	p := newPool(b, 2)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Call(ctx, "operator:add", 1, 2); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkMap is per item: pwtarget.square over 10,000 ints, default chunks,
// two workers.
func BenchmarkMap(b *testing.B) {
	p := newPool(b, 2)
	items := make([]any, 10000)
	for i := range items {
		items[i] = i
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := p.Map(ctx, "pwtarget:square", items, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/item")
}
