package psync

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newCondition(t testing.TB) Condition {
	t.Helper()
	c, err := NewCondition(blockOf(ConditionSize))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// outstanding is the number of notifications handed out and not yet taken.
func (c Condition) outstanding() uint32 {
	return atomic.LoadUint32(c.wakeups) - atomic.LoadUint32(c.woken)
}

// TestConditionAccounting drives Enter, Sleep (with no wait) and Leave in fixed orders,
// as waiters interleave when they race, and checks who is told it was notified and that
// nothing is left registered or handed out afterwards.
func TestConditionAccounting(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  func(t *testing.T, c Condition)
	}{
		{"a waiter that times out unregisters", func(t *testing.T, c Condition) {
			a := c.Enter()
			if c.Waiters() != 1 {
				t.Fatalf("Waiters %d, want 1", c.Waiters())
			}
			expect(t, "a", c.Leave(a, c.Sleep(a, Now)), false)
			if n := c.Notify(1); n != 0 {
				t.Fatalf("Notify(1) woke %d with nobody waiting", n)
			}
		}},
		{"notified between its timeout and Leave", func(t *testing.T, c Condition) {
			a := c.Enter()
			woken := c.Sleep(a, Now)
			expect(t, "a's sleep", woken, false)
			if n := c.Notify(1); n != 1 {
				t.Fatalf("Notify(1) woke %d, want 1", n)
			}
			expect(t, "a", c.Leave(a, woken), true)
		}},
		{"notify(n) of k wakes n", func(t *testing.T, c Condition) {
			var ts []Ticket
			for i := 0; i < 5; i++ {
				ts = append(ts, c.Enter())
			}
			if n := c.Notify(2); n != 2 {
				t.Fatalf("Notify(2) woke %d", n)
			}
			woken := 0
			for _, tk := range ts {
				if c.Sleep(tk, Now) {
					woken++
				} else if c.Leave(tk, false) {
					t.Fatal("a waiter not woken was told it was notified")
				}
			}
			if woken != 2 {
				t.Fatalf("%d woke, want 2", woken)
			}
		}},
		{"notify all", func(t *testing.T, c Condition) {
			a, b := c.Enter(), c.Enter()
			if n := c.Notify(-1); n != 2 {
				t.Fatalf("Notify(-1) woke %d, want 2", n)
			}
			expect(t, "a", c.Sleep(a, Now), true)
			expect(t, "b", c.Sleep(b, Now), true)
		}},
		{"the notifier's own wait does not take its notification", func(t *testing.T, c Condition) {
			a := c.Enter()
			c.Notify(1)
			own := c.Enter()
			expect(t, "own", c.Leave(own, c.Sleep(own, Now)), false)
			expect(t, "a", c.Sleep(a, Now), true)
		}},
		{"a timed-out waiter may take a notification made while it waited", func(t *testing.T, c Condition) {
			a, b := c.Enter(), c.Enter()
			c.Notify(1)
			// b's time ran out: it was waiting when notify ran, so it may be the one.
			expect(t, "b", c.Leave(b, c.Sleep(b, Now)), true)
			// Then a stays registered and the next notify is its.
			if c.Waiters() != 1 {
				t.Fatalf("Waiters %d, want 1", c.Waiters())
			}
			expect(t, "a before a notify", c.Sleep(a, Now), false)
			c.Notify(1)
			expect(t, "a", c.Sleep(a, Now), true)
		}},
		// A regression: a waiter whose time ran out counted itself notified and woken,
		// which moved wakeups and let a waiter that entered after a notify take it.
		{"a timeout does not hand an earlier notification to a later waiter", func(t *testing.T, c Condition) {
			a := c.Enter()
			c.Notify(1)
			late, d := c.Enter(), c.Enter()
			expect(t, "d", c.Leave(d, c.Sleep(d, Now)), false)
			expect(t, "late", c.Sleep(late, Now), false)
			expect(t, "a", c.Sleep(a, Now), true)
			expect(t, "late, unnotified", c.Leave(late, false), false)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCondition(t)
			tt.run(t, c)
			if c.Waiters() != 0 || c.outstanding() != 0 {
				t.Fatalf("left %d waiters and %d untaken notifications", c.Waiters(), c.outstanding())
			}
		})
	}
}

func expect(t *testing.T, who string, got, want bool) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: notified %v, want %v", who, got, want)
	}
}

// condWaiters starts k goroutines in Wait and returns once all are registered; each
// sends its result on the channel.
func condWaiters(t *testing.T, m Mutex, c Condition, k int, d time.Duration) chan bool {
	t.Helper()
	got := make(chan bool, k)
	for i := 0; i < k; i++ {
		go func() {
			if err := m.Lock(Forever); err != nil {
				t.Error(err)
			}
			woken, err := c.Wait(m, After(d))
			if err != nil {
				t.Error(err)
			}
			m.Unlock()
			got <- woken
		}()
	}
	waitFor(t, "waiters", func() bool {
		m.Lock(Forever)
		defer m.Unlock()
		return c.Waiters() == k
	})
	return got
}

