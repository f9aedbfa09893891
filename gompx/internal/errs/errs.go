package errs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Prefix starts every message of the core's errors, once.
const Prefix = "gompx: "

// ErrTimeout reports a wait whose time ran out. It is also os.ErrDeadlineExceeded and
// context.DeadlineExceeded for errors.Is.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string { return Prefix + "timed out" }
func (timeoutError) Timeout() bool { return true }

// Is makes a gompx timeout one for code written against os's and context's deadlines.
func (timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == context.DeadlineExceeded
}

// New returns an error whose message is Prefix + text.
func New(text string) error { return &prefixed{msg: Prefix + strings.TrimPrefix(text, Prefix)} }

type prefixed struct{ msg string }

func (e *prefixed) Error() string { return e.msg }

// Errorf is fmt.Errorf (with %w) whose message starts with Prefix once: the prefix is
// added in front and dropped from the messages of the errors among args (which it
// replaces in place: pass a slice with ... only if it may change).
func Errorf(format string, args ...any) error {
	for i, a := range args {
		switch err := a.(type) {
		case timeoutError:
			args[i] = bareTimeout // the common case, without an allocation
		case error:
			if err != nil {
				args[i] = bare{err}
			}
		}
	}
	return fmt.Errorf(Prefix+strings.TrimPrefix(format, Prefix), args...)
}

var bareTimeout any = bare{ErrTimeout}

// bare is err whose message has lost its leading Prefix; errors.Is and errors.As see
// err through Unwrap.
type bare struct{ err error }

func (b bare) Error() string { return strings.TrimPrefix(b.err.Error(), Prefix) }
func (b bare) Unwrap() error { return b.err }

// Context is why ctx ended a wait, or nil if it has not: ErrTimeout once its deadline
// passed (whether or not its timer has cancelled it yet, so that the message does not
// depend on a race), ctx.Err() when it was cancelled.
func Context(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	if err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return ErrTimeout
	}
	return nil
}

// Deadline returns err, from a wait on a context or a deadline, as one that also wraps
// ErrTimeout when the time ran out; any other error is returned as it is.
func Deadline(err error) error {
	if err == nil || errors.Is(err, ErrTimeout) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return Errorf("%w (%w)", ErrTimeout, err)
	}
	return err
}
