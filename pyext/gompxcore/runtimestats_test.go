package gompxcore

import (
	"sync"
	"testing"
)

func TestRuntimeCounts(t *testing.T) {
	before, err := Goroutines()
	if err != nil {
		t.Fatal(err)
	}
	// A hundred parked goroutines: goroutines of earlier tests still ending cannot hide them.
	const parked = 100
	block := make(chan struct{})
	var started sync.WaitGroup
	started.Add(parked)
	for range parked {
		go func() {
			started.Done()
			<-block
		}()
	}
	started.Wait()
	during, _ := Goroutines()
	close(block)
	if during-before < parked-10 {
		t.Errorf("Goroutines went from %d to %d with %d more parked", before, during, parked)
	}
}
