//go:build linux

package gompx

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The children of these tests find the arena at fd 3 and the offsets of their blocks in
// syncOffsetsEnv, comma-separated.
const syncOffsetsEnv = "GOMPX_TEST_SYNC_OFFSETS"

const syncRounds = 30

func init() {
	// Checks the block holds "from parent", writes "from child", drops its reference.
	testChildren["shared-echo"] = func() {
		b := syncChildOpen(OpenShared, 0)
		if !strings.HasPrefix(string(b.Bytes()), "from parent") {
			syncChildFail("block holds %q", b.Bytes()[:16])
		}
		copy(b.Bytes(), "from child")
		if err := b.Close(); err != nil {
			syncChildFail("close: %v", err)
		}
	}
	// Takes the lock and waits to be killed.
	testChildren["lock-hold"] = func() {
		l := syncChildOpen(OpenLock, 0)
		if err := l.LockTimeout(-1); err != nil {
			syncChildFail("lock: %v", err)
		}
		fmt.Println("ready")
		time.Sleep(time.Hour)
	}
	// Takes the lock, notifies the condition, releases the lock.
	testChildren["cond-notify"] = func() {
		l, c := syncChildOpen(OpenLock, 0), syncChildOpen(OpenCondition, 1)
		if err := l.LockTimeout(5 * time.Second); err != nil {
			syncChildFail("lock: %v", err)
		}
		for c.Waiters() == 0 {
			l.Unlock()
			time.Sleep(time.Millisecond)
			l.Lock()
		}
		if n := c.Notify(1); n != 1 {
			syncChildFail("notify woke %d", n)
		}
		l.Unlock()
	}
	// Passes the barrier syncRounds times; the action counts in the shared block.
	testChildren["barrier-rounds"] = func() {
		b, counter := syncChildOpen(OpenBarrier, 0), syncChildOpen(OpenShared, 1)
		for r := 0; r < syncRounds; r++ {
			if _, err := b.Wait(5*time.Second, func() error { counter.Bytes()[0]++; return nil }); err != nil {
				syncChildFail("round %d: %v", r, err)
			}
		}
	}
}

func syncChildOpen[T any](open func(SharedRef) (T, error), i int) T {
	offs := strings.Split(os.Getenv(syncOffsetsEnv), ",")
	off, err := strconv.ParseInt(offs[i], 10, 64)
	if err != nil {
		syncChildFail("offset %d: %v", i, err)
	}
	v, err := open(SharedRef{Fd: 3, Offset: off})
	if err != nil {
		syncChildFail("open: %v", err)
	}
	return v
}

func syncChildFail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
	os.Exit(3)
}

type refHolder interface {
	Ref() SharedRef
	Retain() error
}

// startSyncChild runs scenario with the arena of the objects at fd 3, each retained for
// it. Cleanup kills and reaps it.
func startSyncChild(t *testing.T, scenario string, objs ...refHolder) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	var offs []string
	for _, o := range objs {
		if err := o.Retain(); err != nil {
			t.Fatal(err)
		}
		offs = append(offs, strconv.FormatInt(o.Ref().Offset, 10))
	}
	fd, err := unix.FcntlInt(uintptr(objs[0].Ref().Fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "arena")
	defer f.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(testChildEnviron(scenario), syncOffsetsEnv+"="+strings.Join(offs, ","))
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, bufio.NewScanner(out)
}

