package errs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestTimeoutIs(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"sentinel", ErrTimeout},
		{"wrapped", Errorf("queue get: %w", ErrTimeout)},
		{"wrapped twice", Errorf("pool: %w", Errorf("result: %w", ErrTimeout))},
		{"context deadline", Deadline(context.DeadlineExceeded)},
		{"os deadline", Deadline(Errorf("accept: %w", os.ErrDeadlineExceeded))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range []error{ErrTimeout, os.ErrDeadlineExceeded, context.DeadlineExceeded} {
				if !errors.Is(tc.err, target) {
					t.Errorf("errors.Is(%q, %v) = false", tc.err, target)
				}
			}
			var to interface{ Timeout() bool }
			if !errors.As(tc.err, &to) || !to.Timeout() {
				t.Errorf("%q has no Timeout() true", tc.err)
			}
		})
	}
	for _, err := range []error{io.EOF, context.Canceled, New("queue is empty")} {
		if errors.Is(err, ErrTimeout) {
			t.Errorf("%v, no timeout, matched ErrTimeout", err)
		}
	}
	if Deadline(context.Canceled) != context.Canceled {
		t.Error("Deadline changed a cancellation")
	}
}

func TestPrefixOnce(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{New("queue is closed"), "gompx: queue is closed"},
		{New("gompx: queue is closed"), "gompx: queue is closed"},
		{Errorf("queue get: %w", ErrTimeout), "gompx: queue get: timed out"},
		{Errorf("gompx: lock: %w", Errorf("open: %w", io.EOF)), "gompx: lock: open: EOF"},
		{Errorf("%w: %v", ErrTimeout, New("x")), "gompx: timed out: x"},
		{Deadline(context.DeadlineExceeded), "gompx: timed out (context deadline exceeded)"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("message %q, want %q", got, tc.want)
		}
		if strings.Count(tc.err.Error(), Prefix) != 1 {
			t.Errorf("%q: prefix not exactly once", tc.err)
		}
	}
	inner := Errorf("read: %w", io.ErrUnexpectedEOF)
	if !errors.Is(Errorf("recv: %w", inner), io.ErrUnexpectedEOF) {
		t.Error("errors.Is lost the wrapped error")
	}
}

// What the prefix costs a wrapped error, beside fmt.Errorf's own.
func BenchmarkErrorf(b *testing.B) {
	b.Run("fmt.Errorf", func(b *testing.B) {
		for b.Loop() {
			_ = fmt.Errorf("recv header: after %v: %w", time.Millisecond, ErrTimeout)
		}
	})
	b.Run("errs.Errorf", func(b *testing.B) {
		for b.Loop() {
			_ = Errorf("recv header: after %v: %w", time.Millisecond, ErrTimeout)
		}
	})
}
