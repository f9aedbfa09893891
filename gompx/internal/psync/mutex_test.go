package psync

import (
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

func newMutex(t testing.TB) Mutex {
	t.Helper()
	m, err := NewMutex(block())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBlockChecks(t *testing.T) {
	b := block()
	if _, err := NewEvent(b); err != nil {
		t.Fatal(err)
	}
	misaligned := blockOf(2 * BlockSize)[4 : 4+BlockSize]
	for _, tt := range []struct {
		name string
		open func() error
		want string
	}{
		{"short block", func() error { _, err := NewMutex(make([]byte, BlockSize-1)); return err }, "block of 63 bytes"},
		{"misaligned block", func() error { _, err := NewSemaphore(misaligned, 1, 0); return err }, "not 8-byte aligned"},
		{"mutex view of an event", func() error { _, err := OpenMutex(b); return err }, "open mutex: block holds a event"},
		{"semaphore view of an event", func() error { _, err := OpenSemaphore(b); return err }, "open semaphore: block holds a event"},
		{"view of zeroes", func() error { _, err := OpenEvent(block()); return err }, "block holds a kind 0x0"},
		{"semaphore above its bound", func() error { _, err := NewSemaphore(block(), 3, 2); return err }, "above its bound"},
		{"semaphore too large", func() error { _, err := NewSemaphore(block(), 1<<31, 0); return err }, "too large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.open()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := OpenEvent(b); err != nil {
		t.Fatalf("the right view refused: %v", err)
	}
}

func TestMutexSemantics(t *testing.T) {
	me := Self().Pid
	for _, tt := range []struct {
		name string
		run  func(t *testing.T, m Mutex)
	}{
		{"trylock takes a free mutex once", func(t *testing.T, m Mutex) {
			if !m.TryLock() || m.TryLock() {
				t.Fatal("TryLock: want true, then false")
			}
			if !m.Locked() || m.Owner() != me {
				t.Fatalf("Locked %v, Owner %d: want true, %d", m.Locked(), m.Owner(), me)
			}
		}},
		{"unlock frees", func(t *testing.T, m Mutex) {
			m.TryLock()
			if err := m.Unlock(); err != nil {
				t.Fatal(err)
			}
			if m.Locked() || m.Owner() != 0 {
				t.Fatal("still locked after Unlock")
			}
			if err := m.Lock(Now); err != nil {
				t.Fatalf("Lock(Now) of a free mutex: %v", err)
			}
		}},
		{"unlock of a free mutex", func(t *testing.T, m Mutex) {
			if err := m.Unlock(); !errors.Is(err, ErrNotLocked) {
				t.Fatalf("got %v, want ErrNotLocked", err)
			}
			m.TryLock()
			m.Unlock()
			if err := m.Unlock(); !errors.Is(err, ErrNotLocked) {
				t.Fatalf("second Unlock: got %v, want ErrNotLocked", err)
			}
		}},
		{"lock(now) of a held mutex", func(t *testing.T, m Mutex) {
			m.TryLock()
			if err := m.Lock(Now); !errors.Is(err, ErrTimeout) {
				t.Fatalf("got %v, want ErrTimeout", err)
			}
		}},
		{"another goroutine may unlock", func(t *testing.T, m Mutex) {
			m.TryLock()
			done := make(chan error)
			go func() { done <- m.Unlock() }()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !m.TryLock() {
				t.Fatal("not free after another goroutine's Unlock")
			}
		}},
		{"a sleeping waiter is woken by unlock", func(t *testing.T, m Mutex) {
			m.TryLock()
			got := make(chan error)
			go func() { got <- m.Lock(Forever) }()
			waitFor(t, "the waiters bit", func() bool { return atomic.LoadUint32(m.state)&waitersBit != 0 })
			if err := m.Unlock(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-got:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Second):
				t.Fatal("waiter still asleep 1 s after Unlock")
			}
			if m.Owner() != me || atomic.LoadUint32(m.state)&waitersBit == 0 {
				// The woken waiter cannot know whether others sleep: it keeps the bit.
				t.Fatalf("state %#x after a woken waiter took it", atomic.LoadUint32(m.state))
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newMutex(t)) })
	}
}

// waitFor polls cond for up to 2 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(2 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no %s after 2 s", what)
		}
	}
}