func TestSharedBlockAcrossProcesses(t *testing.T) {
	b, err := AllocShared(100)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if len(b.Bytes()) < 100 {
		t.Fatalf("%d bytes, want at least 100", len(b.Bytes()))
	}
	copy(b.Bytes(), "from parent")
	cmd, _ := startSyncChild(t, "shared-echo", b)
	if b.arena.Refs(b.off) != 2 {
		t.Fatalf("refs %d with the child's reference, want 2", b.arena.Refs(b.off))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if got := string(b.Bytes()[:10]); got != "from child" {
		t.Fatalf("block holds %q after the child", got)
	}
	if b.arena.Refs(b.off) != 1 {
		t.Fatalf("refs %d after the child closed its reference, want 1", b.arena.Refs(b.off))
	}
}

func TestSharedBlockMisuse(t *testing.T) {
	b, err := AllocShared(64)
	if err != nil {
		t.Fatal(err)
	}
	ref := b.Ref()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Retain(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Retain after Close: %v, want ErrClosed", err)
	}
	if b.Bytes() != nil {
		t.Fatal("Bytes after Close")
	}
	notArena, err := unix.MemfdCreate("not-an-arena", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(notArena)
	unix.Ftruncate(notArena, 4096)
	for _, tt := range []struct {
		name string
		ref  SharedRef
	}{
		{"freed block", ref},
		{"offset inside the arena header", SharedRef{ref.Fd, 64}},
		{"misaligned offset", SharedRef{ref.Fd, ref.Offset + 3}},
		{"closed fd", SharedRef{-1, ref.Offset}},
		{"not an arena", SharedRef{notArena, ref.Offset}},
	} {
		if _, err := OpenShared(tt.ref); err == nil {
			t.Errorf("%s: OpenShared succeeded", tt.name)
		}
	}
	if _, err := unix.FcntlInt(uintptr(notArena), unix.F_GETFD, 0); err != nil {
		t.Fatalf("a refused OpenShared closed the caller's fd: %v", err)
	}
	if _, err := AllocShared(-1); err == nil {
		t.Fatal("AllocShared(-1) succeeded")
	}
}

func TestSyncLockAPI(t *testing.T) {
	l, err := NewLock()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"lock", func() error { return l.LockTimeout(-1) }, nil},
		{"trylock of a held lock", func() error {
			if l.TryLock() {
				return errors.New("TryLock succeeded")
			}
			return nil
		}, nil},
		{"lock with a timeout", func() error { return l.LockTimeout(20 * time.Millisecond) }, ErrTimeout},
		{"lock(0)", func() error { return l.LockTimeout(0) }, ErrTimeout},
		{"unlock", l.Release, nil},
		{"unlock of a free lock", l.Release, ErrNotLocked},
		{"lock(0) of a free lock", func() error { return l.LockTimeout(0) }, nil},
	}
	for _, s := range steps {
		if err := s.do(); !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
	}
	if l.Owner() != os.Getpid() {
		t.Fatalf("Owner %d, want %d", l.Owner(), os.Getpid())
	}
}

