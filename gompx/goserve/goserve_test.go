package goserve_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/goserve"
	"github.com/gompx/gompx/pickle"
)

func newPool(t testing.TB, workers int) *goserve.Pool {
	t.Helper()
	p, err := goserve.NewPool(goserve.Options{Path: os.Args[0], Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Terminate() })
	return p
}

func TestCallResults(t *testing.T) {
	p := newPool(t, 2)
	want := sha256.Sum256([]byte("abc"))
	cases := []struct {
		name string
		args []any
		want any
	}{
		{"add", []any{1, 2, 39}, int64(42)},
		{"add", nil, int64(0)},
		{"sha256", []any{[]byte("abc")}, want[:]},
		{"echo", []any{"s", 1.5, nil, []any{int64(1)}}, []any{"s", 1.5, nil, []any{int64(1)}}},
	}
	for _, c := range cases {
		got, err := p.Call(context.Background(), c.name, c.args...)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s%v = %#v, %v; want %#v", c.name, c.args, got, err, c.want)
		}
	}
	if fs := p.Functions(); !slices.Equal(fs[:3], []string{"add", "sha256", "echo"}) {
		t.Errorf("Functions() = %v", fs)
	}
}

func TestFunctionErrors(t *testing.T) {
	p := newPool(t, 1)
	cases := []struct {
		name, kind, message string
		args                []any
	}{
		{"fail", goserve.KindError, "it failed", nil},
		{"add", goserve.KindError, "string is not an int", []any{"x"}},
		{"panic", goserve.KindPanic, "panic: kaboom", nil},
		{"unencodable", goserve.KindEncode, "chan int", nil},
		{"nosuch", goserve.KindUnknown, `no Go function named "nosuch"`, nil},
	}
	for _, c := range cases {
		_, err := p.Call(context.Background(), c.name, c.args...)
		var ge *goserve.Error
		if !errors.As(err, &ge) || ge.Kind != c.kind || !strings.Contains(ge.Message, c.message) || ge.Function != c.name {
			t.Errorf("%s: got %v (%+v), want kind %s with %q", c.name, err, ge, c.kind, c.message)
			continue
		}
		if c.kind == goserve.KindPanic && !strings.Contains(ge.Stack, "goroutine") {
			t.Errorf("panic without a stack: %q", ge.Stack)
		}
	}
	if got, err := p.Call(context.Background(), "add", 1, 1); err != nil || got != int64(2) {
		t.Fatalf("after errors: %v, %v", got, err)
	}
}

func TestBatch(t *testing.T) {
	p := newPool(t, 2)
	calls := []any{pickle.Tuple{1, 2}, pickle.Tuple{3}, pickle.Tuple{}}
	args, _ := pickle.Marshal(calls)
	task, err := p.Submit("add", true, args)
	if err != nil {
		t.Fatal(err)
	}
	body, err := task.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, err := pickle.Unmarshal(body)
	if err != nil || !reflect.DeepEqual(got, []any{int64(3), int64(3), int64(0)}) {
		t.Fatalf("batch = %v, %v", got, err)
	}
	args, _ = pickle.Marshal([]any{pickle.Tuple{1}, pickle.Tuple{"x"}})
	task, _ = p.Submit("add", true, args)
	_, err = task.Wait(context.Background())
	var ge *goserve.Error
	if !errors.As(err, &ge) || ge.Index != 1 {
		t.Fatalf("failing batch: %v, want an Error at index 1", err)
	}
}

