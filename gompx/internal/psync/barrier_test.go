package psync

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newBarrier(t testing.TB, parties int) Barrier {
	t.Helper()
	b, err := NewBarrier(blockOf(BarrierSize), parties)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBarrierArgs(t *testing.T) {
	for _, tt := range []struct {
		parties int
		size    int
		ok      bool
	}{
		{1, BarrierSize, true},
		{3, BarrierSize, true},
		{0, BarrierSize, false},
		{-1, BarrierSize, false},
		{2, BlockSize, false},
	} {
		b, err := NewBarrier(blockOf(tt.size), tt.parties)
		if (err == nil) != tt.ok {
			t.Errorf("NewBarrier(%d bytes, %d parties): %v", tt.size, tt.parties, err)
		}
		if err == nil && b.Parties() != tt.parties {
			t.Errorf("Parties %d, want %d", b.Parties(), tt.parties)
		}
	}
}

// TestBarrierRounds runs many rounds back to back (a party may come round again before
// the others have left): each round hands out every index once, and the action runs
// once per round, in the party that gets the last index, before anyone leaves.
func TestBarrierRounds(t *testing.T) {
	for _, parties := range []int{1, 2, 3, 5} {
		const rounds = 200
		b := newBarrier(t, parties)
		var actions atomic.Int32
		seen := make([][]atomic.Int32, rounds)
		for r := range seen {
			seen[r] = make([]atomic.Int32, parties)
		}
		var wg sync.WaitGroup
		for p := 0; p < parties; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := 0; r < rounds; r++ {
					var ranAction bool
					i, err := b.Wait(After(5*time.Second), func() error {
						ranAction = true
						actions.Add(1)
						return nil
					})
					if err != nil {
						t.Errorf("%d parties, round %d: %v", parties, r, err)
						return
					}
					if ranAction != (i == parties-1) {
						t.Errorf("index %d ran the action: %v", i, ranAction)
					}
					if int(actions.Load()) < r+1 {
						t.Errorf("round %d left before its action ran", r)
					}
					seen[r][i].Add(1)
				}
			}()
		}
		wg.Wait()
		for r := range seen {
			for i := range seen[r] {
				if n := seen[r][i].Load(); n != 1 {
					t.Fatalf("%d parties, round %d: index %d handed out %d times", parties, r, i, n)
				}
			}
		}
		if actions.Load() != rounds {
			t.Fatalf("%d parties: action ran %d times in %d rounds", parties, actions.Load(), rounds)
		}
	}
}

// waiters starts n parties in Wait and returns once the barrier counts them.
func barrierWaiters(t *testing.T, b Barrier, n int, d time.Duration) chan error {
	t.Helper()
	got := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := b.Wait(After(d), nil)
			got <- err
		}()
	}
	waitFor(t, "waiting parties", func() bool { return b.Waiting() == n })
	return got
}

func expectErrs(t *testing.T, got chan error, n int, want error) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case err := <-got:
			if !errors.Is(err, want) {
				t.Fatalf("party %d: %v, want %v", i, err, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("party %d still waiting", i)
		}
	}
}

// fullRound checks that parties goroutines pass the barrier.
func fullRound(t *testing.T, b Barrier) {
	t.Helper()
	got := make(chan error, b.Parties())
	for i := 0; i < b.Parties(); i++ {
		go func() {
			_, err := b.Wait(After(2*time.Second), nil)
			got <- err
		}()
	}
	expectErrs(t, got, b.Parties(), nil)
}

