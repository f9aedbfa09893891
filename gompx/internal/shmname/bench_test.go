package shmname

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkLife times each step of a segment's life, all in one process (so the binder
// answering an Open is a goroutine of the same runtime): what Python's create, attach,
// close and unlink pay on top of the gopy calls.
func BenchmarkLife(b *testing.B) {
	steps := []string{"create", "open", "close-opened", "close-created", "unlink"}
	spent := make([]float64, len(steps))
	for i := range b.N {
		name := fmt.Sprintf("gompx-bench-%d-%d", os.Getpid(), i)
		var marks [6]time.Time
		marks[0] = time.Now()
		a, err := Create(name, 4096)
		if err != nil {
			b.Fatal(err)
		}
		marks[1] = time.Now()
		o, err := Open(name)
		if err != nil {
			b.Fatal(err)
		}
		marks[2] = time.Now()
		o.Close()
		marks[3] = time.Now()
		a.Close()
		marks[4] = time.Now()
		if err := a.Unlink(); err != nil {
			b.Fatal(err)
		}
		marks[5] = time.Now()
		for s := range steps {
			spent[s] += float64(marks[s+1].Sub(marks[s]))
		}
	}
	for s, step := range steps {
		b.ReportMetric(spent[s]/float64(b.N)/1e3, step+"-µs")
	}
}
