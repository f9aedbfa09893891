package psync

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newSemaphore(t testing.TB, value, bound uint32) Semaphore {
	t.Helper()
	s, err := NewSemaphore(block(), value, bound)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSemaphoreCounting(t *testing.T) {
	for _, tt := range []struct {
		name         string
		value, bound uint32
		ops          string // a: TryAcquire that must succeed, x: one that must fail, r: Release, R: refused Release
		want         uint32
	}{
		{"takes its units", 2, 0, "aax", 0},
		{"zero holds nothing", 0, 0, "x", 0},
		{"releases add units", 0, 0, "rrraaa" + "x", 0},
		{"unbounded counts past its start", 1, 0, "rrr", 4},
		{"bounded refuses past its bound", 2, 2, "R", 2},
		{"bounded takes back what it gave", 2, 2, "aarrR", 2},
		{"bounded above its start value", 1, 3, "rrR", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSemaphore(t, tt.value, tt.bound)
			if s.MaxValue() != tt.bound {
				t.Fatalf("MaxValue %d, want %d", s.MaxValue(), tt.bound)
			}
			for i, op := range tt.ops {
				var ok bool
				switch op {
				case 'a':
					ok = s.TryAcquire()
				case 'x':
					ok = !s.TryAcquire()
				case 'r':
					ok = s.Release() == nil
				case 'R':
					ok = errors.Is(s.Release(), ErrTooManyReleases)
				}
				if !ok {
					t.Fatalf("op %d (%c) of %q failed, value %d", i, op, tt.ops, s.Value())
				}
			}
			if s.Value() != tt.want {
				t.Fatalf("value %d, want %d", s.Value(), tt.want)
			}
		})
	}
}

func TestSemaphoreTimeout(t *testing.T) {
	s := newSemaphore(t, 0, 0)
	for _, d := range []time.Duration{time.Millisecond, 30 * time.Millisecond, 150 * time.Millisecond} {
		checkTimeout(t, d, s.Acquire)
	}
	if err := s.Acquire(Now); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Acquire(Now) of an empty semaphore: %v", err)
	}
	if s.Value() != 0 {
		t.Fatalf("value %d after timeouts", s.Value())
	}
}

func TestSemaphoreWakesWaiters(t *testing.T) {
	s := newSemaphore(t, 0, 0)
	const waiters = 3
	got := make(chan error, waiters)
	for i := 0; i < waiters; i++ {
		go func() { got <- s.Acquire(After(3 * time.Second)) }()
	}
	waitFor(t, "sleeping waiters", func() bool { return atomic.LoadUint32(s.waiters) == waiters })
	for i := 0; i < waiters; i++ {
		if err := s.Release(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Second):
			t.Fatalf("release %d woke nobody within 1 s", i)
		}
	}
	if s.Value() != 0 || atomic.LoadUint32(s.waiters) != 0 {
		t.Fatalf("value %d, waiters %d: want 0, 0", s.Value(), atomic.LoadUint32(s.waiters))
	}
}

// TestSemaphoreStress has goroutines acquire and release a k-unit semaphore: never more
// than k hold it at once, and every unit comes back.
func TestSemaphoreStress(t *testing.T) {
	const k, goroutines, each = 3, 8, 1500
	s := newSemaphore(t, k, k)
	var holders, most atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := s.Acquire(Forever); err != nil {
					t.Error(err)
					return
				}
				h := holders.Add(1)
				for m := most.Load(); h > m && !most.CompareAndSwap(m, h); m = most.Load() {
				}
				holders.Add(-1)
				if err := s.Release(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if most.Load() > k {
		t.Fatalf("%d holders at once of a %d-unit semaphore", most.Load(), k)
	}
	if s.Value() != k {
		t.Fatalf("value %d at the end, want %d", s.Value(), k)
	}
}

// TestSemaphoreHolderKilled SIGKILLs a child holding a unit and another asleep in
// Acquire: the holder's unit is gone with it (as with POSIX semaphores), the sleeper's
// registration is harmless, and processes sharing the remaining units stay within them.
func TestSemaphoreHolderKilled(t *testing.T) {
	seg := sharedMem(t)
	mem := seg.Bytes()
	s, err := NewSemaphore(mem[offSem:], semChurnUnits+1, 0)
	if err != nil {
		t.Fatal(err)
	}
	holder := startChild(t, seg, "sem-hold", 0)
	holder.awaitReady(t)
	if s.Value() != semChurnUnits {
		t.Fatalf("value %d with one unit held, want %d", s.Value(), semChurnUnits)
	}
	// Take the rest, so that the next child sleeps in Acquire.
	for i := 0; i < semChurnUnits; i++ {
		if !s.TryAcquire() {
			t.Fatal("TryAcquire of a free unit failed")
		}
	}
	sleeper := startChild(t, seg, "sem-hold", 0)
	waitFor(t, "a sleeping child", func() bool { return atomic.LoadUint32(s.waiters) == 1 })
	holder.kill()
	sleeper.kill()
	for i := 0; i < semChurnUnits; i++ {
		if err := s.Release(); err != nil {
			t.Fatal(err)
		}
	}
	var churners []*child
	for i := 0; i < 2; i++ {
		churners = append(churners, startChild(t, seg, "sem-churn", 2000))
	}
	for _, c := range churners {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", c.pid(), err)
		}
	}
	if s.Value() != semChurnUnits {
		t.Fatalf("value %d after the churn, want %d", s.Value(), semChurnUnits)
	}
	if err := s.Acquire(After(time.Second)); err != nil {
		t.Fatalf("acquire after the deaths: %v", err)
	}
}