func TestConditionNotifyWakesExactly(t *testing.T) {
	const k = 5
	for _, n := range []int{1, 3, k} {
		m, c := newMutex(t), newCondition(t)
		got := condWaiters(t, m, c, k, 5*time.Second)
		m.Lock(Forever)
		if woke := c.Notify(n); woke != n {
			t.Fatalf("Notify(%d) reported %d", n, woke)
		}
		m.Unlock()
		for i := 0; i < n; i++ {
			select {
			case ok := <-got:
				if !ok {
					t.Fatalf("Notify(%d): a waiter returned false", n)
				}
			case <-time.After(2 * time.Second):
				t.Fatalf("Notify(%d): only %d woke", n, i)
			}
		}
		select {
		case <-got:
			t.Fatalf("Notify(%d) woke more than %d", n, n)
		case <-time.After(50 * time.Millisecond):
		}
		m.Lock(Forever)
		if c.Waiters() != k-n {
			t.Fatalf("Waiters %d after Notify(%d) of %d", c.Waiters(), n, k)
		}
		if woke := c.Notify(-1); woke != k-n {
			t.Fatalf("Notify(-1) reported %d, want %d", woke, k-n)
		}
		m.Unlock()
		for i := 0; i < k-n; i++ {
			if !<-got {
				t.Fatal("Notify(-1): a waiter returned false")
			}
		}
	}
}

func TestConditionWaitTimeout(t *testing.T) {
	m, c := newMutex(t), newCondition(t)
	m.Lock(Forever)
	start := time.Now()
	woken, err := c.Wait(m, After(60*time.Millisecond))
	took := time.Since(start)
	if err != nil || woken {
		t.Fatalf("Wait: %v, %v; want false, nil", woken, err)
	}
	if took < 60*time.Millisecond || took > 300*time.Millisecond {
		t.Fatalf("Wait(60ms) took %v", took)
	}
	if m.Owner() != Self().Pid {
		t.Fatal("Wait returned without the mutex")
	}
	if c.Waiters() != 0 || c.Notify(1) != 0 {
		t.Fatal("a timed-out waiter is still registered")
	}
	m.Unlock()
}

// TestConditionStress passes items from producers to consumers through a one-slot
// buffer guarded by the mutex: each side waits on the condition for the other. Every
// item must arrive once; waits have timeouts, so that timed-out waiters mix in.
func TestConditionStress(t *testing.T) {
	const producers, consumers, items = 3, 3, 600
	m, c := newMutex(t), newCondition(t)
	var slot, full, sum, taken int
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= items/producers; i++ {
				m.Lock(Forever)
				for full == 1 {
					c.Wait(m, After(5*time.Millisecond))
				}
				slot, full = i, 1
				c.Notify(-1)
				m.Unlock()
			}
		}()
	}
	for q := 0; q < consumers; q++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Lock(Forever)
			defer m.Unlock()
			for taken < items {
				if full == 0 {
					c.Wait(m, After(5*time.Millisecond))
					continue
				}
				sum, taken, full = sum+slot, taken+1, 0
				c.Notify(-1)
			}
		}()
	}
	wg.Wait()
	if want := producers * (items / producers) * (items/producers + 1) / 2; sum != want {
		t.Fatalf("sum %d, want %d", sum, want)
	}
	if c.Waiters() != 0 {
		t.Fatalf("%d waiters left", c.Waiters())
	}
}

// TestConditionDeadWaiter SIGKILLs a child asleep in Wait: Notify(1) then goes to a
// live waiter, not to the dead one.
func TestConditionDeadWaiter(t *testing.T) {
	seg := sharedMem(t)
	mem := seg.Bytes()
	m, err := NewMutex(mem[offMutex:])
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCondition(mem[offCond:])
	if err != nil {
		t.Fatal(err)
	}
	dead := startChild(t, seg, "cond-wait", 0)
	waitFor(t, "the child's wait", func() bool {
		m.Lock(Forever)
		defer m.Unlock()
		return c.Waiters() == 1
	})
	dead.kill()
	got := condWaiters(t, m, c, 1, 3*time.Second) // drops the dead one as it counts
	m.Lock(Forever)
	if n := c.Notify(1); n != 1 {
		t.Fatalf("Notify(1) reported %d", n)
	}
	m.Unlock()
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("the live waiter returned false")
		}
	case <-time.After(time.Second):
		t.Fatal("the notification went to the dead waiter")
	}
}

// A second notify must not let a waiter that entered after the first take the first
// one's notification while the waiter it was meant for is about to take it.
func TestConditionSecondNotifyKeepsOrder(t *testing.T) {
	c, err := NewCondition(make([]byte, ConditionSize))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Enter()
	c.Notify(1) // meant for a
	taken := make(chan bool)
	go func() {
		time.Sleep(5 * time.Millisecond) // a wakes late, while the second notify waits
		taken <- c.Sleep(a, Now)
	}()
	b, x := c.Enter(), c.Enter()
	c.Notify(1) // meant for b or x; waits for a to take its own
	if !<-taken {
		t.Fatal("a lost the notification meant for it")
	}
	got := 0
	for _, w := range []Ticket{b, x} {
		if c.Sleep(w, Now) {
			got++
		}
	}
	if got != 1 {
		t.Fatalf("%d of the two later waiters woke, want 1", got)
	}
}
