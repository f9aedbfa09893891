package pyworker_test

import (
	"context"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gompx/gompx/internal/testpython"

	"github.com/gompx/gompx/gompx"
	"github.com/gompx/gompx/gompx/pyworker"
	"github.com/gompx/gompx/pickle"
)

func newPool(t testing.TB, workers int) *pyworker.Pool {
	t.Helper()
	p, err := pyworker.NewPool(pyworker.Options{Python: testpython.One(t), Workers: workers, Dir: "testdata"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Terminate() })
	return p
}

func TestCallResults(t *testing.T) {
	p := newPool(t, 2)
	huge, _ := new(big.Int).SetString("100000000000000000000", 10)
	cases := []struct {
		target string
		args   []any
		want   any
	}{
		{"operator:add", []any{2, 3}, int64(5)},
		{"builtins:len", []any{"abc"}, int64(3)},
		{"math:sqrt", []any{16.0}, 4.0},
		{"pwtarget:Box.double", []any{21}, int64(42)},
		{"pwtarget:echo", []any{[]byte("raw"), nil, true, "s"}, pickle.Tuple{[]byte("raw"), nil, true, "s"}},
		{"pwtarget:square", []any{huge}, new(big.Int).Mul(huge, huge)},
		{"statistics:mean", []any{[]any{1, 2, 3, 4}}, 2.5},
	}
	ctx := context.Background()
	for _, c := range cases {
		got, err := p.Call(ctx, c.target, c.args...)
		if err != nil {
			t.Errorf("%s%v: %v", c.target, c.args, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s%v = %#v, want %#v", c.target, c.args, got, c.want)
		}
	}
}

func TestCallKw(t *testing.T) {
	p := newPool(t, 1)
	got, err := p.CallKw(context.Background(), "pwtarget:kw", []any{1}, map[string]any{"b": 2, "c": 3})
	if err != nil || got != int64(321) {
		t.Fatalf("kw(1, b=2, c=3) = %v, %v; want 321", got, err)
	}
	_, err = p.CallKw(context.Background(), "pwtarget:kw", []any{1}, map[string]any{"nope": 1})
	var pe *pyworker.PythonError
	if !errors.As(err, &pe) || pe.Name != "TypeError" || !strings.Contains(pe.Message, "nope") {
		t.Fatalf("unexpected keyword: got %v, want a TypeError naming it", err)
	}
}

func TestCallPickled(t *testing.T) {
	p := newPool(t, 1)
	args, _ := pickle.Marshal(pickle.Tuple{"x", 3})
	out, err := p.CallPickled(context.Background(), "operator:mul", args, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := pickle.Unmarshal(out)
	if err != nil || v != "xxx" {
		t.Fatalf("mul('x', 3) pickled = %v, %v; want 'xxx'", v, err)
	}
}

func TestPythonErrors(t *testing.T) {
	p := newPool(t, 1)
	cases := []struct {
		target       string
		args         []any
		module, name string
		message      string
		inTraceback  []string
	}{
		{"pwtarget:fail", []any{"boom"}, "builtins", "ValueError", "boom",
			[]string{"pwtarget.py", "in fail", "in _inner", "ValueError: boom"}},
		{"pwtarget:custom", nil, "pwtarget", "CustomError", "custom failure",
			[]string{"pwtarget.CustomError: custom failure"}},
		{"nosuchmodule:f", nil, "builtins", "ModuleNotFoundError", "No module named 'nosuchmodule'", nil},
		{"pwtarget:nosuch", nil, "builtins", "AttributeError", "nosuch", nil},
		{"pwtarget:square", []any{1, 2}, "builtins", "TypeError", "positional argument", nil},
		{"pwtarget:unpicklable", nil, "", "", "pickle", nil},
	}
	for _, c := range cases {
		_, err := p.Call(context.Background(), c.target, c.args...)
		var pe *pyworker.PythonError
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want a *PythonError", c.target, err)
			continue
		}
		if (c.module != "" && pe.Module != c.module) || (c.name != "" && pe.Name != c.name) ||
			!strings.Contains(pe.Message, c.message) || pe.Target != c.target || pe.Index != -1 {
			t.Errorf("%s: got %+v, want %s.%s containing %q", c.target, pe, c.module, c.name, c.message)
		}
		for _, s := range c.inTraceback {
			if !strings.Contains(pe.Traceback, s) {
				t.Errorf("%s: traceback lacks %q:\n%s", c.target, s, pe.Traceback)
			}
		}
		if strings.Contains(pe.Traceback, "in run") {
			t.Errorf("%s: traceback shows the worker's own frame:\n%s", c.target, pe.Traceback)
		}
	}
	// The worker survived all of them.
	if got, err := p.Call(context.Background(), "operator:add", 1, 1); err != nil || got != int64(2) {
		t.Fatalf("after errors: %v, %v", got, err)
	}
}

func TestBadTargetAndArguments(t *testing.T) {
	p := newPool(t, 1)
	for _, target := range []string{"nocolon", ":f", "mod:"} {
		if _, err := p.Call(context.Background(), target); err == nil || !strings.Contains(err.Error(), "package.module:function") {
			t.Errorf("Call(%q): got %v, want a target error", target, err)
		}
	}
	_, err := p.Call(context.Background(), "pwtarget:echo", make(chan int))
	var ee *pickle.EncodeError
	if !errors.As(err, &ee) {
		t.Errorf("unpicklable argument: got %v, want *pickle.EncodeError", err)
	}
}

func TestWorkerDeathIsReportedAndReplaced(t *testing.T) {
	p := newPool(t, 2)
	_, err := p.Call(context.Background(), "pwtarget:die", 7)
	var ee *pyworker.ExitError
	if !errors.As(err, &ee) || ee.Code != 7 || !strings.Contains(err.Error(), "exited with code 7") {
		t.Fatalf("die(7): got %v, want an ExitError with code 7", err)
	}
	waitFor(t, func() bool { return len(p.Pids()) == 2 && !slices.Contains(p.Pids(), ee.Pid) })
	// Killed from outside while idle: once the pool has seen it (a call sent
	// in the meantime would fail like one the worker died running), the next
	// calls go to live workers.
	victim := p.Pids()[0]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !slices.Contains(p.Pids(), victim) })
	for i := 0; i < 10; i++ {
		if got, err := p.Call(context.Background(), "operator:add", i, 1); err != nil || got != int64(i+1) {
			t.Fatalf("call %d after deaths: %v, %v", i, got, err)
		}
	}
	waitFor(t, func() bool { return len(p.Pids()) == 2 })
}

