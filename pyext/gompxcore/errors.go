package gompxcore

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/gompx/gompx/gompx"
)

// pyError is an error that names the Python exception it should become.
type pyError struct {
	exc   string // Python exception class name, resolved by gompx/_native.py
	errno syscall.Errno
	msg   string
}

func (e *pyError) Error() string {
	return fmt.Sprintf("gompx:%s:%d:%s", e.exc, int(e.errno), e.msg)
}

func newPyError(exc, format string, args ...any) error {
	for i, a := range args {
		if err, ok := a.(error); ok && err != nil {
			args[i] = pyText(err)
		}
	}
	return &pyError{exc: exc, msg: fmt.Sprintf(format, args...)}
}

// translate maps a core error to the exception CPython's multiprocessing raises in the
// same situation.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var pe *pyError
	if errors.As(err, &pe) {
		return pe
	}
	var errno syscall.Errno
	var truncated *gompx.TruncatedError
	switch {
	case errors.Is(err, gompx.ErrAuthentication):
		return &pyError{exc: "AuthenticationError", msg: pyText(err)}
	case errors.Is(err, gompx.ErrListenerClosed):
		return &pyError{exc: "OSError", msg: "listener is closed"}
	case errors.Is(err, gompx.ErrClosed):
		return &pyError{exc: "OSError", msg: "handle is closed"}
	case errors.Is(err, gompx.ErrNotReadable):
		return &pyError{exc: "OSError", msg: "connection is write-only"}
	case errors.Is(err, gompx.ErrNotWritable):
		return &pyError{exc: "OSError", msg: "connection is read-only"}
	case errors.Is(err, gompx.ErrMessageTooLong):
		return &pyError{exc: "OSError", msg: "bad message length: " + pyText(err)}
	case errors.As(err, &truncated) && truncated.Got > 0:
		// CPython's _recv: end of file inside a part it had begun to read.
		return &pyError{exc: "OSError", msg: "got end of file during message: " + pyText(err)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &pyError{exc: "EOFError", msg: pyText(err)}
	case errors.As(err, &errno):
		return &pyError{exc: "OSError", errno: errno, msg: pyText(err)}
	}
	return &pyError{exc: "OSError", msg: pyText(err)}
}

// pyText is err's message for Python: without the "gompx: " every core message starts
// with, since Python's messages name no package (CPython's say "handle is closed").
func pyText(err error) string { return strings.TrimPrefix(err.Error(), "gompx: ") }

// interrupted reports an error that says a signal ended a wait on the main thread
// (gompx.EnableInterrupts, called at load). Nothing was consumed: the facade reports it
// as the wait's "not yet" result (a timeout), and the Python caller, back in the eval
// loop, runs its signal handlers (Ctrl-C raises KeyboardInterrupt) and, if none
// raised, calls again for the time that is left.
func interrupted(err error) bool { return errors.Is(err, gompx.ErrInterrupted) }

// recoverInto turns a panic into an error in *err. Deferred by every exported function.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = &pyError{exc: "SystemError", msg: fmt.Sprintf("gompx internal error (Go panic): %v\n%s", r, debug.Stack())}
	}
}