func TestWorkerDeath(t *testing.T) {
	p := newPool(t, 2)
	_, err := p.Call(context.Background(), "die", 3)
	var ee *goserve.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || !strings.Contains(err.Error(), "exited with code 3") {
		t.Fatalf("die(3): %v", err)
	}
	// Killed by a signal in the middle of a call.
	one := newPool(t, 1)
	done := make(chan error, 1)
	go func() {
		_, err := one.Call(context.Background(), "sleep", 30.0)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	syscall.Kill(one.Pids()[0], syscall.SIGKILL)
	err = <-done
	if !errors.As(err, &ee) || ee.Code != -9 || !strings.Contains(err.Error(), "SIGKILL") {
		t.Fatalf("killed during a call: %v", err)
	}
	for i := range 6 {
		if got, err := one.Call(context.Background(), "add", i); err != nil || got != int64(i) {
			t.Fatalf("after deaths: %v, %v", got, err)
		}
	}
}

func TestConcurrencyCancelAndClose(t *testing.T) {
	p := newPool(t, 2)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if got, err := p.Call(context.Background(), "add", g, i); err != nil || got != int64(g+i) {
					t.Errorf("add(%d, %d) = %v, %v", g, i, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := p.Call(ctx, "sleep", 30.0); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, gompx.ErrTimeout) {
		t.Fatalf("canceled call: %v, want gompx.ErrTimeout", err)
	}

	results := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := p.Call(context.Background(), "sleep", 0.2)
			results <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	p.Close()
	for range 4 {
		if err := <-results; err != nil && !errors.Is(err, goserve.ErrClosed) {
			t.Errorf("call during Close: %v", err)
		}
	}
	if _, err := p.Call(context.Background(), "add"); !errors.Is(err, goserve.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestNotAWorker(t *testing.T) {
	if err := goserve.Serve(); !errors.Is(err, goserve.ErrNotWorker) {
		t.Fatalf("Serve outside a pool: %v", err)
	}
	if _, err := goserve.NewPool(goserve.Options{Path: "/bin/true", Workers: 1}); err == nil || !strings.Contains(err.Error(), "before its hello") {
		t.Fatalf("a program that is no worker: %v", err)
	}
}

func TestRegisterRefusesMistakes(t *testing.T) {
	for _, name := range []string{"", "two words", "tab\t"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", name)
				}
			}()
			goserve.Register(name, func([]any) (any, error) { return nil, nil })
		}()
	}
	registerRuns++ // -count=N runs this test N times in one process
	once := fmt.Sprintf("once-%d", registerRuns)
	goserve.Register(once, func([]any) (any, error) { return nil, nil })
	defer func() {
		if recover() == nil {
			t.Error("a second Register of one name did not panic")
		}
	}()
	goserve.Register(once, func([]any) (any, error) { return nil, nil })
}

var registerRuns int

func submit(t *testing.T, p *goserve.Pool, name string, args ...any) *goserve.Task {
	t.Helper()
	argp, err := pickle.Marshal(pickle.Tuple(args))
	if err != nil {
		t.Fatal(err)
	}
	task, err := p.Submit(name, false, argp)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// With one worker busy, the next request waits in its socket (pipelining).
// If the worker dies running the first, the second never ran: it is queued
// again and answered by the replacement.
func TestPipelinedRequestSurvivesDeathAhead(t *testing.T) {
	p := newPool(t, 1)
	victim := p.Pids()[0]
	first := submit(t, p, "sleep", 0.5)
	second := submit(t, p, "pid")
	time.Sleep(200 * time.Millisecond)
	syscall.Kill(victim, syscall.SIGKILL)
	var ee *goserve.ExitError
	if _, err := first.Wait(context.Background()); !errors.As(err, &ee) || ee.Pid != victim {
		t.Fatalf("first: %v, want the ExitError of %d", err, victim)
	}
	body, err := second.Wait(context.Background())
	if err != nil {
		t.Fatalf("second: %v", err)
	}
	pid, _ := pickle.Unmarshal(body)
	if pid == int64(victim) {
		t.Fatalf("second ran on the dead worker %d", victim)
	}
}

// A request canceled while it waits behind another is never run to the end:
// its worker is replaced when it comes up, and the first still completes.
func TestCancelPipelinedRequest(t *testing.T) {
	p := newPool(t, 1)
	first := submit(t, p, "sleep", 0.3)
	second := submit(t, p, "sleep", 30.0)
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := second.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	if _, err := first.Wait(context.Background()); err != nil {
		t.Fatalf("first: %v", err)
	}
	start := time.Now()
	if got, err := p.Call(context.Background(), "add", 2); err != nil || got != int64(2) {
		t.Fatalf("after cancel: %v, %v", got, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("the canceled sleep(30) held the worker for %v", time.Since(start))
	}
}