func TestSyncLockOwnerDied(t *testing.T) {
	l, err := NewLock()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd, lines := startSyncChild(t, "lock-hold", l)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatal("child never took the lock")
	}
	if l.Owner() != cmd.Process.Pid {
		t.Fatalf("Owner %d, want the child %d", l.Owner(), cmd.Process.Pid)
	}
	if err := l.LockTimeout(20 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Lock while the child holds it: %v", err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	start := time.Now()
	err = l.LockTimeout(3 * time.Second)
	if !errors.Is(err, ErrOwnerDied) {
		t.Fatalf("Lock after the owner's death: %v, want ErrOwnerDied", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %v to take over", took)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("Unlock after the takeover: %v", err)
	}
}

func TestSyncRLockOwners(t *testing.T) {
	r, err := NewRLock()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const alice, bob = 1, 2
	if err := r.LockTimeout(0, -1); err == nil {
		t.Fatal("Lock with owner token 0 succeeded")
	}
	for i := 0; i < 3; i++ {
		if err := r.LockTimeout(alice, 0); err != nil {
			t.Fatalf("level %d: %v", i, err)
		}
	}
	if err := r.Release(bob); !errors.Is(err, ErrNotLocked) {
		t.Fatalf("Unlock by a non-owner: %v, want ErrNotLocked", err)
	}
	if err := r.LockTimeout(bob, 10*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Lock by another owner: %v, want ErrTimeout", err)
	}
	got := make(chan error, 1)
	go func() { got <- r.LockTimeout(bob, 3*time.Second) }()
	for i := 0; i < 3; i++ {
		select {
		case err := <-got:
			t.Fatalf("bob got the lock with alice %d levels deep: %v", 3-i, err)
		case <-time.After(5 * time.Millisecond):
		}
		if err := r.Release(alice); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-got; err != nil {
		t.Fatalf("bob after alice let go: %v", err)
	}
	if err := r.Release(alice); !errors.Is(err, ErrNotLocked) {
		t.Fatalf("alice's Unlock of bob's lock: %v, want ErrNotLocked", err)
	}
	if err := r.Release(bob); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(bob); !errors.Is(err, ErrNotLocked) {
		t.Fatalf("Unlock of a free RLock: %v, want ErrNotLocked", err)
	}
}

func TestSyncSemaphoreAPI(t *testing.T) {
	for _, tt := range []struct {
		name    string
		make    func() (*Semaphore, error)
		value   int
		bound   int
		wantErr bool
	}{
		{"semaphore(2)", func() (*Semaphore, error) { return NewSemaphore(2) }, 2, 0, false},
		{"semaphore(0)", func() (*Semaphore, error) { return NewSemaphore(0) }, 0, 0, false},
		{"bounded(2)", func() (*Semaphore, error) { return NewBoundedSemaphore(2) }, 2, 2, false},
		{"semaphore(-1)", func() (*Semaphore, error) { return NewSemaphore(-1) }, 0, 0, true},
		{"semaphore(2^31)", func() (*Semaphore, error) { return NewSemaphore(1 << 31) }, 0, 0, true},
		{"bounded(0)", func() (*Semaphore, error) { return NewBoundedSemaphore(0) }, 0, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.make()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer s.Close()
			if s.Value() != tt.value || s.Bound() != tt.bound {
				t.Fatalf("Value %d, Bound %d; want %d, %d", s.Value(), s.Bound(), tt.value, tt.bound)
			}
			for i := 0; i < tt.value; i++ {
				if err := s.Acquire(0); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Acquire(10 * time.Millisecond); !errors.Is(err, ErrTimeout) {
				t.Fatalf("Acquire of an empty semaphore: %v, want ErrTimeout", err)
			}
			for i := 0; i < tt.value; i++ {
				if err := s.Release(); err != nil {
					t.Fatal(err)
				}
			}
			err = s.Release()
			if tt.bound != 0 && !errors.Is(err, ErrTooManyReleases) || tt.bound == 0 && err != nil {
				t.Fatalf("Release past the start value: %v", err)
			}
		})
	}
}

func TestSyncEventAPI(t *testing.T) {
	e, err := NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.IsSet() || e.Wait(0) || e.Wait(10*time.Millisecond) {
		t.Fatal("a new Event is set")
	}
	got := make(chan bool, 1)
	go func() { got <- e.Wait(-1) }()
	time.Sleep(5 * time.Millisecond)
	e.Set()
	if !<-got || !e.IsSet() || !e.Wait(0) {
		t.Fatal("Set did not set")
	}
	e.Clear()
	if e.IsSet() {
		t.Fatal("Clear did not clear")
	}
}

func TestSyncConditionWaitWithLock(t *testing.T) {
	l, err := NewLock()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := NewCondition()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Timeout: false, no error, the lock held again, nobody left registered.
	l.Lock()
	start := time.Now()
	if woken, err := c.Wait(l, 30*time.Millisecond); woken || err != nil {
		t.Fatalf("Wait: %v, %v; want false, nil", woken, err)
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Fatalf("Wait(30ms) returned after %v", took)
	}
	if l.Owner() != os.Getpid() || c.Waiters() != 0 {
		t.Fatalf("after a timeout: owner %d, waiters %d", l.Owner(), c.Waiters())
	}
	if c.Notify(0) != 0 || c.NotifyAll() != 0 {
		t.Fatal("notified someone with nobody waiting")
	}
	l.Unlock()

	// Woken by goroutines: Notify(1) wakes one of two, NotifyAll the other.
	var wg sync.WaitGroup
	woke := make(chan bool, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Lock()
			defer l.Unlock()
			woken, err := c.Wait(l, 3*time.Second)
			if err != nil || l.Owner() != os.Getpid() {
				t.Errorf("Wait: %v, owner %d", err, l.Owner())
			}
			woke <- woken
		}()
	}
	for l.Lock(); c.Waiters() < 2; l.Lock() {
		l.Unlock()
		time.Sleep(time.Millisecond)
	}
	if n := c.Notify(1); n != 1 {
		t.Fatalf("Notify(1) woke %d", n)
	}
	l.Unlock()
	if !<-woke {
		t.Fatal("a notified waiter returned false")
	}
	l.Lock()
	if n := c.NotifyAll(); n != 1 {
		t.Fatalf("NotifyAll woke %d, want 1", n)
	}
	l.Unlock()
	wg.Wait()
	if !<-woke {
		t.Fatal("a notified waiter returned false")
	}
}

// TestSyncConditionAcrossProcesses waits here for a child's notification.
func TestSyncConditionAcrossProcesses(t *testing.T) {
	l, err := NewLock()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := NewCondition()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l.Lock()
	cmd, _ := startSyncChild(t, "cond-notify", l, c)
	woken, err := c.Wait(l, 5*time.Second)
	if err != nil || !woken {
		t.Fatalf("Wait: %v, %v; want the child's notification", woken, err)
	}
	l.Unlock()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

func TestSyncBarrierAPI(t *testing.T) {
	if _, err := NewBarrier(0); err == nil {
		t.Fatal("NewBarrier(0) succeeded")
	}
	b, err := NewBarrier(2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Parties() != 2 || b.Waiting() != 0 || b.Broken() {
		t.Fatalf("new barrier: %d parties, %d waiting, broken %v", b.Parties(), b.Waiting(), b.Broken())
	}
	// A round with an action, which runs once, before anyone leaves.
	var ran int
	got := make(chan error, 1)
	go func() {
		_, err := b.Wait(3*time.Second, func() error { ran++; return nil })
		got <- err
	}()
	for b.Waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	i, err := b.Wait(3*time.Second, func() error { ran++; return nil })
	if err != nil || i != 1 {
		t.Fatalf("last party: %d, %v", i, err)
	}
	if err := <-got; err != nil || ran != 1 {
		t.Fatalf("other party: %v; action ran %d times", err, ran)
	}
	// A failing action breaks the barrier for the others.
	boom := errors.New("boom")
	go func() {
		_, err := b.Wait(3*time.Second, nil)
		got <- err
	}()
	for b.Waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := b.Wait(3*time.Second, func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("last party: %v, want the action's error", err)
	}
	if err := <-got; !errors.Is(err, ErrBrokenBarrier) {
		t.Fatalf("other party: %v, want ErrBrokenBarrier", err)
	}
	if _, err := b.Wait(0, nil); !errors.Is(err, ErrBrokenBarrier) || !b.Broken() {
		t.Fatalf("Wait on a broken barrier: %v", err)
	}
	b.Reset()
	// A timeout breaks it too.
	if _, err := b.Wait(10*time.Millisecond, nil); !errors.Is(err, ErrBrokenBarrier) {
		t.Fatalf("lone party: %v, want ErrBrokenBarrier", err)
	}
	b.Reset()
	b.Abort()
	if !b.Broken() {
		t.Fatal("not broken after Abort")
	}
}

// TestSyncBarrierAcrossProcesses passes rounds with two children; the action of each
// round, in whichever process arrives last, counts in a shared block.
func TestSyncBarrierAcrossProcesses(t *testing.T) {
	b, err := NewBarrier(3)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	counter, err := AllocShared(1)
	if err != nil {
		t.Fatal(err)
	}
	defer counter.Close()
	var kids []*exec.Cmd
	for i := 0; i < 2; i++ {
		cmd, _ := startSyncChild(t, "barrier-rounds", b, counter)
		kids = append(kids, cmd)
	}
	for r := 0; r < syncRounds; r++ {
		if _, err := b.Wait(5*time.Second, func() error { counter.Bytes()[0]++; return nil }); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
	}
	for _, cmd := range kids {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	if n := counter.Bytes()[0]; n != syncRounds {
		t.Fatalf("actions ran %d times in %d rounds", n, syncRounds)
	}
}