// checkTimeout runs wait, which must fail with ErrTimeout after about d.
func checkTimeout(t *testing.T, d time.Duration, wait func(Deadline) error) {
	t.Helper()
	start := time.Now()
	err := wait(After(d))
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if took < d || took > d+250*time.Millisecond {
		t.Fatalf("timed out after %v, want about %v", took, d)
	}
}

func TestMutexTimeout(t *testing.T) {
	m := newMutex(t)
	m.TryLock()
	for _, d := range []time.Duration{time.Millisecond, 30 * time.Millisecond, 150 * time.Millisecond} {
		checkTimeout(t, d, m.Lock)
	}
	if m.Owner() != Self().Pid {
		t.Fatal("a timed-out Lock changed the owner")
	}
}

// TestMutexStress has goroutines increment a plain counter under the mutex; the race
// detector checks that Unlock and Lock order the increments.
func TestMutexStress(t *testing.T) {
	const goroutines, each = 8, 2000
	m := newMutex(t)
	counter := 0
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if g%2 == 0 && i%3 == 0 {
					for !m.TryLock() {
					}
				} else if err := m.Lock(Forever); err != nil {
					t.Error(err)
					return
				}
				counter++
				m.Unlock()
			}
		}()
	}
	wg.Wait()
	if counter != goroutines*each {
		t.Fatalf("counter %d, want %d", counter, goroutines*each)
	}
}

func TestMutexAcrossProcesses(t *testing.T) {
	const procs, each = 3, 3000
	seg := sharedMem(t)
	mem := seg.Bytes()
	if _, err := NewMutex(mem[offMutex:]); err != nil {
		t.Fatal(err)
	}
	var kids []*child
	for i := 0; i < procs; i++ {
		kids = append(kids, startChild(t, seg, "mutex-count", each))
	}
	for _, c := range kids {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", c.pid(), err)
		}
	}
	if got := *(*uint64)(unsafe.Pointer(&mem[offCounter])); got != procs*each {
		t.Fatalf("counter %d, want %d", got, procs*each)
	}
}

// TestMutexOwnerKilled SIGKILLs a child holding the mutex: a Lock, already waiting or
// called after the death, zombie or reaped, takes it over with ErrOwnerDied.
func TestMutexOwnerKilled(t *testing.T) {
	for _, tt := range []struct {
		name          string
		waitingBefore bool
		reap          bool
	}{
		{"lock after death, zombie owner", false, false},
		{"lock after death, reaped owner", false, true},
		{"waiting at death", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seg := sharedMem(t)
			m, err := NewMutex(seg.Bytes()[offMutex:])
			if err != nil {
				t.Fatal(err)
			}
			c := startChild(t, seg, "mutex-hold", 0)
			c.awaitReady(t)
			if m.Owner() != c.pid() {
				t.Fatalf("owner %d, want the child %d", m.Owner(), c.pid())
			}
			got := make(chan error, 1)
			lock := func() { got <- m.Lock(After(3 * time.Second)) }
			if tt.waitingBefore {
				go lock()
				waitFor(t, "waiter", func() bool { return atomic.LoadUint32(m.state)&waitersBit != 0 })
			}
			killed := time.Now()
			if tt.reap {
				c.kill()
			} else {
				c.killLeaveZombie(t)
			}
			if !tt.waitingBefore {
				go lock()
			}
			err = <-got
			if took := time.Since(killed); took > time.Second {
				t.Errorf("took over %v after the owner's death, want within 1 s", took)
			}
			if !errors.Is(err, ErrOwnerDied) {
				t.Fatalf("got %v, want ErrOwnerDied", err)
			}
			if m.Owner() != Self().Pid {
				t.Fatalf("owner %d after the takeover, want %d", m.Owner(), Self().Pid)
			}
			if err := m.Unlock(); err != nil {
				t.Fatal(err)
			}
			if err := m.Lock(Now); err != nil {
				t.Fatalf("a clean Lock after the takeover: %v", err)
			}
		})
	}
}