func TestBarrierBreaks(t *testing.T) {
	for _, tt := range []struct {
		name    string
		parties int
		act     func(t *testing.T, b Barrier) // with 2 parties waiting
		reset   bool                          // the barrier needs a Reset afterwards
	}{
		{"abort", 3, func(t *testing.T, b Barrier) { b.Abort() }, true},
		{"reset", 3, func(t *testing.T, b Barrier) { b.Reset() }, false},
		{"a third party times out", 4, func(t *testing.T, b Barrier) {
			start := time.Now()
			if _, err := b.Wait(After(50*time.Millisecond), nil); !errors.Is(err, ErrBroken) {
				t.Fatalf("the timed-out party: %v", err)
			}
			if took := time.Since(start); took < 50*time.Millisecond || took > 300*time.Millisecond {
				t.Fatalf("timed out after %v", took)
			}
		}, true},
		{"the action fails", 3, func(t *testing.T, b Barrier) {
			boom := errors.New("boom")
			i, err := b.Wait(Forever, func() error { return boom })
			if !errors.Is(err, boom) || i != 2 {
				t.Fatalf("the last party: %d, %v; want 2 and the action's error", i, err)
			}
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBarrier(t, tt.parties)
			got := barrierWaiters(t, b, 2, 5*time.Second)
			tt.act(t, b)
			expectErrs(t, got, 2, ErrBroken)
			if b.Broken() != tt.reset {
				t.Fatalf("Broken %v", b.Broken())
			}
			if tt.reset {
				if _, err := b.Wait(Forever, nil); !errors.Is(err, ErrBroken) {
					t.Fatalf("Wait on a broken barrier: %v", err)
				}
				if b.Waiting() != 0 {
					t.Fatalf("Waiting %d on a broken barrier", b.Waiting())
				}
				b.Reset()
			}
			if b.Broken() || b.Waiting() != 0 {
				t.Fatalf("after reset: Broken %v, Waiting %d", b.Broken(), b.Waiting())
			}
			fullRound(t, b)
		})
	}
}

// TestBarrierArriveRelease is Wait in two steps: the last party holds the barrier until
// it calls Release, and Release(false) breaks it.
func TestBarrierArriveRelease(t *testing.T) {
	for _, ok := range []bool{true, false} {
		b := newBarrier(t, 2)
		got := barrierWaiters(t, b, 1, 5*time.Second)
		i, last, err := b.Arrive(Forever)
		if err != nil || !last || i != 1 {
			t.Fatalf("Arrive: %d, %v, %v; want 1, true, nil", i, last, err)
		}
		select {
		case err := <-got:
			t.Fatalf("a party left before Release: %v", err)
		case <-time.After(30 * time.Millisecond):
		}
		b.Release(ok)
		want := error(nil)
		if !ok {
			want = ErrBroken
		}
		expectErrs(t, got, 1, want)
		if b.Broken() == ok {
			t.Fatalf("Release(%v): Broken %v", ok, b.Broken())
		}
	}
}

// TestBarrierAwaitInSlices waits for a round in short slices, as a caller that handles
// signals in between does: a slice that runs out leaves the party in the round, and
// Abandon takes it out without breaking the barrier.
func TestBarrierAwaitInSlices(t *testing.T) {
	b := newBarrier(t, 2)
	i, last, err := b.Arrive(Forever)
	if err != nil || last || i != 0 {
		t.Fatalf("Arrive: %d, %v, %v", i, last, err)
	}
	for s := 0; s < 3; s++ {
		if done, err := b.Await(After(5*time.Millisecond), false); done || err != nil {
			t.Fatalf("slice %d: %v, %v; want not done", s, done, err)
		}
		if b.Waiting() != 1 || b.Broken() {
			t.Fatalf("slice %d: Waiting %d, Broken %v", s, b.Waiting(), b.Broken())
		}
	}
	other := make(chan error, 1)
	go func() {
		_, err := b.Wait(After(2*time.Second), nil)
		other <- err
	}()
	for done := false; !done; {
		if done, err = b.Await(After(5*time.Millisecond), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}

	// Abandon: the round goes on without the party, unbroken.
	if _, _, err := b.Arrive(Forever); err != nil {
		t.Fatal(err)
	}
	b.Abandon()
	if b.Waiting() != 0 || b.Broken() {
		t.Fatalf("after Abandon: Waiting %d, Broken %v", b.Waiting(), b.Broken())
	}
	fullRound(t, b)
	// A slice that gives up breaks the barrier, as a threading.Barrier timeout does.
	b.Arrive(Forever)
	if done, err := b.Await(After(5*time.Millisecond), true); !done || !errors.Is(err, ErrBroken) {
		t.Fatalf("Await giving up: %v, %v; want done, ErrBroken", done, err)
	}
	if !b.Broken() {
		t.Fatal("not broken after a wait gave up")
	}
}
