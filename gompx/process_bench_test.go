//go:build linux

package gompx

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// Python is the interpreter the Python layer's spawn start method runs.
const benchPython = "/root/.pyenv/versions/3.11.7/bin/python3.11"

// BenchmarkStartWait measures Start then Wait(-1) of a short-lived child,
// and reports the median alongside Go's mean. Run with -benchtime=200x for
// a median over 200 children. os-exec is the stdlib baseline.
func BenchmarkStartWait(b *testing.B) {
	benches := []struct {
		name           string
		argv           []string
		killWithParent bool
		osExec         bool
	}{
		{"true", []string{"/bin/true"}, false, false},
		{"true/kill-with-parent", []string{"/bin/true"}, true, false},
		{"true/os-exec", []string{"/bin/true"}, false, true},
		{"python3-c-pass", []string{benchPython, "-c", "pass"}, false, false},
		{"python3-c-pass/os-exec", []string{benchPython, "-c", "pass"}, false, true},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			if _, err := os.Stat(bb.argv[0]); err != nil {
				b.Skipf("no %s: %v", bb.argv[0], err)
			}
			cmd := Cmd{Path: bb.argv[0], Args: bb.argv, KillWithParent: bb.killWithParent}
			times := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				if bb.osExec {
					if err := exec.Command(bb.argv[0], bb.argv[1:]...).Run(); err != nil {
						b.Fatal(err)
					}
				} else {
					startWait(b, cmd)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds()), "median-µs")
		})
	}
}

func startWait(b *testing.B, cmd Cmd) {
	p, err := Start(cmd)
	if err != nil {
		b.Fatal(err)
	}
	if code, err := p.Wait(-1); code != 0 || err != nil {
		b.Fatalf("Wait = %d, %v", code, err)
	}
	p.Close()
}