func TestGone(t *testing.T) {
	me := Self()
	if me.Start == 0 {
		t.Skip("/proc/self/stat unreadable: owners are checked by pid only")
	}
	seg := sharedMem(t)
	live := startChild(t, seg, "sleep", 0)
	live.awaitReady(t)
	liveStart, ok := startTime(int(live.pid()))
	if !ok {
		t.Fatal("no start time for a live child")
	}
	zombie := startChild(t, seg, "sleep", 0)
	zombie.awaitReady(t)
	zombie.killLeaveZombie(t)
	reaped := startChild(t, seg, "sleep", 0)
	reaped.awaitReady(t)
	reaped.kill()
	for _, tt := range []struct {
		name  string
		pid   uint32
		start uint64
		want  bool
	}{
		{"no owner", 0, 0, false},
		{"this process", me.Pid, me.Start, false},
		{"this process, start not written yet", me.Pid, 0, false},
		{"this pid, another start: a process before us", me.Pid, me.Start + 1, true},
		{"live child", live.pid(), liveStart, false},
		{"live child, start not written yet", live.pid(), 0, false},
		{"live pid, another start: reused", live.pid(), liveStart - 1, true},
		{"zombie", zombie.pid(), 0, true},
		{"reaped", reaped.pid(), 0, true},
	} {
		if got := gone(tt.pid, tt.start); got != tt.want {
			t.Errorf("%s: gone(%d, %d) = %v, want %v", tt.name, tt.pid, tt.start, got, tt.want)
		}
	}
}

// TestMutexStaleOwnerStart covers a state naming a live pid whose recorded start time
// does not match: taken over when it stays so (the pid was reused after its holder
// died), left alone when the owner writes its start time meanwhile (a new owner between
// its compare-and-swap and its write; a regression: this was taken over at once).
func TestMutexStaleOwnerStart(t *testing.T) {
	if Self().Start == 0 {
		t.Skip("/proc/self/stat unreadable: owners are checked by pid only")
	}
	seg := sharedMem(t)
	live := startChild(t, seg, "sleep", 0)
	live.awaitReady(t)
	pid := live.pid()
	start, _ := startTime(int(pid))
	for _, tt := range []struct {
		name       string
		ownerPid   uint32
		ownerStart uint64
		fixAfter   time.Duration // when the "owner" writes its real start time; 0: never
		want       error
	}{
		{"reused pid", pid, start + 7, 0, ErrOwnerDied},
		{"owner writing its start", pid, start + 7, 20 * time.Millisecond, ErrTimeout},
		{"recorded start matches", pid, start, 0, ErrTimeout},
		{"ownerPid of an earlier owner", pid + 1, start + 7, 0, ErrTimeout},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMutex(t)
			atomic.StoreUint32(m.state, pid)
			atomic.StoreUint64(m.ownerStart, tt.ownerStart)
			atomic.StoreUint32(m.ownerPid, tt.ownerPid)
			if tt.fixAfter > 0 {
				time.AfterFunc(tt.fixAfter, func() { atomic.StoreUint64(m.ownerStart, start) })
			}
			err := m.Lock(After(400 * time.Millisecond))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSelf(t *testing.T) {
	me := Self()
	if int(me.Pid) != os.Getpid() {
		t.Fatalf("Self().Pid %d, want %d", me.Pid, os.Getpid())
	}
	if start, ok := startTime(os.Getpid()); !ok || start != me.Start {
		t.Fatalf("start %d (%v), want %d", start, ok, me.Start)
	}
}
