package psync

import (
	"sync/atomic"
	"testing"
	"time"
)

func newEvent(t testing.TB) Event {
	t.Helper()
	e, err := NewEvent(block())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEventSetClear(t *testing.T) {
	for _, tt := range []struct {
		name string
		ops  string // s: Set, c: Clear
		want bool
	}{
		{"new", "", false},
		{"set", "s", true},
		{"set twice", "ss", true},
		{"cleared", "sc", false},
		{"clear of a clear event", "c", false},
		{"set again", "scs", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvent(t)
			for _, op := range tt.ops {
				if op == 's' {
					e.Set()
				} else {
					e.Clear()
				}
			}
			if e.IsSet() != tt.want {
				t.Fatalf("IsSet %v, want %v", e.IsSet(), tt.want)
			}
			if got := e.Wait(Now); got != tt.want {
				t.Fatalf("Wait(Now) %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventWaitTimeout(t *testing.T) {
	e := newEvent(t)
	for _, d := range []time.Duration{time.Millisecond, 30 * time.Millisecond, 150 * time.Millisecond} {
		start := time.Now()
		if e.Wait(After(d)) {
			t.Fatal("Wait of a clear event returned true")
		}
		if took := time.Since(start); took < d || took > d+250*time.Millisecond {
			t.Fatalf("Wait(%v) took %v", d, took)
		}
	}
}

// TestEventWakesAll has several goroutines asleep in Wait; one Set wakes them all, and
// a Set followed at once by Clear (a pulse) wakes them too, as with threading.Event.
func TestEventWakesAll(t *testing.T) {
	for _, pulse := range []bool{false, true} {
		e := newEvent(t)
		const waiters = 4
		got := make(chan bool, waiters)
		for i := 0; i < waiters; i++ {
			go func() { got <- e.Wait(After(3 * time.Second)) }()
		}
		waitFor(t, "sleeping waiters", func() bool { return atomic.LoadUint32(e.waiters) == waiters })
		e.Set()
		if pulse {
			e.Clear()
		}
		for i := 0; i < waiters; i++ {
			select {
			case ok := <-got:
				if !ok {
					t.Fatalf("pulse %v: a waiter returned false", pulse)
				}
			case <-time.After(time.Second):
				t.Fatalf("pulse %v: a waiter still asleep 1 s after Set", pulse)
			}
		}
		if e.IsSet() == pulse {
			t.Fatalf("pulse %v: IsSet %v", pulse, e.IsSet())
		}
	}
}
