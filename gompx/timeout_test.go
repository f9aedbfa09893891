package gompx_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gompx/gompx/gompx"
)

// blockingCall is one wait of the public API, set up so that nothing will end it but
// its context: each returns the wait's error.
type blockingCall struct {
	name string
	wait func(t *testing.T, ctx context.Context) error
}

func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func blockingCalls() []blockingCall {
	return []blockingCall{
		{"queue get", func(t *testing.T, ctx context.Context) error {
			q := must(gompx.NewQueue(gompx.QueueOptions{}))(t)
			defer q.Close()
			_, err := q.Get(ctx)
			return err
		}},
		{"queue put", func(t *testing.T, ctx context.Context) error {
			q := must(gompx.NewQueue(gompx.QueueOptions{MaxSize: 1}))(t)
			defer q.Close()
			if err := q.Put(context.Background(), int64(1)); err != nil {
				t.Fatal(err)
			}
			return q.Put(ctx, int64(2))
		}},
		{"queue join", func(t *testing.T, ctx context.Context) error {
			q := must(gompx.NewQueue(gompx.QueueOptions{}))(t)
			defer q.Close()
			if err := q.Put(context.Background(), int64(1)); err != nil {
				t.Fatal(err)
			}
			return q.JoinContext(ctx)
		}},
		{"lock", func(t *testing.T, ctx context.Context) error {
			l := must(gompx.NewLock())(t)
			defer l.Close()
			l.Lock()
			defer l.Unlock()
			return l.LockContext(ctx)
		}},
		{"rlock", func(t *testing.T, ctx context.Context) error {
			r := must(gompx.NewRLock())(t)
			defer r.Close()
			r.For(1).Lock()
			defer r.For(1).Unlock()
			return r.For(2).LockContext(ctx)
		}},
		{"semaphore", func(t *testing.T, ctx context.Context) error {
			s := must(gompx.NewSemaphore(0))(t)
			defer s.Close()
			return s.AcquireContext(ctx)
		}},
		{"event", func(t *testing.T, ctx context.Context) error {
			e := must(gompx.NewEvent())(t)
			defer e.Close()
			return e.WaitContext(ctx)
		}},
		{"condition", func(t *testing.T, ctx context.Context) error {
			l := must(gompx.NewLock())(t)
			defer l.Close()
			c := must(gompx.NewCondition())(t)
			defer c.Close()
			l.Lock()
			defer l.Unlock()
			return c.WaitContext(ctx, l)
		}},
		{"barrier", func(t *testing.T, ctx context.Context) error {
			b := must(gompx.NewBarrier(2))(t)
			defer b.Close()
			_, err := b.WaitContext(ctx, nil)
			if !errors.Is(err, gompx.ErrBrokenBarrier) {
				t.Errorf("barrier: %v does not wrap ErrBrokenBarrier", err)
			}
			return err
		}},
		{"conn poll", func(t *testing.T, ctx context.Context) error {
			a, b := must2(gompx.Pipe(true))(t)
			defer a.Close()
			defer b.Close()
			_, err := a.PollContext(ctx)
			return err
		}},
		{"connection wait", func(t *testing.T, ctx context.Context) error {
			a, b := must2(gompx.Pipe(true))(t)
			defer a.Close()
			defer b.Close()
			_, err := gompx.WaitContext(ctx, []int{a.Fd()})
			return err
		}},
		{"process wait", func(t *testing.T, ctx context.Context) error {
			p := must(gompx.Start(gompx.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "60"}}))(t)
			defer func() { p.Kill(); p.Wait(-1); p.Close() }()
			_, err := p.WaitContext(ctx)
			if !errors.Is(err, gompx.ErrWaitTimeout) && ctx.Err() == context.DeadlineExceeded {
				t.Errorf("process wait: %v does not wrap ErrWaitTimeout", err)
			}
			return err
		}},
		{"listener accept", func(t *testing.T, ctx context.Context) error {
			l := must(gompx.Listen("unix", "", gompx.ListenOptions{}))(t)
			defer l.Close()
			_, err := l.AcceptContext(ctx)
			return err
		}},
	}
}

func must2[A, B any](a A, b B, err error) func(*testing.T) (A, B) {
	return func(t *testing.T) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

// Every wait that runs out of time is one error for errors.Is: gompx.ErrTimeout, which
// code written for os and context deadlines recognises too.
func TestEveryTimeoutIsErrTimeout(t *testing.T) {
	for _, c := range blockingCalls() {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			err := c.wait(t, ctx)
			for _, target := range []error{gompx.ErrTimeout, os.ErrDeadlineExceeded, context.DeadlineExceeded} {
				if !errors.Is(err, target) {
					t.Errorf("%v: errors.Is(_, %v) = false", err, target)
				}
			}
			if err != nil && strings.Count(err.Error(), "gompx: ") != 1 || !strings.HasPrefix(err.Error(), "gompx: ") {
				t.Errorf("%q: want one leading \"gompx: \"", err)
			}
		})
	}
}

// A cancelled context ends every wait, from another goroutine, with context.Canceled and
// no timeout: the wait is woken, not left to find out later.
func TestEveryWaitEndsOnCancel(t *testing.T) {
	for _, c := range blockingCalls() {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				time.Sleep(10 * time.Millisecond)
				cancel()
			}()
			err := c.wait(t, ctx)
			if !errors.Is(err, context.Canceled) || errors.Is(err, gompx.ErrTimeout) {
				t.Errorf("%v: want context.Canceled and no timeout", err)
			}
		})
	}
}

// The duration-taking waits the Python facade calls time out with the same sentinel.
func TestFacadeTimeoutsAreErrTimeout(t *testing.T) {
	l := must(gompx.NewLock())(t)
	defer l.Close()
	l.Lock()
	s := must(gompx.NewSemaphore(0))(t)
	defer s.Close()
	a, b := must2(gompx.Pipe(true))(t)
	defer a.Close()
	defer b.Close()
	ln := must(gompx.Listen("unix", "", gompx.ListenOptions{}))(t)
	defer ln.Close()
	p := must(gompx.Start(gompx.Cmd{Path: "/bin/sleep", Args: []string{"sleep", "60"}}))(t)
	defer func() { p.Signal(syscall.SIGKILL); p.Wait(-1); p.Close() }()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"lock", l.LockTimeout(time.Millisecond)},
		{"semaphore", s.Acquire(time.Millisecond)},
		{"recv", func() error { _, err := a.RecvHeader(time.Millisecond); return err }()},
		{"accept", func() error { _, err := ln.AcceptTimeout(time.Millisecond); return err }()},
		{"process wait", func() error { _, err := p.Wait(time.Millisecond); return err }()},
	} {
		if !errors.Is(tc.err, gompx.ErrTimeout) || !errors.Is(tc.err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: %v is not ErrTimeout", tc.name, tc.err)
		}
	}
}