func TestConcurrentCalls(t *testing.T) {
	p := newPool(t, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				got, err := p.Call(context.Background(), "operator:mul", g, i)
				if err != nil || got != int64(g*i) {
					errs <- errors.Join(err, errors.New("wrong result"))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestMap(t *testing.T) {
	p := newPool(t, 2)
	items := make([]any, 103)
	for i := range items {
		items[i] = i
	}
	for _, chunk := range []int{0, 1, 7, 500} {
		got, err := p.Map(context.Background(), "pwtarget:square", items, chunk)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if len(got) != len(items) {
			t.Fatalf("chunk %d: %d results for %d items", chunk, len(got), len(items))
		}
		for i, v := range got {
			if v != int64(i*i) {
				t.Fatalf("chunk %d: result %d = %v", chunk, i, v)
			}
		}
	}
	_, err := p.Map(context.Background(), "pwtarget:fail", items, 10)
	var pe *pyworker.PythonError
	if !errors.As(err, &pe) || pe.Index != 0 || pe.Name != "ValueError" {
		t.Fatalf("map of fail: got %v, want ValueError at index 0", err)
	}
	got, err := p.Map(context.Background(), "pwtarget:square", nil, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty map: %v, %v", got, err)
	}
}

func TestMapErrorIndex(t *testing.T) {
	p := newPool(t, 2)
	items := make([]any, 50)
	for i := range items {
		items[i] = i
	}
	for _, chunk := range []int{1, 6, 50} {
		_, err := p.Map(context.Background(), "pwtarget:square_unless_37_or_40", items, chunk)
		var pe *pyworker.PythonError
		if !errors.As(err, &pe) || pe.Index != 37 || pe.Message != "bad item 37" {
			t.Fatalf("chunk %d: got %v, want the ValueError of item 37", chunk, err)
		}
	}
}

func TestContextCancelKillsTheRunningCall(t *testing.T) {
	p := newPool(t, 1)
	pid, err := p.Call(context.Background(), "pwtarget:pid")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = p.Call(ctx, "pwtarget:sleep", 30)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, gompx.ErrTimeout) || time.Since(start) > 5*time.Second {
		t.Fatalf("got %v after %v, want DeadlineExceeded at once", err, time.Since(start))
	}
	got, err := p.Call(context.Background(), "pwtarget:pid")
	if err != nil || got == pid {
		t.Fatalf("after cancel: pid %v (was %v), %v; want a new worker", got, pid, err)
	}
}

func TestCloseWhileCallsRun(t *testing.T) {
	p := newPool(t, 2)
	var wg sync.WaitGroup
	results := make([]error, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = p.Call(context.Background(), "pwtarget:sleep", 0.3)
		}()
	}
	time.Sleep(100 * time.Millisecond) // let the calls queue
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range results {
		if err != nil && !errors.Is(err, pyworker.ErrClosed) {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if _, err := p.Call(context.Background(), "operator:add", 1, 2); !errors.Is(err, pyworker.ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
	if len(p.Pids()) != 0 {
		t.Fatalf("workers left after Close: %v", p.Pids())
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestTerminateWhileCallsRun(t *testing.T) {
	p := newPool(t, 1)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := p.Call(context.Background(), "pwtarget:sleep", 30)
			errs <- err
		}()
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	p.Terminate()
	for range 3 {
		if err := <-errs; !errors.Is(err, pyworker.ErrTerminated) {
			t.Errorf("got %v, want ErrTerminated", err)
		}
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Terminate took %v", time.Since(start))
	}
}

func TestStartFailures(t *testing.T) {
	_, err := pyworker.NewPool(pyworker.Options{Python: "/nonexistent/python3", Workers: 1})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing interpreter: got %v, want fs.ErrNotExist", err)
	}
	_, err = pyworker.NewPool(pyworker.Options{Python: "/bin/false", Workers: 2})
	if err == nil || !strings.Contains(err.Error(), "exited with code 1 before its hello") {
		t.Errorf("interpreter that exits: got %v", err)
	}
	silent := filepath.Join(t.TempDir(), "silent")
	if err := os.WriteFile(silent, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = pyworker.NewPool(pyworker.Options{Python: silent, Workers: 1, StartTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no hello within 200ms") || time.Since(start) > 5*time.Second {
		t.Errorf("a program that never says hello: got %v after %v", err, time.Since(start))
	}
	if _, err := pyworker.NewPool(pyworker.Options{}); err == nil {
		t.Errorf("no interpreter: got no error")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// CallPickledRetire: a process runs at most Tasks calls of one Key, then a fresh one
// takes its place; calls without a Key do not count.
func TestCallPickledRetire(t *testing.T) {
	p := newPool(t, 1)
	args, _ := pickle.Marshal(pickle.Tuple{})
	call := func(r pyworker.Retire) any {
		t.Helper()
		out, err := p.CallPickledRetire(context.Background(), "pwtarget:pid", args, nil, r)
		if err != nil {
			t.Fatal(err)
		}
		v, err := pickle.Unmarshal(out)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	a2 := pyworker.Retire{Key: "a", Tasks: 2}
	first := call(a2)
	if call(pyworker.Retire{}) != first || call(a2) != first {
		t.Fatal("the process changed before its second call of key a")
	}
	second := call(a2)
	if second == first {
		t.Fatalf("process %v ran a third call of key a", first)
	}
	if call(a2) != second {
		t.Fatal("the fresh process changed after one call")
	}
}
