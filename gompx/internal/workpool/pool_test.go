package workpool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func start(t *testing.T, opts Options) *Pool {
	t.Helper()
	if opts.Kind == "" {
		opts.Kind = "test worker"
	}
	p, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Terminate() })
	return p
}

func TestRepliesInOrderUnderLoad(t *testing.T) {
	for _, pipeline := range []int{1, 2, 4} {
		p := start(t, Options{Workers: 2, Command: command("echo"), Pipeline: pipeline})
		tasks := make([]*Task, 300)
		for i := range tasks {
			var err error
			if tasks[i], err = p.Submit([]byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		for i, task := range tasks {
			reply, err := task.Wait(context.Background())
			if err != nil || !bytes.Equal(reply, []byte("R"+fmt.Sprint(i))) {
				t.Fatalf("pipeline %d, task %d: %q, %v", pipeline, i, reply, err)
			}
		}
		if p.Hello().Impl != "test" {
			t.Fatalf("hello: %+v", p.Hello())
		}
		p.Close()
	}
}

func TestStartErrors(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"no workers", Options{Command: command("echo")}, "at least one worker"},
		{"no command", Options{Workers: 1}, "no command"},
		{"exits before hello", Options{Workers: 2, Command: command("die-at-once")}, "before its hello"},
		{"mute", Options{Workers: 1, Command: command("mute"), StartTimeout: 100 * time.Millisecond}, "no hello within 100ms"},
		{"command error", Options{Workers: 1, Command: commandThenFail("echo")}, ""},
	}
	for _, c := range cases {
		c.opts.Kind = "test worker"
		if c.name == "command error" {
			c.opts.Workers = 2 // the second start is refused
			c.want = "no more workers today"
		}
		_, err := Start(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// When a worker dies and no replacement can start, the pool fails what is
// queued and what comes later with the start error: nothing waits forever.
func TestBrokenPoolFailsInsteadOfHanging(t *testing.T) {
	p := start(t, Options{Workers: 1, Command: commandThenFail("die")})
	first, _ := p.Submit([]byte("a"))
	queued, _ := p.Submit([]byte("b"))
	var ee *ExitError
	if _, err := first.Wait(context.Background()); !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("first: %v, want ExitError code 3", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := queued.Wait(ctx); err == nil || !strings.Contains(err.Error(), "no test worker left") || !strings.Contains(err.Error(), "no more workers today") {
		t.Fatalf("queued: %v", err)
	}
	if _, err := p.Submit([]byte("c")); err == nil || !strings.Contains(err.Error(), "no test worker left") {
		t.Fatalf("later: %v", err)
	}
}

func TestCloseAndTerminate(t *testing.T) {
	p := start(t, Options{Workers: 2, Command: command("echo")})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if reply, err := p.Do(context.Background(), []byte{byte(i)}); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("task %d: %q, %v", i, reply, err)
			}
		}()
	}
	p.Close()
	wg.Wait()
	if len(p.Pids()) != 0 {
		t.Fatalf("workers left: %v", p.Pids())
	}
	if _, err := p.Submit(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	p.Terminate() // idempotent, and after Close
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed")
	}
}
