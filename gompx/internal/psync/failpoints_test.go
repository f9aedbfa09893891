//go:build gompx_failpoints

package psync

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gompx/gompx/gompx/internal/failpoint"
)

// Kill tests (make failpoints runs them under -race, 100 times each): a child dies at a
// failpoint in a lock word's critical section, and the survivors must take the lock
// over, keep every count made under it, and not wedge.

// takeover bounds the survivors' waits: only a wedge exceeds it.
const takeover = 20 * time.Second

// waitKilled reaps c and checks the failpoint, not something else, ended it.
func (c *child) waitKilled(t *testing.T) {
	t.Helper()
	err := c.cmd.Wait()
	ws, _ := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child %d: %v, not killed at the failpoint", c.pid(), err)
	}
}

func TestFailpointMutexOwnerKilled(t *testing.T) {
	const at = 37 // the child dies in its 37th Lock, having counted 36 times
	for _, point := range []string{"psync/mutex-claimed", "psync/mutex-held"} {
		t.Run(point, func(t *testing.T) {
			seg := sharedMem(t)
			mem := seg.Bytes()
			m, err := NewMutex(mem[offMutex:])
			if err != nil {
				t.Fatal(err)
			}
			counter := (*uint64)(unsafe.Pointer(&mem[offCounter]))
			t.Setenv(failpoint.Env, fmt.Sprintf("%s=kill@%d", point, at))
			victim := startChild(t, seg, "mutex-count", 1000)
			t.Setenv(failpoint.Env, "")
			victim.waitKilled(t)
			if m.Owner() != victim.pid() {
				t.Fatalf("owner %d after the death, want the dead child %d", m.Owner(), victim.pid())
			}
			if *counter != at-1 {
				t.Fatalf("counter %d, want %d", *counter, at-1)
			}
			err = m.Lock(After(takeover))
			if !errors.Is(err, ErrOwnerDied) {
				t.Fatalf("Lock after the owner died in %s: %v, want ErrOwnerDied", point, err)
			}
			if err := m.Unlock(); err != nil {
				t.Fatal(err)
			}
			// The lock works as before: a live child and this process count under it.
			peer := startChild(t, seg, "mutex-count", 500)
			for i := 0; i < 500; i++ {
				if err := m.Lock(After(takeover)); err != nil {
					t.Fatalf("lock: %v", err)
				}
				*counter++
				if err := m.Unlock(); err != nil {
					t.Fatal(err)
				}
			}
			if err := peer.cmd.Wait(); err != nil {
				t.Fatalf("peer: %v", err)
			}
			if *counter != at-1+1000 {
				t.Fatalf("counter %d, want %d", *counter, at-1+1000)
			}
		})
	}
}

// A waiter that dies registered leaves the waiters count one high: a release must still
// wake the live waiter, and nothing else changes.
func TestFailpointSemaphoreWaiterKilled(t *testing.T) {
	seg := sharedMem(t)
	mem := seg.Bytes()
	s, err := NewSemaphore(mem[offSem:], 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(failpoint.Env, "psync/sem-waiting=kill")
	victim := startChild(t, seg, "sem-hold", 0)
	t.Setenv(failpoint.Env, "")
	victim.waitKilled(t)
	got := make(chan error, 1)
	go func() { got <- s.Acquire(After(takeover)) }()
	waitFor(t, "live waiter", func() bool { return *(*uint32)(unsafe.Pointer(&mem[offSem+4])) == 2 })
	if err := s.Release(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("Acquire after a waiter died registered: %v", err)
	}
	if v := s.Value(); v != 0 {
		t.Fatalf("value %d after one release and one acquire", v)
	}
}
